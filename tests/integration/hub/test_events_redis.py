"""Events through real Redis Streams and PostgreSQL: the relay publishes each committed event once, consumer groups
deliver and acknowledge, a dead consumer's entries are claimed, a malformed entry is dead-lettered, and the worker
stops cleanly on SIGTERM. Every test has its own stream and its own database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.api.state import HubState
from hub.db.base import Database
from hub.db.models import Tenant
from hub.events.bus import EventEnvelope, OutboxRelay
from hub.events.outbox import record_event
from hub.events.redis_bus import RedisStreamsBus, decode_event
from hub.events.subscribers import IdempotentSubscriber
from hub.settings import HubSettings
from hub.worker import run_worker

TRACSEQ = Path(sys.executable).parent / "tracseq"


async def seeded(url: str) -> tuple[Database, str]:
    db = Database(url)
    async with db.transaction() as session:
        tenant = Tenant(slug="lab", name="Lab")
        session.add(tenant)
        await session.flush()
        await session.execute(text('CREATE TABLE projection ("offset" BIGINT, type TEXT)'))
        return db, tenant.id


async def write(db: Database, tenant_id: str, count: int, *, type_: str = "sample.received") -> None:
    async with db.transaction() as session:
        for i in range(count):
            record_event(
                session,
                tenant_id=tenant_id,
                type=type_,
                subject_type="sample",
                subject_id=f"S-{i}",
                actor="tester",
                payload={"i": i},
            )


async def project(session: AsyncSession, event: EventEnvelope) -> None:
    await session.execute(
        text('INSERT INTO projection ("offset", type) VALUES (:o, :t)'), {"o": event.offset, "t": event.type}
    )


async def projected(db: Database) -> list[int]:
    async with db.read() as session:
        return [row[0] for row in await session.execute(text('SELECT "offset" FROM projection ORDER BY "offset"'))]


async def stream_offsets(redis: Redis, stream: str) -> list[int]:
    return [decode_event(fields).offset for _id, fields in await redis.xrange(stream)]


def collector(until: int) -> tuple[list[EventEnvelope], asyncio.Event, Callable[[EventEnvelope], Awaitable[None]]]:
    """A handler that records events and sets ``done`` once it has seen ``until`` of them."""
    seen: list[EventEnvelope] = []
    done = asyncio.Event()

    async def handler(event: EventEnvelope) -> None:
        seen.append(event)
        if len(seen) >= until:
            done.set()

    return seen, done, handler


async def consume_until(done: asyncio.Event, *consumers: tuple[RedisStreamsBus, str]) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(bus.run_consumers(stop, name)) for bus, name in consumers]
    try:
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        stop.set()
        await asyncio.gather(*tasks)


def test_the_relay_publishes_to_the_stream_and_a_consumer_group_delivers_and_acknowledges(
    pg_url: str, redis_url: str, stream_name: str
) -> None:
    async def body() -> None:
        db, tenant_id = await seeded(pg_url)
        redis = Redis.from_url(redis_url)
        try:
            await write(db, tenant_id, 5)
            bus = RedisStreamsBus(redis, stream_name, block_ms=100)
            seen, done, handler = collector(5)
            bus.subscribe("projector", handler)
            assert await OutboxRelay(db, bus).run_once() == 5
            assert await OutboxRelay(db, bus).run_once() == 0
            assert await stream_offsets(redis, stream_name) == [1, 2, 3, 4, 5]
            await consume_until(done, (bus, "c1"))
            assert [e.offset for e in seen] == [1, 2, 3, 4, 5]
            assert (seen[0].tenant_id, seen[0].actor, seen[0].payload) == (tenant_id, "tester", {"i": 0})
            assert (await redis.xpending(stream_name, "projector"))["pending"] == 0
        finally:
            await redis.aclose()
            await db.dispose()

    asyncio.run(body())


def test_entries_a_consumer_read_and_never_acknowledged_are_claimed_by_another(
    pg_url: str, redis_url: str, stream_name: str
) -> None:
    async def body() -> None:
        db, tenant_id = await seeded(pg_url)
        redis = Redis.from_url(redis_url)
        try:
            await write(db, tenant_id, 3)
            bus = RedisStreamsBus(redis, stream_name, block_ms=100, claim_idle_ms=150)
            seen, done, handler = collector(3)
            bus.subscribe("projector", handler)
            await bus.ensure_groups()
            await OutboxRelay(db, bus).run_once()
            crashed = await redis.xreadgroup("projector", "crashed", {stream_name: ">"}, count=10)
            assert len(crashed[0][1]) == 3  # read, then the process died before acknowledging
            await consume_until(done, (bus, "survivor"))
            assert sorted(e.offset for e in seen) == [1, 2, 3]
            summary = await redis.xpending(stream_name, "projector")
            assert summary["pending"] == 0
        finally:
            await redis.aclose()
            await db.dispose()

    asyncio.run(body())


def test_an_entry_whose_handler_failed_stays_pending_and_is_retried(
    pg_url: str, redis_url: str, stream_name: str
) -> None:
    async def body() -> None:
        db, tenant_id = await seeded(pg_url)
        redis = Redis.from_url(redis_url)
        try:
            await write(db, tenant_id, 3)
            bus = RedisStreamsBus(redis, stream_name, block_ms=50, claim_idle_ms=100)
            seen, done, collect = collector(3)
            failures: list[int] = []

            async def flaky(event: EventEnvelope) -> None:
                if event.offset == 2 and not failures:
                    failures.append(event.offset)
                    raise RuntimeError("the database blinked")
                await collect(event)

            bus.subscribe("projector", flaky)
            await OutboxRelay(db, bus).run_once()
            await consume_until(done, (bus, "c1"))
            assert failures == [2]
            assert [e.offset for e in seen] == [1, 3, 2]  # retried once idle for claim_idle_ms
            assert (await redis.xpending(stream_name, "projector"))["pending"] == 0
        finally:
            await redis.aclose()
            await db.dispose()

    asyncio.run(body())


class SlowBus:
    """Holds each batch a moment before publishing, so two relays' transactions overlap."""

    def __init__(self, inner: RedisStreamsBus) -> None:
        self.inner = inner
        self.published = 0

    def subscribe(self, name: str, handler: Callable[[EventEnvelope], Awaitable[None]]) -> None:
        self.inner.subscribe(name, handler)

    async def publish(self, events: Sequence[EventEnvelope]) -> None:
        await asyncio.sleep(0.005)
        await self.inner.publish(events)
        self.published += len(events)

    async def committed(self) -> None:
        await self.inner.committed()

    async def close(self) -> None:
        await self.inner.close()


