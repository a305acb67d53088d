"""Property-based requests from the OpenAPI schema (schemathesis 4): its examples, its coverage cases (boundary
and invalid values of every parameter) and random ones, as every role and as an edge device of tenant A, against
the app in process. No answer may be a 5xx, and no answer may carry an identifier of tenant B (its id, slug, name,
user names, device, and the ids of every record the tenant sweep seeds for it).

The run goes through schemathesis' engine (what ``st run`` drives), not its pytest plugin. schemathesis runs the
app and its lifespan on an event loop of its own in a thread; both tenants are seeded before that, through a hub of
their own (``running_hub``) that is shut down before schemathesis starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from argon2 import PasswordHasher
from schemathesis.engine import Status, events
from schemathesis.python import asgi

from hub.api.app import create_app
from hub.domain import identity
from hub.domain.permissions import Role
from hub.settings import HubSettings
from tests.integration.hub.harness import hub_settings, running_hub, seed
from tests.integration.hub.sweep_seeds import all_seeds
from tests.integration.hub.test_tenant_role_sweep import enrol_device

DEVICE = "device"
Principal = Role | str  # a role of tenant A's users, or DEVICE: tenant A's edge device
ADMIN_EXAMPLES = 6
# Every other principal: its schema examples and random requests (no coverage phase: its boundary and invalid
# values of every parameter are the admin's run over again, mostly refused with a 403 before any handler runs),
# all on one seeded hub, the admin's run is separate since it changes the most.
OTHERS: tuple[Principal, ...] = (DEVICE, *(role for role in Role if role is not Role.ADMIN))
OTHER_EXAMPLES = 3
# Server errors found (once tenant data was seeded, so that PATCH reaches a record) and reported to hub/alerts'
# owners, not yet fixed: operation label -> the bug. Only the 5xx check is waived for them (the leak check still
# runs); remove an entry with its fix.
KNOWN_SERVER_ERRORS: dict[str, str] = {}  # route → why it may answer 500 until fixed; keep it empty


@dataclass(frozen=True)
class Tenants:
    headers: dict[Principal, dict[str, str]]  # tenant A's principals: the Authorization header each would send
    b_identifiers: frozenset[str]  # strings that belong to tenant B alone


@pytest.fixture
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    return url


@pytest.fixture
def hub_config(db_url: str, tmp_path: Path) -> HubSettings:
    return hub_settings(db_url, tmp_path, rate_user_per_min=100_000, rate_tenant_per_min=100_000)


@pytest.fixture
def tenants(hub_config: HubSettings) -> Tenants:
    """Tenants A and B, each with a user of every role, an enrolled device and the records the tenant sweep seeds
    (samples, storage, runs, alerts, sagas…), so that a leak has something to leak."""

    async def run() -> Tenants:
        async with running_hub(hub_config) as hub:
            seeded = await seed(hub.state)
            a, b = seeded["alpha-lab"], seeded["beta-lab"]
            headers: dict[Principal, dict[str, str]] = {role: hub.auth(user) for role, user in a.users.items()}
            b_identifiers = b.identifiers()
            for tenant in (a, b):
                device_id, credential = await enrol_device(hub, tenant)
                for module in all_seeds():
                    ids = await module.seed(hub, tenant, device_id)
                    if tenant is b:
                        b_identifiers |= {device_id, f"{b.slug}-gw", *ids.values()}
                if tenant is a:
                    headers[DEVICE] = {"Authorization": f"Bearer {credential}"}
            await hub.published()
        return Tenants(headers, frozenset(b_identifiers))

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


def leaks(event: events.ScenarioFinished, identifiers: frozenset[str]) -> list[str]:
    """Every answer in the scenario that carries one of ``identifiers`` (headers or body), with its request."""
    found = []
    for interaction in event.recorder.interactions.values():
        response = interaction.response
        if response is None:
            continue
        answer = response.content.decode("utf-8", "replace") + repr(sorted(response.headers.items()))
        carried = sorted(i for i in identifiers if i in answer)
        if carried:
            request = interaction.request
            found.append(
                f"{event.phase} {event.recorder.label}: {request.method} {request.uri} answered "
                f"{response.status_code} with tenant B's {carried}: {answer[:300]!r}"
            )
    return found


def run(
    schema: schemathesis.BaseSchema, tenants: Tenants, principal: Principal, examples: int, phases: list[str]
) -> tuple[list[str], int]:
    """One schemathesis run as ``principal``: (server errors and leaks found, scenarios run)."""
    config = schema.config
    config.update(headers=tenants.headers[principal], workers=1)
    config.phases.update(phases=phases)
    config.checks.update(included_check_names=["not_a_server_error"])
    config.generation.update(max_examples=examples, deterministic=True)

    failures, scenarios, finished = [], 0, None
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios += 1
            if event.status in (Status.FAILURE, Status.ERROR) and event.recorder.label not in KNOWN_SERVER_ERRORS:
                failures.extend(describe(event))
            failures.extend(leaks(event, tenants.b_identifiers))
        elif isinstance(event, events.NonFatalError) and event.label in KNOWN_SERVER_ERRORS:
            continue  # the handler raised through the ASGI transport: the same known server error
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"{type(event).__name__}: {getattr(event, 'value', None) or event}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None
    failures.extend(str(failure) for failure in finished.failures)
    return [f"as {principal}: {failure}" for failure in failures], scenarios


# The admin reaches every handler: on PostgreSQL (it refuses more input than SQLite: NUL characters, over-long
# text) with the coverage phase, and on SQLite with examples and fuzzing (the coverage phase's boundary values are
# the same requests on both; running them twice cost minutes of the suite).
@pytest.mark.parametrize("db_url", ["postgresql", "sqlite"], indirect=True)
def test_no_request_as_the_admin_gets_a_server_error_or_another_tenants_data(
    hub_schema: schemathesis.BaseSchema, tenants: Tenants, db_url: str
) -> None:
    phases = ["examples", "coverage", "fuzzing"] if db_url.startswith("postgresql") else ["examples", "fuzzing"]
    failures, scenarios = run(hub_schema, tenants, Role.ADMIN, ADMIN_EXAMPLES, phases)
    assert scenarios >= 40
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_request_as_any_other_role_or_the_device_gets_a_server_error_or_another_tenants_data(
    hub_schema: schemathesis.BaseSchema, tenants: Tenants
) -> None:
    assert len(tenants.b_identifiers) > 20  # the leak check has tenant B's records to look for, not only its name
    failures: list[str] = []
    for principal in OTHERS:
        found, scenarios = run(hub_schema, tenants, principal, OTHER_EXAMPLES, ["examples", "fuzzing"])
        assert scenarios >= 40, f"as {principal}: only {scenarios} scenarios"
        failures.extend(found)
    assert not failures, "\n".join(failures)
