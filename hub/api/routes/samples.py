"""Samples: projects, sample types, registration in batches, lists, corrections, and lifecycle moves in batches.

Lineage, custody and QC routes are in their own modules and included here, so the app includes one router.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.api.routes import custody, lineage, sample_qc
from hub.api.sample_schemas import (
    Attributes,
    Barcode,
    Concentration,
    Description,
    Name,
    Reason,
    RecordId,
    SampleIdPath,
    SamplePublic,
    ShortText,
    Volume,
    etag,
)
from hub.db.sample_models import Project, SampleType, Zone
from hub.domain.cells import clean_text
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Permission
from hub.domain.samples import MAX_BATCH, NewSample, SampleFilter
from hub.errors import BadRequestError

router = APIRouter(prefix="/v1", tags=["samples"])

CanReadSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_READ))]
CanWriteSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_WRITE))]


# -- projects and sample types ----------------------------------------------------------------------------------


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    name: Name


class ProjectPublic(BaseModel):
    id: str
    code: str
    name: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: Project) -> ProjectPublic:
        return cls(id=row.id, code=row.code, name=row.name, created_by=row.created_by, created_at=row.created_at)


class SampleTypeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ShortText
    zone: Zone = Field(description="the storage temperature it needs")
    colder_ok: bool = Field(default=True, description="a colder unit is fine too")
    description: Description | None = None


class SampleTypePublic(BaseModel):
    id: str
    name: str
    zone: str
    colder_ok: bool
    description: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: SampleType) -> SampleTypePublic:
        return cls(
            id=row.id,
            name=row.name,
            zone=row.zone,
            colder_ok=row.colder_ok,
            description=row.description,
            created_at=row.created_at,
        )


@router.post("/projects", status_code=201)
async def create_project(
    body: ProjectCreate, principal: CanWriteSamples, state: StateDep, session: SessionDep
) -> ProjectPublic:
    return ProjectPublic.of(await state.samples.create_project(session, principal, body.code, body.name))


@router.get("/projects")
async def list_projects(principal: CanReadSamples, state: StateDep, session: ReadSessionDep) -> list[ProjectPublic]:
    return [ProjectPublic.of(p) for p in await state.samples.projects(session, principal.tenant_id)]


@router.post("/sample-types", status_code=201)
async def create_sample_type(
    body: SampleTypeCreate, principal: CanWriteSamples, state: StateDep, session: SessionDep
) -> SampleTypePublic:
    row = await state.samples.create_sample_type(
        session,
        principal,
        name=body.name,
        zone=body.zone,
        colder_ok=body.colder_ok,
        description=body.description,
    )
    return SampleTypePublic.of(row)


@router.get("/sample-types")
async def list_sample_types(
    principal: CanReadSamples, state: StateDep, session: ReadSessionDep
) -> list[SampleTypePublic]:
    return [SampleTypePublic.of(t) for t in await state.samples.sample_types(session, principal.tenant_id)]


# -- samples ----------------------------------------------------------------------------------------------------


class SampleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    sample_type_id: RecordId
    barcode: Barcode | None = Field(default=None, description="left out: the hub generates one (S-000123)")
    project_id: RecordId | None = None
    volume_ul: Volume | None = None
    concentration: Concentration | None = None
    attributes: Attributes = Field(default_factory=dict)


class SampleBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    samples: Annotated[list[SampleCreate], Field(min_length=1, max_length=MAX_BATCH)]
    reason: Reason | None = None


class SampleUpdate(BaseModel):
    """Only the fields sent change; ``attributes`` replaces the whole set."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason
    version: Annotated[int | None, Field(ge=1, description="the version you read (or send If-Match)")] = None
    name: Name | None = None
    volume_ul: Volume | None = None
    concentration: Concentration | None = None
    attributes: Attributes | None = None


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_ids: Annotated[list[RecordId], Field(min_length=1, max_length=MAX_BATCH)]
    to: SampleState
    reason: Reason
    expected_versions: Annotated[
        dict[RecordId, Annotated[int, Field(ge=1)]] | None,
        Field(max_length=MAX_BATCH, description="sample id → the version you read; a sample that moved on refuses"),
    ] = None


class SamplePage(BaseModel):
    samples: list[SamplePublic]
    next_cursor: str | None = Field(description="pass as 'cursor' for the next page; null on the last page")


