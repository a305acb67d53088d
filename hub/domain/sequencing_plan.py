"""Planning a run: libraries packed into a flow cell's lanes by the reads they ask for, then every problem a lab
must hear about before loading it (index collisions per lane at the allowed mismatches, what BCL Convert would
refuse in the sample sheet). Pure functions over ``hub.samplesheet``; no database.

Collisions do not depend on the instrument's i5 orientation (reverse-complementing every i5 in a lane keeps every
distance); the sheet is generated, and checked, with Index2 written the way the instrument's BCL Convert needs it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hub.domain.sequencing_platforms import SequencingPlatform, facts
from hub.errors import ValidationFailedError
from hub.samplesheet import (
    Barcoded,
    InvalidValueError,
    LanesExhaustedError,
    Library,
    LibraryTooLargeError,
    Reads,
    RejectedSheetError,
    SampleSheetError,
    SheetRequest,
    build_sheet,
    find_collisions,
    pack_lanes,
)

_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_-]+")


class RunPlanRefusedError(ValidationFailedError):
    """The run cannot be loaded as planned; ``problems`` lists every reason (and ``lanes`` the plan tried)."""

    title, type_slug = "Run plan refused", "run-plan-refused"


@dataclass(frozen=True, slots=True)
class PlanLibrary:
    library_id: str
    job_id: str
    sheet_id: str  # the Sample_ID the sample sheet gives it
    i7: str
    i5: str
    requested_reads: int
    project: str = ""


@dataclass(frozen=True, slots=True)
class FlowCellSpec:
    lanes: int
    lane_capacity: int
    pooled: bool = False

    @property
    def packing_lanes(self) -> int:
        """Lanes loaded separately: a pooled flow cell is one."""
        return 1 if self.pooled else self.lanes

    @property
    def packing_capacity(self) -> int:
        """Reads one packing lane holds: a pooled flow cell's every lane together."""
        return self.lane_capacity * self.lanes if self.pooled else self.lane_capacity


@dataclass(frozen=True, slots=True)
class Cycles:
    read1: int
    read2: int = 0
    index1: int = 0
    index2: int = 0

    def reads(self) -> Reads:
        return Reads(self.read1, self.read2 or None, self.index1 or None, self.index2 or None)


@dataclass(frozen=True, slots=True)
class PlanProblem:
    code: str
    message: str
    lane: int | None = None
    samples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "lane": self.lane, "samples": list(self.samples)}


@dataclass(frozen=True, slots=True)
class PlannedLane:
    number: int
    capacity: int
    libraries: tuple[PlanLibrary, ...]

    @property
    def reads(self) -> int:
        return sum(lib.requested_reads for lib in self.libraries)


@dataclass(frozen=True, slots=True)
class RunPlan:
    lanes: tuple[PlannedLane, ...]
    problems: tuple[PlanProblem, ...]
    cycles: Cycles | None

    @property
    def ok(self) -> bool:
        return not self.problems


def sheet_name(text: str, fallback: str) -> str:
    """``text`` as a Sample_ID or Sample_Project may hold it (letters, digits, - and _)."""
    cleaned = _NOT_IN_A_NAME.sub("_", text).strip("_")[:64]
    return cleaned or fallback


def run_cycles(read_lengths: Sequence[tuple[int, int]], libraries: Sequence[PlanLibrary]) -> Cycles:
    """The run reads the longest read any job asks for, and as many index cycles as the longest index."""
    read1 = max((r1 for r1, _ in read_lengths), default=0)
    read2 = max((r2 for _, r2 in read_lengths), default=0)
    index1 = max((len(lib.i7) for lib in libraries), default=0)
    index2 = max((len(lib.i5) for lib in libraries), default=0)
    return Cycles(read1, read2, index1, index2)


def sheet_request(
    run_name: str,
    platform: SequencingPlatform,
    cycles: Cycles,
    lanes: Sequence[PlannedLane],
    *,
    pooled: bool,
    mismatches: tuple[int, int],
) -> SheetRequest:
    libraries = [
        Library(lib.sheet_id, lib.i7, lib.i5, None if pooled else lane.number, lib.project, lib.requested_reads)
        for lane in lanes
        for lib in lane.libraries
    ]
    return SheetRequest(
        run_name=run_name,
        instrument_platform=facts(platform).instrument,
        reads=cycles.reads(),
        libraries=libraries,
        barcode_mismatches=mismatches,
    )


