"""The sequencing platforms the lab plans work for, their flow cells, and how their indexes are written.

Reads per lane are the upper end of each flow cell's output in Illumina's and Oxford Nanopore's specification
sheets (reads passing filter), as a packing target: a planner who knows better gives ``lane_capacity_reads``. On
NextSeq 500/550 the four lanes are loaded from one reservoir, so a run there is one pool (``pooled``): the libraries
are packed against the whole flow cell and the sample sheet has no Lane column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from hub.samplesheet import UnknownInstrumentError, find_platform


class SequencingPlatform(StrEnum):
    NOVASEQ_X = "novaseq_x"
    NOVASEQ_6000 = "novaseq_6000"
    NEXTSEQ_2000 = "nextseq_2000"
    NEXTSEQ_550 = "nextseq_550"
    MISEQ = "miseq"
    NANOPORE = "nanopore"


@dataclass(frozen=True, slots=True)
class FlowCellType:
    name: str
    lanes: int
    reads_per_lane: int
    pooled: bool = False  # every lane holds the same pool


@dataclass(frozen=True, slots=True)
class PlatformFacts:
    platform: SequencingPlatform
    vendor: Literal["illumina", "ont"]
    instrument: str  # the name ``hub.samplesheet`` knows it by (i5 orientation, InstrumentPlatform)
    flow_cells: tuple[FlowCellType, ...]

    def flow_cell(self, name: str) -> FlowCellType | None:
        wanted = name.strip().lower()
        return next((f for f in self.flow_cells if f.name.lower() == wanted), None)


_M = 1_000_000
FACTS: dict[SequencingPlatform, PlatformFacts] = {
    SequencingPlatform.NOVASEQ_X: PlatformFacts(
        SequencingPlatform.NOVASEQ_X,
        "illumina",
        "NovaSeq X",
        (FlowCellType("1.5B", 2, 800 * _M), FlowCellType("10B", 8, 1250 * _M), FlowCellType("25B", 8, 3250 * _M)),
    ),
    SequencingPlatform.NOVASEQ_6000: PlatformFacts(
        SequencingPlatform.NOVASEQ_6000,
        "illumina",
        "NovaSeq 6000",
        (
            FlowCellType("SP", 2, 400 * _M),
            FlowCellType("S1", 2, 800 * _M),
            FlowCellType("S2", 2, 2050 * _M),
            FlowCellType("S4", 4, 2500 * _M),
        ),
    ),
    SequencingPlatform.NEXTSEQ_2000: PlatformFacts(
        SequencingPlatform.NEXTSEQ_2000,
        "illumina",
        "NextSeq 1000/2000",
        (FlowCellType("P1", 1, 100 * _M), FlowCellType("P2", 1, 400 * _M), FlowCellType("P3", 1, 1200 * _M)),
    ),
    SequencingPlatform.NEXTSEQ_550: PlatformFacts(
        SequencingPlatform.NEXTSEQ_550,
        "illumina",
        "NextSeq 550",
        (FlowCellType("Mid", 4, 130 * _M // 4, pooled=True), FlowCellType("High", 4, 400 * _M // 4, pooled=True)),
    ),
    SequencingPlatform.MISEQ: PlatformFacts(
        SequencingPlatform.MISEQ,
        "illumina",
        "MiSeq",
        (
            FlowCellType("v2 Nano", 1, 1 * _M),
            FlowCellType("v2 Micro", 1, 4 * _M),
            FlowCellType("v2", 1, 15 * _M),
            FlowCellType("v3", 1, 25 * _M),
        ),
    ),
    SequencingPlatform.NANOPORE: PlatformFacts(
        SequencingPlatform.NANOPORE,
        "ont",
        "Oxford Nanopore",
        (
            FlowCellType("Flongle", 1, 1 * _M),
            FlowCellType("MinION", 1, 10 * _M),
            FlowCellType("PromethION", 1, 50 * _M),
        ),
    ),
}

# hub.samplesheet's platform names → ours (what a run folder's ``platform`` attribute resolves to)
_BY_SHEET_NAME = {
    "NovaSeq X / X Plus": SequencingPlatform.NOVASEQ_X,
    "NovaSeq 6000 (v1.5 reagents)": SequencingPlatform.NOVASEQ_6000,
    "NovaSeq 6000 (v1.0 reagents)": SequencingPlatform.NOVASEQ_6000,
    "NextSeq 1000/2000": SequencingPlatform.NEXTSEQ_2000,
    "NextSeq 500/550": SequencingPlatform.NEXTSEQ_550,
    "MiSeq": SequencingPlatform.MISEQ,
}

_DNA_INDEX = re.compile(r"^[ACGTN]{4,24}$")
_BARCODE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def facts(platform: SequencingPlatform) -> PlatformFacts:
    return FACTS[platform]


def platform_for_instrument(instrument_platform: str | None) -> SequencingPlatform | None:
    """``"NovaSeq X Plus"`` → ``novaseq_x``; ``None`` for a platform we do not plan for, or none given."""
    if not instrument_platform:
        return None
    try:
        return _BY_SHEET_NAME.get(find_platform(instrument_platform).name)
    except UnknownInstrumentError:
        return None


def index_problem(platform: SequencingPlatform, value: str, what: str) -> str | None:
    """Why ``value`` cannot be an index on ``platform`` (Illumina: 4-24 bases of ACGTN, as the kit lists them;
    Oxford Nanopore: a barcode name such as ``barcode01``), or ``None``."""
    if FACTS[platform].vendor == "ont":
        if _BARCODE_NAME.fullmatch(value):
            return None
        return f"{what} {value!r} is not a barcode name (letters, digits, - and _, up to 32)"
    if _DNA_INDEX.fullmatch(value.upper()):
        return None
    return f"{what} {value!r} is not an index: 4 to 24 bases of A, C, G, T, N"
