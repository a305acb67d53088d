"""Generating v2 sheets: round-trips through parse with no problems, applies the instrument's i5 orientation, masks
short indexes, refuses what a sheet cannot hold; and converting a v1 sheet to v2."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.samplesheet import (
    Library,
    Reads,
    RejectedSheetError,
    SheetRequest,
    UnknownInstrumentError,
    build_sheet,
    check,
    check_text,
    convert_to_v2,
    parse_bytes,
    parse_text,
    render_sheet,
)

DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
MISEQ_SHEET = DATA / "130417_M00146_0021_000000000-A2WDF" / "SampleSheet.csv"
LIBRARIES = (
    Library("S1", "ACGTACGT", "AACCGGTA", lane=1, sample_project="P1"),
    Library("S2", "TGCATGCA", "GGTTAACC", lane=1, sample_project="P1"),
    Library("S3", "GGGGAAAA", "CCCCTTTT", lane=2, sample_project="P2"),
)


def request(platform: str = "NovaSeq X", **changes: object) -> SheetRequest:
    base = SheetRequest(
        run_name="Run_42",
        instrument_platform=platform,
        reads=Reads(151, 151, 8, 8),
        libraries=LIBRARIES,
        software_version="4.2.7",
        adapter_read1="CTGTCTCTTATACACATCT",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_generated_sheet_is_v2_and_renders_exactly_this() -> None:
    assert render_sheet(build_sheet(request())) == (
        "[Header]\nFileFormatVersion,2\nRunName,Run_42\nInstrumentPlatform,NovaSeqXSeries\n\n"
        "[Reads]\nRead1Cycles,151\nIndex1Cycles,8\nIndex2Cycles,8\nRead2Cycles,151\n\n"
        "[BCLConvert_Settings]\nSoftwareVersion,4.2.7\nBarcodeMismatchesIndex1,1\nBarcodeMismatchesIndex2,1\n"
        "AdapterRead1,CTGTCTCTTATACACATCT\nOverrideCycles,Y151;I8;I8;Y151\n\n"
        "[BCLConvert_Data]\nLane,Sample_ID,Index,Index2,Sample_Project\n"
        "1,S1,ACGTACGT,AACCGGTA,P1\n1,S2,TGCATGCA,GGTTAACC,P1\n2,S3,GGGGAAAA,CCCCTTTT,P2\n"
    )


def test_a_generated_sheet_round_trips_through_parse_with_no_problems() -> None:
    sheet = build_sheet(request())
    text = render_sheet(sheet)
    parsed = parse_text(text)
    assert parsed.problems == ()
    assert parsed.sheet == sheet
    assert check(parsed.sheet) == []
    assert render_sheet(parsed.sheet) == text


def test_the_same_request_always_renders_the_same_text_and_rows_go_lane_by_lane() -> None:
    shuffled = request(libraries=(LIBRARIES[2], LIBRARIES[0], LIBRARIES[1]))
    assert render_sheet(build_sheet(shuffled)) == render_sheet(build_sheet(shuffled))
    assert [r.lane for r in build_sheet(shuffled).rows] == [1, 1, 2]


@pytest.mark.parametrize(
    ("platform", "index2"),
    [("NovaSeq X", "AACCGGTA"), ("MiSeq", "AACCGGTA"), ("NextSeq 550", "TACCGGTT"), ("NovaSeq 6000", "TACCGGTT")],
)
def test_i5_is_written_the_way_the_instruments_sheet_needs_it(platform: str, index2: str) -> None:
    assert build_sheet(request(platform)).rows[0].index2 == index2


def test_short_indexes_are_masked_with_override_cycles_padding_i5_first_on_reverse_complement_instruments() -> None:
    ten = Reads(151, 151, 10, 10)
    assert build_sheet(request("NovaSeq X", reads=ten)).setting("OverrideCycles") == "Y151;I8N2;I8N2;Y151"
    assert build_sheet(request("NextSeq 550", reads=ten)).setting("OverrideCycles") == "Y151;I8N2;N2I8;Y151"


def test_libraries_with_different_index_lengths_get_a_per_row_override_cycles() -> None:
    mixed = (*LIBRARIES[:2], Library("S3", "GGGGAAAAGG", "", lane=2))
    sheet = build_sheet(request(reads=Reads(151, 151, 10, 8), libraries=mixed))
    assert sheet.setting("OverrideCycles") is None
    assert [row.get("OverrideCycles") for row in sheet.rows] == [
        "Y151;I8N2;I8;Y151",
        "Y151;I8N2;I8;Y151",
        "Y151;I10;N8;Y151",
    ]
    assert check(sheet) == []


def test_a_single_read_run_without_indexes_has_no_index_columns() -> None:
    sheet = build_sheet(request(reads=Reads(75), libraries=(Library("Only"),)))
    assert sheet.data is not None
    assert sheet.data.columns == ("Sample_ID",)
    assert sheet.setting("OverrideCycles") == "Y75"


def test_control_characters_are_stripped_from_text_fields() -> None:
    sheet = build_sheet(request(run_name="Run\x07_42\x00", libraries=(Library("S\x1b1", "ACGTACGT", lane=1),)))
    assert sheet.header_value("RunName") == "Run_42"
    assert sheet.rows[0].sample_id == "S1"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"run_name": "Run,42"}, "bad-value"),
        ({"run_name": "Run\n42"}, "bad-value"),
        ({"run_name": 'Run "42"'}, "bad-value"),
        ({"run_name": ""}, "missing-field"),
        ({"libraries": (Library("S 1", "ACGTACGT"),)}, "bad-sample-id"),
        ({"libraries": (Library("S1", "ACGTACGU"),)}, "bad-index"),
        ({"libraries": (Library("S1", "ACGTACGTAC"),)}, "index-length"),
        ({"libraries": (Library("S1", lane=0),)}, "bad-lane"),
        ({"libraries": (Library("S1", lane=1), Library("S2"))}, "bad-lane"),
        ({"libraries": ()}, "no-samples"),
        ({"reads": Reads(0, 151)}, "bad-number"),
        ({"adapter_read1": "CTGTNNN"}, "bad-setting"),
        ({"barcode_mismatches": (3, 1)}, "bad-setting"),
        ({"libraries": (*LIBRARIES, Library("S4", "ACGTACGA", "AACCGGTT", lane=1))}, "index-collision"),
        ({"libraries": (*LIBRARIES, Library("S1", "TTTTTTTT", "TTTTTTTT", lane=1))}, "duplicate-sample"),
    ],
)
def test_input_a_sheet_cannot_hold_is_refused_with_every_reason(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(RejectedSheetError) as refused:
        build_sheet(request(**changes))
    assert code in {p.code for p in refused.value.problems}, refused.value.problems


def test_an_instrument_without_a_known_orientation_is_refused() -> None:
    with pytest.raises(UnknownInstrumentError):
        build_sheet(request("PacBio Revio"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(alphabet="ACGT", min_size=6, max_size=10), st.text(alphabet="ACGT", min_size=0, max_size=10)),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(["MiSeq", "NextSeq 550", "NovaSeq X", "NovaSeq 6000"]),
)
def test_whatever_is_generated_parses_back_equal_and_clean(indexes: list[tuple[str, str]], platform: str) -> None:
    libraries = tuple(Library(f"S{n}", i7, i5) for n, (i7, i5) in enumerate(indexes))
    refused: set[str] = set()
    try:
        sheet = build_sheet(request(platform, reads=Reads(151, 151, 10, 10), libraries=libraries))
    except RejectedSheetError as exc:
        refused = {p.code for p in exc.problems}
    assert refused <= {"index-collision", "index2-required"}  # only what the random indexes can cause
    if refused:
        return
    text = render_sheet(sheet)
    assert check_text(text).problems == ()
    assert parse_text(text).sheet == sheet


@pytest.mark.skipif(not MISEQ_SHEET.is_file(), reason="shared Illumina data not present")
def test_the_real_v1_sheet_converts_to_a_clean_v2_sheet() -> None:
    conversion = convert_to_v2(parse_bytes(MISEQ_SHEET.read_bytes()).sheet)
    sheet = conversion.sheet
    assert sheet.version == 2
    assert sheet.header_value("RunName") == "Experiment_1"
    assert sheet.reads == Reads(121, 121, None, None)
    assert [row.sample_id for row in sheet.rows] == ["Unique_Sample_ID"]
    assert check(sheet) == []
    assert any("GenomeFolder" in note for note in conversion.notes)


def test_converting_keeps_known_settings_renames_adapter_and_turns_i5_for_flagged_instruments() -> None:
    v1 = (
        "[Header]\nIEMFileVersion,5\nExperiment Name,Exp_1\n[Reads]\n151\n151\n"
        "[Settings]\nAdapter,CTGTCTCTTATACACATCT\nReverseComplement,0\n"
        "[Data]\nSample_ID,index,index2\nA1,AAAAAAAA,AACCGGTA\nA2,GGGGGGGG,TTTTTTTT\n"
    )
    conversion = convert_to_v2(parse_text(v1).sheet, instrument_platform="NextSeq 2000")
    sheet = conversion.sheet
    assert sheet.setting("AdapterRead1") == "CTGTCTCTTATACACATCT"
    assert sheet.setting("ReverseComplement") is None
    assert sheet.reads == Reads(151, 151, 8, 8)
    assert [(r.index, r.index2) for r in sheet.rows] == [("AAAAAAAA", "TACCGGTT"), ("GGGGGGGG", "AAAAAAAA")]
    assert check(sheet) == []
    assert any("ReverseComplement" in note for note in conversion.notes)
    assert convert_to_v2(parse_text(v1).sheet, instrument_platform="NextSeq 550").sheet.rows[0].index2 == "AACCGGTA"