def clean_query(value: str | None) -> str | None:
    cleaned = clean_text(value) if value is not None else None
    return cleaned or None


@router.post("/samples", status_code=201)
async def register_samples(
    body: SampleBatchCreate, principal: CanWriteSamples, state: StateDep, session: SessionDep
) -> list[SamplePublic]:
    """Register up to 1000 samples, all or none: one bad sample refuses the batch, naming every problem."""
    specs = [
        NewSample(
            name=s.name,
            sample_type_id=s.sample_type_id,
            barcode=s.barcode,
            project_id=s.project_id,
            volume_ul=s.volume_ul,
            concentration=s.concentration,
            attributes=dict(s.attributes),
        )
        for s in body.samples
    ]
    samples = await state.samples.register_many(session, principal, specs, reason=body.reason)
    return [SamplePublic.of(s) for s in samples]


@router.get("/samples")
async def list_samples(
    principal: CanReadSamples,
    state: StateDep,
    session: ReadSessionDep,
    sample_state: Annotated[list[SampleState] | None, Query(alias="state", max_length=10)] = None,
    project_id: Annotated[str | None, Query(max_length=64)] = None,
    sample_type_id: Annotated[str | None, Query(max_length=64)] = None,
    barcode_prefix: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    q: Annotated[str | None, Query(min_length=3, max_length=100, description="text inside the name")] = None,
    order: Literal["newest", "oldest"] = "newest",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> SamplePage:
    """The tenant's samples, a page at a time in creation order (cursor paging: no totals)."""
    where = SampleFilter(
        states=tuple(sample_state or ()),
        project_id=project_id,
        sample_type_id=sample_type_id,
        barcode_prefix=clean_query(barcode_prefix),
        name_contains=clean_query(q),
    )
    page = await state.samples.page(
        session, principal.tenant_id, where, limit=limit, cursor=cursor, newest_first=order == "newest"
    )
    return SamplePage(samples=[SamplePublic.of(s) for s in page.samples], next_cursor=page.next_cursor)


@router.post("/samples/transitions")
async def move_samples(
    body: TransitionRequest, principal: CanWriteSamples, state: StateDep, session: SessionDep
) -> list[SamplePublic]:
    """Move up to 1000 samples to one state, all or none: the refusal names every sample that cannot move and
    where it could go instead."""
    samples = await state.samples.transition_many(
        session, principal, body.sample_ids, body.to, reason=body.reason, expected_versions=body.expected_versions
    )
    return [SamplePublic.of(s) for s in samples]


@router.get("/samples/{sample_id}")
async def get_sample(
    sample_id: SampleIdPath, principal: CanReadSamples, state: StateDep, session: ReadSessionDep, response: Response
) -> SamplePublic:
    sample = await state.samples.get(session, principal.tenant_id, sample_id)
    response.headers["ETag"] = etag(sample)
    return SamplePublic.of(sample)


def _version_of(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    tag = if_match.strip()
    if tag.startswith('"') and tag.endswith('"') and tag[1:-1].isdigit() and len(tag) < 20:
        return int(tag[1:-1])
    raise BadRequestError('If-Match takes the ETag a GET of the sample returned, such as "3"')


@router.patch("/samples/{sample_id}")
async def update_sample(
    sample_id: SampleIdPath,
    body: SampleUpdate,
    principal: CanWriteSamples,
    state: StateDep,
    session: SessionDep,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> SamplePublic:
    """Correct a sample (name, volume, concentration, attributes), with a reason, naming the version you read
    (If-Match or ``version``): 412/409 if it changed since, 428 if you name none."""
    header_version = _version_of(if_match)
    if header_version is not None and body.version is not None and header_version != body.version:
        raise BadRequestError("If-Match and version name different versions")
    changes = body.model_dump(include=body.model_fields_set - {"reason", "version"})
    sample = await state.samples.update(
        session,
        principal,
        sample_id,
        changes,
        reason=body.reason,
        expected_version=header_version if header_version is not None else body.version,
        version_from_header=header_version is not None,
    )
    response.headers["ETag"] = etag(sample)
    return SamplePublic.of(sample)


for _module in (lineage, custody, sample_qc):
    router.include_router(_module.router)
