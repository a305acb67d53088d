"""The tenant and role sweep: every route of the OpenAPI schema, called by every principal that must be refused.

Each route's permission is read from its dependency tree (``hub.api.deps.require`` names its checks
``require_<permission>``). A route that is neither public nor guarded by a permission fails the sweep, and so does a
path parameter the sweep has no seeded id for: a new route is swept the day it is added, or the sweep says what it
needs. Per route and database:

1. tenant A's admin (or device) calls it with tenant A's ids: it must get through (not 401/403/404, never 5xx);
2. nobody signed in: 401;
3. every principal of tenant A without the permission (each role, the device): 403, and only a problem document;
4. every principal of tenant B with the permission, on tenant A's ids: 403 or 404, or 200 with an empty list; a
   request without A's ids may succeed on B's own data; either way no identifier of tenant A in the answer;
5. tenant A's data reads the same before phases 2-4 and after them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from hub.api.app import create_app
from hub.domain.identity import Principal
from hub.domain.permissions import Permission, Role
from protocol import SigningKey
from tests.integration.hub.harness import PASSWORD, RunningHub, SeededTenant, hub_settings, running_hub, seed
from tests.integration.hub.sweep_seeds import all_seeds

pytestmark = pytest.mark.anyio

# Routes anyone may call. Each is authenticated by what it is sent (a password, a refresh or enrolment token) or
# serves no tenant data. Adding to this set is a security decision: say why next to the entry.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/v1/auth/login"),  # a password
    ("POST", "/v1/auth/refresh"),  # a refresh token
    ("POST", "/v1/auth/logout"),  # a refresh token
    ("POST", "/v1/sync/enroll"),  # a one-time enrolment token
}
# Routes for any signed-in principal, about the caller alone.
SIGNED_IN = {("GET", "/v1/me")}
# Framework routes outside the schema.
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

# A positive answer for a request that reached the handler but was refused on its content (a raw sync batch).
REACHED_THE_HANDLER = {400, 409, 422}


@dataclass(frozen=True)
class Actor:
    label: str
    principal: Principal
    headers: dict[str, str]


@dataclass
class World:
    hub: RunningHub
    a: SeededTenant
    b: SeededTenant
    actors: dict[str, list[Actor]]  # by tenant slug: each role's user, then the device
    path_ids: dict[str, str]  # tenant A's ids, by path parameter name
    a_identifiers: set[str] = field(default_factory=set)


# -- what to send -----------------------------------------------------------------------------------------------

Maker = Callable[[World], dict[str, Any]]

QUERIES: dict[tuple[str, str], Maker] = {
    ("GET", "/v1/esignatures"): lambda w: {"record_type": "user", "record_id": w.path_ids["user_id"]},
    ("GET", "/v1/audit/entries"): lambda w: {"record_type": "user", "record_id": w.path_ids["user_id"]},
}
BODIES: dict[tuple[str, str], Maker] = {
    ("POST", "/v1/users"): lambda w: {
        "username": "sweep.person",
        "display_name": "Sweep Person",
        "password": PASSWORD,
        "role": "scientist",
    },
    ("PATCH", "/v1/users/{user_id}"): lambda w: {"reason": "tenant sweep", "display_name": "Swept Name"},
    ("POST", "/v1/esignatures"): lambda w: {
        "record_type": "user",
        "record_id": w.path_ids["user_id"],
        "record_content": "the user record as shown",
        "meaning": "review",
        "password": PASSWORD,
    },
    ("POST", "/v1/devices/{device_id}/commands"): lambda w: {"type": "set_limit", "args": {"max": "-70"}},
}


@dataclass(frozen=True)
class Call:
    method: str
    template: str
    url: str
    params: dict[str, Any]
    body: Any

    def carries(self, identifiers: set[str]) -> set[str]:
        sent = self.url + json.dumps(self.params) + json.dumps(self.body)
        return {i for i in identifiers if i in sent}

    async def send(self, client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        kwargs: dict[str, Any] = {"params": self.params, "headers": headers}
        if self.body is not None:
            kwargs["json"] = self.body
        return await client.request(self.method, self.url, **kwargs)


class SweepError(AssertionError):
    pass


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


_CANDIDATES = ("a", "sweep", "sweep_value", "Sweep-1", "0")


def example(schema: dict[str, Any], spec: dict[str, Any], where: str) -> Any:
    """The smallest valid value for ``schema``: required properties only, the first enum member, the minimum."""
    schema = _resolve(schema, spec)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, spec).get("type") != "null"]
            return example(options[0], spec, where)
    if "allOf" in schema:
        return example(schema["allOf"][0], spec, where)
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", ()))
        properties = schema.get("properties", {})
        return {k: example(v, spec, f"{where}.{k}") for k, v in properties.items() if k in required}
    if kind == "array":
        return [example(schema["items"], spec, where) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 0), schema.get("exclusiveMinimum", -1) + 1)
    if kind == "boolean":
        return False
    if kind == "string":
        size = max(schema.get("minLength", 1), 1)
        pattern = schema.get("pattern")
        for candidate in (c * (size // len(c) + 1) for c in _CANDIDATES):
            if pattern is None or re.search(pattern, candidate):
                return candidate[: schema.get("maxLength", len(candidate))] if pattern is None else candidate
        raise SweepError(f"{where}: no example matches {pattern!r}; add the route to QUERIES or BODIES")
    raise SweepError(f"{where}: cannot make an example of {schema}; add the route to QUERIES or BODIES")


def make_call(world: World, method: str, template: str, operation: dict[str, Any], spec: dict[str, Any]) -> Call:
    url, params = template, {}
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "path":
            if name not in world.path_ids:
                raise SweepError(
                    f"{method} {template}: no tenant-A id for path parameter {name!r}; seed one in seed_world()"
                )
            url = url.replace("{" + name + "}", world.path_ids[name])
        elif (
            where == "query"
            and parameter.get("required")
            and not any((method, template) in q for q in [QUERIES, *(m.queries for m in all_seeds())])
        ):
            params[name] = example(parameter["schema"], spec, f"{method} {template} ?{name}")
    queries, bodies = dict(QUERIES), dict(BODIES)
    for module in all_seeds():
        queries.update(module.queries)
        bodies.update(module.bodies)
    params.update(queries.get((method, template), lambda w: {})(world))
    body = None
    content = operation.get("requestBody", {}).get("content", {})
    if (method, template) in bodies:
        body = bodies[(method, template)](world)
    elif "application/json" in content:
        body = example(content["application/json"]["schema"], spec, f"{method} {template} body")
    elif content:
        raise SweepError(f"{method} {template}: sends {sorted(content)}; add it to BODIES")
    return Call(method, template, url, params, body)


# -- what each route needs --------------------------------------------------------------------------------------


def route_contexts(app: FastAPI) -> list[Any]:
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included routers were kept as objects: app.routes holds every route
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def dependency_names(route: Any) -> set[str]:
    names, stack = set(), [route.dependant]
    while stack:
        dependant = stack.pop()
        names.add(getattr(dependant.call, "__name__", ""))
        stack.extend(dependant.dependencies)
    return names


@dataclass(frozen=True)
class Guard:
    permissions: frozenset[Permission]
    signed_in: bool


def guards(app: FastAPI) -> dict[tuple[str, str], Guard]:
    """(method, path) → what the route's dependencies demand, for every route in the OpenAPI schema."""
    found: dict[tuple[str, str], Guard] = {}
    stray = []
    for route in route_contexts(app):
        if getattr(route, "dependant", None) is None:
            if route.path == "/ui":  # the web pages (hub.web): tests/integration/hub/test_web_pages.py sweeps them
                continue
            if route.path not in DOCS:
                stray.append(f"{route.path}: not an API route; the sweep cannot see its dependencies")
            continue
        names = dependency_names(route)
        permissions = frozenset(
            Permission[name.removeprefix("require_").upper()] for name in names if name.startswith("require_")
        )
        for method in route.methods:
            if not route.include_in_schema:
                stray.append(f"{method} {route.path}: hidden from the OpenAPI schema")
            found[(method, route.path)] = Guard(permissions, "current_principal" in names)
    assert not stray, "\n".join(stray)
    return found


