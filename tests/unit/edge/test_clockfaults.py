from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from edge.clock import SystemClock
from edge.clockfaults import (
    ALLOW_ENV,
    SCRIPT_ENV,
    ClockScriptError,
    ClockStep,
    ScriptedClock,
    clock_from_environment,
    offset_at,
    parse_script,
)
from edge.errors import EdgeError

T0 = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
SCRIPT = "0:+0,5:+172800,10:-3600,15:drift=+0.5"


class ManualClock:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1e9)

    def utc(self) -> datetime:
        return T0 + timedelta(microseconds=(self.ns - 1_000_000_000) // 1000)

    def mono_ns(self) -> int:
        return self.ns


def test_the_script_parses_into_jumps_and_a_drift() -> None:
    assert parse_script(SCRIPT) == (
        ClockStep(0.0, offset_s=0.0),
        ClockStep(5.0, offset_s=172800.0),
        ClockStep(10.0, offset_s=-3600.0),
        ClockStep(15.0, drift_rate=0.5),
    )


def test_spaces_around_steps_are_allowed() -> None:
    assert parse_script(" 0:+0 , 2.5 : -1.5 ") == (ClockStep(0.0, offset_s=0.0), ClockStep(2.5, offset_s=-1.5))


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("", "empty step"),
        ("0:+0,", "empty step"),
        ("5", "is not 'seconds:+offset'"),
        ("x:+1", "time 'x' is not a number"),
        ("-1:+1", "is negative"),
        ("5:+1,5:+2", "times must increase"),
        ("5:+1,4:+2", "times must increase"),
        ("0:3600", "is not '+N', '-N' or 'drift=R'"),
        ("0:+1h", "offset '+1h' is not a number"),
        ("0:drift=fast", "drift rate 'fast' is not a number"),
        ("0:+inf", "not a finite number"),
        ("nan:+1", "not a finite number"),
    ],
)
def test_a_malformed_script_is_refused_with_the_step_named(script: str, message: str) -> None:
    with pytest.raises(ClockScriptError, match=re.escape(message)):
        parse_script(script)


@pytest.mark.parametrize(
    ("elapsed", "offset"),
    [
        (0.0, 0.0),
        (4.999, 0.0),
        (5.0, 172800.0),
        (9.9, 172800.0),
        (10.0, -3600.0),
        (15.0, -3600.0),
        (17.0, -3599.0),
        (25.0, -3595.0),
    ],
)
def test_offsets_follow_the_script(elapsed: float, offset: float) -> None:
    assert offset_at(parse_script(SCRIPT), elapsed) == pytest.approx(offset)


def test_a_jump_after_a_drift_sets_the_offset_and_stops_the_drift() -> None:
    steps = parse_script("1:drift=-2,3:+10,4:drift=+1")
    assert offset_at(steps, 0.5) == 0.0
    assert offset_at(steps, 2.0) == pytest.approx(-2.0)
    assert offset_at(steps, 3.5) == pytest.approx(10.0)
    assert offset_at(steps, 6.0) == pytest.approx(12.0)


def test_a_drift_change_keeps_the_offset_reached() -> None:
    steps = parse_script("0:drift=+1,2:drift=-0.5")
    assert offset_at(steps, 2.0) == pytest.approx(2.0)
    assert offset_at(steps, 6.0) == pytest.approx(0.0)


def test_the_scripted_clock_moves_the_wall_clock_and_leaves_the_monotonic_clock_alone() -> None:
    inner = ManualClock()
    clock = ScriptedClock(inner, parse_script(SCRIPT))
    seen = []
    for _ in range(20):
        seen.append((clock.utc() - inner.utc(), clock.mono_ns()))
        inner.advance(1.0)
    offsets = [o.total_seconds() for o, _ in seen]
    assert offsets[:5] == [0.0] * 5
    assert offsets[5:10] == [172800.0] * 5
    assert offsets[10:16] == [-3600.0] * 6
    assert offsets[16:] == pytest.approx([-3599.5, -3599.0, -3598.5, -3598.0])
    monos = [m for _, m in seen]
    assert monos == sorted(monos)
    assert monos[-1] - monos[0] == 19 * 1_000_000_000


def test_time_zero_is_when_the_clock_is_made() -> None:
    inner = ManualClock()
    inner.advance(100.0)
    clock = ScriptedClock(inner, parse_script("1:+60"))
    assert clock.utc() == inner.utc()
    inner.advance(1.0)
    assert clock.utc() == inner.utc() + timedelta(seconds=60)


def test_without_a_script_the_clock_is_the_real_one() -> None:
    inner = SystemClock()
    assert clock_from_environment(inner, {}) is inner
    assert clock_from_environment(inner, {SCRIPT_ENV: "  ", ALLOW_ENV: "1"}) is inner


def test_a_script_is_refused_unless_clock_faults_are_allowed() -> None:
    for allow in ({}, {ALLOW_ENV: "0"}, {ALLOW_ENV: "yes"}):
        with pytest.raises(ClockScriptError, match=f"set {ALLOW_ENV}=1") as caught:
            clock_from_environment(SystemClock(), {SCRIPT_ENV: SCRIPT, **allow})
        assert isinstance(caught.value, EdgeError)  # the CLI turns it into "error: ..." and exit code 2


def test_an_allowed_script_wraps_the_clock() -> None:
    inner = ManualClock()
    clock = clock_from_environment(inner, {SCRIPT_ENV: "0:+30", ALLOW_ENV: "1"})
    assert isinstance(clock, ScriptedClock)
    assert clock.utc() == inner.utc() + timedelta(seconds=30)


def test_an_allowed_but_malformed_script_is_still_refused() -> None:
    with pytest.raises(ClockScriptError, match="times must increase"):
        clock_from_environment(SystemClock(), {SCRIPT_ENV: "5:+1,1:+2", ALLOW_ENV: "1"})
