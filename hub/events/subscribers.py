"""Idempotent subscribers that keep their place in the event history, and replay from an offset.

An ``IdempotentSubscriber`` stores the last offset it processed in ``subscriber_offsets`` and skips anything at or
below it. Delivery only tells it how far to go: it reads the events themselves from the outbox table, in offset
order, so an event delivered twice, late, or before an earlier one (several relays, several consumers of a group)
is still processed once and in order. The handler gets the session of the transaction that moves the offset: what it
writes through that session commits together with the offset, so a projection sees every event exactly once.

One limit, from how offsets are made: on PostgreSQL an event whose transaction commits *after* an event with a
higher offset was processed is skipped (the sequence hands out offsets at insert, not at commit; SQLite serialises
writers, so there it cannot happen). Within a tenant, transactions that append to the audit trail before their
event is flushed are ordered by the trail's head lock; across tenants the window is the time between an event's
flush and its commit. Closing it needs the outbox to record each row's transaction id and readers to stop below
the oldest transaction still in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import Database, utcnow
from hub.db.models import OutboxEvent, SubscriberOffset
from hub.events.bus import EventBus, EventEnvelope, Handler, InProcessBus

logger = logging.getLogger(__name__)

SessionHandler = Callable[[AsyncSession, EventEnvelope], Awaitable[None]]


class IdempotentSubscriber:
    """A named subscriber that processes each event of the history once, in offset order."""

    def __init__(self, name: str, db: Database, handler: SessionHandler, *, batch: int = 100) -> None:
        self.name = name
        self.db = db
        self.handler = handler
        self.batch = batch
        self._wake = asyncio.Event()

    async def __call__(self, event: EventEnvelope) -> None:
        """Process the history through ``event`` and whatever committed after it, now (a Redis consumer
        acknowledges the entry afterwards); a no-op for an event already processed."""
        if event.offset <= await self.offset():
            return
        await self.catch_up()

    async def notify(self, event: EventEnvelope) -> None:
        """Only wake ``run``: for ``InProcessBus``, whose handlers run inside the relay's transaction, which on
        SQLite holds the write lock that this subscriber's own transaction would wait for."""
        self._wake.set()

    async def offset(self) -> int:
        async with self.db.read() as session:
            stored = await session.get(SubscriberOffset, self.name)
            return stored.offset if stored is not None else 0

    async def behind(self) -> bool:
        """Whether a committed event lies after the stored offset (a read: no write lock while idle)."""
        async with self.db.read() as session:
            stored = select(SubscriberOffset.offset).where(SubscriberOffset.name == self.name).scalar_subquery()
            query = select(OutboxEvent.position).where(OutboxEvent.position > func.coalesce(stored, 0)).limit(1)
            return (await session.execute(query)).first() is not None

    async def catch_up(self, *, through: int | None = None, rewind_to: int | None = None) -> int:
        """Process every committed event after the stored offset (up to ``through``); returns how many.

        Each batch is one transaction; each event's handler runs in a savepoint, so a failing event leaves the
        ones before it processed and stored, and raises. ``rewind_to`` first moves the offset back (replay)."""
        processed = 0
        while True:
            async with self.db.transaction() as session:
                stored = await self._lock_offset(session)
                start = stored if rewind_to is None else rewind_to
                rewind_to = None
                last, count, failure = await self._process_batch(session, start, through)
                if last != stored:
                    await session.execute(
                        update(SubscriberOffset)
                        .where(SubscriberOffset.name == self.name)
                        .values(offset=last, updated_at=utcnow())
                    )
            processed += count
            if failure is not None:
                raise failure
            if count < self.batch:
                return processed

    async def run(self, stop: asyncio.Event, *, interval_s: float = 1.0) -> None:
        """Keep up with the history until ``stop``: on every ``notify`` and at least every ``interval_s``."""
        failing = False
        while not stop.is_set():
            self._wake.clear()
            try:
                if await self.behind():
                    await self.catch_up()
                if failing:
                    logger.info("subscriber %s recovered", self.name)
                failing = False
            except Exception:
                if not failing:
                    logger.exception("subscriber %s failed; retrying", self.name)
                failing = True
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=interval_s, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def _lock_offset(self, session: AsyncSession) -> int:
        """The stored offset, its row created if missing and locked until this transaction ends (on SQLite the
        write transaction itself is the lock)."""
        dialect = postgresql if self.db.dialect == "postgresql" else sqlite
        await session.execute(
            dialect.insert(SubscriberOffset)
            .values(name=self.name, offset=0, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        query = select(SubscriberOffset.offset).where(SubscriberOffset.name == self.name)
        if self.db.dialect == "postgresql":
            query = query.with_for_update()
        return (await session.execute(query)).scalar_one()

    async def _process_batch(
        self, session: AsyncSession, after: int, through: int | None
    ) -> tuple[int, int, Exception | None]:
        """Handle the next batch after ``after``: (the last offset handled, how many, the error that stopped it)."""
        query = select(OutboxEvent).where(OutboxEvent.position > after).order_by(OutboxEvent.position).limit(self.batch)
        if through is not None:
            query = query.where(OutboxEvent.position <= through)
        last, count = after, 0
        for row in (await session.execute(query)).scalars().all():
            event = EventEnvelope.from_row(row)
            try:
                async with session.begin_nested():
                    await self.handler(session, event)
            except Exception as exc:
                return last, count, exc
            last, count = event.offset, count + 1
        return last, count, None


def attach(bus: EventBus, subscriber: IdempotentSubscriber) -> bool:
    """Subscribe ``subscriber`` to ``bus`` the way that bus needs; True when its ``run`` loop must also run
    (in process, where delivery only wakes it)."""
    if isinstance(bus, InProcessBus):
        bus.subscribe(subscriber.name, subscriber.notify)
        return True
    bus.subscribe(subscriber.name, subscriber)
    return False


async def replay(
    db: Database, subscriber: IdempotentSubscriber | Handler, after_offset: int, *, batch: int = 500
) -> int:
    """Feed the events after ``after_offset`` again, from the outbox table, in order; returns how many.

    An ``IdempotentSubscriber`` is rewound to ``after_offset`` and catches up (its offset moves with the rebuilt
    projection); a plain handler is called with each event outside any transaction."""
    if isinstance(subscriber, IdempotentSubscriber):
        return await subscriber.catch_up(rewind_to=after_offset)
    fed, cursor = 0, after_offset
    while True:
        async with db.read() as session:
            query = select(OutboxEvent).where(OutboxEvent.position > cursor).order_by(OutboxEvent.position).limit(batch)
            events = [EventEnvelope.from_row(row) for row in (await session.execute(query)).scalars().all()]
        for event in events:
            await subscriber(event)
        fed += len(events)
        if len(events) < batch:
            return fed
        cursor = events[-1].offset
