"""Packing libraries into lanes: first-fit decreasing, never over capacity, every library placed once, colliding
indexes kept apart where lanes allow, too-large libraries and too few lanes refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.samplesheet import (
    InvalidValueError,
    LanesExhaustedError,
    Library,
    LibraryTooLargeError,
    Reads,
    SheetRequest,
    build_sheet,
    check,
    pack_lanes,
)

CAPACITY = 1_000


def lib(name: str, reads: int, i7: str = "", i5: str = "") -> Library:
    return Library(name, i7, i5, requested_reads=reads)


def test_first_fit_decreasing_places_the_largest_first_and_fills_earlier_lanes() -> None:
    libraries = [
        lib("a", 300, "AAAAAAAA"),
        lib("b", 700, "CCCCCCCC"),
        lib("c", 500, "GGGGGGGG"),
        lib("d", 500, "TTTTTTTT"),
    ]
    plan = pack_lanes(libraries, lane_capacity=CAPACITY)
    assert [[x.sample_id for x in lane.libraries] for lane in plan.lanes] == [["b", "a"], ["c", "d"]]
    assert [lane.fill for lane in plan.lanes] == [1.0, 1.0]
    assert plan.ok
    assert [(x.sample_id, x.lane) for x in plan.libraries()] == [("b", 1), ("a", 1), ("c", 2), ("d", 2)]


def test_colliding_libraries_go_to_different_lanes_when_more_lanes_may_open() -> None:
    libraries = [lib("a", 100, "AAAAAAAA"), lib("b", 100, "AAAAAAAT"), lib("c", 100, "GGGGGGGG")]
    plan = pack_lanes(libraries, lane_capacity=CAPACITY)
    assert [[x.sample_id for x in lane.libraries] for lane in plan.lanes] == [["a", "c"], ["b"]]
    assert plan.problems == ()


def test_when_no_lane_can_open_a_collision_is_placed_and_reported() -> None:
    libraries = [lib("a", 100, "AAAAAAAA"), lib("b", 100, "AAAAAAAT")]
    plan = pack_lanes(libraries, lane_capacity=CAPACITY, max_lanes=1)
    assert len(plan.lanes) == 1
    (problem,) = plan.problems
    assert problem.code == "index-collision"
    assert "lane 1" in problem.message
    assert "a and b collide" in problem.message


def test_a_library_larger_than_a_lane_is_refused_by_name() -> None:
    with pytest.raises(LibraryTooLargeError, match="big \\(1,001 reads\\)"):
        pack_lanes([lib("small", 10), lib("big", 1_001)], lane_capacity=CAPACITY)


def test_too_few_lanes_are_refused() -> None:
    with pytest.raises(LanesExhaustedError, match="do not fit 2 lanes"):
        pack_lanes([lib(f"s{n}", 600, f"{'ACGT'[n]}" * 8) for n in range(3)], lane_capacity=CAPACITY, max_lanes=2)


@pytest.mark.parametrize(
    ("libraries", "capacity"),
    [([lib("a", 0)], CAPACITY), ([lib("a", 10), lib("a", 20)], CAPACITY), ([lib("a", 10)], 0)],
)
def test_bad_requests_capacities_and_repeated_ids_are_refused(libraries: list[Library], capacity: int) -> None:
    with pytest.raises(InvalidValueError):
        pack_lanes(libraries, lane_capacity=capacity)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, CAPACITY), st.text(alphabet="ACGT", min_size=8, max_size=8)), min_size=1, max_size=30
    ),
    st.none() | st.integers(1, 40),
)
def test_no_lane_is_over_capacity_and_every_library_is_placed_once(
    requests: list[tuple[int, str]], max_lanes: int | None
) -> None:
    libraries = [lib(f"s{n}", reads, i7) for n, (reads, i7) in enumerate(requests)]
    try:
        plan = pack_lanes(libraries, lane_capacity=CAPACITY, max_lanes=max_lanes)
    except LanesExhaustedError:
        assert max_lanes is not None
        return
    assert all(lane.reads <= CAPACITY and 0 < lane.fill <= 1 for lane in plan.lanes)
    assert sorted(x.sample_id for x in plan.libraries()) == sorted(x.sample_id for x in libraries)
    assert [lane.number for lane in plan.lanes] == list(range(1, len(plan.lanes) + 1))
    assert all(x.lane == lane.number for lane in plan.lanes for x in lane.libraries)
    if max_lanes is None:
        assert plan.problems == ()  # a new lane can always keep colliding libraries apart


def test_a_packed_plan_feeds_straight_into_the_generator() -> None:
    libraries = [
        lib("a", 600, "AAAAAAAA", "CCCCCCCC"),
        lib("b", 600, "GGGGGGGG", "TTTTTTTT"),
        lib("c", 300, "ACACACAC", "GTGTGTGT"),
    ]
    plan = pack_lanes(libraries, lane_capacity=CAPACITY)
    sheet = build_sheet(SheetRequest("Run_1", "NovaSeq X", Reads(151, 151, 8, 8), plan.libraries()))
    assert check(sheet) == []
    assert [(row.lane, row.sample_id) for row in sheet.rows] == [(1, "a"), (1, "c"), (2, "b")]
