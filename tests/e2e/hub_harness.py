"""The hub as a process for end-to-end tests: a throwaway PostgreSQL database migrated with ``tracseq hub migrate``,
``tracseq hub serve`` on a free loopback port (killed and restarted at will), tenants and admins seeded through the
domain calls the CLI makes, sign-in and enrolment tokens over HTTP, and SQL straight at the database to check what
the hub stored."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

JWT_SECRET = "e2e-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
PASSWORD = "Correct-Horse-Battery-42"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pg_user() -> str:
    return os.environ.get("TRACSEQ_TEST_PG_USER", "postgres")


def pg_dsn(host: str, port: int, database: str) -> str:
    password = os.environ.get("TRACSEQ_TEST_PG_PASSWORD")
    auth = f"{pg_user()}:{password}" if password else pg_user()
    return f"postgresql://{auth}@{host}:{port}/{database}"


def _admin(host: str, port: int, statement: str) -> None:
    async def run() -> None:
        admin_db = os.environ.get("TRACSEQ_TEST_PG_ADMIN_DB", "postgres")
        connection = await asyncpg.connect(pg_dsn(host, port, admin_db))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@dataclass
class Database:
    """A PostgreSQL database of its own, dropped by :meth:`drop`."""

    host: str
    port: int
    name: str

    @classmethod
    def create(cls, host: str, port: int, prefix: str = "tracseq_e2e") -> Database:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        _admin(host, port, f'CREATE DATABASE "{name}"')
        return cls(host, port, name)

    @property
    def dsn(self) -> str:
        return pg_dsn(self.host, self.port, self.name)

    @property
    def url(self) -> str:
        """The SQLAlchemy URL the hub is configured with."""
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)

    def drop(self) -> None:
        _admin(self.host, self.port, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(self.dsn)
            try:
                rows: list[asyncpg.Record] = await connection.fetch(query, *args)
                return rows
            finally:
                await connection.close()

        return asyncio.run(run())

    def value(self, query: str, *args: Any) -> Any:
        rows = self.fetch(query, *args)
        return rows[0][0] if rows else None


def tracseq(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "protocol", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@dataclass
class Hub:
    """``tracseq hub serve`` on PostgreSQL; :meth:`kill` and :meth:`start` again as often as a test likes (same
    port, database and keys)."""

    db: Database
    folder: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "TRACSEQ_HUB_ENVIRONMENT": "test",
            "TRACSEQ_HUB_JWT_SECRET": JWT_SECRET,
            "TRACSEQ_HUB_DATABASE_URL": self.db.url,
            "TRACSEQ_HUB_AUDIT_KEY_FILE": str(self.folder / "audit.key"),
            "TRACSEQ_HUB_WITNESS_KEY_FILE": str(self.folder / "witness.key"),
            "TRACSEQ_HUB_RATE_DEVICE_PER_MIN": "100000",
            "TRACSEQ_HUB_RATE_TENANT_PER_MIN": "100000",
            "TRACSEQ_HUB_RATE_USER_PER_MIN": "100000",
            "TRACSEQ_HUB_LOG_LEVEL": "WARNING",
            **self.extra_env,
        }

    def cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = tracseq("hub", *args, env={**self.env, **(env or {})})
        if done.returncode != 0:
            raise AssertionError(f"tracseq hub {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done.stdout

    def migrate(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cli("migrate")

    def seed(self, tenants: dict[str, str]) -> None:
        """Tenants with one admin each ({slug: username}), through the same domain calls the CLI makes, in this
        process: a CLI start costs seconds on a loaded machine."""
        from hub.api.app import build_state
        from hub.domain.permissions import Role
        from hub.settings import HubSettings

        settings = HubSettings(
            environment="test",
            jwt_secret=JWT_SECRET,
            database_url=self.db.url,
            audit_key_file=self.folder / "audit.key",
            witness_key_file=self.folder / "witness.key",
        )

        async def run() -> None:
            state = build_state(settings)
            try:
                for slug, username in tenants.items():
                    async with state.db.transaction() as session:
                        tenant = await state.identity.create_tenant(session, slug, slug, actor="e2e")
                        await state.identity.create_user(
                            session,
                            tenant_id=tenant.id,
                            username=username,
                            display_name=username,
                            password=PASSWORD,
                            role=Role.ADMIN,
                            actor="e2e",
                        )
            finally:
                await state.db.dispose()

        asyncio.run(run())

    def start(self, timeout: float = 60) -> None:
        assert self.proc is None or self.proc.poll() is not None, "the hub is running already"
        log = (self.folder / f"hub-{self.starts}.log").open("wb")
        self.starts += 1
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "protocol", "hub", "serve", "--port", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the hub exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the hub did not answer /healthz within {timeout} s: {self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log_tail(self, chars: int = 3000) -> str:
        logs = sorted(self.folder.glob("hub-*.log"))
        return logs[-1].read_text(errors="replace")[-chars:] if logs else ""

    def login(self, tenant: str, username: str = "ana", password: str = PASSWORD) -> str:
        response = httpx.post(
            f"{self.url}/v1/auth/login",
            json={"tenant": tenant, "username": username, "password": password},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def enrollment_token(self, access_token: str) -> str:
        response = httpx.post(
            f"{self.url}/v1/devices/enrollment-tokens", headers={"Authorization": f"Bearer {access_token}"}, timeout=30
        )
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    def devices(self, access_token: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/v1/devices", headers={"Authorization": f"Bearer {access_token}"}, timeout=30)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    def events(self, access_token: str, type: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"limit": 1000}
        if type is not None:
            params["type"] = type
        found: list[dict[str, Any]] = []
        after = 0
        for _ in range(1000):
            response = httpx.get(
                f"{self.url}/v1/events",
                params={**params, "after": after},
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["events"])
            if not page["events"]:
                return found
            after = page["next_after"]
        return found


def enroll_device(hub: Hub, access_token: str, name: str, origin: str | None = None) -> dict[str, Any]:
    """Enrol a device over HTTP with a fresh key, as ``tracseq edge enroll`` does; returns the hub's answer plus
    the signing key (``key``)."""
    from protocol import SigningKey

    origin = origin or f"tracseq.test/edge/{name}-{secrets.token_hex(4)}"
    key = SigningKey.generate(origin)
    response = httpx.post(
        f"{hub.url}/v1/sync/enroll",
        json={
            "token": hub.enrollment_token(access_token),
            "name": name,
            "origin": origin,
            "public_key": key.verifier.vkey,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return {**response.json(), "key": key, "origin": origin}


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
