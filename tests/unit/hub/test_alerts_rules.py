"""Rules on readings with an injected clock: limits with a delay and a hysteresis, rate of change by least-squares
slope, no data. ``Series`` does with one rule's alert exactly what the engine does with the stored alert: each
reading goes through ``step``; the timer fires a pending alert once its due time has passed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.alerts.rules import (
    Action,
    LimitParams,
    OpenState,
    RateParams,
    SilenceParams,
    Zone,
    due_after,
    limit_zone,
    parse_params,
    rate_at,
    rate_zone,
    reading_value,
    severity_rank,
    silent_too_long,
    slope_per_minute,
    step,
)
from hub.errors import ValidationFailedError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HIGH = LimitParams(direction="high", limit="-70", delay_s=300, hysteresis="2")
LOW = LimitParams(direction="low", limit="2", delay_s=0, hysteresis="0.5")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Series:
    """One limit rule's alert, held the way the engine holds it (state and due time), with a clock we move."""

    def __init__(self, params: LimitParams) -> None:
        self.params = params
        self.state: OpenState = "none"
        self.due: datetime | None = None
        self.log: list[tuple[str, datetime]] = []

    def reading(self, value: str, when: datetime) -> None:
        for action in step(limit_zone(self.params, Decimal(value)), self.state, at=when, due_at=self.due):
            self._apply(action, when)

    def tick(self, now: datetime) -> None:
        if self.state == "pending" and self.due is not None and self.due <= now:
            self._apply(Action.FIRE, now)

    def _apply(self, action: Action, when: datetime) -> None:
        self.log.append((action.value, when))
        if action is Action.OPEN:
            self.state, self.due = "pending", due_after(when, self.params.delay_s)
            self.tick(when)
        elif action is Action.FIRE:
            self.state = "firing"
        else:
            self.state, self.due = "none", None


def test_a_value_beyond_for_less_than_the_delay_never_fires() -> None:
    series = Series(HIGH)
    series.reading("-69", at(0))
    for second in range(0, 299, 10):
        series.tick(at(second))
    series.reading("-71", at(299))  # back inside (in the deadband): the pending alert is withdrawn
    series.tick(at(600))
    assert series.log == [("open", at(0)), ("withdraw", at(299))]


def test_the_held_value_fires_when_the_delay_has_passed_without_a_new_reading() -> None:
    series = Series(HIGH)
    series.reading("-69.5", at(0))
    series.tick(at(299.9))
    assert series.state == "pending"
    series.tick(at(300))
    assert series.log == [("open", at(0)), ("fire", at(300))]


def test_a_late_batch_fires_at_the_reading_after_the_due_time_and_then_resolves() -> None:
    series = Series(HIGH)  # no tick in between: the edge was offline and sends it all at once
    for second, value in [(0, "-65"), (120, "-64"), (360, "-66"), (480, "-73")]:
        series.reading(value, at(second))
    assert series.log == [("open", at(0)), ("fire", at(360)), ("resolve", at(480))]


def test_the_hysteresis_keeps_a_firing_alert_until_the_value_is_clear() -> None:
    series = Series(HIGH.model_copy(update={"delay_s": 0}))
    series.reading("-60", at(0))
    assert series.state == "firing"
    for second, value in enumerate(["-70", "-71", "-71.99", "-69", "-71.5"], start=1):
        series.reading(value, at(second))
        assert series.state == "firing", value  # at or below the limit but above -72: the deadband
    series.reading("-72", at(10))
    assert series.log[-1] == ("resolve", at(10))


def test_a_low_limit_mirrors_a_high_one() -> None:
    assert [limit_zone(LOW, Decimal(v)) for v in ("1.9", "2", "2.4", "2.5", "8")] == [
        Zone.BEYOND,
        Zone.DEADBAND,
        Zone.DEADBAND,
        Zone.CLEAR,
        Zone.CLEAR,
    ]


def test_a_limit_without_delay_fires_on_the_first_reading_beyond() -> None:
    series = Series(LOW)
    series.reading("1.5", at(0))
    assert series.log == [("open", at(0)), ("fire", at(0))]


def test_the_limit_itself_is_not_beyond() -> None:
    assert limit_zone(HIGH, Decimal("-70")) is Zone.DEADBAND
    assert limit_zone(HIGH, Decimal("-69.999")) is Zone.BEYOND


