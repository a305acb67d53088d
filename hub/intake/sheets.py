"""What an uploaded file holds, as rows of cells, before any template is applied: the shared shape of CSV and XLSX
uploads, and the limits every upload is read within."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from hub.intake.values import Cell, Reading, is_blank

MAX_ROWS = 5000  # sample rows in one upload
MAX_COLUMNS = 200
HEADER_SCAN = 20  # the header is one of the first rows that are not blank (titles may sit above it)
MAX_SHEETS = 10  # visible worksheets of a workbook that are read
KEEP_ROWS = MAX_ROWS + HEADER_SCAN  # rows kept per sheet; one more marks the sheet as too long


@dataclass(frozen=True)
class Sheet:
    """One table: its non-blank rows with their spreadsheet row numbers (1-based, as a spreadsheet shows them)."""

    title: str
    rows: list[tuple[int, tuple[Cell, ...]]]
    overflow: bool = False  # more than ``KEEP_ROWS`` non-blank rows: the rest was not read


@dataclass(frozen=True)
class SheetFile:
    format: Literal["csv", "xlsx"]
    sheets: list[Sheet]
    reading: Reading = field(default_factory=Reading)
    notes: list[str] = field(default_factory=list)


class SheetBuilder:
    """Collects rows as they are read: skips blank ones, trims trailing blank cells, stops past ``KEEP_ROWS``."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[tuple[int, tuple[Cell, ...]]] = []
        self.overflow = False

    def add(self, number: int, cells: tuple[Cell, ...] | list[Cell]) -> bool:
        """Keep row ``number``; False once the sheet holds more rows than one upload may."""
        width = len(cells)
        while width and is_blank(cells[width - 1]):
            width -= 1
        if not width:
            return True
        if len(self.rows) >= KEEP_ROWS:
            self.overflow = True
            return False
        self.rows.append((number, tuple(None if is_blank(c) else c for c in cells[:width])))
        return True

    def build(self) -> Sheet:
        return Sheet(self.title, self.rows, self.overflow)
