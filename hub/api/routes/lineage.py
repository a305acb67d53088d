"""Lineage: aliquots, derivatives and pools made from samples, and a sample's family tree."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.api.sample_schemas import (
    Barcode,
    Concentration,
    Name,
    Reason,
    RecordId,
    SampleIdPath,
    SamplePublic,
    Volume,
    volume,
)
from hub.domain.identity import Principal
from hub.domain.lineage import MAX_CHILDREN, MAX_DEPTH, MAX_POOL, Lineage, PoolPart
from hub.domain.permissions import Permission

router = APIRouter(tags=["lineage"])

CanReadSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_READ))]
CanWriteSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_WRITE))]


def lineage_service(state: StateDep) -> Lineage:
    return Lineage(state.audit, state.samples)


LineageDep = Annotated[Lineage, Depends(lineage_service)]
PositiveVolume = Annotated[Volume, Field(gt=0)]


class _Children(BaseModel):
    count: Annotated[int, Field(ge=1, le=MAX_CHILDREN)] = 1
    barcodes: Annotated[
        list[Barcode] | None, Field(max_length=MAX_CHILDREN, description="one per child; left out: generated")
    ] = None
    reason: Reason | None = None

    @model_validator(mode="after")
    def _one_barcode_each(self) -> _Children:
        if self.barcodes is not None and len(self.barcodes) != self.count:
            raise ValueError(f"give one barcode per child ({self.count}), or none")
        return self


class AliquotRequest(_Children):
    model_config = ConfigDict(extra="forbid")
    volume_ul: PositiveVolume = Field(description="the volume of each aliquot, taken from the parent")


class DerivativeRequest(_Children):
    model_config = ConfigDict(extra="forbid")
    sample_type_id: RecordId
    name: Name | None = None
    volume_taken_ul: Volume | None = Field(default=None, description="taken from the parent for each derivative")
    volume_ul: Volume | None = Field(default=None, description="the volume of each derivative")
    concentration: Concentration | None = None
    consume_parent: bool = Field(default=False, description="the parent is used up")


class PoolMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_id: RecordId
    volume_ul: Volume | None = Field(default=None, description="taken from this parent")


class PoolRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    parents: Annotated[list[PoolMember], Field(min_length=2, max_length=MAX_POOL)]
    sample_type_id: RecordId | None = Field(default=None, description="left out: the parents' common type")
    project_id: RecordId | None = Field(default=None, description="left out: the parents' common project")
    barcode: Barcode | None = None
    volume_ul: Volume | None = Field(default=None, description="left out: the sum of the parts")
    concentration: Concentration | None = None
    consume_parents: bool = False
    reason: Reason | None = None


class LinkPublic(BaseModel):
    parent_id: str
    child_id: str
    kind: str
    volume_ul: Decimal | None
    created_by: str
    created_at: datetime


class LineageNode(SamplePublic):
    generation: int = Field(description="0: the sample asked about; negative: ancestors; positive: descendants")


class LineagePublic(BaseModel):
    sample_id: str
    depth: int
    samples: list[LineageNode]
    links: list[LinkPublic]
    truncated: bool = Field(description="there is more beyond the depth or size limit")


@router.post("/samples/{sample_id}/aliquots", status_code=201)
async def make_aliquots(
    sample_id: SampleIdPath, body: AliquotRequest, principal: CanWriteSamples, lineage: LineageDep, session: SessionDep
) -> list[SamplePublic]:
    """Split a sample: ``count`` aliquots of ``volume_ul`` each; refused if the parent does not hold enough."""
    children = await lineage.aliquot(
        session,
        principal,
        sample_id,
        count=body.count,
        volume_ul=body.volume_ul,
        reason=body.reason,
        barcodes=body.barcodes,
    )
    return [SamplePublic.of(c) for c in children]


@router.post("/samples/{sample_id}/derivatives", status_code=201)
async def make_derivatives(
    sample_id: SampleIdPath,
    body: DerivativeRequest,
    principal: CanWriteSamples,
    lineage: LineageDep,
    session: SessionDep,
) -> list[SamplePublic]:
    """New material made from a sample (DNA from blood, a library from DNA), possibly of another type."""
    children = await lineage.derive(
        session,
        principal,
        sample_id,
        sample_type_id=body.sample_type_id,
        count=body.count,
        volume_taken_ul=body.volume_taken_ul,
        volume_ul=body.volume_ul,
        concentration=body.concentration,
        name=body.name,
        barcodes=body.barcodes,
        consume_parent=body.consume_parent,
        reason=body.reason,
    )
    return [SamplePublic.of(c) for c in children]


@router.post("/pools", status_code=201)
async def make_pool(
    body: PoolRequest, principal: CanWriteSamples, lineage: LineageDep, session: SessionDep
) -> SamplePublic:
    """One sample pooled from two or more, taking each part's volume from its parent."""
    child = await lineage.pool(
        session,
        principal,
        [PoolPart(p.sample_id, p.volume_ul) for p in body.parents],
        name=body.name,
        sample_type_id=body.sample_type_id,
        project_id=body.project_id,
        barcode=body.barcode,
        volume_ul=body.volume_ul,
        concentration=body.concentration,
        consume_parents=body.consume_parents,
        reason=body.reason,
    )
    return SamplePublic.of(child)


@router.get("/samples/{sample_id}/lineage")
async def sample_lineage(
    sample_id: SampleIdPath,
    principal: CanReadSamples,
    lineage: LineageDep,
    session: ReadSessionDep,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="generations each way")] = 5,
) -> LineagePublic:
    graph = await lineage.graph(session, principal.tenant_id, sample_id, depth=depth)
    return LineagePublic(
        sample_id=graph.root.id,
        depth=depth,
        samples=[
            LineageNode(**SamplePublic.of(s).model_dump(), generation=graph.generation[s.id]) for s in graph.samples
        ],
        links=[
            LinkPublic(
                parent_id=link.parent_id,
                child_id=link.child_id,
                kind=link.kind,
                volume_ul=volume(link.volume_ul),
                created_by=link.created_by,
                created_at=link.created_at,
            )
            for link in graph.links
        ],
        truncated=graph.truncated,
    )
