"""Read a v1 (IEM) or v2 (BCL Convert) sample sheet from bytes or text.

Tolerant of what real sheets hold: a byte-order mark, CRLF or bare CR line ends, the trailing commas spreadsheet
programs pad every line with, blank lines and quoted fields. What is wrong with the *structure* (a duplicate section,
key or column, a cell past the last column, a value that is not a number) comes back as ``Problem`` values with the
section, line and column; ``check`` adds what is wrong with the *content*. Only input that is not a sample sheet at all
raises, and then always ``UnreadableSheetError``.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

from hub.samplesheet.errors import UnreadableSheetError
from hub.samplesheet.model import (
    DataRow,
    DataTable,
    Entry,
    Findings,
    KeyValues,
    Problem,
    RawSection,
    Reads,
    SampleSheet,
    Version,
    section_names,
)

READ_KEYS = ("Read1Cycles", "Read2Cycles", "Index1Cycles", "Index2Cycles")


@dataclass(frozen=True, slots=True)
class ParseResult:
    sheet: SampleSheet
    problems: tuple[Problem, ...]


@dataclass(frozen=True, slots=True)
class _Line:
    first: int
    last: int
    cells: tuple[str, ...]


@dataclass(slots=True)
class _Section:
    name: str
    line: int
    lines: list[_Line] = field(default_factory=list)


def parse_bytes(data: bytes) -> ParseResult:
    """Decode (UTF-8 with or without BOM; UTF-16 with BOM; else Windows-1252, as IEM on Windows writes) and parse."""
    notes: list[Problem] = []
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:  # an odd byte count, or a lone surrogate
            raise UnreadableSheetError(
                f"not UTF-16 text after its byte-order mark: {exc.reason} at byte {exc.start}"
            ) from exc
        notes.append(Problem("warning", "encoding", None, None, "the file is UTF-16; BCL Convert expects UTF-8"))
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError as exc:
                raise UnreadableSheetError(f"not text: byte {exc.start} cannot be decoded") from exc
            message = "the file is not UTF-8; read as Windows-1252 — save it as UTF-8"
            notes.append(Problem("warning", "encoding", None, None, message))
    result = parse_text(text)
    return ParseResult(result.sheet, (*notes, *result.problems))


def parse_text(text: str) -> ParseResult:
    """Parse one sheet. Raises ``UnreadableSheetError`` only when the text is not a sample sheet at all."""
    if "\x00" in text:
        raise UnreadableSheetError("the text holds NUL characters: not a text sample sheet")
    problems = Findings()
    sections = _sections(_lines(text.removeprefix("\ufeff")), problems)
    if not sections:
        raise UnreadableSheetError("no [Section] line such as [Header]: not a sample sheet")
    by_name: dict[str, _Section] = {}
    for section in sections:
        first = by_name.setdefault(section.name.lower(), section)
        if first is not section:
            message = f"[{section.name}] appears again (first on line {first.line}); this copy is ignored"
            problems.add("error", "duplicate-section", section.line, message, section=section.name)
    header = _key_values(by_name.get("header"), problems)
    version = _version(header, by_name, problems)
    settings_name, data_name = section_names(version)
    reads_section, reads = _reads(by_name.get("reads"), version, problems)
    used = {"header", "reads", settings_name.lower(), data_name.lower()}
    sheet = SampleSheet(
        version=version,
        header=header,
        reads_section=reads_section,
        reads=reads,
        settings=_key_values(by_name.get(settings_name.lower()), problems),
        data=_table(by_name.get(data_name.lower()), problems),
        other=tuple(
            RawSection(s.name, s.line, tuple(ln.cells for ln in s.lines if ln.cells))
            for name, s in by_name.items()
            if name not in used
        ),
    )
    return ParseResult(sheet, tuple(problems.problems))


def _lines(text: str) -> list[_Line]:
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[_Line] = []
    last = 0
    try:
        for raw in reader:
            cells = [cell.strip() for cell in raw]
            while cells and not cells[-1]:
                cells.pop()
            lines.append(_Line(last + 1, reader.line_num, tuple(cells)))
            last = reader.line_num
    except csv.Error as exc:
        raise UnreadableSheetError(f"line {last + 1}: {exc}") from exc
    return lines


def _sections(lines: list[_Line], problems: Findings) -> list[_Section]:
    sections: list[_Section] = []
    for line in lines:
        if line.last != line.first:
            message = f"a quoted value spans lines {line.first}–{line.last}; BCL Convert reads one line per row"
            problems.add("error", "multiline-value", line.first, message, section=_current(sections))
        if not line.cells:
            continue
        first = line.cells[0]
        if first.startswith("["):
            name = first[1:-1].strip() if first.endswith("]") else ""
            if not name:
                message = f"{first!r} is not a section line such as [Header]"
                problems.add("error", "bad-section-line", line.first, message, column=1)
                continue
            if any(line.cells[1:]):
                message = f"cells after [{name}] are ignored"
                problems.add("warning", "extra-cells", line.first, message, section=name, column=2)
            sections.append(_Section(name, line.first))
        elif sections:
            sections[-1].lines.append(line)
        else:
            message = "text before the first section line ([Header]) is ignored"
            problems.add("error", "outside-section", line.first, message, column=1)
    return sections


def _current(sections: list[_Section]) -> str | None:
    return sections[-1].name if sections else None


def _key_values(section: _Section | None, problems: Findings) -> KeyValues | None:
    if section is None:
        return None
    entries: dict[str, Entry] = {}
    for line in section.lines:
        if not line.cells:
            continue
        key, value = line.cells[0], (line.cells[1] if len(line.cells) > 1 else "")
        if not key:
            message = f"value {value!r} has no key"
            problems.add("error", "missing-key", line.first, message, section=section.name, column=1)
            continue
        if len(line.cells) > 2:
            message = f"{key} has more than one value; only {value!r} is read"
            problems.add("warning", "extra-cells", line.first, message, section=section.name, field=key, column=3)
        seen = entries.get(key.lower())
        if seen is not None:
            message = f"{key} is set again (first on line {seen.line}); which one a tool reads is not defined"
            problems.add("error", "duplicate-key", line.first, message, section=section.name, field=key, column=1)
            continue
        entries[key.lower()] = Entry(key, value, line.first)
    return KeyValues(section.name, section.line, tuple(entries.values()))


def _version(header: KeyValues | None, by_name: dict[str, _Section], problems: Findings) -> Version:
    declared = header.get("FileFormatVersion") if header else None
    if declared is not None:
        if declared.value in ("1", "2"):
            return 2 if declared.value == "2" else 1
        message = f"FileFormatVersion is {declared.value!r}; sample sheets are version 2 (or v1 with IEMFileVersion)"
        problems.add("error", "bad-version", declared.line, message, section="Header", field="FileFormatVersion")
    elif header is not None and header.get("IEMFileVersion") is not None:
        return 1
    if "bclconvert_data" in by_name or "bclconvert_settings" in by_name:
        return 2
    return 1 if "data" in by_name else 2


def _reads(section: _Section | None, version: Version, problems: Findings) -> tuple[KeyValues | None, Reads]:
    if section is None:
        return None, Reads()
    entries: list[Entry] = []
    bare = 0
    for line in section.lines:
        cells = line.cells
        if not cells:
            continue
        if len(cells) == 1 and cells[0].isascii() and cells[0].isdigit():
            bare += 1
            if version == 2:
                message = f"v2 [Reads] names each read: write Read{min(bare, 2)}Cycles,{cells[0]}"
                problems.add("error", "bare-read", line.first, message, section=section.name, column=1)
            elif bare > 2:
                message = "a v1 [Reads] section holds at most two reads (Read 1 and Read 2)"
                problems.add("error", "too-many-reads", line.first, message, section=section.name, column=1)
            elif any(e.key == f"Read{bare}Cycles" for e in entries):
                message = f"Read{bare}Cycles is already set"
                problems.add("error", "duplicate-key", line.first, message, section=section.name, column=1)
            else:
                entries.append(Entry(f"Read{bare}Cycles", cells[0], line.first))
            continue
        entries.extend(_reads_entry(section.name, line, entries, problems))
    values: dict[str, int] = {}
    for entry in entries:
        if entry.value.isascii() and entry.value.isdigit():
            values[entry.key.lower()] = int(entry.value)
        else:
            message = f"{entry.key} must be a whole number of cycles, not {entry.value!r}"
            problems.add("error", "bad-number", entry.line, message, section=section.name, field=entry.key, column=2)
    reads = Reads(*(values.get(key.lower()) for key in READ_KEYS))
    return KeyValues(section.name, section.line, tuple(entries)), reads


def _reads_entry(name: str, line: _Line, seen: list[Entry], problems: Findings) -> list[Entry]:
    key, value = line.cells[0], (line.cells[1] if len(line.cells) > 1 else "")
    canonical = next((k for k in READ_KEYS if k.lower() == key.lower()), None)
    if canonical is None:
        message = f"{key!r} is not a [Reads] key ({', '.join(READ_KEYS)})"
        problems.add("error", "unknown-key", line.first, message, section=name, field=key or None, column=1)
        return []
    earlier = next((e for e in seen if e.key == canonical), None)
    if earlier is not None:
        message = f"{canonical} is set again (first on line {earlier.line})"
        problems.add("error", "duplicate-key", line.first, message, section=name, field=canonical, column=1)
        return []
    if len(line.cells) > 2:
        message = f"{canonical} has more than one value; only {value!r} is read"
        problems.add("warning", "extra-cells", line.first, message, section=name, field=canonical, column=3)
    return [Entry(canonical, value, line.first)]


def _table(section: _Section | None, problems: Findings) -> DataTable | None:
    if section is None:
        return None
    content = [line for line in section.lines if line.cells]
    if not content:
        return DataTable(section.name, section.line)
    head, *body = content
    columns = head.cells
    seen: dict[str, int] = {}
    for number, column in enumerate(columns, start=1):
        if not column:
            message = f"column {number} has no name"
            problems.add("error", "empty-column", head.first, message, section=section.name, column=number)
        elif column.lower() in seen:
            message = f"column {column} appears twice (columns {seen[column.lower()]} and {number})"
            problems.add("error", "duplicate-column", head.first, message, section=section.name, column=number)
        else:
            seen[column.lower()] = number
    rows = []
    for line in body:
        cells = line.cells
        if len(cells) > len(columns):
            extra = len(columns) + 1
            message = f"{len(cells)} cells but only {len(columns)} columns; {cells[extra - 1]!r} and on are ignored"
            problems.add("error", "extra-cells", line.first, message, section=section.name, column=extra)
            cells = cells[: len(columns)]
            if not any(cells):
                continue
        padded = cells + ("",) * (len(columns) - len(cells))
        rows.append(DataRow(line.first, columns, padded))
    return DataTable(section.name, section.line, columns, head.first, tuple(rows))
