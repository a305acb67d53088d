"""Turning the hub's events into alerts: edge alarms and readings (through ``device.synced``), integrity events,
storage capacity warnings and failed sagas.

Why ``device.synced`` and not an ingest hook or a readings cursor: the outbox offset is already a cursor the
``IdempotentSubscriber`` moves in the same transaction as what its handler writes, so every batch's readings are
evaluated exactly once, after the batch committed, without slowing or failing ingest (an ingest hook runs inside
the batch and a failing rule would refuse the edge's data). The batch's range names its entries; reading them back
by (device, seq) in log order means a door opening is seen before the temperature alarm it explains. The edge's
``device.alarm`` events repeat entries of that range, so they are not handled twice.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.book import SYSTEM, AlertBook, Condition
from hub.alerts.inhibition import Cause, end_until, event_signal, reading_signal, start_until
from hub.alerts.lifecycle import AlertState
from hub.alerts.rules import (
    SEVERITIES,
    Action,
    LimitParams,
    OpenState,
    RateParams,
    limit_zone,
    parse_params,
    rate_at,
    rate_zone,
    reading_value,
    step,
)
from hub.db.alerts_models import Alert, AlertInhibition, AlertRule, AlertSeries
from hub.db.base import utcnow
from hub.db.ingest_models import DeviceEvent, Reading
from hub.errors import HubError, UnavailableError
from hub.events.bus import EventEnvelope

logger = logging.getLogger(__name__)

INTEGRITY = {
    "integrity.fork": ("critical", "fork", "forked its log"),
    "integrity.refused": ("alarm", "refused", "sent a batch the hub refused"),
    "integrity.clock": ("warning", "clock", "logged entries with implausible times"),
}


@dataclass(frozen=True)
class Entry:
    """One entry of a synced range: a reading or an event (alarm, gap, door…)."""

    seq: int
    ts: datetime
    reading: Reading | None = None
    event: DeviceEvent | None = None


def rule_key(rule_id: str, device_id: str, source: str = "", channel: str = "") -> str:
    return f"rule:{rule_id}:{device_id}:{source}:{channel}"


def _severity(value: Any) -> str:
    return value if value in SEVERITIES else "warning"


def _fits(rule: AlertRule, device_id: str, source: str, channel: str) -> bool:
    return (
        (rule.device_id is None or rule.device_id == device_id)
        and (rule.source is None or rule.source == source)
        and (rule.channel is None or rule.channel == channel)
    )


class AlertSources:
    def __init__(self, book: AlertBook) -> None:
        self.book = book
        self._handlers: dict[str, Callable[[AsyncSession, EventEnvelope], Awaitable[None]]] = {
            "device.synced": self._synced,
            "integrity.fork": self._integrity,
            "integrity.refused": self._integrity,
            "integrity.clock": self._integrity,
            "storage.capacity_warning": self._capacity,
            "saga.failed": self._saga,
        }

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    async def handle(self, session: AsyncSession, event: EventEnvelope) -> None:
        """Turn one event into alerts. An event that can never be handled (a payload or a stored rule the code
        cannot read, a value the database refuses) is logged and skipped, or it would hold every later alert back
        for good; anything else (the database away) raises, and the subscriber tries the event again."""
        handler = self._handlers.get(event.type)
        if handler is None:
            return
        try:
            async with session.begin_nested():
                await handler(session, event)
        except Exception as exc:
            if not _permanent(exc):
                raise
            logger.error("alerts: skipping event %s (%s): %s", event.offset, event.type, exc, exc_info=exc)

    # -- edges: readings, alarms, doors -----------------------------------------------------------------------

    async def _synced(self, session: AsyncSession, event: EventEnvelope) -> None:
        device_id, tenant_id = event.subject_id, event.tenant_id
        first, last = int(event.payload.get("from", 0)), int(event.payload.get("to", -1))
        if last < first:
            return
        entries = await _entries(session, device_id, first, last)
        rules = list(
            (
                await session.execute(
                    select(AlertRule).where(AlertRule.tenant_id == tenant_id, AlertRule.enabled.is_(True))
                )
            ).scalars()
        )
        reading_rules = [r for r in rules if r.kind in ("limit", "rate")]
        history = await self._rate_history(session, device_id, entries, reading_rules, last)
        latest: dict[tuple[str, str], Reading] = {}
        opened: dict[str, Alert | None] = {}  # each rule's open alert by dedup key, looked up once per batch
        for entry in entries:
            if entry.reading is not None:
                reading = entry.reading
                signal = reading_signal(reading.channel, reading.value)
                if signal is not None:
                    await self._inhibit(session, tenant_id, device_id, reading.source, *signal, reading.ts, entry.seq)
                value = reading_value(reading.value, reading.quality)
                if value is None:
                    continue
                latest[(reading.source, reading.channel)] = reading
                for rule in reading_rules:
                    if _fits(rule, device_id, reading.source, reading.channel):
                        await self._evaluate(session, rule, reading, value, history, opened)
            elif entry.event is not None:
                await self._device_event(session, tenant_id, device_id, entry.event)
        await self._seen(session, tenant_id, device_id, latest)
        for rule in rules:
            if rule.kind == "no_data":
                for source, channel in latest:
                    if _fits(rule, device_id, source, channel):
                        await self.book.clear(session, tenant_id, rule_key(rule.id, device_id, source, channel))
            elif rule.kind == "sync_silence" and rule.device_id in (None, device_id):
                await self.book.clear(session, tenant_id, rule_key(rule.id, device_id))

    async def _evaluate(
        self,
        session: AsyncSession,
        rule: AlertRule,
        reading: Reading,
        value: Decimal,
        history: dict[tuple[str, str], list[tuple[datetime, Decimal]]],
        opened: dict[str, Alert | None],
    ) -> None:
        params = parse_params(rule.kind, rule.params)
        shown, limit = reading.value, None
        if isinstance(params, LimitParams):
            zone, limit, delay = limit_zone(params, value), params.limit, params.delay_s
        elif isinstance(params, RateParams):
            samples = history.get((reading.source, reading.channel), [])
            upto = samples[: bisect.bisect_right(samples, reading.ts, key=lambda s: s[0])]
            rate = rate_at(params, upto, reading.ts)
            if rate is None:
                return
            zone, limit, delay = rate_zone(params, rate), params.max_per_minute, params.delay_s
            shown = format(rate.quantize(Decimal("0.001")), "f")
        else:
            return
        key = rule_key(rule.id, reading.device_id, reading.source, reading.channel)
        if key not in opened:
            opened[key] = await self.book.open_by_key(session, reading.tenant_id, key)
        alert = opened[key]
        current: OpenState = "none" if alert is None else "pending" if alert.state == "pending" else "firing"
        for action in step(zone, current, at=reading.ts, due_at=alert.due_at if alert else None):
            if action is Action.OPEN:
                unit = reading.unit
                what = "above" if getattr(params, "direction", "high") == "high" else "below"
                title = (
                    f"{reading.source}/{reading.channel} {reading.value} {unit} {what} {limit} ({rule.name})"
                    if rule.kind == "limit"
                    else f"{reading.source}/{reading.channel} changing at {shown} {unit}/min ({rule.name})"
                )
                alert = await self.book.open(
                    session,
                    Condition(
                        tenant_id=reading.tenant_id,
                        dedup_key=key,
                        origin="rule",
                        kind=rule.kind,
                        severity=_severity(rule.severity),
                        title=title,
                        started_at=reading.ts,
                        device_id=reading.device_id,
                        source=reading.source,
                        channel=reading.channel,
                        rule_id=rule.id,
                        value=shown,
                        limit=limit,
                        delay_s=delay,
                        details={"rule": rule.name, "unit": unit, "seq": reading.seq},
                    ),
                    now=utcnow(),
                )
                opened[key] = alert
            elif alert is not None and action is Action.FIRE:
                await self.book.advance_pending(session, alert, reading.ts)
            elif alert is not None:
                await self.book.resolve(session, alert, value=shown, now=reading.ts)
                opened[key] = None

    async def _rate_history(
        self, session: AsyncSession, device_id: str, entries: Sequence[Entry], rules: Sequence[AlertRule], last: int
    ) -> dict[tuple[str, str], list[tuple[datetime, Decimal]]]:
        """For every series a rate rule watches, its good readings from one window before the batch through it."""
        windows = [parse_params("rate", r.params) for r in rules if r.kind == "rate"]
        if not windows:
            return {}
        longest = max(w.window_s for w in windows if isinstance(w, RateParams))
        series = {(e.reading.source, e.reading.channel) for e in entries if e.reading is not None}
        rate_rules = [r for r in rules if r.kind == "rate"]
        wanted = [s for s in series if any(_fits(r, device_id, *s) for r in rate_rules)]
        found: dict[tuple[str, str], list[tuple[datetime, Decimal]]] = {}
        for source, channel in wanted:
            first_ts = min(
                e.ts
                for e in entries
                if e.reading is not None and (e.reading.source, e.reading.channel) == (source, channel)
            )
            rows = await session.execute(
                select(Reading.ts, Reading.value, Reading.quality)
                .where(
                    Reading.device_id == device_id,
                    Reading.source == source,
                    Reading.channel == channel,
                    Reading.ts >= first_ts - timedelta(seconds=longest),
                    Reading.seq <= last,
                )
                .order_by(Reading.ts, Reading.seq)
                .limit(20_000)
            )
            samples = []
            for ts, text, quality in rows.all():
                value = reading_value(text, quality)
                if value is not None:
                    samples.append((ts, value))
            found[(source, channel)] = samples
        return found

    async def _seen(
        self, session: AsyncSession, tenant_id: str, device_id: str, latest: dict[tuple[str, str], Reading]
    ) -> None:
        """Remember each series' newest good reading (what no-data rules watch)."""
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        for (source, channel), reading in latest.items():
            statement = dialect.insert(AlertSeries).values(
                device_id=device_id,
                source=source,
                channel=channel,
                tenant_id=tenant_id,
                last_value=reading.value,
                last_ts=reading.ts,
                last_seq=reading.seq,
            )
            statement = statement.on_conflict_do_update(
                index_elements=["device_id", "source", "channel"],
                set_={"last_value": reading.value, "last_ts": reading.ts, "last_seq": reading.seq},
                where=AlertSeries.last_seq < reading.seq,
            )
            await session.execute(statement)

    async def _device_event(self, session: AsyncSession, tenant_id: str, device_id: str, event: DeviceEvent) -> None:
        payload = event.payload
        source = str(payload.get("device", ""))[:128]
        signal = event_signal(event.kind, payload)
        if signal is not None:
            await self._inhibit(session, tenant_id, device_id, source, *signal, event.ts, event.seq)
        if event.kind == "alarm":
            await self._edge_alarm(session, tenant_id, device_id, event)

    async def _edge_alarm(self, session: AsyncSession, tenant_id: str, device_id: str, event: DeviceEvent) -> None:
        payload = event.payload
        action = payload.get("action")
        alarm_id = str(payload.get("alarm_id") or payload.get("rule") or "alarm")
        key = f"edge:{device_id}:{alarm_id}"[:255]
        if action == "raised":
            source = payload.get("device")
            await self.book.open(
                session,
                Condition(
                    tenant_id=tenant_id,
                    dedup_key=key,
                    origin="edge",
                    kind=str(payload.get("rule") or "alarm")[:64],
                    severity=_severity(payload.get("severity")),
                    title=str(payload.get("message") or alarm_id),
                    started_at=event.ts,
                    device_id=device_id,
                    source=None if source is None else str(source)[:128],
                    channel=None if payload.get("channel") is None else str(payload["channel"])[:128],
                    value=None if payload.get("value") is None else str(payload["value"])[:64],
                    limit=None if payload.get("limit") is None else str(payload["limit"])[:64],
                    details={"alarm_id": alarm_id, "seq": event.seq, "message": payload.get("message")},
                ),
                now=utcnow(),
            )
        elif action == "cleared":
            value = payload.get("value")
            await self.book.clear(
                session, tenant_id, key, value=None if value is None else str(value)[:64], now=event.ts
            )
        elif action == "acknowledged":
            alert = await self.book.open_by_key(session, tenant_id, key)
            if alert is not None and alert.state == AlertState.FIRING.value:
                by = str(payload.get("by") or "someone")[:100]
                comment = str(payload.get("comment") or "").strip() or "acknowledged at the edge"
                await self.book.acknowledge(session, tenant_id, alert.id, actor=f"edge:{by}", comment=comment)

    async def _inhibit(
        self,
        session: AsyncSession,
        tenant_id: str,
        device_id: str,
        source: str,
        cause: Cause,
        edge: str,
        at: datetime,
        seq: int,
    ) -> None:
        """Open or end the instrument's door or defrost window; pending alerts it holds follow its new end."""
        query = (
            select(AlertInhibition)
            .where(
                AlertInhibition.device_id == device_id,
                AlertInhibition.source == source,
                AlertInhibition.cause == cause,
                AlertInhibition.ended_at.is_(None),
            )
            .order_by(AlertInhibition.started_at.desc())
            .limit(1)
        )
        current = (await session.execute(query)).scalar_one_or_none()
        if edge == "start":
            if current is not None and current.until > at:
                return
            until = start_until(cause, at, self.book.holds)
            session.add(
                AlertInhibition(
                    tenant_id=tenant_id,
                    device_id=device_id,
                    source=source,
                    cause=cause,
                    started_at=at,
                    until=until,
                    start_seq=seq,
                )
            )
        else:
            if current is None:
                return
            current.ended_at = at
            current.until = until = end_until(cause, current.started_at, at, self.book.holds)
        await session.execute(
            update(Alert)
            .where(
                Alert.tenant_id == tenant_id,
                Alert.device_id == device_id,
                Alert.source == source,
                Alert.state == AlertState.PENDING.value,
                Alert.held_by == cause,
            )
            .values(next_action_at=until)
            .execution_options(synchronize_session=False)
        )

    # -- the hub's own events ----------------------------------------------------------------------------------

    async def _integrity(self, session: AsyncSession, event: EventEnvelope) -> None:
        severity, kind, what = INTEGRITY[event.type]
        device_id = event.subject_id
        reason = str(event.payload.get("reason") or event.payload.get("flags") or "")
        await self.book.open(
            session,
            Condition(
                tenant_id=event.tenant_id,
                dedup_key=f"integrity:{kind}:{device_id}",
                origin="integrity",
                kind=kind,
                severity=severity,
                title=f"device {event.actor or device_id} {what}"[:300],
                started_at=event.created_at,
                device_id=device_id,
                details={"reason": reason[:500], "seq": event.payload.get("seq"), "event_id": event.event_id},
            ),
            now=utcnow(),
        )

    async def _capacity(self, session: AsyncSession, event: EventEnvelope) -> None:
        payload = event.payload
        name = str(payload.get("name") or event.subject_id)
        await self.book.open(
            session,
            Condition(
                tenant_id=event.tenant_id,
                dedup_key=f"capacity:{event.subject_id}",
                origin="capacity",
                kind="capacity",
                severity="warning",
                title=f"{name} is {payload.get('used')} of {payload.get('total')} full "
                f"(warning at {payload.get('warn_at_pct')}%)",
                started_at=event.created_at,
                unit_id=event.subject_id if len(event.subject_id) <= 36 else None,
                details={k: payload.get(k) for k in ("kind", "name", "used", "total", "warn_at_pct")},
            ),
            now=utcnow(),
        )

    async def _saga(self, session: AsyncSession, event: EventEnvelope) -> None:
        payload = event.payload
        await self.book.open(
            session,
            Condition(
                tenant_id=event.tenant_id,
                dedup_key=f"saga:{event.subject_id}",
                origin="saga",
                kind=str(payload.get("saga") or payload.get("kind") or "saga")[:64],
                severity="alarm",
                title=f"saga {payload.get('saga') or event.subject_id} failed: {payload.get('reason') or ''}"[:300],
                started_at=event.created_at,
                details={"saga_id": event.subject_id, "step": payload.get("step"), "reason": payload.get("reason")},
            ),
            now=utcnow(),
        )


def _permanent(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError | DataError):  # the input, not the hub
        return True
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return isinstance(state, str) and state[:2] in ("22", "23")
    if isinstance(exc, HubError):
        return not isinstance(exc, UnavailableError)
    return isinstance(exc, ValueError | TypeError | KeyError | ArithmeticError)


async def _entries(session: AsyncSession, device_id: str, first: int, last: int) -> list[Entry]:
    readings = await session.execute(
        select(Reading).where(Reading.device_id == device_id, Reading.seq >= first, Reading.seq <= last)
    )
    events = await session.execute(
        select(DeviceEvent).where(DeviceEvent.device_id == device_id, DeviceEvent.seq >= first, DeviceEvent.seq <= last)
    )
    found = [Entry(r.seq, r.ts, reading=r) for r in readings.scalars()]
    found += [Entry(e.seq, e.ts, event=e) for e in events.scalars()]
    return sorted(found, key=lambda e: e.seq)


__all__ = ["SYSTEM", "AlertSources", "rule_key"]
