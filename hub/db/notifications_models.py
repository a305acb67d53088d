"""The notifications tables: each tenant's channels, each user's preferences and addresses, and the outbox of
messages with every delivery attempt.

A message row is written before anything is sent and is the only record of its delivery: ``state`` is one of
queued, sending (claimed under a lease), sent, delivered, failed; ``due_at`` is when it may next be claimed (its
send time while queued, its lease expiry while sending).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow


class NotificationChannel(Base):
    """One way a tenant reaches people (an SMTP relay, a Slack or Teams webhook, an SMS provider, a webhook).
    ``secrets`` holds URLs, passwords and tokens; the API never returns them in full. Channels are disabled, not
    deleted: their messages' history refers to them."""

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]]
    secrets: Mapped[dict[str, Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationPreference(Base):
    """A user's language, time zone and quiet hours (local ``HH:MM`` times; none when both are null)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    language: Mapped[str] = mapped_column(String(16), default="en")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    quiet_start: Mapped[str | None] = mapped_column(String(5), default=None)
    quiet_end: Mapped[str | None] = mapped_column(String(5), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationSubscription(Base):
    """A user's address on one channel (an e-mail address, a phone number, a Slack member to mention), and the
    least severity worth using it for."""

    __tablename__ = "notification_subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "channel_id"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("notification_channels.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(320), default=None)
    min_severity: Mapped[str] = mapped_column(String(16), default="info")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """One message to one person on one channel, rendered when it was queued. (tenant, dedup key, user, channel)
    is unique: queueing one alert step twice creates nothing new."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedup_key", "user_id", "channel_id"),
        Index("ix_notifications_state_due_at", "state", "due_at"),
        Index("ix_notifications_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_notifications_tenant_id_user_id_created_at", "tenant_id", "user_id", "created_at"),
        Index("ix_notifications_channel_id_provider_message_id", "channel_id", "provider_message_id"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    channel_id: Mapped[str] = mapped_column(ForeignKey("notification_channels.id"))
    channel_kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(320), default=None)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(SmallInteger)
    dedup_key: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    context: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    deferred_until: Mapped[datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(200), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    failed_at: Mapped[datetime | None] = mapped_column(default=None)


class NotificationAttempt(Base):
    """One try at delivering a message: its outcome (sent, delivered, retry, failed, abandoned) and why."""

    __tablename__ = "notification_attempts"
    __table_args__ = (Index("ix_notification_attempts_notification_id_number", "notification_id", "number"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
