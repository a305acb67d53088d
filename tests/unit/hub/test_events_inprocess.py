"""The outbox in process: committed events reach subscribers in offset order once; replay and idempotent
subscribers keep a projection exact (SQLite file, migrated schema)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import Database
from hub.db.models import OutboxEvent, Tenant
from hub.events.bus import EventEnvelope, InProcessBus, OutboxRelay
from hub.events.outbox import record_event
from hub.events.subscribers import IdempotentSubscriber, attach, replay
from hub.migrations import upgrade


class Boom(Exception):
    pass


def run_with_db(tmp_path: Path, body: Callable[[Database, str], Awaitable[None]]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    upgrade(url)

    async def main() -> None:
        db = Database(url)
        try:
            async with db.transaction() as session:
                tenant = Tenant(slug="lab", name="Lab")
                session.add(tenant)
                await session.flush()
                tenant_id = tenant.id
                await session.execute(text('CREATE TABLE projection ("offset" INTEGER PRIMARY KEY, type TEXT)'))
            await body(db, tenant_id)
        finally:
            await db.dispose()

    asyncio.run(main())


async def write(db: Database, tenant_id: str, *types: str) -> None:
    async with db.transaction() as session:
        for i, type_ in enumerate(types):
            record_event(
                session,
                tenant_id=tenant_id,
                type=type_,
                subject_type="sample",
                subject_id=f"s{i}",
                actor="tester",
                payload={"n": i, "volume_ul": 12.5},
            )


async def projection(db: Database) -> list[tuple[int, str]]:
    async with db.read() as session:
        rows = await session.execute(text('SELECT "offset", type FROM projection ORDER BY "offset"'))
        return [(row[0], row[1]) for row in rows]


async def project(session: AsyncSession, event: EventEnvelope) -> None:
    """A projection written through the subscriber's session: a second insert of one offset would fail."""
    await session.execute(
        text('INSERT INTO projection ("offset", type) VALUES (:o, :t)'), {"o": event.offset, "t": event.type}
    )


async def write_then_fail(db: Database, tenant_id: str) -> None:
    async with db.transaction() as session:
        record_event(
            session, tenant_id=tenant_id, type="lost", subject_type="s", subject_id="1", actor=None, payload={}
        )
        await session.flush()  # the row existed inside the transaction
        raise Boom


def test_the_relay_delivers_committed_events_in_offset_order_exactly_once(tmp_path: Path) -> None:
    async def body(db: Database, tenant_id: str) -> None:
        await write(db, tenant_id, "a", "b", "c")
        await write(db, tenant_id, "d", "e")
        seen: list[EventEnvelope] = []

        async def handler(event: EventEnvelope) -> None:
            seen.append(event)

        bus = InProcessBus()
        bus.subscribe("test", handler)
        relay = OutboxRelay(db, bus, batch=2)
        moved = [await relay.run_once() for _ in range(4)]
        assert moved == [2, 2, 1, 0]
        assert [e.type for e in seen] == ["a", "b", "c", "d", "e"]
        assert [e.offset for e in seen] == sorted({e.offset for e in seen})
        assert seen[0].payload == {"n": 0, "volume_ul": "12.5"}
        assert (seen[0].tenant_id, seen[0].actor, seen[0].created_at.tzinfo is not None) == (tenant_id, "tester", True)

    run_with_db(tmp_path, body)


def test_an_aborted_transactions_event_is_never_delivered(tmp_path: Path) -> None:
    async def body(db: Database, tenant_id: str) -> None:
        with pytest.raises(Boom):
            await write_then_fail(db, tenant_id)
        await write(db, tenant_id, "kept")
        seen: list[str] = []

        async def handler(event: EventEnvelope) -> None:
            seen.append(event.type)

        bus = InProcessBus()
        bus.subscribe("test", handler)
        await OutboxRelay(db, bus).run_once()
        assert seen == ["kept"]
        assert await replay(db, handler, 0) == 1

    run_with_db(tmp_path, body)


def test_replay_from_an_offset_feeds_the_later_events_again_in_order(tmp_path: Path) -> None:
    async def body(db: Database, tenant_id: str) -> None:
        await write(db, tenant_id, *(f"t{i}" for i in range(7)))
        await OutboxRelay(db, InProcessBus()).run_once()  # published: replay reads the table, not the relay
        seen: list[int] = []

        async def handler(event: EventEnvelope) -> None:
            seen.append(event.offset)

        assert await replay(db, handler, 2, batch=2) == 5
        assert seen == [3, 4, 5, 6, 7]
        assert await replay(db, handler, 5) == 2
        assert seen[5:] == [6, 7]
        assert await replay(db, handler, 7) == 0

    run_with_db(tmp_path, body)