# -- the world --------------------------------------------------------------------------------------------------


async def enrol_device(hub: RunningHub, tenant: SeededTenant) -> tuple[str, str]:
    """A device of ``tenant`` as ``tracseq edge enroll`` makes one: (device id, device credential)."""
    admin = Principal("user", tenant.users[Role.ADMIN].id, tenant.id, tenant.users[Role.ADMIN].username, Role.ADMIN)
    origin = f"tracseq.local/edge/{tenant.slug}-gw"
    async with hub.state.db.transaction() as session:
        token, _ = await hub.state.devices.create_enrollment_token(session, admin)
        device, credential = await hub.state.devices.enroll(
            session,
            token=token,
            name=f"{tenant.slug}-gw",
            origin=origin,
            public_key=SigningKey.generate(origin).verifier.vkey,
        )
    return device.id, credential


async def seed_world(hub: RunningHub) -> World:
    tenants = await seed(hub.state)
    a, b = tenants["alpha-lab"], tenants["beta-lab"]
    actors: dict[str, list[Actor]] = {}
    devices: dict[str, str] = {}
    for tenant in (a, b):
        people = [
            Actor(f"{tenant.slug} {role}", Principal("user", u.id, tenant.id, u.username, role), hub.auth(u))
            for role, u in tenant.users.items()
        ]
        device_id, credential = await enrol_device(hub, tenant)
        device = Actor(
            f"{tenant.slug} device",
            Principal("device", device_id, tenant.id, f"{tenant.slug}-gw"),
            {"Authorization": f"Bearer {credential}"},
        )
        devices[tenant.slug] = device_id
        actors[tenant.slug] = [*people, device]
    world = World(
        hub,
        a,
        b,
        actors,
        path_ids={"user_id": a.users[Role.TECHNICIAN].id, "device_id": devices[a.slug]},
    )
    world.a_identifiers = a.identifiers() | {devices[a.slug], f"{a.slug}-gw"}
    for module in all_seeds():
        ids = await module.seed(hub, a, devices[a.slug])
        clash = set(ids) & set(world.path_ids)
        assert not clash, f"sweep_seeds.{module.name} seeds {sorted(clash)} again"
        world.path_ids.update(ids)
        world.a_identifiers |= set(ids.values())
    return world


