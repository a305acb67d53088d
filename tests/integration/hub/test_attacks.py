"""Attacks on the hub's authentication, on SQLite and PostgreSQL, that the identity and sync tests do not already make:
forged and algorithm-confused access tokens, a valid signature naming another tenant, a device credential on the
users' routes, password guessing that must not tell which users exist, sessions that end at logout or on refresh
reuse, spent or expired enrolment tokens, a device writing another device's log and a batch replayed byte for byte.

Covered elsewhere, so not repeated here: a user's token on the sync route and no token at all
(test_sync_ingest.py), the lockout itself and refresh-token reuse (test_api_identity.py), oversized bodies
(test_api_problems.py, tests/e2e/test_sync.py), forks and forged checkpoints (tests/unit/sync, tests/e2e/test_sync.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select, update

from hub.db.base import utcnow
from hub.db.ingest_models import DeviceEntry, EnrollmentToken
from hub.domain.permissions import Role
from protocol import SigningKey
from tests.integration.hub.harness import (
    JWT_SECRET,
    PASSWORD,
    RunningHub,
    SeededTenant,
    SeededUser,
    hub_settings,
    running_hub,
    seed,
)
from tests.integration.hub.test_sync_ingest import Edge, reading

pytestmark = pytest.mark.anyio

LOCKOUT_THRESHOLD = 3


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = hub_settings(db_url, tmp_path, lockout_threshold=LOCKOUT_THRESHOLD)
    async with running_hub(settings) as running:
        yield running


@pytest.fixture
async def labs(hub: RunningHub) -> dict[str, SeededTenant]:
    return await seed(hub.state, slugs=("alpha-lab", "beta-lab"), roles=(Role.ADMIN, Role.TECHNICIAN))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return {k: v for k, v in body.items() if k != "request_id"}


# -- forged access tokens ---------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], key: bytes | None, digest: Any = hashlib.sha256) -> str:
    """A JWT spelled by hand, as an attacker would: any header, an HMAC over it with ``key`` or no signature."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = _b64(hmac.new(key, signing_input.encode(), digest).digest()) if key is not None else ""
    return f"{signing_input}.{signature}"


def claims_of(user: SeededUser, **changes: Any) -> dict[str, Any]:
    now = int(utcnow().timestamp())
    claims = {
        "sub": user.id,
        "tid": user.tenant_id,
        "role": user.role.value,
        "name": user.username,
        "typ": "user",
        "iss": "tracseq-hub",
        "iat": now,
        "exp": now + 600,
        "jti": "attack",
        **changes,
    }
    return {k: v for k, v in claims.items() if v is not None}


