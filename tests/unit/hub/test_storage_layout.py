"""Storage rules without a database: box grid labels, where each kind of container may go, and which zones suit a
sample type."""

from __future__ import annotations

from typing import get_args

import pytest

from hub.api.storage_schemas import Kind, Zone
from hub.db.sample_models import ZONES
from hub.db.storage_models import CONTAINER_KINDS
from hub.domain.storage.layout import (
    check_grid,
    check_structure,
    grid_positions,
    natural_key,
    over_threshold,
    parse_position,
    position_index,
    position_label,
    zone_fits,
)
from hub.errors import ValidationFailedError


@pytest.mark.parametrize(
    ("rows", "cols", "first", "last", "count"),
    [(8, 12, "A1", "H12", 96), (9, 9, "A1", "I9", 81), (10, 10, "A1", "J10", 100), (5, 5, "A1", "E5", 25)],
)
def test_a_grid_runs_row_major_from_a1_to_its_last_label(
    rows: int, cols: int, first: str, last: str, count: int
) -> None:
    positions = grid_positions(rows, cols)
    assert len(positions) == count
    assert position_label(*positions[0]) == first
    assert position_label(*positions[-1]) == last
    assert [position_label(*p) for p in positions[: cols + 1]][-2:] == [f"A{cols}", "B1"]
    assert [position_index(r, c, cols) for r, c in positions] == list(range(1, count + 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("A1", (1, 1)), ("a01", (1, 1)), ("H12", (8, 12)), (" h 12 ", (8, 12)), ("13", (2, 1)), ("96", (8, 12))],
)
def test_a_position_is_read_as_a_label_or_a_row_major_number(text: str, expected: tuple[int, int]) -> None:
    assert parse_position(text, 8, 12) == expected


@pytest.mark.parametrize("text", ["I1", "A13", "A0", "0", "97", "", "AA1", "1A", "A-1", "²", "٣", "A٣"])
def test_a_position_outside_the_grid_is_refused_naming_the_grid(text: str) -> None:
    with pytest.raises(ValidationFailedError, match=r"8 × 12 box: A1 to H12, or 1 to 96"):
        parse_position(text, 8, 12)


def test_a_grid_must_fit_the_letters_and_a_sane_width() -> None:
    assert check_grid(8, 12) == (8, 12)
    for rows, cols in ((0, 12), (27, 1), (8, 49), (None, 12)):
        with pytest.raises(ValidationFailedError):
            check_grid(rows, cols)


@pytest.mark.parametrize(
    ("kind", "parent"),
    [
        ("site", None),
        ("room", "site"),
        ("room", None),
        ("freezer", "room"),
        ("ln2_tank", None),
        ("shelf", "freezer"),
        ("rack", "shelf"),
        ("rack", "rack"),
        ("tower", "ln2_tank"),
        ("box", "rack"),
        ("box", "fridge"),
    ],
)
def test_containers_nest_site_room_unit_inner_box(kind: str, parent: str | None) -> None:
    check_structure(kind, parent)


@pytest.mark.parametrize(
    ("kind", "parent", "says"),
    [
        ("box", None, "a box cannot go in the top level"),
        ("box", "room", "a box cannot go in a room"),
        ("shelf", "box", "a shelf cannot go in a box"),
        ("freezer", "freezer", "a freezer cannot go in a freezer; it goes in a room or a site or the top level"),
        ("site", "room", "a site cannot go in a room"),
        ("rack", "site", "a rack cannot go in a site"),
        ("igloo", None, "unknown container kind"),
    ],
)
def test_a_container_in_the_wrong_place_is_refused_saying_where_it_goes(
    kind: str, parent: str | None, says: str
) -> None:
    with pytest.raises(ValidationFailedError, match=says):
        check_structure(kind, parent)


def test_a_sample_fits_its_own_zone_and_colder_ones_only_when_allowed() -> None:
    assert zone_fits("-80", False, "-80")
    assert not zone_fits("-80", True, "-20")  # warmer: never
    assert zone_fits("-20", True, "-80")
    assert not zone_fits("-20", False, "-80")
    assert zone_fits("4", True, "ln2_vapour")
    assert not zone_fits("room", False, "4")
    assert all(zone_fits(z, False, z) for z in ZONES)


def test_the_api_offers_exactly_the_kinds_and_zones_the_database_accepts() -> None:
    assert get_args(Kind) == CONTAINER_KINDS
    assert get_args(Zone) == ZONES


def test_boxes_sort_by_the_numbers_in_their_names() -> None:
    names = ["Box 10", "box 2", "Box 1", "Box 1a"]
    assert sorted(names, key=natural_key) == ["Box 1", "Box 1a", "box 2", "Box 10"]


def test_a_threshold_is_crossed_at_or_above_its_percentage() -> None:
    assert not over_threshold(86, 96, 90)
    assert over_threshold(87, 96, 90)  # 90.6 %
    assert over_threshold(9, 10, 90)
    assert not over_threshold(0, 0, 90)  # an empty grid is never full
