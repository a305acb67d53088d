"""The run folder being replayed: its shape, its platform family, and the files it holds for each stage."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

# Files an instrument writes before the first cycle (after RunInfo.xml and RunParameters.xml).
SETUP_FILES = ("SampleSheet.csv", "RTAConfiguration.xml")
SETUP_DIRS = ("Config", "Recipe")
LIFECYCLE_FILES = {"RTAComplete.txt", "RunCompletionStatus.xml", "CopyComplete.txt", "reference.json", "README.md"}


@dataclass(frozen=True)
class Read:
    number: int
    cycles: int
    is_index: bool


@dataclass
class SourceRun:
    path: Path
    name: str
    instrument: str
    family: str  # "miseq" (RTA 1), "nextseq" (RTA 2), "novaseqx" (RTA 4), "rta3" (anything else)
    reads: list[Read]
    lanes: int
    run_parameters: str | None
    read_markers: dict[int, bytes] = field(default_factory=dict)
    extraction_header: bytes = b""
    extraction_by_cycle: dict[int, list[bytes]] = field(default_factory=dict)

    @property
    def cycles(self) -> int:
        return sum(read.cycles for read in self.reads)

    def read_ends(self) -> dict[int, int]:
        """Last cycle of each read → read number."""
        ends, total = {}, 0
        for read in self.reads:
            total += read.cycles
            ends[total] = read.number
        return ends

    def file(self, name: str) -> bytes | None:
        path = self.path / name
        return path.read_bytes() if path.is_file() else None

    def setup_files(self) -> list[Path]:
        found = [self.path / name for name in SETUP_FILES if (self.path / name).is_file()]
        for folder in SETUP_DIRS:
            if (self.path / folder).is_dir():
                found.extend(sorted(p for p in (self.path / folder).rglob("*") if p.is_file()))
        return found

    def interop_files(self) -> list[Path]:
        """InterOp files written whole at the end (all but the extraction metrics, which grow per cycle)."""
        folder = self.path / "InterOp"
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.is_file() and p.name != "ExtractionMetricsOut.bin")


def family_of(instrument: str) -> str:
    if instrument.startswith(("NB", "NS")):
        return "nextseq"
    if instrument.startswith("LH"):
        return "novaseqx"
    if instrument.startswith("M") and not instrument.startswith("MN"):
        return "miseq"
    return "rta3"


def load_source(path: Path) -> SourceRun:
    root = ET.parse(path / "RunInfo.xml").getroot()  # noqa: S314 - the replayed source is test data the operator chose
    run = root.find("Run")
    if run is None:
        raise ValueError(f"{path}/RunInfo.xml has no <Run>")
    instrument = (run.findtext("Instrument") or "").strip()
    reads = [
        Read(int(r.get("Number", "0")), int(r.get("NumCycles", "0")), r.get("IsIndexedRead", "N") == "Y")
        for r in run.iter("Read")
    ]
    layout = run.find("FlowcellLayout")
    lanes = int(layout.get("LaneCount", "1")) if layout is not None else 1
    parameters = next((n for n in ("RunParameters.xml", "runParameters.xml") if (path / n).is_file()), None)
    source = SourceRun(path, path.name, instrument, family_of(instrument), reads, lanes, parameters)
    for marker in path.glob("RTARead*Complete.txt"):
        number = marker.name.removeprefix("RTARead").removesuffix("Complete.txt")
        if number.isdigit():
            source.read_markers[int(number)] = marker.read_bytes()
    _load_extraction(source)
    return source


def _load_extraction(source: SourceRun) -> None:
    """Version-2 extraction records grouped by cycle, to be appended cycle by cycle as RTA does."""
    data = source.file("InterOp/ExtractionMetricsOut.bin")
    if data is None or len(data) < 2 or data[0] != 2 or data[1] != 38:
        return
    by_cycle: dict[int, list[bytes]] = defaultdict(list)
    for offset in range(2, len(data) - 37, 38):
        record = data[offset : offset + 38]
        by_cycle[struct.unpack_from("<H", record, 4)[0]].append(record)
    source.extraction_header, source.extraction_by_cycle = data[:2], dict(by_cycle)
