"""Saga throughput and recovery on PostgreSQL.

    python bench/sagas.py [--sagas 1000] [--workers 3] [--steps 3]

A throwaway database on TRACSEQ_TEST_PG_HOST:PORT (default 127.0.0.1:5432, user postgres), migrated, with one
tenant. Throughput: ``--sagas`` sagas of ``--steps`` steps (each step writes an event in its own transaction with
its log line, as the lab's workflows do) run by ``--workers`` runner processes; sagas completed per second.
Recovery: the same number of sagas left in flight by a runner that was killed (claimed under its lease, halfway
through their steps), then one runner started: the time until every one of them has completed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, update  # noqa: E402

from hub.api.app import build_state  # noqa: E402
from hub.db.sagas_models import Saga  # noqa: E402
from hub.domain.identity import Principal  # noqa: E402
from hub.domain.permissions import Role  # noqa: E402
from hub.events.outbox import record_event  # noqa: E402
from hub.sagas import SagaBook, SagaDefinition, SagaRunner, Step, StepContext  # noqa: E402
from hub.settings import HubSettings  # noqa: E402


async def _effect(ctx: StepContext) -> dict[str, Any]:
    record_event(
        ctx.session,
        tenant_id=ctx.tenant_id,
        type="bench.step",
        subject_type="saga",
        subject_id=ctx.saga_id,
        actor=None,
        payload={"key": ctx.key},
    )
    return {"ok": True}


def definition(steps: int) -> SagaDefinition:
    return SagaDefinition("bench_saga", 1, tuple(Step(f"s{n}", _effect) for n in range(steps)))


def settings(url: str, folder: str) -> HubSettings:
    return HubSettings(
        environment="test",
        jwt_secret="bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz",  # noqa: S106 - a throwaway database
        database_url=url,
        audit_key_file=Path(folder) / "audit.key",
        witness_key_file=Path(folder) / "witness.key",
    )


async def pg_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        host=os.environ.get("TRACSEQ_TEST_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("TRACSEQ_TEST_PG_PORT", "5432")),
        user=os.environ.get("TRACSEQ_TEST_PG_USER", "postgres"),
        password=os.environ.get("TRACSEQ_TEST_PG_PASSWORD") or None,
        database=os.environ.get("TRACSEQ_TEST_PG_ADMIN_DB", "postgres"),
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def pg_url(name: str) -> str:
    host = os.environ.get("TRACSEQ_TEST_PG_HOST", "127.0.0.1")
    port = os.environ.get("TRACSEQ_TEST_PG_PORT", "5432")
    user = os.environ.get("TRACSEQ_TEST_PG_USER", "postgres")
    password = os.environ.get("TRACSEQ_TEST_PG_PASSWORD")
    return f"postgresql+asyncpg://{user}{':' + password if password else ''}@{host}:{port}/{name}"


async def start_sagas(url: str, folder: str, count: int, steps: int) -> Principal:
    state = build_state(settings(url, folder))
    try:
        async with state.db.transaction() as session:
            tenant = await state.identity.create_tenant(
                session, f"bench-{uuid.uuid4().hex[:6]}", "Bench", actor="bench"
            )
        principal = Principal("user", str(uuid.uuid4()), tenant.id, "bench", Role.ADMIN)
        book, saga = SagaBook(state.audit), definition(steps)
        for start in range(0, count, 200):
            async with state.db.transaction() as session:
                for _ in range(min(200, count - start)):
                    await book.start(session, principal, saga, {})
        return principal
    finally:
        await state.db.dispose()


async def unfinished(url: str, folder: str) -> int:
    state = build_state(settings(url, folder))
    try:
        async with state.db.read() as session:
            query = select(func.count()).select_from(Saga).where(Saga.state.not_in(["completed", "compensated"]))
            return int((await session.execute(query)).scalar_one())
    finally:
        await state.db.dispose()


def worker(url: str, folder: str, steps: int, seconds: float) -> None:
    async def run() -> None:
        state = build_state(settings(url, folder))
        stop = asyncio.Event()
        runner = SagaRunner(state.db, state, {"bench_saga": definition(steps)}, batch=20, concurrency=8, poll_s=0.05)
        task = asyncio.create_task(runner.run(stop))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and await unfinished(url, folder):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.2)
        stop.set()
        await task
        await state.db.dispose()

    asyncio.run(run())


def run_workers(url: str, folder: str, workers: int, steps: int, seconds: float = 600) -> float:
    began = time.monotonic()
    processes = [
        multiprocessing.get_context("spawn").Process(target=worker, args=(url, folder, steps, seconds))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    return time.monotonic() - began


async def leave_in_flight(url: str, folder: str, steps: int) -> None:
    """What a killed runner leaves: every saga halfway, claimed under its lease by a process that is gone."""
    state = build_state(settings(url, folder))
    try:
        async with state.db.transaction() as session:
            await session.execute(
                update(Saga)
                .where(Saga.state == "running")
                .values(
                    lease_owner=f"{socket.gethostname()}:999999:dead0000",
                    lease_expires_at=func.now() + timedelta(minutes=5),
                )
            )
    finally:
        await state.db.dispose()


async def first_half(url: str, folder: str, steps: int) -> None:
    """Run every saga to its middle step, in this process, then stop (the crash comes after)."""
    state = build_state(settings(url, folder))
    half = SagaDefinition("bench_saga", 1, definition(steps).steps[: max(steps // 2, 1)])
    try:
        runner = SagaRunner(state.db, state, {"bench_saga": half}, batch=50, concurrency=8)
        claimed = await runner.claim()
        while claimed:
            await asyncio.gather(*(runner._advance_in_slot(i) for i in claimed))
            claimed = await runner.claim()
        async with state.db.transaction() as session:  # back in flight: the full definition resumes them
            await session.execute(
                update(Saga).where(Saga.current_step < steps).values(state="running", finished_at=None)
            )
    finally:
        await state.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sagas", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    name = f"tracseq_bench_sagas_{uuid.uuid4().hex[:8]}"
    asyncio.run(pg_admin(f'CREATE DATABASE "{name}"'))
    url = pg_url(name)
    try:
        from hub.migrations import upgrade

        upgrade(url)
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(start_sagas(url, folder, args.sagas, args.steps))
            took = run_workers(url, folder, args.workers, args.steps)
            left = asyncio.run(unfinished(url, folder))
            print(
                f"throughput: {args.sagas} sagas x {args.steps} steps, {args.workers} worker processes, PostgreSQL: "
                f"{took:.1f} s, {args.sagas / took:.0f} sagas/s ({args.sagas * args.steps / took:.0f} steps/s), "
                f"{left} unfinished"
            )
            asyncio.run(start_sagas(url, folder, args.sagas, args.steps))
            asyncio.run(first_half(url, folder, args.steps))
            asyncio.run(leave_in_flight(url, folder, args.steps))
            in_flight = asyncio.run(unfinished(url, folder))
            took = run_workers(url, folder, 1, args.steps)
            left = asyncio.run(unfinished(url, folder))
            print(
                f"recovery: {in_flight} sagas in flight under a dead runner's leases, one runner started: all "
                f"completed in {took:.1f} s (process start included), {left} unfinished"
            )
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
