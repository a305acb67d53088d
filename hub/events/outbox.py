"""Writing events: into the outbox table, in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import log_value
from hub.db.models import OutboxEvent


def record_event(
    session: AsyncSession,
    *,
    tenant_id: str,
    type: str,
    subject_type: str,
    subject_id: str,
    actor: str | None,
    payload: dict[str, Any],
) -> OutboxEvent:
    event = OutboxEvent(
        tenant_id=tenant_id,
        type=type,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        payload=log_value(payload),
    )
    session.add(event)
    return event
