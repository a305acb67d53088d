"""Saga throughput and recovery on PostgreSQL, against a bare loop doing the same steps' writes.

    python bench/sagas.py [--sagas 1000] [--workers 3] [--steps 3]

A throwaway database on TRACSEQ_TEST_PG_HOST:PORT (default 127.0.0.1:5432, user postgres), migrated, with one
tenant. Throughput: ``--sagas`` sagas of ``--steps`` steps (each step writes an event in its own transaction with
its log line, as the lab's workflows do) run by ``--workers`` runner processes; sagas completed per second.
Recovery: the same number of sagas left in flight by a runner that was killed (claimed under its lease, halfway
through their steps), then one runner started: the time until every one of them has completed.

The baseline, in the same run against the same database: the same work without the saga engine. The bench's steps
are synthetic: a step's action only records one ``bench.step`` event (an outbox row), and the engine then marks the
step row done and moves the saga row on (and completes it after the last step). The baseline does exactly these
writes with bare asyncpg: for each saga (started the same way, ``SagaBook.start``, untimed like the engine's), one
transaction per step (the fewest the engine could use: it commits each step on its own) holding three statements,
INSERT the step's outbox event (same columns, same payload), UPDATE its ``saga_steps`` row (state, output,
attempts, times) and UPDATE the ``sagas`` row (current step, times; state and finished time after the last step).
What it leaves out is the engine's bookkeeping: the claim transactions and leases (``FOR UPDATE SKIP LOCKED``,
the row lock and lease check in every step's transaction), the reads that build a step's context, the saga log
(a ``saga_transitions`` row and a ``saga.*`` event per step and on completion), retry/timeout handling and the
ORM. It runs in as many processes as the engine, spawned the same way (so they pay the same interpreter start and
imports), each with as many connections as a runner advances sagas at once (8); the processes take sagas from a
shared counter (no database round trip), as runners share the sagas by claiming them. Ratio engine / baseline of
sagas/s: 1.0 would mean the engine's bookkeeping costs nothing.

Timing, the same for the engine and the baseline: from spawning the processes to joining them ("process start
included", the figure this script has always printed), and the work alone: from the moment every process was
running this script's code (they wait for each other there, so that on a small machine no process's work races the
others' imports) to the moment the last one returned from its work (before interpreter exit). Starting and ending a
process costs seconds here, as much as the bare loop's whole run or more, so the ratio of the work alone is the one
that compares the engine with the bare writes; the other is printed because it is the figure of record. The
engine's work still includes what its bench worker adds around the runner: building the hub's state and, every
0.2 s, a fresh count of the unfinished sagas, which is how it knows to stop.

Recovery's baseline: the same number of sagas brought by the bare loop (untimed) to the step the crashed runner
left them at, then one bare process doing their remaining steps as above. Ratio recovery / baseline of the times:
what taking over a dead runner's sagas and finishing them costs over just doing their remaining writes (the
engine's recovery frees the dead leases, claims and advances; the baseline has no leases to free).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from hub.sagas.book import step_key  # noqa: E402
from hub.settings import HubSettings  # noqa: E402

CONCURRENCY = 8  # sagas a runner advances at once; the baseline's connections per process


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
    import asyncpg  # type: ignore[import-untyped]

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
        runner = SagaRunner(
            state.db, state, {"bench_saga": definition(steps)}, batch=20, concurrency=CONCURRENCY, poll_s=0.05
        )
        task = asyncio.create_task(runner.run(stop))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and await unfinished(url, folder):  # noqa: ASYNC110 - polls the database
            await asyncio.sleep(0.2)
        stop.set()
        await task
        await state.db.dispose()

    asyncio.run(run())


@dataclass(frozen=True)
class Timing:
    total: float  # from spawning the processes to joining them: process start and exit included
    work: float  # from the moment all of them were running this script's code (imports done) to the last one's end

    @property
    def overhead(self) -> float:
        return self.total - self.work


def _gated(ready: Any, done: Any, index: int, go: Any, target: Callable[..., None], *args: Any) -> None:
    ready[index] = 1
    go.wait()
    target(*args)
    done[index] = time.monotonic()


def run_processes(target: Callable[..., None], args: tuple[Any, ...], count: int) -> Timing:
    """``count`` spawned processes running ``target(*args)``, started together once all have imported this script
    (on two cores, the first one's work would otherwise race the others' imports)."""
    context = multiprocessing.get_context("spawn")
    ready, done, go = context.Array("b", count), context.Array("d", count), context.Event()
    began = time.monotonic()
    processes = [context.Process(target=_gated, args=(ready, done, n, go, target, *args)) for n in range(count)]
    for process in processes:
        process.start()
    while not all(ready[:]) and all(process.is_alive() for process in processes):
        time.sleep(0.01)
    released = time.monotonic()
    go.set()
    for process in processes:
        process.join()
    ended = time.monotonic()
    return Timing(ended - began, max([*done[:], released]) - released)


def run_workers(url: str, folder: str, workers: int, steps: int, seconds: float = 600) -> Timing:
    return run_processes(worker, (url, folder, steps, seconds), workers)


# -- the baseline: the steps' writes by a bare asyncpg loop ---------------------------------------------------------

STEP_EVENT = (
    "INSERT INTO outbox (event_id, tenant_id, type, subject_type, subject_id, actor, payload, created_at)"
    " VALUES ($1, $2, 'bench.step', 'saga', $3, NULL, $4::jsonb, now())"
)
STEP_DONE = (
    "UPDATE saga_steps SET state = 'done', output = $3::jsonb, attempts = attempts + 1,"
    " started_at = coalesce(started_at, now()), finished_at = now(), error = NULL"
    " WHERE saga_id = $1 AND position = $2"
)
SAGA_ON = "UPDATE sagas SET current_step = $2, updated_at = now(), next_attempt_at = now() WHERE id = $1"
SAGA_DONE = (
    "UPDATE sagas SET current_step = $2, updated_at = now(), next_attempt_at = now(), state = 'completed',"
    " finished_at = now() WHERE id = $1"
)


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def saga_jobs(url: str) -> list[tuple[str, str]]:
    """(saga id, tenant id) of the sagas in flight, oldest first (read before the clock starts)."""
    import asyncpg

    connection = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await connection.fetch(
            "SELECT id, tenant_id FROM sagas WHERE state = 'running' ORDER BY next_attempt_at, id"
        )
        return [(str(r["id"]), str(r["tenant_id"])) for r in rows]
    finally:
        await connection.close()


async def bare_steps(
    url: str, jobs: Sequence[tuple[str, str]], first: int, last: int, steps: int, take: Callable[[], int]
) -> None:
    """Steps ``first`` to ``last - 1`` of each saga ``take()`` hands out, one transaction per step, ``CONCURRENCY``
    sagas at once on as many connections."""
    import asyncpg

    pool = await asyncpg.create_pool(plain_dsn(url), min_size=CONCURRENCY, max_size=CONCURRENCY)
    output = json.dumps({"ok": True})

    async def lane() -> None:
        while (n := take()) < len(jobs):
            saga_id, tenant_id = jobs[n]
            for position in range(first, last):
                key = step_key(saga_id, position, f"s{position}")
                async with pool.acquire() as connection, connection.transaction():
                    await connection.execute(
                        STEP_EVENT, str(uuid.uuid4()), tenant_id, saga_id, json.dumps({"key": key})
                    )
                    await connection.execute(STEP_DONE, saga_id, position, output)
                    await connection.execute(SAGA_DONE if position + 1 >= steps else SAGA_ON, saga_id, position + 1)

    try:
        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    finally:
        await pool.close()


def bare_worker(url: str, jobs: Sequence[tuple[str, str]], first: int, last: int, steps: int, counter: Any) -> None:
    def take() -> int:
        with counter.get_lock():
            n = int(counter.value)
            counter.value = n + 1
        return n

    asyncio.run(bare_steps(url, jobs, first, last, steps, take))


def run_bare(url: str, processes: int, first: int, last: int, steps: int) -> Timing:
    jobs = asyncio.run(saga_jobs(url))
    counter = multiprocessing.get_context("spawn").Value("l", 0)
    return run_processes(bare_worker, (url, jobs, first, last, steps, counter), processes)


def bare_first_half(url: str, steps: int) -> None:
    """In this process, untimed: every saga to the step ``first_half`` leaves it at."""
    jobs, numbers = asyncio.run(saga_jobs(url)), itertools.count()
    asyncio.run(bare_steps(url, jobs, 0, max(steps // 2, 1), steps, lambda: next(numbers)))


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
                f"{took.total:.1f} s, {args.sagas / took.total:.0f} sagas/s "
                f"({args.sagas * args.steps / took.total:.0f} steps/s), {left} unfinished; work alone (without "
                f"{took.overhead:.1f} s of process start/exit): {took.work:.1f} s, {args.sagas / took.work:.0f} sagas/s"
            )
            asyncio.run(start_sagas(url, folder, args.sagas, args.steps))
            bare = run_bare(url, args.workers, 0, args.steps, args.steps)
            left = asyncio.run(unfinished(url, folder))
            print(
                f"baseline: the same sagas' step writes (event insert, step and saga row updates, one transaction per "
                f"step) by a bare asyncpg loop, {args.workers} processes x {CONCURRENCY} connections: "
                f"{bare.total:.1f} s, {args.sagas / bare.total:.0f} sagas/s "
                f"({args.sagas * args.steps / bare.total:.0f} steps/s), {left} unfinished; work alone (without "
                f"{bare.overhead:.1f} s of process start/exit): {bare.work:.1f} s, {args.sagas / bare.work:.0f} sagas/s"
            )
            print(
                f"ratio engine / baseline (sagas/s): {bare.work / took.work:.3f} work alone, "
                f"{bare.total / took.total:.3f} process start/exit included"
            )
            asyncio.run(start_sagas(url, folder, args.sagas, args.steps))
            asyncio.run(first_half(url, folder, args.steps))
            asyncio.run(leave_in_flight(url, folder, args.steps))
            in_flight = asyncio.run(unfinished(url, folder))
            took = run_workers(url, folder, 1, args.steps)
            left = asyncio.run(unfinished(url, folder))
            print(
                f"recovery: {in_flight} sagas in flight under a dead runner's leases, one runner started: all "
                f"completed in {took.total:.1f} s (process start included), {left} unfinished; work alone: "
                f"{took.work:.1f} s"
            )
            asyncio.run(start_sagas(url, folder, args.sagas, args.steps))
            bare_first_half(url, args.steps)
            in_flight = asyncio.run(unfinished(url, folder))
            half = max(args.steps // 2, 1)
            bare = run_bare(url, 1, half, args.steps, args.steps)
            left = asyncio.run(unfinished(url, folder))
            print(
                f"recovery baseline: {in_flight} sagas at the same step, their remaining {args.steps - half} step(s) "
                f"by one bare process: {bare.total:.1f} s (process start included), {left} unfinished; work alone: "
                f"{bare.work:.1f} s"
            )
            print(
                f"ratio recovery / baseline (time): {took.work / bare.work:.1f} work alone, "
                f"{took.total / bare.total:.2f} process start/exit included"
            )
    finally:
        asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
