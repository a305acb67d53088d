"""The retry schedule: doubling from the base, capped, jittered into the upper half, never before Retry-After."""

from __future__ import annotations

import random

import pytest

from hub.notify import Backoff


def test_the_ceiling_doubles_from_the_base_until_the_cap() -> None:
    schedule = Backoff(base_s=2, factor=2, cap_s=60, max_attempts=10)
    assert [schedule.ceiling(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_jitter_stays_in_the_upper_half_of_each_step() -> None:
    schedule = Backoff(base_s=2, cap_s=600)
    draws = random.Random(7)
    for attempt in range(1, 12):
        ceiling = schedule.ceiling(attempt)
        delays = [schedule.delay(attempt, uniform=draws.uniform) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # spread out, not one value


def test_a_providers_retry_after_wins_when_longer_but_not_past_the_cap() -> None:
    schedule = Backoff(base_s=1, cap_s=30)
    lowest = lambda a, b: a  # noqa: E731 - the draw that gives the smallest delay
    assert schedule.delay(1, retry_after_s=10, uniform=lowest) == 10
    assert schedule.delay(1, retry_after_s=0.1, uniform=lowest) == 0.5
    assert schedule.delay(1, retry_after_s=3600, uniform=lowest) == 30


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Backoff(base_s=1, cap_s=300).ceiling(10_000) == 300


def test_attempts_are_exhausted_at_the_maximum() -> None:
    schedule = Backoff(max_attempts=3)
    assert [schedule.exhausted(n) for n in (1, 2, 3, 4)] == [False, False, True, True]


@pytest.mark.parametrize("options", [{"base_s": 0}, {"factor": 0.5}, {"base_s": 10, "cap_s": 5}, {"max_attempts": 0}])
def test_an_unusable_schedule_is_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="unusable"):
        Backoff(**options)  # type: ignore[arg-type]
