"""Every check fires on a sheet crafted to break it, names the line and field, and stays quiet on the clean sheet."""

from __future__ import annotations

import pytest

from hub.samplesheet import Problem, check, check_text

CLEAN = """[Header]
FileFormatVersion,2
RunName,Run_42
InstrumentPlatform,NovaSeqXSeries

[Reads]
Read1Cycles,151
Read2Cycles,151
Index1Cycles,8
Index2Cycles,8

[BCLConvert_Settings]
SoftwareVersion,4.2.7
BarcodeMismatchesIndex1,1
BarcodeMismatchesIndex2,1
AdapterRead1,CTGTCTCTTATACACATCT
OverrideCycles,Y151;I8;I8;Y151

[BCLConvert_Data]
Lane,Sample_ID,Index,Index2,Sample_Project
1,S1,AAAAAAAA,CCCCCCCC,P1
1,S2,GGGGGGGG,TTTTTTTT,P1
2,S1,AAAAAAAA,CCCCCCCC,P1
2,S3,ACACACAC,GTGTGTGT,P2
"""
S2_LINE = 22  # 1,S2,GGGGGGGG,TTTTTTTT,P1

V1 = """[Header]
IEMFileVersion,5
Experiment Name,Exp_1

[Reads]
151
151

[Settings]
Adapter,CTGTCTCTTATACACATCT

[Data]
Sample_ID,Sample_Name,index,index2,Sample_Project
A1,a,AAAAAAAA,CCCCCCCC,P
A2,b,GGGGGGGG,TTTTTTTT,P
"""


def problems(text: str) -> list[Problem]:
    return list(check_text(text).problems)


def test_the_clean_v2_and_v1_sheets_have_no_problems() -> None:
    assert problems(CLEAN) == []
    assert problems(V1) == []


@pytest.mark.parametrize(
    ("old", "new", "code", "line", "field"),
    [
        ("1,S2,GGGGGGGG", "1,S1,GGGGGGGG", "duplicate-sample", S2_LINE, "Sample_ID"),
        ("1,S2,", "1,S.2,", "bad-sample-id", S2_LINE, "Sample_ID"),
        ("1,S2,", "1,,", "missing-sample-id", S2_LINE, "Sample_ID"),
        ("TTTTTTTT,P1", "TTTTTTTT,P 1", "bad-sample-project", S2_LINE, "Sample_Project"),
        ("1,S2,GGGGGGGG", "1,S2,GGGGGGGX", "bad-index", S2_LINE, "Index"),
        ("1,S2,GGGGGGGG", "1,S2,GGGGGG", "index-length", S2_LINE, "Index"),
        ("GGGGGGGG,TTTTTTTT", "GGGGGGGG,TTTTTTTTTT", "index-length", S2_LINE, "Index2"),
        ("1,S2,GGGGGGGG", "1,S2,", "index-required", S2_LINE, "Index"),
        ("GGGGGGGG,TTTTTTTT", "GGGGGGGG,", "index2-required", S2_LINE, "Index2"),
        ("1,S2,GGGGGGGG,TTTTTTTT", "1,S2,AAAAAAAT,CCCCCCCA", "index-collision", S2_LINE, "Index"),
        ("1,S2,GGGGGGGG", "x,S2,GGGGGGGG", "bad-lane", S2_LINE, "Lane"),
        ("1,S2,GGGGGGGG", ",S2,GGGGGGGG", "bad-lane", S2_LINE, "Lane"),
        ("OverrideCycles,Y151;I8;I8;Y151", "OverrideCycles,Y151;I8;I8;Y150", "override-cycles-mismatch", 17, None),
        ("OverrideCycles,Y151;I8;I8;Y151", "OverrideCycles,Y151;I8;Y151", "override-cycles-mismatch", 17, None),
        ("OverrideCycles,Y151;I8;I8;Y151", "OverrideCycles,Y151;Y8;I8;Y151", "override-cycles-mismatch", 17, None),
        ("OverrideCycles,Y151;I8;I8;Y151", "OverrideCycles,I8Y143;I8;I8;Y151", "override-cycles-mismatch", 17, None),
        ("OverrideCycles,Y151;I8;I8;Y151", "OverrideCycles,Y151;I8;Q8;Y151", "bad-override-cycles", 17, None),
        ("SoftwareVersion,4.2.7", "SoftwareVersion,4.2.7\nFastqCompression,gzip", "unknown-setting", 14, None),
        ("BarcodeMismatchesIndex1,1", "BarcodeMismatchesIndex1,3", "bad-setting", 14, None),
        ("AdapterRead1,CTGTCTCTTATACACATCT", "AdapterRead1,CTGU", "bad-setting", 16, None),
        ("AdapterRead1,CTGTCTCTTATACACATCT", "AdapterBehavior,trim", "bad-setting", 16, None),
        ("FileFormatVersion,2\n", "", "missing-field", 1, "FileFormatVersion"),
        ("Read1Cycles,151\n", "", "missing-field", 6, "Read1Cycles"),
        ("Read1Cycles,151", "Read1Cycles,0", "bad-number", 7, "Read1Cycles"),
        ("Lane,Sample_ID,", "Lane,SampleName,", "missing-column", 20, "Sample_ID"),
    ],
)
def test_each_check_fires_on_a_crafted_sheet(old: str, new: str, code: str, line: int, field: str | None) -> None:
    assert old in CLEAN
    found = [p for p in problems(CLEAN.replace(old, new, 1)) if p.code == code]
    assert found, problems(CLEAN.replace(old, new, 1))
    problem = found[0]
    assert problem.line == line
    if field is not None:
        assert problem.field == field
    assert problem.severity == "error"


