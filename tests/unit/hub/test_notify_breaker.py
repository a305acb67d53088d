"""The per-channel circuit breaker as a state machine, on an injected clock."""

from __future__ import annotations

import logging

import pytest

from hub.notify import Breakers, BreakerState

SLACK = ("tenant-a", "slack")
SMS = ("tenant-a", "sms")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breakers(clock: Clock) -> Breakers[tuple[str, str]]:
    return Breakers(threshold=3, cooldown_s=30, clock=clock)


def test_it_opens_after_the_threshold_of_consecutive_failures(breakers: Breakers[tuple[str, str]]) -> None:
    for _ in range(2):
        breakers.failure(SLACK)
        assert breakers.allow(SLACK)
    breakers.failure(SLACK)
    assert breakers.state(SLACK) is BreakerState.OPEN
    assert not breakers.allow(SLACK)
    assert breakers.blocked() == {SLACK}


def test_a_success_resets_the_count(breakers: Breakers[tuple[str, str]]) -> None:
    breakers.failure(SLACK)
    breakers.failure(SLACK)
    breakers.success(SLACK)
    breakers.failure(SLACK)
    breakers.failure(SLACK)
    assert breakers.state(SLACK) is BreakerState.CLOSED


def test_one_channel_open_leaves_the_others_closed(breakers: Breakers[tuple[str, str]]) -> None:
    for _ in range(3):
        breakers.failure(SLACK)
    assert breakers.allow(SMS)
    assert breakers.state(SMS) is BreakerState.CLOSED
    assert breakers.blocked() == {SLACK}
    assert breakers.state(("tenant-b", "slack")) is BreakerState.CLOSED  # per tenant too


def test_after_the_cool_down_one_probe_goes_out_and_its_success_closes_it(
    breakers: Breakers[tuple[str, str]], clock: Clock
) -> None:
    for _ in range(3):
        breakers.failure(SLACK)
    clock.now += 29.9
    assert not breakers.allow(SLACK)
    clock.now += 0.1
    assert breakers.state(SLACK) is BreakerState.HALF_OPEN
    assert breakers.blocked() == set()  # a message may be claimed as the probe
    assert breakers.allow(SLACK)
    assert not breakers.allow(SLACK)  # one probe at a time
    assert breakers.blocked() == {SLACK}
    breakers.success(SLACK)
    assert breakers.state(SLACK) is BreakerState.CLOSED
    assert breakers.allow(SLACK)


def test_a_failed_probe_opens_it_for_another_cool_down(breakers: Breakers[tuple[str, str]], clock: Clock) -> None:
    for _ in range(3):
        breakers.failure(SLACK)
    clock.now += 30
    assert breakers.allow(SLACK)
    breakers.failure(SLACK)
    assert breakers.state(SLACK) is BreakerState.OPEN
    clock.now += 29
    assert not breakers.allow(SLACK)
    clock.now += 1
    assert breakers.allow(SLACK)


def test_opening_and_recovering_are_logged_once_each(
    breakers: Breakers[tuple[str, str]], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hub.notify.breaker"):
        for _ in range(6):
            breakers.failure(SLACK)
        clock.now += 30
        breakers.allow(SLACK)
        breakers.success(SLACK)
    assert [r.levelname for r in caplog.records] == ["ERROR", "INFO"]


@pytest.mark.parametrize(("threshold", "cooldown"), [(0, 1.0), (1, 0.0)])
def test_an_unusable_breaker_is_refused(threshold: int, cooldown: float) -> None:
    with pytest.raises(ValueError, match="breaker"):
        Breakers(threshold=threshold, cooldown_s=cooldown)
