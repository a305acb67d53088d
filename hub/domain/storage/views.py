"""Reading storage: a container with its ancestors, occupancy, bindings and open excursion; the containers in
another; a box's grid; every sample inside a container; where samples are; the CSV manifest."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.db.sample_models import Sample, SampleType
from hub.db.storage_models import StorageContainer, StorageExcursion, StoragePosition, StorageUnitBinding
from hub.domain.cells import safe_cell
from hub.domain.storage.base import Occupancy, StorageBase, dialect_of, under
from hub.domain.storage.bindings import unit_bindings
from hub.domain.storage.excursions import open_excursion
from hub.domain.storage.layout import BOX, UNIT_KINDS, over_threshold, path_ids, position_index, position_label
from hub.errors import NotFoundError


@dataclass
class ContainerView:
    container: StorageContainer
    occupancy: Occupancy
    warn_at_pct: int
    ancestors: list[StorageContainer] = field(default_factory=list)
    bindings: list[StorageUnitBinding] = field(default_factory=list)
    open_excursion: StorageExcursion | None = None

    @property
    def capacity_warning(self) -> bool:
        return over_threshold(self.occupancy.used, self.occupancy.total, self.warn_at_pct)


@dataclass(frozen=True)
class Cell:
    row: int
    col: int
    label: str
    index: int
    sample_id: str | None
    barcode: str | None
    name: str | None
    state: str | None
    sample_type: str | None
    placed_at: datetime | None


@dataclass
class BoxView:
    box: StorageContainer
    parent: StorageContainer | None
    unit: StorageContainer | None
    cells: list[Cell]
    warn_at_pct: int

    @property
    def occupancy(self) -> Occupancy:
        return Occupancy(sum(1 for c in self.cells if c.sample_id is not None), len(self.cells))


@dataclass(frozen=True)
class Located:
    """A sample in a position."""

    sample_id: str
    barcode: str
    name: str
    state: str
    sample_type: str
    box_id: str
    box_name: str
    row: int
    col: int
    cols: int
    unit_id: str | None
    unit_name: str | None
    zone: str | None

    @property
    def position(self) -> str:
        return position_label(self.row, self.col)

    @property
    def index(self) -> int:
        return position_index(self.row, self.col, self.cols)


def manifest_csv(rows: Sequence[Located]) -> str:
    """A manifest a spreadsheet opens safely (no cell runs as a formula)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["barcode", "name", "type", "state", "unit", "zone", "box", "position", "index"])
    for r in rows:
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    r.barcode,
                    r.name,
                    r.sample_type,
                    r.state,
                    r.unit_name,
                    r.zone,
                    r.box_name,
                    r.position,
                    r.index,
                )
            ]
        )
    return out.getvalue()


def _located() -> Any:
    """The query of samples in positions (as ``Located`` columns), and the box alias to filter and sort it by."""
    box, unit = aliased(StorageContainer, name="box"), aliased(StorageContainer, name="unit")
    query = (
        select(
            Sample.id,
            Sample.barcode,
            Sample.name,
            Sample.state,
            SampleType.name,
            box.id,
            box.name,
            StoragePosition.row_no,
            StoragePosition.col_no,
            box.grid_cols,
            unit.id,
            unit.name,
            box.zone,
        )
        .select_from(StoragePosition)
        .join(box, box.id == StoragePosition.box_id)
        .join(Sample, Sample.id == StoragePosition.sample_id)
        .join(SampleType, SampleType.id == Sample.sample_type_id)
        .outerjoin(unit, unit.id == box.unit_id)
    )
    return query, box


