"""Samples in and out of box positions: placing by hand or allocated, moving, taking out. All or nothing per
batch, through ``Samples.transition_many`` when a sample's state changes, with an audit entry per sample and an
event per box."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import utcnow
from hub.db.sample_models import Sample, SampleType
from hub.db.storage_models import StorageContainer, StoragePosition
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.storage.allocation import BoxSpace, SampleNeed, plan_allocation, tree_order
from hub.domain.storage.base import StorageBase, check_batch, dialect_of, flush_or_conflict, under
from hub.domain.storage.errors import PositionTakenError, ZoneMismatchError
from hub.domain.storage.excursions import expose
from hub.domain.storage.layout import BOX, ZONE_NAMES, parse_position, position_label, zone_fits, zone_need
from hub.errors import ConflictError, NotFoundError, ValidationFailedError

# States a sample can be placed from; all but ``stored`` become ``stored``.
PLACEABLE = frozenset({SampleState.RECEIVED, SampleState.IN_PREPARATION, SampleState.COMPLETED, SampleState.STORED})


@dataclass(frozen=True)
class Placement:
    sample_id: str
    box_id: str
    position: str


@dataclass(frozen=True)
class Placed:
    sample_id: str
    barcode: str
    box_id: str
    row: int
    col: int
    state: str

    @property
    def position(self) -> str:
        return position_label(self.row, self.col)


def target_keys(
    requests: Sequence[Placement], boxes: dict[str, StorageContainer], samples: Sequence[Sample]
) -> list[tuple[str, int, int]]:
    """Each request's (box, row, col), refusing positions outside the grid and positions named twice."""
    problems: list[str] = []
    keys: list[tuple[str, int, int]] = []
    for request, sample in zip(requests, samples, strict=True):
        box = boxes[request.box_id]
        try:
            row, col = parse_position(request.position, box.grid_rows or 1, box.grid_cols or 1)
        except ValidationFailedError as exc:
            problems.append(f"sample {sample.barcode}: {exc.detail} ({box.name})")
            continue
        keys.append((box.id, row, col))
    seen: set[tuple[str, int, int]] = set()
    for key in keys:
        if key in seen:
            problems.append(f"{boxes[key[0]].name} {position_label(key[1], key[2])} is named twice in the batch")
        seen.add(key)
    if problems:
        raise ValidationFailedError("; ".join(problems[:50]), problems=problems[:200])
    return keys


def zone_problems(
    samples: Sequence[Sample], boxes: Sequence[StorageContainer], types: dict[str, SampleType]
) -> list[str]:
    """Why each sample may not go into the box beside it: the box is outside any unit, or its zone does not suit."""
    problems = []
    for sample, box in zip(samples, boxes, strict=True):
        kind = types[sample.sample_type_id]
        if box.zone is None:
            problems.append(f"box {box.name} is not inside a storage unit")
        elif not zone_fits(kind.zone, kind.colder_ok, box.zone):
            problems.append(
                f"sample {sample.barcode} ({kind.name}) needs {zone_need(kind.zone, kind.colder_ok)}; "
                f"box {box.name} is in a {ZONE_NAMES[box.zone]} unit"
            )
    return problems


