"""Build a v2 sample sheet for BCL Convert from typed inputs.

Libraries carry i7 and i5 as the index kit lists them (forward strand); the generator writes i5 the way the
instrument's BCL Convert sheet needs it (``orientation``). Index reads longer than a library's index are masked with
``OverrideCycles`` (``I8N2``; ``N2I8`` for an i5 read from its far end) — in ``[BCLConvert_Settings]`` when every
library shares one mask, else per row (BCL Convert 4.1+). Text is cleaned (control characters stripped) and commas,
quotes and line breaks are refused. The result is rendered, parsed back and checked: ``build_sheet`` returns a sheet
with no problems at all or raises ``RejectedSheetError`` listing every one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from hub.samplesheet.barcodes import BASES, reverse_complement
from hub.samplesheet.check import check_text
from hub.samplesheet.cycles import index_mask
from hub.samplesheet.errors import RejectedSheetError
from hub.samplesheet.model import (
    INDEX,
    INDEX2,
    LANE,
    OVERRIDE_CYCLES,
    SAMPLE_ID,
    SAMPLE_PROJECT,
    DataRow,
    DataTable,
    Entry,
    Findings,
    KeyValues,
    Reads,
    SampleSheet,
)
from hub.samplesheet.orientation import REVERSE, Platform, find_platform
from hub.samplesheet.render import render_sheet
from hub.samplesheet.rows import NAME


@dataclass(frozen=True, slots=True)
class Library:
    """One library to sequence. ``i7``/``i5`` as the kit lists them; ``requested_reads`` is for lane packing."""

    sample_id: str
    i7: str = ""
    i5: str = ""
    lane: int | None = None
    sample_project: str = ""
    requested_reads: int = 0


@dataclass(frozen=True, slots=True)
class SheetRequest:
    run_name: str
    instrument_platform: str
    reads: Reads
    libraries: Sequence[Library]
    software_version: str = ""
    run_description: str = ""
    adapter_read1: str = ""
    adapter_read2: str = ""
    barcode_mismatches: tuple[int, int] = (1, 1)


def build_sheet(request: SheetRequest) -> SampleSheet:
    """The checked v2 sheet (as parsed back from its rendering). Raises ``UnknownInstrumentError`` for an instrument
    without a known i5 orientation and ``RejectedSheetError`` listing every problem with the input."""
    platform = find_platform(request.instrument_platform)
    found = Findings()
    reads = _reads(request.reads, found)
    header = [Entry("FileFormatVersion", "2", 0), Entry("RunName", clean_text(request.run_name, "RunName", found), 0)]
    header.append(Entry("InstrumentPlatform", platform.header_value, 0))
    if not header[1].value:
        found.add("error", "missing-field", None, "the run needs a name (RunName)", field="RunName")
    if request.run_description:
        header.append(Entry("RunDescription", clean_text(request.run_description, "RunDescription", found), 0))
    libraries = [_library(lib, reads, platform, found) for lib in request.libraries]
    if not libraries:
        found.add("error", "no-samples", None, "no libraries to put in the sheet")
    if len({lib.lane is None for lib in libraries}) > 1:
        found.add("error", "bad-lane", None, "give every library a lane, or none (then each is in every lane)")
    if found.problems:
        raise RejectedSheetError(found.problems)
    masks = [_mask(reads, len(lib.i7), len(lib.i5), platform) for lib in libraries]
    shared = masks[0] if len(set(masks)) == 1 else None
    sheet = SampleSheet(
        version=2,
        header=KeyValues("Header", 0, tuple(header)),
        reads_section=KeyValues("Reads", 0, tuple(Entry(k, str(v), 0) for k, v, _ in reads.present())),
        reads=reads,
        settings=KeyValues("BCLConvert_Settings", 0, _settings(request, reads, shared, found)),
        data=_data(libraries, masks if shared is None else None, reads),
    )
    report = check_text(render_sheet(sheet))
    if found.problems or report.problems:
        raise RejectedSheetError([*found.problems, *report.problems])
    return report.sheet


def clean_text(value: str, field: str, found: Findings) -> str:
    """``value`` without control characters or surrounding spaces; commas, quotes and line breaks are refused."""
    refused = sorted({ch for ch in value if ch in ',"\r\n'})
    if refused:
        message = f"{field} {value!r} holds {', '.join(map(repr, refused))}, which a sample sheet cannot hold"
        found.add("error", "bad-value", None, message, field=field)
        return ""
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cc").strip()


def _reads(reads: Reads, found: Findings) -> Reads:
    values = [reads.read1_cycles, reads.read2_cycles, reads.index1_cycles, reads.index2_cycles]
    if not reads.read1_cycles or any(v is not None and v < 0 for v in values):
        found.add("error", "bad-number", None, f"cycles must be whole numbers, Read1Cycles at least 1: {reads}")
    return Reads(*(v or 0 for v in values))


def _library(lib: Library, reads: Reads, platform: Platform, found: Findings) -> Library:
    sample_id = clean_text(lib.sample_id, SAMPLE_ID, found)
    if not NAME.fullmatch(sample_id):
        message = f"Sample_ID {lib.sample_id!r} may hold only letters, digits, - and _"
        found.add("error", "bad-sample-id", None, message, field=SAMPLE_ID)
    project = clean_text(lib.sample_project, SAMPLE_PROJECT, found)
    if project and not NAME.fullmatch(project):
        message = f"Sample_Project {lib.sample_project!r} of {sample_id} may hold only letters, digits, - and _"
        found.add("error", "bad-sample-project", None, message, field=SAMPLE_PROJECT)
    if lib.lane is not None and lib.lane < 1:
        found.add("error", "bad-lane", None, f"lane {lib.lane} of {sample_id}: lanes count from 1", field=LANE)
    i7 = _index(sample_id, "i7", lib.i7, reads.index1_cycles or 0, found)
    i5 = _index(sample_id, "i5", lib.i5, reads.index2_cycles or 0, found)
    if i5 and platform.sheet == REVERSE:
        i5 = reverse_complement(i5)
    return Library(sample_id, i7, i5, lib.lane, project, lib.requested_reads)


def _index(sample_id: str, name: str, value: str, cycles: int, found: Findings) -> str:
    index = clean_text(value, name, found).upper()
    if not index:
        return ""
    bad = sorted(set(index) - BASES)
    if bad:
        found.add("error", "bad-index", None, f"{name} {value!r} of {sample_id} holds {', '.join(bad)}; use ACGTN")
        return ""
    if len(index) > cycles:
        key = "Index1Cycles" if name == "i7" else "Index2Cycles"
        found.add("error", "index-length", None, f"{name} {index} of {sample_id} is longer than {key} ({cycles})")
        return ""
    return index


def _mask(reads: Reads, i7_length: int, i5_length: int, platform: Platform) -> str:
    parts = [f"Y{reads.read1_cycles}"]
    if reads.index1_cycles:
        parts.append(index_mask(i7_length, reads.index1_cycles, pad_first=False))
    if reads.index2_cycles:
        parts.append(index_mask(i5_length, reads.index2_cycles, pad_first=platform.sheet == REVERSE))
    if reads.read2_cycles:
        parts.append(f"Y{reads.read2_cycles}")
    return ";".join(parts)


def _settings(request: SheetRequest, reads: Reads, shared: str | None, found: Findings) -> tuple[Entry, ...]:
    entries = []
    if request.software_version:
        entries.append(Entry("SoftwareVersion", clean_text(request.software_version, "SoftwareVersion", found), 0))
    for number, cycles in enumerate((reads.index1_cycles, reads.index2_cycles), start=1):
        if cycles:
            mismatches = request.barcode_mismatches[number - 1]
            entries.append(Entry(f"BarcodeMismatchesIndex{number}", str(mismatches), 0))
    for key, adapter in (("AdapterRead1", request.adapter_read1), ("AdapterRead2", request.adapter_read2)):
        if adapter:
            entries.append(Entry(key, clean_text(adapter, key, found).upper(), 0))
    if shared is not None:
        entries.append(Entry(OVERRIDE_CYCLES, shared, 0))
    return tuple(entries)


def _data(libraries: list[Library], masks: list[str] | None, reads: Reads) -> DataTable:
    columns = [SAMPLE_ID]
    if libraries[0].lane is not None:
        columns.insert(0, LANE)
    if reads.index1_cycles and any(lib.i7 for lib in libraries):
        columns.append(INDEX)
    if reads.index2_cycles and any(lib.i5 for lib in libraries):
        columns.append(INDEX2)
    if any(lib.sample_project for lib in libraries):
        columns.append(SAMPLE_PROJECT)
    if masks is not None:
        columns.append(OVERRIDE_CYCLES)
    ordered = sorted(zip(libraries, masks or [""] * len(libraries), strict=True), key=lambda pair: pair[0].lane or 0)
    rows = tuple(DataRow(0, tuple(columns), tuple(_cell(c, lib, mask) for c in columns)) for lib, mask in ordered)
    return DataTable("BCLConvert_Data", 0, tuple(columns), 0, rows)


def _cell(column: str, lib: Library, mask: str) -> str:
    cells = {
        LANE: str(lib.lane),
        SAMPLE_ID: lib.sample_id,
        INDEX: lib.i7,
        INDEX2: lib.i5,
        SAMPLE_PROJECT: lib.sample_project,
        OVERRIDE_CYCLES: mask,
    }
    return cells[column]
