"""Intake templates, their versions and approvals, blank sheets, and sheet uploads (dry run or commit) with their
reports. Reading templates and uploads needs samples:read; writing them samples:write; approving a version also
esign:sign (and the approver's password, again)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.intake_models import IntakeTemplate, IntakeTemplateVersion, IntakeUpload
from hub.db.models import ESignature
from hub.domain.cells import clean_text
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import ConflictError
from hub.intake import XLSX_TYPE, FieldSpec, blank_csv, blank_xlsx, check_fields, load_fields, report_csv
from hub.intake.fields import MAX_FIELDS

router = APIRouter(prefix="/v1", tags=["intake"])

CanRead = Annotated[Principal, Depends(require(Permission.SAMPLES_READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.SAMPLES_WRITE))]
CanSign = Annotated[Principal, Depends(require(Permission.ESIGN))]
TemplateId = Annotated[str, Path(min_length=1, max_length=64)]
VersionRef = Annotated[str, Path(min_length=1, max_length=64, description="the version number, or the version's id")]
UploadId = Annotated[str, Path(min_length=1, max_length=64)]

# -- schemas ----------------------------------------------------------------------------------------------------

Fields = Annotated[list[FieldSpec], Field(min_length=1, max_length=MAX_FIELDS)]


class _WithFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fields: Fields

    @model_validator(mode="after")
    def _usable(self) -> _WithFields:
        check_fields(self.fields)
        return self


class TemplateCreate(_WithFields):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str | None, Field(max_length=2000)] = None
    note: Annotated[str | None, Field(max_length=1000, description="about version 1")] = None


class VersionCreate(_WithFields):
    reason: Annotated[str, Field(min_length=3, max_length=1000, description="what changed and why (audited)")]


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, Field(min_length=1, max_length=256, description="the approver's, entered again")]
    reason: Annotated[str | None, Field(max_length=1000)] = None


class SignaturePublic(BaseModel):
    id: str
    signer_name: str
    meaning: str
    record_hash: str
    reason: str | None
    signed_at: datetime


class VersionSummary(BaseModel):
    id: str
    version: int
    status: Literal["draft", "approved", "superseded"]
    content_hash: str
    note: str | None
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    superseded_at: datetime | None

    @classmethod
    def of(cls, v: IntakeTemplateVersion) -> VersionSummary:
        return cls(
            id=v.id,
            version=v.version,
            status=v.status,  # the database's check constraint holds it to the three
            content_hash=v.content_hash,
            note=v.note,
            created_by=v.created_by,
            created_at=v.created_at,
            approved_by=v.approved_by,
            approved_at=v.approved_at,
            superseded_at=v.superseded_at,
        )


class VersionPublic(VersionSummary):
    template_id: str
    fields: list[FieldSpec]
    signature: SignaturePublic | None

    @classmethod
    def full(cls, v: IntakeTemplateVersion, signature: ESignature | None) -> VersionPublic:
        signed = None
        if signature is not None:
            signed = SignaturePublic(
                id=signature.id,
                signer_name=signature.signer_name,
                meaning=signature.meaning,
                record_hash=signature.record_hash,
                reason=signature.reason,
                signed_at=signature.signed_at,
            )
        try:
            fields = load_fields(v.fields)
        except ValueError as exc:  # changed outside the hub
            raise ConflictError(f"version {v.version}: {exc}") from exc
        return cls(**VersionSummary.of(v).model_dump(), template_id=v.template_id, fields=fields, signature=signed)


class TemplatePublic(BaseModel):
    id: str
    name: str
    description: str | None
    created_by: str
    created_at: datetime
    current_version: int | None = Field(description="the approved version new uploads use")
    latest_version: int
    versions: list[VersionSummary]

    @classmethod
    def of(cls, t: IntakeTemplate, versions: list[IntakeTemplateVersion]) -> TemplatePublic:
        mine = [v for v in versions if v.template_id == t.id]
        approved = [v.version for v in mine if v.status == "approved"]
        return cls(
            id=t.id,
            name=t.name,
            description=t.description,
            created_by=t.created_by,
            created_at=t.created_at,
            current_version=approved[0] if approved else None,
            latest_version=max((v.version for v in mine), default=0),
            versions=[VersionSummary.of(v) for v in mine],
        )


class RegisteredSample(BaseModel):
    row: int
    sample_id: str
    barcode: str


class UploadSummary(BaseModel):
    id: str
    template_id: str
    version: int
    filename: str
    format: str
    sha256: str
    size_bytes: int
    dry_run: bool
    status: Literal["checked", "rejected", "registered"]
    rows: int
    problem_count: int
    registered_count: int
    created_by: str
    created_at: datetime

    @classmethod
    def summary(cls, u: IntakeUpload) -> dict[str, Any]:
        return {
            "id": u.id,
            "template_id": u.template_id,
            "version": u.version,
            "filename": u.filename,
            "format": u.format,
            "sha256": u.sha256,
            "size_bytes": u.size_bytes,
            "dry_run": u.dry_run,
            "status": u.status,
            "rows": u.row_count,
            "problem_count": u.problem_count,
            "registered_count": u.registered_count,
            "created_by": u.created_by,
            "created_at": u.created_at,
        }


class UploadPublic(UploadSummary):
    report: dict[str, Any] = Field(
        description="sheet, header_row, columns, ignored_columns, rows, valid_rows, problem_count, problems "
        "(row, column, cell, value, reason), problems_truncated, notes"
    )
    samples: list[RegisteredSample] = Field(default=[], description="what a commit registered, by sheet row")


# -- templates and versions -------------------------------------------------------------------------------------


@router.get("/intake/templates")
async def list_templates(
    principal: CanRead,
    state: StateDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[TemplatePublic]:
    templates = await state.intake.list_templates(session, principal.tenant_id, limit=limit, offset=offset)
    versions = await state.intake.versions(session, principal.tenant_id, [t.id for t in templates])
    return [TemplatePublic.of(t, versions) for t in templates]


@router.post("/intake/templates", status_code=201)
async def create_template(
    body: TemplateCreate, principal: CanWrite, state: StateDep, session: SessionDep
) -> TemplatePublic:
    """A template and its version 1, a draft: a second person approves it before sheets can be registered."""
    template, version = await state.intake.create_template(
        session, principal, name=body.name, description=body.description, fields=body.fields, note=body.note
    )
    return TemplatePublic.of(template, [version])


@router.get("/intake/templates/{template_id}")
async def get_template(
    template_id: TemplateId, principal: CanRead, state: StateDep, session: ReadSessionDep
) -> TemplatePublic:
    template = await state.intake.get_template(session, principal.tenant_id, template_id)
    return TemplatePublic.of(template, await state.intake.versions(session, principal.tenant_id, [template.id]))


@router.post("/intake/templates/{template_id}/versions", status_code=201)
async def create_version(
    template_id: TemplateId, body: VersionCreate, principal: CanWrite, state: StateDep, session: SessionDep
) -> VersionPublic:
    """The next version of the fields, a draft. Approved versions never change."""
    version = await state.intake.add_version(session, principal, template_id, body.fields, body.reason)
    return VersionPublic.full(version, None)


@router.get("/intake/templates/{template_id}/versions/{template_version}")
async def get_version(
    template_id: TemplateId,
    template_version: VersionRef,
    principal: CanRead,
    state: StateDep,
    session: ReadSessionDep,
) -> VersionPublic:
    version = await state.intake.get_version(session, principal.tenant_id, template_id, template_version)
    ids = [version.signature_id] if version.signature_id else []
    signatures = await state.intake.signatures(session, principal.tenant_id, ids)
    return VersionPublic.full(version, signatures.get(version.signature_id or ""))


@router.post(
    "/intake/templates/{template_id}/versions/{template_version}/approval",
    dependencies=[Depends(require(Permission.SAMPLES_WRITE))],
)
async def approve_version(
    template_id: TemplateId,
    template_version: VersionRef,
    body: ApprovalRequest,
    principal: CanSign,
    state: StateDep,
    session: SessionDep,
) -> VersionPublic:
    """Approve a draft with an electronic signature (21 CFR 11.50, 11.70, 11.200): the approver's password again,
    meaning "approval", printed name and time, bound to the SHA-256 of the version's canonical definition. The
    author cannot approve their own version. The approved version replaces the previous one for new uploads."""
    await state.intake.get_version(session, principal.tenant_id, template_id, template_version)  # 404 before 401
    signer = await state.identity.verify_password(session, principal, body.password)
    version, signature = await state.intake.approve(
        session, principal, signer, template_id, template_version, reason=body.reason
    )
    return VersionPublic.full(version, signature)


def _download_name(name: str, version: int, extension: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "template"
    return f"{stem}-v{version}.{extension}"


@router.get(
    "/intake/templates/{template_id}/sheet",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX_TYPE: {}}, "description": "a blank sheet to fill in"}},
)
async def blank_sheet(
    template_id: TemplateId,
    principal: CanRead,
    state: StateDep,
    session: ReadSessionDep,
    format: Literal["csv", "xlsx"] = "csv",
    version: Annotated[int | None, Query(ge=1, le=1_000_000, description="default: the approved version")] = None,
) -> Response:
    """A blank sheet for the template: headers with units (``*`` marks required columns); the XLSX offers each
    enum's choices as a list and checks numbers and text lengths as they are typed."""
    template = await state.intake.get_template(session, principal.tenant_id, template_id)
    chosen = (
        await state.intake.get_version(session, principal.tenant_id, template.id, version)
        if version is not None
        else await state.intake.current_version(session, principal.tenant_id, template.id)
    )
    fields = state.intake.fields_of(template, chosen)
    if format == "xlsx":
        content = await asyncio.to_thread(blank_xlsx, fields, title=f"{template.name} v{chosen.version}")
        media_type = XLSX_TYPE
    else:
        content, media_type = blank_csv(fields), "text/csv; charset=utf-8"
    filename = _download_name(template.name, chosen.version, format)
    return Response(
        content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


# -- uploads ----------------------------------------------------------------------------------------------------

_DISPOSITION_NAME = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)
_UPLOAD_BODY = {
    "required": True,
    "description": "the file itself (not a multipart form)",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


def _upload_name(*candidates: str | None) -> str:
    for candidate in candidates:
        if candidate:
            name = clean_text(re.split(r"[\\/]", candidate)[-1])[:255]
            if name:
                return name
    return "upload"


@router.post(
    "/intake/templates/{template_id}/uploads",
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={201: {"description": "the sheet's samples were registered"}},
)
async def upload_sheet(
    template_id: TemplateId,
    request: Request,
    response: Response,
    principal: CanWrite,
    state: StateDep,
    session: SessionDep,
    dry_run: Annotated[bool, Query(description="check only (the default); false registers a sheet")] = True,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    version: Annotated[int | None, Query(ge=1, le=1_000_000, description="a dry run may check a draft")] = None,
    x_filename: Annotated[str | None, Header(max_length=255)] = None,
    content_disposition: Annotated[str | None, Header(max_length=1000)] = None,
) -> UploadPublic:
    """Check a CSV or XLSX sheet against the template's approved version: every problem by row, column and
    reason. With ``dry_run=false`` a sheet without problems registers its samples (all rows or none, 201); one
    with problems registers nothing (422, the report stays on record). The same file registered already for the
    same version: 409 naming the earlier upload."""
    data = await request.body()
    named = _DISPOSITION_NAME.search(content_disposition or "")
    outcome = await state.intake.upload(
        session,
        principal,
        template_id,
        data=data,
        content_type=request.headers.get("content-type"),
        filename=_upload_name(filename, x_filename, named[1] if named else None),
        dry_run=dry_run,
        version_number=version,
    )
    if outcome.registered:
        response.status_code = 201
    return UploadPublic(
        **UploadSummary.summary(outcome.upload),
        report=outcome.upload.report,
        samples=[RegisteredSample(row=row, sample_id=s.id, barcode=s.barcode) for row, s in outcome.registered],
    )


@router.get("/intake/uploads")
async def list_uploads(
    principal: CanRead,
    state: StateDep,
    session: ReadSessionDep,
    template_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[UploadSummary]:
    uploads = await state.intake.list_uploads(
        session, principal.tenant_id, template_id=template_id, limit=limit, offset=offset
    )
    return [UploadSummary(**UploadSummary.summary(u)) for u in uploads]


@router.get("/intake/uploads/{upload_id}")
async def get_upload(upload_id: UploadId, principal: CanRead, state: StateDep, session: ReadSessionDep) -> UploadPublic:
    upload = await state.intake.get_upload(session, principal.tenant_id, upload_id)
    return UploadPublic(**UploadSummary.summary(upload), report=upload.report)


@router.get(
    "/intake/uploads/{upload_id}/report.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "row, column, cell, value, reason"}},
)
async def upload_report_csv(
    upload_id: UploadId, principal: CanRead, state: StateDep, session: ReadSessionDep
) -> Response:
    """The upload's problems as CSV (every cell defused against formula injection)."""
    upload = await state.intake.get_upload(session, principal.tenant_id, upload_id)
    return Response(
        report_csv(upload.report.get("problems", [])),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="upload-{upload.id}-problems.csv"'},
    )