class StoragePlacements(StorageBase):
    """The part of ``Storage`` that puts samples in positions, moves them, takes them out and allocates them."""

    async def _boxes(
        self, session: AsyncSession, tenant_id: str, box_ids: Iterable[str]
    ) -> dict[str, StorageContainer]:
        wanted = sorted(set(box_ids))
        found = await session.execute(
            select(StorageContainer).where(StorageContainer.tenant_id == tenant_id, StorageContainer.id.in_(wanted))
        )
        boxes = {c.id: c for c in found.scalars()}
        missing = [i for i in wanted if i not in boxes or boxes[i].kind != BOX]
        if missing:
            raise NotFoundError(f"no box {', '.join(missing[:20])}", missing=missing[:100])
        return boxes

    async def _types(self, session: AsyncSession, samples: Sequence[Sample]) -> dict[str, SampleType]:
        found = await session.execute(select(SampleType).where(SampleType.id.in_({s.sample_type_id for s in samples})))
        return {t.id: t for t in found.scalars()}

    async def _where(
        self, session: AsyncSession, tenant_id: str, sample_ids: Sequence[str]
    ) -> dict[str, StoragePosition]:
        found = await session.execute(
            select(StoragePosition).where(
                StoragePosition.tenant_id == tenant_id, StoragePosition.sample_id.in_(list(sample_ids))
            )
        )
        return {p.sample_id: p for p in found.scalars() if p.sample_id is not None}

    async def _lock_positions(
        self, session: AsyncSession, tenant_id: str, keys: Iterable[tuple[str, int, int]]
    ) -> dict[tuple[str, int, int], StoragePosition]:
        """The positions, locked in key order (two batches touching the same positions never deadlock)."""
        wanted = sorted(set(keys))
        found = await session.execute(
            select(StoragePosition)
            .where(
                StoragePosition.tenant_id == tenant_id,
                tuple_(StoragePosition.box_id, StoragePosition.row_no, StoragePosition.col_no).in_(wanted),
            )
            .order_by(StoragePosition.box_id, StoragePosition.row_no, StoragePosition.col_no)
            .with_for_update()
        )
        return {(p.box_id, p.row_no, p.col_no): p for p in found.scalars()}

    async def _occupant_problems(
        self,
        session: AsyncSession,
        tenant_id: str,
        keys: Sequence[tuple[str, int, int]],
        locked: dict[tuple[str, int, int], StoragePosition],
        boxes: dict[str, StorageContainer],
        leaving: set[str],
    ) -> list[str]:
        occupied = {k: locked[k].sample_id for k in keys if locked[k].sample_id not in (None, *leaving)}
        if not occupied:
            return []
        barcodes = dict(
            (
                await session.execute(
                    select(Sample.id, Sample.barcode).where(
                        Sample.tenant_id == tenant_id, Sample.id.in_([s for s in occupied.values() if s])
                    )
                )
            ).all()
        )
        return [
            f"{boxes[b].name} {position_label(r, c)} holds sample {barcodes.get(sid or '', sid)}"
            for (b, r, c), sid in occupied.items()
        ]

    async def _unplaceable(self, session: AsyncSession, tenant_id: str, samples: Sequence[Sample]) -> list[str]:
        """Why each sample cannot go into a free position: it is in one already, or its state forbids it."""
        where = await self._where(session, tenant_id, [s.id for s in samples])
        problems: list[str] = []
        for sample in samples:
            if sample.id in where:
                at = where[sample.id]
                problems.append(
                    f"sample {sample.barcode} is already in a box ({position_label(at.row_no, at.col_no)}); move it"
                )
            elif SampleState(sample.state) not in PLACEABLE:
                problems.append(
                    f"sample {sample.barcode} is {sample.state}; only received, in preparation, completed or stored "
                    "samples go into storage"
                )
        return problems

    async def place(
        self, session: AsyncSession, principal: Principal, requests: Sequence[Placement], *, reason: str | None = None
    ) -> list[Placed]:
        """Put samples in free positions, all or none. A received, in-preparation or completed sample becomes
        stored; a sample already in a position is refused (move it); so is a sample whose type needs a colder (or,
        unless ``colder_ok``, another) zone than the box's unit, and a position that holds a sample."""
        check_batch(len(requests))
        tenant_id = principal.tenant_id
        boxes = await self._boxes(session, tenant_id, (r.box_id for r in requests))
        samples = await self.samples.load_many(session, tenant_id, [r.sample_id for r in requests])
        keys = target_keys(requests, boxes, samples)
        types = await self._types(session, samples)
        problems = await self._unplaceable(session, tenant_id, samples)
        zone_refusals = zone_problems(samples, [boxes[r.box_id] for r in requests], types)
        if zone_refusals and not problems:
            raise ZoneMismatchError("; ".join(zone_refusals[:50]), problems=zone_refusals[:200])
        problems += zone_refusals
        if problems:
            raise ConflictError("; ".join(problems[:50]), problems=problems[:200])
        locked = await self._lock_positions(session, tenant_id, keys)
        taken = await self._occupant_problems(session, tenant_id, keys, locked, boxes, set())
        if taken:
            raise PositionTakenError("; ".join(taken[:50]), problems=taken[:200])
        now = utcnow()
        for sample, key in zip(samples, keys, strict=True):
            position = locked[key]
            position.sample_id, position.placed_at, position.placed_by = sample.id, now, principal.label
        await flush_or_conflict(
            session, "another request placed a sample in one of these positions; reload the box and retry"
        )
        slots = [(s.id, *key) for s, key in zip(samples, keys, strict=True)]
        await self._after_change(session, principal, slots, boxes, set())
        to_store = [s.id for s in samples if s.state != SampleState.STORED]
        if to_store:
            await self.samples.transition_many(
                session, principal, to_store, SampleState.STORED, reason=reason or "placed in storage"
            )
        placed = [
            Placed(s.id, s.barcode, key[0], key[1], key[2], s.state) for s, key in zip(samples, keys, strict=True)
        ]
        await self._record_moves(session, principal, "place", placed, {}, boxes, reason)
        return placed

    async def move(
        self, session: AsyncSession, principal: Principal, requests: Sequence[Placement], *, reason: str | None = None
    ) -> list[Placed]:
        """Move stored samples to other positions, all or none (samples may swap places in one batch). The state
        does not change; the destination's zone must suit each sample."""
        check_batch(len(requests))
        tenant_id = principal.tenant_id
        boxes = await self._boxes(session, tenant_id, (r.box_id for r in requests))
        samples = await self.samples.load_many(session, tenant_id, [r.sample_id for r in requests])
        keys = target_keys(requests, boxes, samples)
        types = await self._types(session, samples)
        where = await self._where(session, tenant_id, [s.id for s in samples])
        problems = [f"sample {s.barcode} is not in storage; place it" for s in samples if s.id not in where]
        problems += [
            f"sample {s.barcode} is already at {boxes[k[0]].name} {position_label(k[1], k[2])}"
            for s, k in zip(samples, keys, strict=True)
            if s.id in where and (where[s.id].box_id, where[s.id].row_no, where[s.id].col_no) == k
        ]
        if problems:
            raise ConflictError("; ".join(problems[:50]), problems=problems[:200])
        zone_refusals = zone_problems(samples, [boxes[r.box_id] for r in requests], types)
        if zone_refusals:
            raise ZoneMismatchError("; ".join(zone_refusals[:50]), problems=zone_refusals[:200])
        sources = {s.id: (where[s.id].box_id, where[s.id].row_no, where[s.id].col_no) for s in samples}
        locked = await self._lock_positions(session, tenant_id, [*keys, *sources.values()])
        taken = await self._occupant_problems(session, tenant_id, keys, locked, boxes, set(sources))
        if taken:
            raise PositionTakenError("; ".join(taken[:50]), problems=taken[:200])
        source_boxes = await self._boxes(session, tenant_id, (k[0] for k in sources.values()))
        now = utcnow()
        for key in sources.values():
            locked[key].sample_id, locked[key].placed_at, locked[key].placed_by = None, None, None
        await session.flush()  # free every source first: the sample_id unique index would refuse a swap otherwise
        for sample, key in zip(samples, keys, strict=True):
            locked[key].sample_id, locked[key].placed_at, locked[key].placed_by = sample.id, now, principal.label
        await flush_or_conflict(
            session, "another request placed a sample in one of these positions; reload the box and retry"
        )
        placed = [
            Placed(s.id, s.barcode, key[0], key[1], key[2], s.state) for s, key in zip(samples, keys, strict=True)
        ]
        all_boxes = {**source_boxes, **boxes}
        slots = [(p.sample_id, p.box_id, p.row, p.col) for p in placed]
        await self._after_change(session, principal, slots, all_boxes, {k[0] for k in sources.values()})
        await self._record_moves(session, principal, "move", placed, sources, all_boxes, reason)
        return placed

    async def take_out(
        self, session: AsyncSession, principal: Principal, sample_ids: Sequence[str], *, reason: str | None = None
    ) -> list[Placed]:
        """Free the positions of these samples (each must be in one); their state is left to the samples API."""
        check_batch(len(sample_ids))
        tenant_id = principal.tenant_id
        samples = await self.samples.load_many(session, tenant_id, sample_ids)
        where = await self._where(session, tenant_id, [s.id for s in samples])
        problems = [f"sample {s.barcode} is not in storage" for s in samples if s.id not in where]
        if problems:
            raise ConflictError("; ".join(problems[:50]), problems=problems[:200])
        sources = {s.id: (where[s.id].box_id, where[s.id].row_no, where[s.id].col_no) for s in samples}
        locked = await self._lock_positions(session, tenant_id, sources.values())
        for key in sources.values():
            locked[key].sample_id, locked[key].placed_at, locked[key].placed_by = None, None, None
        await session.flush()
        boxes = await self._boxes(session, tenant_id, (k[0] for k in sources.values()))
        removed = [Placed(s.id, s.barcode, *sources[s.id], s.state) for s in samples]
        await self._after_change(session, principal, [], boxes, set(boxes))
        await self._record_moves(session, principal, "take_out", removed, {}, boxes, reason)
        return removed

    async def leave_storage(
        self,
        session: AsyncSession,
        principal: Principal,
        samples: Sequence[Sample],
        target: SampleState,
        reason: str | None,
    ) -> None:
        """A hook of ``Samples.transition_many``: a sample used up or destroyed gives its position back (audited as
        a take-out with the transition's reason)."""
        if target not in (SampleState.CONSUMED, SampleState.DISPOSED):
            return
        where = await self._where(session, principal.tenant_id, [s.id for s in samples])
        if where:
            await self.take_out(session, principal, list(where), reason=reason or f"sample {target.value}")

    async def _record_moves(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        placed: Sequence[Placed],
        sources: dict[str, tuple[str, int, int]],
        boxes: dict[str, StorageContainer],
        reason: str | None,
    ) -> None:
        """An audit entry per sample, an event per box: ``storage.samples_placed`` / ``_moved`` / ``_removed``."""
        by_box: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in placed:
            box = boxes[item.box_id]
            here = {"box_id": box.id, "box": box.name, "position": item.position, "unit_id": box.unit_id}
            old: dict[str, Any] | None = None
            if item.sample_id in sources:
                b, r, c = sources[item.sample_id]
                old = {"box_id": b, "box": boxes[b].name, "position": position_label(r, c)}
            await self.audit.record(
                session,
                tenant_id=principal.tenant_id,
                actor=principal.label,
                action=action,
                record_type="sample",
                record_id=item.sample_id,
                reason=reason,
                old=here if action == "take_out" else old,
                new=None if action == "take_out" else here,
            )
            entry: dict[str, Any] = {"sample_id": item.sample_id, "barcode": item.barcode, "position": item.position}
            if old is not None:
                entry["from"] = old
            by_box[box.id].append(entry)
        kind = {"place": "placed", "move": "moved", "take_out": "removed"}[action]
        for box_id, entries in by_box.items():
            box = boxes[box_id]
            payload = {"box": box.name, "unit_id": box.unit_id, "samples": entries, "reason": reason}
            self._event(session, principal, f"storage.samples_{kind}", box_id, payload)

    async def _after_change(
        self,
        session: AsyncSession,
        principal: Principal,
        placed: Sequence[tuple[str, str, int, int]],
        boxes: dict[str, StorageContainer],
        emptied: set[str],
    ) -> None:
        """Samples (id, box, row, col) that arrive in a unit with an open excursion join it; boxes and units that
        crossed their warning threshold (either way) are flagged. Called before any audit entry of the change: it
        locks container rows, and every writer takes those before the tenant's audit head, never after."""
        if placed:
            await expose(session, principal.tenant_id, [(s, b, r, c, boxes[b].unit_id) for s, b, r, c in placed])
        touched = {b for _, b, _, _ in placed} | emptied
        units = {boxes[b].unit_id for b in touched if boxes[b].unit_id}
        await self._check_capacity(session, principal, [*sorted(touched), *sorted(u for u in units if u)])

    async def allocate(
        self,
        session: AsyncSession,
        principal: Principal,
        sample_ids: Sequence[str],
        container_id: str,
        *,
        dry_run: bool = False,
        reason: str | None = None,
    ) -> list[Placed]:
        """Positions for the samples in boxes under ``container_id`` (see ``plan_allocation``), then placed as by
        ``place``; with ``dry_run`` only the plan."""
        check_batch(len(sample_ids))
        tenant_id = principal.tenant_id
        container = await self.get(session, tenant_id, container_id)
        samples = await self.samples.load_many(session, tenant_id, sample_ids, for_update=not dry_run)
        problems = await self._unplaceable(session, tenant_id, samples)
        if problems:
            raise ConflictError("; ".join(problems[:50]), problems=problems[:200])
        types = await self._types(session, samples)
        dialect = await dialect_of(session)
        tree = list(
            (
                await session.execute(
                    select(StorageContainer).where(
                        StorageContainer.tenant_id == tenant_id, under(StorageContainer.path, container.path, dialect)
                    )
                )
            ).scalars()
        )
        boxes = {c.id: c for c in tree_order(container, tree) if c.kind == BOX and c.zone is not None}
        free: dict[str, list[tuple[int, int]]] = defaultdict(list)
        if boxes:
            rows = await session.execute(
                select(StoragePosition.box_id, StoragePosition.row_no, StoragePosition.col_no)
                .where(StoragePosition.box_id.in_(list(boxes)), StoragePosition.sample_id.is_(None))
                .order_by(StoragePosition.box_id, StoragePosition.row_no, StoragePosition.col_no)
            )
            for box_id, row, col in rows.all():
                free[box_id].append((row, col))
        needs = [SampleNeed(s.id, types[s.sample_type_id].zone, types[s.sample_type_id].colder_ok) for s in samples]
        spaces = [BoxSpace(b.id, b.zone or "", free[b.id]) for b in boxes.values() if free[b.id]]
        slots = plan_allocation(needs, spaces, where=f"{container.kind} {container.name}")
        requests = [Placement(s.sample_id, s.box_id, position_label(s.row, s.col)) for s in slots]
        if dry_run:
            by_id = {s.id: s for s in samples}
            return [
                Placed(s.sample_id, by_id[s.sample_id].barcode, s.box_id, s.row, s.col, by_id[s.sample_id].state)
                for s in slots
            ]
        return await self.place(session, principal, requests, reason=reason or f"allocated in {container.name}")
