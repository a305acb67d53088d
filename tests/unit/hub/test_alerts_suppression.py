"""What keeps an alert quiet: matchers for silences and policies, flapping, and door or defrost inhibition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hub.alerts.inhibition import (
    HoldTimes,
    Window,
    end_until,
    event_signal,
    held_until,
    inhibitable,
    reading_signal,
    start_until,
)
from hub.alerts.suppression import Matcher, is_flapping, matches

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LABELS = {
    "origin": "edge",
    "kind": "high",
    "severity": "alarm",
    "device_id": "d1",
    "source": "freezer-1",
    "channel": "temp",
    "unit_id": "u1",
    "group_key": "unit:u1",
    "rule_id": None,
}


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def test_a_matcher_fits_when_every_given_label_is_equal() -> None:
    assert matches(Matcher(unit_id="u1", kind="high"), LABELS)
    assert not matches(Matcher(unit_id="u1", kind="low"), LABELS)
    assert not matches(Matcher(rule_id="r1"), LABELS)  # a label the alert lacks never matches a value


def test_an_empty_matcher_fits_everything_and_says_it_is_empty() -> None:
    assert Matcher().empty
    assert matches(Matcher(), LABELS)
    assert not Matcher(source="freezer-1").empty


def test_min_severity_compares_by_rank() -> None:
    assert matches(Matcher(min_severity="warning"), LABELS)
    assert matches(Matcher(min_severity="alarm"), LABELS)
    assert not matches(Matcher(min_severity="critical"), LABELS)


def test_a_matcher_refuses_unknown_labels() -> None:
    with pytest.raises(ValidationError):
        Matcher.model_validate({"building": "B2"})


def test_flapping_needs_the_threshold_of_changes_inside_the_window() -> None:
    window = timedelta(minutes=30)
    changes = [minutes(m) for m in (0, 2, 10, 12, 20)]
    assert not is_flapping(changes, minutes(20), window, 6)
    assert is_flapping([*changes, minutes(25)], minutes(25), window, 6)
    assert not is_flapping([*changes, minutes(45)], minutes(45), window, 6)  # the first ones have aged out


@pytest.mark.parametrize(
    ("origin", "kind", "held"),
    [
        ("edge", "high", True),
        ("edge", "low_low", True),
        ("edge", "rate", True),
        ("edge", "offline", False),
        ("edge", "door_open", False),
        ("rule", "limit", True),
        ("rule", "no_data", False),
        ("integrity", "fork", False),
    ],
)
def test_only_temperature_alerts_can_be_held_back(origin: str, kind: str, held: bool) -> None:
    assert inhibitable(origin, kind) is held


def test_door_and_defrost_signals_come_from_events_alarms_and_channels() -> None:
    assert event_signal("event", {"type": "door_open"}) == ("door", "start")
    assert event_signal("event", {"type": "defrost_ended"}) == ("defrost", "end")
    assert event_signal("alarm", {"rule": "door_open", "action": "raised"}) == ("door", "start")
    assert event_signal("alarm", {"rule": "door_open", "action": "cleared"}) == ("door", "end")
    assert event_signal("alarm", {"rule": "high", "action": "raised"}) is None
    assert event_signal("event", {"type": "run_started"}) is None
    assert reading_signal("door", "1") == ("door", "start")
    assert reading_signal("defrost", "0") == ("defrost", "end")
    assert reading_signal("door", "0.5") is None
    assert reading_signal("temp", "1") is None


def test_an_open_door_holds_for_at_most_its_longest_and_a_closed_one_for_the_hold_after() -> None:
    holds = HoldTimes(door_after=timedelta(minutes=5), door_longest=timedelta(minutes=30))
    assert start_until("door", T0, holds) == minutes(30)
    assert end_until("door", T0, minutes(3), holds) == minutes(8)
    assert end_until("door", T0, minutes(-1), holds) == minutes(5)  # an end logged before its start


def test_held_until_follows_overlapping_windows_to_the_last_end() -> None:
    windows = [
        Window("door", minutes(0), minutes(8)),
        Window("defrost", minutes(6), minutes(40)),
        Window("door", minutes(50), minutes(55)),
    ]
    assert held_until(windows, minutes(-1)) is None
    assert held_until(windows, minutes(1)) == windows[1]  # the door, then the defrost that began before it ended
    assert held_until(windows, minutes(40)) is None  # a window ends exactly at its end
    assert held_until(windows, minutes(52)) == windows[2]
