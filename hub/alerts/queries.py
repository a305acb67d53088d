"""Reading alerts and their configuration for the API, always within one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.book import public
from hub.alerts.escalator import active_silences, silencing
from hub.alerts.lifecycle import OPEN_STATES
from hub.alerts.mqtt import group_state
from hub.db.alerts_models import (
    Alert,
    AlertPolicy,
    AlertRota,
    AlertRule,
    AlertSilence,
    AlertStep,
    AlertWebhook,
    AlertWebhookDelivery,
)
from hub.errors import NotFoundError


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None
    open: bool | None = None
    group_key: str | None = None
    unit_id: str | None = None
    device_id: str | None = None
    severity: str | None = None


async def alerts(
    session: AsyncSession, tenant_id: str, where: AlertFilter, *, limit: int, offset: int, now: datetime
) -> list[dict[str, Any]]:
    query = select(Alert).where(Alert.tenant_id == tenant_id)
    if where.state is not None:
        query = query.where(Alert.state == where.state)
    if where.open is not None:
        open_states = [s.value for s in OPEN_STATES]
        query = query.where(Alert.state.in_(open_states) if where.open else Alert.state.not_in(open_states))
    for column, value in (
        (Alert.group_key, where.group_key),
        (Alert.unit_id, where.unit_id),
        (Alert.device_id, where.device_id),
        (Alert.severity, where.severity),
    ):
        if value is not None:
            query = query.where(column == value)
    rows = list(
        (await session.execute(query.order_by(Alert.opened_at.desc(), Alert.id).limit(limit).offset(offset))).scalars()
    )
    return await shown(session, tenant_id, rows, now)


async def shown(session: AsyncSession, tenant_id: str, rows: Sequence[Alert], now: datetime) -> list[dict[str, Any]]:
    """Alerts as the API shows them, each with the silences holding it now."""
    silences = await active_silences(session, tenant_id, now) if rows else []
    return [{**public(a), "silenced_by": [s.id for s in silencing(silences, a)] if a.fired_at else []} for a in rows]


async def groups(session: AsyncSession, tenant_id: str, now: datetime) -> list[dict[str, Any]]:
    """Open alerts per storage unit (or instrument), worst first."""
    rows = list(
        (
            await session.execute(
                select(Alert)
                .where(Alert.tenant_id == tenant_id, Alert.state.in_([s.value for s in OPEN_STATES]))
                .order_by(Alert.group_key, Alert.opened_at)
                .limit(2000)
            )
        ).scalars()
    )
    by_group: dict[str, list[Alert]] = {}
    for alert in rows:
        by_group.setdefault(alert.group_key, []).append(alert)
    found = []
    for key, members in by_group.items():
        first = members[0]
        found.append(
            {
                "group_key": key,
                "unit_id": first.unit_id,
                "device_id": first.device_id,
                "source": first.source,
                **group_state(members),
                "alerts": await shown(session, tenant_id, members, now),
            }
        )
    order = {"firing": 0, "acknowledged": 1, "pending": 2}
    return sorted(found, key=lambda g: (order.get(g["state"], 3), g["group_key"]))


async def steps(session: AsyncSession, tenant_id: str, alert_id: str) -> list[AlertStep]:
    rows = await session.execute(
        select(AlertStep)
        .where(AlertStep.tenant_id == tenant_id, AlertStep.alert_id == alert_id)
        .order_by(AlertStep.taken_at, AlertStep.step_key)
    )
    return list(rows.scalars())


async def one(session: AsyncSession, model: Any, tenant_id: str, record_id: str, what: str) -> Any:
    row = (
        await session.execute(select(model).where(model.tenant_id == tenant_id, model.id == record_id))
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no {what} {record_id}")
    return row


async def rules(session: AsyncSession, tenant_id: str) -> list[AlertRule]:
    rows = await session.execute(select(AlertRule).where(AlertRule.tenant_id == tenant_id).order_by(AlertRule.name))
    return list(rows.scalars())


async def policies(session: AsyncSession, tenant_id: str) -> list[AlertPolicy]:
    rows = await session.execute(
        select(AlertPolicy).where(AlertPolicy.tenant_id == tenant_id).order_by(AlertPolicy.position, AlertPolicy.name)
    )
    return list(rows.scalars())


async def rotas(session: AsyncSession, tenant_id: str) -> list[AlertRota]:
    rows = await session.execute(select(AlertRota).where(AlertRota.tenant_id == tenant_id).order_by(AlertRota.name))
    return list(rows.scalars())


async def silences(session: AsyncSession, tenant_id: str, *, active_at: datetime | None) -> list[AlertSilence]:
    query = select(AlertSilence).where(AlertSilence.tenant_id == tenant_id)
    if active_at is not None:
        query = query.where(
            AlertSilence.starts_at <= active_at,
            AlertSilence.ends_at > active_at,
            AlertSilence.cancelled_at.is_(None),
        )
    rows = await session.execute(query.order_by(AlertSilence.ends_at.desc(), AlertSilence.id).limit(500))
    return list(rows.scalars())


async def webhooks(session: AsyncSession, tenant_id: str) -> list[AlertWebhook]:
    rows = await session.execute(
        select(AlertWebhook).where(AlertWebhook.tenant_id == tenant_id).order_by(AlertWebhook.name)
    )
    return list(rows.scalars())


async def deliveries(
    session: AsyncSession, tenant_id: str, subscription_id: str, *, limit: int
) -> list[AlertWebhookDelivery]:
    await one(session, AlertWebhook, tenant_id, subscription_id, "webhook subscription")
    rows = await session.execute(
        select(AlertWebhookDelivery)
        .where(AlertWebhookDelivery.tenant_id == tenant_id, AlertWebhookDelivery.subscription_id == subscription_id)
        .order_by(AlertWebhookDelivery.created_at.desc(), AlertWebhookDelivery.id)
        .limit(limit)
    )
    return list(rows.scalars())
