"""Request and answer shapes of the storage routes: containers, boxes, placements, bindings, excursions and holds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.db.storage_models import MAX_GRID_COLS, MAX_GRID_ROWS, StorageContainer, StorageExcursion, StorageUnitBinding
from hub.domain.storage.base import Occupancy
from hub.domain.storage.layout import over_threshold
from hub.domain.storage.placement import Placed
from hub.domain.storage.views import Located

Id = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=3, max_length=1000, description="why (kept in the audit trail)")]
Kind = Literal["site", "room", "freezer", "fridge", "ln2_tank", "cabinet", "shelf", "rack", "drawer", "tower", "box"]
Zone = Literal["ln2_vapour", "-80", "-20", "4", "room"]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Barcode = Annotated[str, Field(min_length=1, max_length=64)]
Position = Annotated[str, Field(min_length=1, max_length=8, description="A1 … H12, or a row-major number")]


class OccupancyPublic(BaseModel):
    used: int
    total: int
    free: int
    pct: float

    @classmethod
    def of(cls, occupancy: Occupancy) -> OccupancyPublic:
        return cls(used=occupancy.used, total=occupancy.total, free=occupancy.free, pct=occupancy.pct)


class ContainerRef(BaseModel):
    id: str
    kind: str
    name: str


class ContainerPublic(BaseModel):
    id: str
    kind: str
    name: str
    barcode: str | None
    parent_id: str | None
    unit_id: str | None
    zone: str | None
    capacity: int | None = Field(description="child containers it can hold (None: no limit)")
    child_count: int
    rows: int | None
    cols: int | None
    warn_at_pct: int = Field(description="occupancy (%) at which it warns")
    capacity_warning: bool
    occupancy: OccupancyPublic
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: StorageContainer, occupancy: Occupancy, warn_at_pct: int) -> ContainerPublic:
        return cls(
            id=c.id,
            kind=c.kind,
            name=c.name,
            barcode=c.barcode,
            parent_id=c.parent_id,
            unit_id=c.unit_id,
            zone=c.zone,
            capacity=c.capacity,
            child_count=c.child_count,
            rows=c.grid_rows,
            cols=c.grid_cols,
            warn_at_pct=warn_at_pct,
            capacity_warning=over_threshold(occupancy.used, occupancy.total, warn_at_pct),
            occupancy=OccupancyPublic.of(occupancy),
            version=c.version,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class BindingPublic(BaseModel):
    device_id: str
    source: str | None = Field(description="the instrument behind the edge; None: any")
    channel: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, b: StorageUnitBinding) -> BindingPublic:
        return cls(
            device_id=b.device_id,
            source=b.source or None,
            channel=b.channel,
            created_by=b.created_by,
            created_at=b.created_at,
        )


class ExcursionPublic(BaseModel):
    id: str
    unit_id: str
    device_id: str
    source: str
    channel: str
    rule: str
    severity: str | None
    value: str | None
    limit: str | None
    message: str | None
    started_at: datetime
    ended_at: datetime | None
    open: bool
    active_alarms: list[str]
    samples_at_start: int

    @classmethod
    def of(cls, e: StorageExcursion) -> ExcursionPublic:
        return cls(
            id=e.id,
            unit_id=e.unit_id,
            device_id=e.device_id,
            source=e.source,
            channel=e.channel,
            rule=e.rule,
            severity=e.severity,
            value=e.value,
            limit=e.limit_value,
            message=e.message,
            started_at=e.started_at,
            ended_at=e.ended_at,
            open=e.ended_at is None,
            active_alarms=[str(i) for i in e.active_alarms.get("ids", [])],
            samples_at_start=e.samples_at_start,
        )


class ContainerDetail(ContainerPublic):
    ancestors: list[ContainerRef]
    bindings: list[BindingPublic]
    open_excursion: ExcursionPublic | None


class ContainerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind
    name: Name
    parent_id: Id | None = None
    zone: Zone | None = Field(default=None, description="units only; what is inside takes the unit's")
    capacity: Annotated[int | None, Field(ge=0, le=100_000)] = None
    rows: Annotated[int | None, Field(ge=1, le=MAX_GRID_ROWS, description="boxes only: rows A, B …")] = None
    cols: Annotated[int | None, Field(ge=1, le=MAX_GRID_COLS, description="boxes only: columns 1, 2 …")] = None
    barcode: Barcode | None = None
    warn_at_pct: Annotated[int | None, Field(ge=1, le=100)] = None


class ContainerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason
    name: Name | None = None
    barcode: Barcode | None = None
    capacity: Annotated[int | None, Field(ge=0, le=100_000)] = None
    warn_at_pct: Annotated[int | None, Field(ge=1, le=100)] = None
    zone: Zone | None = None


class ContainerMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parent_id: Id
    reason: Reason


class CellPublic(BaseModel):
    position: str
    row: int
    col: int
    index: int
    sample_id: str | None
    barcode: str | None
    name: str | None
    state: str | None
    sample_type: str | None
    placed_at: datetime | None


class BoxPublic(BaseModel):
    box: ContainerPublic
    parent: ContainerRef | None
    unit: ContainerRef | None
    positions: list[CellPublic]


class PlacementItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_id: Id
    box_id: Id
    position: Position


class PlacementsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    placements: Annotated[list[PlacementItem], Field(min_length=1, max_length=1000)]
    reason: Reason | None = None


class MovesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    moves: Annotated[list[PlacementItem], Field(min_length=1, max_length=1000)]
    reason: Reason | None = None


class RemovalsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_ids: Annotated[list[Id], Field(min_length=1, max_length=1000)]
    reason: Reason | None = None


class AllocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_ids: Annotated[list[Id], Field(min_length=1, max_length=1000)]
    container_id: Id = Field(description="a unit, shelf, rack… : boxes under it, any depth, are filled")
    dry_run: bool = False
    reason: Reason | None = None


class PlacedPublic(BaseModel):
    sample_id: str
    barcode: str
    box_id: str
    position: str
    row: int
    col: int
    state: str


class PlacementResult(BaseModel):
    samples: list[PlacedPublic]
    dry_run: bool = False

    @classmethod
    def of(cls, placed: list[Placed], dry_run: bool = False) -> PlacementResult:
        return cls(
            samples=[
                PlacedPublic(
                    sample_id=p.sample_id,
                    barcode=p.barcode,
                    box_id=p.box_id,
                    position=p.position,
                    row=p.row,
                    col=p.col,
                    state=p.state,
                )
                for p in placed
            ],
            dry_run=dry_run,
        )


class LocationPublic(BaseModel):
    sample_id: str
    barcode: str
    name: str
    state: str
    sample_type: str
    box_id: str
    box_name: str
    position: str
    index: int
    unit_id: str | None
    unit_name: str | None
    zone: str | None

    @classmethod
    def of(cls, r: Located) -> LocationPublic:
        return cls(
            sample_id=r.sample_id,
            barcode=r.barcode,
            name=r.name,
            state=r.state,
            sample_type=r.sample_type,
            box_id=r.box_id,
            box_name=r.box_name,
            position=r.position,
            index=r.index,
            unit_id=r.unit_id,
            unit_name=r.unit_name,
            zone=r.zone,
        )


class ContentsPage(BaseModel):
    container_id: str
    total: int
    samples: list[LocationPublic]


class BindingItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: Id
    channel: Annotated[str, Field(min_length=1, max_length=128)]
    source: Annotated[str | None, Field(min_length=1, max_length=128)] = None


class ExposedPublic(BaseModel):
    sample_id: str
    barcode: str
    state: str
    box_id: str
    box_name: str
    position: str
    joined: str = Field(description="start: inside when it began; placed: put in while it lasted")


class ExcursionDetail(BaseModel):
    excursion: ExcursionPublic
    samples: list[ExposedPublic]


class HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason
    excursion_id: Id | None = Field(default=None, description="hold the samples that excursion exposed instead")


class SampleRef(BaseModel):
    sample_id: str
    barcode: str


class SkippedSample(SampleRef):
    state: str


class HoldResult(BaseModel):
    held: list[SampleRef]
    skipped: list[SkippedSample]
