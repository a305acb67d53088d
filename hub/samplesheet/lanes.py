"""Pack libraries into flow cell lanes by the reads each one asks for, then check each lane's indexes.

First-fit decreasing: the largest request first, each into the first lane that has room *and* holds no library whose
indexes collide with it; a new lane opens when none does (up to ``max_lanes``). Only when every lane is full of
colliding neighbours does a library go in next to one, and the collision is then reported. A library that asks for
more than one lane holds is refused: split it into several libraries first. Collisions are checked on the kit's
orientation; reverse-complementing every i5 (as some instruments need) keeps every distance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from hub.samplesheet.barcodes import Barcoded, collision, find_collisions
from hub.samplesheet.errors import InvalidValueError, LanesExhaustedError, LibraryTooLargeError
from hub.samplesheet.generate import Library
from hub.samplesheet.model import INDEX, Problem


@dataclass(frozen=True, slots=True)
class PackedLane:
    number: int
    capacity: int
    libraries: tuple[Library, ...]

    @property
    def reads(self) -> int:
        return sum(lib.requested_reads for lib in self.libraries)

    @property
    def fill(self) -> float:
        """Requested reads over capacity, 0–1."""
        return self.reads / self.capacity


@dataclass(frozen=True, slots=True)
class LanePlan:
    lanes: tuple[PackedLane, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def libraries(self) -> tuple[Library, ...]:
        """Every library with its lane set, lane by lane: ready for ``SheetRequest.libraries``."""
        return tuple(lib for lane in self.lanes for lib in lane.libraries)


def pack_lanes(
    libraries: Sequence[Library],
    *,
    lane_capacity: int,
    max_lanes: int | None = None,
    barcode_mismatches: tuple[int, int] = (1, 1),
) -> LanePlan:
    """Raises ``InvalidValueError`` (bad capacity, request or repeated Sample_ID), ``LibraryTooLargeError`` (every
    library larger than a lane, named) or ``LanesExhaustedError`` (more reads than ``max_lanes`` lanes hold)."""
    _refuse_bad_input(libraries, lane_capacity)
    order = sorted(libraries, key=lambda lib: (-lib.requested_reads, lib.sample_id))
    lanes: list[list[Library]] = []
    for lib in order:
        lane = _first_fit(lanes, lib, lane_capacity, barcode_mismatches, open_more=_can_open(lanes, max_lanes))
        if lane is None:
            if not _can_open(lanes, max_lanes):
                total = sum(x.requested_reads for x in libraries)
                raise LanesExhaustedError(
                    f"{len(libraries)} libraries asking for {total:,} reads do not fit {max_lanes} lanes of "
                    f"{lane_capacity:,} reads ({lib.sample_id}, {lib.requested_reads:,} reads, is left over)"
                )
            lanes.append([])
            lane = lanes[-1]
        lane.append(lib)
    packed = tuple(
        PackedLane(number, lane_capacity, tuple(dataclasses.replace(lib, lane=number) for lib in members))
        for number, members in enumerate(lanes, start=1)
    )
    return LanePlan(packed, tuple(_collisions(packed, barcode_mismatches)))


def _refuse_bad_input(libraries: Sequence[Library], lane_capacity: int) -> None:
    if lane_capacity < 1:
        raise InvalidValueError(f"lane capacity must be at least one read, not {lane_capacity}")
    seen: set[str] = set()
    for lib in libraries:
        if lib.requested_reads < 1:
            raise InvalidValueError(f"{lib.sample_id} asks for {lib.requested_reads} reads; ask for at least one")
        if lib.sample_id in seen:
            raise InvalidValueError(f"Sample_ID {lib.sample_id} is given twice; one library per Sample_ID")
        seen.add(lib.sample_id)
    too_large = [lib for lib in libraries if lib.requested_reads > lane_capacity]
    if too_large:
        names = ", ".join(f"{lib.sample_id} ({lib.requested_reads:,} reads)" for lib in too_large)
        raise LibraryTooLargeError(
            f"larger than one lane of {lane_capacity:,} reads: {names}; split each into several libraries"
        )


def _can_open(lanes: list[list[Library]], max_lanes: int | None) -> bool:
    return max_lanes is None or len(lanes) < max_lanes


def _first_fit(
    lanes: list[list[Library]], lib: Library, capacity: int, mismatches: tuple[int, int], *, open_more: bool
) -> list[Library] | None:
    """The first lane with room and no collision; when a new lane cannot be opened, the first with room at all."""
    roomy = [lane for lane in lanes if sum(x.requested_reads for x in lane) + lib.requested_reads <= capacity]
    mine = _barcoded(lib)
    for lane in roomy:
        if all(collision(mine, _barcoded(other), mismatches) is None for other in lane):
            return lane
    if open_more or not roomy:
        return None
    return roomy[0]


def _barcoded(lib: Library) -> Barcoded:
    return Barcoded(lib.sample_id, lib.i7.upper(), lib.i5.upper())


def _collisions(lanes: tuple[PackedLane, ...], mismatches: tuple[int, int]) -> list[Problem]:
    problems = []
    for lane in lanes:
        indexed = [_barcoded(lib) for lib in lane.libraries]
        for hit in find_collisions(indexed, mismatches):
            message = f"index collision in lane {lane.number}: {hit.describe()}"
            problems.append(Problem("error", "index-collision", None, INDEX, message))
    return problems
