"""Storage: the container tree, box grids, placing samples (by hand or allocated), units' edge bindings, excursions
and holds. Reads need ``storage:read``; every change needs ``storage:write`` and is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.api.storage_schemas import (
    AllocationRequest,
    BindingItem,
    BindingPublic,
    BoxPublic,
    CellPublic,
    ContainerCreate,
    ContainerDetail,
    ContainerMove,
    ContainerPublic,
    ContainerRef,
    ContainerUpdate,
    ContentsPage,
    ExcursionDetail,
    ExcursionPublic,
    ExposedPublic,
    HoldRequest,
    HoldResult,
    Id,
    Kind,
    LocationPublic,
    MovesRequest,
    PlacementResult,
    PlacementsRequest,
    RemovalsRequest,
    SampleRef,
    SkippedSample,
)
from hub.db.storage_models import StorageContainer
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.domain.storage.bindings import Binding
from hub.domain.storage.containers import ContainerChanges, NewContainer
from hub.domain.storage.layout import UNIT_KINDS
from hub.domain.storage.placement import Placement

router = APIRouter(prefix="/v1/storage", tags=["storage"])

CanReadStorage = Annotated[Principal, Depends(require(Permission.STORAGE_READ))]
CanWriteStorage = Annotated[Principal, Depends(require(Permission.STORAGE_WRITE))]


def _ref(c: StorageContainer | None) -> ContainerRef | None:
    return None if c is None else ContainerRef(id=c.id, kind=c.kind, name=c.name)


async def _public(state: StateDep, session: AsyncSession, principal: Principal, c: StorageContainer) -> ContainerPublic:
    occupancy = await state.storage.occupancy(session, principal.tenant_id, [c])
    return ContainerPublic.of(c, occupancy[c.id], state.storage.threshold(c))


# -- containers -------------------------------------------------------------------------------------------------


@router.get("/containers")
async def list_containers(
    principal: CanReadStorage,
    state: StateDep,
    session: ReadSessionDep,
    parent_id: Annotated[str | None, Query(max_length=64, description="its children; none: the top level")] = None,
    kind: Annotated[Kind | None, Query(description="every container of this kind (with no parent_id)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ContainerPublic]:
    found = await state.storage.children(session, principal.tenant_id, parent_id, kind=kind, limit=limit, offset=offset)
    return [ContainerPublic.of(c, o, state.storage.threshold(c)) for c, o in found]


@router.post("/containers", status_code=201)
async def create_container(
    body: ContainerCreate, principal: CanWriteStorage, state: StateDep, session: SessionDep
) -> ContainerPublic:
    """A site, room, unit (freezer, fridge, LN2 tank, cabinet: with its zone), shelf, rack, drawer, tower, or a
    box with its grid (``rows`` × ``cols``: 8 × 12 for 96 positions, 9 × 9, 10 × 10…)."""
    spec = NewContainer(**body.model_dump())
    container = await state.storage.create_container(session, principal, spec)
    return await _public(state, session, principal, container)


@router.get("/containers/{container_id}")
async def get_container(
    container_id: Id, principal: CanReadStorage, state: StateDep, session: ReadSessionDep
) -> ContainerDetail:
    view = await state.storage.view(session, principal.tenant_id, container_id)
    public = ContainerPublic.of(view.container, view.occupancy, view.warn_at_pct)
    return ContainerDetail(
        **public.model_dump(),
        ancestors=[ContainerRef(id=a.id, kind=a.kind, name=a.name) for a in view.ancestors],
        bindings=[BindingPublic.of(b) for b in view.bindings],
        open_excursion=ExcursionPublic.of(view.open_excursion) if view.open_excursion else None,
    )


@router.patch("/containers/{container_id}")
async def update_container(
    container_id: Id, body: ContainerUpdate, principal: CanWriteStorage, state: StateDep, session: SessionDep
) -> ContainerPublic:
    changes = ContainerChanges(**body.model_dump(exclude={"reason"}))
    container = await state.storage.update_container(session, principal, container_id, changes, body.reason)
    return await _public(state, session, principal, container)


@router.post("/containers/{container_id}/move")
async def move_container(
    container_id: Id, body: ContainerMove, principal: CanWriteStorage, state: StateDep, session: SessionDep
) -> ContainerPublic:
    """Move a container and everything in it (a box to a backup freezer): refused if a sample inside would not
    suit the new unit's zone."""
    container = await state.storage.move_container(session, principal, container_id, body.parent_id, body.reason)
    return await _public(state, session, principal, container)


