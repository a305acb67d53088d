"""Clock faults for development and tests: a script of wall-clock jumps and drift, applied over a real clock.

``TRACSEQ_EDGE_CLOCK_SCRIPT="0:+0,5:+172800,10:-3600,15:drift=+0.5"`` reads: from the start, no offset; after 5 s
of monotonic time the wall clock is 2 days ahead; after 10 s it is an hour behind; from 15 s on it gains a further
0.5 s every second. A ``+N``/``-N`` step sets the offset from the true time (and stops any drift); a ``drift=R``
step keeps the offset reached and changes it by ``R`` seconds per second from then on. Only the wall clock is
faulted: the monotonic clock, which orders polls and intervals, is left alone, as a real clock step leaves it.

The edge has no notion of a production deployment, so the script is refused unless
``TRACSEQ_EDGE_ALLOW_CLOCK_FAULTS=1`` is set as well.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge.clock import Clock
from edge.errors import EdgeError

logger = logging.getLogger(__name__)

SCRIPT_ENV = "TRACSEQ_EDGE_CLOCK_SCRIPT"
ALLOW_ENV = "TRACSEQ_EDGE_ALLOW_CLOCK_FAULTS"


class ClockScriptError(EdgeError):
    """The clock script is malformed, or clock faults are not allowed here."""


@dataclass(frozen=True)
class ClockStep:
    """From ``at_s`` seconds after the start: a fixed ``offset_s`` (``drift_rate`` None), or a drift rate."""

    at_s: float
    offset_s: float | None = None
    drift_rate: float | None = None


def _number(text: str, what: str, step: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ClockScriptError(f"{SCRIPT_ENV}: step {step!r}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ClockScriptError(f"{SCRIPT_ENV}: step {step!r}: {what} {text!r} is not a finite number")
    return value


def parse_script(text: str) -> tuple[ClockStep, ...]:
    """``"T:+N"`` and ``"T:drift=R"`` steps, comma-separated, with strictly increasing times ``T`` (seconds)."""
    steps: list[ClockStep] = []
    for raw in text.split(","):
        step = raw.strip()
        if not step:
            raise ClockScriptError(f"{SCRIPT_ENV}: empty step in {text!r}")
        at_text, sep, spec = step.partition(":")
        if not sep:
            raise ClockScriptError(f"{SCRIPT_ENV}: step {step!r} is not 'seconds:+offset' or 'seconds:drift=rate'")
        at_s = _number(at_text.strip(), "time", step)
        if at_s < 0:
            raise ClockScriptError(f"{SCRIPT_ENV}: step {step!r}: time {at_s:g} is negative")
        if steps and at_s <= steps[-1].at_s:
            raise ClockScriptError(
                f"{SCRIPT_ENV}: step {step!r}: times must increase (the previous step is at {steps[-1].at_s:g} s)"
            )
        spec = spec.strip()
        if spec.startswith("drift="):
            steps.append(ClockStep(at_s, drift_rate=_number(spec.removeprefix("drift="), "drift rate", step)))
        elif spec[:1] in ("+", "-"):
            steps.append(ClockStep(at_s, offset_s=_number(spec, "offset", step)))
        else:
            raise ClockScriptError(f"{SCRIPT_ENV}: step {step!r}: {spec!r} is not '+N', '-N' or 'drift=R' (seconds)")
    return tuple(steps)


def offset_at(steps: tuple[ClockStep, ...], elapsed_s: float) -> float:
    """The wall-clock offset in seconds, ``elapsed_s`` seconds of monotonic time after the start."""
    offset = 0.0
    rate = 0.0
    since = 0.0
    for step in steps:
        if step.at_s > elapsed_s:
            break
        offset += rate * (step.at_s - since)
        since = step.at_s
        if step.drift_rate is not None:
            rate = step.drift_rate
        else:
            offset = step.offset_s or 0.0
            rate = 0.0
    return offset + rate * (elapsed_s - since)


class ScriptedClock:
    """``inner``'s wall clock moved by the script; its monotonic clock unchanged. Time 0 is construction."""

    def __init__(self, inner: Clock, steps: tuple[ClockStep, ...]) -> None:
        self.inner = inner
        self.steps = steps
        self._start_ns = inner.mono_ns()

    def elapsed_s(self) -> float:
        return (self.inner.mono_ns() - self._start_ns) / 1e9

    def utc(self) -> datetime:
        offset = offset_at(self.steps, self.elapsed_s())
        return self.inner.utc() + timedelta(seconds=offset)

    def mono_ns(self) -> int:
        return self.inner.mono_ns()


def clock_from_environment(inner: Clock, environ: Mapping[str, str]) -> Clock:
    """``inner`` itself without a script; with one, a :class:`ScriptedClock` if clock faults are allowed."""
    script = environ.get(SCRIPT_ENV, "").strip()
    if not script:
        return inner
    if environ.get(ALLOW_ENV) != "1":
        raise ClockScriptError(
            f"{SCRIPT_ENV} is set, but clock faults are for development and tests only: "
            f"set {ALLOW_ENV}=1 as well to run with a faulted clock, or unset {SCRIPT_ENV}"
        )
    steps = parse_script(script)
    logger.warning("the wall clock is faulted for testing (%s=%s): timestamps are wrong on purpose", SCRIPT_ENV, script)
    return ScriptedClock(inner, steps)


__all__ = [
    "ALLOW_ENV",
    "SCRIPT_ENV",
    "ClockScriptError",
    "ClockStep",
    "ScriptedClock",
    "clock_from_environment",
    "offset_at",
    "parse_script",
]
