"""Alarm rule configuration: validated, frozen pydantic models embedded in the edge's device config.

Limits are decimal strings (``"-70"``, ``"2.5"``), never floats, because they are compared with ``Decimal``
and recorded in a log that forbids floats. A YAML integer (``limit: -70``) is accepted and kept as its decimal
text; a YAML float (``limit: -70.5``) is refused with a hint to quote it.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

AlarmSeverity = Literal["warning", "alarm", "critical"]
LimitKind = Literal["high", "high_high", "low", "low_low"]
AlarmRuleName = Literal["high", "high_high", "low", "low_low", "rate", "offline", "door_open"]

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_HIGH_KINDS: tuple[LimitKind, ...] = ("high", "high_high")
_LIMIT_ORDER: tuple[LimitKind, ...] = ("low_low", "low", "high", "high_high")


def _decimal_text(value: object) -> str:
    # bool is an int subclass; True as a limit is a config mistake, not 1
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        raise ValueError(f"write {value!r} as a quoted decimal string (floats are not exact)")
    if not isinstance(value, str) or len(value) > 64 or not _DECIMAL.fullmatch(value):
        raise ValueError(f"expected a decimal string such as '-70' or '2.5', got {value!r}")
    return value


def _non_negative_decimal_text(value: object) -> str:
    text = _decimal_text(value)
    if Decimal(text) < 0:
        raise ValueError(f"must be zero or more, got {text!r}")
    return text


def _positive_decimal_text(value: object) -> str:
    text = _decimal_text(value)
    if Decimal(text) <= 0:
        raise ValueError(f"must be more than zero, got {text!r}")
    return text


DecimalText = Annotated[str, BeforeValidator(_decimal_text)]
NonNegativeDecimalText = Annotated[str, BeforeValidator(_non_negative_decimal_text)]
PositiveDecimalText = Annotated[str, BeforeValidator(_positive_decimal_text)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LimitRule(_Rule):
    """A threshold with a raise delay and a clearing deadband.

    ``high``/``high_high`` raise once the value has stayed strictly above ``limit`` for ``delay_s`` and clear
    once it is at or below ``limit - hysteresis`` (for ``clear_delay_s``, default at once);
    ``low``/``low_low`` mirror that (raise strictly below, clear at or above ``limit + hysteresis``). Between
    the two the alarm keeps its state.
    """

    kind: LimitKind
    limit: DecimalText
    delay_s: Seconds
    hysteresis: NonNegativeDecimalText
    severity: AlarmSeverity
    clear_delay_s: Seconds = 0.0

    @property
    def is_high(self) -> bool:
        return self.kind in _HIGH_KINDS


class RateOfChangeRule(_Rule):
    """Raises when the value changes faster than ``max_per_minute`` (either direction).

    The rate is the least-squares slope of the good samples of the last ``window_s`` seconds; it is computed
    only once those samples span at least half the window, because over a few seconds a single 0.1-step of
    sensor resolution already reads as several units per minute. Clears once the rate is at or below
    ``max_per_minute - hysteresis_per_minute``.
    """

    max_per_minute: PositiveDecimalText
    window_s: PositiveSeconds = 60.0
    hysteresis_per_minute: NonNegativeDecimalText = "0"
    severity: AlarmSeverity

    @model_validator(mode="after")
    def _hysteresis_below_rate(self) -> RateOfChangeRule:
        if Decimal(self.hysteresis_per_minute) >= Decimal(self.max_per_minute):
            raise ValueError(
                f"hysteresis_per_minute {self.hysteresis_per_minute} must be below max_per_minute "
                f"{self.max_per_minute}, or the alarm could never clear"
            )
        return self


class OfflineRule(_Rule):
    """Raises when a channel has had no good reading for ``after_s`` seconds; clears on the next good reading.

    Readings of bad or uncertain quality, ``None`` values and unparsable values count as no reading. Before
    the first reading the silence is counted from the engine's first evaluation, so a sensor that never
    reports goes offline.
    """

    after_s: PositiveSeconds
    severity: AlarmSeverity


class DoorRule(_Rule):
    """A door contact (``"1"`` open, ``"0"`` closed): raises when left open, inhibits temperature alarms.

    ``door_open`` raises once the door has been open for ``open_longer_than_s`` and clears when it closes.
    While the door is open, and for ``inhibit_s`` after it closes, the limit and rate rules of
    ``inhibited_channels`` (default: every channel of the device except the door's) are inhibited: time beyond
    a limit does not count toward the delay (a pending alarm is held where it was, not reset), nothing new is
    raised, an active alarm stays active and may still clear. Offline and door alarms are never inhibited.
    """

    door_channel: str = Field(min_length=1)
    open_longer_than_s: Seconds
    inhibit_s: Seconds
    severity: AlarmSeverity
    inhibited_channels: tuple[str, ...] | None = None


class ChannelAlarms(_Rule):
    """The rules of one channel. ``unit`` only decorates messages (``"Cel"`` gives "-68.4 Cel")."""

    limits: tuple[LimitRule, ...] = ()
    rate: RateOfChangeRule | None = None
    offline: OfflineRule | None = None
    unit: str = Field(default="", max_length=32)

    @model_validator(mode="after")
    def _limits_are_consistent(self) -> ChannelAlarms:
        by_kind: dict[LimitKind, Decimal] = {}
        for rule in self.limits:
            if rule.kind in by_kind:
                raise ValueError(f"two {rule.kind} limits; each kind may appear once per channel")
            by_kind[rule.kind] = Decimal(rule.limit)
        present = [kind for kind in _LIMIT_ORDER if kind in by_kind]
        for lower, upper in itertools.pairwise(present):
            if not by_kind[lower] < by_kind[upper]:
                raise ValueError(f"{lower} limit {by_kind[lower]} must be below {upper} limit {by_kind[upper]}")
        return self

    def limit_rule(self, kind: LimitKind) -> LimitRule | None:
        return next((rule for rule in self.limits if rule.kind == kind), None)


class DeviceAlarms(_Rule):
    """Every alarm rule of one device: per-channel rules and at most one door contact."""

    channels: dict[str, ChannelAlarms] = Field(default_factory=dict)
    door: DoorRule | None = None

    @model_validator(mode="after")
    def _door_fits_channels(self) -> DeviceAlarms:
        if self.door is None:
            return self
        door_channel = self.channels.get(self.door.door_channel)
        if door_channel is not None and (door_channel.limits or door_channel.rate is not None):
            raise ValueError(
                f"door channel {self.door.door_channel!r} carries 0/1 door states; only an offline rule fits it"
            )
        for name in self.door.inhibited_channels or ():
            if name == self.door.door_channel:
                raise ValueError(f"door channel {name!r} cannot inhibit itself")
            if name not in self.channels:
                raise ValueError(f"inhibited channel {name!r} has no rules on this device")
        return self

    def door_inhibits(self, channel: str) -> bool:
        if self.door is None or channel == self.door.door_channel:
            return False
        return self.door.inhibited_channels is None or channel in self.door.inhibited_channels
