"""Intake: templates with typed fields, versions approved by a second person with an electronic signature, and
sheets (CSV or XLSX) checked against the approved version and registered as samples, all rows or none.

A dry run and a commit run the same check on the same bytes (a commit never trusts an earlier dry run); the only
difference is that a commit of a sheet without problems registers its samples through ``Samples.register_many``
in the same transaction as the upload's record. Every change writes its audit entry and its event in the caller's
transaction. Reading and checking the file run in a worker thread: a large workbook does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.intake_models import IntakeTemplate, IntakeTemplateVersion, IntakeUpload
from hub.db.models import ESignature, User
from hub.db.sample_models import Sample
from hub.domain.cells import clean_text
from hub.domain.identity import Principal
from hub.domain.intake_lookups import resolve_references
from hub.domain.intake_rows import report_of, sample_specs
from hub.domain.samples import MAX_BATCH, Samples
from hub.errors import ConflictError, ForbiddenError, NotFoundError, ValidationFailedError
from hub.events.outbox import record_event
from hub.intake import (
    FieldSpec,
    SheetCheck,
    SheetError,
    SheetFile,
    check_fields,
    check_sheet,
    content_hash,
    load_fields,
    read_upload,
)

MAX_STORED_PROBLEMS = 1000  # in an upload's report; the count is always exact
RECORD_TYPE_VERSION = "intake_template_version"
__all__ = ["Intake", "UploadOutcome"]


@dataclass
class UploadOutcome:
    upload: IntakeUpload
    registered: list[tuple[int, Sample]] = field(default_factory=list)  # (sheet row, sample)


def _fields_or_refuse(fields: Sequence[FieldSpec]) -> list[FieldSpec]:
    try:
        check_fields(fields)
    except ValueError as exc:
        raise ValidationFailedError(str(exc)) from exc
    return list(fields)


class Intake:
    def __init__(self, audit: AuditTrail, samples: Samples) -> None:
        self.audit = audit
        self.samples = samples

    # -- templates and versions ---------------------------------------------------------------------------------

    async def get_template(
        self, session: AsyncSession, tenant_id: str, template_id: str, *, for_update: bool = False
    ) -> IntakeTemplate:
        query = select(IntakeTemplate).where(IntakeTemplate.tenant_id == tenant_id, IntakeTemplate.id == template_id)
        if for_update:
            query = query.with_for_update()
        template = (await session.execute(query)).scalar_one_or_none()
        if template is None:
            raise NotFoundError(f"no intake template {template_id}")
        return template

    async def list_templates(
        self, session: AsyncSession, tenant_id: str, *, limit: int, offset: int
    ) -> list[IntakeTemplate]:
        query = (
            select(IntakeTemplate)
            .where(IntakeTemplate.tenant_id == tenant_id)
            .order_by(IntakeTemplate.name)
            .limit(limit)
            .offset(offset)
        )
        return list((await session.execute(query)).scalars())

    async def versions(
        self, session: AsyncSession, tenant_id: str, template_ids: Sequence[str]
    ) -> list[IntakeTemplateVersion]:
        """Every version of the templates, oldest first."""
        if not template_ids:
            return []
        query = (
            select(IntakeTemplateVersion)
            .where(IntakeTemplateVersion.tenant_id == tenant_id, IntakeTemplateVersion.template_id.in_(template_ids))
            .order_by(IntakeTemplateVersion.template_id, IntakeTemplateVersion.version)
        )
        return list((await session.execute(query)).scalars())

    async def get_version(
        self, session: AsyncSession, tenant_id: str, template_id: str, ref: int | str, *, for_update: bool = False
    ) -> IntakeTemplateVersion:
        """A version by its number (``3``, or ``"3"``) or by its id."""
        number = ref if isinstance(ref, int) else int(ref) if ref.isdigit() and len(ref) < 10 else None
        query = select(IntakeTemplateVersion).where(
            IntakeTemplateVersion.tenant_id == tenant_id,
            IntakeTemplateVersion.template_id == template_id,
            IntakeTemplateVersion.version == number if number is not None else IntakeTemplateVersion.id == str(ref),
        )
        if for_update:
            query = query.with_for_update()
        version = (await session.execute(query)).scalar_one_or_none()
        if version is None:
            raise NotFoundError(f"intake template {template_id} has no version {ref}")
        return version

    async def current_version(self, session: AsyncSession, tenant_id: str, template_id: str) -> IntakeTemplateVersion:
        """The approved version new uploads use; ``ConflictError`` while none is approved."""
        query = select(IntakeTemplateVersion).where(
            IntakeTemplateVersion.tenant_id == tenant_id,
            IntakeTemplateVersion.template_id == template_id,
            IntakeTemplateVersion.status == "approved",
        )
        version = (await session.execute(query)).scalar_one_or_none()
        if version is None:
            raise ConflictError(
                f"intake template {template_id} has no approved version yet: a second person approves a version "
                "before sheets can be registered (a dry run may name a draft with ?version=)"
            )
        return version

    def fields_of(self, template: IntakeTemplate, version: IntakeTemplateVersion) -> list[FieldSpec]:
        """The version's fields, after checking they still hash to what was recorded (and, once approved, signed):
        a definition changed behind the hub's back is refused, not used."""
        try:
            fields = load_fields(version.fields)
        except ValueError as exc:
            raise ConflictError(
                f"version {version.version} of intake template {template.name!r}: {exc}; it cannot be used"
            ) from exc
        if content_hash(template.id, version.version, fields) != version.content_hash:
            raise ConflictError(
                f"version {version.version} of intake template {template.name!r} does not match its recorded hash: "
                "it was changed outside the hub and cannot be used"
            )
        return fields

    async def create_template(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        name: str,
        description: str | None,
        fields: Sequence[FieldSpec],
        note: str | None,
    ) -> tuple[IntakeTemplate, IntakeTemplateVersion]:
        """A template and its version 1, a draft until a second person approves it."""
        name = clean_text(name)
        if not name:
            raise ValidationFailedError("a template needs a name")
        taken = select(IntakeTemplate.id).where(
            IntakeTemplate.tenant_id == principal.tenant_id, IntakeTemplate.name == name
        )
        if (await session.execute(taken)).scalar_one_or_none() is not None:
            raise ConflictError(f"an intake template named {name!r} exists already")
        template = IntakeTemplate(
            id=new_id(),
            tenant_id=principal.tenant_id,
            name=name,
            description=clean_text(description) if description else None,
            created_by=principal.label,
            created_at=utcnow(),
        )
        session.add(template)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise ConflictError(f"an intake template named {name!r} exists already") from exc
        facts = {"name": name, "description": template.description}
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="create",
            record_type="intake_template",
            record_id=template.id,
            new=facts,
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type="intake.template.created",
            subject_type="intake_template",
            subject_id=template.id,
            actor=principal.label,
            payload=facts,
        )
        version = await self._add_version(session, principal, template, 1, fields, note)
        return template, version

    async def add_version(
        self,
        session: AsyncSession,
        principal: Principal,
        template_id: str,
        fields: Sequence[FieldSpec],
        note: str | None,
    ) -> IntakeTemplateVersion:
        """The next version (a draft). Approved versions stay as they are: a change is always a new version."""
        template = await self.get_template(session, principal.tenant_id, template_id, for_update=True)
        latest = select(func.max(IntakeTemplateVersion.version)).where(
            IntakeTemplateVersion.tenant_id == principal.tenant_id, IntakeTemplateVersion.template_id == template.id
        )
        number = ((await session.execute(latest)).scalar_one_or_none() or 0) + 1
        return await self._add_version(session, principal, template, number, fields, note)

    async def _add_version(
        self,
        session: AsyncSession,
        principal: Principal,
        template: IntakeTemplate,
        number: int,
        fields: Sequence[FieldSpec],
        note: str | None,
    ) -> IntakeTemplateVersion:
        if principal.kind != "user":
            raise ForbiddenError("only a person can author an intake template")
        checked = _fields_or_refuse(fields)
        version = IntakeTemplateVersion(
            id=new_id(),
            tenant_id=principal.tenant_id,
            template_id=template.id,
            version=number,
            status="draft",
            fields=[f.model_dump(mode="json") for f in checked],
            content_hash=content_hash(template.id, number, checked),
            note=clean_text(note) if note else None,
            author_id=principal.id,
            created_by=principal.label,
            created_at=utcnow(),
        )
        session.add(version)
        try:
            await session.flush()
        except IntegrityError as exc:  # another version took the number first
            raise ConflictError(f"version {number} of {template.name!r} was just created; try again") from exc
        facts = {"template_id": template.id, "version": number, "content_hash": version.content_hash}
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="create",
            record_type=RECORD_TYPE_VERSION,
            record_id=version.id,
            reason=version.note,
            new={**facts, "status": "draft", "fields": version.fields},
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type="intake.template.version_created",
            subject_type="intake_template",
            subject_id=template.id,
            actor=principal.label,
            payload=facts,
        )
        return version

    async def approve(
        self,
        session: AsyncSession,
        principal: Principal,
        signer: User,
        template_id: str,
        ref: int | str,
        *,
        reason: str | None,
    ) -> tuple[IntakeTemplateVersion, ESignature]:
        """Approve a draft with ``signer``'s electronic signature (its password checked by the caller): meaning
        "approval", bound to the version's content hash. The author cannot approve their own version. The newest
        approval supersedes the version approved before it; an older draft cannot be approved over a newer one."""
        tenant_id = principal.tenant_id
        template = await self.get_template(session, tenant_id, template_id, for_update=True)
        version = await self.get_version(session, tenant_id, template.id, ref, for_update=True)
        number = version.version
        if version.status != "draft":
            raise ConflictError(f"version {number} of {template.name!r} is {version.status} already")
        if version.author_id == signer.id:
            raise ForbiddenError(
                f"you wrote version {number}: a second person must approve it (approval is not the author's)"
            )
        current = await self._approved(session, tenant_id, template.id)
        if current is not None and current.version > number:
            raise ConflictError(f"version {number} is older than the approved version {current.version}")
        self.fields_of(template, version)
        now = utcnow()
        signature = ESignature(
            id=new_id(),
            tenant_id=tenant_id,
            user_id=signer.id,
            signer_name=signer.display_name,
            meaning="approval",
            record_type=RECORD_TYPE_VERSION,
            record_id=version.id,
            record_hash=version.content_hash,
            reason=clean_text(reason) if reason else None,
            signed_at=now,
        )
        session.add(signature)
        await session.flush()
        if current is not None:
            current.status, current.superseded_at = "superseded", now
            await self.audit.record(
                session,
                tenant_id=tenant_id,
                actor=principal.label,
                action="update",
                record_type=RECORD_TYPE_VERSION,
                record_id=current.id,
                reason=f"superseded by version {number}",
                old={"status": "approved"},
                new={"status": "superseded"},
            )
        version.status, version.approver_id, version.approved_by = "approved", signer.id, principal.label
        version.approved_at, version.signature_id = now, signature.id
        await session.flush()
        facts = {
            "template_id": template.id,
            "version": number,
            "meaning": "approval",
            "signer": signer.display_name,
            "signature_id": signature.id,
            "record_hash": version.content_hash,
            "supersedes": current.version if current is not None else None,
        }
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=principal.label,
            action="approve",
            record_type=RECORD_TYPE_VERSION,
            record_id=version.id,
            reason=signature.reason,
            old={"status": "draft"},
            new={"status": "approved", **facts},
        )
        record_event(
            session,
            tenant_id=tenant_id,
            type="intake.template.approved",
            subject_type="intake_template",
            subject_id=template.id,
            actor=principal.label,
            payload=facts,
        )
        return version, signature

    async def _approved(self, session: AsyncSession, tenant_id: str, template_id: str) -> IntakeTemplateVersion | None:
        try:
            return await self.current_version(session, tenant_id, template_id)
        except ConflictError:
            return None

    async def signatures(self, session: AsyncSession, tenant_id: str, ids: Sequence[str]) -> dict[str, ESignature]:
        if not ids:
            return {}
        query = select(ESignature).where(ESignature.tenant_id == tenant_id, ESignature.id.in_(ids))
        return {s.id: s for s in (await session.execute(query)).scalars()}

    # -- uploads ------------------------------------------------------------------------------------------------

    async def get_upload(self, session: AsyncSession, tenant_id: str, upload_id: str) -> IntakeUpload:
        query = select(IntakeUpload).where(IntakeUpload.tenant_id == tenant_id, IntakeUpload.id == upload_id)
        upload = (await session.execute(query)).scalar_one_or_none()
        if upload is None:
            raise NotFoundError(f"no intake upload {upload_id}")
        return upload

    async def list_uploads(
        self, session: AsyncSession, tenant_id: str, *, template_id: str | None, limit: int, offset: int
    ) -> list[IntakeUpload]:
        query = select(IntakeUpload).where(IntakeUpload.tenant_id == tenant_id)
        if template_id is not None:
            query = query.where(IntakeUpload.template_id == template_id)
        query = query.order_by(IntakeUpload.created_at.desc(), IntakeUpload.id).limit(limit).offset(offset)
        return list((await session.execute(query)).scalars())

    async def upload(
        self,
        session: AsyncSession,
        principal: Principal,
        template_id: str,
        *,
        data: bytes,
        content_type: str | None,
        filename: str,
        dry_run: bool,
        version_number: int | None = None,
    ) -> UploadOutcome:
        """Check a sheet against the template's approved version (a dry run may name a draft) and, unless it is
        a dry run, register its samples: all rows or none. A commit with problems records the refused upload and
        raises ``ValidationFailedError`` (422) naming them; nothing is registered."""
        try:  # read before touching the database: no lock is held while a large file is parsed
            sheet: SheetFile | None = await asyncio.to_thread(read_upload, data, content_type)
            unreadable: SheetError | None = None
        except SheetError as exc:
            sheet, unreadable = None, exc
        tenant_id = principal.tenant_id
        template = await self.get_template(session, tenant_id, template_id, for_update=not dry_run)
        version = await self._upload_version(session, template, version_number, dry_run=dry_run)
        fields = self.fields_of(template, version)
        if unreadable is not None or sheet is None:
            raise unreadable or ValidationFailedError("the file cannot be read")
        sha256 = hashlib.sha256(data).hexdigest()
        earlier = (
            await session.execute(
                select(IntakeUpload).where(
                    IntakeUpload.tenant_id == tenant_id,
                    IntakeUpload.template_version_id == version.id,
                    IntakeUpload.registered_sha256 == sha256,
                )
            )
        ).scalar_one_or_none()
        if earlier is not None:
            raise ConflictError(
                f"this file was registered already: upload {earlier.id} ({earlier.filename}, "
                f"{earlier.registered_count} samples, {earlier.created_at.isoformat()} by {earlier.created_by})",
                upload_id=earlier.id,
            )
        check = await asyncio.to_thread(check_sheet, sheet, fields)
        await resolve_references(session, tenant_id, check)
        report = report_of(sheet, check, MAX_STORED_PROBLEMS)
        status = "checked" if dry_run else "registered" if check.valid else "rejected"
        upload = IntakeUpload(
            id=new_id(),
            tenant_id=tenant_id,
            template_id=template.id,
            template_version_id=version.id,
            version=version.version,
            filename=filename,
            format=sheet.format,
            sha256=sha256,
            size_bytes=len(data),
            dry_run=dry_run,
            status=status,
            row_count=len(check.rows),
            problem_count=len(check.problems),
            registered_count=0,
            registered_sha256=sha256 if status == "registered" else None,  # unique: a racing twin fails here
            report=report,
            created_by=principal.label,
            created_at=utcnow(),
        )
        session.add(upload)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise ConflictError("this file is being registered by another request at this moment") from exc
        outcome = UploadOutcome(upload)
        if status == "registered":
            outcome.registered = await self._register(session, principal, upload, check)
        await self._record_upload(session, principal, template, upload)
        if status == "rejected":
            raise ValidationFailedError(
                f"the sheet has {upload.problem_count} problems; nothing was registered (see the report of upload "
                f"{upload.id})",
                keep_changes=True,  # the refused upload stays on record; no sample was added
                upload_id=upload.id,
                problem_count=upload.problem_count,
                problems=report["problems"][:100],
            )
        return outcome

    async def _upload_version(
        self, session: AsyncSession, template: IntakeTemplate, number: int | None, *, dry_run: bool
    ) -> IntakeTemplateVersion:
        current = await self._approved(session, template.tenant_id, template.id)
        if number is None:
            if current is None:
                raise ConflictError(
                    f"intake template {template.name!r} has no approved version yet: a second person approves a "
                    "version before sheets can be registered (a dry run may name a draft with ?version=)"
                )
            return current
        version = await self.get_version(session, template.tenant_id, template.id, number)
        if not dry_run and version.status != "approved":
            approved = f"version {current.version}" if current is not None else "none yet"
            raise ConflictError(
                f"version {number} is {version.status}: samples are registered only with the approved version "
                f"({approved})"
            )
        return version

    async def _register(
        self, session: AsyncSession, principal: Principal, upload: IntakeUpload, check: SheetCheck
    ) -> list[tuple[int, Sample]]:
        specs = sample_specs(check, upload.id)
        reason = f"intake upload {upload.id} ({upload.filename}), template version {upload.version}"
        samples: list[Sample] = []
        try:
            for start in range(0, len(specs), MAX_BATCH):  # one transaction: a later batch failing undoes all
                samples += await self.samples.register_many(
                    session, principal, specs[start : start + MAX_BATCH], reason=reason
                )
            upload.registered_count = len(samples)
            await session.flush()
        except IntegrityError as exc:  # a barcode, or this very file, registered by a request that raced this one
            raise ConflictError(
                "another upload registered some of these samples (or this file) at the same moment; nothing was "
                "registered: run a dry run again to see why"
            ) from exc
        return [(row.number, sample) for row, sample in zip(check.rows, samples, strict=True)]

    async def _record_upload(
        self, session: AsyncSession, principal: Principal, template: IntakeTemplate, upload: IntakeUpload
    ) -> None:
        facts = {
            "template_id": template.id,
            "version": upload.version,
            "filename": upload.filename,
            "sha256": upload.sha256,
            "dry_run": upload.dry_run,
            "status": upload.status,
            "rows": upload.row_count,
            "problems": upload.problem_count,
            "registered": upload.registered_count,
        }
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="create",
            record_type="intake_upload",
            record_id=upload.id,
            new=facts,
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type=f"intake.upload.{upload.status}",
            subject_type="intake_upload",
            subject_id=upload.id,
            actor=principal.label,
            payload=facts,
        )