def test_two_relays_on_postgresql_publish_each_event_once(pg_url: str, redis_url: str, stream_name: str) -> None:
    async def body() -> None:
        db, tenant_id = await seeded(pg_url)
        other = Database(pg_url)  # a second hub process: its own connection pool
        redis = Redis.from_url(redis_url)
        try:
            await write(db, tenant_id, 600)
            buses = [SlowBus(RedisStreamsBus(redis, stream_name)), SlowBus(RedisStreamsBus(redis, stream_name))]
            relays = [OutboxRelay(db, buses[0], batch=25), OutboxRelay(other, buses[1], batch=25)]

            async def drain(relay: OutboxRelay) -> None:
                while await relay.run_once():
                    pass

            await asyncio.gather(*(drain(r) for r in relays))
            assert buses[0].published > 0
            assert buses[1].published > 0
            assert buses[0].published + buses[1].published == 600
            assert sorted(await stream_offsets(redis, stream_name)) == list(range(1, 601))
        finally:
            await redis.aclose()
            await other.dispose()
            await db.dispose()

    asyncio.run(body())


def test_a_malformed_stream_entry_is_dead_lettered_and_the_loop_goes_on(
    pg_url: str, redis_url: str, stream_name: str
) -> None:
    async def body() -> None:
        db, tenant_id = await seeded(pg_url)
        redis = Redis.from_url(redis_url)
        try:
            bus = RedisStreamsBus(redis, stream_name, block_ms=100)
            seen, done, handler = collector(1)
            bus.subscribe("projector", handler)
            await redis.xadd(stream_name, {"hello": "world"})
            await redis.xadd(stream_name, {"offset": "7", "payload": "[]"})
            await write(db, tenant_id, 1)
            await OutboxRelay(db, bus).run_once()
            await consume_until(done, (bus, "c1"))
            assert [e.offset for e in seen] == [1]
            dead = await redis.xrange(bus.dead_letter_stream)
            assert [fields[b"_group"] for _id, fields in dead] == [b"projector", b"projector"]
            assert b"missing fields" in dead[0][1][b"_error"]
            assert dead[0][1][b"hello"] == b"world"
            assert (await redis.xpending(stream_name, "projector"))["pending"] == 0
        finally:
            await redis.aclose()
            await db.dispose()

    asyncio.run(body())


