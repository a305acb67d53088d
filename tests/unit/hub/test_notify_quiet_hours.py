"""Quiet hours in the user's zone: same-day windows, windows across midnight, daylight-saving nights, and
critical messages that never wait."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.errors import ValidationFailedError
from hub.notify import QuietHours
from hub.notify.quiet import send_at

NIGHT = QuietHours.of("22:00", "07:00", "Europe/Berlin")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "end"),
    [
        (utc(2025, 1, 15, 20, 59), None),  # 21:59 in Berlin (CET): not yet
        (utc(2025, 1, 15, 21, 0), utc(2025, 1, 16, 6, 0)),  # 22:00: until 07:00 tomorrow
        (utc(2025, 1, 15, 23, 30), utc(2025, 1, 16, 6, 0)),  # after midnight in Berlin already
        (utc(2025, 1, 16, 5, 59), utc(2025, 1, 16, 6, 0)),  # 06:59
        (utc(2025, 1, 16, 6, 0), None),  # 07:00: over
        (utc(2025, 1, 16, 12, 0), None),
    ],
)
def test_a_window_across_midnight(now: datetime, end: datetime | None) -> None:
    assert NIGHT.ends_at(now) == end


def test_a_same_day_window() -> None:
    lunch = QuietHours.of("12:00", "13:30", "America/New_York")
    assert lunch.ends_at(utc(2025, 7, 1, 15, 59)) is None  # 11:59 EDT
    assert lunch.ends_at(utc(2025, 7, 1, 16, 0)) == utc(2025, 7, 1, 17, 30)
    assert lunch.ends_at(utc(2025, 7, 1, 17, 30)) is None


def test_the_night_clocks_go_forward_is_an_hour_shorter() -> None:
    # 2025-03-30: Berlin goes from 02:00 CET to 03:00 CEST; 22:00 CET is 21:00 UTC, 07:00 CEST is 05:00 UTC
    start = utc(2025, 3, 29, 21, 0)
    end = NIGHT.ends_at(start)
    assert end == utc(2025, 3, 30, 5, 0)
    assert end - start == utc(2025, 1, 1, 8) - utc(2025, 1, 1, 0)


def test_the_night_clocks_go_back_is_an_hour_longer() -> None:
    # 2025-10-26: Berlin goes from 03:00 CEST back to 02:00 CET; 22:00 CEST is 20:00 UTC, 07:00 CET is 06:00 UTC
    start = utc(2025, 10, 25, 20, 0)
    end = NIGHT.ends_at(start)
    assert end == utc(2025, 10, 26, 6, 0)
    assert NIGHT.ends_at(utc(2025, 10, 26, 1, 30)) == end  # inside the repeated hour: still the same end
    assert end - start == utc(2025, 1, 1, 10) - utc(2025, 1, 1, 0)


def test_a_window_ending_in_the_hour_that_does_not_exist_still_ends() -> None:
    odd = QuietHours.of("01:00", "02:30", "Europe/Berlin")
    end = odd.ends_at(utc(2025, 3, 30, 0, 30))  # 01:30 CET
    assert end is not None
    assert end > utc(2025, 3, 30, 0, 30)


def test_a_warning_in_quiet_hours_waits_for_their_end_and_a_critical_alert_does_not() -> None:
    three_am = utc(2025, 1, 16, 2, 0)  # 03:00 in Berlin: the freezer warms up
    assert send_at("warning", NIGHT, three_am) == utc(2025, 1, 16, 6, 0)
    assert send_at("info", NIGHT, three_am) == utc(2025, 1, 16, 6, 0)
    assert send_at("critical", NIGHT, three_am) == three_am
    assert send_at("warning", None, three_am) == three_am
    noon = utc(2025, 1, 16, 11, 0)
    assert send_at("warning", NIGHT, noon) == noon


@pytest.mark.parametrize(
    ("start", "end", "zone", "message"),
    [
        ("22:00", "22:00", "UTC", "empty"),
        ("24:00", "07:00", "UTC", "HH:MM"),
        ("7:00", "08:00", "UTC", "HH:MM"),
        ("22:00", "07:00", "Mars/Olympus_Mons", "unknown time zone"),
    ],
)
def test_unusable_quiet_hours_are_refused(start: str, end: str, zone: str, message: str) -> None:
    with pytest.raises(ValidationFailedError, match=message):
        QuietHours.of(start, end, zone)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        NIGHT.ends_at(datetime(2025, 1, 1, 3, 0))  # noqa: DTZ001 - the point of the test
