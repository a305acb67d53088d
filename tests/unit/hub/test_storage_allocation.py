"""Allocation planning without a database: a batch stays in one box where it fits, boxes fill in order and
row-major, zones are respected (exact zone before colder), and a shortage is refused with the numbers."""

from __future__ import annotations

import pytest

from hub.domain.storage.allocation import BoxSpace, SampleNeed, Slot, plan_allocation
from hub.domain.storage.errors import NoRoomError
from hub.domain.storage.layout import grid_positions, position_label


def needs(count: int, zone: str = "-80", colder_ok: bool = True, prefix: str = "s") -> list[SampleNeed]:
    return [SampleNeed(f"{prefix}{i}", zone, colder_ok) for i in range(count)]


def box(box_id: str, zone: str = "-80", free: int = 81) -> BoxSpace:
    """A 9 × 9 box whose first ``81 - free`` positions are taken."""
    return BoxSpace(box_id, zone, grid_positions(9, 9)[81 - free :])


def labels(slots: list[Slot]) -> list[tuple[str, str]]:
    return [(s.box_id, position_label(s.row, s.col)) for s in slots]


def test_a_batch_fills_the_first_box_row_major_from_its_first_free_position() -> None:
    slots = plan_allocation(needs(3), [box("b1", free=79), box("b2")])
    assert labels(slots) == [("b1", "A3"), ("b1", "A4"), ("b1", "A5")]
    assert [s.sample_id for s in slots] == ["s0", "s1", "s2"]


def test_a_batch_skips_a_box_too_full_to_keep_it_together() -> None:
    slots = plan_allocation(needs(10), [box("b1", free=5), box("b2", free=81)])
    assert {s.box_id for s in slots} == {"b2"}
    assert labels(slots)[0] == ("b2", "A1")


def test_a_batch_no_single_box_can_hold_spills_over_box_by_box() -> None:
    slots = plan_allocation(needs(100), [box("b1", free=81), box("b2", free=30)])
    assert [s.box_id for s in slots].count("b1") == 81
    assert labels(slots)[80:82] == [("b1", "I9"), ("b2", "F7")]  # b2's free positions start after its 51 used


def test_a_sample_only_goes_where_its_zone_allows_and_its_own_zone_comes_first() -> None:
    boxes = [box("minus80"), box("minus20", zone="-20"), box("fridge", zone="4")]
    slots = plan_allocation([*needs(2, "-20", prefix="dna"), *needs(1, "4", colder_ok=False, prefix="rna")], boxes)
    assert [(s.sample_id, s.box_id) for s in slots] == [("dna0", "minus20"), ("dna1", "minus20"), ("rna0", "fridge")]


def test_a_colder_box_is_used_when_the_own_zone_is_full() -> None:
    slots = plan_allocation(needs(2, "-20"), [box("minus80"), box("minus20", zone="-20", free=0)])
    assert {s.box_id for s in slots} == {"minus80"}


def test_two_needs_in_one_batch_share_the_boxes_without_collisions() -> None:
    slots = plan_allocation([*needs(50, "-80", prefix="a"), *needs(50, "-20", prefix="b")], [box("x"), box("y")])
    assert len({(s.box_id, s.row, s.col) for s in slots}) == 100


def test_not_enough_room_is_refused_with_the_need_and_the_free_count() -> None:
    with pytest.raises(NoRoomError, match=r"3 sample\(s\) need -80 °C \(or colder\); rack R has 2 free position\(s\)"):
        plan_allocation(needs(3), [box("b1", free=2), box("warm", zone="-20")], where="rack R")


def test_a_sample_that_needs_a_zone_no_box_offers_is_refused() -> None:
    with pytest.raises(NoRoomError, match="need LN2 vapour"):
        plan_allocation(needs(1, "ln2_vapour"), [box("b1")])
