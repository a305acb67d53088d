"""Benchmark: catch-up of a large edge backlog into the hub on PostgreSQL, one edge and a fleet at once.

    python bench/sync.py [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--entries 200000] [--edges 20]

A throwaway database is created next to ``--pg-url``'s (and dropped at the end), migrated, seeded with one tenant;
``tracseq hub serve`` runs it as a separate process. Each edge's backlog is written straight into an edge log store
(``edge.store.LogStore``: chained, signed, a checkpoint every 1,000 entries), the edge is enrolled over HTTP, and the
catch-up is driven from this process by ``SyncSender`` + ``HttpTransport`` exactly as the agent drives it; the clock
stops when the hub has acknowledged the last entry. Then ``--edges`` edges with ``--fleet-entries`` each catch up at
once (concurrent senders; 429s are honoured as the agent honours them).

The baseline, in the same run against the same server: the same rows (device_id, seq, hash, raw) loaded into an
equivalent table with asyncpg ``copy_records_to_table`` and with ``executemany``, in batches of the sender's size.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Run as ``python bench/sync.py``, this file's folder comes first on sys.path and its name would shadow the sync
# package it measures.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import asyncpg
import httpx

from edge.store import LogStore
from protocol import SigningKey, entry_hash
from sync.errors import TransportError
from sync.sender import SyncSender
from sync.transport import HttpTransport

JWT_SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105 - a throwaway hub
PASSWORD = "Correct-Horse-Battery-42"  # noqa: S105 - a throwaway hub
T0 = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
PAYLOADS = [
    {"device": f"freezer-{d:02d}", "channel": "temp", "value": f"-80.{d:02d}", "unit": "Cel", "quality": "good"}
    for d in range(50)
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


# -- the hub ------------------------------------------------------------------------------------------------------


@dataclass
class HubProcess:
    proc: subprocess.Popen[bytes]
    url: str
    admin_token: str


def hub_env(database_url: str, folder: Path, concurrency: int) -> dict[str, str]:
    return {
        "TRACSEQ_HUB_ENVIRONMENT": "test",
        "TRACSEQ_HUB_JWT_SECRET": JWT_SECRET,
        "TRACSEQ_HUB_DATABASE_URL": database_url,
        "TRACSEQ_HUB_AUDIT_KEY_FILE": str(folder / "audit.key"),
        "TRACSEQ_HUB_WITNESS_KEY_FILE": str(folder / "witness.key"),
        "TRACSEQ_HUB_RATE_DEVICE_PER_MIN": "1000000",
        "TRACSEQ_HUB_RATE_TENANT_PER_MIN": "1000000",
        "TRACSEQ_HUB_INGEST_CONCURRENCY": str(concurrency),
        "TRACSEQ_HUB_LOG_LEVEL": "WARNING",
    }


PROFILED = """
import cProfile, os, signal, sys
profiler = cProfile.Profile()
def dump(*_):
    profiler.disable()
    profiler.dump_stats({path!r})
    os._exit(0)