SECRET = JWT_SECRET.encode()
FORGERIES: dict[str, Any] = {
    "alg none, no signature": lambda c: hand_made({"alg": "none", "typ": "JWT"}, c, None),
    "alg None spelled otherwise": lambda c: hand_made({"alg": "None", "typ": "JWT"}, c, None),
    "HS256 with another key": lambda c: jwt.encode(c, "another-secret-0123456789-abcdefghijklmnop", algorithm="HS256"),
    "HS256 signature stripped": lambda c: jwt.encode(c, JWT_SECRET, algorithm="HS256").rsplit(".", 1)[0] + ".",
    "RS256 header, the HS secret as the public key": lambda c: hand_made({"alg": "RS256", "typ": "JWT"}, c, SECRET),
    "ES256 header, the HS secret as the public key": lambda c: hand_made({"alg": "ES256", "typ": "JWT"}, c, SECRET),
    "HS512 with the right secret (not an allowed alg)": lambda c: hand_made(
        {"alg": "HS512", "typ": "JWT"}, c, SECRET, hashlib.sha512
    ),
    "claims changed after signing": lambda c: ".".join(
        [
            jwt.encode(c, JWT_SECRET, algorithm="HS256").split(".")[0],
            _b64(json.dumps({**c, "role": "admin"}).encode()),
            jwt.encode(c, JWT_SECRET, algorithm="HS256").split(".")[2],
        ]
    ),
    "expired": lambda c: jwt.encode({**c, "exp": c["iat"] - 1}, JWT_SECRET, algorithm="HS256"),
    "another issuer": lambda c: jwt.encode({**c, "iss": "someone-else"}, JWT_SECRET, algorithm="HS256"),
    "no tenant claim": lambda c: jwt.encode({k: v for k, v in c.items() if k != "tid"}, JWT_SECRET, algorithm="HS256"),
    "no expiry claim": lambda c: jwt.encode({k: v for k, v in c.items() if k != "exp"}, JWT_SECRET, algorithm="HS256"),
    "unknown token type": lambda c: jwt.encode({**c, "typ": "service"}, JWT_SECRET, algorithm="HS256"),
    "a role that does not exist": lambda c: jwt.encode({**c, "role": "root"}, JWT_SECRET, algorithm="HS256"),
    "not a JWT at all": lambda c: "eyJhbGciOiJIUzI1NiJ9.garbage",
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_a_forged_or_confused_access_token_is_refused_with_401(
    hub: RunningHub, labs: dict[str, SeededTenant], forgery: str
) -> None:
    technician = labs["alpha-lab"].users[Role.TECHNICIAN]
    # the technician asks for the admin's powers in the claims every forgery carries
    token = FORGERIES[forgery](claims_of(technician, role="admin"))
    problem(await hub.client.get("/v1/users", headers=bearer(token)), 401)
    problem(await hub.client.get("/v1/me", headers=bearer(token)), 401)


async def test_an_expired_token_says_to_refresh(hub: RunningHub, labs: dict[str, SeededTenant]) -> None:
    claims = claims_of(labs["alpha-lab"].users[Role.ADMIN])
    token = jwt.encode({**claims, "exp": claims["iat"] - 1}, JWT_SECRET, algorithm="HS256")
    assert "expired" in problem(await hub.client.get("/v1/me", headers=bearer(token)), 401)["detail"]


async def test_a_validly_signed_token_naming_another_tenant_grants_nothing_there(
    hub: RunningHub, labs: dict[str, SeededTenant]
) -> None:
    """Defence in depth should the secret leak: the user is looked up in the token's tenant, not by id alone."""
    alpha_admin, beta = labs["alpha-lab"].users[Role.ADMIN], labs["beta-lab"]
    token = jwt.encode(claims_of(alpha_admin, tid=beta.id), JWT_SECRET, algorithm="HS256")
    problem(await hub.client.get("/v1/users", headers=bearer(token)), 401)
    problem(await hub.client.post("/v1/devices/enrollment-tokens", headers=bearer(token)), 401)
    assert (await hub.client.get("/v1/users", headers=hub.auth(alpha_admin))).status_code == 200


# -- a device credential where a person is expected ----------------------------------------------------------------


async def enrolled(hub: RunningHub, admin: SeededUser, name: str) -> Edge:
    edge = Edge(hub, f"tracseq.test/edge/{name}")
    await edge.enroll(hub.auth(admin), name)
    return edge


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/users"),
        ("GET", "/v1/devices"),
        ("GET", "/v1/events"),
        ("GET", "/v1/audit/entries"),
        ("POST", "/v1/devices/enrollment-tokens"),
    ],
)
async def test_a_device_credential_opens_no_users_route(
    hub: RunningHub, labs: dict[str, SeededTenant], method: str, path: str
) -> None:
    edge = await enrolled(hub, labs["alpha-lab"].users[Role.ADMIN], "gw-1")
    problem(await hub.client.request(method, path, headers=bearer(edge.token)), 403)


async def test_a_device_credential_signed_as_a_user_jwt_is_not_a_user(
    hub: RunningHub, labs: dict[str, SeededTenant]
) -> None:
    """The ``tsd_`` credential goes to the device check; used as if it were a JWT it is just an invalid token."""
    edge = await enrolled(hub, labs["alpha-lab"].users[Role.ADMIN], "gw-2")
    problem(await hub.client.get("/v1/users", headers=bearer(edge.token.removeprefix("tsd_"))), 401)


# -- password guessing ------------------------------------------------------------------------------------------


async def test_password_guessing_locks_the_account_without_telling_which_users_exist(
    hub: RunningHub, labs: dict[str, SeededTenant]
) -> None:
    technician = labs["alpha-lab"].users[Role.TECHNICIAN]
    known = {"tenant": "alpha-lab", "username": technician.username}
    unknown = {"tenant": "alpha-lab", "username": "nobody.here"}
    answers = []
    for attempt in range(LOCKOUT_THRESHOLD + 2):
        for who in (known, unknown):
            response = await hub.client.post("/v1/auth/login", json={**who, "password": f"Guess-{attempt}-Wrong!"})
            answers.append(problem(response, 401))
    assert all(a == answers[0] for a in answers), "a locked and an unknown user must get the same answer"
    # locked: even the right password is refused, with that same answer
    assert problem(await hub.login(technician), 401) == answers[0]
    problem(await hub.client.post("/v1/auth/login", json={**unknown, "password": PASSWORD}), 401)


# -- sessions that end ------------------------------------------------------------------------------------------


