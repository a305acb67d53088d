"""Write a ``SampleSheet`` back out as CSV text: sections in the order BCL Convert documents them, a blank line
between sections, no trailing commas, ``\\n`` line ends; v1 read lengths as bare numbers, as IEM writes them. The
same sheet always renders to the same text, and a rendered sheet parses back to an equal one.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from hub.samplesheet.model import KeyValues, SampleSheet

_SPECIAL = frozenset(',"\r\n')


def render_sheet(sheet: SampleSheet) -> str:
    out = io.StringIO()
    blocks: list[tuple[str, Iterable[Iterable[str]]]] = []
    if sheet.header is not None:
        blocks.append((sheet.header.name, _pairs(sheet.header)))
    if sheet.reads_section is not None:
        reads = sheet.reads_section
        bare = sheet.version == 1 and reads.keys() == ("Read1Cycles", "Read2Cycles")[: len(reads.entries)]
        blocks.append((reads.name, [(e.value,) for e in reads.entries] if bare else _pairs(reads)))
    if sheet.settings is not None:
        blocks.append((sheet.settings.name, _pairs(sheet.settings)))
    if sheet.data is not None:
        data = sheet.data
        blocks.append((data.name, [data.columns, *(_trimmed(row.cells) for row in data.rows)] if data.columns else []))
    blocks.extend((raw.name, raw.rows) for raw in sheet.other)
    for number, (name, rows) in enumerate(blocks):
        if number:
            out.write("\n")
        out.write(_line([f"[{name}]"]))
        out.writelines(_line(row) for row in rows)
    return out.getvalue()


def _pairs(section: KeyValues) -> list[tuple[str, ...]]:
    return [(e.key, e.value) if e.value else (e.key,) for e in section.entries]


def _trimmed(cells: tuple[str, ...]) -> tuple[str, ...]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _line(cells: Iterable[str]) -> str:
    """One CSV line; a cell holding a comma, quote or line break is quoted (``csv.writer`` leaves a bare CR alone)."""
    return ",".join(f'"{c.replace(chr(34), chr(34) * 2)}"' if _SPECIAL.intersection(c) else c for c in cells) + "\n"
