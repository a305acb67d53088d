"""The OverrideCycles grammar and its fit against [Reads]."""

from __future__ import annotations

import pytest

from hub.samplesheet import OverrideCyclesError, Reads, parse_override_cycles
from hub.samplesheet.cycles import index_lengths, index_mask, mask_mismatches

PAIRED_DUAL = Reads(151, 151, 8, 8)


@pytest.mark.parametrize(
    ("text", "shown", "cycles", "index_cycles"),
    [
        ("Y151;I8;I8;Y151", ["Y151", "I8", "I8", "Y151"], [151, 8, 8, 151], [0, 8, 8, 0]),
        ("U8Y143;I8;I8;U8Y143", ["U8Y143", "I8", "I8", "U8Y143"], [151, 8, 8, 151], [0, 8, 8, 0]),
        ("N2Y149;I8N2;N2I8;Y151", ["N2Y149", "I8N2", "N2I8", "Y151"], [151, 10, 10, 151], [0, 8, 8, 0]),
        ("Y151", ["Y151"], [151], [0]),
        (" y151 ; i10 ", ["Y151", "I10"], [151, 10], [0, 10]),
        ("Y150;I8U9;I8;Y150", ["Y150", "I8U9", "I8", "Y150"], [150, 17, 8, 150], [0, 8, 8, 0]),
    ],
)
def test_masks_parse_into_segments(text: str, shown: list[str], cycles: list[int], index_cycles: list[int]) -> None:
    masks = parse_override_cycles(text)
    assert [str(m) for m in masks] == shown
    assert [m.cycles for m in masks] == cycles
    assert [m.count("I") for m in masks] == index_cycles


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("Y151;;Y151", "read 2"),
        ("Y151;I8;Q8;Y151", "read 3"),
        ("Y151;I8 N2", "read 2"),
        ("151", "read 1"),
        ("Y", "read 1"),
        ("Y0;I8", "counts start at 1"),
        ("Y151;I8;I8;Y151;", "read 5"),
        ("Y١٥١", "read 1"),
    ],
)
def test_bad_masks_are_refused_naming_the_read(text: str, why: str) -> None:
    with pytest.raises(OverrideCyclesError, match=why):
        parse_override_cycles(text)


def test_masks_that_fit_the_reads_give_the_index_lengths() -> None:
    masks = parse_override_cycles("Y151;I8N2;N2I6;Y151")
    reads = Reads(151, 151, 10, 8)
    assert mask_mismatches(masks, reads) == []
    assert index_lengths(masks, reads) == (8, 6)


@pytest.mark.parametrize(
    ("text", "reads", "why"),
    [
        ("Y151;I8;I8;Y151", Reads(151, 151, 8, 0), "4 reads but [Reads] has 3"),
        ("Y151;I8;I8;Y150", PAIRED_DUAL, "covers 150 cycles but Read2Cycles is 151"),
        ("Y151;Y8;I8;Y151", PAIRED_DUAL, "sequence (Y) in the Index1Cycles read"),
        ("I8Y143;I8;I8;Y151", PAIRED_DUAL, "index cycles (I) in the Read1Cycles read"),
    ],
)
def test_masks_that_do_not_fit_the_reads_say_why(text: str, reads: Reads, why: str) -> None:
    mismatches = mask_mismatches(parse_override_cycles(text), reads)
    assert any(why in m for m in mismatches), mismatches
    assert index_lengths(parse_override_cycles(text), reads) is None


def test_index_masks_pad_after_the_index_or_before_it_when_read_from_the_far_end() -> None:
    assert index_mask(8, 8, pad_first=False) == "I8"
    assert index_mask(8, 10, pad_first=False) == "I8N2"
    assert index_mask(8, 10, pad_first=True) == "N2I8"
    assert index_mask(0, 10, pad_first=True) == "N10"
