"""The book of alerts: opening one per condition, firing, acknowledging, resolving, each in the caller's transaction
with its event (``alert.<state>``) and, for what people see or do, its audit entry.

One condition is one alert: ``open`` returns the alert already open for the dedup key (the unique open key makes
two racing transactions agree). What fires is escalated by ``advance`` (see ``hub.alerts.escalator``); a pending
alert's delay and inhibitions are looked at there too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.inhibition import HoldTimes, Window, held_until, inhibitable
from hub.alerts.lifecycle import AlertState, check_comment, check_move
from hub.alerts.suppression import is_flapping
from hub.alerts.units import unit_for
from hub.audit.trail import AuditTrail
from hub.db.alerts_models import Alert, AlertInhibition
from hub.db.base import utcnow
from hub.errors import NotFoundError
from hub.events.outbox import record_event

logger = logging.getLogger(__name__)

SYSTEM = "system:alerts"
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Condition:
    """Something worth an alert, as a source reports it. ``started_at``: when the condition began (a reading's or
    an entry's time); a pending alert is due ``delay_s`` after it."""

    tenant_id: str
    dedup_key: str
    origin: str
    kind: str
    severity: str
    title: str
    started_at: datetime
    device_id: str | None = None
    source: str | None = None
    channel: str | None = None
    rule_id: str | None = None
    value: str | None = None
    limit: str | None = None
    unit_id: str | None = None  # known to the source (a capacity warning); else looked up from the channel
    delay_s: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Flapping:
    threshold: int = 6
    window: timedelta = timedelta(minutes=30)


def labels(alert: Alert) -> dict[str, str | None]:
    """What silences and policies match on."""
    return {
        "origin": alert.origin,
        "kind": alert.kind,
        "severity": alert.severity,
        "device_id": alert.device_id,
        "source": alert.source,
        "channel": alert.channel,
        "unit_id": alert.unit_id,
        "group_key": alert.group_key,
        "rule_id": alert.rule_id,
    }


def public(alert: Alert) -> dict[str, Any]:
    """The alert as events, feeds and the API show it."""
    return {
        "id": alert.id,
        "dedup_key": alert.dedup_key,
        "state": alert.state,
        "severity": alert.severity,
        "origin": alert.origin,
        "kind": alert.kind,
        "title": alert.title,
        "group_key": alert.group_key,
        "unit_id": alert.unit_id,
        "device_id": alert.device_id,
        "source": alert.source,
        "channel": alert.channel,
        "rule_id": alert.rule_id,
        "value": alert.value,
        "limit": alert.limit_value,
        "flapping": alert.flapping,
        "held_by": alert.held_by,
        "opened_at": alert.opened_at,
        "due_at": alert.due_at,
        "fired_at": alert.fired_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
        "ack_comment": alert.ack_comment,
        "resolved_at": alert.resolved_at,
        "resolved_by": alert.resolved_by,
        "resolve_comment": alert.resolve_comment,
        "steps_taken": alert.steps_taken,
    }


def group_key_for(condition: Condition, unit_id: str | None) -> str:
    if unit_id is not None:
        return f"unit:{unit_id}"
    if condition.device_id is not None:
        return f"device:{condition.device_id}:{condition.source or ''}"
    return f"{condition.origin}:{condition.kind}"


class AlertBook:
    def __init__(
        self,
        audit: AuditTrail,
        *,
        holds: HoldTimes | None = None,
        flapping: Flapping | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.audit = audit
        self.holds = holds or HoldTimes()
        self.flapping = flapping or Flapping()
        self.clock = clock

    # -- reading --------------------------------------------------------------------------------------------------

    async def get(self, session: AsyncSession, tenant_id: str, alert_id: str, *, for_update: bool = False) -> Alert:
        query = select(Alert).where(Alert.tenant_id == tenant_id, Alert.id == alert_id)
        if for_update:
            query = query.with_for_update()
        alert = (await session.execute(query)).scalar_one_or_none()
        if alert is None:
            raise NotFoundError(f"no alert {alert_id}")
        return alert

    async def open_by_key(self, session: AsyncSession, tenant_id: str, dedup_key: str) -> Alert | None:
        query = select(Alert).where(Alert.tenant_id == tenant_id, Alert.open_key == dedup_key).with_for_update()
        return (await session.execute(query)).scalar_one_or_none()

    # -- the lifecycle --------------------------------------------------------------------------------------------

    async def open(self, session: AsyncSession, condition: Condition, now: datetime | None = None) -> Alert:
        """The open alert for the condition: the one already open (its value brought up to date), or a new one,
        pending until its delay passes (fired at once without a delay, unless a door or a defrost holds it)."""
        now = now or self.clock()
        existing = await self.open_by_key(session, condition.tenant_id, condition.dedup_key)
        if existing is not None:
            self._refresh(existing, condition, now)
            return existing
        unit_id = condition.unit_id or await unit_for(
            session, condition.tenant_id, condition.device_id, condition.source, condition.channel
        )
        alert = Alert(
            tenant_id=condition.tenant_id,
            dedup_key=condition.dedup_key,
            open_key=condition.dedup_key,
            origin=condition.origin,
            kind=condition.kind,
            severity=condition.severity,
            state=AlertState.PENDING.value,
            title=condition.title[:300],
            group_key=group_key_for(condition, unit_id)[:300],
            unit_id=unit_id,
            device_id=condition.device_id,
            source=condition.source,
            channel=condition.channel,
            rule_id=condition.rule_id,
            value=condition.value,
            limit_value=condition.limit,
            details=dict(condition.details),
            inhibitable=inhibitable(condition.origin, condition.kind),
            flapping=False,
            opened_at=condition.started_at,
            due_at=condition.started_at + timedelta(seconds=condition.delay_s),
            steps_taken=0,
            updated_at=now,
        )
        alert.next_action_at = alert.due_at
        try:
            async with session.begin_nested():
                session.add(alert)
                await session.flush()
        except IntegrityError:  # another transaction opened it first: one condition, one alert
            raced = await self.open_by_key(session, condition.tenant_id, condition.dedup_key)
            if raced is None:
                raise
            self._refresh(raced, condition, now)
            return raced
        self._event(session, alert, "alert.pending", SYSTEM)
        # judged at the condition's own time: a reading from a batch that arrives late is not due just because
        # the hub sees it late (the timer fires what is still pending once its due time has passed)
        await self.advance_pending(session, alert, condition.started_at)
        return alert

    def _refresh(self, alert: Alert, condition: Condition, now: datetime) -> None:
        alert.value = condition.value
        if condition.details:
            alert.details = {**alert.details, **condition.details}
        alert.updated_at = now

    async def advance_pending(self, session: AsyncSession, alert: Alert, now: datetime) -> None:
        """Fire a pending alert whose delay has passed, unless a door or a defrost holds it back."""
        if alert.state != AlertState.PENDING.value:
            return
        if alert.due_at is not None and alert.due_at > now:
            alert.next_action_at = alert.due_at
            return
        if alert.inhibitable:
            window = await self._inhibition(session, alert, now)
            if window is not None:
                if alert.held_by != window.cause:
                    alert.held_by = window.cause
                    self._event(session, alert, "alert.held", SYSTEM)
                alert.next_action_at = window.until
                return
        await self.fire(session, alert, now)

    async def _inhibition(self, session: AsyncSession, alert: Alert, now: datetime) -> Window | None:
        if alert.device_id is None:
            return None
        rows = await session.execute(
            select(AlertInhibition).where(
                AlertInhibition.tenant_id == alert.tenant_id,
                AlertInhibition.device_id == alert.device_id,
                AlertInhibition.source == (alert.source or ""),
                AlertInhibition.until > now,
            )
        )
        windows = [Window(i.cause, i.started_at, i.until) for i in rows.scalars()]
        return held_until(windows, now)

    async def fire(self, session: AsyncSession, alert: Alert, now: datetime) -> None:
        """pending → firing: marks it flapping when its condition keeps coming and going; the escalator picks the
        policy and takes the steps."""
        check_move(alert.state, AlertState.FIRING)
        alert.state = AlertState.FIRING.value
        alert.fired_at = now
        alert.held_by = None
        alert.updated_at = now
        alert.flapping, notice = await self._flapping(session, alert, now)
        alert.next_action_at = now  # the escalator chooses the policy and the first step's time
        await session.flush()
        self._event(session, alert, "alert.firing", SYSTEM)
        await self.audit.record(
            session,
            tenant_id=alert.tenant_id,
            actor=SYSTEM,
            action="fire",
            record_type="alert",
            record_id=alert.id,
            new={"title": alert.title, "severity": alert.severity, "dedup_key": alert.dedup_key, "value": alert.value},
        )
        if notice:
            alert.details = {**alert.details, "flapping_notice": True}
            self._event(session, alert, "alert.flapping", SYSTEM)
            await self.audit.record(
                session,
                tenant_id=alert.tenant_id,
                actor=SYSTEM,
                action="flapping",
                record_type="alert",
                record_id=alert.id,
                new={"dedup_key": alert.dedup_key, "threshold": self.flapping.threshold},
            )

    async def _flapping(self, session: AsyncSession, alert: Alert, now: datetime) -> tuple[bool, bool]:
        """(flapping, send the one notice): counts this condition's firings and resolutions within the window."""
        since = now - self.flapping.window
        rows = await session.execute(
            select(Alert.fired_at, Alert.resolved_at, Alert.flapping)
            .where(
                Alert.tenant_id == alert.tenant_id,
                Alert.dedup_key == alert.dedup_key,
                Alert.id != alert.id,
                Alert.fired_at.is_not(None),
                Alert.opened_at >= since - self.flapping.window,
            )
            .order_by(Alert.fired_at)
        )
        earlier = rows.all()
        changes = [now]
        for fired_at, resolved_at, _ in earlier:
            changes += [t for t in (fired_at, resolved_at) if t is not None]
        flapping = is_flapping(changes, now, self.flapping.window, self.flapping.threshold)
        was_flapping = bool(earlier) and bool(earlier[-1][2])
        return flapping, flapping and not was_flapping

    async def acknowledge(
        self, session: AsyncSession, tenant_id: str, alert_id: str, *, actor: str, comment: str | None
    ) -> Alert:
        """firing → acknowledged by a person, with a comment: escalation stops; the comment is the audit reason."""
        text = check_comment(comment, "acknowledge")
        alert = await self.get(session, tenant_id, alert_id, for_update=True)
        old = alert.state
        check_move(alert.state, AlertState.ACKNOWLEDGED)
        now = self.clock()
        alert.state = AlertState.ACKNOWLEDGED.value
        alert.acknowledged_at = now
        alert.acknowledged_by = actor[:128]
        alert.ack_comment = text
        alert.next_action_at = None
        alert.updated_at = now
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="acknowledge",
            record_type="alert",
            record_id=alert.id,
            reason=text,
            old={"state": old},
            new={"state": alert.state, "acknowledged_at": now},
        )
        self._event(session, alert, "alert.acknowledged", actor)
        return alert

    async def resolve(
        self,
        session: AsyncSession,
        alert: Alert,
        *,
        actor: str = SYSTEM,
        comment: str | None = None,
        value: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """→ resolved. A pending alert that never fired resolves without an audit entry: nobody was told."""
        # a clear logged before the hub fired the alert (a late batch) still resolves it after it fired
        now = max(now or self.clock(), alert.fired_at or alert.opened_at, alert.opened_at)
        fired = alert.fired_at is not None
        old = alert.state
        check_move(alert.state, AlertState.RESOLVED)
        alert.state = AlertState.RESOLVED.value
        alert.open_key = None
        alert.resolved_at = now
        alert.resolved_by = actor[:128]
        alert.resolve_comment = comment
        alert.next_action_at = None
        alert.held_by = None
        if value is not None:
            alert.value = value
        alert.updated_at = now
        await session.flush()
        if fired:
            await self.audit.record(
                session,
                tenant_id=alert.tenant_id,
                actor=actor,
                action="resolve",
                record_type="alert",
                record_id=alert.id,
                reason=comment,
                old={"state": old},
                new={"state": alert.state, "resolved_at": now, "value": alert.value},
            )
        self._event(session, alert, "alert.resolved", actor)

    async def clear(
        self,
        session: AsyncSession,
        tenant_id: str,
        dedup_key: str,
        *,
        value: str | None = None,
        now: datetime | None = None,
    ) -> Alert | None:
        """The condition behind ``dedup_key`` is gone: its open alert (if any) resolves."""
        alert = await self.open_by_key(session, tenant_id, dedup_key)
        if alert is not None:
            await self.resolve(session, alert, value=value, now=now)
        return alert

    async def close(
        self, session: AsyncSession, tenant_id: str, alert_id: str, *, actor: str, comment: str | None
    ) -> Alert:
        """A person resolves an alert that cannot clear by itself (a fork, a failed saga), with a comment."""
        text = check_comment(comment, "resolve")
        alert = await self.get(session, tenant_id, alert_id, for_update=True)
        await self.resolve(session, alert, actor=actor, comment=text)
        return alert

    def _event(self, session: AsyncSession, alert: Alert, type: str, actor: str | None) -> None:
        record_event(
            session,
            tenant_id=alert.tenant_id,
            type=type,
            subject_type="alert",
            subject_id=alert.id,
            actor=actor,
            payload=public(alert),
        )


def event_types() -> tuple[str, ...]:
    """Every event the book records, for feeds to filter on."""
    return (
        "alert.pending",
        "alert.held",
        "alert.firing",
        "alert.flapping",
        "alert.escalated",
        "alert.acknowledged",
        "alert.resolved",
    )
