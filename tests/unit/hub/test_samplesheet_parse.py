"""Parsing v1 (IEM) and v2 (BCL Convert) sheets: the real MiSeq sheet, tolerance of what real files hold, structural
problems with their line and column, and a fuzz that no input makes the parser fail any other way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.samplesheet import (
    Reads,
    UnreadableSheetError,
    check,
    parse_bytes,
    parse_text,
    render_sheet,
)

DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
MISEQ_SHEET = DATA / "130417_M00146_0021_000000000-A2WDF" / "SampleSheet.csv"

V2 = """[Header]
FileFormatVersion,2
RunName,Run_42

[Reads]
Read1Cycles,151
Read2Cycles,151
Index1Cycles,8
Index2Cycles,8

[BCLConvert_Settings]
OverrideCycles,Y151;I8;I8;Y151

[BCLConvert_Data]
Lane,Sample_ID,Index,Index2
1,S1,AAAAAAAA,CCCCCCCC
1,S2,GGGGGGGG,TTTTTTTT
"""


def codes(text: str) -> list[str]:
    return [p.code for p in parse_text(text).problems]


@pytest.mark.skipif(not MISEQ_SHEET.is_file(), reason="shared Illumina data not present")
def test_the_real_miseq_v1_sheet_parses_cleanly_with_its_reads_and_its_one_sample() -> None:
    result = parse_bytes(MISEQ_SHEET.read_bytes())
    sheet = result.sheet
    assert result.problems == ()
    assert check(sheet) == []
    assert sheet.version == 1
    assert sheet.header_value("IEMFileVersion") == "4"
    assert sheet.header_value("experiment name") == "Experiment_1"
    assert sheet.reads == Reads(121, 121, None, None)
    assert sheet.settings is not None
    assert sheet.settings.entries == ()
    assert [row.sample_id for row in sheet.rows] == ["Unique_Sample_ID"]
    row = sheet.rows[0]
    assert row.line == 21
    assert row.get("GenomeFolder") == r"PhiX\Illumina\RTA\Sequence\WholeGenomeFASTA"  # unknown columns are kept
    assert row.index == ""
    assert row.lane is None


def test_a_v2_sheet_gives_its_header_reads_settings_and_rows() -> None:
    result = parse_text(V2)
    sheet = result.sheet
    assert result.problems == ()
    assert sheet.version == 2
    assert sheet.reads == Reads(151, 151, 8, 8)
    assert sheet.setting("OverrideCycles") == "Y151;I8;I8;Y151"
    assert [(r.lane, r.sample_id, r.index, r.index2, r.line) for r in sheet.rows] == [
        (1, "S1", "AAAAAAAA", "CCCCCCCC", 16),
        (1, "S2", "GGGGGGGG", "TTTTTTTT", 17),
    ]


def test_bom_crlf_trailing_commas_blank_lines_and_quotes_read_the_same_as_a_plain_sheet() -> None:
    messy = "\ufeff" + "\r\n".join(
        line + ",,," if line and not line.startswith("[") else line
        for line in V2.replace("RunName,Run_42", 'RunName,"Run_42"').splitlines()
    )
    messy = messy.replace("[Reads]", "\r\n\r\n[Reads],,")
    plain, tolerated = parse_text(V2).sheet, parse_text(messy).sheet
    assert parse_text(messy).problems == ()
    assert tolerated.reads == plain.reads
    assert tolerated.header_value("RunName") == "Run_42"
    assert [r.cells for r in tolerated.rows] == [r.cells for r in plain.rows]


def test_bare_carriage_returns_end_lines_too() -> None:
    assert parse_text(V2.replace("\n", "\r")).sheet.reads == Reads(151, 151, 8, 8)


def test_a_quoted_comma_stays_inside_its_value() -> None:
    sheet = parse_text(V2.replace("RunName,Run_42", 'RunDescription,"a, b"')).sheet
    assert sheet.header_value("RunDescription") == "a, b"


@pytest.mark.parametrize(
    ("text", "code", "line", "column"),
    [
        (V2.replace("[Reads]", "[Header]\nFileFormatVersion,2\n\n[Reads]"), "duplicate-section", 5, None),
        (V2.replace("RunName,Run_42", "RunName,Run_42\nRunName,Other"), "duplicate-key", 4, 1),
        (V2.replace("Lane,Sample_ID", "Lane,Lane,Sample_ID"), "duplicate-column", 15, 2),
        (V2.replace("1,S2,GGGGGGGG,TTTTTTTT", "1,S2,GGGGGGGG,TTTTTTTT,EXTRA"), "extra-cells", 17, 5),
        ("junk\n" + V2, "outside-section", 1, 1),
        (V2.replace("[Reads]", "[Reads"), "bad-section-line", 5, 1),
        (V2.replace("Read2Cycles,151", "Read2Cycles,abc"), "bad-number", 7, 2),
        (V2.replace("Read2Cycles,151", "151"), "bare-read", 7, 1),
        (V2.replace("Read2Cycles,151", "ReadTwo,151"), "unknown-key", 7, 1),
        (V2.replace("RunName,Run_42", ',"x"'), "missing-key", 3, 1),
        (V2.replace("RunName,Run_42", 'RunName,"Run\n42"'), "multiline-value", 3, None),
        (V2.replace("FileFormatVersion,2", "FileFormatVersion,3"), "bad-version", 2, None),
    ],
)
def test_structural_problems_name_their_line_and_column(text: str, code: str, line: int, column: int | None) -> None:
    problems = [p for p in parse_text(text).problems if p.code == code]
    assert problems, parse_text(text).problems
    assert (problems[0].line, problems[0].column) == (line, column)
    assert problems[0].severity == "error"


def test_the_version_comes_from_the_header_then_from_the_section_names() -> None:
    assert parse_text("[Header]\nIEMFileVersion,5\n[Data]\nSample_ID\nA\n").sheet.version == 1
    assert parse_text("[Header]\n[BCLConvert_Data]\nSample_ID\nA\n").sheet.version == 2
    assert parse_text("[Header]\n[Data]\nSample_ID\nA\n").sheet.version == 1


def test_sections_it_does_not_interpret_are_kept_and_rendered_back() -> None:
    text = V2 + "\n[Cloud_Data]\nSample_ID,ProjectName\nS1,proj\n"
    sheet = parse_text(text).sheet
    assert [(s.name, s.rows) for s in sheet.other] == [("Cloud_Data", (("Sample_ID", "ProjectName"), ("S1", "proj")))]
    assert render_sheet(sheet).endswith("[Cloud_Data]\nSample_ID,ProjectName\nS1,proj\n")


@pytest.mark.parametrize(
    "text",
    ["", "just some text\n", "a,b,c\n1,2,3\n", "Sample_ID,Index\nA,ACGT\n", "[Header]\x00\n"],
)
def test_text_that_is_no_sample_sheet_raises_the_one_typed_error(text: str) -> None:
    with pytest.raises(UnreadableSheetError):
        parse_text(text)


def test_bytes_in_windows_1252_are_read_with_a_warning_and_utf16_too() -> None:
    latin = parse_bytes(V2.replace("Run_42", "Run_42\nRunDescription,5 µl").encode("cp1252"))
    assert latin.sheet.header_value("RunDescription") == "5 µl"
    assert [p.code for p in latin.problems] == ["encoding"]
    wide = parse_bytes(V2.encode("utf-16"))
    assert wide.sheet.reads == Reads(151, 151, 8, 8)
    assert [p.code for p in wide.problems] == ["encoding"]


def test_bytes_that_are_not_text_raise_the_typed_error() -> None:
    with pytest.raises(UnreadableSheetError):
        parse_bytes(b"\x81\x8d\x8f\x90\x9d")


_TOKENS = st.sampled_from(
    [
        "[Header]",
        "[Reads]",
        "[BCLConvert_Settings]",
        "[BCLConvert_Data]",
        "[Settings]",
        "[Data]",
        "[Cloud_Data]",
        "FileFormatVersion,2",
        "IEMFileVersion,4",
        "Read1Cycles,151",
        "Index1Cycles,8",
        "Index2Cycles,0",
        "151",
        "OverrideCycles,Y151;I8;I8;Y151",
        "OverrideCycles,U8Y143;I8N2",
        "BarcodeMismatchesIndex1,2",
        "Lane,Sample_ID,Index,Index2,OverrideCycles",
        "Sample_ID,index,index2",
        "1,S1,ACGTACGT,TTTTAAAA",
        "1,S1,ACGTACGA,TTTTAAAT,Y151;I7N1;I8",
        "x,S 2,acgu,,",
        "",
    ]
)
_NOISE = st.text(alphabet=',"[]\r\n ACGTYIUN0123456789;_-aZ\ufeff\x00\t', max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_gives_a_result_or_the_typed_error(text: str) -> None:
    _parse_check_render(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_TOKENS, _NOISE), max_size=30).map("\n".join))
def test_sheet_shaped_noise_gives_a_result_or_the_typed_error_and_renders_stably(text: str) -> None:
    _parse_check_render(text)


def _parse_check_render(text: str) -> None:
    try:
        sheet = parse_text(text).sheet
    except UnreadableSheetError:
        return
    check(sheet)
    rendered = render_sheet(sheet)
    again = parse_text(rendered).sheet
    assert render_sheet(again) == rendered
    assert again.reads == sheet.reads
    assert [r.cells for r in again.rows] == [r.cells for r in sheet.rows]
