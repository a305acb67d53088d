"""Samples: registration, lists, corrections and lifecycle moves, one sample or hundreds in one all-or-nothing call;
the projects and sample types they belong to.

Every change writes its audit entry and its event in the caller's transaction. Other modules (storage, intake,
sequencing) move samples only through ``Samples.transition_many`` and register them only through
``Samples.register_many``, so the lifecycle rules and the records are the same whoever asks. Lineage, custody and
QC live in ``lineage``, ``custody`` and ``sample_qc``, built on this class.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.sample_models import Project, QcResult, Sample, SampleSequence, SampleType
from hub.domain.identity import Principal
from hub.domain.lifecycle import QC_GATED, SampleState, allowed_moves, illegal_move, is_release, move
from hub.errors import ConflictError, HubError, NotFoundError, ValidationFailedError
from hub.events.outbox import record_event

MAX_BATCH = 1000  # samples in one request; bigger sets go in several requests (or an intake sheet)
TransitionHook = Callable[[AsyncSession, Principal, Sequence[Sample], SampleState, str | None], Awaitable[None]]
MAX_PROBLEMS_IN_DETAIL = 50  # the detail stays readable; ``problems`` in the answer lists every one


class PreconditionRequiredError(HubError):
    status, title, type_slug = 428, "Precondition required", "precondition-required"


class PreconditionFailedError(HubError):
    status, title, type_slug = 412, "Precondition failed", "precondition-failed"


@dataclass(frozen=True)
class NewSample:
    """What registering a sample needs; ``barcode`` None means generate one (``S-000001``)."""

    name: str
    sample_type_id: str
    barcode: str | None = None
    project_id: str | None = None
    volume_ul: Decimal | None = None
    concentration: Decimal | None = None
    custodian: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    intake_upload_id: str | None = None


@dataclass(frozen=True)
class SampleFilter:
    """What a sample list is narrowed to; every field is optional."""

    states: tuple[SampleState, ...] = ()
    project_id: str | None = None
    sample_type_id: str | None = None
    barcode_prefix: str | None = None
    name_contains: str | None = None


@dataclass(frozen=True)
class SamplePage:
    samples: list[Sample]
    next_cursor: str | None


EDITABLE = ("name", "volume_ul", "concentration", "attributes")
SCALE = {"volume_ul": Decimal("0.001"), "concentration": Decimal("0.0001")}  # the columns' decimal places


def refuse(problems: Sequence[str], error: type[HubError] = ConflictError, **extra: Any) -> None:
    """Nothing when ``problems`` is empty; otherwise ``error`` naming every problem (the detail names the first
    ones, ``problems`` all)."""
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_IN_DETAIL])
        more = len(problems) - MAX_PROBLEMS_IN_DETAIL
        raise error(shown + (f"; and {more} more" if more > 0 else ""), problems=list(problems), **extra)


def check_batch_size(count: int) -> None:
    if count == 0:
        raise ValidationFailedError("the batch is empty")
    if count > MAX_BATCH:
        raise ValidationFailedError(f"at most {MAX_BATCH} samples in one request; this one has {count}")


def repeated(values: Sequence[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def encode_cursor(created_at: datetime, sample_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{sample_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, sample_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(when)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailedError("the cursor is not one this list gave out; start from the first page") from exc
    if created_at.tzinfo is None:
        raise ValidationFailedError("the cursor is not one this list gave out; start from the first page")
    return created_at, sample_id


def prefix_end(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix`` in code point (= UTF-8 byte) order, or None
    when there is none."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if 0xD800 <= last <= 0xDFFF:
            last = 0xE000
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


def ordered_ids(count: int) -> list[str]:
    """``count`` UUIDv7 ids (RFC 9562): they sort by creation time, and within one batch in the order given, so a
    list in ``(created_at, id)`` order shows a batch as it was registered (a plate row by row)."""
    millis = time.time_ns() // 1_000_000
    high = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62)
    start = secrets.randbits(61)  # room to count up by ``count`` in the 62 low bits
    return [str(uuid.UUID(int=high | n)) for n in range(start, start + count)]


def _escape_like(text: str) -> str:
    """``text`` matched literally by LIKE (``%`` and ``_`` are not wildcards), with ``\\`` as the escape."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _facts(sample: Sample) -> dict[str, Any]:
    return {
        "barcode": sample.barcode,
        "name": sample.name,
        "type": sample.sample_type_id,
        "project": sample.project_id,
        "state": sample.state,
        "volume_ul": sample.volume_ul,
        "concentration": sample.concentration,
        "custodian": sample.custodian,
    }