signal.signal(signal.SIGUSR1, dump)
sys.argv[0] = "tracseq"
from protocol.cli import main
profiler.enable()
main()
"""


def start_hub(database_url: str, folder: Path, concurrency: int, profile: Path | None = None) -> HubProcess:
    env = {**os.environ, **hub_env(database_url, folder, concurrency)}
    done = subprocess.run(
        [sys.executable, "-m", "protocol", "hub", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"tracseq hub migrate failed: {done.stderr[-2000:]}")
    for command in (["create-tenant", "bench"], ["create-admin", "bench", "ana", "--password-env", "BENCH_PW"]):
        done = subprocess.run(
            [sys.executable, "-m", "protocol", "hub", *command],
            env={**env, "BENCH_PW": PASSWORD},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"tracseq hub {command[0]} failed: {done.stderr[-2000:]}")
    port = free_port()
    log = (folder / "hub.log").open("wb")
    command = ["-m", "protocol", "hub", "serve", "--port", str(port)]
    if profile is not None:  # uvicorn re-raises SIGTERM, so the stats are written on SIGUSR1 instead
        command = ["-c", PROFILED.format(path=str(profile)), "hub", "serve", "--port", str(port)]
    proc = subprocess.Popen([sys.executable, *command], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the hub did not start: {(folder / 'hub.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    login = httpx.post(
        f"{url}/v1/auth/login", json={"tenant": "bench", "username": "ana", "password": PASSWORD}, timeout=30
    )
    login.raise_for_status()
    return HubProcess(proc, url, login.json()["access_token"])


def enroll(hub: HubProcess, name: str, key: SigningKey) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {hub.admin_token}"}
    token = httpx.post(f"{hub.url}/v1/devices/enrollment-tokens", headers=headers, timeout=30).json()["token"]
    response = httpx.post(
        f"{hub.url}/v1/sync/enroll",
        json={"token": token, "name": name, "origin": key.name, "public_key": key.verifier.vkey},
        timeout=30,
    )
    response.raise_for_status()
    data = response.json()
    return data["device_id"], data["device_token"]


# -- the edges ----------------------------------------------------------------------------------------------------


def backlog(folder: Path, name: str, n: int) -> tuple[LogStore, SigningKey]:
    origin = f"tracseq.bench/edge/{name}"
    key = SigningKey.generate(origin)
    store = LogStore(folder / f"{name}.db", origin, key)
    for i in range(n):
        store.append("observation", PAYLOADS[i % 50], T0 + timedelta(milliseconds=i), i)
        if (i + 1) % 1000 == 0:
            store.checkpoint()
    store.checkpoint()
    return store, key


async def catch_up(store: LogStore, hub_url: str, token: str, batch: int, target: int) -> int:
    """Drive the sender until the hub acknowledged ``target`` entries; honour 429/5xx as the agent does.
    Returns how many times the hub asked us to wait."""
    transport = HttpTransport(hub_url, token, timeout_s=120)
    sender = SyncSender(store, transport, max_entries=batch)
    waits = 0
    try:
        while store.acked_seq() < target:
            try:
                await sender.sync_once()
            except TransportError as exc:
                waits += 1
                await asyncio.sleep(exc.retry_after if exc.retry_after is not None else 0.2)
    finally:
        await transport.close()
    return waits


# -- the baseline -------------------------------------------------------------------------------------------------

BASELINE_TABLE = """
CREATE TABLE bench_entries (
    device_id VARCHAR(36) NOT NULL,
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    raw BYTEA NOT NULL,
    PRIMARY KEY (device_id, seq)
)
"""


async def baseline(url: str, rows: list[tuple[str, int, bytes, bytes]], batch: int) -> tuple[float, float]:
    """(COPY rows/s, executemany rows/s): one transaction per batch, as the hub commits one per batch."""
    connection = await asyncpg.connect(url)
    try:
        rates = []
        for method in ("copy", "executemany"):
            await connection.execute("DROP TABLE IF EXISTS bench_entries")
            await connection.execute(BASELINE_TABLE)
            start = time.perf_counter()
            for i in range(0, len(rows), batch):
                chunk = rows[i : i + batch]
                async with connection.transaction():
                    if method == "copy":
                        await connection.copy_records_to_table(
                            "bench_entries", records=chunk, columns=["device_id", "seq", "hash", "raw"]
                        )
                    else:
                        await connection.executemany(
                            "INSERT INTO bench_entries (device_id, seq, hash, raw) VALUES ($1, $2, $3, $4)", chunk
                        )
            rates.append(len(rows) / (time.perf_counter() - start))
        await connection.execute("DROP TABLE bench_entries")
        return rates[0], rates[1]
    finally:
        await connection.close()


async def floor(url: str, device_id: str, batch: int) -> float:
    """Entries/s for the rows the hub stored for ``device_id`` (its entries and their readings), taken out and put
    back with COPY into the hub's own tables, with their keys, indexes and foreign keys: what PostgreSQL alone
    costs for the hub's writes, one transaction per batch."""
    connection = await asyncpg.connect(url)
    try:
        entries = await connection.fetch(
            "SELECT device_id, seq, hash, raw, received_at FROM device_entries WHERE device_id = $1 ORDER BY seq",
            device_id,
        )
        readings = await connection.fetch(
            "SELECT device_id, seq, tenant_id, source, channel, value, unit, quality, ts, flagged FROM readings"
            " WHERE device_id = $1 ORDER BY seq",
            device_id,
        )
        by_seq = {r["seq"]: tuple(r) for r in readings}
        async with connection.transaction():
            await connection.execute("DELETE FROM readings WHERE device_id = $1", device_id)
            await connection.execute("DELETE FROM device_entries WHERE device_id = $1", device_id)
        await connection.execute("VACUUM device_entries, readings")
        start = time.perf_counter()
        for i in range(0, len(entries), batch):
            chunk = [tuple(r) for r in entries[i : i + batch]]
            derived = [by_seq[row[1]] for row in chunk if row[1] in by_seq]
            async with connection.transaction():
                await connection.copy_records_to_table("device_entries", records=chunk, columns=ENTRY_COLUMNS)
                await connection.copy_records_to_table("readings", records=derived, columns=READING_COLUMNS)
        return len(entries) / (time.perf_counter() - start)
    finally:
        await connection.close()


ENTRY_COLUMNS = ["device_id", "seq", "hash", "raw", "received_at"]
READING_COLUMNS = ["device_id", "seq", "tenant_id", "source", "channel", "value", "unit", "quality", "ts", "flagged"]


