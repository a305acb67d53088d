"""Illumina sample sheets as bytes: any bytes, and real v1 and v2 sheets edited cell by cell and saved in every
encoding a lab's tools write.

``tests/unit/hub/test_samplesheet_parse.py`` already parses arbitrary text and sheet-shaped noise. Here the input is
bytes (``parse_bytes``/``check_bytes``, as an upload arrives: byte-order marks, UTF-16, Windows-1252), the sheets are
real ones with a cell replaced, a line dropped or repeated, and whatever parses is also converted to v2 for every
known instrument and rendered. Each step gives its value or raises ``SampleSheetError``.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from hub.samplesheet import (
    PLATFORMS,
    SampleSheetError,
    check,
    check_bytes,
    convert_to_v2,
    parse_bytes,
    parse_text,
    render_sheet,
)
from tests.fuzz.budget import fuzz_settings, typed

DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
MISEQ_SHEET = DATA / "130417_M00146_0021_000000000-A2WDF" / "SampleSheet.csv"
V2 = """[Header]
FileFormatVersion,2
RunName,Run_42
InstrumentPlatform,NovaSeqXSeries

[Reads]
Read1Cycles,151
Read2Cycles,151
Index1Cycles,8
Index2Cycles,8

[BCLConvert_Settings]
OverrideCycles,Y151;I8;I8;Y151
BarcodeMismatchesIndex1,1

[BCLConvert_Data]
Lane,Sample_ID,Index,Index2,Sample_Project
1,S1,AAAAAAAA,CCCCCCCC,P1
2,S2,GGGGGGGG,TTTTTTTT,P1
"""
V1_INDEXED = """[Header]
IEMFileVersion,5
Instrument Type,NextSeq

[Reads]
76
76

[Settings]
Adapter,CTGTCTCTTATACACATCT

[Data]
Sample_ID,Sample_Name,index,index2,I7_Index_ID,I5_Index_ID
S1,One,ACGTACGT,TTGGCCAA,N701,S502
S2,Two,ACGTACGA,TTGGCCAT,N702,S503
"""
SHEETS = [V2, V1_INDEXED] + ([MISEQ_SHEET.read_bytes().decode("utf-8")] if MISEQ_SHEET.is_file() else [])
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom", "cp1252", "latin-1"]
INSTRUMENTS = [None, "unknown box", *(platform.name for platform in PLATFORMS)]

_CELLS = st.one_of(
    st.sampled_from(
        ["", " ", "0", "-1", "999999999999", "Y151;I8;I8;Y151", "Y0", "I8N2", "N*", "Y*;I*", "acgu", "ACGTN" * 20,
         "[Data]", "[Header]", "[", "]", "\"", '"a,b"', ",", "\ufeff", "\x00", "\u00e9", "\U0001f9ea", "1,2,3",
         "FileFormatVersion", "Lane", "Sample_ID", "Index2", "Read1Cycles", "OverrideCycles", "2", "1"]
    ),
    st.text(max_size=12),
)  # fmt: skip


@st.composite
def edited_sheets(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SHEETS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["cell", "cell", "drop", "repeat", "insert"]))
        if edit == "cell":
            cells = lines[at].split(",")
            cells[draw(st.integers(0, len(cells))) % len(cells)] = draw(_CELLS)
            lines[at] = ",".join(cells)
        elif edit == "drop" and len(lines) > 1:
            del lines[at]
        elif edit == "repeat":
            lines.insert(at, lines[at])
        else:
            lines.insert(at, ",".join(draw(st.lists(_CELLS, max_size=5))))
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


def encoded(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be", "surrogatepass")
    return text.encode(encoding, "replace" if encoding in ("cp1252", "latin-1") else "surrogatepass")


def read_check_convert(data: bytes, instrument: str | None) -> None:
    result = typed(lambda: parse_bytes(data), SampleSheetError)
    typed(lambda: check_bytes(data), SampleSheetError)
    if result is None:
        return
    sheet = result.sheet
    typed(lambda: check(sheet), SampleSheetError)
    conversion = typed(lambda: convert_to_v2(sheet, instrument_platform=instrument), SampleSheetError)
    if conversion is not None:
        rendered = render_sheet(conversion.sheet)
        assert parse_text(rendered).sheet.version == 2


@fuzz_settings(250)
@given(text=edited_sheets(), encoding=st.sampled_from(ENCODINGS), instrument=st.sampled_from(INSTRUMENTS))
def test_an_edited_real_sheet_in_any_encoding_reads_checks_and_converts_or_raises_the_typed_error(
    text: str, encoding: str, instrument: str | None
) -> None:
    read_check_convert(encoded(text, encoding), instrument)


@fuzz_settings(250)
@given(
    prefix=st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b"[Header]\r\n"]),
    data=st.binary(max_size=300),
    instrument=st.sampled_from(INSTRUMENTS),
)
@example(prefix=codecs.BOM_UTF16_LE, data=b"A", instrument=None)  # found: odd byte count -> UnicodeDecodeError
@example(prefix=codecs.BOM_UTF16_BE, data=b"\xd8\x00", instrument=None)  # found: lone surrogate -> UnicodeDecodeError
def test_any_bytes_read_or_raise_the_typed_error(prefix: bytes, data: bytes, instrument: str | None) -> None:
    read_check_convert(prefix + data, instrument)
