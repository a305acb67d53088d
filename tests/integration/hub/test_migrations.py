"""The migrations build exactly the schema the models describe, on both databases: a model changed without a
migration (or a migration edited by hand that drifts from its model) fails here, not in production."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from hub.db import load_models
from hub.db.base import Base, make_engine


def _differences(connection: Connection) -> list[Any]:
    load_models()
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migrated_schema_matches_the_models(database: str, request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue("sqlite_url" if database == "sqlite" else "pg_url")

    async def compare() -> list[Any]:
        engine = make_engine(url, write=False)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_differences)
        finally:
            await engine.dispose()

    differences = asyncio.run(compare())
    assert differences == [], f"models and migrations differ: {differences}"
