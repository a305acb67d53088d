"""A hub in the test process: settings built per test, the app run with its lifespan behind an in-memory httpx
client, and two seeded tenants with one user for every role.

Seeding goes through ``Identity`` (the same code the CLI and the API use). Every seeded user has the one password
``PASSWORD``, hashed once per process: argon2 costs about 0.3 s a hash here, and the hash is a real argon2 hash of
that password either way.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
from fastapi import FastAPI

from hub.api.app import create_app
from hub.api.state import HubState
from hub.db.base import utcnow
from hub.domain import identity
from hub.domain.permissions import Role
from hub.events.bus import OutboxRelay
from hub.settings import HubSettings

JWT_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"  # 50 characters: no InsecureKeyLengthWarning
PASSWORD = "Correct-Horse-Battery-42"
TENANT_SLUGS = ("alpha-lab", "beta-lab")


def hub_settings(database_url: str, tmp_path: Path, **overrides: Any) -> HubSettings:
    """Settings for one test: every key file (``*_file``: the audit key, the witness key…) in ``tmp_path``."""
    key_files = {
        name: tmp_path / f"{name.removesuffix('_file').removesuffix('_key')}.key"
        for name in HubSettings.model_fields
        if name.endswith("_file")
    }
    values: dict[str, Any] = {
        "environment": "test",
        "jwt_secret": JWT_SECRET,
        "database_url": database_url,
        **key_files,
        **overrides,
    }
    return HubSettings(**values)


@dataclass(frozen=True)
class SeededUser:
    id: str
    username: str
    display_name: str
    role: Role
    tenant_id: str
    tenant_slug: str


@dataclass
class SeededTenant:
    id: str
    slug: str
    name: str
    users: dict[Role, SeededUser] = field(default_factory=dict)

    def identifiers(self) -> set[str]:
        """Strings that belong to this tenant alone: ids, slug, name, user names and printed names."""
        found = {self.id, self.slug, self.name}
        for user in self.users.values():
            found |= {user.id, user.username, user.display_name}
        return found


@dataclass
class RunningHub:
    app: FastAPI
    state: HubState
    client: httpx.AsyncClient

    def token_for(self, user: SeededUser) -> str:
        """An access token with the claims a sign-in issues, without paying for a password check."""
        claims = {"sub": user.id, "tid": user.tenant_id, "role": user.role.value, "name": user.username, "typ": "user"}
        return self.state.identity.access_token(claims, utcnow())

    def auth(self, user: SeededUser) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token_for(user)}"}

    async def published(self) -> None:
        """Wait until the outbox relay has published every committed event (events are readable by position
        only once published)."""
        relay = OutboxRelay(self.state.db, self.state.bus)
        while await relay.run_once():
            pass

    async def login(self, user: SeededUser, password: str = PASSWORD) -> httpx.Response:
        return await self.client.post(
            "/v1/auth/login", json={"tenant": user.tenant_slug, "username": user.username, "password": password}
        )


@contextlib.asynccontextmanager
async def running_hub(settings: HubSettings) -> AsyncIterator[RunningHub]:
    """The app with its lifespan (outbox relay, engine disposal) and a client that talks to it in memory. The
    database must be migrated already (the ``pg_url`` and ``sqlite_url`` fixtures are)."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client,
    ):
        yield RunningHub(app=app, state=app.state.hub, client=client)


_hash_password = identity.hash_password


@functools.cache
def _hash_of_password(password: str) -> str:
    return _hash_password(password)


@contextlib.contextmanager
def _one_hash_per_password() -> Iterator[None]:
    with mock.patch.object(identity, "hash_password", _hash_of_password):
        yield


async def seed(
    state: HubState, slugs: tuple[str, ...] = TENANT_SLUGS, roles: tuple[Role, ...] = tuple(Role)
) -> dict[str, SeededTenant]:
    """Tenants ``slugs`` with a user ``<tenant>.<role>`` (password ``PASSWORD``) for each of ``roles``."""
    tenants: dict[str, SeededTenant] = {}
    with _one_hash_per_password():
        for slug in slugs:
            prefix = slug.split("-")[0]
            async with state.db.transaction() as session:
                row = await state.identity.create_tenant(session, slug, f"{prefix.title()} Genomics", actor="seed")
                tenant = SeededTenant(id=row.id, slug=row.slug, name=row.name)
                for role in roles:
                    username = f"{prefix}.{role.value.replace('_', '-')}"
                    display_name = f"{prefix.title()} {role.value.replace('_', ' ').title()}"
                    user = await state.identity.create_user(
                        session,
                        tenant_id=tenant.id,
                        username=username,
                        display_name=display_name,
                        password=PASSWORD,
                        role=role,
                        actor="seed",
                    )
                    tenant.users[role] = SeededUser(user.id, username, display_name, role, tenant.id, slug)
            tenants[slug] = tenant
    return tenants
