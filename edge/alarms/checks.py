"""The running state of each rule: what it has seen, how long, and whether it raises or clears now.

A check never reads a clock: the engine tells it how much time passed (``elapse``) and asks it to ``decide``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Protocol

from edge.alarms.condition import Action, DelayedCondition, Zone, to_microseconds
from edge.alarms.rules import AlarmRuleName, AlarmSeverity, DoorRule, LimitRule, OfflineRule, RateOfChangeRule

_MICROSECONDS_PER_MINUTE = 60_000_000


@dataclass(frozen=True)
class Verdict:
    """A check's decision, before the engine stamps it with ids and times."""

    action: Action
    value: str | None
    limit: str | None
    message: str
    beyond_us: int | None = None


class Check(Protocol):
    @property
    def rule(self) -> AlarmRuleName: ...
    @property
    def channel(self) -> str: ...
    @property
    def severity(self) -> AlarmSeverity: ...
    @property
    def inhibitable(self) -> bool: ...
    def elapse(self, duration_us: int, *, inhibited: bool) -> None: ...
    def decide(self, *, inhibited: bool) -> Verdict | None: ...


def plain_decimal(value: Decimal, places: int = 3) -> str:
    """``value`` rounded to ``places`` decimals, without trailing zeros or an exponent: ``5``, ``-0.25``."""
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def seconds_text(microseconds: int) -> str:
    return plain_decimal(Decimal(microseconds) / 1_000_000, places=6)


def with_unit(value: str, unit: str) -> str:
    return f"{value} {unit}" if unit else value


class LimitCheck:
    """One ``LimitRule`` on one channel; a limit from ``set_limit`` takes effect at the next ``decide``."""

    inhibitable = True

    def __init__(self, channel: str, unit: str, rule: LimitRule) -> None:
        self.channel = channel
        self._unit = unit
        self._rule = rule
        self._limit = Decimal(rule.limit)
        self._hysteresis = Decimal(rule.hysteresis)
        self._next_rule: LimitRule | None = None
        self._condition = DelayedCondition(to_microseconds(rule.delay_s), to_microseconds(rule.clear_delay_s))
        self._value: Decimal | None = None
        self._value_text: str | None = None

    @property
    def rule(self) -> AlarmRuleName:
        return self._rule.kind

    @property
    def severity(self) -> AlarmSeverity:
        return self._rule.severity

    def replace_rule(self, rule: LimitRule) -> None:
        self._next_rule = rule

    def observe(self, value: Decimal, text: str) -> None:
        self._value, self._value_text = value, text
        self._condition.enter(self._zone(value))

    def elapse(self, duration_us: int, *, inhibited: bool) -> None:
        self._condition.elapse(duration_us, inhibited=inhibited)

    def decide(self, *, inhibited: bool) -> Verdict | None:
        if self._next_rule is not None:
            self._rule, self._next_rule = self._next_rule, None
            self._limit = Decimal(self._rule.limit)
            if self._value is not None:
                self._condition.enter(self._zone(self._value))
        action = self._condition.decide(inhibited=inhibited)
        if action is None:
            return None
        value = with_unit(self._value_text or "", self._unit)
        label = self._rule.kind.replace("_", "-")
        if action == "raised":
            side = "above" if self._rule.is_high else "below"
            beyond_us = self._condition.raised_after_us
            held = seconds_text(beyond_us)
            message = f"{self.channel} {value} {side} {label} limit {self._rule.limit} for {held} s"
            return Verdict(action, self._value_text, self._rule.limit, message, beyond_us)
        message = f"{self.channel} {value} back within {label} limit {self._rule.limit}"
        if self._hysteresis:
            edge, side = (
                (self._limit - self._hysteresis, "below")
                if self._rule.is_high
                else (self._limit + self._hysteresis, "above")
            )
            message += f" (at or {side} {edge})"
        return Verdict(action, self._value_text, self._rule.limit, message)

    def _zone(self, value: Decimal) -> Zone:
        if self._rule.is_high:
            if value > self._limit:
                return Zone.BEYOND
            return Zone.CLEAR if value <= self._limit - self._hysteresis else Zone.DEADBAND
        if value < self._limit:
            return Zone.BEYOND
        return Zone.CLEAR if value >= self._limit + self._hysteresis else Zone.DEADBAND


