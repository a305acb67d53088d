"""Identity over HTTP, on SQLite and PostgreSQL: sign-in and lockout, password rules, refresh-token rotation with
reuse detection, revocation, user administration with reasons, the audit trail's export, electronic signatures."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from hub.db.base import utcnow
from hub.db.models import User
from hub.domain.permissions import Role
from protocol.cli import build_app
from tests.integration.hub.harness import (
    PASSWORD,
    RunningHub,
    SeededTenant,
    SeededUser,
    hub_settings,
    running_hub,
    seed,
)

pytestmark = pytest.mark.anyio

LOCKOUT_THRESHOLD = 3
ROLES = (Role.ADMIN, Role.TECHNICIAN, Role.AUDITOR)


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    settings = hub_settings(db_url, tmp_path, lockout_threshold=LOCKOUT_THRESHOLD)
    async with running_hub(settings) as running:
        yield running


@pytest.fixture
async def lab(hub: RunningHub) -> SeededTenant:
    """One tenant with an admin, a technician and an auditor (enough here; the sweep covers every role)."""
    tenants = await seed(hub.state, slugs=("alpha-lab",), roles=ROLES)
    return tenants["alpha-lab"]


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def tokens_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["token_type"] == "bearer"
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh(hub: RunningHub, token: str) -> httpx.Response:
    return await hub.client.post("/v1/auth/refresh", json={"refresh_token": token})


async def patch_user(hub: RunningHub, admin: SeededUser, user: SeededUser, **changes: Any) -> httpx.Response:
    return await hub.client.patch(f"/v1/users/{user.id}", json=changes, headers=hub.auth(admin))


# -- sign-in ----------------------------------------------------------------------------------------------------


async def test_login_issues_tokens_that_identify_the_user(hub: RunningHub, lab: SeededTenant) -> None:
    technician = lab.users[Role.TECHNICIAN]
    pair = tokens_of(await hub.login(technician))
    assert pair["expires_in"] == hub.state.settings.access_token_ttl_s
    me = await hub.client.get("/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == technician.id
    assert me.json()["role"] == "technician"


async def test_wrong_password_unknown_user_and_unknown_tenant_get_the_same_error(
    hub: RunningHub, lab: SeededTenant
) -> None:
    technician = lab.users[Role.TECHNICIAN]
    attempts = [
        {"tenant": lab.slug, "username": technician.username, "password": PASSWORD + "x"},
        {"tenant": lab.slug, "username": "nobody.here", "password": PASSWORD},
        {"tenant": "no-such-lab", "username": technician.username, "password": PASSWORD},
    ]
    bodies = []
    for attempt in attempts:
        body = problem_of(await hub.client.post("/v1/auth/login", json=attempt), 401)
        bodies.append({k: v for k, v in body.items() if k != "request_id"})
    assert bodies[0] == bodies[1] == bodies[2]


async def test_lockout_after_repeated_failures_refuses_even_the_right_password_until_it_ends(
    hub: RunningHub, lab: SeededTenant
) -> None:
    technician = lab.users[Role.TECHNICIAN]
    for _ in range(LOCKOUT_THRESHOLD):
        problem_of(await hub.login(technician, PASSWORD + "x"), 401)
    locked = problem_of(await hub.login(technician), 401)
    # the same answer as any failed sign-in: a lockout must not tell a guesser that the user exists
    assert locked["detail"] == "wrong tenant, user name or password"
    entries = await audit_entries(hub, lab.users[Role.AUDITOR], technician.id)
    assert [e["action"] for e in entries] == ["create", "lock"]

    async with hub.state.db.transaction() as session:  # the lockout period passes
        await session.execute(
            update(User).where(User.id == technician.id).values(locked_until=utcnow().replace(year=2000))
        )
    tokens_of(await hub.login(technician))


async def test_concurrent_failures_all_count_towards_the_lockout(hub: RunningHub, lab: SeededTenant) -> None:
    technician = lab.users[Role.TECHNICIAN]
    failures = await asyncio.gather(*(hub.login(technician, PASSWORD + "x") for _ in range(LOCKOUT_THRESHOLD)))
    assert [r.status_code for r in failures] == [401] * LOCKOUT_THRESHOLD
    assert problem_of(await hub.login(technician), 401)["detail"] == "wrong tenant, user name or password"
    async with hub.state.db.read() as session:
        locked_until = (await session.execute(select(User.locked_until).where(User.id == technician.id))).scalar()
    assert locked_until is not None
    assert locked_until > utcnow()


async def test_a_successful_sign_in_resets_the_failure_count(hub: RunningHub, lab: SeededTenant) -> None:
    technician = lab.users[Role.TECHNICIAN]
    for _ in range(LOCKOUT_THRESHOLD - 1):
        problem_of(await hub.login(technician, PASSWORD + "x"), 401)
    tokens_of(await hub.login(technician))
    problem_of(await hub.login(technician, PASSWORD + "x"), 401)
    tokens_of(await hub.login(technician))


async def test_password_rules_refuse_weak_passwords_with_a_422_problem(hub: RunningHub, lab: SeededTenant) -> None:
    admin = lab.users[Role.ADMIN]
    for password, rule in [
        ("Sh0rt!pass", "at least 12 characters"),
        ("alllowercaseletters", "three of"),
        ("Has-New.Person-9", "not containing the user name"),
    ]:
        response = await hub.client.post(
            "/v1/users",
            json={"username": "new.person", "display_name": "New Person", "password": password, "role": "scientist"},
            headers=hub.auth(admin),
        )
        assert rule in problem_of(response, 422)["detail"], password
    listed = await hub.client.get("/v1/users", headers=hub.auth(admin))
    assert "new.person" not in {u["username"] for u in listed.json()}


# -- refresh tokens ---------------------------------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token(hub: RunningHub, lab: SeededTenant) -> None:
    first = tokens_of(await hub.login(lab.users[Role.TECHNICIAN]))
    second = tokens_of(await refresh(hub, first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    me = await hub.client.get("/v1/me", headers=bearer(second["access_token"]))
    assert me.status_code == 200
    third = tokens_of(await refresh(hub, second["refresh_token"]))
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


async def test_reusing_a_spent_refresh_token_revokes_its_family_and_no_other(
    hub: RunningHub, lab: SeededTenant
) -> None:
    technician = lab.users[Role.TECHNICIAN]
    first = tokens_of(await hub.login(technician))
    other_sign_in = tokens_of(await hub.login(technician))
    second = tokens_of(await refresh(hub, first["refresh_token"]))
    assert "already used" in problem_of(await refresh(hub, first["refresh_token"]), 401)["detail"]
    assert "revoked" in problem_of(await refresh(hub, second["refresh_token"]), 401)["detail"]
    tokens_of(await refresh(hub, other_sign_in["refresh_token"]))
    entries = await audit_entries(hub, lab.users[Role.AUDITOR], technician.id)
    assert [e["action"] for e in entries] == ["create", "token_reuse"]


async def test_two_concurrent_refreshes_of_one_token_count_as_reuse(hub: RunningHub, lab: SeededTenant) -> None:
    pair = tokens_of(await hub.login(lab.users[Role.TECHNICIAN]))
    racing = await asyncio.gather(*(refresh(hub, pair["refresh_token"]) for _ in range(2)))
    assert sorted(r.status_code for r in racing) == [200, 401]
    (winner,) = (r.json() for r in racing if r.status_code == 200)
    problem_of(await refresh(hub, winner["refresh_token"]), 401)


async def test_logout_revokes_the_refresh_token(hub: RunningHub, lab: SeededTenant) -> None:
    pair = tokens_of(await hub.login(lab.users[Role.TECHNICIAN]))
    response = await hub.client.post("/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 204
    problem_of(await refresh(hub, pair["refresh_token"]), 401)


# -- administration ---------------------------------------------------------------------------------------------


async def test_a_disabled_user_is_refused_at_once_and_cannot_refresh_or_sign_in(
    hub: RunningHub, lab: SeededTenant
) -> None:
    technician = lab.users[Role.TECHNICIAN]
    pair = tokens_of(await hub.login(technician))
    assert (await hub.client.get("/v1/tenant", headers=bearer(pair["access_token"]))).status_code == 200
    response = await patch_user(hub, lab.users[Role.ADMIN], technician, disabled=True, reason="left the lab")
    assert response.status_code == 200
    assert response.json()["disabled"] is True
    problem_of(await hub.client.get("/v1/tenant", headers=bearer(pair["access_token"])), 401)
    problem_of(await refresh(hub, pair["refresh_token"]), 401)
    assert problem_of(await hub.login(technician), 401)["title"] == "Not authenticated"


async def test_a_role_change_takes_effect_at_once(hub: RunningHub, lab: SeededTenant) -> None:
    technician = lab.users[Role.TECHNICIAN]
    pair = tokens_of(await hub.login(technician))
    assert (await hub.client.get("/v1/users", headers=bearer(pair["access_token"]))).status_code == 403
    response = await patch_user(hub, lab.users[Role.ADMIN], technician, role="auditor", reason="moved to QA")
    assert response.json()["role"] == "auditor"
    problem_of(await hub.client.get("/v1/tenant", headers=bearer(pair["access_token"])), 401)
    problem_of(await refresh(hub, pair["refresh_token"]), 401)
    again = tokens_of(await hub.login(technician))
    listed = await hub.client.get("/v1/users", headers=bearer(again["access_token"]))
    assert listed.status_code == 200
    me = (await hub.client.get("/v1/me", headers=bearer(again["access_token"]))).json()
    assert me["role"] == "auditor"
    assert "users:manage" not in me["permissions"]


async def test_changing_a_user_without_a_reason_is_refused_with_422(hub: RunningHub, lab: SeededTenant) -> None:
    admin, technician = lab.users[Role.ADMIN], lab.users[Role.TECHNICIAN]
    for changes in ({"disabled": True}, {"role": "auditor"}, {"role": "auditor", "reason": ""}, {"reason": "  "}):
        problem_of(await patch_user(hub, admin, technician, **changes), 422)
    user = (await hub.client.get(f"/v1/users/{technician.id}", headers=hub.auth(admin))).json()
    assert (user["role"], user["disabled"]) == ("technician", False)
    assert [e["action"] for e in await audit_entries(hub, lab.users[Role.AUDITOR], technician.id)] == ["create"]


async def test_an_admin_cannot_disable_themselves(hub: RunningHub, lab: SeededTenant) -> None:
    admin = lab.users[Role.ADMIN]
    problem_of(await patch_user(hub, admin, admin, disabled=True, reason="oops"), 403)


# -- the audit trail --------------------------------------------------------------------------------------------


async def audit_entries(hub: RunningHub, reader: SeededUser, record_id: str) -> list[dict[str, Any]]:
    response = await hub.client.get(
        "/v1/audit/entries", params={"record_type": "user", "record_id": record_id}, headers=hub.auth(reader)
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


async def test_user_creation_and_changes_are_audited_with_who_why_and_old_and_new_values(
    hub: RunningHub, lab: SeededTenant
) -> None:
    admin = lab.users[Role.ADMIN]
    created = await hub.client.post(
        "/v1/users",
        json={"username": "sam.new", "display_name": "Sam New", "password": PASSWORD, "role": "scientist"},
        headers=hub.auth(admin),
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    changed = await hub.client.patch(
        f"/v1/users/{user_id}",
        json={"role": "technician", "reason": "joined the wet lab"},
        headers={**hub.auth(admin), "X-Request-ID": "change-42"},
    )
    assert changed.status_code == 200
    assert changed.headers["x-request-id"] == "change-42"
    entries = await audit_entries(hub, lab.users[Role.AUDITOR], user_id)
    assert [e["action"] for e in entries] == ["create", "role_change"]
    create, change = (json.loads(e["entry"])["payload"] for e in entries)
    assert create["actor"] == change["actor"] == f"user:{admin.username}"
    assert create["new"]["role"] == "scientist"
    assert "password" not in json.dumps(create)
    assert change["reason"] == "joined the wet lab"
    assert (change["old"]["role"], change["new"]["role"]) == ("scientist", "technician")
    assert change["request_id"] == "change-42"  # the audit entry names the request that made the change
    assert create["request_id"] == created.headers["x-request-id"]


async def test_the_audit_export_passes_tracseq_verify(hub: RunningHub, lab: SeededTenant, tmp_path: Path) -> None:
    admin = lab.users[Role.ADMIN]
    auditor = lab.users[Role.AUDITOR]
    await patch_user(hub, admin, lab.users[Role.TECHNICIAN], display_name="Renamed Tech", reason="typo")
    export = await hub.client.get("/v1/audit/export", headers=hub.auth(auditor))
    assert export.status_code == 200
    trust = await hub.client.get("/v1/audit/trust", headers=hub.auth(auditor))
    assert trust.status_code == 200
    (tmp_path / "audit.jsonl").write_bytes(export.content)
    (tmp_path / "trust.json").write_text(trust.text)

    result = CliRunner().invoke(
        build_app(), ["verify", str(tmp_path / "audit.jsonl"), "--trust", str(tmp_path / "trust.json")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK:")
    entries = export.content.count(b'"kind":"audit"')
    assert entries >= 1 + len(ROLES) + 1  # the tenant, its users, the change


async def test_a_tampered_audit_export_fails_tracseq_verify(hub: RunningHub, lab: SeededTenant, tmp_path: Path) -> None:
    auditor = lab.users[Role.AUDITOR]
    export = (await hub.client.get("/v1/audit/export", headers=hub.auth(auditor))).content
    trust = (await hub.client.get("/v1/audit/trust", headers=hub.auth(auditor))).text
    (tmp_path / "audit.jsonl").write_bytes(export.replace(b"Alpha Technician", b"Alpha Tekniker!!"))
    (tmp_path / "trust.json").write_text(trust)

    result = CliRunner().invoke(
        build_app(), ["verify", str(tmp_path / "audit.jsonl"), "--trust", str(tmp_path / "trust.json")]
    )
    assert result.exit_code != 0
    assert result.output.startswith("FAIL:")


# -- electronic signatures --------------------------------------------------------------------------------------


def signature_request(record: SeededUser, password: str) -> dict[str, Any]:
    return {
        "record_type": "user",
        "record_id": record.id,
        "record_content": f"user {record.username} reviewed",
        "meaning": "review",
        "password": password,
        "reason": "quarterly access review",
    }


async def test_a_signature_with_the_wrong_password_is_refused(hub: RunningHub, lab: SeededTenant) -> None:
    admin = lab.users[Role.ADMIN]
    request = signature_request(lab.users[Role.TECHNICIAN], PASSWORD + "x")
    problem_of(await hub.client.post("/v1/esignatures", json=request, headers=hub.auth(admin)), 401)
    listed = await hub.client.get(
        "/v1/esignatures", params={"record_type": "user", "record_id": request["record_id"]}, headers=hub.auth(admin)
    )
    assert listed.json() == []


async def test_a_signature_records_the_signer_meaning_time_and_record_hash(hub: RunningHub, lab: SeededTenant) -> None:
    admin = lab.users[Role.ADMIN]
    record = lab.users[Role.TECHNICIAN]
    request = signature_request(record, PASSWORD)
    before = utcnow()
    response = await hub.client.post("/v1/esignatures", json=request, headers=hub.auth(admin))
    assert response.status_code == 201, response.text
    signature = response.json()
    assert signature["signer_name"] == admin.display_name
    assert signature["meaning"] == "review"
    assert (signature["record_type"], signature["record_id"]) == ("user", record.id)
    assert signature["record_hash"] == hashlib.sha256(request["record_content"].encode()).hexdigest()
    assert signature["reason"] == "quarterly access review"
    assert datetime.fromisoformat(signature["signed_at"]) >= before.replace(microsecond=0)

    listed = await hub.client.get(
        "/v1/esignatures",
        params={"record_type": "user", "record_id": record.id},
        headers=hub.auth(lab.users[Role.AUDITOR]),
    )
    assert listed.json() == [signature]
    entries = await audit_entries(hub, lab.users[Role.AUDITOR], record.id)
    signed = json.loads(entries[-1]["entry"])["payload"]
    assert (signed["action"], signed["new"]["signer"], signed["new"]["meaning"]) == (
        "esign",
        admin.display_name,
        "review",
    )


async def test_a_signature_on_a_record_of_another_tenant_or_none_is_refused_with_404(
    hub: RunningHub, lab: SeededTenant
) -> None:
    other = (await seed(hub.state, slugs=("beta-lab",), roles=(Role.TECHNICIAN,)))["beta-lab"]
    admin = lab.users[Role.ADMIN]
    for record in (other.users[Role.TECHNICIAN].id, "no-such-user"):
        request = {**signature_request(lab.users[Role.TECHNICIAN], PASSWORD), "record_id": record}
        problem_of(await hub.client.post("/v1/esignatures", json=request, headers=hub.auth(admin)), 404)
    tenant = {**signature_request(lab.users[Role.TECHNICIAN], PASSWORD), "record_type": "tenant", "record_id": other.id}
    problem_of(await hub.client.post("/v1/esignatures", json=tenant, headers=hub.auth(admin)), 404)
