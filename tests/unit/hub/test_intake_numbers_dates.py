"""Numbers and dates as people type them into spreadsheets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from hub.intake import EXCEL_1904, from_serial, parse_date_text, parse_number


@pytest.mark.parametrize(
    ("text", "decimal_comma", "expected"),
    [
        ("12.5", False, "12.5"),
        ("12,5", False, "12.5"),  # a decimal comma whatever the convention: a thousands group has three digits
        ("1,234", False, "1234"),
        ("1,234", True, "1.234"),  # both readings possible: the sheet's convention decides
        ("1.234", True, "1234"),
        ("1,234.5", False, "1234.5"),
        ("1.234,5", False, "1234.5"),
        ("1 234,5", True, "1234.5"),
        ("1\u00a0234,5", True, "1234.5"),
        ("1'234.5", False, "1234.5"),
        ("1,234,567", True, "1234567"),
        ("0,123", False, "0.123"),
        (".5", False, "0.5"),
        ("-80", False, "-80"),
        ("\u221280", False, "-80"),
        ("1.5E3", False, "1500"),
        ("50 µL", False, "50"),
        ("50ul", False, "50"),
        ("5.", False, "5"),
    ],
)
def test_numbers_are_read_as_people_write_them(text: str, decimal_comma: bool, expected: str) -> None:
    assert parse_number(text, decimal_comma=decimal_comma, unit="µL") == Decimal(expected)


@pytest.mark.parametrize("text", ["", "abc", "1,23,4", "1.2.3,4", "12 mL", "1e999", "NaN", "--5", "1,2,3.4.5"])
def test_what_is_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a|out of range"):
        parse_number(text, unit="µL")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05", date(2024, 3, 5)),
        ("2024/3/5", date(2024, 3, 5)),
        ("2024-03-05 00:00:00", date(2024, 3, 5)),
        ("2024-03-05T10:20:00Z", date(2024, 3, 5)),
        ("20240305", date(2024, 3, 5)),
        ("05.03.2024", date(2024, 3, 5)),
        ("25/03/2024", date(2024, 3, 25)),
        ("03/25/2024", date(2024, 3, 25)),
        ("5/5/2024", date(2024, 5, 5)),
        ("5-Mar-2024", date(2024, 3, 5)),
        ("5 March 2024", date(2024, 3, 5)),
        ("Mar 5, 2024", date(2024, 3, 5)),
        ("45356", date(2024, 3, 5)),
    ],
)
def test_dates_are_read_in_the_forms_people_type(text: str, expected: date) -> None:
    assert parse_date_text(text) == expected


def test_a_date_that_could_be_two_dates_needs_the_field_order() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        parse_date_text("03/04/2024")
    assert parse_date_text("03/04/2024", order="DMY") == date(2024, 4, 3)
    assert parse_date_text("03/04/2024", order="MDY") == date(2024, 3, 4)


@pytest.mark.parametrize("text", ["05-Mar-24", "31.02.2024", "2024", "yesterday", "13/13/2024", "5 Foo 2024"])
def test_what_is_not_one_date_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a date|four digits|ambiguous"):
        parse_date_text(text)


def test_excel_serials_follow_the_workbook_epoch_and_lotus_leap_year() -> None:
    assert from_serial(45356) == date(2024, 3, 5)
    assert from_serial(45356.75) == date(2024, 3, 5)
    assert from_serial(1) == date(1900, 1, 1)
    assert from_serial(61) == date(1900, 3, 1)
    assert from_serial(43894, EXCEL_1904) == date(2024, 3, 5)
    for bad in (0, 60, -1, 3_000_000):
        with pytest.raises(ValueError, match="not a date"):
            from_serial(bad)
