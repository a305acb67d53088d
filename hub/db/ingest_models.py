"""Tables for what edges send: each device's log as the hub mirrors it, derived readings and events, the hub's
cosignatures, fork evidence, enrolment tokens, device credentials and commands."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow


class DeviceLog(Base):
    """The head of one device's mirrored chain; its row lock serialises that device's batches."""

    __tablename__ = "device_logs"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    origin: Mapped[str] = mapped_column(String(255), unique=True)
    next_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    head: Mapped[bytes] = mapped_column(LargeBinary(32))
    keys: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"keys": [[first_seq, vkey], ...]}
    cosigned_size: Mapped[int] = mapped_column(BigInteger, default=0)
    last_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    last_beacon_at: Mapped[datetime | None] = mapped_column(default=None)
    secret_hash: Mapped[str] = mapped_column(String(64))


class DeviceEntry(Base):
    __tablename__ = "device_entries"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Reading(Base):
    """An observation an edge logged, derived from its entry: what dashboards and alert rules read."""

    __tablename__ = "readings"
    __table_args__ = (Index("ix_readings_tenant_source_channel_ts", "tenant_id", "source", "channel", "ts"),)

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    source: Mapped[str] = mapped_column(String(128))  # the instrument behind the edge (payload "device")
    channel: Mapped[str] = mapped_column(String(128))
    value: Mapped[str | None] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32))
    quality: Mapped[str] = mapped_column(String(16))
    ts: Mapped[datetime]
    flagged: Mapped[str | None] = mapped_column(String(64), default=None)


class DeviceEvent(Base):
    """An event, alarm transition or gap an edge logged, derived from its entry."""

    __tablename__ = "device_events"
    __table_args__ = (Index("ix_device_events_tenant_ts", "tenant_id", "ts"),)

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    kind: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str | None] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    ts: Mapped[datetime]
    flagged: Mapped[str | None] = mapped_column(String(64), default=None)


class Cosignature(Base):
    __tablename__ = "cosignatures"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    head: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    cosigned_at: Mapped[datetime] = mapped_column(default=utcnow)


class ForkEvidence(Base):
    """Both pieces of a fork, kept: what the hub held and what it was offered."""

    __tablename__ = "fork_evidence"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    held: Mapped[bytes] = mapped_column(LargeBinary)
    offered: Mapped[bytes] = mapped_column(LargeBinary)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnrollmentToken(Base):
    __tablename__ = "enrollment_tokens"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    device_id: Mapped[str | None] = mapped_column(IdColumn, default=None)


class DeviceCommand(Base):
    __tablename__ = "device_commands"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