@given(st.lists(st.decimals(min_value=Decimal("-71.99"), max_value=Decimal("-70"), places=2), min_size=1, max_size=40))
def test_values_in_the_deadband_never_resolve_a_firing_alert(values: list[Decimal]) -> None:
    series = Series(HIGH.model_copy(update={"delay_s": 0}))
    series.reading("-50", at(0))
    for i, value in enumerate(values, start=1):
        series.reading(str(value), at(i))
    assert series.state == "firing"
    assert [a for a, _ in series.log] == ["open", "fire"]


@given(st.lists(st.tuples(st.integers(1, 400), st.decimals(Decimal(-80), Decimal(-60), places=1)), max_size=60))
def test_transitions_always_come_in_lifecycle_order(readings: list[tuple[int, Decimal]]) -> None:
    series = Series(HIGH)
    now = 0
    for gap, value in readings:
        now += gap
        series.tick(at(now - 1))
        series.reading(str(value), at(now))
    follows = {"open": {"fire", "withdraw"}, "fire": {"resolve"}, "withdraw": {"open"}, "resolve": {"open"}}
    actions = [a for a, _ in series.log]
    assert all(b in follows[a] for a, b in itertools.pairwise(actions))
    times = [t for _, t in series.log]
    assert times == sorted(times)
    fired = [t for a, t in series.log if a == "fire"]
    opened = [t for a, t in series.log if a == "open"]
    for fire_time in fired:  # never before its delay
        assert fire_time - max(o for o in opened if o <= fire_time) >= timedelta(seconds=HIGH.delay_s)


def test_the_slope_of_a_straight_line_is_its_rate_per_minute() -> None:
    samples = [(at(60 * i), Decimal(-80) + Decimal("1.5") * i) for i in range(6)]
    assert slope_per_minute(samples) == Decimal("1.5")
    assert slope_per_minute(samples[:1]) is None
    assert slope_per_minute([(at(0), Decimal(1)), (at(0), Decimal(2))]) is None


def test_the_rate_waits_until_its_readings_span_half_the_window() -> None:
    params = RateParams(max_per_minute="3", window_s=300, hysteresis_per_minute="1")
    samples = [(at(30 * i), Decimal(4 * i)) for i in range(11)]  # 8 units a minute
    assert rate_at(params, samples, at(120)) is None  # 120 s of a 300 s window
    assert rate_at(params, samples, at(150)) == Decimal(8)
    assert rate_at(params, samples, at(300)) == Decimal(8)  # only the last 300 s count


def test_the_rate_zone_has_its_own_hysteresis_in_either_direction() -> None:
    params = RateParams(max_per_minute="3", hysteresis_per_minute="1")
    assert rate_zone(params, Decimal("-3.1")) is Zone.BEYOND
    assert rate_zone(params, Decimal("3")) is Zone.DEADBAND
    assert rate_zone(params, Decimal("2")) is Zone.CLEAR


def test_no_data_counts_from_the_last_good_reading() -> None:
    assert not silent_too_long(at(0), 600, at(599))
    assert silent_too_long(at(0), 600, at(600))


@pytest.mark.parametrize(
    ("value", "quality", "expected"),
    [
        ("-80.5", "good", Decimal("-80.5")),
        ("-80.5", "bad", None),
        (None, "good", None),
        ("NaN", "good", None),
        ("Infinity", "good", None),
        ("warm", "good", None),
    ],
)
def test_only_good_finite_decimals_are_readings(value: str | None, quality: str, expected: Decimal | None) -> None:
    assert reading_value(value, quality) == expected


def test_parameters_are_validated_per_kind_naming_every_field() -> None:
    assert parse_params("no_data", {"after_s": 600}) == SilenceParams(after_s=600)
    with pytest.raises(ValidationFailedError) as caught:
        parse_params("limit", {"direction": "up", "limit": -70.5})
    assert "params.direction" in str(caught.value)
    assert "params.limit" in str(caught.value)  # a float is not exact: write it as text
    with pytest.raises(ValidationFailedError, match="could never clear"):
        parse_params("rate", {"max_per_minute": "3", "hysteresis_per_minute": "3"})
    with pytest.raises(ValidationFailedError, match="unknown rule kind"):
        parse_params("vibes", {})


def test_severities_rank() -> None:
    assert [severity_rank(s) for s in ("warning", "alarm", "critical", "info")] == [0, 1, 2, 0]
