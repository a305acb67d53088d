"""Delivering events to subscribers: in-process for the embedded hub, Redis Streams in production.

The outbox relay publishes committed events in batches and marks them published in the same transaction; a crash
between publishing and that commit publishes a batch again, and several relays may interleave batches, so
subscribers are idempotent (see ``hub.events.subscribers``, which catches up from the outbox in offset order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, text

from hub.db.base import Database, utcnow
from hub.db.models import OutboxEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventEnvelope:
    offset: int
    event_id: str
    tenant_id: str
    type: str
    subject_type: str
    subject_id: str
    actor: str | None
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, row: OutboxEvent) -> EventEnvelope:
        return cls(
            offset=row.position if row.position is not None else row.id,
            event_id=row.event_id,
            tenant_id=row.tenant_id,
            type=row.type,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            actor=row.actor,
            payload=dict(row.payload),
            created_at=row.created_at,
        )

    def public(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "event_id": self.event_id,
            "type": self.type,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "actor": self.actor,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
        }


Handler = Callable[[EventEnvelope], Awaitable[None]]


class EventBus(Protocol):
    def subscribe(self, name: str, handler: Handler) -> None: ...

    async def publish(self, events: Sequence[EventEnvelope]) -> None:
        """Hand events over inside the relay's transaction (a failure here rolls the batch back)."""
        ...

    async def committed(self) -> None:
        """Called after the relay's transaction committed: deliver what must only be seen once it is durable."""
        ...

    async def close(self) -> None: ...


class InProcessBus:
    """Subscribers run in this process, in order, once the relay's transaction has committed (so what they read
    back is there); a failing handler is logged and does not stop the others."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._pending: list[EventEnvelope] = []
        self.delivered = 0

    def subscribe(self, name: str, handler: Handler) -> None:
        self._handlers[name] = handler

    async def publish(self, events: Sequence[EventEnvelope]) -> None:
        self._pending.extend(events)

    async def committed(self) -> None:
        events, self._pending = self._pending, []
        for event in events:
            for name, handler in self._handlers.items():
                try:
                    await handler(event)
                except Exception:
                    logger.exception("subscriber %s failed on event %s (%s)", name, event.offset, event.type)
            self.delivered += 1

    async def close(self) -> None:
        return None


class OutboxRelay:
    """Moves committed events from the outbox to the bus, in offset order, marking each one published."""

    def __init__(self, db: Database, bus: EventBus, *, batch: int = 500, interval_s: float = 0.2) -> None:
        self.db = db
        self.bus = bus
        self.batch = batch
        self.interval_s = interval_s
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        async with self.db.transaction() as session:
            if self.db.dialect == "postgresql":  # one relay publishes at a time: positions follow commit order
                await session.execute(text("SELECT pg_advisory_xact_lock(7250001)"))
            query = select(OutboxEvent).where(OutboxEvent.published_at.is_(None)).order_by(OutboxEvent.id)
            rows = (await session.execute(query.limit(self.batch))).scalars().all()
            if not rows:
                return 0
            last = (await session.execute(select(func.coalesce(func.max(OutboxEvent.position), 0)))).scalar_one()
            now = utcnow()
            for offset, row in enumerate(rows, start=(last or 0) + 1):
                row.position = offset
                row.published_at = now
            await session.flush()
            await self.bus.publish([EventEnvelope.from_row(r) for r in rows])
        await self.bus.committed()
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        failing = False
        while not stop.is_set():
            try:
                moved = await self.run_once()
                if failing:
                    logger.info("the outbox relay recovered")
                failing = False
            except Exception:
                if not failing:  # once per outage, not every 0.2 s
                    logger.exception("the outbox relay failed; retrying until it recovers")
                failing = True
                moved = 0
            if moved == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s)