def test_competing_consumers_of_an_idempotent_subscriber_project_each_event_once_in_order(
    pg_url: str, redis_url: str, stream_name: str
) -> None:
    async def body() -> None:
        db, tenant_id = await seeded(pg_url)
        other = Database(pg_url)
        redis = Redis.from_url(redis_url)
        try:
            order: list[int] = []
            done = asyncio.Event()

            async def handler(session: AsyncSession, event: EventEnvelope) -> None:
                order.append(event.offset)
                await project(session, event)
                if event.offset == 200:
                    done.set()

            buses = []
            for database in (db, other):  # two worker processes, each with its own pool
                bus = RedisStreamsBus(redis, stream_name, block_ms=100, batch=7)
                bus.subscribe("projection", IdempotentSubscriber("projection", database, handler))
                buses.append(bus)
            for _ in range(4):
                await write(db, tenant_id, 50)
            await OutboxRelay(db, buses[0]).run_once()
            await consume_until(done, (buses[0], "c1"), (buses[1], "c2"))
            assert order == list(range(1, 201))
            assert await projected(db) == list(range(1, 201))
            assert (await redis.xpending(stream_name, "projection"))["pending"] == 0
        finally:
            await redis.aclose()
            await other.dispose()
            await db.dispose()

    asyncio.run(body())


def test_the_worker_relays_and_feeds_its_subscribers_until_stopped(
    pg_url: str, redis_url: str, stream_name: str, tmp_path: Path
) -> None:
    settings = HubSettings(
        database_url=pg_url, redis_url=redis_url, events_stream=stream_name, audit_key_file=tmp_path / "audit.key"
    )

    async def body() -> None:
        db, tenant_id = await seeded(pg_url)
        try:
            done = asyncio.Event()

            async def handler(session: AsyncSession, event: EventEnvelope) -> None:
                await project(session, event)
                if event.offset == 10:
                    done.set()

            def subscribers(state: HubState) -> list[IdempotentSubscriber]:
                return [IdempotentSubscriber("projection", state.db, handler)]

            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(settings, subscribers=subscribers, stop=stop, log_json=False))
            await write(db, tenant_id, 10)
            async with asyncio.timeout(10):
                await done.wait()
            stop.set()
            async with asyncio.timeout(5):
                await worker
            assert await projected(db) == list(range(1, 11))
        finally:
            await db.dispose()

    asyncio.run(body())


@pytest.mark.slow  # a real `tracseq hub worker` process: interpreter start-up and imports take most of it
def test_the_worker_command_logs_json_and_stops_cleanly_on_sigterm(sqlite_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACSEQ_HUB_")}
    env |= {"TRACSEQ_HUB_DATABASE_URL": sqlite_url, "TRACSEQ_HUB_AUDIT_KEY_FILE": str(tmp_path / "audit.key")}
    process = subprocess.Popen(
        [str(TRACSEQ), "hub", "worker"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stderr is not None
        started = json.loads(process.stderr.readline())
        while "started" not in started["msg"]:  # the embedded hub migrates its SQLite file first
            started = json.loads(process.stderr.readline())
        assert started["level"] == "info"
        assert "in-process" in started["msg"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        rest: list[dict[str, Any]] = [json.loads(line) for line in process.stderr.read().splitlines()]
        messages = [r["msg"] for r in rest]
        assert "received SIGTERM: stopping" in messages
        assert "stopped" in messages[-1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.mark.parametrize("url_fixture", ["sqlite_url", "pg_url"])
def test_the_database_fixtures_give_an_empty_migrated_database(
    url_fixture: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(url_fixture)

    async def body() -> None:
        db = Database(url)
        try:
            async with db.read() as session:
                assert (await session.execute(text("SELECT count(*) FROM outbox"))).scalar_one() == 0
                assert (await session.execute(text("SELECT count(*) FROM tenants"))).scalar_one() == 0
        finally:
            await db.dispose()

    asyncio.run(body())
