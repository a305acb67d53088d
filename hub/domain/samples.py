"""Samples: registration and lifecycle moves, one sample or hundreds in one all-or-nothing call.

Every change writes its audit entry and its event in the caller's transaction. Other modules (storage, intake,
sequencing) move samples only through ``Samples.transition_many`` and register them only through
``Samples.register_many``, so the lifecycle rules and the records are the same whoever asks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.sample_models import Project, Sample, SampleSequence, SampleType
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState, check_transition
from hub.errors import ConflictError, NotFoundError, ValidationFailedError
from hub.events.outbox import record_event

MAX_BATCH = 1000  # samples in one request; bigger sets go in several requests (or an intake sheet)


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


def _check_batch_size(count: int) -> None:
    if count == 0:
        raise ValidationFailedError("the batch is empty")
    if count > MAX_BATCH:
        raise ValidationFailedError(f"at most {MAX_BATCH} samples in one request; this one has {count}")


class Samples:
    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit

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
        _check_batch_size(len(sample_ids))
        duplicates = (
            sorted({i for i in sample_ids if sample_ids.count(i) > 1}) if len(set(sample_ids)) < len(sample_ids) else []
        )
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

    async def _next_barcodes(self, session: AsyncSession, tenant_id: str, count: int, prefix: str = "S") -> list[str]:
        counter = await session.get(SampleSequence, (tenant_id, prefix), with_for_update=True)
        if counter is None:
            counter = SampleSequence(tenant_id=tenant_id, prefix=prefix, next_value=1)
            session.add(counter)
            await session.flush()
        first = counter.next_value
        counter.next_value = first + count
        return [f"{prefix}-{n:06d}" for n in range(first, first + count)]

    async def register_many(
        self, session: AsyncSession, principal: Principal, specs: Sequence[NewSample], *, reason: str | None = None
    ) -> list[Sample]:
        """Register samples (state ``registered``), all or none: an unknown type or project, or a barcode that
        exists (or repeats in the batch), refuses the whole batch naming each problem."""
        _check_batch_size(len(specs))
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
        known_projects = (
            set(
                (
                    await session.execute(
                        select(Project.id).where(Project.tenant_id == tenant_id, Project.id.in_(project_ids))
                    )
                ).scalars()
            )
            if project_ids
            else set()
        )
        problems: list[str] = []
        for i, spec in enumerate(specs):
            if spec.sample_type_id not in known_types:
                problems.append(f"sample {i + 1}: no sample type {spec.sample_type_id}")
            if spec.project_id is not None and spec.project_id not in known_projects:
                problems.append(f"sample {i + 1}: no project {spec.project_id}")
        given = [s.barcode for s in specs if s.barcode is not None]
        repeated = sorted({b for b in given if given.count(b) > 1}) if len(set(given)) < len(given) else []
        problems += [f"barcode {b} appears twice in the batch" for b in repeated]
        if given:
            taken = (
                await session.execute(
                    select(Sample.barcode).where(Sample.tenant_id == tenant_id, Sample.barcode.in_(given))
                )
            ).scalars()
            problems += [f"barcode {b} is already registered" for b in sorted(taken)]
        if problems:
            raise ValidationFailedError("; ".join(problems[:50]), problems=problems)
        generated = iter(await self._next_barcodes(session, tenant_id, sum(1 for s in specs if s.barcode is None)))
        now = utcnow()
        samples = []
        for spec in specs:
            sample = Sample(
                id=new_id(),
                tenant_id=tenant_id,
                barcode=spec.barcode if spec.barcode is not None else next(generated),
                name=spec.name,
                sample_type_id=spec.sample_type_id,
                project_id=spec.project_id,
                state=SampleState.REGISTERED.value,
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
            samples.append(sample)
        session.add_all(samples)
        await session.flush()
        for sample in samples:
            facts = {
                "barcode": sample.barcode,
                "name": sample.name,
                "type": sample.sample_type_id,
                "project": sample.project_id,
                "state": sample.state,
            }
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
        """Move every sample to ``target``, all or none: any illegal move refuses the batch, naming each sample's
        state and its allowed moves. Putting on hold remembers the state to return to; releasing returns there."""
        samples = await self.load_many(session, principal.tenant_id, sample_ids)
        problems: list[str] = []
        for sample in samples:
            if expected_versions is not None and expected_versions.get(sample.id, sample.version) != sample.version:
                raise ConflictError(
                    f"sample {sample.barcode} changed since you read it (version {sample.version}); reload and retry"
                )
            held_from = SampleState(sample.held_from) if sample.held_from else None
            try:
                check_transition(
                    SampleState(sample.state), target, held_from=held_from, label=f"sample {sample.barcode}"
                )
            except ConflictError as exc:
                problems.append(exc.detail)
        if problems:
            raise ConflictError("; ".join(problems[:50]), problems=problems)
        now = utcnow()
        for sample in samples:
            old = sample.state
            if target == SampleState.ON_HOLD:
                sample.held_from = old
            elif old == SampleState.ON_HOLD.value:
                sample.held_from = None
            sample.state = target.value
            sample.version += 1
            sample.updated_at = now
            await self.audit.record(
                session,
                tenant_id=principal.tenant_id,
                actor=principal.label,
                action="update",
                record_type="sample",
                record_id=sample.id,
                reason=reason or f"moved to {target.value}",
                old={"state": old},
                new={"state": target.value},
            )
            record_event(
                session,
                tenant_id=principal.tenant_id,
                type=f"sample.{target.value}",
                subject_type="sample",
                subject_id=sample.id,
                actor=principal.label,
                payload={"barcode": sample.barcode, "from": old, "to": target.value, "reason": reason},
            )
        await session.flush()
        return samples