def test_every_problem_is_listed_not_just_the_first() -> None:
    broken = CLEAN.replace("1,S2,GGGGGGGG,", "1,S.2,GGGGGGGX,").replace("2,S3,ACACACAC", "2,S1,ACACACAC")
    broken = broken.replace("BarcodeMismatchesIndex1,1", "BarcodeMismatchesIndex1,9")
    assert {p.code for p in problems(broken)} >= {"bad-sample-id", "bad-index", "duplicate-sample", "bad-setting"}


def test_missing_sections_are_reported_without_a_line() -> None:
    text = CLEAN.split("[BCLConvert_Settings]")[0]
    found = problems(text)
    assert [(p.code, p.section, p.line) for p in found] == [
        ("missing-section", "BCLConvert_Settings", None),
        ("missing-section", "BCLConvert_Data", None),
    ]


def test_an_unknown_setting_is_an_error_in_v2_and_a_warning_in_v1_and_names_the_known_keys() -> None:
    v2 = [p for p in problems(CLEAN.replace("SoftwareVersion,4.2.7", "Foo,1")) if p.code == "unknown-setting"]
    v1 = [p for p in problems(V1.replace("Adapter,", "Foo,")) if p.code == "unknown-setting"]
    assert [p.severity for p in v2] == ["error"]
    assert [p.severity for p in v1] == ["warning"]
    assert "OverrideCycles" in v2[0].message
    assert "BarcodeMismatchesIndex1" in v2[0].message


def test_a_collision_names_both_samples_their_lines_and_the_distances() -> None:
    text = CLEAN.replace("1,S2,GGGGGGGG,TTTTTTTT", "1,S2,AAAAAAGG,CCCCCCCA")
    (found,) = [p for p in problems(text) if p.code == "index-collision"]
    assert "S1 (line 21) and S2 (line 22)" in found.message
    assert "Index distance 2, Index2 distance 1" in found.message
    assert "lane 1" in found.message


def test_one_well_separated_index_is_enough_to_tell_two_samples_apart() -> None:
    text = CLEAN.replace("1,S2,GGGGGGGG,TTTTTTTT", "1,S2,AAAAAAAA,GGGGGGGG")  # same i7, i5 far apart
    assert problems(text) == []


def test_allowing_no_mismatches_accepts_barcodes_one_apart() -> None:
    close = CLEAN.replace("1,S2,GGGGGGGG,TTTTTTTT", "1,S2,AAAAAAAT,CCCCCCCA")
    assert any(p.code == "index-collision" for p in problems(close))
    strict = close.replace("BarcodeMismatchesIndex1,1", "BarcodeMismatchesIndex1,0")
    strict = strict.replace("BarcodeMismatchesIndex2,1", "BarcodeMismatchesIndex2,0")
    assert problems(strict) == []


