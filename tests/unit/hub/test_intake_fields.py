"""Template fields: what a definition may say, the canonical form an approval signs, and one cell read for one
field (typed value or the reason there is none)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from hub.intake import (
    FieldSpec,
    Reading,
    check_fields,
    check_pattern,
    content_hash,
    header_key,
    load_fields,
    parse_cell,
)

NAME = {"key": "name", "label": "Sample name", "type": "text", "required": True, "maps_to": "name"}
TYPE = {"key": "sample_type", "label": "Sample type", "type": "text", "required": True, "maps_to": "sample_type"}


def spec(**options: Any) -> FieldSpec:
    return FieldSpec(**{"key": "f", "label": "F", "type": "text", **options})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"type": "number", "pattern": "x"}, "do not apply to a number field"),
        ({"type": "enum"}, "needs choices"),
        ({"type": "enum", "choices": ["a", "A"]}, "choices repeat"),
        ({"type": "number", "minimum": 5, "maximum": 1}, "above maximum"),
        ({"type": "text", "maps_to": "volume_ul"}, "must be a number field"),
        ({"type": "number", "maps_to": "volume_ul", "unit": "mL"}, "not µL"),
        ({"maps_to": "barcode", "max_length": 100}, "at most 64"),
        ({"pattern": "(a+)+"}, "exponential"),
        ({"pattern": "["}, "not a valid regular expression"),
        ({"pattern": "a\x00"}, "control characters"),
        ({"pattern": "a{99999999999999999999}"}, "too large"),
        ({"label": "=HYPERLINK()"}, "formula"),
        ({"label": "a\x07b"}, "control characters"),
        ({"key": "Bad Key"}, "should match pattern"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_a_field_definition_that_makes_no_sense_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**options)


def test_a_template_needs_a_required_name_and_sample_type_and_no_clashes() -> None:
    check_fields([FieldSpec(**NAME), FieldSpec(**TYPE)])
    with pytest.raises(ValueError, match="no field maps to sample_type"):
        check_fields([FieldSpec(**NAME)])
    with pytest.raises(ValueError, match="must be required"):
        check_fields([FieldSpec(**NAME), FieldSpec(**{**TYPE, "required": False})])
    with pytest.raises(ValueError, match="key name is used twice"):
        check_fields([FieldSpec(**NAME), FieldSpec(**TYPE), FieldSpec(**{**NAME, "maps_to": None, "label": "X"})])
    with pytest.raises(ValueError, match="would match both"):
        check_fields([FieldSpec(**NAME), FieldSpec(**TYPE), spec(key="other", label="SAMPLE_NAME (µL)")])


@pytest.mark.parametrize("pattern", [r"^TS-\d{4}$", r"(\d{3}-)+\d", r"(?i)^s\d+$", r"[A-Z]{2}(?:-\d+)?", r"[]a]+"])
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    check_pattern(pattern)


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)*b", r"(\w+\s?)*$", r"((ab)*)+", r".*a.*b.*c.*d"])
def test_patterns_that_can_backtrack_for_ever_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"exponential|unbounded"):
        check_pattern(pattern)


def test_the_canonical_hash_binds_the_template_the_version_and_every_option() -> None:
    fields = [FieldSpec(**NAME), FieldSpec(**TYPE)]
    first = content_hash("t1", 1, fields)
    assert first == content_hash("t1", 1, load_fields([f.model_dump(mode="json") for f in fields]))
    assert first != content_hash("t1", 2, fields)
    assert first != content_hash("t2", 1, fields)
    assert first != content_hash("t1", 1, [FieldSpec(**NAME), FieldSpec(**{**TYPE, "help": "blood, DNA…"})])


@pytest.mark.parametrize(
    "header", ["Sample name", "sample name", "SAMPLE_NAME", "  Sample   name * ", "Sample-name (text)", "'Sample name"]
)
def test_headers_match_whatever_their_case_spacing_unit_or_required_mark(header: str) -> None:
    assert header_key(header) == header_key("Sample name")


READING = Reading()


def test_control_characters_are_cleaned_in_free_text_but_refused_in_a_barcode() -> None:
    free = parse_cell(spec(), "note\x07 here\u200b", READING)
    assert free == type(free)("note here", None, True)
    barcode = parse_cell(spec(maps_to="barcode"), "AB\x07C", READING)
    assert barcode.value is None
    assert "control character" in (barcode.problem or "")
    assert "line break" in (parse_cell(spec(maps_to="barcode"), "AB\nC", READING).problem or "")


@pytest.mark.parametrize("value", ["=1+1", "=cmd|' /C calc'!A0", "@SUM(A1:A2)", '+HYPERLINK("x")', "-cmd|x"])
def test_a_cell_that_starts_like_a_formula_is_refused(value: str) -> None:
    assert "formula" in (parse_cell(spec(), value, READING).problem or "")


def test_our_own_defused_export_reads_back_as_the_value() -> None:
    assert parse_cell(spec(), "'-80 freezer", READING).value == "-80 freezer"
    assert parse_cell(spec(), "-80 freezer (rack 2)", READING).value == "-80 freezer (rack 2)"


def test_values_are_typed_by_their_field() -> None:
    number = spec(type="number", unit="µL", minimum=0, maximum=100, integer=False)
    assert parse_cell(number, 12.5, READING).value == Decimal("12.5")
    assert parse_cell(number, 0.1, READING).value == Decimal("0.1")
    assert parse_cell(number, "12,5 µL", Reading(decimal_comma=True)).value == Decimal("12.5")
    assert parse_cell(number, "120", READING).problem == "above the maximum 100 µL"
    assert parse_cell(number, True, READING).problem == "TRUE/FALSE is not a number"
    assert (
        parse_cell(number, datetime.combine(date(2024, 1, 1), time()), READING).problem
        == "a date or time, not a number"
    )
    assert parse_cell(spec(type="number", integer=True), "2.5", READING).problem == "must be a whole number"
    volume = spec(type="number", maps_to="volume_ul")
    assert "3 decimal places" in (parse_cell(volume, "1.2345", READING).problem or "")
    assert parse_cell(volume, "-1", READING).problem == "below the minimum 0 µL"
    day = spec(type="date")
    assert parse_cell(day, datetime.combine(date(2024, 3, 5), time()), READING).value == date(2024, 3, 5)
    assert parse_cell(day, 45356, READING).value == date(2024, 3, 5)
    assert parse_cell(day, "05.03.2024", READING).value == date(2024, 3, 5)
    choice = spec(type="enum", choices=["Yes", "No"])
    assert parse_cell(choice, " yes ", READING).value == "Yes"
    assert parse_cell(choice, "maybe", READING).problem == "not one of the choices: Yes, No"
    assert parse_cell(spec(pattern=r"TS-\d{4}"), "TS-12", READING).problem == r"does not match the pattern TS-\d{4}"
    assert parse_cell(spec(max_length=3), "abcd", READING).problem == "longer than 3 characters (4)"
    assert parse_cell(spec(), 12345.0, READING).value == "12345"
    assert parse_cell(spec(required=True), "  ", READING).problem == "required: the cell is empty"
    assert parse_cell(spec(), "#N/A", READING).problem == "the spreadsheet shows an error (#N/A) here"
    assert "shortened" in (parse_cell(spec(maps_to="barcode"), "1.23457E+12", READING).problem or "")