class StorageViews(StorageBase):
    """The part of ``Storage`` that reads containers, boxes and where samples are."""

    async def view(self, session: AsyncSession, tenant_id: str, container_id: str) -> ContainerView:
        container = await self.get(session, tenant_id, container_id)
        ancestor_ids = path_ids(container.path)[:-1]
        ancestors: list[StorageContainer] = []
        if ancestor_ids:
            found = await session.execute(
                select(StorageContainer).where(
                    StorageContainer.tenant_id == tenant_id, StorageContainer.id.in_(ancestor_ids)
                )
            )
            by_id = {c.id: c for c in found.scalars()}
            ancestors = [by_id[i] for i in ancestor_ids if i in by_id]
        occupancy = (await self.occupancy(session, tenant_id, [container]))[container.id]
        view = ContainerView(container, occupancy, self.threshold(container), ancestors)
        if container.kind in UNIT_KINDS:
            view.bindings = await unit_bindings(session, tenant_id, container.id)
            view.open_excursion = await open_excursion(session, tenant_id, container.id)
        return view

    async def children(
        self,
        session: AsyncSession,
        tenant_id: str,
        parent_id: str | None,
        *,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[tuple[StorageContainer, Occupancy]]:
        """The containers in ``parent_id`` (None: at the top level; with ``kind`` and no parent: every container
        of that kind), by name, with their occupancy."""
        query = select(StorageContainer).where(StorageContainer.tenant_id == tenant_id)
        if parent_id is not None:
            await self.get(session, tenant_id, parent_id)
            query = query.where(StorageContainer.parent_id == parent_id)
        elif kind is None:
            query = query.where(StorageContainer.parent_id.is_(None))
        if kind is not None:
            query = query.where(StorageContainer.kind == kind)
        query = query.order_by(StorageContainer.name, StorageContainer.id).limit(limit).offset(offset)
        found = list((await session.execute(query)).scalars())
        occupancy = await self.occupancy(session, tenant_id, found)
        return [(c, occupancy[c.id]) for c in found]

    async def box(self, session: AsyncSession, tenant_id: str, box_id: str) -> BoxView:
        """A box's grid, every position with its sample: two queries, whatever the grid."""
        parent, unit = aliased(StorageContainer), aliased(StorageContainer)
        row = (
            await session.execute(
                select(StorageContainer, parent, unit)
                .outerjoin(parent, parent.id == StorageContainer.parent_id)
                .outerjoin(unit, unit.id == StorageContainer.unit_id)
                .where(
                    StorageContainer.tenant_id == tenant_id,
                    StorageContainer.id == box_id,
                    StorageContainer.kind == BOX,
                )
            )
        ).first()
        if row is None:
            raise NotFoundError(f"no box {box_id}")
        box, box_parent, box_unit = row
        cols = box.grid_cols or 1
        cells = await session.execute(
            select(
                StoragePosition.row_no,
                StoragePosition.col_no,
                StoragePosition.sample_id,
                StoragePosition.placed_at,
                Sample.barcode,
                Sample.name,
                Sample.state,
                SampleType.name,
            )
            .outerjoin(Sample, Sample.id == StoragePosition.sample_id)
            .outerjoin(SampleType, SampleType.id == Sample.sample_type_id)
            .where(StoragePosition.box_id == box.id)
            .order_by(StoragePosition.row_no, StoragePosition.col_no)
        )
        return BoxView(
            box=box,
            parent=box_parent,
            unit=box_unit,
            cells=[
                Cell(r, c, position_label(r, c), position_index(r, c, cols), sid, barcode, name, state, type_, at)
                for r, c, sid, at, barcode, name, state, type_ in cells.all()
            ],
            warn_at_pct=self.threshold(box),
        )

    async def contents(
        self, session: AsyncSession, tenant_id: str, container_id: str, *, limit: int = 500, offset: int = 0
    ) -> tuple[StorageContainer, int, list[Located]]:
        """Every sample inside a container, any depth: (the container, how many, one page in box order)."""
        container = await self.get(session, tenant_id, container_id)
        dialect = await dialect_of(session)
        query, box = _located()
        inside = and_(box.tenant_id == tenant_id, under(box.path, container.path, dialect))
        total = (
            await session.execute(
                select(func.count(StoragePosition.sample_id))
                .join(box, box.id == StoragePosition.box_id)
                .where(inside, StoragePosition.sample_id.is_not(None))
            )
        ).scalar_one()
        rows = await session.execute(
            query.where(inside)
            .order_by(box.path, StoragePosition.row_no, StoragePosition.col_no)
            .limit(limit)
            .offset(offset)
        )
        return container, int(total), [Located(*r) for r in rows.all()]

    async def locate(self, session: AsyncSession, tenant_id: str, sample_ids: Sequence[str]) -> list[Located]:
        """Where each of these samples is; samples not in a position (or not the tenant's) are left out."""
        query, _ = _located()
        rows = await session.execute(
            query.where(StoragePosition.tenant_id == tenant_id, StoragePosition.sample_id.in_(list(sample_ids)))
        )
        return [Located(*r) for r in rows.all()]

    @staticmethod
    def contents_csv(container: StorageContainer, rows: Sequence[Located]) -> str:
        """A manifest a spreadsheet opens safely (no cell runs as a formula)."""
        return manifest_csv(rows)
