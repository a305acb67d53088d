"""Errors as RFC 9457 problems with the request id, body size limits, rate limits per user, device and tenant,
request ids, health, readiness and metrics. SQLite, as none of this depends on the database, except for input the
database itself refuses (run on both)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.db.base import utcnow
from hub.domain.permissions import Role
from hub.ratelimit import InProcessRateLimiter
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed

pytestmark = pytest.mark.anyio

BODY_LIMIT = 256
NOW = 1_800_000_000.0 + 17.5  # 42.5 s before the end of a rate-limit window


@pytest.fixture
async def hub(sqlite_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = hub_settings(
        sqlite_url,
        tmp_path,
        max_body_bytes=BODY_LIMIT,
        rate_user_per_min=5,
        rate_device_per_min=3,
        rate_tenant_per_min=8,
    )
    async with running_hub(settings) as running:
        running.state.limiter = InProcessRateLimiter(clock=lambda: NOW)  # one window for the whole test
        yield running


@pytest.fixture
async def lab(hub: RunningHub) -> SeededTenant:
    return (await seed(hub.state, slugs=("alpha-lab",), roles=(Role.ADMIN, Role.TECHNICIAN, Role.SCIENTIST)))[
        "alpha-lab"
    ]


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance", "request_id"} <= body.keys()
    assert body["status"] == status
    assert body["type"].startswith("https://tracseq.example/problems/")
    assert body["request_id"] == response.headers["x-request-id"]
    return body


# -- problems ---------------------------------------------------------------------------------------------------


async def test_an_unknown_route_is_a_404_problem_with_the_request_id(hub: RunningHub) -> None:
    body = problem_of(await hub.client.get("/v1/no-such-thing"), 404)
    assert body["instance"] == "/v1/no-such-thing"


async def test_a_wrong_method_is_a_405_problem(hub: RunningHub) -> None:
    problem_of(await hub.client.delete("/v1/auth/login"), 405)


async def test_no_token_is_a_401_problem_asking_for_a_bearer_token(hub: RunningHub) -> None:
    response = await hub.client.get("/v1/users")
    problem_of(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    problem_of(await hub.client.get("/v1/users", headers={"Authorization": "Bearer not.a.jwt"}), 401)


async def test_malformed_json_is_a_422_problem(hub: RunningHub) -> None:
    response = await hub.client.post(
        "/v1/auth/login", content=b'{"tenant": "alpha-lab", "username":', headers={"content-type": "application/json"}
    )
    body = problem_of(response, 422)
    assert body["errors"][0]["type"] == "json_invalid"


async def test_a_body_that_breaks_the_schema_is_a_422_problem_naming_the_field(hub: RunningHub) -> None:
    response = await hub.client.post("/v1/auth/login", json={"tenant": "alpha-lab", "username": "x", "pasword": "y"})
    fields = {e["field"] for e in problem_of(response, 422)["errors"]}
    assert {"body.password", "body.pasword"} <= fields


def oversized_login() -> bytes:
    return b'{"tenant": "alpha-lab", "username": "alpha.admin", "password": "' + b"x" * BODY_LIMIT + b'"}'


async def test_a_body_over_the_limit_by_content_length_is_a_413_problem(hub: RunningHub) -> None:
    response = await hub.client.post(
        "/v1/auth/login", content=oversized_login(), headers={"content-type": "application/json"}
    )
    assert response.request.headers["content-length"] == str(len(oversized_login()))
    assert problem_of(response, 413)["title"] == "Payload too large"


async def test_a_chunked_body_over_the_limit_is_a_413_problem(hub: RunningHub) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = oversized_login()
        for start in range(0, len(body), 64):
            yield body[start : start + 64]

    response = await hub.client.post("/v1/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert problem_of(response, 413)["title"] == "Payload too large"


async def test_a_file_upload_may_pass_the_json_limit_up_to_the_upload_limit(hub: RunningHub, lab: SeededTenant) -> None:
    headers = {**hub.auth(lab.users[Role.TECHNICIAN]), "content-type": "text/csv"}
    sheet = b"name,volume\n" + b"plasma,1\n" * (BODY_LIMIT // 8)
    assert len(sheet) > BODY_LIMIT
    url = "/v1/intake/templates/00000000-0000-0000-0000-000000000000/uploads"
    answer = await hub.client.post(url, content=sheet, headers=headers)
    assert problem_of(answer, 404)["detail"]  # past the body limit: the template does not exist
    huge = b"x" * (hub.state.settings.max_upload_bytes + 1)
    assert problem_of(await hub.client.post(url, content=huge, headers=headers), 413)["title"] == "Payload too large"
    too_big_json = await hub.client.post("/v1/samples", content=sheet, headers=headers)
    assert problem_of(too_big_json, 413)["detail"] == f"the body is larger than {BODY_LIMIT} bytes"


async def test_a_chunked_body_under_the_limit_is_read(hub: RunningHub, lab: SeededTenant) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"tenant": "alpha-lab", "username": "alpha.admin",'
        yield b' "password": "wrong-password"}'

    response = await hub.client.post("/v1/auth/login", content=chunks(), headers={"content-type": "application/json"})
    problem_of(response, 401)


# -- rate limits ------------------------------------------------------------------------------------------------


def device_token(hub: RunningHub, tenant: SeededTenant) -> dict[str, str]:
    claims = {"sub": "device-1", "tid": tenant.id, "name": "freezer-gw-1", "typ": "device"}
    return {"Authorization": f"Bearer {hub.state.identity.access_token(claims, utcnow())}"}


def limited(response: httpx.Response, scope: str) -> None:
    body = problem_of(response, 429)
    assert f"rate limit for {scope}" in body["detail"]
    assert response.headers["retry-after"] == "43"  # seconds to the end of the window
    assert body["retry_after"] == 43


async def test_the_sixth_request_of_a_user_in_a_minute_is_a_429_with_retry_after(
    hub: RunningHub, lab: SeededTenant
) -> None:
    headers = hub.auth(lab.users[Role.TECHNICIAN])
    for _ in range(5):
        assert (await hub.client.get("/v1/tenant", headers=headers)).status_code == 200
    limited(await hub.client.get("/v1/tenant", headers=headers), "user")
    other_user = hub.auth(lab.users[Role.SCIENTIST])
    assert (await hub.client.get("/v1/tenant", headers=other_user)).status_code == 200


async def test_a_device_has_its_own_limit(hub: RunningHub, lab: SeededTenant) -> None:
    headers = device_token(hub, lab)
    for _ in range(3):
        assert (await hub.client.get("/v1/me", headers=headers)).status_code == 200
    limited(await hub.client.get("/v1/me", headers=headers), "device")


async def test_the_tenant_limit_counts_every_principal_of_the_tenant(hub: RunningHub, lab: SeededTenant) -> None:
    users = [hub.auth(lab.users[role]) for role in (Role.ADMIN, Role.TECHNICIAN, Role.SCIENTIST)]
    for headers in users:
        for _ in range(2):
            assert (await hub.client.get("/v1/me", headers=headers)).status_code == 200
    for _ in range(2):
        assert (await hub.client.get("/v1/me", headers=device_token(hub, lab))).status_code == 200
    limited(await hub.client.get("/v1/me", headers=users[0]), "tenant")
    other_lab = (await seed(hub.state, slugs=("beta-lab",), roles=(Role.ADMIN,)))["beta-lab"]
    assert (await hub.client.get("/v1/me", headers=hub.auth(other_lab.users[Role.ADMIN]))).status_code == 200


async def test_the_limit_resets_with_the_next_window(hub: RunningHub, lab: SeededTenant) -> None:
    clock = [NOW]
    hub.state.limiter = InProcessRateLimiter(clock=lambda: clock[0])
    headers = hub.auth(lab.users[Role.TECHNICIAN])
    for _ in range(5):
        await hub.client.get("/v1/tenant", headers=headers)
    problem_of(await hub.client.get("/v1/tenant", headers=headers), 429)
    clock[0] += 43
    assert (await hub.client.get("/v1/tenant", headers=headers)).status_code == 200


# -- request ids, health and metrics ----------------------------------------------------------------------------


async def test_a_sane_incoming_request_id_is_echoed_and_others_are_replaced(hub: RunningHub) -> None:
    for sent in ("abc-123", "x" * 64):
        response = await hub.client.get("/healthz", headers={"X-Request-ID": sent})
        assert response.headers["x-request-id"] == sent
    problem = problem_of(await hub.client.get("/nope", headers={"X-Request-ID": "abc-123"}), 404)
    assert problem["request_id"] == "abc-123"
    for bad in ("x" * 65, "tab\there"):
        replaced = (await hub.client.get("/healthz", headers={"X-Request-ID": bad})).headers["x-request-id"]
        assert replaced != bad
        assert len(replaced) == 32


async def test_every_response_has_a_request_id(hub: RunningHub, lab: SeededTenant) -> None:
    responses = [
        await hub.client.get("/healthz"),
        await hub.client.get("/readyz"),
        await hub.client.get("/metrics"),
        await hub.client.get("/v1/tenant", headers=hub.auth(lab.users[Role.ADMIN])),
        await hub.client.get("/v1/users"),
        await hub.client.post("/v1/auth/login", content=oversized_login()),
    ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)


async def test_health_and_readiness(hub: RunningHub) -> None:
    assert (await hub.client.get("/healthz")).json() == {"status": "ok"}
    ready = await hub.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "sqlite", "bus": "in-process"}


async def test_metrics_count_requests_by_route_and_status(hub: RunningHub) -> None:
    await hub.client.get("/healthz")
    await hub.client.get("/v1/no-such-thing")
    metrics = await hub.client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'tracseq_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'tracseq_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'tracseq_bad_input_total{route="unmatched",status="404"} 1.0' in text
    assert "tracseq_http_request_seconds_bucket" in text


# -- input the database cannot hold -----------------------------------------------------------------------------


async def test_a_nul_character_in_text_input_is_a_422_problem_on_either_database(db_url: str, tmp_path: Path) -> None:
    """PostgreSQL refuses NUL in text (SQLSTATE 22021); that is the caller's input, not a server error."""
    async with running_hub(hub_settings(db_url, tmp_path)) as hub:
        admin = (await seed(hub.state, slugs=("alpha-lab",), roles=(Role.ADMIN,)))["alpha-lab"].users[Role.ADMIN]
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/v1/users/a%00b", {}),
            ("GET", "/v1/esignatures", {"params": {"record_type": "user", "record_id": "a\x00b"}}),
            ("GET", "/v1/audit/entries", {"params": {"record_id": "a\x00b"}}),
            ("GET", "/v1/events", {"params": {"type": "a\x00b"}}),
            ("POST", "/v1/auth/login", {"json": {"tenant": "alpha-lab\x00", "username": "x", "password": "y"}}),
        ]
        for method, url, extra in requests:
            response = await hub.client.request(method, url, headers=hub.auth(admin), **extra)
            assert response.status_code < 500, (method, url, response.text)
            if response.status_code == 422:
                problem_of(response, 422)
