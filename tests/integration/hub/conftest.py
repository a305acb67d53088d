"""Hub integration plumbing: an empty, migrated database per test (a SQLite file, or PostgreSQL) and Redis.

PostgreSQL: each pytest session creates its own ``tracseq_test_<random>`` database (so parallel runs never share
one), migrates it once, empties it before each test, and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from hub.migrations import upgrade

ServiceLookup = Callable[[str], tuple[str, int]]


def _pg_admin_dsn(host: str, port: int) -> dict[str, object]:
    return {
        "host": host,
        "port": port,
        "user": os.environ.get("TRACSEQ_TEST_PG_USER", "postgres"),
        "password": os.environ.get("TRACSEQ_TEST_PG_PASSWORD") or None,
        "database": os.environ.get("TRACSEQ_TEST_PG_ADMIN_DB", "postgres"),
    }


def _pg_url(host: str, port: int, database: str) -> str:
    user = os.environ.get("TRACSEQ_TEST_PG_USER", "postgres")
    password = os.environ.get("TRACSEQ_TEST_PG_PASSWORD")
    auth = f"{user}:{password}" if password else user
    return f"postgresql+asyncpg://{auth}@{host}:{port}/{database}"


def _pg_admin(host: str, port: int, *statements: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(**_pg_admin_dsn(host, port))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def _pg_database(require_service: ServiceLookup) -> Iterator[tuple[str, int, str, frozenset[str]]]:
    """One migrated database per test session; ``pg_url`` empties it before each test."""
    host, port = require_service("postgresql")
    name = f"tracseq_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(host, port, f'CREATE DATABASE "{name}"')
    try:
        upgrade(_pg_url(host, port, name))
        yield host, port, name, frozenset(asyncio.run(_pg_tables(host, port, name)))
    finally:
        _pg_admin(host, port, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _pg_tables(host: str, port: int, name: str) -> list[str]:
    connection = await asyncpg.connect(**{**_pg_admin_dsn(host, port), "database": name})
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return [row["tablename"] for row in rows]
    finally:
        await connection.close()


async def _pg_reset(host: str, port: int, name: str, migrated: frozenset[str]) -> None:
    """Back to the freshly migrated state: tables a test created are dropped, the schema's tables emptied and
    their sequences restarted. Connections a previous test leaked are ended first if they hold locks."""
    connection = await asyncpg.connect(**{**_pg_admin_dsn(host, port), "database": name})
    try:
        await connection.execute("SET lock_timeout = '2s'")
        for attempt in (1, 2):
            try:
                async with connection.transaction():
                    tables = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    extra = [row["tablename"] for row in tables if row["tablename"] not in migrated]
                    for table in extra:
                        await connection.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
                    emptied = ", ".join(f'"{t}"' for t in sorted(migrated - {"alembic_version"}))
                    await connection.execute(f"TRUNCATE {emptied} RESTART IDENTITY CASCADE")
                return
            except asyncpg.LockNotAvailableError:
                if attempt == 2:
                    raise
                await connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
    finally:
        await connection.close()


@pytest.fixture
def pg_url(_pg_database: tuple[str, int, str, frozenset[str]]) -> str:
    """An empty, migrated PostgreSQL database for this test (``postgresql+asyncpg://…``).

    One database per session (``tracseq_test_<random>``, dropped at the end), emptied before every test: dropping
    and creating a database per test costs a checkpoint each, seconds on a busy machine."""
    host, port, name, migrated = _pg_database
    asyncio.run(_pg_reset(host, port, name, migrated))
    return _pg_url(host, port, name)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated per session; each test gets a copy (migrating costs about a second a test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "hub.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """A fresh, migrated SQLite database file in ``tmp_path`` (``sqlite+aiosqlite:///…``)."""
    path = tmp_path / "hub.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def redis_url(require_service: ServiceLookup) -> str:
    host, port = require_service("redis")
    return f"redis://{host}:{port}/0"


@pytest.fixture
def stream_name(redis_url: str) -> Iterator[str]:
    """A stream name no other test uses; the stream and its dead-letter stream are deleted afterwards."""
    name = f"tracseq:test:{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(name, f"{name}:dead")
    finally:
        client.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """The hub's database URL, once on SQLite and once on PostgreSQL: a test that takes it runs on both."""
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url
