"""Hamming distance, BCL Convert's 2m+1 collision rule, reverse complement and the i5 orientation table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.samplesheet import (
    PLATFORMS,
    Barcoded,
    InvalidValueError,
    UnknownInstrumentError,
    collision,
    find_collisions,
    find_platform,
    hamming,
    i5_orientation,
    reverse_complement,
)
from hub.samplesheet.orientation import sheet_index2

barcodes = st.text(alphabet="ACGTN", min_size=0, max_size=12)


@st.composite
def at_distance(draw: st.DrawFn) -> tuple[str, str, int]:
    """A barcode of 8–12 bases and a copy changed at exactly k positions."""
    first = draw(st.text(alphabet="ACGT", min_size=8, max_size=12))
    k = draw(st.integers(0, len(first)))
    positions = draw(st.permutations(range(len(first))))[:k]
    second = list(first)
    for at in positions:
        second[at] = draw(st.sampled_from([b for b in "ACGT" if b != first[at]]))
    return first, "".join(second), k


@given(barcodes, barcodes)
def test_distance_is_symmetric(a: str, b: str) -> None:
    assert hamming(a, b) == hamming(b, a)


@given(barcodes)
def test_a_barcode_is_at_distance_zero_from_itself(a: str) -> None:
    assert hamming(a, a) == 0


@given(at_distance())
def test_reverse_complementing_both_keeps_the_distance(pair: tuple[str, str, int]) -> None:
    a, b, k = pair
    assert hamming(a, b) == k
    assert hamming(reverse_complement(a), reverse_complement(b)) == k


@given(barcodes)
def test_reverse_complement_undoes_itself(a: str) -> None:
    assert reverse_complement(reverse_complement(a)) == a


@given(at_distance(), st.integers(0, 2))
def test_single_indexes_collide_exactly_when_at_most_2m_apart(pair: tuple[str, str, int], m: int) -> None:
    a, b, k = pair
    hit = collision(Barcoded("A", a), Barcoded("B", b), (m, m))
    assert (hit is not None) == (k <= 2 * m)


@given(st.integers(0, 2), st.integers(0, 2), st.data())
def test_a_pair_at_2m_plus_1_passes_and_at_2m_fails(m1: int, m2: int, data: st.DataObject) -> None:
    i7 = data.draw(st.text(alphabet="ACGT", min_size=8, max_size=10))
    i5 = data.draw(st.text(alphabet="ACGT", min_size=8, max_size=10))

    def changed(seq: str, k: int) -> str:
        return "".join({"A": "C", "C": "G", "G": "T", "T": "A"}[c] if i < k else c for i, c in enumerate(seq))

    first = Barcoded("A", i7, i5)
    assert collision(first, Barcoded("B", changed(i7, 2 * m1), changed(i5, 2 * m2)), (m1, m2)) is not None
    assert collision(first, Barcoded("B", changed(i7, 2 * m1 + 1), changed(i5, 0)), (m1, m2)) is None
    assert collision(first, Barcoded("B", changed(i7, 0), changed(i5, 2 * m2 + 1)), (m1, m2)) is None


@settings(max_examples=60)
@given(at_distance(), at_distance(), st.integers(0, 2), st.integers(0, 2))
def test_dual_indexes_collide_only_when_both_are_too_close(
    p7: tuple[str, str, int], p5: tuple[str, str, int], m1: int, m2: int
) -> None:
    hit = collision(Barcoded("A", p7[0], p5[0]), Barcoded("B", p7[1], p5[1]), (m1, m2))
    assert (hit is not None) == (p7[2] <= 2 * m1 and p5[2] <= 2 * m2)
    if hit is not None:
        assert (hit.distance1, hit.distance2) == (p7[2], p5[2])


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.text(alphabet="ACG", min_size=2, max_size=8), st.text(alphabet="AC", max_size=6)), max_size=25
    ),
    st.integers(0, 2),
    st.integers(0, 2),
)
def test_find_collisions_finds_exactly_the_pairs_a_full_pairwise_comparison_finds(
    indexes: list[tuple[str, str]], m1: int, m2: int
) -> None:
    samples = [Barcoded(f"s{n}", i7, i5) for n, (i7, i5) in enumerate(indexes)]
    every_pair = [
        (a.name, b.name) for n, a in enumerate(samples) for b in samples[n + 1 :] if collision(a, b, (m1, m2))
    ]
    assert [(h.first.name, h.second.name) for h in find_collisions(samples, (m1, m2))] == every_pair


def test_a_sample_without_index2_is_compared_on_index1_only() -> None:
    hit = collision(Barcoded("A", "AAAAAAAA", "CCCCCCCC"), Barcoded("B", "AAAAAAAT"))
    assert hit is not None
    assert hit.distance2 is None
    assert "Index2 not compared" in hit.describe()


def test_find_collisions_lists_every_pair_in_order() -> None:
    samples = [
        Barcoded("A", "AAAAAAAA"),
        Barcoded("B", "AAAAAAAT"),
        Barcoded("C", "GGGGGGGG"),
        Barcoded("D", "AAAAAATT"),
    ]
    assert [(h.first.name, h.second.name) for h in find_collisions(samples)] == [("A", "B"), ("A", "D"), ("B", "D")]


def test_reverse_complement_keeps_case_and_refuses_other_letters() -> None:
    assert reverse_complement("AACCGGTN") == "NACCGGTT"
    assert reverse_complement("acgtn") == "nacgt"
    with pytest.raises(InvalidValueError, match="'U'"):
        reverse_complement("ACGU")


@pytest.mark.parametrize(
    ("platform", "orientation"),
    [
        ("MiSeq", "forward"),
        ("HiSeq 2500", "forward"),
        ("NovaSeq 6000 v1.0", "forward"),
        ("MiSeq i100 Series", "forward"),
        ("MiniSeq Rapid", "forward"),
        ("NovaSeq 6000", "reverse_complement"),
        ("NovaSeq 6000 v1.5 reagents", "reverse_complement"),
        ("NextSeq 550", "reverse_complement"),
        ("NextSeq 500/550", "reverse_complement"),
        ("MiniSeq", "reverse_complement"),
        ("iSeq 100", "reverse_complement"),
        ("HiSeq X", "reverse_complement"),
        ("HiSeq 3000/4000", "reverse_complement"),
        ("NextSeq 1000/2000", "forward"),
        ("NextSeq1k2k", "forward"),
        ("NovaSeq X Plus", "forward"),
        ("NovaSeqXSeries", "forward"),
        ("novaseq x", "forward"),
    ],
)
def test_the_i5_orientation_table(platform: str, orientation: str) -> None:
    assert i5_orientation(platform) == orientation


def test_the_run_folder_drivers_platform_names_all_have_an_orientation() -> None:
    names = (
        "NextSeq 550",
        "NextSeq 500",
        "NovaSeq X",
        "NovaSeq X Plus",
        "NextSeq 1000/2000",
        "MiSeq i100",
        "MiniSeq",
        "iSeq 100",
        "NextSeq 500/550",
        "HiSeq X",
        "MiSeq",
        "NovaSeq 6000",
        "HiSeq 3000/4000",
        "HiSeq 3000",
        "HiSeq 2500",
    )
    for name in names:
        find_platform(name)


def test_every_platform_is_found_by_its_own_name() -> None:
    for platform in PLATFORMS:
        assert find_platform(platform.name) is platform


def test_flagged_instruments_read_i5_reversed_but_take_it_forward_in_the_sheet() -> None:
    assert [p.name for p in PLATFORMS if p.read_on_board == "reverse_complement" and p.sheet == "forward"] == [
        "NextSeq 1000/2000",
        "NovaSeq X / X Plus",
    ]


def test_an_unknown_instrument_is_refused_with_the_known_list() -> None:
    with pytest.raises(UnknownInstrumentError, match="NovaSeq X / X Plus"):
        i5_orientation("GridION")


def test_sheet_index2_turns_i5_round_only_where_the_sheet_needs_it() -> None:
    assert sheet_index2("AACCGGTA", "NextSeq 550") == "TACCGGTT"
    assert sheet_index2("AACCGGTA", "NovaSeq X") == "AACCGGTA"
