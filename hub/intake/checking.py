"""A sheet checked against a template's fields: which row is the header, which column is which field, and every
cell's value or the reason it has none. Nothing here knows the database; the caller adds what only it can check
(sample types, projects, barcodes already registered) with ``SheetCheck.refuse``.

Headers match whatever their case, spacing, unit in brackets or ``*``; the header may sit below title rows, and a
header cell left empty under a vertically merged cell takes the text above it. Columns may come in any order;
columns the template does not name are ignored (and listed in the notes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl.utils import get_column_letter

from hub.domain.cells import clean_text
from hub.intake.errors import SheetTooLargeError
from hub.intake.fields import FieldSpec, Target, header_key
from hub.intake.sheets import HEADER_SCAN, MAX_ROWS, Sheet, SheetFile
from hub.intake.values import Cell, Value, as_text, is_blank, parse_cell, shown


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a sheet cannot be registered. ``row`` is the spreadsheet's row number, ``column`` the template
    field's label, ``cell`` its reference (``C7``); None where the problem is not one cell's."""

    row: int | None
    column: str | None
    reason: str
    cell: str | None = None
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "cell": self.cell, "value": self.value, "reason": self.reason}


@dataclass
class CheckedRow:
    number: int
    values: dict[str, Value | None]
    ok: bool = True