@router.get("/containers/{container_id}/children")
async def container_children(
    container_id: Id,
    principal: CanReadStorage,
    state: StateDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ContainerPublic]:
    found = await state.storage.children(session, principal.tenant_id, container_id, limit=limit, offset=offset)
    return [ContainerPublic.of(c, o, state.storage.threshold(c)) for c, o in found]


@router.get("/containers/{container_id}/contents")
async def container_contents(
    container_id: Id,
    principal: CanReadStorage,
    state: StateDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ContentsPage:
    """Every sample inside, any depth, in box order."""
    container, total, rows = await state.storage.contents(
        session, principal.tenant_id, container_id, limit=limit, offset=offset
    )
    return ContentsPage(container_id=container.id, total=total, samples=[LocationPublic.of(r) for r in rows])


@router.get("/containers/{container_id}/contents.csv", response_class=Response)
async def container_contents_csv(
    container_id: Id, principal: CanReadStorage, state: StateDep, session: ReadSessionDep
) -> Response:
    """The manifest of everything inside, as CSV (cells that a spreadsheet would run as formulas are defused)."""
    container, _total, rows = await state.storage.contents(session, principal.tenant_id, container_id, limit=100_000)
    return Response(
        state.storage.contents_csv(container, rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="storage-{container.id}.csv"'},
    )


@router.get("/boxes/{box_id}")
async def get_box(box_id: Id, principal: CanReadStorage, state: StateDep, session: ReadSessionDep) -> BoxPublic:
    """The box with every position of its grid, row-major, and the sample in each."""
    view = await state.storage.box(session, principal.tenant_id, box_id)
    return BoxPublic(
        box=ContainerPublic.of(view.box, view.occupancy, view.warn_at_pct),
        parent=_ref(view.parent),
        unit=_ref(view.unit),
        positions=[
            CellPublic(
                position=c.label,
                row=c.row,
                col=c.col,
                index=c.index,
                sample_id=c.sample_id,
                barcode=c.barcode,
                name=c.name,
                state=c.state,
                sample_type=c.sample_type,
                placed_at=c.placed_at,
            )
            for c in view.cells
        ],
    )


@router.get("/locations")
async def locate_samples(
    principal: CanReadStorage,
    state: StateDep,
    session: ReadSessionDep,
    sample_id: Annotated[list[Id], Query(min_length=1, max_length=500)],
) -> list[LocationPublic]:
    """Where these samples are; a sample not in storage is not listed."""
    return [LocationPublic.of(r) for r in await state.storage.locate(session, principal.tenant_id, sample_id)]


# -- samples in and out -----------------------------------------------------------------------------------------


@router.post("/placements")
async def place_samples(
    body: PlacementsRequest, principal: CanWriteStorage, state: StateDep, session: SessionDep
) -> PlacementResult:
    """Put samples in free positions, all or none; received, in-preparation and completed samples become stored.
    409 names every sample whose zone does not suit the box's unit and every position already taken."""
    requests = [Placement(p.sample_id, p.box_id, p.position) for p in body.placements]
    return PlacementResult.of(await state.storage.place(session, principal, requests, reason=body.reason))


@router.post("/moves")
async def move_samples(
    body: MovesRequest, principal: CanWriteStorage, state: StateDep, session: SessionDep
) -> PlacementResult:
    """Move stored samples to other positions, all or none (two samples may swap places)."""
    requests = [Placement(p.sample_id, p.box_id, p.position) for p in body.moves]
    return PlacementResult.of(await state.storage.move(session, principal, requests, reason=body.reason))


@router.post("/removals")
async def take_out_samples(
    body: RemovalsRequest, principal: CanWriteStorage, state: StateDep, session: SessionDep
) -> PlacementResult:
    """Take samples out of their positions (the positions become free; the samples' state is unchanged: move them
    on with the samples API, e.g. to in_preparation)."""
    return PlacementResult.of(await state.storage.take_out(session, principal, body.sample_ids, reason=body.reason))


@router.post("/allocations")
async def allocate_samples(
    body: AllocationRequest, principal: CanWriteStorage, state: StateDep, session: SessionDep
) -> PlacementResult:
    """Find positions for the samples in boxes under a container whose zone suits them, filling box by box in
    row-major order and keeping the batch in one box where it fits; ``dry_run`` returns the plan only. 409 when
    there is not enough room."""
    placed = await state.storage.allocate(
        session, principal, body.sample_ids, body.container_id, dry_run=body.dry_run, reason=body.reason
    )
    return PlacementResult.of(placed, dry_run=body.dry_run)


# -- units ------------------------------------------------------------------------------------------------------


@router.get("/units/{unit_id}/bindings")
async def get_bindings(
    unit_id: Id, principal: CanReadStorage, state: StateDep, session: ReadSessionDep
) -> list[BindingPublic]:
    await state.storage.get(session, principal.tenant_id, unit_id, kinds=UNIT_KINDS)
    return [BindingPublic.of(b) for b in await state.storage.bindings(session, principal.tenant_id, unit_id)]


@router.put("/units/{unit_id}/bindings")
async def set_bindings(
    unit_id: Id,
    body: Annotated[list[BindingItem], Body(max_length=50)],
    principal: CanWriteStorage,
    state: StateDep,
    session: SessionDep,
) -> list[BindingPublic]:
    """The edge channels that watch this unit (replacing the previous ones): a limit alarm raised on one opens an
    excursion. ``source`` names the instrument behind the edge when several share a channel name."""
    wanted = [Binding(b.device_id, b.channel, b.source) for b in body]
    return [BindingPublic.of(b) for b in await state.storage.set_bindings(session, principal, unit_id, wanted)]


@router.get("/units/{unit_id}/excursions")
async def list_excursions(
    unit_id: Id,
    principal: CanReadStorage,
    state: StateDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ExcursionPublic]:
    found = await state.storage.excursions(session, principal.tenant_id, unit_id, limit=limit, offset=offset)
    return [ExcursionPublic.of(e) for e in found]


@router.get("/excursions/{excursion_id}")
async def get_excursion(
    excursion_id: Id,
    principal: CanReadStorage,
    state: StateDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ExcursionDetail:
    """The excursion and the samples it exposed: inside when it began, or put in while it lasted."""
    excursion, samples = await state.storage.excursion(
        session, principal.tenant_id, excursion_id, limit=limit, offset=offset
    )
    return ExcursionDetail(
        excursion=ExcursionPublic.of(excursion),
        samples=[
            ExposedPublic(
                sample_id=s.sample_id,
                barcode=s.barcode,
                state=s.state,
                box_id=s.box_id,
                box_name=s.box_name,
                position=s.position,
                joined=s.joined,
            )
            for s in samples
        ],
    )


@router.post("/units/{unit_id}/hold")
async def hold_unit(
    unit_id: Id, body: HoldRequest, principal: CanWriteStorage, state: StateDep, session: SessionDep
) -> HoldResult:
    """Put every sample inside the unit on hold in one action (with ``excursion_id``: every sample that excursion
    exposed, wherever it is now). Samples already on hold, rejected or finished are listed as skipped."""
    outcome = await state.storage.hold(session, principal, unit_id, body.reason, excursion_id=body.excursion_id)
    return HoldResult(
        held=[SampleRef(sample_id=i, barcode=b) for i, b in outcome.held],
        skipped=[SkippedSample(sample_id=i, barcode=b, state=s) for i, b, s in outcome.skipped],
    )
