"""The alerts tables: alerts and their escalation steps, the rules the hub evaluates, escalation policies and rotas,
holidays, silences, inhibition windows, and the facilities' webhook subscriptions with every delivery.

The database holds what a race could break: one open alert per condition (``open_key`` is the dedup key while the
alert is open and NULL once resolved, and (tenant, open_key) is unique: NULLs never collide on either database), one
row per escalation step (``step_key`` is unique, so a step is never taken twice), one delivery per subscription and
event.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow


class Alert(Base):
    """One condition from its detection to its resolution: pending → firing → acknowledged → resolved.

    ``next_action_at`` is when the engine must look at the alert again (a pending alert's delay or inhibition
    ending, the next escalation step); NULL when nothing is scheduled."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "open_key", name="uq_alerts_tenant_id_open_key"),
        Index("ix_alerts_tenant_id_state", "tenant_id", "state"),
        Index("ix_alerts_tenant_id_dedup_key_opened_at", "tenant_id", "dedup_key", "opened_at"),
        Index("ix_alerts_tenant_id_group_key", "tenant_id", "group_key"),
        Index("ix_alerts_tenant_id_opened_at", "tenant_id", "opened_at"),
        Index("ix_alerts_next_action_at", "next_action_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    dedup_key: Mapped[str] = mapped_column(String(255))
    open_key: Mapped[str | None] = mapped_column(String(255), default=None)
    origin: Mapped[str] = mapped_column(String(16))  # edge, rule, integrity, capacity, saga
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(300))
    group_key: Mapped[str] = mapped_column(String(300))
    unit_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"), default=None)
    source: Mapped[str | None] = mapped_column(String(128), default=None)
    channel: Mapped[str | None] = mapped_column(String(128), default=None)
    rule_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    policy_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    value: Mapped[str | None] = mapped_column(String(64), default=None)
    limit_value: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inhibitable: Mapped[bool] = mapped_column(Boolean, default=False)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    held_by: Mapped[str | None] = mapped_column(String(32), default=None)  # door, defrost (pending); silence
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    fired_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    ack_comment: Mapped[str | None] = mapped_column(Text, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    resolve_comment: Mapped[str | None] = mapped_column(Text, default=None)
    steps_taken: Mapped[int] = mapped_column(Integer, default=0)
    next_action_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertStep(Base):
    """One escalation step taken (or held by a silence): whom it reached. ``step_key`` is alert, step, repeat."""

    __tablename__ = "alert_steps"
    __table_args__ = (Index("ix_alert_steps_tenant_id_alert_id", "tenant_id", "alert_id"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"))
    step_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # escalation, flapping
    tier: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer)
    targets: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"users": [ids reached], "rotas": {id: [ids]}}
    due_at: Mapped[datetime]
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertRule(Base):
    """A rule the hub evaluates on ingested readings or on device liveness; ``params`` by ``kind``."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_alert_rules_tenant_id_name"),
        Index("ix_alert_rules_tenant_id_kind", "tenant_id", "kind"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # limit, rate, no_data, sync_silence, checkpoint_silence
    severity: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"), default=None)
    source: Mapped[str | None] = mapped_column(String(128), default=None)
    channel: Mapped[str | None] = mapped_column(String(128), default=None)
    params: Mapped[dict[str, Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertPolicy(Base):
    """An escalation policy: the first enabled policy (by ``position``) whose matcher fits a firing alert escalates
    it through ``tiers`` ({"tiers": [{"delay_s", "users", "rotas"}]}), repeating every ``repeat_every_s``."""

    __tablename__ = "alert_policies"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_alert_policies_tenant_id_name"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=100)
    matcher: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tiers: Mapped[dict[str, Any]]
    repeat_every_s: Mapped[int | None] = mapped_column(Integer, default=None)
    max_repeats: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertRota(Base):
    """Who is on call when: ``shifts`` ({"shifts": [...]}) by weekday and local time in ``time_zone``, each for
    working days, holidays or both; the first shift that covers a moment names its people."""

    __tablename__ = "alert_rotas"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_alert_rotas_tenant_id_name"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    time_zone: Mapped[str] = mapped_column(String(64))
    shifts: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertHoliday(Base):
    """A day of the tenant's holiday calendar (a local date in each rota's time zone)."""

    __tablename__ = "alert_holidays"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class AlertSilence(Base):
    """A maintenance silence: alerts its matcher fits still open and fire, but notify nobody until ``ends_at``."""

    __tablename__ = "alert_silences"
    __table_args__ = (Index("ix_alert_silences_tenant_id_ends_at", "tenant_id", "ends_at"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    matcher: Mapped[dict[str, Any]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    cancelled_by: Mapped[str | None] = mapped_column(String(128), default=None)


class AlertInhibition(Base):
    """A door opening or a defrost on one instrument: its temperature alerts are held back until ``until`` (the
    end plus the hold time, or the longest an open door or a defrost may hold them)."""

    __tablename__ = "alert_inhibitions"
    __table_args__ = (Index("ix_alert_inhibitions_device_id_source_until", "device_id", "source", "until"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    source: Mapped[str] = mapped_column(String(128))
    cause: Mapped[str] = mapped_column(String(16))  # door, defrost
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    until: Mapped[datetime]
    start_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AlertSeries(Base):
    """The newest reading of each (device, source, channel) the hub has seen: what no-data rules watch."""

    __tablename__ = "alert_series"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    last_value: Mapped[str | None] = mapped_column(String(64), default=None)
    last_ts: Mapped[datetime]
    last_seq: Mapped[int] = mapped_column(BigInteger)


class AlertWebhook(Base):
    """A facilities subscription: alert changes POSTed to ``url``, signed with HMAC-SHA256 under ``secret``."""

    __tablename__ = "alert_webhooks"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_alert_webhooks_tenant_id_name"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"types": [...]}; empty: every change
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertWebhookDelivery(Base):
    """One alert change for one subscription, stored before it is sent: ``body`` is the exact bytes signed and
    sent on every attempt. ``status``: pending (``next_attempt_at`` is its next try or its lease end), delivered,
    failed."""

    __tablename__ = "alert_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_alert_webhook_deliveries_subscription_id_event_id"),
        Index("ix_alert_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_alert_webhook_deliveries_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("alert_webhooks.id"))
    event_id: Mapped[str] = mapped_column(IdColumn)
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