_PACKING_CODES: dict[type[SampleSheetError], str] = {
    LibraryTooLargeError: "library-too-large",
    LanesExhaustedError: "lanes-exhausted",
    InvalidValueError: "invalid-library",
}


def plan_run(
    run_name: str,
    platform: SequencingPlatform,
    libraries: Sequence[PlanLibrary],
    flow_cell: FlowCellSpec,
    read_lengths: Sequence[tuple[int, int]],
    mismatches: tuple[int, int] = (1, 1),
) -> RunPlan:
    """Pack ``libraries`` into ``flow_cell`` and list every problem; never raises for a plan that does not fit."""
    if not libraries:
        return RunPlan((), (PlanProblem("no-libraries", "the jobs hold no libraries"),), None)
    if facts(platform).vendor == "ont":
        return _plan_nanopore(libraries, flow_cell)
    by_sheet_id = {lib.sheet_id: lib for lib in libraries}
    try:
        packed = pack_lanes(
            [Library(lib.sheet_id, lib.i7, lib.i5, requested_reads=lib.requested_reads) for lib in libraries],
            lane_capacity=flow_cell.packing_capacity,
            max_lanes=flow_cell.packing_lanes,
            barcode_mismatches=mismatches,
        )
    except SampleSheetError as exc:
        code = next((c for kind, c in _PACKING_CODES.items() if isinstance(exc, kind)), "invalid-library")
        return RunPlan((), (PlanProblem(code, exc.detail),), None)
    lanes = tuple(
        PlannedLane(lane.number, lane.capacity, tuple(by_sheet_id[lib.sample_id] for lib in lane.libraries))
        for lane in packed.lanes
    )
    problems = _collisions(lanes, mismatches)
    cycles = run_cycles(read_lengths, libraries)
    request = sheet_request(run_name, platform, cycles, lanes, pooled=flow_cell.pooled, mismatches=mismatches)
    try:
        build_sheet(request)
    except RejectedSheetError as exc:  # collisions are listed above, with their lanes
        problems += [PlanProblem(p.code, p.message) for p in exc.problems if p.code != "index-collision"]
    except SampleSheetError as exc:
        problems.append(PlanProblem("sample-sheet", exc.detail))
    return RunPlan(lanes, tuple(problems), cycles)


def _collisions(lanes: Sequence[PlannedLane], mismatches: tuple[int, int]) -> list[PlanProblem]:
    problems = []
    for lane in lanes:
        barcoded = [Barcoded(lib.sheet_id, lib.i7.upper(), lib.i5.upper()) for lib in lane.libraries]
        for hit in find_collisions(barcoded, mismatches):
            message = f"index collision in lane {lane.number}: {hit.describe()}"
            problems.append(PlanProblem("index-collision", message, lane.number, (hit.first.name, hit.second.name)))
    return problems


def _plan_nanopore(libraries: Sequence[PlanLibrary], flow_cell: FlowCellSpec) -> RunPlan:
    """One flow cell, one pool: barcodes must differ by name, and the reads fit the flow cell."""
    problems: list[PlanProblem] = []
    seen: dict[str, str] = {}
    for lib in libraries:
        barcode = lib.i7.lower()
        if not barcode and len(libraries) > 1:
            problems.append(
                PlanProblem("barcode-required", f"{lib.sheet_id} has no barcode, and the flow cell is shared", 1)
            )
        elif barcode in seen:
            message = f"{seen[barcode]} and {lib.sheet_id} both use barcode {lib.i7}"
            problems.append(PlanProblem("index-collision", message, 1, (seen[barcode], lib.sheet_id)))
        else:
            seen[barcode] = lib.sheet_id
    total = sum(lib.requested_reads for lib in libraries)
    capacity = flow_cell.packing_capacity
    if total > capacity:
        message = f"the libraries ask for {total:,} reads; the flow cell gives about {capacity:,}"
        problems.append(PlanProblem("over-capacity", message, 1))
    return RunPlan((PlannedLane(1, capacity, tuple(libraries)),), tuple(problems), None)