@dataclass
class SheetCheck:
    fields: list[FieldSpec]
    sheet: str | None = None
    header_row: int | None = None
    columns: dict[str, int] = field(default_factory=dict)  # field key → 0-based column index
    headers: dict[str, str] = field(default_factory=dict)  # field key → the header as the sheet writes it
    ignored: list[str] = field(default_factory=list)
    rows: list[CheckedRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cleaned_cells: int = 0
    references: dict[int, dict[Target, str]] = field(default_factory=dict)  # row → sample column → resolved id

    def letter(self, key: str) -> str | None:
        """The spreadsheet column (``C``) of field ``key``, None if the sheet has none."""
        index = self.columns.get(key)
        return None if index is None else get_column_letter(index + 1)

    def cell(self, key: str, row: int) -> str | None:
        letter = self.letter(key)
        return None if letter is None else f"{letter}{row}"

    def refuse(self, row: CheckedRow, key: str, reason: str) -> None:
        """Add a problem with one row's value of field ``key`` (found by the caller) and mark the row invalid."""
        spec = next(f for f in self.fields if f.key == key)
        value = row.values.get(key)
        self.problems.append(
            Problem(row.number, spec.label, reason, self.cell(key, row.number), None if value is None else str(value))
        )
        row.ok = False

    @property
    def valid(self) -> bool:
        return not self.problems

    def ordered_problems(self) -> list[Problem]:
        """Sheet-wide problems first, then by row and by the template's column order."""
        position = {f.label: i for i, f in enumerate(self.fields)}
        return sorted(self.problems, key=lambda p: (p.row or 0, position.get(p.column or "", -1)))

    def target_key(self, target: Target) -> str | None:
        return next((f.key for f in self.fields if f.maps_to == target), None)


def _plain(cell: Cell) -> str:
    """A header cell as one line of printable text (it is stored in reports and shown back)."""
    return "" if cell is None else " ".join(clean_text(as_text(cell)).split())


def _header_texts(cells: tuple[Cell, ...], above: tuple[Cell, ...] | None) -> list[list[str]]:
    """Per column, the texts that may name it: its own, else the cell above (a header merged down over two rows);
    or the group label above followed by its own (``Sample`` over ``name``, the label merged across columns)."""
    width = max(len(cells), len(above or ()))
    own = [_plain(c) for c in (*cells, *([None] * (width - len(cells))))]
    upper = [_plain(c) for c in (*(above or ()), *([None] * width))]
    texts, group = [], ""
    for index in range(width):
        group = upper[index] or group
        if not own[index]:
            texts.append([upper[index]] if upper[index] else [])
        else:
            texts.append([own[index], f"{group} {own[index]}"] if group else [own[index]])
    return texts


def _header(texts: list[list[str]], lookup: dict[str, str]) -> list[tuple[str, str | None]]:
    """Per column: (the header as written, the field key it names or None)."""
    named = []
    for candidates in texts:
        key = next((lookup[k] for text in candidates if (k := header_key(text)) in lookup), None)
        text = next((t for t in candidates if key is not None and lookup.get(header_key(t)) == key), None)
        named.append((text or (candidates[0] if candidates else ""), key))
    return named


def _above(sheet: Sheet, index: int) -> tuple[Cell, ...] | None:
    if index == 0 or sheet.rows[index - 1][0] != sheet.rows[index][0] - 1:
        return None
    return sheet.rows[index - 1][1]


def _find_header(sheets: Sequence[Sheet], lookup: dict[str, str]) -> tuple[Sheet, int] | None:
    """(sheet, index of the header row in its rows): the row naming the most fields. Of two adjacent rows naming
    the same fields, the lower one: it is read with the row above (labels over a row of units, merged cells)."""
    best: tuple[Sheet, int, set[str]] | None = None
    for sheet in sheets:
        for index, (_number, cells) in enumerate(sheet.rows[:HEADER_SCAN]):
            above = _above(sheet, index)
            named = {key for _, key in _header(_header_texts(cells, above), lookup) if key}
            below_best = best is not None and best[0] is sheet and best[1] == index - 1 and above is not None
            if named and (best is None or len(named) > len(best[2]) or (below_best and named >= best[2])):
                best = (sheet, index, named)
    return (best[0], best[1]) if best is not None else None


def check_sheet(upload: SheetFile, fields: Sequence[FieldSpec]) -> SheetCheck:
    """Every problem of ``upload`` for ``fields``, and each row's values. ``SheetTooLargeError`` past
    ``MAX_ROWS`` sample rows."""
    check = SheetCheck(list(fields), notes=list(upload.notes))
    lookup = {header: spec.key for spec in fields for header in spec.headers}
    found = _find_header(upload.sheets, lookup)
    if found is None:
        labels = ", ".join(f.label for f in fields[:8]) + (", …" if len(fields) > 8 else "")
        check.problems.append(
            Problem(
                None,
                None,
                f"no header row: none of the first {HEADER_SCAN} rows names a column of the template ({labels})",
            )
        )
        return check
    sheet, header_index = found
    header_number, header_cells = sheet.rows[header_index]
    header = _header(_header_texts(header_cells, _above(sheet, header_index)), lookup)
    check.sheet, check.header_row = _plain(sheet.title)[:100], header_number
    if len(upload.sheets) > 1:
        check.notes.append(f"read the worksheet {check.sheet!r}")
    data = sheet.rows[header_index + 1 :]
    if sheet.overflow or len(data) > MAX_ROWS:
        raise SheetTooLargeError(f"the sheet has more than {MAX_ROWS} sample rows: split it into several uploads")
    width = max([len(header), *(len(cells) for _, cells in data)])
    by_key = {f.key: f for f in fields}
    unnamed: list[str] = []
    for index in range(width):
        text, key = header[index] if index < len(header) else ("", None)
        letter = get_column_letter(index + 1)
        if key is None:
            if text:
                check.ignored.append(text)
            elif any(index < len(cells) and not is_blank(cells[index]) for _, cells in data):
                unnamed.append(letter)
            continue
        if key in check.columns:
            first = get_column_letter(check.columns[key] + 1)
            check.problems.append(
                Problem(
                    header_number,
                    by_key[key].label,
                    f"the column appears twice ({first} and {letter}); keep one",
                    f"{letter}{header_number}",
                    text,
                )
            )
            continue
        check.columns[key], check.headers[key] = index, text
    for spec in fields:
        if spec.key in check.columns:
            continue
        if spec.required:
            check.problems.append(
                Problem(header_number, spec.label, f"a required column is missing: add a column headed {spec.label!r}")
            )
        else:
            check.notes.append(f"no column {spec.label!r} (optional): left empty")
    if check.ignored:
        check.notes.append("columns the template does not name were ignored: " + ", ".join(check.ignored[:20]))
    if unnamed:
        check.notes.append("columns with values but no header were ignored: " + ", ".join(unnamed[:20]))
    blank = data[-1][0] - header_number - len(data) if data else 0
    if blank:
        check.notes.append(f"{blank} blank rows skipped")
    if not data:
        check.problems.append(Problem(None, None, f"no sample rows below the header (row {header_number})"))
    for number, cells in data:
        row = CheckedRow(number, {})
        for spec in fields:
            column = check.columns.get(spec.key)
            raw = cells[column] if column is not None and column < len(cells) else None
            parsed = parse_cell(spec, raw, upload.reading)
            check.cleaned_cells += parsed.cleaned
            row.values[spec.key] = parsed.value
            if parsed.problem is not None and column is not None:  # a missing column is one problem, above
                row.ok = False
                check.problems.append(
                    Problem(number, spec.label, parsed.problem, check.cell(spec.key, number), shown(raw))
                )
        check.rows.append(row)
    _repeated_barcodes(check)
    if check.cleaned_cells:
        check.notes.append(f"control characters removed from {check.cleaned_cells} free-text cells")
    return check


def _repeated_barcodes(check: SheetCheck) -> None:
    key = check.target_key(Target.BARCODE)
    if key is None:
        return
    first: dict[str, int] = {}
    for row in check.rows:
        barcode = row.values.get(key)
        if not isinstance(barcode, str):
            continue
        seen = first.setdefault(barcode, row.number)
        if seen != row.number:
            check.refuse(row, key, f"barcode {barcode} is also in row {seen}")
