"""The rules the hub evaluates on ingested readings, as pure functions: limits with a delay and a hysteresis, rate
of change by least-squares slope, no data from a channel, an edge that has not synced or checkpointed in time.

Values are ``Decimal`` (readings arrive as decimal text), times are aware datetimes passed in: nothing here reads a
clock. What a rule remembers between readings is the alert it opened: ``step`` takes that alert's state and its
due time and says what to do with the next reading, so the engine keeps no rule state in memory and a restart
loses nothing.

Semantics (those of the edge's offline alarms, ``edge/alarms``, so an alarm means the same on both sides):

- a high limit's value is *beyond* strictly above the limit, *clear* at or below ``limit - hysteresis``, in the
  deadband in between (a low limit mirrors it);
- beyond opens a pending alert due ``delay_s`` after the reading; the last value is assumed to hold until the next
  one, so the alert fires when the delay has passed (the engine's timer, or a later reading at or after the due
  time); any value back inside the limit before then withdraws it;
- a firing alert resolves only on a clear value: the deadband changes nothing, which is what stops chatter;
- the rate is the least-squares slope of the readings of the last ``window_s`` in units per minute, computed once
  those readings span at least half the window; beyond when its magnitude exceeds ``max_per_minute``, clear at or
  below ``max_per_minute - hysteresis_per_minute``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from hub.errors import ValidationFailedError

Severity = Literal["warning", "alarm", "critical"]
SEVERITIES: tuple[Severity, ...] = ("warning", "alarm", "critical")
RuleKind = Literal["limit", "rate", "no_data", "sync_silence", "checkpoint_silence"]
READING_KINDS = frozenset({"limit", "rate", "no_data"})
DEVICE_KINDS = frozenset({"sync_silence", "checkpoint_silence"})
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,12})?")
_DAY_S = 24 * 3600


def severity_rank(severity: str) -> int:
    """warning 0, alarm 1, critical 2; anything else ranks as a warning."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def _decimal_text(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise ValueError(f"expected a decimal string such as '-70' or '2.5', got {value!r}")
    return value


def _non_negative(value: object) -> str:
    text = _decimal_text(value)
    if Decimal(text) < 0:
        raise ValueError(f"must be zero or more, got {text!r}")
    return text


def _positive(value: object) -> str:
    text = _decimal_text(value)
    if Decimal(text) <= 0:
        raise ValueError(f"must be more than zero, got {text!r}")
    return text


DecimalText = Annotated[str, BeforeValidator(_decimal_text)]
NonNegativeDecimalText = Annotated[str, BeforeValidator(_non_negative)]
PositiveDecimalText = Annotated[str, BeforeValidator(_positive)]


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LimitParams(_Params):
    direction: Literal["high", "low"]
    limit: DecimalText
    delay_s: Annotated[int, Field(ge=0, le=7 * _DAY_S)] = 0
    hysteresis: NonNegativeDecimalText = "0"


class RateParams(_Params):
    max_per_minute: PositiveDecimalText
    window_s: Annotated[int, Field(ge=10, le=_DAY_S)] = 300
    hysteresis_per_minute: NonNegativeDecimalText = "0"
    delay_s: Annotated[int, Field(ge=0, le=7 * _DAY_S)] = 0

    @model_validator(mode="after")
    def _can_clear(self) -> RateParams:
        if Decimal(self.hysteresis_per_minute) >= Decimal(self.max_per_minute):
            raise ValueError(
                f"hysteresis_per_minute {self.hysteresis_per_minute} must be below max_per_minute "
                f"{self.max_per_minute}, or the alert could never clear"
            )
        return self


class SilenceParams(_Params):
    """For ``no_data``, ``sync_silence`` and ``checkpoint_silence``: how long silence may last."""

    after_s: Annotated[int, Field(ge=1, le=30 * _DAY_S)]


RuleParams = LimitParams | RateParams | SilenceParams
_PARAMS: dict[str, type[RuleParams]] = {
    "limit": LimitParams,
    "rate": RateParams,
    "no_data": SilenceParams,
    "sync_silence": SilenceParams,
    "checkpoint_silence": SilenceParams,
}