class RateCheck:
    """A ``RateOfChangeRule``: least-squares slope of the good samples in the window, in units per minute."""

    rule: AlarmRuleName = "rate"
    inhibitable = True

    def __init__(self, channel: str, unit: str, rule: RateOfChangeRule) -> None:
        self.channel = channel
        self.severity: AlarmSeverity = rule.severity
        self._rule = rule
        self._per_minute = f"{unit}/min" if unit else "per min"
        self._max = Decimal(rule.max_per_minute)
        self._clear_at = self._max - Decimal(rule.hysteresis_per_minute)
        self._window_us = to_microseconds(rule.window_s)
        self._samples: deque[tuple[int, Decimal]] = deque()
        self._rate: Decimal | None = None
        self._condition = DelayedCondition(raise_after_us=0, clear_after_us=0)

    def observe(self, at_us: int, value: Decimal) -> None:
        self._samples.append((at_us, value))
        while self._samples[0][0] < at_us - self._window_us:
            self._samples.popleft()
        # a slope over a sliver of the window is mostly sensor resolution: keep the last verdict until half
        if 2 * (at_us - self._samples[0][0]) < self._window_us:
            return
        try:
            self._rate = _least_squares_per_minute(self._samples)
        except ArithmeticError:  # a value like 1e999999 overflows the squares; such a reading has no slope
            return
        speed = abs(self._rate)
        if speed > self._max:
            self._condition.enter(Zone.BEYOND)
        else:
            self._condition.enter(Zone.CLEAR if speed <= self._clear_at else Zone.DEADBAND)

    def elapse(self, duration_us: int, *, inhibited: bool) -> None:
        self._condition.elapse(duration_us, inhibited=inhibited)

    def decide(self, *, inhibited: bool) -> Verdict | None:
        if self._rate is None:  # no slope yet, so the condition is still UNKNOWN
            return None
        action = self._condition.decide(inhibited=inhibited)
        if action is None:
            return None
        rate = plain_decimal(self._rate)
        window = seconds_text(self._window_us)
        if action == "raised":
            message = (
                f"{self.channel} changing at {rate} {self._per_minute}, faster than "
                f"{self._rule.max_per_minute} {self._per_minute} over {window} s"
            )
        else:
            within = f"{self._clear_at} {self._per_minute}"
            message = f"{self.channel} changing at {rate} {self._per_minute}, back within {within}"
        return Verdict(action, rate, self._rule.max_per_minute, message, None)


def _least_squares_per_minute(samples: deque[tuple[int, Decimal]]) -> Decimal:
    with localcontext() as context:
        context.prec = 34
        origin = samples[0][0]
        times = [Decimal(at_us - origin) for at_us, _ in samples]
        values = [value for _, value in samples]
        mean_t = sum(times, Decimal(0)) / len(times)
        mean_v = sum(values, Decimal(0)) / len(values)
        sxx = sum(((t - mean_t) ** 2 for t in times), Decimal(0))
        sxy = sum(((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)), Decimal(0))
        return sxy / sxx * _MICROSECONDS_PER_MINUTE


class OfflineCheck:
    """An ``OfflineRule``: silence is the time since the last good reading (or since the engine first ran)."""

    rule: AlarmRuleName = "offline"
    inhibitable = False

    def __init__(self, channel: str, unit: str, rule: OfflineRule) -> None:
        self.channel = channel
        self.severity: AlarmSeverity = rule.severity
        self._unit = unit
        self._after_us = to_microseconds(rule.after_s)
        self._silent_us = 0
        self._active = False
        self._last_good: str | None = None

    def good_reading(self, text: str) -> None:
        self._silent_us = 0
        self._last_good = text

    def elapse(self, duration_us: int, *, inhibited: bool) -> None:
        self._silent_us += duration_us

    def decide(self, *, inhibited: bool) -> Verdict | None:
        if not self._active and self._silent_us >= self._after_us:
            self._active = True
            silent, allowed = seconds_text(self._silent_us), seconds_text(self._after_us)
            message = f"{self.channel} offline: no good reading for {silent} s (allowed {allowed} s)"
            return Verdict("raised", None, None, message, self._silent_us)
        # after_s > 0, so silence below it after a raise means a good reading arrived
        if self._active and self._silent_us < self._after_us:
            self._active = False
            message = f"{self.channel} back online: good reading {with_unit(self._last_good or '', self._unit)}"
            return Verdict("cleared", self._last_good, None, message)
        return None


class DoorCheck:
    """A ``DoorRule``: raises ``door_open`` when left open and says when it inhibits the other rules."""

    rule: AlarmRuleName = "door_open"
    inhibitable = False

    def __init__(self, rule: DoorRule) -> None:
        self.channel = rule.door_channel
        self.severity: AlarmSeverity = rule.severity
        self._rule = rule
        self._inhibit_us = to_microseconds(rule.inhibit_s)
        self._condition = DelayedCondition(to_microseconds(rule.open_longer_than_s), clear_after_us=0)
        self._open_limit = seconds_text(to_microseconds(rule.open_longer_than_s))
        self._open: bool | None = None
        self._closed_at_us: int | None = None

    def door_reading(self, is_open: bool, at_us: int) -> None:
        if not is_open and self._open:
            self._closed_at_us = at_us
        self._open = is_open
        self._condition.enter(Zone.BEYOND if is_open else Zone.CLEAR)

    def inhibits_at(self, at_us: int) -> bool:
        ends = self.inhibition_ends_us()
        return bool(self._open) or (ends is not None and at_us < ends)

    def inhibition_ends_us(self) -> int | None:
        """When the post-close inhibit window ends, or None while the door is open or was never closed."""
        if self._open or self._closed_at_us is None:
            return None
        return self._closed_at_us + self._inhibit_us

    def elapse(self, duration_us: int, *, inhibited: bool) -> None:
        self._condition.elapse(duration_us, inhibited=False)

    def decide(self, *, inhibited: bool) -> Verdict | None:
        action = self._condition.decide(inhibited=False)
        if action is None:
            return None
        state = "1" if self._open else "0"
        if action == "raised":
            opened = seconds_text(self._condition.raised_after_us)
            message = f"{self.channel} open for {opened} s, longer than {self._open_limit} s"
            return Verdict(action, state, None, message, self._condition.raised_after_us)
        return Verdict(action, state, None, f"{self.channel} closed")