# -- the sweep --------------------------------------------------------------------------------------------------


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    # the alert engine and the saga runner would go on working (webhooks, started workflows) while the sweep
    # compares reads before and after
    async with running_hub(hub_settings(db_url, tmp_path, alerts_in_process=False, sagas_in_process=False)) as running:
        yield running


def is_empty(body: Any) -> bool:
    if isinstance(body, list):
        return not body
    return isinstance(body, dict) and all(not v for v in body.values() if isinstance(v, list))


_EXPORT_MADE_AT = re.compile(r'"created":"[^"]*"')


def parsed(response: httpx.Response) -> Any:
    """The answer as data; an export's header names the time it was made, which is not tenant data."""
    try:
        return response.json()
    except ValueError:
        return _EXPORT_MADE_AT.sub('"created":"…"', response.text, count=1)


def test_every_route_is_public_or_needs_a_permission(tmp_path: Path) -> None:
    app = create_app(hub_settings(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", tmp_path))
    schema_routes = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    found = guards(app)
    assert schema_routes == set(found), "routes outside the OpenAPI schema"
    assert schema_routes >= PUBLIC | SIGNED_IN, "the allow-lists name routes that are gone"
    unguarded = [
        f"{m} {p}"
        for (m, p), guard in sorted(found.items())
        if (m, p) not in PUBLIC | SIGNED_IN and not guard.permissions
    ]
    assert not unguarded, f"routes with no require_<permission> dependency and not on the public list: {unguarded}"
    assert all(found[r].signed_in for r in SIGNED_IN)
    assert not any(found[r].signed_in or found[r].permissions for r in PUBLIC)


async def test_every_route_refuses_other_tenants_and_roles_without_its_permission(hub: RunningHub) -> None:
    world = await seed_world(hub)
    spec = hub.app.openapi()
    found = guards(hub.app)
    failures: list[str] = []
    calls: list[tuple[Call, Guard]] = []
    for template, operations in spec["paths"].items():
        for method, operation in operations.items():
            key = (method.upper(), template)
            if key in PUBLIC:
                continue
            if not found[key].permissions and key not in SIGNED_IN:
                failures.append(f"{key[0]} {template}: neither public nor guarded by a require_<permission>")
            calls.append((make_call(world, key[0], template, operation, spec), found[key]))
    assert len(calls) >= 17

    def who_may(tenant: SeededTenant, guard: Guard) -> list[Actor]:
        return [a for a in world.actors[tenant.slug] if all(a.principal.can(p) for p in guard.permissions)]

    def check(ok: bool, call: Call, actor: str, response: httpx.Response, expected: str) -> None:
        if not ok:
            failures.append(
                f"{call.method} {call.template} as {actor}: expected {expected}, got {response.status_code} "
                f"{response.text[:300]}"
            )

    # 1. the requests are right: tenant A's own principals get through
    reads: list[tuple[Call, Actor]] = []
    for call, guard in calls:
        allowed = who_may(world.a, guard)
        if not allowed:
            failures.append(f"{call.method} {call.template}: no principal of a tenant holds {set(guard.permissions)}")
            continue
        response = await call.send(hub.client, allowed[0].headers)
        reached = response.is_success or response.status_code in REACHED_THE_HANDLER
        check(reached, call, allowed[0].label, response, "2xx (or refused on content)")
        if call.method == "GET":
            reads.append((call, allowed[0]))

    async def snapshot() -> list[Any]:
        await hub.published()  # step 1's changes have events; read them once they are all published
        return [parsed(await call.send(hub.client, actor.headers)) for call, actor in reads]

    before = await snapshot()

    # 2. nobody signed in
    for call, _guard in calls:
        response = await call.send(hub.client, {})
        check(response.status_code == 401, call, "nobody", response, "401")

    # 3. each principal of tenant A without the permission
    for call, guard in calls:
        for actor in world.actors[world.a.slug]:
            if all(actor.principal.can(p) for p in guard.permissions):
                continue
            response = await call.send(hub.client, actor.headers)
            refused = response.status_code == 403 and response.headers["content-type"] == "application/problem+json"
            check(refused, call, actor.label, response, "a 403 problem")

    # 4. tenant B's principals that hold the permission, on tenant A's ids
    for call, guard in calls:
        carried = call.carries(world.a_identifiers)
        for actor in who_may(world.b, guard) or world.actors[world.b.slug][:1]:
            response = await call.send(hub.client, actor.headers)
            leaked = {i for i in world.a_identifiers - carried if i in response.text}
            if leaked:
                failures.append(f"{call.method} {call.template} as {actor.label}: tenant A's {sorted(leaked)} leaked")
            if carried:
                empty = response.status_code == 200 and is_empty(parsed(response))
                check(response.status_code in (403, 404) or empty, call, actor.label, response, "403/404/empty")
            else:
                check(response.status_code < 500, call, actor.label, response, "no server error")

    # 5. tenant A's data is as it was
    after = await snapshot()
    for (call, _actor), old, new in zip(reads, before, after, strict=True):
        if old != new:
            failures.append(f"{call.method} {call.template}: tenant A's answer changed during the sweep")

    assert not failures, "\n".join(failures)
