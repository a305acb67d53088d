"""A typed, immutable picture of one Illumina sample sheet, v1 (IEM) or v2 (BCL Convert), with the line every value
came from so that problems can point at it.

Column and key look-ups ignore case (IEM writes ``index``, BCL Convert ``Index``); the names are kept as written so a
sheet renders back the way it was read. Unknown keys, columns and sections are kept, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
Version = Literal[1, 2]

SAMPLE_ID = "Sample_ID"
LANE = "Lane"
INDEX = "Index"
INDEX2 = "Index2"
SAMPLE_PROJECT = "Sample_Project"
OVERRIDE_CYCLES = "OverrideCycles"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a sheet. ``line`` and ``column`` are 1-based; ``None`` when the problem is an absence."""

    severity: Severity
    code: str
    line: int | None
    field: str | None
    message: str
    section: str | None = None
    column: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def describe(self) -> str:
        """``line 12, field Index: …`` — the form the CLI prints."""
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field}")
        prefix = ", ".join(where) or (f"[{self.section}]" if self.section else "sheet")
        return f"{prefix}: {self.message}"

    def to_dict(self) -> dict[str, str | int | None]:
        return {
            "severity": self.severity,
            "code": self.code,
            "line": self.line,
            "column": self.column,
            "section": self.section,
            "field": self.field,
            "message": self.message,
        }


class Findings:
    """Collects problems while parsing or checking; ``add`` reads like the problem it records."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(
        self,
        severity: Severity,
        code: str,
        line: int | None,
        message: str,
        *,
        section: str | None = None,
        field: str | None = None,
        column: int | None = None,
    ) -> None:
        self.problems.append(Problem(severity, code, line, field, message, section=section, column=column))


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``Key,Value`` line of a key-value section."""

    key: str
    value: str
    line: int


@dataclass(frozen=True, slots=True)
class KeyValues:
    """A key-value section: ``[Header]``, ``[Reads]``, ``[BCLConvert_Settings]``, v1 ``[Settings]``…"""

    name: str
    line: int
    entries: tuple[Entry, ...] = ()

    def get(self, key: str) -> Entry | None:
        wanted = key.lower()
        return next((e for e in self.entries if e.key.lower() == wanted), None)

    def value(self, key: str) -> str | None:
        entry = self.get(key)
        return None if entry is None else entry.value

    def keys(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.entries)


@dataclass(frozen=True, slots=True)
class Reads:
    """Cycles per read. ``None``: the sheet does not say (v1 sheets never give index cycles)."""

    read1_cycles: int | None = None
    read2_cycles: int | None = None
    index1_cycles: int | None = None
    index2_cycles: int | None = None

    def present(self) -> tuple[tuple[str, int, bool], ...]:
        """The reads the run has, in sequencing order: ``(key, cycles, is_index)`` for every read with cycles."""
        order = (
            ("Read1Cycles", self.read1_cycles, False),
            ("Index1Cycles", self.index1_cycles, True),
            ("Index2Cycles", self.index2_cycles, True),
            ("Read2Cycles", self.read2_cycles, False),
        )
        return tuple((key, cycles, is_index) for key, cycles, is_index in order if cycles)


@dataclass(frozen=True, slots=True)
class DataRow:
    """One sample line of ``[BCLConvert_Data]`` / ``[Data]``; ``cells`` line up with ``columns`` (padded with "")."""

    line: int
    columns: tuple[str, ...]
    cells: tuple[str, ...]

    def get(self, column: str) -> str | None:
        """The cell under ``column`` (any case); ``None`` when the table has no such column."""
        wanted = column.lower()
        for name, cell in zip(self.columns, self.cells, strict=True):
            if name.lower() == wanted:
                return cell
        return None

    def text(self, column: str) -> str:
        return self.get(column) or ""

    @property
    def sample_id(self) -> str:
        return self.text(SAMPLE_ID)

    @property
    def index(self) -> str:
        return self.text(INDEX)

    @property
    def index2(self) -> str:
        return self.text(INDEX2)

    @property
    def sample_project(self) -> str:
        return self.text(SAMPLE_PROJECT)

    @property
    def lane(self) -> int | None:
        """The lane number; ``None`` when the cell is empty, absent or not a positive whole number."""
        raw = self.text(LANE)
        return int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 0 else None


@dataclass(frozen=True, slots=True)
class DataTable:
    """``[BCLConvert_Data]`` (v2) or ``[Data]`` (v1): a column line, then one row per sample and lane."""

    name: str
    line: int
    columns: tuple[str, ...] = ()
    columns_line: int | None = None
    rows: tuple[DataRow, ...] = ()

    def has(self, column: str) -> bool:
        return column.lower() in (c.lower() for c in self.columns)

    def column_number(self, column: str) -> int | None:
        wanted = column.lower()
        return next((i + 1 for i, c in enumerate(self.columns) if c.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class RawSection:
    """A section this package does not interpret (``[Cloud_Settings]``, ``[Manifests]``…), kept as read."""

    name: str
    line: int
    rows: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class SampleSheet:
    """One sheet. ``settings`` is ``[BCLConvert_Settings]`` in v2 and ``[Settings]`` in v1; ``data`` likewise."""

    version: Version
    header: KeyValues | None = None
    reads_section: KeyValues | None = None
    reads: Reads = field(default_factory=Reads)
    settings: KeyValues | None = None
    data: DataTable | None = None
    other: tuple[RawSection, ...] = ()

    @property
    def rows(self) -> tuple[DataRow, ...]:
        return () if self.data is None else self.data.rows

    def setting(self, key: str) -> str | None:
        return None if self.settings is None else self.settings.value(key)

    def header_value(self, key: str) -> str | None:
        return None if self.header is None else self.header.value(key)

    def lanes(self) -> tuple[int, ...]:
        """The lanes the rows name, sorted; empty when the sheet has no Lane column (rows apply to every lane)."""
        return tuple(sorted({row.lane for row in self.rows if row.lane is not None}))


def section_names(version: Version) -> tuple[str, str]:
    """The settings and data section names BCL Convert reads for a sheet version."""
    return ("BCLConvert_Settings", "BCLConvert_Data") if version == 2 else ("Settings", "Data")
