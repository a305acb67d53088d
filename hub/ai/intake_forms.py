"""A sample submission form (PDF, text, DOCX, CSV, XLSX) read into a manifest for an intake template: per field a
value, a confidence (0..1) and the span it came from; one manifest row per sample when the form holds a table.

Labels are matched to a field's label, key, aliases and a few well-known synonyms of its target, exactly or
fuzzily (``difflib``); values come from table columns, ``Label: value`` lines, or label/value cell pairs. Every
value is checked with the template's own cell parser (``hub.intake.parse_cell``). A value below ``REVIEW_BELOW``
or one that fails the check is never filled in: it is returned as a ``suggestion`` with ``needs_review``.
Pure code: no I/O but the bytes, no database.

    manifest = read_form(data, filename="submission.pdf", content_type=None, fields=fields)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from hub.ai.errors import UnreadableDocumentError
from hub.ai.extract import decode_text, detect_format, extract
from hub.intake import FieldSpec, Reading, SheetError, Target, decimal_text, header_key, parse_cell, read_upload
from hub.intake.values import Cell, as_text

REVIEW_BELOW = 0.8  # a value less sure than this is a suggestion for a person, never a filled field
MATCH_FLOOR = 0.75  # a label less similar than this to every name of a field is not that field
SYNONYM_SCORE = 0.9  # a well-known synonym is a good, not a certain, match
PAIR_FACTOR = 0.95  # a "Label: value" line is slightly less sure than a table column
SHARED_FACTOR = 0.9  # a form-level value copied onto every sample row
MAX_HEADER_SCAN = 40

SYNONYMS: dict[Target, tuple[str, ...]] = {
    Target.NAME: ("sample name", "sample id", "sample", "name", "specimen id", "specimen"),
    Target.BARCODE: ("barcode", "tube barcode", "tube id", "tube", "label id"),
    Target.SAMPLE_TYPE: ("sample type", "type", "material", "specimen type", "matrix"),
    Target.PROJECT: ("project", "project code", "study", "study code"),
    Target.VOLUME_UL: ("volume", "vol", "volume ul", "vol ul"),
    Target.CONCENTRATION: ("concentration", "conc", "ng ul", "ng/ul", "conc ng ul"),
    Target.CUSTODIAN: ("custodian", "submitter", "submitted by", "owner", "contact"),
}


@dataclass(frozen=True)
class Span:
    """Where a value was read: a line (and page) of a text document, or a cell of a sheet; ``start``/``end`` are
    character offsets into that line or cell."""

    document: str
    start: int
    end: int
    text: str
    page: int | None = None
    line: int | None = None
    sheet: str | None = None
    cell: str | None = None


@dataclass(frozen=True)
class FieldValue:
    key: str
    label: str
    value: str | None  # filled only when confident and valid (numbers as decimal text, dates ISO)
    suggestion: str | None  # the text found, whatever its confidence
    confidence: float
    needs_review: bool
    reasons: list[str]
    source: Span | None
    matched_label: str | None = None


@dataclass(frozen=True)
class ManifestRow:
    number: int
    fields: list[FieldValue]

    @property
    def needs_review(self) -> bool:
        return any(f.needs_review for f in self.fields)


@dataclass(frozen=True)
class Manifest:
    document: str
    format: str
    threshold: float
    rows: list[ManifestRow]
    notes: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.rows for f in r.fields if f.needs_review)


@dataclass(frozen=True)
class Found:
    """A candidate value for a field: the raw cell or text, how sure the label match is, and where it was."""

    raw: Cell
    score: float
    span: Span
    label: str


# -- label matching ---------------------------------------------------------------------------------------------


def label_score(spec: FieldSpec, text: str) -> float:
    """How surely ``text`` (a header or a label) names ``spec``: 1 for its label, key or an alias, ``SYNONYM_SCORE``
    for a synonym of its target, the ``difflib`` ratio of the nearest otherwise; 0 below ``MATCH_FLOOR``."""
    wanted = header_key(text)
    if not wanted:
        return 0.0
    names = spec.headers
    if wanted in names:
        return 1.0
    synonyms = [header_key(s) for s in SYNONYMS.get(spec.maps_to, ())] if spec.maps_to else []
    if wanted in synonyms:
        return SYNONYM_SCORE
    best = max(
        [difflib.SequenceMatcher(None, wanted, n).ratio() for n in names]
        + [difflib.SequenceMatcher(None, wanted, s).ratio() * SYNONYM_SCORE for s in synonyms]
    )
    return round(best, 3) if best >= MATCH_FLOOR else 0.0


def match_columns(fields: Sequence[FieldSpec], headers: Sequence[str]) -> dict[str, tuple[int, float, str]]:
    """field key → (column index, score, header): each column to at most one field, best matches first."""
    scored = sorted(
        ((label_score(spec, h), i, spec.key, h) for spec in fields for i, h in enumerate(headers) if h),
        key=lambda item: (-item[0], item[1]),
    )
    taken: set[int] = set()
    chosen: dict[str, tuple[int, float, str]] = {}
    for score, column, key, header in scored:
        if score <= 0 or column in taken or key in chosen:
            continue
        chosen[key] = (column, score, header)
        taken.add(column)
    return chosen


def best_field(fields: Sequence[FieldSpec], label: str) -> tuple[FieldSpec, float] | None:
    ranked = sorted(((label_score(spec, label), spec) for spec in fields), key=lambda item: -item[0])
    if not ranked or ranked[0][0] <= 0:
        return None
    return ranked[0][1], ranked[0][0]


# -- reading the document into lines or cells -----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    text: str
    number: int
    page: int | None


_PAIR = re.compile(r"^\s*(?P<label>[A-Za-z][^:=|]{0,60}?)\s*[:=]\s*(?P<value>\S.*?)\s*$")
_SEGMENTS = re.compile(r";|\t|\s{3,}")
_TABLE_RULE = re.compile(r"^[\s|:\-+=]+$")


def _lines(data: bytes, filename: str, kind: str) -> list[Line]:
    if kind in ("text", "markdown"):
        text = decode_text(data, filename)
        return [Line(t, n, None) for n, t in enumerate(text.splitlines(), start=1)]
    extracted = extract(data, filename=filename)
    found: list[Line] = []
    number = 0
    for section in extracted.sections:
        for text in section.text.splitlines():
            number += 1
            found.append(Line(text, number, section.page))
    return found


def _cells_of(line: str) -> list[tuple[str, int, int]]:
    """The cells of a table line (``|``, tab, or three or more spaces between them) with their offsets."""
    if "|" in line:
        separator = r"\|"
    elif "\t" in line:
        separator = r"\t"
    else:
        separator = r"\s{2,}"
    cells: list[tuple[str, int, int]] = []
    start = 0
    for match in [*re.finditer(separator, line), None]:
        end = match.start() if match else len(line)
        raw = line[start:end]
        stripped = raw.strip()
        offset = start + (len(raw) - len(raw.lstrip()))
        cells.append((stripped, offset, offset + len(stripped)))
        start = match.end() if match else len(line)
    if "|" in line:  # a Markdown table's outer bars leave empty edge cells
        if cells and not cells[0][0]:
            cells = cells[1:]
        if cells and not cells[-1][0]:
            cells = cells[:-1]
    return cells


def _pairs(line: Line, document: str) -> Iterator[tuple[str, str, Span]]:
    """``(label, value, span)`` for each ``Label: value`` segment of a line."""
    position = 0
    for segment in [*_SEGMENTS.split(line.text)]:
        at = line.text.find(segment, position)
        position = at + len(segment)
        match = _PAIR.match(segment)
        if match is None:
            continue
        start = at + match.start("value")
        value = match["value"]
        yield match["label"], value, Span(document, start, start + len(value), value, line.page, line.number)


def _text_form(
    lines: Sequence[Line], fields: Sequence[FieldSpec], document: str
) -> tuple[list[Found], list[dict[str, Found]]]:
    """(form-level values, one dict per table row) of a text document."""
    shared: list[Found] = []
    rows: list[dict[str, Found]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        cells = _cells_of(line.text)
        tabular = len(cells) >= 2 and not any(_PAIR.match(c[0]) for c in cells)
        columns = match_columns(fields, [c[0] for c in cells]) if tabular else {}
        if len(columns) >= 2 and not rows:
            i += 1
            while i < len(lines):
                text = lines[i].text
                if not text.strip() or _TABLE_RULE.match(text):  # PDF and DOCX text puts blank lines between rows
                    i += 1
                    continue
                row_cells = _cells_of(text)
                if len(row_cells) < 2:
                    break
                row: dict[str, Found] = {}
                for key, (column, score, header) in columns.items():
                    if column < len(row_cells) and row_cells[column][0]:
                        value, start, end = row_cells[column]
                        span = Span(document, start, end, value, lines[i].page, lines[i].number)
                        row[key] = Found(value, score, span, header)
                rows.append(row)
                i += 1
            continue
        for label, value, span in _pairs(line, document):
            best = best_field(fields, label)
            if best is not None:
                shared.append(Found(value, best[1] * PAIR_FACTOR, span, label))
        i += 1
    return shared, rows


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _cell_span(document: str, sheet: str, row: int, column: int, raw: Cell) -> Span:
    text = as_text(raw)
    return Span(document, 0, len(text), text, sheet=sheet, cell=f"{_column_letters(column)}{row}")


def _sheet_form(
    data: bytes, content_type: str | None, fields: Sequence[FieldSpec], document: str
) -> tuple[list[Found], list[dict[str, Found]], Reading]:
    try:
        upload = read_upload(data, content_type)
    except SheetError as exc:
        raise UnreadableDocumentError(f"{document}: {exc}") from exc
    shared: list[Found] = []
    rows: list[dict[str, Found]] = []
    for sheet in upload.sheets:
        header_at: int | None = None
        columns: dict[str, tuple[int, float, str]] = {}
        for index, (_, cells) in enumerate(sheet.rows[:MAX_HEADER_SCAN]):
            texts = [as_text(c).strip() for c in cells]
            tabular = sum(1 for t in texts if t) >= 2 and not any(_PAIR.match(t) for t in texts)
            columns = match_columns(fields, texts) if tabular else {}
            if len(columns) >= 2:
                header_at = index
                break
        before = sheet.rows if header_at is None else sheet.rows[:header_at]
        for number, cells in before:
            shared.extend(_sheet_pairs(fields, document, sheet.title, number, cells))
        if header_at is None or rows:
            continue
        for number, cells in sheet.rows[header_at + 1 :]:
            row: dict[str, Found] = {}
            for key, (column, score, header) in columns.items():
                raw = cells[column] if column < len(cells) else None
                if raw is not None and as_text(raw).strip():
                    row[key] = Found(raw, score, _cell_span(document, sheet.title, number, column, raw), header)
            if row:
                rows.append(row)
    return shared, rows, upload.reading


def _sheet_pairs(
    fields: Sequence[FieldSpec], document: str, sheet: str, number: int, cells: tuple[Cell, ...]
) -> Iterator[Found]:
    """A label cell followed by its value cell (``Project | P-17``), or one ``Project: P-17`` cell."""
    texts = [as_text(c).strip() for c in cells]
    for column, text in enumerate(texts):
        if not text:
            continue
        match = _PAIR.match(text)
        if match is not None:
            best = best_field(fields, match["label"])
            if best is not None:
                value = match["value"]
                start = text.find(value, match.start("value"))
                span = Span(
                    document, start, start + len(value), value, sheet=sheet, cell=f"{_column_letters(column)}{number}"
                )
                yield Found(value, best[1] * PAIR_FACTOR, span, match["label"])
            continue
        following = texts[column + 1] if column + 1 < len(texts) else ""
        label = text.rstrip(":").strip()
        if following and (best := best_field(fields, label)) is not None:
            raw = cells[column + 1]
            yield Found(raw, best[1] * PAIR_FACTOR, _cell_span(document, sheet, number, column + 1, raw), label)


# -- values -----------------------------------------------------------------------------------------------------


def _json_value(value: str | Decimal | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def judge(spec: FieldSpec, found: Found | None, reading: Reading, threshold: float, factor: float = 1.0) -> FieldValue:
    """One field's value: checked by the template's parser, flagged when unsure, invalid or missing-but-required."""
    if found is None:
        missing = ["required, and not found in the form"] if spec.required else []
        return FieldValue(spec.key, spec.label, None, None, 0.0, spec.required, missing, None)
    confidence = round(min(1.0, found.score * factor), 3)
    parsed = parse_cell(spec, found.raw, reading)
    reasons: list[str] = []
    if parsed.problem is not None:
        reasons.append(parsed.problem)
        confidence = 0.0
    if confidence < threshold and parsed.problem is None:
        reasons.append(f"label {found.label!r} matched {spec.label!r} with confidence {confidence} < {threshold}")
    needs_review = bool(reasons)
    suggestion = as_text(found.raw).strip() or None
    value = None if needs_review else _json_value(parsed.value)
    return FieldValue(
        spec.key, spec.label, value, suggestion, confidence, needs_review, reasons, found.span, found.label
    )


def read_form(
    data: bytes,
    *,
    filename: str,
    content_type: str | None,
    fields: Sequence[FieldSpec],
    threshold: float = REVIEW_BELOW,
) -> Manifest:
    """The manifest of a submission form for ``fields``; ``UnreadableDocumentError`` for what cannot be read."""
    if not data:
        raise UnreadableDocumentError("the body is empty: send the form's bytes with its Content-Type")
    kind = detect_format(data, filename, content_type)
    notes: list[str] = []
    reading = Reading()
    if kind in ("csv", "xlsx"):
        shared, rows, reading = _sheet_form(data, content_type, fields, filename)
    else:
        shared, rows = _text_form(_lines(data, filename, kind), fields, filename)
    form_level: dict[str, Found] = {}
    for found in shared:
        best = best_field(fields, found.label)
        if best is None:
            continue
        key = best[0].key
        if key not in form_level or found.score > form_level[key].score:
            form_level[key] = found
    if not rows:
        rows = [{}]
        if not form_level:
            notes.append("no field of the template was recognised in the form")
    else:
        notes.append(f"a table of {len(rows)} samples; form-level values apply to every row")
    manifest_rows: list[ManifestRow] = []
    for number, row in enumerate(rows, start=1):
        values = []
        for spec in fields:
            if spec.key in row:
                values.append(judge(spec, row[spec.key], reading, threshold))
            elif spec.key in form_level:
                factor = SHARED_FACTOR if len(rows) > 1 else 1.0
                values.append(judge(spec, form_level[spec.key], reading, threshold, factor))
            else:
                values.append(judge(spec, None, reading, threshold))
        manifest_rows.append(ManifestRow(number, values))
    return Manifest(filename, kind, threshold, manifest_rows, notes)


def manifest_dict(manifest: Manifest) -> dict[str, Any]:
    """The manifest as JSON-ready data."""
    return {
        "document": manifest.document,
        "format": manifest.format,
        "threshold": manifest.threshold,
        "flagged": manifest.flagged,
        "notes": manifest.notes,
        "rows": [
            {
                "number": r.number,
                "needs_review": r.needs_review,
                "fields": [{**f.__dict__, "source": f.source.__dict__ if f.source else None} for f in r.fields],
            }
            for r in manifest.rows
        ],
    }
