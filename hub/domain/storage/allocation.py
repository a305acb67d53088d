"""Allocation planning, without a database: which free position each sample of a batch goes to, and the order in
which a container's boxes are filled."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from hub.db.sample_models import ZONES
from hub.db.storage_models import StorageContainer
from hub.domain.storage.errors import NoRoomError
from hub.domain.storage.layout import natural_key, zone_fits, zone_need


@dataclass(frozen=True)
class SampleNeed:
    sample_id: str
    zone: str
    colder_ok: bool


@dataclass
class BoxSpace:
    """A box's free positions in row-major order, for planning."""

    box_id: str
    zone: str
    free: list[tuple[int, int]]


@dataclass(frozen=True)
class Slot:
    sample_id: str
    box_id: str
    row: int
    col: int


def plan_allocation(samples: Sequence[SampleNeed], boxes: Sequence[BoxSpace], *, where: str = "there") -> list[Slot]:
    """Positions for ``samples`` in ``boxes`` (given in the order to fill them), in the samples' order.

    Samples that need the same storage stay together: the first box with room for all of them takes them, in
    row-major order; when no box has, they fill box after box. Boxes of exactly the needed zone come before
    colder ones (the nearest first), so a 4 °C batch does not fill the -80. ``NoRoomError`` when the compatible
    boxes lack room, naming the need and the free positions."""
    free = {b.box_id: list(b.free) for b in boxes}
    groups: dict[tuple[str, bool], list[SampleNeed]] = {}
    for sample in samples:
        groups.setdefault((sample.zone, sample.colder_ok), []).append(sample)
    slots: dict[str, Slot] = {}
    for (zone, colder_ok), group in groups.items():
        fitting = [b for b in boxes if zone_fits(zone, colder_ok, b.zone)]
        fitting.sort(key=lambda b: ZONES.index(zone) - ZONES.index(b.zone))  # stable: tree order within a zone
        room = sum(len(free[b.box_id]) for b in fitting)
        if room < len(group):
            raise NoRoomError(
                f"{len(group)} sample(s) need {zone_need(zone, colder_ok)}; {where} has {room} free position(s) "
                f"in {len(fitting)} compatible box(es)",
                needed=len(group),
                free=room,
                zone=zone,
            )
        whole = next((b for b in fitting if len(free[b.box_id]) >= len(group)), None)
        remaining = list(group)
        for box in [whole] if whole is not None else fitting:
            spaces = free[box.box_id]
            while spaces and remaining:
                sample, (row, col) = remaining.pop(0), spaces.pop(0)
                slots[sample.sample_id] = Slot(sample.sample_id, box.box_id, row, col)
            if not remaining:
                break
    return [slots[s.sample_id] for s in samples]


def tree_order(root: StorageContainer, tree: Sequence[StorageContainer]) -> list[StorageContainer]:
    """``root`` and every container of ``tree`` under it, depth first, siblings by name (``Box 2`` before
    ``Box 10``): the order in which boxes are filled."""
    kids: dict[str | None, list[StorageContainer]] = defaultdict(list)
    for c in tree:
        kids[c.parent_id].append(c)
    ordered: list[StorageContainer] = []
    stack = [root]
    while stack:
        node = stack.pop()
        ordered.append(node)
        stack.extend(sorted(kids[node.id], key=lambda c: natural_key(c.name), reverse=True))
    return ordered
