"""The alarm engine: feeds readings and the passing of time to every rule's check and reports transitions.

Every call first lets time pass up to ``now_mono`` for every device (raising what came due with the values
already held), then applies the new reading, then decides again. The outcome therefore does not depend on how
often ``tick`` is called: a reading that arrives after a delay has elapsed raises (and, if it is back inside,
clears) in the same call, just as a tick at the due moment followed by the reading would have.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from edge.alarms.checks import Check, DoorCheck, LimitCheck, OfflineCheck, RateCheck, Verdict
from edge.alarms.condition import to_microseconds
from edge.alarms.errors import (
    AlarmConfigError,
    AlarmError,
    AlreadyAcknowledgedError,
    UnknownAlarmError,
    UnknownRuleError,
)
from edge.alarms.rules import ChannelAlarms, DeviceAlarms, LimitKind
from edge.alarms.transitions import ActiveAlarm, AlarmTransition, alarm_id_for


class _DeviceChecks:
    """The checks of one device in a fixed order: per channel its limits, rate and offline; then the door."""

    def __init__(self, name: str, config: DeviceAlarms) -> None:
        self.name = name
        self.door = DoorCheck(config.door) if config.door is not None else None
        self.limits: dict[tuple[str, str], LimitCheck] = {}
        self.rates: dict[str, RateCheck] = {}
        self.offline: dict[str, OfflineCheck] = {}
        self.checks: list[Check] = []
        self._door_inhibits = {channel for channel in config.channels if config.door_inhibits(channel)}
        for channel, rules in config.channels.items():
            for limit_rule in rules.limits:
                limit = LimitCheck(channel, rules.unit, limit_rule)
                self.limits[channel, limit_rule.kind] = limit
                self.checks.append(limit)
            if rules.rate is not None:
                self.rates[channel] = RateCheck(channel, rules.unit, rules.rate)
                self.checks.append(self.rates[channel])
            if rules.offline is not None:
                self.offline[channel] = OfflineCheck(channel, rules.unit, rules.offline)
                self.checks.append(self.offline[channel])
        if self.door is not None:
            self.checks.append(self.door)

    def inhibited(self, check: Check, at_us: int) -> bool:
        return (
            self.door is not None
            and check.inhibitable
            and check.channel in self._door_inhibits
            and self.door.inhibits_at(at_us)
        )

    def elapse(self, start_us: int, end_us: int) -> None:
        """Let time pass, split where the inhibit window ends so each part counts under the right state."""
        ends = self.door.inhibition_ends_us() if self.door is not None else None
        cuts = [start_us, ends, end_us] if ends is not None and start_us < ends < end_us else [start_us, end_us]
        for begin, finish in itertools.pairwise(cuts):
            for check in self.checks:
                check.elapse(finish - begin, inhibited=self.inhibited(check, begin))

    def apply(self, channel: str, value: Decimal, text: str, at_us: int) -> None:
        if self.door is not None and channel == self.door.channel and value in (0, 1):
            self.door.door_reading(value == 1, at_us)
        if channel in self.offline:
            self.offline[channel].good_reading(text)
        for (limit_channel, _), limit in self.limits.items():
            if limit_channel == channel:
                limit.observe(value, text)
        if channel in self.rates:
            self.rates[channel].observe(at_us, value)


@dataclass(frozen=True)
class _Raised:
    alarm: ActiveAlarm
    raised_us: int


class AlarmEngine:
    """Offline alarm rules for every device of one edge. Pure logic: the caller supplies readings and clocks.

    ``now_mono`` is monotonic seconds (it decides when delays elapse and must never go backwards); ``now_utc``
    is an aware datetime that is only recorded. Readings of devices without rules are ignored.
    """

    def __init__(self, devices: Mapping[str, DeviceAlarms]) -> None:
        self._rules = dict(devices)
        self._devices = {name: _DeviceChecks(name, config) for name, config in self._rules.items()}
        self._last_us: int | None = None
        self._active: dict[str, _Raised] = {}

    def observe(
        self,
        device: str,
        channel: str,
        value: str | None,
        quality: str,
        now_mono: float,
        now_utc: datetime,
    ) -> list[AlarmTransition]:
        """Apply one reading. Only ``quality == "good"`` with a finite decimal value counts as a reading."""
        now_us, at = self._clock(now_mono, now_utc)
        transitions = self._advance(now_us, at)
        checks = self._devices.get(device)
        reading = _usable_value(value, quality)
        if checks is not None and reading is not None and value is not None:
            checks.apply(channel, reading, value, now_us)
            transitions += self._decide(checks, now_us, at)
        return transitions

    def tick(self, now_mono: float, now_utc: datetime) -> list[AlarmTransition]:
        """Let time pass without a reading: delays elapse, sensors go offline, inhibit windows end."""
        now_us, at = self._clock(now_mono, now_utc)
        return self._advance(now_us, at)

    def acknowledge(self, alarm_id: str, by: str, comment: str, now_utc: datetime) -> AlarmTransition:
        """Record that ``by`` is dealing with an active alarm; it stays active until its condition clears."""
        at = _aware_utc(now_utc)
        if not by.strip():
            raise AlarmError(f"acknowledging {alarm_id} needs the name of who acknowledges, got {by!r}")
        raised = self._active.get(alarm_id)
        if raised is None:
            active = ", ".join(self._active) or "none"
            raise UnknownAlarmError(f"alarm {alarm_id!r} is not active (active: {active})")
        alarm = raised.alarm
        if alarm.acknowledged_by is not None:
            raise AlreadyAcknowledgedError(
                f"alarm {alarm_id} was already acknowledged by {alarm.acknowledged_by} at {alarm.acknowledged_at}"
            )
        alarm = replace(alarm, acknowledged_by=by, acknowledged_at=at, acknowledge_comment=comment)
        self._active[alarm_id] = replace(raised, alarm=alarm)
        message = f"{alarm.rule} on {alarm.device}/{alarm.channel} acknowledged by {by}"
        return AlarmTransition(
            action="acknowledged",
            alarm_id=alarm_id,
            device=alarm.device,
            channel=alarm.channel,
            rule=alarm.rule,
            severity=alarm.severity,
            value=alarm.value,
            limit=alarm.limit,
            message=f"{message}: {comment}" if comment else message,
            at=at,
            by=by,
            comment=comment,
        )

    def set_limit(self, device: str, channel: str, kind: LimitKind, new_limit: str) -> None:
        """Change one threshold, effective at the next ``observe`` or ``tick`` (time until then: old limit).

        Raises ``UnknownRuleError`` for a device, channel or kind without a limit rule and
        ``AlarmConfigError`` when the new limit is not a decimal string or would break the order low_low < low
        < high < high_high.
        """
        device_rules = self._rules.get(device)
        if device_rules is None:
            raise UnknownRuleError(f"no alarm rules for device {device!r} (known: {', '.join(self._rules) or 'none'})")
        channel_rules = device_rules.channels.get(channel)
        if channel_rules is None:
            raise UnknownRuleError(f"no alarm rules for channel {device}/{channel}")
        if channel_rules.limit_rule(kind) is None:
            kinds = ", ".join(rule.kind for rule in channel_rules.limits) or "none"
            raise UnknownRuleError(f"channel {device}/{channel} has no {kind} limit (it has: {kinds})")
        data = channel_rules.model_dump()
        for rule in data["limits"]:
            if rule["kind"] == kind:
                rule["limit"] = new_limit
        try:
            changed = ChannelAlarms.model_validate(data)
        except ValidationError as exc:
            reasons = "; ".join(error["msg"] for error in exc.errors())
            raise AlarmConfigError(f"cannot set {device}/{channel} {kind} limit to {new_limit!r}: {reasons}") from exc
        new_rule = next(rule for rule in changed.limits if rule.kind == kind)
        channels = {**device_rules.channels, channel: changed}
        self._rules[device] = device_rules.model_copy(update={"channels": channels})
        self._devices[device].limits[channel, kind].replace_rule(new_rule)

    def active(self) -> list[ActiveAlarm]:
        """Alarms raised and not yet cleared, oldest first."""
        return [raised.alarm for raised in self._active.values()]

    def rules(self) -> dict[str, DeviceAlarms]:
        """The rules as they stand now, threshold changes included (to persist or to show)."""
        return dict(self._rules)

    def _clock(self, now_mono: float, now_utc: datetime) -> tuple[int, datetime]:
        if not math.isfinite(now_mono):
            raise AlarmError(f"now_mono must be a finite number of seconds, got {now_mono!r}")
        now_us = to_microseconds(now_mono)
        if self._last_us is not None and now_us < self._last_us:
            raise AlarmError(
                f"monotonic time went backwards: {now_mono} s after {self._last_us / 1_000_000} s; "
                "pass time.monotonic(), not wall-clock time"
            )
        return now_us, _aware_utc(now_utc)

    def _advance(self, now_us: int, at: datetime) -> list[AlarmTransition]:
        # the first call starts the clocks: offline silence counts from here
        start_us = now_us if self._last_us is None else self._last_us
        self._last_us = now_us
        transitions: list[AlarmTransition] = []
        for checks in self._devices.values():
            checks.elapse(start_us, now_us)
            transitions += self._decide(checks, now_us, at)
        return transitions

    def _decide(self, checks: _DeviceChecks, now_us: int, at: datetime) -> list[AlarmTransition]:
        transitions = []
        for check in checks.checks:
            verdict = check.decide(inhibited=checks.inhibited(check, now_us))
            if verdict is not None:
                transitions.append(self._record(checks.name, check, verdict, now_us, at))
        return transitions

    def _record(self, device: str, check: Check, verdict: Verdict, now_us: int, at: datetime) -> AlarmTransition:
        alarm_id = alarm_id_for(device, check.channel, check.rule)
        if verdict.action == "raised":
            duration_us = verdict.beyond_us
            alarm = ActiveAlarm(
                alarm_id=alarm_id,
                device=device,
                channel=check.channel,
                rule=check.rule,
                severity=check.severity,
                raised_at=at,
                value=verdict.value,
                limit=verdict.limit,
                message=verdict.message,
            )
            self._active[alarm_id] = _Raised(alarm, now_us)
        else:
            raised = self._active.pop(alarm_id)
            duration_us = now_us - raised.raised_us
        return AlarmTransition(
            action=verdict.action,
            alarm_id=alarm_id,
            device=device,
            channel=check.channel,
            rule=check.rule,
            severity=check.severity,
            value=verdict.value,
            limit=verdict.limit,
            message=verdict.message,
            at=at,
            duration_ms=None if duration_us is None else duration_us // 1000,
        )


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AlarmError(f"now_utc must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _usable_value(value: str | None, quality: str) -> Decimal | None:
    if quality != "good" or value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
