"""Turn a v1 (IEM) sheet into a v2 sheet for BCL Convert.

Kept: RunName (from ``Experiment Name``) and RunDescription (``Description``); the read lengths; settings BCL Convert
knows (``Adapter`` becomes ``AdapterRead1``); the Lane, Sample_ID, Index, Index2 and Sample_Project columns. Dropped,
and listed in ``notes``: everything else. A v1 sheet does not give index cycles, so Index1Cycles and Index2Cycles are
the longest Index and Index2 in the sheet — check them against the run. Index2 is copied as written, which is right
for every instrument except those whose BCL Convert sheets take i5 forward while bcl2fastq took it reverse-complemented
(NextSeq 1000/2000, NovaSeq X): name the instrument and it is turned round.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.samplesheet.barcodes import reverse_complement
from hub.samplesheet.errors import InvalidValueError
from hub.samplesheet.model import (
    INDEX,
    INDEX2,
    LANE,
    SAMPLE_ID,
    SAMPLE_PROJECT,
    DataRow,
    DataTable,
    Entry,
    KeyValues,
    Reads,
    SampleSheet,
)
from hub.samplesheet.orientation import FORWARD, REVERSE, find_platform
from hub.samplesheet.parse import parse_text
from hub.samplesheet.render import render_sheet
from hub.samplesheet.settings import KNOWN_SETTINGS

_COLUMNS = (LANE, SAMPLE_ID, INDEX, INDEX2, SAMPLE_PROJECT)
_RENAMED = {"adapter": "AdapterRead1"}


@dataclass(frozen=True, slots=True)
class Conversion:
    sheet: SampleSheet
    notes: tuple[str, ...]


def convert_to_v2(sheet: SampleSheet, *, instrument_platform: str | None = None) -> Conversion:
    """The v2 form of ``sheet`` (parsed back from its rendering) and what was changed or dropped.

    Raises ``UnknownInstrumentError`` for an ``instrument_platform`` without a known i5 orientation."""
    if sheet.version == 2:
        return Conversion(sheet, ("the sheet is already v2",))
    notes: list[str] = []
    flip = False
    if instrument_platform is not None:
        platform = find_platform(instrument_platform)
        flip = platform.read_on_board == REVERSE and platform.sheet == FORWARD
        if flip:
            notes.append(f"Index2 reverse-complemented: BCL Convert on {platform.name} takes i5 forward")
    data = _data(sheet, flip, notes)
    longest = [max((len(row.text(column)) for row in data.rows), default=0) for column in (INDEX, INDEX2)]
    reads = Reads(sheet.reads.read1_cycles, sheet.reads.read2_cycles, longest[0], longest[1])
    if any(longest):
        notes.append(f"Index1Cycles {longest[0]} and Index2Cycles {longest[1]} are the longest indexes: check the run")
    converted = SampleSheet(
        version=2,
        header=KeyValues("Header", 0, _header(sheet)),
        reads_section=KeyValues("Reads", 0, tuple(Entry(k, str(v), 0) for k, v, _ in reads.present())),
        reads=reads,
        settings=KeyValues("BCLConvert_Settings", 0, _settings(sheet, notes)),
        data=data,
    )
    return Conversion(parse_text(render_sheet(converted)).sheet, tuple(notes))


def _header(sheet: SampleSheet) -> tuple[Entry, ...]:
    entries = [Entry("FileFormatVersion", "2", 0)]
    for source, target in (("Experiment Name", "RunName"), ("Description", "RunDescription")):
        value = sheet.header_value(source)
        if value:
            entries.append(Entry(target, value, 0))
    return tuple(entries)


def _settings(sheet: SampleSheet, notes: list[str]) -> tuple[Entry, ...]:
    known = {key.lower(): key for key in KNOWN_SETTINGS} | _RENAMED
    entries = []
    for entry in () if sheet.settings is None else sheet.settings.entries:
        key = known.get(entry.key.lower())
        if key is None:
            notes.append(f"setting {entry.key} dropped: BCL Convert would abort on it in a v2 sheet")
        else:
            entries.append(Entry(key, entry.value, 0))
    return tuple(entries)


def _data(sheet: SampleSheet, flip: bool, notes: list[str]) -> DataTable:
    source = sheet.data
    if source is None:
        return DataTable("BCLConvert_Data", 0)
    columns = tuple(c for c in _COLUMNS if source.has(c))
    dropped = [c for c in source.columns if c and c.lower() not in (k.lower() for k in _COLUMNS)]
    if dropped:
        notes.append(f"columns dropped: {', '.join(dropped)}")
    rows = []
    for row in source.rows:
        cells = tuple(row.text(c) for c in columns)
        if flip and INDEX2 in columns:
            at = columns.index(INDEX2)
            cells = (*cells[:at], _turned(cells[at]), *cells[at + 1 :])
        rows.append(DataRow(0, columns, cells))
    return DataTable("BCLConvert_Data", 0, columns, 0, tuple(rows))


def _turned(index2: str) -> str:
    try:
        return reverse_complement(index2)
    except InvalidValueError:
        return index2  # not a sequence: left for check to report