def test_an_idempotent_subscriber_skips_offsets_it_has_processed(tmp_path: Path) -> None:
    async def body(db: Database, tenant_id: str) -> None:
        await write(db, tenant_id, "a", "b", "c")
        seen: list[EventEnvelope] = []

        async def handler(event: EventEnvelope) -> None:
            seen.append(event)

        bus = InProcessBus()
        bus.subscribe("collect", handler)
        await OutboxRelay(db, bus).run_once()
        subscriber = IdempotentSubscriber("projection", db, project)
        for event in [*seen, seen[1], seen[0], *seen]:  # redelivered, and out of order
            await subscriber(event)
        assert await projection(db) == [(1, "a"), (2, "b"), (3, "c")]
        assert await subscriber.offset() == 3
        assert not await subscriber.behind()
        await write(db, tenant_id, "d")
        assert not await subscriber.behind()  # subscribers follow published positions, not uncommitted ids
        await OutboxRelay(db, bus).run_once()
        assert await subscriber.behind()

    run_with_db(tmp_path, body)


def test_an_event_delivered_before_earlier_ones_makes_the_subscriber_catch_up_in_order(tmp_path: Path) -> None:
    async def body(db: Database, tenant_id: str) -> None:
        await write(db, tenant_id, "a", "b", "c", "d")
        await OutboxRelay(db, InProcessBus()).run_once()  # published: subscribers follow positions
        order: list[int] = []

        async def handler(session: AsyncSession, event: EventEnvelope) -> None:
            order.append(event.offset)
            await project(session, event)

        subscriber = IdempotentSubscriber("projection", db, handler, batch=3)
        assert await subscriber.catch_up(through=1) == 1
        third = EventEnvelope.from_row(await first_row(db, 3))
        await subscriber(third)  # delivered before 2: the subscriber reads 2, 3 and what follows from the table
        assert order == [1, 2, 3, 4]
        assert await subscriber.catch_up() == 0
        await subscriber(EventEnvelope.from_row(await first_row(db, 2)))
        assert order == [1, 2, 3, 4]

    run_with_db(tmp_path, body)


def test_a_failing_event_keeps_the_ones_before_it_and_is_retried(tmp_path: Path) -> None:
    async def body(db: Database, tenant_id: str) -> None:
        await write(db, tenant_id, "a", "poison", "c")
        await OutboxRelay(db, InProcessBus()).run_once()  # published: subscribers follow positions
        healed = False

        async def handler(session: AsyncSession, event: EventEnvelope) -> None:
            await project(session, event)  # written, then undone by the savepoint when the handler fails
            if event.type == "poison" and not healed:
                raise Boom

        subscriber = IdempotentSubscriber("projection", db, handler)
        with pytest.raises(Boom):
            await subscriber.catch_up()
        assert await projection(db) == [(1, "a")]
        assert await subscriber.offset() == 1
        healed = True
        assert await subscriber.catch_up() == 2
        assert await projection(db) == [(1, "a"), (2, "poison"), (3, "c")]

    run_with_db(tmp_path, body)


def test_replay_rebuilds_an_idempotent_subscribers_projection_from_an_offset(tmp_path: Path) -> None:
    async def body(db: Database, tenant_id: str) -> None:
        await write(db, tenant_id, "a", "b", "c", "d")
        await OutboxRelay(db, InProcessBus()).run_once()  # published: subscribers follow positions
        subscriber = IdempotentSubscriber("projection", db, project)
        assert await subscriber.catch_up() == 4
        async with db.transaction() as session:
            await session.execute(text('DELETE FROM projection WHERE "offset" > 2'))  # the projection lost a part
        assert await replay(db, subscriber, 2) == 2
        assert await projection(db) == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
        assert await subscriber.offset() == 4

    run_with_db(tmp_path, body)


def test_in_process_the_relay_wakes_idempotent_subscribers_without_holding_sqlites_write_lock(tmp_path: Path) -> None:
    async def body(db: Database, tenant_id: str) -> None:
        third = asyncio.Event()

        async def handler(session: AsyncSession, event: EventEnvelope) -> None:
            await project(session, event)
            if event.offset == 3:
                third.set()

        bus = InProcessBus()
        subscriber = IdempotentSubscriber("projection", db, handler)
        assert attach(bus, subscriber) is True
        relay = OutboxRelay(db, bus, interval_s=0.05)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(subscriber.run(stop, interval_s=30))]
        await write(db, tenant_id, "a", "b")
        relay.notify()
        await write(db, tenant_id, "c")
        relay.notify()
        async with asyncio.timeout(5):  # woken by the relay, not by its 30 s poll
            await third.wait()
        stop.set()
        await asyncio.gather(*tasks)
        assert await projection(db) == [(1, "a"), (2, "b"), (3, "c")]

    run_with_db(tmp_path, body)


async def first_row(db: Database, offset: int) -> OutboxEvent:
    async with db.read() as session:
        row = await session.get(OutboxEvent, offset)
        assert row is not None
        return row
