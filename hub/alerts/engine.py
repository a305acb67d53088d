"""The alert engine: the loops that keep alerts moving in a hub process.

- three idempotent subscribers of the outbox: ``alerts.sources`` (events → alerts), ``alerts.webhooks`` (alert
  changes → stored deliveries) and, with a broker, ``alerts.mqtt`` (alert changes → retained group state);
- the timer (every ``tick_s``, 0.2 s by default): alerts whose ``next_action_at`` has come (a pending alert's
  delay or inhibition ending, the next escalation step), each advanced under its row lock;
- the scan (every ``scan_s``): silent channels, edges and checkpoints, capacity warnings gone;
- webhook deliveries and the MQTT connection.

Everything it knows is in the database, so any number of engines may run (the row locks and the unique step keys
decide who does what) and a restart resumes where the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from hub.alerts.anomaly import AnomalyService
from hub.alerts.book import AlertBook, Clock, Flapping
from hub.alerts.escalator import Escalator
from hub.alerts.inhibition import HoldTimes
from hub.alerts.mqtt import MqttPublisher
from hub.alerts.paging import Pager, page
from hub.alerts.sources import AlertSources
from hub.alerts.watch import Watch
from hub.alerts.webhooks import WebhookDispatch
from hub.audit.trail import AuditTrail
from hub.db.alerts_models import Alert
from hub.db.base import Database, utcnow
from hub.events.bus import EventBus
from hub.events.subscribers import IdempotentSubscriber, attach

logger = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = timedelta(seconds=60)


class AlertEngine:
    def __init__(
        self,
        db: Database,
        audit: AuditTrail,
        *,
        bus: EventBus | None = None,
        mqtt_url: str | None = None,
        tick_s: float = 0.2,
        scan_s: float = 1.0,
        holds: HoldTimes | None = None,
        flapping: Flapping | None = None,
        pager: Pager = page,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        webhook_timeout_s: float = 5.0,
        webhook_max_attempts: int = 8,
        webhook_backoff: timedelta = timedelta(seconds=2),
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.bus = bus
        self.tick_s = tick_s
        self.scan_s = scan_s
        self.clock = clock
        self.book = AlertBook(audit, holds=holds, flapping=flapping, clock=clock)
        self.escalator = Escalator(self.book, pager=pager)
        self.sources = AlertSources(self.book)
        self.watch = Watch(self.book)
        self.anomaly = AnomalyService(db, audit, book=self.book, clock=clock)
        self._committed = asyncio.Event()  # a write committed in this process: an alert may have become due
        db.on_commit.append(self._committed.set)
        self.webhooks = WebhookDispatch(
            db,
            transport=webhook_transport,
            timeout_s=webhook_timeout_s,
            max_attempts=webhook_max_attempts,
            backoff_base=webhook_backoff,
            clock=clock,
        )
        self.mqtt = MqttPublisher(mqtt_url) if mqtt_url else None
        self._subscribers: list[IdempotentSubscriber] | None = None

    def subscribers(self) -> list[IdempotentSubscriber]:
        """The engine's outbox subscribers (for ``hub.worker``'s subscriber factory), made once."""
        if self._subscribers is None:
            self._subscribers = [
                IdempotentSubscriber("alerts.sources", self.db, self.sources.handle),
                IdempotentSubscriber("alerts.webhooks", self.db, self.webhooks.record),
            ]
            if self.mqtt is not None:
                self._subscribers.append(IdempotentSubscriber("alerts.mqtt", self.db, self.mqtt.handle))
        return self._subscribers

    async def tick(self, now: datetime | None = None) -> int:
        """Advance every alert whose next action has come; returns how many were looked at."""
        now = now or self.clock()
        async with self.db.read() as session:
            due = (
                (
                    await session.execute(
                        select(Alert.id).where(Alert.next_action_at <= now).order_by(Alert.next_action_at).limit(100)
                    )
                )
                .scalars()
                .all()
            )
        if not due:
            return 0
        async with self.db.transaction() as session:
            query = select(Alert).where(Alert.id.in_(list(due)), Alert.next_action_at <= now)
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            alerts = list((await session.execute(query)).scalars())
            for alert in alerts:
                alert_id = alert.id
                try:
                    async with session.begin_nested():
                        await self.escalator.advance(session, alert, now)
                except Exception:
                    logger.exception("alert %s could not be advanced; trying again in a minute", alert_id)
                    await session.execute(
                        update(Alert)
                        .where(Alert.id == alert_id)
                        .values(next_action_at=now + RETRY_AFTER_FAILURE)
                        .execution_options(synchronize_session=False)
                    )
        return len(alerts)

    async def scan(self, now: datetime | None = None) -> int:
        """Look for silence (channels, edges, checkpoints) and vanished capacity warnings; returns changes."""
        now = now or self.clock()
        async with self.db.read() as session:
            findings = await self.watch.findings(session, now)
        if not findings:
            return 0
        async with self.db.transaction() as session:
            return await self.watch.apply(session, findings, now)

    async def catch_up(self) -> int:
        """Process every committed event now (tests, and a worker that wants to drain before stopping)."""
        return sum([await s.catch_up() for s in self.subscribers()])

    async def run(self, stop: asyncio.Event, *, follow_events: bool = True) -> None:
        """Every loop until ``stop``. ``follow_events``: also run the subscribers here (not when a worker attaches
        them to Redis consumer groups itself)."""
        async with asyncio.TaskGroup() as tasks:
            if follow_events:
                for subscriber in self.subscribers():
                    if self.bus is None or attach(self.bus, subscriber):
                        tasks.create_task(subscriber.run(stop, interval_s=1.0), name=f"subscriber:{subscriber.name}")
            tasks.create_task(
                self._every(stop, self.tick_s, self.tick, "alert timer", wake=self._committed), name="alerts:timer"
            )
            tasks.create_task(self._every(stop, self.scan_s, self.scan, "alert scan"), name="alerts:scan")
            tasks.create_task(self.webhooks.run(stop, interval_s=self.tick_s), name="alerts:webhooks")
            tasks.create_task(self.anomaly.run(stop), name="alerts:anomaly")
            if self.mqtt is not None:
                tasks.create_task(self.mqtt.run(stop), name="alerts:mqtt")

    @staticmethod
    async def _every(
        stop: asyncio.Event,
        interval_s: float,
        work: Callable[[], Awaitable[int]],
        label: str,
        *,
        wake: asyncio.Event | None = None,
    ) -> None:
        """``work`` every ``interval_s``, and at once when ``wake`` is set (an alert fired: page now)."""
        failing = False
        while not stop.is_set():
            if wake is not None:
                wake.clear()
            try:
                await work()
                if failing:
                    logger.info("%s recovered", label)
                failing = False
            except Exception:
                if not failing:  # once per outage, not every tick
                    logger.exception("%s failed; retrying", label)
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(stop, wake), interval_s)


async def _first(stop: asyncio.Event, wake: asyncio.Event | None) -> None:
    """Return when ``stop`` or ``wake`` is set."""
    if wake is None:
        await stop.wait()
        return
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
