"""Benchmark: the lab domain under load on PostgreSQL — sample search over 1,000,000 samples, and box placement
and listing of a 96-position box under concurrent clients.

    python bench/domain.py [--samples 1000000] [--seconds 10] [--concurrency 16]

A throwaway database next to TRACSEQ_TEST_PG_HOST:PORT (default 127.0.0.1:5432, user postgres) is created,
migrated and seeded: a tenant with an admin, 4 projects, 3 sample types and ``--samples`` samples loaded with
COPY (states, projects and creation times spread as in a busy lab), then ANALYZE. The hub runs with uvicorn as a
separate process; the clients are httpx in this process.

Workloads, each for ``--seconds`` with ``--concurrency`` clients:
1. search: GET /v1/samples with a random filter (none, a state, a project, a barcode prefix, a name word) and
   50 per page, following the cursor for up to 3 pages — by one client (the latency of a search) and by
   ``--concurrency`` clients (throughput; their latency includes waiting for the one server process);
2. box listing: GET of a full 96-position box;
3. placement: concurrent POSTs placing samples into free positions of 12×8 boxes (each request one sample).
The baseline, in the same run: a bare FastAPI endpoint served the same way (bench/hub_api.py). Prints requests/s,
p50 and p99 per workload and their ratio to the baseline; the aim is a search p99 under 100 ms on this machine
(one client).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/hub_api.py: the server and driver we share

import asyncpg
import httpx
from hub_api import PASSWORD, ROOT, Result, drive, pg_admin, seed, served

STATES = ["stored"] * 60 + ["completed"] * 15 + ["in_preparation"] * 8 + ["registered"] * 7 + ["on_hold"] * 2
STATES += ["received"] * 4 + ["sequencing"] * 2 + ["disposed"] * 2
WORDS = ["blood", "plasma", "tumour", "normal", "saliva", "biopsy", "FFPE", "cfDNA", "RNA", "library", "pool"]


def pg_host() -> tuple[str, str]:
    return os.environ.get("TRACSEQ_TEST_PG_HOST", "127.0.0.1"), os.environ.get("TRACSEQ_TEST_PG_PORT", "5432")


async def load_samples(dsn: str, count: int) -> dict[str, list[str]]:
    """``count`` samples of tenant 'bench-lab' by COPY, created over the last two years; returns the ids a client
    needs (projects, types, a few words of names)."""
    connection = await asyncpg.connect(dsn)
    try:
        tenant_id = await connection.fetchval("SELECT id FROM tenants WHERE slug = 'bench-lab'")
        now = datetime.now(UTC)
        projects = [str(uuid.uuid4()) for _ in range(4)]
        types = [str(uuid.uuid4()) for _ in range(3)]
        await connection.executemany(
            "INSERT INTO projects (id, tenant_id, code, name, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            [(p, tenant_id, f"P{n:03d}", f"Project {n}", "user:bench", now) for n, p in enumerate(projects)],
        )
        await connection.executemany(
            "INSERT INTO sample_types (id, tenant_id, name, zone, colder_ok, created_at)"
            " VALUES ($1, $2, $3, $4, true, $5)",
            [(t, tenant_id, name, "-80", now) for t, name in zip(types, ("Blood", "DNA", "Library"), strict=True)],
        )
        rng = random.Random(7)
        start = now - timedelta(days=730)
        step = timedelta(days=730) / count
        columns = (
            "id",
            "tenant_id",
            "barcode",
            "name",
            "sample_type_id",
            "project_id",
            "state",
            "custodian",
            "attributes",
            "version",
            "created_by",
            "created_at",
            "updated_at",
        )
        batch: list[tuple[object, ...]] = []
        for n in range(count):
            created = start + step * n
            record = (
                str(uuid.uuid4()),
                tenant_id,
                f"S-{n + 1:07d}",
                f"{rng.choice(WORDS)} {rng.choice(WORDS)} {n}",
                rng.choice(types),
                rng.choice(projects),
                rng.choice(STATES),
                "bench.admin",
                "{}",
                1,
                "user:bench",
                created,
                created,
            )
            batch.append(record)
            if len(batch) == 50_000:
                await connection.copy_records_to_table("samples", records=batch, columns=columns)
                batch.clear()
                print(f"\r  loaded {n + 1:,} samples", end="", flush=True)
        if batch:
            await connection.copy_records_to_table("samples", records=batch, columns=columns)
        print(f"\r  loaded {count:,} samples")
        await connection.execute(
            "INSERT INTO sample_sequences (tenant_id, prefix, next_value) VALUES ($1, 'S', $2)", tenant_id, count + 1
        )
        await connection.execute("ANALYZE")
        return {"projects": projects, "types": types}
    finally:
        await connection.close()


def search_urls(base: str, ids: dict[str, list[str]], rng: random.Random) -> list[str]:
    """Search requests a technician makes: the newest page, by state, by project, a barcode prefix, a name word."""
    choices = [
        "",
        f"state={rng.choice(['stored', 'on_hold', 'in_preparation', 'sequencing'])}",
        f"project_id={rng.choice(ids['projects'])}",
        f"project_id={rng.choice(ids['projects'])}&state=stored",
        f"barcode_prefix=S-{rng.randrange(1, 99):02d}",
        f"q={rng.choice(WORDS)}",
        f"sample_type_id={rng.choice(ids['types'])}&order=oldest",
    ]
    return [f"{base}/v1/samples?limit=50&{q}" for q in choices]


async def search(
    base: str, headers: dict[str, str], ids: dict[str, list[str]], seconds: float, concurrency: int
) -> Result:
    """Each request is one page; a client follows the cursor for up to 3 pages before a new search."""
    rng = random.Random(11)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:

        async def worker(until: float, measure: bool) -> None:
            nonlocal errors
            while time.perf_counter() < until:
                url = rng.choice(search_urls(base, ids, rng))
                for _ in range(3):
                    began = time.perf_counter()
                    response = await client.get(url)
                    if measure:
                        latencies.append(time.perf_counter() - began)
                        errors += response.status_code != 200
                    cursor = response.json().get("next_cursor") if response.status_code == 200 else None
                    if not cursor:
                        break
                    url = f"{url.split('&cursor=')[0]}&cursor={cursor}"

        warm = time.perf_counter() + 2
        await asyncio.gather(*(worker(warm, False) for _ in range(concurrency)))
        began = time.perf_counter()
        await asyncio.gather(*(worker(began + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return Result("hub sample search (1 page of 50)", len(latencies), errors, elapsed, latencies)


async def make_boxes(client: httpx.AsyncClient, boxes: int) -> list[str]:
    async def create(body: dict[str, object]) -> str:
        response = await client.post("/v1/storage/containers", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    freezer = await create({"kind": "freezer", "name": "Bench -80 A", "zone": "-80"})
    rack = await create({"kind": "rack", "name": "Rack 1", "parent_id": freezer})
    return [
        await create({"kind": "box", "name": f"Box {n}", "parent_id": rack, "rows": 8, "cols": 12})
        for n in range(boxes)
    ]


async def placement(base: str, headers: dict[str, str], seconds: float, concurrency: int) -> tuple[Result, Result, int]:
    """Clients place received samples into free positions of 12×8 boxes, one sample a request, racing for the
    same positions (a 409 for a taken position is the right answer, and counted apart); others list a full box."""
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
        kind = await client.post("/v1/sample-types", json={"name": "Plasma", "zone": "-80"})
        assert kind.status_code == 201, kind.text
        boxes = await make_boxes(client, 40)
        samples: list[str] = []
        for _ in range(8):
            body = {"samples": [{"name": f"plasma {n}", "sample_type_id": kind.json()["id"]} for n in range(500)]}
            made = await client.post("/v1/samples", json=body)
            assert made.status_code == 201, made.text
            ids = [s["id"] for s in made.json()]
            body = {"sample_ids": ids, "to": "received", "reason": "bench intake"}
            moved = await client.post("/v1/samples/transitions", json=body)
            assert moved.status_code == 200, moved.text
            samples += ids
        # one full box to list
        full = [
            {"sample_id": s, "box_id": boxes[0], "position": f"{'ABCDEFGH'[i // 12]}{i % 12 + 1}"}
            for i, s in enumerate(samples[:96])
        ]
        placed = await client.post("/v1/storage/placements", json={"placements": full})
        assert placed.status_code == 200, placed.text
    listing = await drive(
        "hub GET a full 96-position box", f"{base}/v1/storage/boxes/{boxes[0]}", headers, seconds, concurrency, 10**6
    )

    queue = samples[96:]
    rng = random.Random(3)
    latencies: list[float] = []
    errors = conflicts = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, headers=headers) as client:

        async def worker(until: float) -> None:
            nonlocal errors, conflicts
            while time.perf_counter() < until and queue:
                sample = queue.pop()
                box = rng.choice(boxes[1:])
                index = rng.randrange(96)
                body = {
                    "placements": [
                        {"sample_id": sample, "box_id": box, "position": f"{'ABCDEFGH'[index // 12]}{index % 12 + 1}"}
                    ]
                }
                began = time.perf_counter()
                response = await client.post("/v1/storage/placements", json=body)
                latencies.append(time.perf_counter() - began)
                if response.status_code == 409:
                    conflicts += 1
                elif response.status_code != 200:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(began + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    placing = Result("hub place one sample (POST)", len(latencies), errors, elapsed, latencies)
    return listing, placing, conflicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per workload (max 60)")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0)
    from hub.migrations import upgrade

    host, port = pg_host()
    database = f"tracseq_bench_{uuid.uuid4().hex[:10]}"
    url = f"postgresql+asyncpg://postgres@{host}:{port}/{database}"
    with tempfile.TemporaryDirectory(prefix="tracseq-bench-") as folder:
        work = Path(folder)
        env = {
            "TRACSEQ_HUB_ENVIRONMENT": "production",
            "TRACSEQ_HUB_JWT_SECRET": secrets.token_urlsafe(48),
            "TRACSEQ_HUB_DATABASE_URL": url,
            "TRACSEQ_HUB_AUDIT_KEY_FILE": str(work / "audit.key"),
            "TRACSEQ_HUB_WITNESS_KEY_FILE": str(work / "witness.key"),
            "TRACSEQ_HUB_RATE_USER_PER_MIN": "100000000",
            "TRACSEQ_HUB_RATE_TENANT_PER_MIN": "100000000",
            "TRACSEQ_HUB_LOG_LEVEL": "WARNING",
        }
        asyncio.run(pg_admin(f'CREATE DATABASE "{database}"'))
        try:
            upgrade(url)
            asyncio.run(seed(env))
            began = time.perf_counter()
            ids = asyncio.run(load_samples(f"postgresql://postgres@{host}:{port}/{database}", args.samples))
            print(f"  seeded in {time.perf_counter() - began:.0f} s")
            with served("hub.api.asgi:app", env, ROOT) as base:
                login = {"tenant": "bench-lab", "username": "bench.admin", "password": PASSWORD}
                pair = httpx.post(base + "/v1/auth/login", json=login, timeout=10).json()
                headers = {"Authorization": f"Bearer {pair['access_token']}"}
                alone = asyncio.run(search(base, headers, ids, seconds, 1))
                alone.name = "hub sample search, one client"
                found = asyncio.run(search(base, headers, ids, seconds, args.concurrency))
                listing, placing, conflicts = asyncio.run(placement(base, headers, seconds, args.concurrency))
            with served("hub_api:baseline_app", {}, ROOT / "bench") as base:
                bare = asyncio.run(
                    drive("bare FastAPI GET /ping", base + "/ping", {}, seconds, args.concurrency, 10**6)
                )
        finally:
            asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    print(f"PostgreSQL, {args.samples:,} samples, {args.concurrency} concurrent clients, {seconds:g} s per workload")
    for result in (alone, found, listing, placing, bare):
        print(result.line())
    print(f"  placements refused because another client took the position first (409): {conflicts}")
    for result in (alone, found, listing, placing):
        print(
            f"ratio {result.name} / bare: throughput {result.rate / bare.rate:.2f}, "
            f"p99 latency {result.percentile(0.99) / bare.percentile(0.99):.1f}x"
        )
    verdict = "meets" if alone.percentile(0.99) < 100 else "misses"
    print(f"search p99 with one client {alone.percentile(0.99):.1f} ms {verdict} the 100 ms aim")
    print(
        json.dumps(
            {
                "search_alone_p99_ms": round(alone.percentile(0.99), 2),
                "search_p99_ms": round(found.percentile(0.99), 2),
                "box_list_p99_ms": round(listing.percentile(0.99), 2),
                "place_p99_ms": round(placing.percentile(0.99), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
