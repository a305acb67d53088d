"""Check a sample sheet on its own, the way BCL Convert would before converting, and list every problem at once.

``check(sheet)`` looks at a parsed sheet: required sections and fields, ``[Reads]``, every settings key and value,
``OverrideCycles`` against ``[Reads]``, then the sample rows (``rows.check_rows``). ``check_text`` / ``check_bytes``
parse first and return parse and check problems together, in line order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.samplesheet.model import Findings, Problem, SampleSheet, Severity, section_names
from hub.samplesheet.parse import parse_bytes, parse_text
from hub.samplesheet.rows import check_rows
from hub.samplesheet.settings import check_settings


@dataclass(frozen=True, slots=True)
class SheetReport:
    """A sheet and everything wrong with it. ``ok``: no errors (warnings allowed)."""

    sheet: SampleSheet
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.is_error)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "version": self.sheet.version,
            "samples": len(self.sheet.rows),
            "lanes": list(self.sheet.lanes()),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }


def check(sheet: SampleSheet) -> list[Problem]:
    """Every problem BCL Convert would stop at (``error``) or that is likely a mistake (``warning``)."""
    found = Findings()
    _check_sections(sheet, found)
    _check_header(sheet, found)
    _check_reads(sheet, found)
    check_settings(sheet, found)
    check_rows(sheet, found)
    return ordered(found.problems)


def check_text(text: str) -> SheetReport:
    """Parse and check. Raises ``UnreadableSheetError`` only when the text is not a sample sheet at all."""
    parsed = parse_text(text)
    return SheetReport(parsed.sheet, tuple(ordered([*parsed.problems, *check(parsed.sheet)])))


def check_bytes(data: bytes) -> SheetReport:
    parsed = parse_bytes(data)
    return SheetReport(parsed.sheet, tuple(ordered([*parsed.problems, *check(parsed.sheet)])))


def ordered(problems: Iterable[Problem]) -> list[Problem]:
    """Without repeats; absences (no line) first, then by line, keeping the order found within a line."""
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: -1 if p.line is None else p.line)


def _check_sections(sheet: SampleSheet, found: Findings) -> None:
    settings_name, data_name = section_names(sheet.version)
    v2 = sheet.version == 2
    required: list[tuple[str, object, Severity | None]] = [
        ("Header", sheet.header, "error"),
        ("Reads", sheet.reads_section, "error" if v2 else "warning"),
        (settings_name, sheet.settings, "error" if v2 else None),
        (data_name, sheet.data, "error"),
    ]
    for name, section, severity in required:
        if section is None and severity is not None:
            message = f"no [{name}] section; a v{sheet.version} sheet " + (
                "needs one" if severity == "error" else "has one"
            )
            found.add(severity, "missing-section", None, message, section=name)
    ignored = ("Settings", "Data") if sheet.version == 2 else ("BCLConvert_Settings", "BCLConvert_Data")
    for raw in sheet.other:
        if raw.name.lower() in (n.lower() for n in ignored):
            message = (
                f"[{raw.name}] is not read in a v{sheet.version} sheet (it reads [{settings_name}], [{data_name}])"
            )
            found.add("warning", "ignored-section", raw.line, message, section=raw.name)


def _check_header(sheet: SampleSheet, found: Findings) -> None:
    header = sheet.header
    if header is None:
        return
    if sheet.version == 2 and header.get("FileFormatVersion") is None:
        message = "[Header] has no FileFormatVersion; write FileFormatVersion,2"
        found.add("error", "missing-field", header.line, message, section="Header", field="FileFormatVersion")
    if sheet.version == 1 and header.get("IEMFileVersion") is None:
        message = "[Header] has no IEMFileVersion (v1) nor FileFormatVersion,2 (v2); read as v1"
        found.add("warning", "missing-field", header.line, message, section="Header", field="IEMFileVersion")


def _check_reads(sheet: SampleSheet, found: Findings) -> None:
    section = sheet.reads_section
    if section is None:
        return
    if sheet.version == 2 and not sheet.reads.read1_cycles and section.get("Read1Cycles") is None:
        message = "[Reads] has no Read1Cycles"
        found.add("error", "missing-field", section.line, message, section=section.name, field="Read1Cycles")
    elif sheet.version == 2 and sheet.reads.read1_cycles == 0:
        entry = section.get("Read1Cycles")
        message = "Read1Cycles is 0; Read 1 needs at least one cycle"
        line = entry.line if entry else section.line
        found.add("error", "bad-number", line, message, section=section.name, field="Read1Cycles", column=2)
    if sheet.version == 1 and not section.entries:
        message = "[Reads] lists no read lengths"
        found.add("warning", "missing-field", section.line, message, section=section.name, field="Read1Cycles")