def test_the_same_sample_in_two_lanes_is_fine_but_not_twice_in_one() -> None:
    assert problems(CLEAN) == []
    no_lanes = "\n".join(line.partition(",")[2] if line[:2] in ("1,", "2,") else line for line in CLEAN.splitlines())
    no_lanes = no_lanes.replace("Lane,Sample_ID", "Sample_ID")
    found = [p for p in problems(no_lanes) if p.code == "duplicate-sample"]
    assert [p.line for p in found] == [23]
    assert "every lane" in found[0].message


def test_shorter_indexes_pass_when_override_cycles_masks_the_extra_cycles() -> None:
    longer = CLEAN.replace("Index1Cycles,8", "Index1Cycles,10").replace("Index2Cycles,8", "Index2Cycles,10")
    assert {p.code for p in problems(longer)} == {"override-cycles-mismatch", "index-length"}
    masked = longer.replace("OverrideCycles,Y151;I8;I8;Y151", "OverrideCycles,Y151;I8N2;N2I8;Y151")
    assert problems(masked) == []
    unmasked = masked.replace("OverrideCycles,Y151;I8N2;N2I8;Y151\n", "")
    hints = [p.message for p in problems(unmasked) if p.code == "index-length"]
    assert hints
    assert all("OverrideCycles" in h for h in hints)


def test_a_per_row_override_cycles_sets_that_rows_index_length() -> None:
    text = CLEAN.replace("Index1Cycles,8", "Index1Cycles,10").replace("Index2Cycles,8", "Index2Cycles,10")
    text = text.replace("OverrideCycles,Y151;I8;I8;Y151\n", "")
    text = text.replace("Sample_Project\n", "Sample_Project,OverrideCycles\n")
    text = "\n".join(line + ",Y151;I8N2;I8N2;Y151" if line[:2] in ("1,", "2,") else line for line in text.splitlines())
    assert problems(text) == []
    wrong = text.replace("1,S2,GGGGGGGG,TTTTTTTT,P1,Y151;I8N2;I8N2;Y151", "1,S2,GGGGGGGG,TTTTTTTT,P1,Y151;I8N2;I8N2")
    assert [(p.code, p.line) for p in problems(wrong)] == [
        ("override-cycles-mismatch", S2_LINE - 1),  # the mask no longer fits, so the Index1Cycles rule applies
        ("index-length", S2_LINE - 1),
        ("index-length", S2_LINE - 1),
    ]


def test_an_index2_given_for_a_run_without_index2_cycles_is_an_error() -> None:
    text = CLEAN.replace("Index2Cycles,8\n", "").replace("Y151;I8;I8;Y151", "Y151;I8;Y151")
    found = [p for p in problems(text) if p.code == "index-length"]
    assert {p.field for p in found} == {"Index2"}


def test_a_lane_with_one_sample_needs_no_index() -> None:
    text = CLEAN.replace("1,S2,GGGGGGGG,TTTTTTTT,P1\n", "").replace("1,S1,AAAAAAAA,CCCCCCCC", "1,S1,,")
    assert problems(text) == []


def test_v1_indexes_in_a_lane_must_agree_in_length_and_sections_of_the_other_version_are_flagged() -> None:
    text = V1.replace("A2,b,GGGGGGGG", "A2,b,GGGGGG")
    assert [(p.code, p.line, p.field) for p in problems(text)] == [("index-length", 15, "Index")]
    mixed = CLEAN + "\n[Data]\nSample_ID\nX\n"
    assert [(p.code, p.severity) for p in problems(mixed)] == [("ignored-section", "warning")]


def test_lower_case_indexes_and_override_cycles_are_warnings_not_errors() -> None:
    text = CLEAN.replace("1,S2,GGGGGGGG", "1,S2,gggggggg").replace("Y151;I8;I8;Y151", "y151;i8;i8;y151")
    assert sorted((p.code, p.severity) for p in problems(text)) == [
        ("index-case", "warning"),
        ("override-cycles-case", "warning"),
    ]


def test_check_on_a_parsed_sheet_and_check_text_agree() -> None:
    report = check_text(CLEAN.replace("1,S2,", "1,S.2,"))
    assert check(report.sheet) == list(report.problems)
    assert not report.ok
    assert report.to_dict()["errors"] == 1