async def test_logout_ends_the_sessions_access_token_at_once_and_no_other(
    hub: RunningHub, labs: dict[str, SeededTenant]
) -> None:
    technician = labs["alpha-lab"].users[Role.TECHNICIAN]
    first = (await hub.login(technician)).json()
    second = (await hub.login(technician)).json()
    assert (await hub.client.get("/v1/me", headers=bearer(first["access_token"]))).status_code == 200
    out = await hub.client.post("/v1/auth/logout", json={"refresh_token": first["refresh_token"]})
    assert out.status_code == 204, out.text
    body = problem(await hub.client.get("/v1/me", headers=bearer(first["access_token"])), 401)
    assert "signed out" in body["detail"]
    assert (await hub.client.get("/v1/me", headers=bearer(second["access_token"]))).status_code == 200


async def test_a_reused_refresh_token_ends_the_access_tokens_of_its_sign_in(
    hub: RunningHub, labs: dict[str, SeededTenant]
) -> None:
    technician = labs["alpha-lab"].users[Role.TECHNICIAN]
    stolen = (await hub.login(technician)).json()
    rotated = (await hub.client.post("/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]})).json()
    assert (await hub.client.get("/v1/me", headers=bearer(rotated["access_token"]))).status_code == 200
    replay = await hub.client.post("/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    problem(replay, 401)
    for token in (stolen["access_token"], rotated["access_token"]):
        problem(await hub.client.get("/v1/me", headers=bearer(token)), 401)


# -- enrolment tokens ---------------------------------------------------------------------------------------------


async def enrolment(hub: RunningHub, admin: SeededUser, name: str, token: str | None = None) -> httpx.Response:
    if token is None:
        created = await hub.client.post("/v1/devices/enrollment-tokens", headers=hub.auth(admin))
        token = str(created.json()["token"])
    key = SigningKey.generate(f"tracseq.test/edge/{name}")
    request = {"token": token, "name": name, "origin": key.name, "public_key": key.verifier.vkey}
    return await hub.client.post("/v1/sync/enroll", json=request)


async def test_an_enrolment_token_is_spent_once_and_refused_when_expired_or_made_up(
    hub: RunningHub, labs: dict[str, SeededTenant]
) -> None:
    admin = labs["alpha-lab"].users[Role.ADMIN]
    token = str((await hub.client.post("/v1/devices/enrollment-tokens", headers=hub.auth(admin))).json()["token"])
    assert (await enrolment(hub, admin, "first", token)).status_code == 201
    spent = problem(await enrolment(hub, admin, "second", token), 401)

    late = str((await hub.client.post("/v1/devices/enrollment-tokens", headers=hub.auth(admin))).json()["token"])
    async with hub.state.db.transaction() as session:
        await session.execute(
            update(EnrollmentToken)
            .where(EnrollmentToken.used_at.is_(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = problem(await enrolment(hub, admin, "third", late), 401)
    made_up = problem(await enrolment(hub, admin, "fourth", "tse_" + "A" * 32), 401)
    assert spent["detail"] == expired["detail"] == made_up["detail"], "the answer does not say which it was"


# -- sync: another device's log, a replayed batch ---------------------------------------------------------------


async def stored(hub: RunningHub, device_id: str) -> int:
    async with hub.state.db.read() as session:
        found = await session.execute(
            select(func.count()).select_from(DeviceEntry).where(DeviceEntry.device_id == device_id)
        )
        return int(found.scalar_one())


async def test_a_device_cannot_write_another_devices_log(hub: RunningHub, labs: dict[str, SeededTenant]) -> None:
    admin = labs["alpha-lab"].users[Role.ADMIN]
    mallory, victim = await enrolled(hub, admin, "mallory"), await enrolled(hub, admin, "victim")
    for i in range(3):
        victim.append("observation", reading(i))
    victim.token = mallory.token  # the victim's own, correctly signed log, sent with mallory's credential
    response = await victim.send(0, 3, victim.checkpoint(3))
    assert response.status_code == 422, response.text
    assert victim.origin in response.json()["detail"]
    assert await stored(hub, victim.id) == 0
    assert await stored(hub, mallory.id) == 0


async def test_a_replayed_batch_gets_the_same_answer_and_is_stored_once(
    hub: RunningHub, labs: dict[str, SeededTenant]
) -> None:
    edge = await enrolled(hub, labs["alpha-lab"].users[Role.ADMIN], "replayed")
    for i in range(5):
        edge.append("observation", reading(i))
    checkpoint = edge.checkpoint(5)
    first = await edge.send(0, 5, checkpoint)
    assert first.status_code == 200, first.text
    answers = [await edge.send(0, 5, checkpoint) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    for answer in answers:
        again, once = answer.json(), first.json()
        # the beacon carries the hub's time and its own log head, which move on between requests
        assert {k: v for k, v in again.items() if k != "beacon"} == {k: v for k, v in once.items() if k != "beacon"}
    assert await stored(hub, edge.id) == 5
