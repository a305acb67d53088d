"""Escalation schedules across tiers and repeats, stable step keys, and rotas across working hours, nights,
weekends and holidays in the rota's time zone (daylight saving included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.alerts.escalation import (
    PolicySpec,
    RotaSpec,
    ShiftSpec,
    StepRef,
    TierSpec,
    delay_before,
    next_due,
    on_call,
    schedule,
    step_key,
    step_ref,
    users_of,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
POLICY = PolicySpec(
    tiers=(
        TierSpec(delay_s=0, users=("tech",)),
        TierSpec(delay_s=600, rotas=("on-call",)),
        TierSpec(delay_s=900, users=("manager",)),
    ),
    repeat_every_s=1800,
    max_repeats=2,
)
WORKDAYS = frozenset(range(5))
ROTA = RotaSpec(
    time_zone="Europe/Berlin",
    shifts=(
        ShiftSpec(
            name="holiday",
            weekdays=frozenset(range(7)),
            start="08:00",
            end="08:00",
            holidays="only",
            users=("holiday-cover",),
        ),
        ShiftSpec(name="day", weekdays=WORKDAYS, start="08:00", end="18:00", users=("day-1", "day-2")),
        ShiftSpec(name="night", weekdays=WORKDAYS, start="18:00", end="08:00", users=("night",)),
        ShiftSpec(name="weekend", weekdays=frozenset({5, 6}), start="08:00", end="08:00", users=("weekend",)),
    ),
)
HOLIDAYS = {date(2026, 4, 6)}  # Easter Monday


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Europe/Berlin"))


def test_the_schedule_runs_tier_after_tier_then_repeats_until_the_last_round() -> None:
    steps = schedule(POLICY, T0)
    assert [(ref.tier, ref.repeat) for _, ref in steps] == [(t, r) for r in range(3) for t in range(3)]
    offsets = [int((when - T0).total_seconds()) for when, _ in steps]
    assert offsets == [0, 600, 1500, 3300, 3900, 4800, 6600, 7200, 8100]
    assert step_ref(POLICY, 9) is None


def test_without_repeat_the_policy_ends_after_its_last_tier() -> None:
    once = POLICY.model_copy(update={"repeat_every_s": None})
    assert len(schedule(once, T0)) == 3
    assert step_ref(once, 3) is None
    with pytest.raises(ValueError, match="no step 3"):
        delay_before(once, 3)


@given(st.integers(min_value=0, max_value=8))
def test_step_keys_are_stable_and_unique(index: int) -> None:
    ref = step_ref(POLICY, index)
    assert ref is not None
    assert step_key("alert-1", ref) == f"alert-1/tier/{index % 3}/repeat/{index // 3}"
    others = {step_key("alert-1", r) for r in (step_ref(POLICY, i) for i in range(9) if i != index) if r}
    assert step_key("alert-1", ref) not in others


def test_a_late_step_sets_the_next_one_from_when_it_went_not_from_when_it_was_due() -> None:
    grace = timedelta(seconds=30)
    due = T0
    assert next_due(due, T0 + timedelta(seconds=5), timedelta(minutes=10), grace) == T0 + timedelta(minutes=10)
    late = T0 + timedelta(hours=2)  # a restart, or a silence that held it
    assert next_due(due, late, timedelta(minutes=10), grace) == late + timedelta(minutes=10)


def test_a_tier_names_someone_and_a_policy_has_a_tier() -> None:
    with pytest.raises(ValidationError, match="at least one user or rota"):
        TierSpec(delay_s=0)
    with pytest.raises(ValidationError):
        PolicySpec(tiers=())
    with pytest.raises(ValidationError):
        PolicySpec(tiers=POLICY.tiers, repeat_every_s=10)  # repeating faster than once a minute


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (berlin(2026, 3, 2, 8, 0), ("day-1", "day-2")),  # Monday, start of the day shift
        (berlin(2026, 3, 2, 17, 59), ("day-1", "day-2")),
        (berlin(2026, 3, 2, 18, 0), ("night",)),  # Monday evening
        (berlin(2026, 3, 3, 3, 0), ("night",)),  # Tuesday 03:00: Monday's night shift
        (berlin(2026, 3, 7, 3, 0), ("night",)),  # Saturday 03:00: still Friday's night shift
        (berlin(2026, 3, 7, 8, 0), ("weekend",)),
        (berlin(2026, 3, 9, 3, 0), ("weekend",)),  # Monday 03:00: the weekend runs to Monday 08:00
        (berlin(2026, 4, 6, 10, 0), ("holiday-cover",)),  # Easter Monday
        (berlin(2026, 4, 7, 7, 59), ("holiday-cover",)),  # the holiday shift runs to 08:00 the next day
        (berlin(2026, 4, 6, 7, 0), ("weekend",)),  # Monday 07:00 belongs to Sunday
        (berlin(2026, 4, 7, 8, 0), ("day-1", "day-2")),
    ],
)
def test_who_is_on_call(moment: datetime, expected: tuple[str, ...]) -> None:
    assert on_call(ROTA, moment, HOLIDAYS) == expected


def test_the_rota_works_in_its_own_time_zone_across_daylight_saving() -> None:
    # 07:30 UTC is 08:30 in Berlin in winter (day shift) and 09:30 in summer; 06:30 UTC only in summer
    assert on_call(ROTA, datetime(2026, 3, 27, 6, 30, tzinfo=UTC), set()) == ("night",)  # 07:30 CET
    assert on_call(ROTA, datetime(2026, 3, 30, 6, 30, tzinfo=UTC), set()) == ("day-1", "day-2")  # 08:30 CEST


def test_a_moment_no_shift_covers_names_nobody() -> None:
    days_only = RotaSpec(
        time_zone="UTC", shifts=(ShiftSpec(name="day", weekdays=WORKDAYS, start="08:00", end="18:00", users=("a",)),)
    )
    assert on_call(days_only, datetime(2026, 3, 2, 20, 0, tzinfo=UTC), set()) == ()


def test_a_rota_needs_a_known_time_zone_and_sane_times() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        RotaSpec(time_zone="Mars/Olympus", shifts=ROTA.shifts)
    with pytest.raises(ValidationError):
        ShiftSpec(name="x", weekdays=frozenset({0}), start="25:00", end="08:00", users=("a",))
    with pytest.raises(ValidationError):
        ShiftSpec(name="x", weekdays=frozenset({7}), start="08:00", end="09:00", users=("a",))


def test_users_are_named_once_in_order() -> None:
    assert users_of([("a", "b"), ("b", "c"), ()]) == ("a", "b", "c")
    assert StepRef(0, 0, 0) == StepRef(0, 0, 0)
