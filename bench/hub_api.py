"""Benchmark: an authenticated hub read under concurrent load, against a bare FastAPI endpoint served the same way.

    python bench/hub_api.py [--pg] [--seconds S] [--concurrency C] [--path /v1/users?limit=20]

Starts the hub with uvicorn as a separate process (SQLite in a temporary folder by default; ``--pg`` uses a
throwaway database on TRACSEQ_TEST_PG_HOST:PORT, default 127.0.0.1:5432, user postgres), seeds a tenant with an
admin and 24 more users, signs in over HTTP, then drives the read with C concurrent httpx clients from this process
for S seconds. The baseline is ``baseline_app`` below (one ``async def`` returning a small JSON), served by uvicorn
with the same options and driven identically. Prints requests/s, p50 and p99 latency for both and their ratios.
Loopback only; each run is bounded by --seconds and --max-requests. Rate limits are raised out of the way: this
measures the request path (auth, rate-limit bookkeeping, still-active check, a tenant-scoped query), not 429s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import httpx
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Bench-Password-2024!"  # noqa: S105 - a throwaway account in a throwaway database
# Run as a script, this folder comes first on sys.path, and its sync.py would shadow the sync package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

baseline_app = FastAPI()


@baseline_app.get("/ping")
async def ping() -> dict[str, object]:
    return {"status": "ok", "items": [1, 2, 3]}


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<34} {self.rate:>8,.0f} req/s   p50 {self.percentile(0.50):6.2f} ms   "
            f"p99 {self.percentile(0.99):6.2f} ms   ({self.requests:,} requests, {self.errors} errors)"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def served(target: str, env: dict[str, str], app_dir: Path) -> Iterator[str]:
    """``uvicorn target`` on a free loopback port, one process, no access log; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", "--app-dir", str(app_dir)]
    server = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                raise SystemExit(f"{target} exited with {server.returncode} before answering")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + "/openapi.json", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"{target} did not answer within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def drive(
    name: str,
    url: str | Callable[[], str],
    headers: dict[str, str],
    seconds: float,
    concurrency: int,
    max_requests: int,
) -> Result:
    """``concurrency`` workers on one keep-alive pool, each sending GET ``url`` (or the URL ``url()`` makes for
    each request) in a loop; 1 s of warm-up first."""
    next_url = url if callable(url) else lambda: url
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10, headers=headers) as client:
        warm_until = time.perf_counter() + 1.0
        latencies: list[float] = []
        errors = 0
        sent = 0

        async def worker(measure: bool, until: float) -> None:
            nonlocal errors, sent
            while time.perf_counter() < until and sent < max_requests:
                if measure:
                    sent += 1
                start = time.perf_counter()
                response = await client.get(next_url())
                if measure:
                    latencies.append(time.perf_counter() - start)
                    errors += response.status_code != 200

        await asyncio.gather(*(worker(False, warm_until) for _ in range(concurrency)))
        start = time.perf_counter()
        await asyncio.gather(*(worker(True, start + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return Result(name, len(latencies), errors, elapsed, latencies)


async def seed(settings_env: dict[str, str]) -> None:
    """A tenant 'bench-lab' with an admin 'bench.admin' and 24 more users (one argon2 hash, reused)."""
    from hub.api.app import build_state
    from hub.domain import identity
    from hub.domain.permissions import Role
    from hub.settings import HubSettings

    fields = {k.removeprefix("TRACSEQ_HUB_").lower(): v for k, v in settings_env.items()}
    state = build_state(HubSettings(**fields))
    hashed = identity.hash_password(PASSWORD)
    try:
        with mock.patch.object(identity, "hash_password", return_value=hashed):
            async with state.db.transaction() as session:
                tenant = await state.identity.create_tenant(session, "bench-lab", "Bench Lab", actor="bench")
                for number in range(25):
                    await state.identity.create_user(
                        session,
                        tenant_id=tenant.id,
                        username="bench.admin" if number == 0 else f"bench.user{number:02d}",
                        display_name=f"Bench User {number}",
                        password=PASSWORD,
                        role=Role.ADMIN if number == 0 else list(Role)[number % len(Role)],
                        actor="bench",
                    )
    finally:
        await state.db.dispose()


async def pg_admin(statement: str) -> None:
    import asyncpg

    host = os.environ.get("TRACSEQ_TEST_PG_HOST", "127.0.0.1")
    port = int(os.environ.get("TRACSEQ_TEST_PG_PORT", "5432"))
    connection = await asyncpg.connect(host=host, port=port, user="postgres", database="postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per target (max 60)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop a target after this many")
    parser.add_argument("--path", default="/v1/users?limit=20", help="the hub read to drive")
    args = parser.parse_args()
    seconds = min(args.seconds, 60.0)

    from hub.migrations import upgrade

    with tempfile.TemporaryDirectory(prefix="tracseq-bench-") as folder:
        work = Path(folder)
        database = f"tracseq_bench_{uuid.uuid4().hex[:10]}"
        if args.pg:
            host = os.environ.get("TRACSEQ_TEST_PG_HOST", "127.0.0.1")
            port = os.environ.get("TRACSEQ_TEST_PG_PORT", "5432")
            asyncio.run(pg_admin(f'CREATE DATABASE "{database}"'))
            url = f"postgresql+asyncpg://postgres@{host}:{port}/{database}"
        else:
            url = f"sqlite+aiosqlite:///{work / 'hub.db'}"
        env = {
            "TRACSEQ_HUB_ENVIRONMENT": "production",
            "TRACSEQ_HUB_JWT_SECRET": secrets.token_urlsafe(48),
            "TRACSEQ_HUB_DATABASE_URL": url,
            "TRACSEQ_HUB_AUDIT_KEY_FILE": str(work / "audit.key"),
            "TRACSEQ_HUB_RATE_USER_PER_MIN": "100000000",
            "TRACSEQ_HUB_RATE_TENANT_PER_MIN": "100000000",
            "TRACSEQ_HUB_LOG_LEVEL": "WARNING",
        }
        from hub.settings import HubSettings

        if "witness_key_file" in HubSettings.model_fields:
            env["TRACSEQ_HUB_WITNESS_KEY_FILE"] = str(work / "witness.key")
        try:
            upgrade(url)
            asyncio.run(seed(env))
            with served("hub.api.asgi:app", env, ROOT) as base:
                login = {"tenant": "bench-lab", "username": "bench.admin", "password": PASSWORD}
                pair = httpx.post(base + "/v1/auth/login", json=login, timeout=10).json()
                headers = {"Authorization": f"Bearer {pair['access_token']}"}
                check = httpx.get(base + args.path, headers=headers, timeout=10)
                assert check.status_code == 200, check.text
                hub = asyncio.run(
                    drive(
                        f"hub GET {args.path}", base + args.path, headers, seconds, args.concurrency, args.max_requests
                    )
                )
            with served("hub_api:baseline_app", {}, ROOT / "bench") as base:
                bare = asyncio.run(
                    drive("bare FastAPI GET /ping", base + "/ping", {}, seconds, args.concurrency, args.max_requests)
                )
        finally:
            if args.pg:
                asyncio.run(pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    print(
        f"database {'PostgreSQL' if args.pg else 'SQLite'}, {args.concurrency} concurrent clients, {seconds:g} s each"
    )
    print(hub.line())
    print(bare.line())
    print(
        f"ratio hub / bare: throughput {hub.rate / bare.rate:.2f}, "
        f"p50 latency {hub.percentile(0.5) / bare.percentile(0.5):.1f}x, "
        f"p99 latency {hub.percentile(0.99) / bare.percentile(0.99):.1f}x"
    )
    print(f"(the hub's answer to {args.path} is {len(check.content):,} bytes of JSON)")


if __name__ == "__main__":
    main()