def parse_params(kind: str, raw: Mapping[str, Any]) -> RuleParams:
    """A rule's parameters, validated for its kind; ``ValidationFailedError`` naming every field that is wrong."""
    model = _PARAMS.get(kind)
    if model is None:
        raise ValidationFailedError(f"unknown rule kind {kind!r}; one of: {', '.join(_PARAMS)}")
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        problems = [f"params.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailedError(f"{kind} rule: " + "; ".join(problems), problems=problems) from exc


class Zone(StrEnum):
    BEYOND = "beyond"
    DEADBAND = "deadband"
    CLEAR = "clear"


def reading_value(value: str | None, quality: str) -> Decimal | None:
    """A usable reading: good quality and a finite decimal; anything else is no reading at all."""
    if quality != "good" or value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def limit_zone(params: LimitParams, value: Decimal) -> Zone:
    limit, hysteresis = Decimal(params.limit), Decimal(params.hysteresis)
    if params.direction == "high":
        if value > limit:
            return Zone.BEYOND
        return Zone.CLEAR if value <= limit - hysteresis else Zone.DEADBAND
    if value < limit:
        return Zone.BEYOND
    return Zone.CLEAR if value >= limit + hysteresis else Zone.DEADBAND


def rate_zone(params: RateParams, rate: Decimal) -> Zone:
    speed = abs(rate)
    if speed > Decimal(params.max_per_minute):
        return Zone.BEYOND
    clear_at = Decimal(params.max_per_minute) - Decimal(params.hysteresis_per_minute)
    return Zone.CLEAR if speed <= clear_at else Zone.DEADBAND


def slope_per_minute(samples: Sequence[tuple[datetime, Decimal]]) -> Decimal | None:
    """The least-squares slope of ``samples`` in units per minute; None with fewer than two distinct times."""
    if len(samples) < 2:
        return None
    with localcontext() as context:
        context.prec = 34
        origin = samples[0][0]
        times = [Decimal((at - origin) // timedelta(microseconds=1)) for at, _ in samples]
        values = [value for _, value in samples]
        mean_t = sum(times, Decimal(0)) / len(times)
        mean_v = sum(values, Decimal(0)) / len(values)
        sxx = sum(((t - mean_t) ** 2 for t in times), Decimal(0))
        if sxx == 0:
            return None
        sxy = sum(((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)), Decimal(0))
        return sxy * 60_000_000 / sxx


def rate_at(params: RateParams, samples: Sequence[tuple[datetime, Decimal]], at: datetime) -> Decimal | None:
    """The rate at ``at`` over the window before it, or None while the readings span less than half the window
    (over a few seconds one step of sensor resolution already reads as several units per minute)."""
    window = timedelta(seconds=params.window_s)
    inside = [(t, v) for t, v in samples if at - window <= t <= at]
    if not inside or 2 * (inside[-1][0] - inside[0][0]) < window:
        return None
    return slope_per_minute(inside)


class Action(StrEnum):
    OPEN = "open"  # a pending alert, due after the rule's delay
    FIRE = "fire"  # the pending alert's delay has passed with the value still held beyond
    WITHDRAW = "withdraw"  # back inside before the delay passed: the pending alert resolves, never having fired
    RESOLVE = "resolve"  # a firing (or acknowledged) alert's value is clear


OpenState = Literal["none", "pending", "firing"]


def step(zone: Zone, current: OpenState, *, at: datetime, due_at: datetime | None = None) -> tuple[Action, ...]:
    """What one reading at ``at`` in ``zone`` does to the rule's alert (``current``; a pending one ``due_at``).

    A pending alert whose due time is at or before the reading fired while the previous value held: it fires
    first, then the reading is judged as for a firing alert."""
    if current == "none":
        return (Action.OPEN,) if zone is Zone.BEYOND else ()
    if current == "pending":
        if due_at is not None and due_at <= at:
            return (Action.FIRE, *step(zone, "firing", at=at))
        return () if zone is Zone.BEYOND else (Action.WITHDRAW,)
    return (Action.RESOLVE,) if zone is Zone.CLEAR else ()


def due_after(at: datetime, delay_s: int) -> datetime:
    return at + timedelta(seconds=delay_s)


def silent_too_long(last: datetime, after_s: int, now: datetime) -> bool:
    """Whether ``after_s`` seconds have passed since ``last`` (a reading, a sync, a checkpoint) at ``now``."""
    return now - last >= timedelta(seconds=after_s)
