"""Property-based requests from the OpenAPI schema (schemathesis 4): its examples, its coverage cases (boundary
and invalid values of every parameter) and random ones, as an admin and as an auditor, against the app in process.
No answer may be a 5xx.

The run goes through schemathesis' engine (what ``st run`` drives), not its pytest plugin. schemathesis runs the
app and its lifespan on an event loop of its own in a thread; the tenant is seeded before that, through a separate
``HubState`` that is disposed before schemathesis starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from argon2 import PasswordHasher
from schemathesis.engine import Status, events
from schemathesis.python import asgi

from hub.api.app import build_state, create_app
from hub.db.base import utcnow
from hub.domain import identity
from hub.domain.permissions import Role
from hub.settings import HubSettings
from tests.integration.hub.harness import hub_settings, seed

EXAMPLES = 6


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


@pytest.fixture
def hub_config(db_url: str, tmp_path: Path) -> HubSettings:
    return hub_settings(db_url, tmp_path, rate_user_per_min=100_000, rate_tenant_per_min=100_000)


@pytest.fixture
def sign_ins(hub_config: HubSettings) -> dict[Role, dict[str, str]]:
    """An admin and an auditor of one tenant, as the Authorization headers their sign-in would give them."""

    async def run() -> dict[Role, dict[str, str]]:
        state = build_state(hub_config)
        try:
            lab = (await seed(state, slugs=("alpha-lab",), roles=(Role.ADMIN, Role.AUDITOR)))["alpha-lab"]
        finally:
            await state.db.dispose()
        headers = {}
        for role, user in lab.users.items():
            claims = {"sub": user.id, "tid": user.tenant_id, "role": role.value, "name": user.username, "typ": "user"}
            headers[role] = {"Authorization": f"Bearer {state.identity.access_token(claims, utcnow())}"}
        return headers

    return asyncio.run(run())


@pytest.fixture
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its smallest cost: these runs look for server errors, and hundreds of sign-in attempts at 0.3 s
    each would be most of the run. The seeded users' hashes keep the full cost (a hash carries its parameters)."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(identity, "_HASHER", hasher)
    monkeypatch.setattr(identity, "_DUMMY_HASH", hasher.hash("not a password anyone has"))


@pytest.fixture
def hub_schema(hub_config: HubSettings, cheap_passwords: None) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(hub_config)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        asgi.shutdown_lifespans()  # the lifespan disposes the engines before the database is dropped


def describe(event: events.ScenarioFinished) -> list[str]:
    """Each failed check of a scenario with the request that failed it (method, URL and body, shortened)."""
    found = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status != Status.SUCCESS:
                interaction = event.recorder.interactions.get(case_id)
                request = interaction.request if interaction else None
                sent = f"{request.method} {request.uri} {request.body!r:.200}" if request else "(no request)"
                found.append(f"{event.phase} {event.recorder.label}: {check.name} failed on {sent}")
    return found or [f"{event.phase} {event.recorder.label}: {event.status}"]


# PostgreSQL for both roles (it refuses more input than SQLite: NUL characters, over-long text), SQLite for the
# admin, who reaches every handler; three runs keep the file under a minute.
@pytest.mark.parametrize(
    ("db_url", "role"),
    [("postgresql", Role.ADMIN), ("postgresql", Role.AUDITOR), ("sqlite", Role.ADMIN)],
    indirect=["db_url"],
    ids=["postgresql-admin", "postgresql-auditor", "sqlite-admin"],
)
def test_no_request_gets_a_server_error(
    hub_schema: schemathesis.BaseSchema, sign_ins: dict[Role, dict[str, str]], role: Role
) -> None:
    config = hub_schema.config
    config.update(headers=sign_ins[role], workers=1)
    config.phases.update(phases=["examples", "coverage", "fuzzing"])
    config.checks.update(included_check_names=["not_a_server_error"])
    config.generation.update(max_examples=EXAMPLES, deterministic=True)

    failures, scenarios, finished = [], 0, None
    for event in schemathesis.engine.from_schema(hub_schema).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios += 1
            if event.status in (Status.FAILURE, Status.ERROR):
                failures.extend(describe(event))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"{type(event).__name__}: {getattr(event, 'value', None) or event}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None
    for failure in finished.failures:
        failures.append(str(failure))
    assert scenarios >= 40
    assert not failures, "\n".join(failures)
