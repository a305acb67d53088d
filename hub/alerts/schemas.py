"""The alerts API's request and response bodies: Create, Update and Public models per resource, requests refusing
unknown fields, times limited to what the hub can store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.alerts.escalation import ShiftSpec, TierSpec, known_zone
from hub.alerts.lifecycle import AlertState
from hub.alerts.rules import RuleKind, Severity
from hub.alerts.suppression import Matcher

PathId = Annotated[str, Field(max_length=64)]


Name = Annotated[str, Field(min_length=1, max_length=100)]


Reason = Annotated[str, Field(min_length=3, max_length=1000, description="why (kept in the audit trail)")]


Comment = Annotated[str, Field(min_length=3, max_length=2000)]


Label = Annotated[str, Field(min_length=1, max_length=128)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartialUpdate(RequestBody):
    """A PATCH body: a field left out keeps its value; none of these fields can be emptied, so an explicit null
    is refused (a 422 naming the field, not a database error)."""

    @model_validator(mode="after")
    def _no_nulls(self) -> PartialUpdate:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: leave a field out to keep its value; null is not a value here")
        return self


def plausible(moment: datetime) -> datetime:
    """An aware time the hub can store and compute with (years 2000 to 2200)."""
    if moment.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2026-05-01T18:00:00Z)")
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range") from exc
    if not 2000 <= in_utc.year <= 2200:
        raise ValueError("the time is out of range (years 2000 to 2200)")
    return in_utc


class AlertPublic(BaseModel):
    id: str
    dedup_key: str
    state: AlertState
    severity: str
    origin: str
    kind: str
    title: str
    group_key: str
    unit_id: str | None
    device_id: str | None
    source: str | None
    channel: str | None
    rule_id: str | None
    value: str | None
    limit: str | None
    flapping: bool
    held_by: str | None
    silenced_by: list[str]
    opened_at: datetime
    due_at: datetime | None
    fired_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_comment: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolve_comment: str | None
    steps_taken: int


class StepPublic(BaseModel):
    step_key: str
    kind: str
    tier: int
    repeat: int
    users: list[str]
    messages: int
    due_at: datetime
    taken_at: datetime


class AlertDetail(AlertPublic):
    steps: list[StepPublic]


class GroupPublic(BaseModel):
    group_key: str
    unit_id: str | None
    device_id: str | None
    source: str | None
    state: str
    severity: str | None
    open: int
    alerts: list[AlertPublic]


class CommentBody(RequestBody):
    comment: Comment


class RuleCreate(RequestBody):
    name: Name
    kind: RuleKind
    severity: Severity = "alarm"
    device_id: Annotated[str | None, Field(max_length=64)] = None
    source: Label | None = None
    channel: Label | None = None
    params: dict[Annotated[str, Field(max_length=64)], Any]
    enabled: bool = True


class RuleUpdate(PartialUpdate):
    reason: Reason
    name: Name | None = None
    severity: Severity | None = None
    params: dict[Annotated[str, Field(max_length=64)], Any] | None = None
    enabled: bool | None = None


class RulePublic(BaseModel):
    id: str
    name: str
    kind: str
    severity: str
    device_id: str | None
    source: str | None
    channel: str | None
    params: dict[str, Any]
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class PolicyCreate(RequestBody):
    name: Name
    position: Annotated[int, Field(ge=0, le=10_000)] = 100
    matcher: Matcher = Field(default_factory=Matcher)
    tiers: Annotated[list[TierSpec], Field(min_length=1, max_length=10)]
    repeat_every_s: Annotated[int | None, Field(ge=60, le=7 * 24 * 3600)] = None
    max_repeats: Annotated[int, Field(ge=0, le=100)] = 10
    enabled: bool = True


class PolicyUpdate(PartialUpdate):
    reason: Reason
    name: Name | None = None
    position: Annotated[int | None, Field(ge=0, le=10_000)] = None
    matcher: Matcher | None = None
    tiers: Annotated[list[TierSpec] | None, Field(min_length=1, max_length=10)] = None
    repeat_every_s: Annotated[int | None, Field(ge=60, le=7 * 24 * 3600)] = None
    max_repeats: Annotated[int | None, Field(ge=0, le=100)] = None
    enabled: bool | None = None


class PolicyPublic(BaseModel):
    id: str
    name: str
    position: int
    matcher: dict[str, Any]
    tiers: list[dict[str, Any]]
    repeat_every_s: int | None
    max_repeats: int
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


TimeZone = Annotated[
    str, Field(min_length=1, max_length=64, description="IANA name, e.g. Europe/Berlin"), AfterValidator(known_zone)
]


class RotaCreate(RequestBody):
    name: Name
    time_zone: TimeZone
    shifts: Annotated[list[ShiftSpec], Field(min_length=1, max_length=50)]


class RotaUpdate(PartialUpdate):
    reason: Reason
    name: Name | None = None
    time_zone: TimeZone | None = None
    shifts: Annotated[list[ShiftSpec] | None, Field(min_length=1, max_length=50)] = None


class RotaPublic(BaseModel):
    id: str
    name: str
    time_zone: str
    shifts: list[dict[str, Any]]
    created_by: str
    created_at: datetime
    updated_at: datetime


class OnCall(BaseModel):
    rota_id: str
    at: datetime
    users: list[str]


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    name: Annotated[str, Field(min_length=1, max_length=100)]


class HolidaysReplace(RequestBody):
    reason: Reason
    holidays: Annotated[list[Holiday], Field(max_length=1000)]


class SilenceCreate(RequestBody):
    reason: Reason
    matcher: Matcher
    ends_at: datetime
    starts_at: datetime | None = None
    owner_id: Annotated[str | None, Field(max_length=64)] = None

    @field_validator("ends_at", "starts_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else plausible(value)


class ReasonBody(RequestBody):
    reason: Reason


class SilencePublic(BaseModel):
    id: str
    owner_id: str
    reason: str
    matcher: dict[str, Any]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime
    cancelled_at: datetime | None
    cancelled_by: str | None


EventType = Literal[
    "alert.pending",
    "alert.held",
    "alert.firing",
    "alert.flapping",
    "alert.escalated",
    "alert.acknowledged",
    "alert.resolved",
]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host")
    return value


class WebhookCreate(RequestBody):
    name: Name
    url: Annotated[str, Field(min_length=8, max_length=2000)]
    event_types: Annotated[list[EventType], Field(max_length=10, description="empty: every alert change")] = Field(
        default_factory=list
    )
    secret: Annotated[str | None, Field(min_length=16, max_length=128)] = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


class WebhookUpdate(PartialUpdate):
    reason: Reason
    url: Annotated[str | None, Field(min_length=8, max_length=2000)] = None
    enabled: bool | None = None
    event_types: Annotated[list[EventType] | None, Field(max_length=10)] = None
    rotate_secret: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)


class WebhookPublic(BaseModel):
    id: str
    name: str
    url: str
    event_types: list[str]
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(default=None, description="shown once: when created or rotated")


class DeliveryPublic(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