class Samples:
    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit
        # Called at the end of every transition_many, in its transaction, with the samples moved and the target
        # state: storage frees the positions of samples that are used up or destroyed. (Samples cannot import
        # storage, which stands on samples.)
        self.after_transition: list[TransitionHook] = []

    # -- reading ----------------------------------------------------------------------------------------------

    async def get(self, session: AsyncSession, tenant_id: str, sample_id: str, *, for_update: bool = False) -> Sample:
        query = select(Sample).where(Sample.tenant_id == tenant_id, Sample.id == sample_id)
        if for_update:
            query = query.with_for_update()
        sample = (await session.execute(query)).scalar_one_or_none()
        if sample is None:
            raise NotFoundError(f"no sample {sample_id}")
        return sample

    async def load_many(
        self, session: AsyncSession, tenant_id: str, sample_ids: Sequence[str], *, for_update: bool = True
    ) -> list[Sample]:
        """The samples, in the order asked, locked for update; ``NotFoundError`` naming every id not in the
        tenant. Duplicates are refused: one batch moves a sample once."""
        check_batch_size(len(sample_ids))
        duplicates = repeated(sample_ids)
        if duplicates:
            raise ValidationFailedError(f"samples named twice in one batch: {', '.join(duplicates[:20])}")
        query = select(Sample).where(Sample.tenant_id == tenant_id, Sample.id.in_(list(sample_ids)))
        if for_update:
            query = query.with_for_update()
        rows = {s.id: s for s in (await session.execute(query)).scalars()}
        missing = [i for i in sample_ids if i not in rows]
        if missing:
            raise NotFoundError(f"no sample {', '.join(missing[:20])}", missing=missing[:100])
        return [rows[i] for i in sample_ids]

    async def page(
        self,
        session: AsyncSession,
        tenant_id: str,
        where: SampleFilter,
        *,
        limit: int = 100,
        cursor: str | None = None,
        newest_first: bool = True,
    ) -> SamplePage:
        """One page of the tenant's samples in creation order, after ``cursor``. Keyset paging on
        ``(created_at, id)``: no OFFSET and no count, so page 10,000 costs what page 1 does."""
        if session.get_bind().dialect.name == "postgresql":
            # how selective a filter is depends on its value (a rare barcode prefix or a common one): plan each
            # query for its values, never with the generic plan PostgreSQL would otherwise cache after five runs
            await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        query = self._filtered(select(Sample).where(Sample.tenant_id == tenant_id), where, session)
        key = tuple_(Sample.created_at, Sample.id)
        if cursor is not None:
            created_at, sample_id = decode_cursor(cursor)
            query = query.where(key < (created_at, sample_id) if newest_first else key > (created_at, sample_id))
        if newest_first:
            query = query.order_by(Sample.created_at.desc(), Sample.id.desc())
        else:
            query = query.order_by(Sample.created_at, Sample.id)
        rows = list((await session.execute(query.limit(limit + 1))).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        return SamplePage(rows, encode_cursor(rows[-1].created_at, rows[-1].id) if more else None)

    @staticmethod
    def _filtered(query: Select[Sample], where: SampleFilter, session: AsyncSession) -> Select[Sample]:
        if where.states:
            query = query.where(Sample.state.in_([s.value for s in where.states]))
        if where.project_id is not None:
            query = query.where(Sample.project_id == where.project_id)
        if where.sample_type_id is not None:
            query = query.where(Sample.sample_type_id == where.sample_type_id)
        if where.barcode_prefix:
            if session.get_bind().dialect.name == "postgresql":
                # LIKE 'prefix%': PostgreSQL turns it into a range on the varchar_pattern_ops barcode index, and
                # estimates how many rows match from its statistics (a plain range gets a blind guess, and a rare
                # prefix then walks the whole date index)
                query = query.where(Sample.barcode.like(_escape_like(where.barcode_prefix) + "%", escape="\\"))
            else:  # SQLite's LIKE ignores case and no index serves it; a range on the binary-ordered index does
                query = query.where(Sample.barcode >= where.barcode_prefix)
                end = prefix_end(where.barcode_prefix)
                if end is not None:
                    query = query.where(Sample.barcode < end)
        if where.name_contains:
            query = query.where(Sample.name.ilike(f"%{_escape_like(where.name_contains)}%", escape="\\"))
        return query

    # -- registering ------------------------------------------------------------------------------------------

    async def _next_barcodes(
        self, session: AsyncSession, tenant_id: str, count: int, *, avoid: set[str], prefix: str = "S"
    ) -> list[str]:
        """``count`` new barcodes from the tenant's counter, skipping any already in use (a barcode given by hand
        can look like a generated one)."""
        if count == 0:
            return []
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert(SampleSequence)
            .values(tenant_id=tenant_id, prefix=prefix, next_value=1)
            .on_conflict_do_nothing(index_elements=["tenant_id", "prefix"])
        )
        counter = (
            await session.execute(
                select(SampleSequence)
                .where(SampleSequence.tenant_id == tenant_id, SampleSequence.prefix == prefix)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        found: list[str] = []
        while len(found) < count:
            first, wanted = counter.next_value, count - len(found)
            counter.next_value = first + wanted
            drawn = [f"{prefix}-{n:06d}" for n in range(first, first + wanted)]
            taken = set(
                (
                    await session.execute(
                        select(Sample.barcode).where(Sample.tenant_id == tenant_id, Sample.barcode.in_(drawn))
                    )
                ).scalars()
            )
            found += [b for b in drawn if b not in taken and b not in avoid]
        return found

    async def register_many(
        self,
        session: AsyncSession,
        principal: Principal,
        specs: Sequence[NewSample],
        *,
        reason: str | None = None,
        state: SampleState = SampleState.REGISTERED,
    ) -> list[Sample]:
        """Register samples (state ``registered`` unless told), all or none: an unknown type or project refuses
        the batch with ``NotFoundError``, a barcode that exists or repeats in the batch with
        ``ValidationFailedError``, each naming every problem."""
        check_batch_size(len(specs))
        tenant_id = principal.tenant_id
        type_ids = {s.sample_type_id for s in specs}
        project_ids = {s.project_id for s in specs if s.project_id is not None}
        known_types = set(
            (
                await session.execute(
                    select(SampleType.id).where(SampleType.tenant_id == tenant_id, SampleType.id.in_(type_ids))
                )
            ).scalars()
        )
        known_projects = set()
        if project_ids:
            query = select(Project.id).where(Project.tenant_id == tenant_id, Project.id.in_(project_ids))
            known_projects = set((await session.execute(query)).scalars())
        unknown = [f"no sample type {t}" for t in sorted(type_ids - known_types)]
        unknown += [f"no project {p}" for p in sorted(project_ids - known_projects)]
        refuse(unknown, NotFoundError)
        given = [s.barcode for s in specs if s.barcode is not None]
        problems = [f"barcode {b} appears twice in the batch" for b in repeated(given)]
        if given:
            taken = (
                await session.execute(
                    select(Sample.barcode).where(Sample.tenant_id == tenant_id, Sample.barcode.in_(given))
                )
            ).scalars()
            problems += [f"barcode {b} is already registered" for b in sorted(taken)]
        refuse(problems, ValidationFailedError)
        unnamed = sum(1 for s in specs if s.barcode is None)
        generated = iter(await self._next_barcodes(session, tenant_id, unnamed, avoid=set(given)))
        now = utcnow()
        ids = iter(ordered_ids(len(specs)))
        samples = [
            Sample(
                id=next(ids),
                tenant_id=tenant_id,
                barcode=spec.barcode if spec.barcode is not None else next(generated),
                name=spec.name,
                sample_type_id=spec.sample_type_id,
                project_id=spec.project_id,
                state=state.value,
                volume_ul=spec.volume_ul,
                concentration=spec.concentration,
                custodian=spec.custodian or principal.name,
                attributes=spec.attributes,
                intake_upload_id=spec.intake_upload_id,
                version=1,
                created_by=principal.label,
                created_at=now,
                updated_at=now,
            )
            for spec in specs
        ]
        session.add_all(samples)
        try:
            await session.flush()
        except IntegrityError as exc:  # another request registered one of these barcodes since we looked
            raise ConflictError("a barcode of this batch was registered at the same moment; retry") from exc
        for sample in samples:
            facts = _facts(sample)
            await self.audit.record(
                session,
                tenant_id=tenant_id,
                actor=principal.label,
                action="create",
                record_type="sample",
                record_id=sample.id,
                reason=reason,
                new=facts,
            )
            record_event(
                session,
                tenant_id=tenant_id,
                type="sample.registered",
                subject_type="sample",
                subject_id=sample.id,
                actor=principal.label,
                payload=facts,
            )
        return samples

    # -- changing ---------------------------------------------------------------------------------------------

    async def update(
        self,
        session: AsyncSession,
        principal: Principal,
        sample_id: str,
        changes: Mapping[str, Any],
        *,
        reason: str,
        expected_version: int | None,
        version_from_header: bool = False,
    ) -> Sample:
        """Correct a sample's name, volume, concentration or attributes. The caller names the version it read
        (``If-Match`` or ``version``): a change made since is never overwritten unseen. The audit entry keeps the
        old and the new value of every field that changed."""
        unknown = sorted(set(changes) - set(EDITABLE))
        if unknown:
            raise ValidationFailedError(f"these fields cannot be changed here: {', '.join(unknown)}")
        if expected_version is None:
            raise PreconditionRequiredError(
                "name the version you are changing: send 'If-Match' with the sample's ETag, or 'version'"
            )
        sample = await self.get(session, principal.tenant_id, sample_id, for_update=True)
        if sample.version != expected_version:
            error = PreconditionFailedError if version_from_header else ConflictError
            raise error(
                f"sample {sample.barcode} is at version {sample.version}, not {expected_version}: it changed since "
                "you read it; reload and retry",
                current_version=sample.version,
            )
        if "name" in changes and changes["name"] is None:
            raise ValidationFailedError("a sample keeps a name")
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for name, value in changes.items():
            current = getattr(sample, name)
            if name == "attributes":
                value = dict(value or {})
            elif name in SCALE and value is not None:
                value = Decimal(value).quantize(SCALE[name])
            if current != value:
                old[name], new[name] = current, value
                setattr(sample, name, value)
        if not new:
            return sample
        sample.version += 1
        sample.updated_at = utcnow()
        try:
            await session.flush()
        except IntegrityError as exc:  # the CHECK constraints: the schema allows what the API does, so a bug
            raise ValidationFailedError("the database refused these values") from exc
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="update",
            record_type="sample",
            record_id=sample.id,
            reason=reason,
            old=old,
            new=new,
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type="sample.updated",
            subject_type="sample",
            subject_id=sample.id,
            actor=principal.label,
            payload={"barcode": sample.barcode, "changed": sorted(new), "version": sample.version},
        )
        return sample

    async def transition_many(
        self,
        session: AsyncSession,
        principal: Principal,
        sample_ids: Sequence[str],
        target: SampleState,
        *,
        reason: str | None,
        expected_versions: dict[str, int] | None = None,
    ) -> list[Sample]:
        """Move every sample to ``target``, all or none: any illegal move, stale version or failed QC refuses the
        batch, naming each sample's problem (its state and its allowed moves). Putting on hold remembers the state
        to return to; releasing returns there. A failed QC blocks preparation and sequencing until it is released
        with a signature. Disposing and lifting a hold need a reason."""
        samples = await self.load_many(session, principal.tenant_id, sample_ids)
        gated = await self._failed_qc(session, principal.tenant_id, samples) if target in QC_GATED else {}
        problems: list[str] = []
        refused: list[dict[str, Any]] = []  # the same, per sample, for programs: its state and where it may go
        moves: list[tuple[Sample, SampleState, SampleState | None, bool]] = []
        for sample in samples:
            label = f"sample {sample.barcode}"
            held_from = SampleState(sample.held_from) if sample.held_from else None
            current = SampleState(sample.state)
            problem = None
            if expected_versions is not None and expected_versions.get(sample.id, sample.version) != sample.version:
                problem = f"{label} changed since you read it (now version {sample.version}); reload and retry"
            elif target not in allowed_moves(current, held_from):
                problem = illegal_move(current, target, held_from=held_from, label=label).detail
            elif sample.id in gated:
                problem = (
                    f"{label} failed QC ({gated[sample.id]}) and cannot go to {target.value} until the failure is "
                    "released with an electronic signature"
                )
            if problem is not None:
                problems.append(problem)
                allowed = sorted(s.value for s in allowed_moves(current, held_from))
                refused.append({"id": sample.id, "barcode": sample.barcode, "state": current.value, "allowed": allowed})
                continue
            state, new_held_from = move(current, target, held_from=held_from, label=label)
            moves.append((sample, state, new_held_from, is_release(current, target, held_from)))
        refuse(problems, samples=refused)
        if not (reason and reason.strip()) and (target == SampleState.DISPOSED or any(m[3] for m in moves)):
            what = "dispose of samples" if target == SampleState.DISPOSED else "lift a hold"
            raise ValidationFailedError(f"a reason is required to {what}")
        now = utcnow()
        for sample, state, held_from, released in moves:
            old = sample.state
            sample.state, sample.held_from = state.value, held_from.value if held_from else None
            sample.version += 1
            sample.updated_at = now
            action = "dispose" if state == SampleState.DISPOSED else "release" if released else "update"
            await self.audit.record(
                session,
                tenant_id=principal.tenant_id,
                actor=principal.label,
                action=action,
                record_type="sample",
                record_id=sample.id,
                reason=reason or f"moved to {target.value}",
                old={"state": old},
                new={"state": state.value},
            )
            record_event(
                session,
                tenant_id=principal.tenant_id,
                type=f"sample.{target.value}",
                subject_type="sample",
                subject_id=sample.id,
                actor=principal.label,
                payload={"barcode": sample.barcode, "from": old, "to": state.value, "reason": reason},
            )
        await session.flush()
        for hook in self.after_transition:
            await hook(session, principal, samples, target, reason)
        return samples

    @staticmethod
    async def _failed_qc(session: AsyncSession, tenant_id: str, samples: Sequence[Sample]) -> dict[str, str]:
        """Sample id → its failed, unreleased QC results (assay and id), for the samples whose QC failed."""
        failed_ids = [s.id for s in samples if s.qc_status == "failed"]
        if not failed_ids:
            return {}
        rows = await session.execute(
            select(QcResult.sample_id, QcResult.assay, QcResult.id)
            .where(
                QcResult.tenant_id == tenant_id,
                QcResult.sample_id.in_(failed_ids),
                QcResult.passed.is_(False),
                QcResult.released_signature_id.is_(None),
            )
            .order_by(QcResult.recorded_at)
        )
        found: dict[str, list[str]] = {i: [] for i in failed_ids}
        for sample_id, assay, qc_id in rows.all():
            found[sample_id].append(f"{assay}, QC result {qc_id}")
        return {i: "; ".join(v) or "QC status failed" for i, v in found.items()}

    # -- projects and sample types ----------------------------------------------------------------------------

    async def create_project(self, session: AsyncSession, principal: Principal, code: str, name: str) -> Project:
        exists = await session.execute(
            select(Project.id).where(Project.tenant_id == principal.tenant_id, Project.code == code)
        )
        if exists.scalar_one_or_none() is not None:
            raise ConflictError(f"project {code} exists")
        project = Project(id=new_id(), tenant_id=principal.tenant_id, code=code, name=name, created_by=principal.label)
        session.add(project)
        await self._created(session, principal, "project", project.id, {"code": code, "name": name})
        return project

    async def projects(self, session: AsyncSession, tenant_id: str, *, limit: int = 500) -> list[Project]:
        query = select(Project).where(Project.tenant_id == tenant_id).order_by(Project.code).limit(limit)
        return list((await session.execute(query)).scalars())

    async def create_sample_type(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        name: str,
        zone: str,
        colder_ok: bool = True,
        description: str | None = None,
    ) -> SampleType:
        exists = await session.execute(
            select(SampleType.id).where(SampleType.tenant_id == principal.tenant_id, SampleType.name == name)
        )
        if exists.scalar_one_or_none() is not None:
            raise ConflictError(f"sample type {name} exists")
        row = SampleType(
            id=new_id(),
            tenant_id=principal.tenant_id,
            name=name,
            zone=zone,
            colder_ok=colder_ok,
            description=description,
            created_at=utcnow(),
        )
        session.add(row)
        facts = {"name": name, "zone": zone, "colder_ok": colder_ok, "description": description}
        await self._created(session, principal, "sample_type", row.id, facts)
        return row

    async def sample_types(self, session: AsyncSession, tenant_id: str, *, limit: int = 500) -> list[SampleType]:
        query = select(SampleType).where(SampleType.tenant_id == tenant_id).order_by(SampleType.name).limit(limit)
        return list((await session.execute(query)).scalars())

    async def _created(
        self, session: AsyncSession, principal: Principal, record_type: str, record_id: str, facts: dict[str, Any]
    ) -> None:
        try:
            await session.flush()
        except IntegrityError as exc:  # created by another request since we looked
            raise ConflictError(f"that {record_type.replace('_', ' ')} was created at the same moment") from exc
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="create",
            record_type=record_type,
            record_id=record_id,
            new=facts,
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type=f"{record_type}.created",
            subject_type=record_type,
            subject_id=record_id,
            actor=principal.label,
            payload=facts,
        )
