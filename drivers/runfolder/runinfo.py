"""``RunInfo.xml``: the run's identity and shape, written by every Illumina instrument when the run starts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from drivers.runfolder.errors import MalformedRunFileError
from drivers.runfolder.safexml import attribute, child, children, parse_count, parse_xml
from drivers.runfolder.timestamps import RunTime, parse_time

RUN_INFO = "RunInfo.xml"


@dataclass(frozen=True, slots=True)
class Read:
    """One read of the run: a sequencing read or an index read, with its cycle count."""

    number: int
    cycles: int
    is_index: bool
    is_reverse_complement: bool | None = None

    @property
    def mask(self) -> str:
        """The read as a bases-mask element: ``y151`` or ``I8``."""
        return f"{'I' if self.is_index else 'y'}{self.cycles}"


@dataclass(frozen=True, slots=True)
class FlowcellLayout:
    lanes: int
    surfaces: int | None = None
    swaths: int | None = None
    tiles_per_swath: int | None = None
    sections_per_lane: int | None = None
    tile_naming: str | None = None
    listed_tiles: int = 0

    @property
    def tiles_per_lane(self) -> int | None:
        """Tiles imaged per lane (Illumina's "BCL count"): tiles per swath × swaths × surfaces × sections."""
        if self.tiles_per_swath is None or self.swaths is None or self.surfaces is None:
            return None
        return self.tiles_per_swath * self.swaths * self.surfaces * (self.sections_per_lane or 1)


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    run_number: int | None
    flow_cell: str
    instrument: str
    date_text: str | None
    date: RunTime | None
    reads: tuple[Read, ...]
    layout: FlowcellLayout
    version: int | None = None

    @property
    def cycles_total(self) -> int:
        return sum(read.cycles for read in self.reads)

    @property
    def read_lengths(self) -> tuple[int, ...]:
        return tuple(read.cycles for read in self.reads if not read.is_index)

    @property
    def index_lengths(self) -> tuple[int, ...]:
        return tuple(read.cycles for read in self.reads if read.is_index)

    @property
    def bases_mask(self) -> str:
        return ",".join(read.mask for read in self.reads)

    @property
    def i5_orientation(self) -> str | None:
        """How the second index read (i5) is sequenced, when RunInfo says: "reverse_complement" or "forward"."""
        index_reads = [read for read in self.reads if read.is_index]
        if len(index_reads) < 2 or index_reads[1].is_reverse_complement is None:
            return None
        return "reverse_complement" if index_reads[1].is_reverse_complement else "forward"

    def read_end_cycles(self) -> tuple[tuple[int, int], ...]:
        """``(read number, last cycle of that read)`` in run order."""
        ends, total = [], 0
        for read in self.reads:
            total += read.cycles
            ends.append((read.number, total))
        return tuple(ends)


def parse_run_info(data: bytes, file: str = RUN_INFO) -> RunInfo:
    root = parse_xml(data, file)
    run = child(root, "Run")
    if run is None:
        raise MalformedRunFileError(file, "has no <Run> element")
    run_id = attribute(run, "Id")
    if not run_id:
        raise MalformedRunFileError(file, "<Run> has no Id")
    date_text = _text(run, "Date")
    return RunInfo(
        run_id=run_id,
        run_number=parse_count(attribute(run, "Number"), file, "Run Number"),
        flow_cell=_required(run, "Flowcell", file),
        instrument=_required(run, "Instrument", file),
        date_text=date_text,
        date=parse_time(date_text, f"{file} Date") if date_text else None,
        reads=_reads(run, file),
        layout=_layout(run, file),
        version=parse_count(attribute(root, "Version"), file, "Version"),
    )


def _text(element: ET.Element, name: str) -> str | None:
    found = child(element, name)
    text = (found.text or "").strip() if found is not None else ""
    return text or None


def _required(element: ET.Element, name: str, file: str) -> str:
    text = _text(element, name)
    if text is None:
        raise MalformedRunFileError(file, f"<{name}> is missing or empty")
    return text


def _flag(value: str | None, file: str, what: str) -> bool | None:
    if value is None:
        return None
    if value.upper() in {"Y", "TRUE"}:
        return True
    if value.upper() in {"N", "FALSE"}:
        return False
    raise MalformedRunFileError(file, f"{what} is {value[:20]!r}, expected Y or N")


def _reads(run: ET.Element, file: str) -> tuple[Read, ...]:
    container = child(run, "Reads")
    if container is None:
        raise MalformedRunFileError(file, "<Reads> is missing")
    reads = []
    for position, element in enumerate(children(container, "Read"), start=1):
        cycles = parse_count(attribute(element, "NumCycles"), file, "Read NumCycles")
        if cycles is None:  # RunInfo version 1 gives first and last cycle instead
            first = parse_count(attribute(element, "FirstCycle"), file, "Read FirstCycle")
            last = parse_count(attribute(element, "LastCycle"), file, "Read LastCycle")
            if first is None or last is None or last < first:
                raise MalformedRunFileError(file, f"read {position} gives no NumCycles")
            cycles = last - first + 1
        number = parse_count(attribute(element, "Number"), file, "Read Number") or position
        reads.append(
            Read(
                number=number,
                cycles=cycles,
                is_index=bool(_flag(attribute(element, "IsIndexedRead"), file, "IsIndexedRead")),
                is_reverse_complement=_flag(attribute(element, "IsReverseComplement"), file, "IsReverseComplement"),
            )
        )
    if not reads:
        raise MalformedRunFileError(file, "<Reads> lists no <Read>")
    return tuple(sorted(reads, key=lambda read: read.number))


def _layout(run: ET.Element, file: str) -> FlowcellLayout:
    layout = child(run, "FlowcellLayout")
    if layout is None:
        raise MalformedRunFileError(file, "<FlowcellLayout> is missing")
    lanes = parse_count(attribute(layout, "LaneCount"), file, "LaneCount")
    if not lanes:
        raise MalformedRunFileError(file, "<FlowcellLayout> has no LaneCount")
    tile_set = child(layout, "TileSet")
    tiles = child(tile_set, "Tiles") if tile_set is not None else None
    return FlowcellLayout(
        lanes=lanes,
        surfaces=parse_count(attribute(layout, "SurfaceCount"), file, "SurfaceCount"),
        swaths=parse_count(attribute(layout, "SwathCount"), file, "SwathCount"),
        tiles_per_swath=parse_count(attribute(layout, "TileCount"), file, "TileCount"),
        sections_per_lane=parse_count(attribute(layout, "SectionPerLane"), file, "SectionPerLane"),
        tile_naming=attribute(tile_set, "TileNamingConvention") if tile_set is not None else None,
        listed_tiles=len(tiles) if tiles is not None else 0,
    )