# -- the run ------------------------------------------------------------------------------------------------------


def rows_of(store: LogStore, device_id: str) -> list[tuple[str, int, bytes, bytes]]:
    return [(device_id, seq, entry_hash(raw), raw) for seq, raw in store.entries()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--pg-url", default=os.environ.get("TRACSEQ_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--entries", type=int, default=200_000, help="backlog of the single edge")
    parser.add_argument("--edges", type=int, default=20, help="edges catching up at once")
    parser.add_argument("--fleet-entries", type=int, default=10_000, help="backlog of each fleet edge")
    parser.add_argument("--batch", type=int, default=2000, help="entries per batch (the agent's default: 2000)")
    parser.add_argument("--ingest-concurrency", type=int, default=4, help="the hub's admission limit (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the single-edge catch-up; report the median")
    parser.add_argument("--profile-hub", type=Path, help="run the hub under cProfile and write its stats here")
    args = parser.parse_args()

    name = f"tracseq_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(args.pg_url, f'CREATE DATABASE "{name}"'))
    plain_url = with_database(args.pg_url, name)
    hub_url = plain_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    hub = None
    try:
        with tempfile.TemporaryDirectory(prefix="tracseq-bench-sync-") as tmp:
            folder = Path(tmp)
            hub = start_hub(hub_url, folder, args.ingest_concurrency, args.profile_hub)

            single: list[float] = []
            solo_device = ""
            rows: list[tuple[str, int, bytes, bytes]] = []
            for round_no in range(args.rounds):
                start = time.perf_counter()
                store, key = backlog(folder, f"solo-{round_no}", args.entries)
                made = time.perf_counter() - start
                device_id, token = enroll(hub, f"solo-{round_no}", key)
                start = time.perf_counter()
                asyncio.run(catch_up(store, hub.url, token, args.batch, args.entries))
                single.append(args.entries / (time.perf_counter() - start))
                if round_no == 0:
                    rows = rows_of(store, device_id)
                    solo_device = device_id
                store.close()
                print(
                    f"  backlog of {args.entries:,} written in {made:.1f} s; caught up at {single[-1]:,.0f} entries/s"
                )

            stores = [backlog(folder, f"fleet-{i:02d}", args.fleet_entries) for i in range(args.edges)]
            tokens = [enroll(hub, f"fleet-{i:02d}", key)[1] for i, (_, key) in enumerate(stores)]

            async def fleet() -> list[int]:
                return await asyncio.gather(
                    *(
                        catch_up(store, hub.url, token, args.batch, args.fleet_entries)
                        for (store, _), token in zip(stores, tokens, strict=True)
                    )
                )

            start = time.perf_counter()
            waits = asyncio.run(fleet())
            fleet_rate = args.edges * args.fleet_entries / (time.perf_counter() - start)
            for store, _ in stores:
                store.close()

            copy_rate, many_rate = asyncio.run(baseline(plain_url, rows, args.batch))
            floor_rate = asyncio.run(floor(plain_url, solo_device, args.batch))
    finally:
        if hub is not None:
            hub.proc.send_signal(signal.SIGUSR1 if args.profile_hub else signal.SIGTERM)
            hub.proc.wait(30)
        asyncio.run(admin(args.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    solo = statistics.median(single)
    n, fleet_n = args.entries, args.edges * args.fleet_entries
    print(f"rows of {args.batch:,} per transaction, {n:,} rows, PostgreSQL on {urlsplit(args.pg_url).netloc}")
    print(f"  bare COPY into an equivalent table (asyncpg copy_records_to_table) {copy_rate:>10,.0f} rows/s")
    print(f"  bare executemany INSERT into the same table                       {many_rate:>10,.0f} rows/s")
    print(f"  COPY into the hub's own tables (entries + readings, keys, FKs)    {floor_rate:>10,.0f} entries/s")
    print(f"hub catch-up, one edge, {n:,} entries                        {solo:>10,.0f} entries/s")
    print(
        f"  = {solo / copy_rate:.1%} of the bare COPY, {solo / many_rate:.1%} of executemany, "
        f"{solo / floor_rate:.1%} of COPY into the hub's tables"
    )
    print(f"hub catch-up, {args.edges} edges at once, {fleet_n:,} entries            {fleet_rate:>10,.0f} entries/s")
    print(
        f"  = {fleet_rate / copy_rate:.1%} of the bare COPY, {fleet_rate / floor_rate:.1%} of COPY into the hub's "
        f"tables; {sum(waits)} waits on 429/5xx (hub ingest concurrency {args.ingest_concurrency})"
    )
    print("each hub entry is verified (chain link, hash, checkpoint signature), decoded into a reading row, stored")
    print("in one transaction per batch with its cosignature, and acknowledged over HTTP to a sender in this process")


if __name__ == "__main__":
    main()
