"""Escalation, as pure functions: which step of a policy comes when, and who is on call at a moment.

A policy is tiers of people or rotas, each with a delay after the step before it (the first tier's delay counts
from firing). After the last tier the tiers run again, ``repeat_every_s`` after the last step, until someone
acknowledges (at most ``max_repeats`` rounds). Step *i* is tier ``i % len(tiers)`` of round ``i // len(tiers)``;
its key (alert, tier, round) is stable, so a step recorded once is never taken again, whatever restarts.

A rota names who is on call by shifts: weekdays and a local time range in the rota's time zone (a range that ends
before it starts runs past midnight into the next day; equal start and end is the whole day), each for working
days, holidays or both. A holiday is a local date of the tenant's calendar; an overnight shift belongs to the day
it starts. The first shift that covers the moment names the people.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Id = Annotated[str, Field(min_length=1, max_length=64)]
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_WEEK_S = 7 * 24 * 3600


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TierSpec(_Spec):
    delay_s: Annotated[int, Field(ge=0, le=_WEEK_S, description="after the previous step (the first: after firing)")]
    users: Annotated[tuple[Id, ...], Field(max_length=50)] = ()
    rotas: Annotated[tuple[Id, ...], Field(max_length=10)] = ()

    @model_validator(mode="after")
    def _someone(self) -> TierSpec:
        if not self.users and not self.rotas:
            raise ValueError("a tier needs at least one user or rota")
        return self


class PolicySpec(_Spec):
    tiers: Annotated[tuple[TierSpec, ...], Field(min_length=1, max_length=10)]
    repeat_every_s: Annotated[int | None, Field(ge=60, le=_WEEK_S)] = None
    max_repeats: Annotated[int, Field(ge=0, le=100)] = 10


class ShiftSpec(_Spec):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    weekdays: Annotated[frozenset[Annotated[int, Field(ge=0, le=6)]], Field(min_length=1)] = Field(
        description="0 Monday … 6 Sunday"
    )
    start: Annotated[str, Field(pattern=_HHMM.pattern, description="HH:MM local time")]
    end: Annotated[str, Field(pattern=_HHMM.pattern, description="HH:MM local time, 24:00 for midnight")]
    holidays: Literal["never", "only", "any"] = "never"
    users: Annotated[tuple[Id, ...], Field(min_length=1, max_length=50)]

    @property
    def start_minute(self) -> int:
        return _minutes(self.start)

    @property
    def end_minute(self) -> int:
        return _minutes(self.end)


def known_zone(value: str) -> str:
    """``value`` if it names an IANA time zone, else ``ValueError`` saying what is expected."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Berlin')") from exc
    return value


class RotaSpec(_Spec):
    time_zone: Annotated[str, Field(min_length=1, max_length=64)]
    shifts: Annotated[tuple[ShiftSpec, ...], Field(min_length=1, max_length=50)]

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class StepRef:
    index: int
    tier: int
    repeat: int


def step_ref(policy: PolicySpec, index: int) -> StepRef | None:
    """Step ``index`` of the policy, or None once the policy has no more steps."""
    count = len(policy.tiers)
    repeat, tier = divmod(index, count)
    if repeat > 0 and (policy.repeat_every_s is None or repeat > policy.max_repeats):
        return None
    return StepRef(index, tier, repeat)


def delay_before(policy: PolicySpec, index: int) -> timedelta:
    """How long after the previous step (or after firing, for the first) step ``index`` comes."""
    ref = step_ref(policy, index)
    if ref is None:
        raise ValueError(f"the policy has no step {index}")
    if ref.tier == 0 and ref.repeat > 0:
        return timedelta(seconds=policy.repeat_every_s or 0)
    return timedelta(seconds=policy.tiers[ref.tier].delay_s)


def schedule(policy: PolicySpec, fired_at: datetime, limit: int = 100) -> list[tuple[datetime, StepRef]]:
    """The steps as they come when nobody acknowledges and nothing is late: (when, which)."""
    steps: list[tuple[datetime, StepRef]] = []
    at = fired_at
    for index in range(limit):
        ref = step_ref(policy, index)
        if ref is None:
            break
        at += delay_before(policy, index)
        steps.append((at, ref))
    return steps


def next_due(previous_due: datetime, taken_at: datetime, delay: timedelta, grace: timedelta) -> datetime:
    """When the step after one due at ``previous_due`` and taken at ``taken_at`` is due. On time (within
    ``grace``) the schedule keeps its rhythm; late (a restart, a silence that held it) the next step counts from
    when this one went, so a backlog never arrives as a burst."""
    base = previous_due if taken_at - previous_due <= grace else taken_at
    return base + delay


def step_key(alert_id: str, ref: StepRef) -> str:
    return f"{alert_id}/tier/{ref.tier}/repeat/{ref.repeat}"


def on_call(rota: RotaSpec, at: datetime, holidays: Collection[date]) -> tuple[str, ...]:
    """Who the first shift covering ``at`` names; empty when no shift covers it."""
    zone = ZoneInfo(rota.time_zone)
    local = at.astimezone(zone)
    minute = local.hour * 60 + local.minute
    today = local.date()
    for shift in rota.shifts:
        if _covers(shift, today, minute, holidays):
            return shift.users
    return ()


def _day_fits(shift: ShiftSpec, day: date, holidays: Collection[date]) -> bool:
    if day.weekday() not in shift.weekdays:
        return False
    holiday = day in holidays
    return shift.holidays == "any" or (shift.holidays == "only") == holiday


def _covers(shift: ShiftSpec, today: date, minute: int, holidays: Collection[date]) -> bool:
    start, end = shift.start_minute, shift.end_minute
    if start < end:
        return start <= minute < end and _day_fits(shift, today, holidays)
    # runs past midnight (or all day when start == end): the evening part today, the morning part from yesterday
    if minute >= start and _day_fits(shift, today, holidays):
        return True
    return minute < end and _day_fits(shift, today - timedelta(days=1), holidays)


def users_of(targets: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """Every user named, once, in order."""
    seen: dict[str, None] = {}
    for group in targets:
        for user in group:
            seen.setdefault(user, None)
    return tuple(seen)
