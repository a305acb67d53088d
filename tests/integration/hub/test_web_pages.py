"""The web pages at ``/ui`` against the hub in the test process (SQLite): every page needs a signed-in person with
the permission the API would ask for, tenant B never sees tenant A's records, every form needs its CSRF token, the
session cookies are HttpOnly and SameSite=Strict, and acknowledging an alert needs a comment that lands in the audit
trail. (The tenant and role sweep covers the API; these pages are outside its OpenAPI schema.)"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hub.db.alerts_models import Alert
from hub.db.base import utcnow
from hub.db.models import AuditEntry, RefreshToken
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from hub.web import mount_pages
from protocol import ChainWriter, CheckpointBody, SigningKey, sign_checkpoint
from sync import MEDIA_TYPE, BatchHeader, encode_batch
from tests.integration.hub.harness import (
    PASSWORD,
    RunningHub,
    SeededTenant,
    SeededUser,
    hub_settings,
    running_hub,
    seed,
)
from tests.integration.hub.sweep_seeds import alerts as alert_seeds
from tests.integration.hub.sweep_seeds import samples as sample_seeds
from tests.integration.hub.sweep_seeds import sequencing as sequencing_seeds
from tests.integration.hub.sweep_seeds import storage as storage_seeds

pytestmark = pytest.mark.anyio

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class World:
    hub: RunningHub
    a: SeededTenant
    b: SeededTenant
    ids: dict[str, str]
    device_id: str
    device_token: str
    edge: ChainWriter
    key: SigningKey


async def enrol(hub: RunningHub, tenant: SeededTenant) -> tuple[str, str, SigningKey, ChainWriter]:
    admin = tenant.users[Role.ADMIN]
    principal = Principal("user", admin.id, tenant.id, admin.username, Role.ADMIN)
    origin = f"tracseq.local/edge/{tenant.slug}-web"
    key = SigningKey.generate(origin)
    async with hub.state.db.transaction() as session:
        token, _ = await hub.state.devices.create_enrollment_token(session, principal)
        device, credential = await hub.state.devices.enroll(
            session, token=token, name=f"{tenant.slug}-web", origin=origin, public_key=key.verifier.vkey
        )
    return device.id, credential, key, ChainWriter(origin)


async def sync(world: World, *values: str) -> None:
    """Readings of freezer-01/temp (the channel the storage seed binds to its freezer) sent as an edge sends them,
    with a checkpoint the hub cosigns."""
    first = world.edge.next_seq
    now = utcnow()
    raws = [
        world.edge.append(
            "observation",
            {"device": "freezer-01", "channel": "temp", "value": v, "unit": "Cel", "quality": "good"},
            now + timedelta(milliseconds=i),
            first + i,
        ).raw
        for i, v in enumerate(values)
    ]
    size = world.edge.next_seq
    note = sign_checkpoint(CheckpointBody(world.edge.origin, size, world.edge.head), [world.key]).render()
    header = BatchHeader(origin=world.edge.origin, first_seq=first, count=len(raws), checkpoint=note)
    response = await world.hub.client.post(
        "/v1/sync/batches",
        content=encode_batch(header, raws),
        headers={
            "Authorization": f"Bearer {world.device_token}",
            "Content-Type": MEDIA_TYPE,
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 200, response.text


@pytest.fixture
async def world(sqlite_url: str, tmp_path: Path) -> AsyncIterator[World]:
    settings = hub_settings(sqlite_url, tmp_path, alerts_in_process=False)
    async with running_hub(settings) as hub:
        mount_pages(hub.app, hub.state)
        tenants = await seed(hub.state)
        a, b = tenants["alpha-lab"], tenants["beta-lab"]
        device_id, token, key, edge = await enrol(hub, a)
        ids: dict[str, str] = {}
        for module in (sample_seeds, storage_seeds, sequencing_seeds, alert_seeds):
            ids |= await module.seed(hub, a, device_id)
        found = World(hub, a, b, ids, device_id, token, edge, key)
        await sync(found, "-80.1", "-80.2")
        yield found


async def sign_in(client: httpx.AsyncClient, user: SeededUser, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/ui/login")
    token = CSRF.search(page.text)
    assert token, page.text
    return await client.post(
        "/ui/login",
        data={"csrf": token.group(1), "tenant": user.tenant_slug, "username": user.username, "password": password},
    )


@contextlib.asynccontextmanager
async def browser(world: World, user: SeededUser | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of its own (its own cookie jar), signed in as ``user`` when given."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=world.hub.app), base_url="http://hub") as client:
        if user is not None:
            response = await sign_in(client, user)
            assert response.status_code == 303, response.text
        yield client


def pages(w: World) -> list[str]:
    return [
        "/ui/",
        "/ui/samples",
        f"/ui/samples/{w.ids['sample_id']}",
        f"/ui/storage/boxes/{w.ids['box_id']}",
        "/ui/sequencing",
        f"/ui/sequencing/runs/{w.ids['run_id']}",
        "/ui/audit",
        "/ui/audit/export",
        "/ui/audit/trust",
        f"/ui/audit/devices/{w.device_id}/export",
        f"/ui/audit/devices/{w.device_id}/trust",
        "/ui/live?max_s=0",
    ]


async def csrf_of(client: httpx.AsyncClient, path: str = "/ui/") -> str:
    page = await client.get(path)
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def test_every_page_needs_sign_in_and_sends_the_person_back_after(world: World) -> None:
    async with browser(world) as anonymous:
        for path in pages(world):
            response = await anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/ui/login?next=%2Fui%2F"), path
        for path in (f"/ui/alerts/{world.ids['alert_id']}/acknowledge", "/ui/audit/verify", "/ui/logout"):
            response = await anonymous.post(path, data={"comment": "no one signed in"})
            assert response.status_code == 303, path
        admin = world.a.users[Role.ADMIN]
        response = await anonymous.get(f"/ui/samples/{world.ids['sample_id']}")
        page = await anonymous.get(response.headers["location"])
        token = CSRF.search(page.text)
        assert token
        hidden = re.search(r'name="next" value="([^"]+)"', page.text)
        assert hidden
        back = await anonymous.post(
            "/ui/login",
            data={
                "csrf": token.group(1),
                "tenant": admin.tenant_slug,
                "username": admin.username,
                "password": PASSWORD,
                "next": hidden.group(1),
            },
        )
        assert back.status_code == 303
        assert back.headers["location"] == f"/ui/samples/{world.ids['sample_id']}"


async def test_session_cookies_are_httponly_strict_and_scoped_to_the_pages(world: World) -> None:
    async with browser(world) as client:
        response = await sign_in(client, world.a.users[Role.TECHNICIAN])
        assert response.status_code == 303
        cookies = response.headers.get_list("set-cookie")
        names = {c.split("=", 1)[0] for c in cookies}
        assert {"tracseq_access", "tracseq_refresh"} <= names
        for cookie in cookies:
            lowered = cookie.lower()
            assert "httponly" in lowered, cookie
            assert "samesite=strict" in lowered, cookie
            assert "path=/ui" in lowered, cookie
        page = await client.get("/ui/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(world: World) -> None:
    async with browser(world) as client:
        response = await sign_in(client, world.a.users[Role.ADMIN], password="not-the-password-1A")
        assert response.status_code == 401
        assert "wrong tenant, user name or password" in response.text
        assert "tracseq_access" not in response.headers.get("set-cookie", "")


async def test_a_role_without_the_permission_gets_403(world: World) -> None:
    refused = {
        Role.FACILITIES: [
            "/ui/samples",
            f"/ui/samples/{world.ids['sample_id']}",
            "/ui/sequencing",
            f"/ui/sequencing/runs/{world.ids['run_id']}",
            "/ui/audit",
            "/ui/audit/export",
        ],
        Role.TECHNICIAN: ["/ui/audit", "/ui/audit/export", f"/ui/audit/devices/{world.device_id}/export"],
        Role.SCIENTIST: ["/ui/audit", f"/ui/audit/devices/{world.device_id}/trust"],
        Role.AUDITOR: [],
    }
    for role, paths in refused.items():
        async with browser(world, world.a.users[role]) as client:
            for path in paths:
                response = await client.get(path)
                assert response.status_code == 403, (role, path)
                assert "does not allow" in response.text
            board = await client.get("/ui/")
            assert board.status_code == 200, role
    async with browser(world, world.a.users[Role.SCIENTIST]) as scientist:
        token = await csrf_of(scientist)
        response = await scientist.post(
            f"/ui/alerts/{world.ids['alert_id']}/acknowledge", data={"csrf": token, "comment": "not mine to ack"}
        )
        assert response.status_code == 403


async def test_tenant_b_never_sees_tenant_a_records(world: World) -> None:
    async with world.hub.state.db.read() as session:
        alert = await session.get(Alert, world.ids["alert_id"])
        assert alert is not None
    a_strings = {world.a.id, world.a.name, world.device_id, f"{world.a.slug}-web", alert.title, *world.ids.values()}
    async with browser(world, world.b.users[Role.ADMIN]) as b:
        for path in pages(world):
            response = await b.get(path)
            if any(i in path for i in world.ids.values()) or world.device_id in path:
                assert response.status_code == 404, path
            else:
                assert response.status_code == 200, path
            leaked = {s for s in a_strings if s in response.text and s not in path}  # not what B sent itself
            assert not leaked, (path, leaked)
        token = await csrf_of(b)
        ack = await b.post(
            f"/ui/alerts/{world.ids['alert_id']}/acknowledge", data={"csrf": token, "comment": "not our freezer"}
        )
        assert ack.status_code == 404
        verify = await b.post("/ui/audit/verify", data={"csrf": token, "log": world.device_id})
        assert verify.status_code == 404


async def test_forms_without_a_valid_csrf_token_are_refused(world: World) -> None:
    alert_id = world.ids["alert_id"]
    async with browser(world, world.a.users[Role.ADMIN]) as admin:
        for path, data in (
            (f"/ui/alerts/{alert_id}/acknowledge", {"comment": "door was open, closed it"}),
            ("/ui/audit/verify", {"log": "hub"}),
            ("/ui/logout", {}),
        ):
            for token in (None, "forged.0123", "x" * 40):
                sent = data if token is None else {**data, "csrf": token}
                response = await admin.post(path, data=sent)
                assert response.status_code == 403, (path, token)
        async with browser(world, world.a.users[Role.LAB_MANAGER]) as other:
            someone_elses = await csrf_of(other)
        response = await admin.post(
            f"/ui/alerts/{alert_id}/acknowledge", data={"csrf": someone_elses, "comment": "borrowed token"}
        )
        assert response.status_code == 403
    async with browser(world) as anonymous:
        response = await anonymous.post(
            "/ui/login",
            data={"tenant": world.a.slug, "username": world.a.users[Role.ADMIN].username, "password": PASSWORD},
        )
        assert response.status_code == 403
    async with world.hub.state.db.read() as session:
        alert = await session.get(Alert, alert_id)
        assert alert is not None
        assert alert.acknowledged_at is None


async def test_acknowledging_needs_a_comment_that_lands_in_the_audit_trail(world: World) -> None:
    alert_id = world.ids["alert_id"]
    async with browser(world, world.a.users[Role.FACILITIES]) as facilities:
        board = await facilities.get("/ui/")
        assert f'action="/ui/alerts/{alert_id}/acknowledge"' in board.text
        token = CSRF.search(board.text)
        assert token
        empty = await facilities.post(
            f"/ui/alerts/{alert_id}/acknowledge", data={"csrf": token.group(1), "comment": " "}
        )
        assert empty.status_code == 422
        assert "comment" in empty.text.lower()
        comment = "door left ajar by cleaning staff, closed at 03:10"
        done = await facilities.post(
            f"/ui/alerts/{alert_id}/acknowledge", data={"csrf": token.group(1), "comment": comment}
        )
        assert done.status_code == 303
        after = await facilities.get(done.headers["location"])
        assert "Acknowledged by user:alpha.facilities" in after.text
        assert comment in after.text
    async with world.hub.state.db.read() as session:
        entry = (
            await session.execute(
                select(AuditEntry).where(
                    AuditEntry.tenant_id == world.a.id,
                    AuditEntry.record_type == "alert",
                    AuditEntry.record_id == alert_id,
                    AuditEntry.action == "acknowledge",
                )
            )
        ).scalar_one()
    assert entry.actor == "user:alpha.facilities"
    assert json.loads(entry.raw)["payload"]["reason"] == comment


async def test_the_board_shows_units_with_latest_reading_and_the_feed_streams_it(world: World) -> None:
    async with browser(world, world.a.users[Role.FACILITIES]) as client:
        board = await client.get("/ui/")
        assert board.status_code == 200
        assert 'data-key="' in board.text
        assert "-80.2" in board.text
        assert "<svg" in board.text
        assert 'class="limit"' in board.text
        await sync(world, "-79.4")
        feed = await client.get("/ui/live", params={"max_s": 0})
        assert feed.headers["content-type"].startswith("text/event-stream")
        readings = [json.loads(line[6:]) for line in feed.text.splitlines() if line.startswith("data: {")]
        assert any(r.get("value") == "-79.4" for r in readings), feed.text


async def test_lab_pages_show_the_records(world: World) -> None:
    async with browser(world, world.a.users[Role.LAB_MANAGER]) as client:
        listing = await client.get("/ui/samples")
        assert listing.status_code == 200
        assert f"/ui/samples/{world.ids['sample_id']}" in listing.text
        short = await client.get("/ui/samples", params={"q": "ab"})
        assert "at least 3 characters" in short.text
        sample = await client.get(f"/ui/samples/{world.ids['sample_id']}")
        assert sample.status_code == 200
        assert "Lifecycle history" in sample.text
        assert "Chain of custody" in sample.text
        box = await client.get(f"/ui/storage/boxes/{world.ids['box_id']}")
        assert box.status_code == 200
        assert '<th scope="row">A</th>' in box.text
        queue = await client.get("/ui/sequencing")
        assert queue.status_code == 200
        assert f"/ui/sequencing/runs/{world.ids['run_id']}" in queue.text
        run = await client.get(f"/ui/sequencing/runs/{world.ids['run_id']}")
        assert run.status_code == 200
        assert "QC" in run.text


async def test_the_audit_page_verifies_the_hub_trail_and_an_edge_log(world: World) -> None:
    async with browser(world, world.a.users[Role.AUDITOR]) as auditor:
        token = await csrf_of(auditor, "/ui/audit")
        hub = await auditor.post("/ui/audit/verify", data={"csrf": token, "log": "hub"})
        assert hub.status_code == 200
        assert "OK: the hub&#39;s audit trail" in hub.text or "OK: the hub's audit trail" in hub.text
        edge = await auditor.post("/ui/audit/verify", data={"csrf": token, "log": world.device_id})
        assert edge.status_code == 200
        assert "OK: edge alpha-lab-web" in edge.text
        export = await auditor.get("/ui/audit/export")
        assert export.status_code == 200
        assert json.loads(export.text.splitlines()[0])["type"] == "header"
        mirrored = await auditor.get(f"/ui/audit/devices/{world.device_id}/export")
        lines = mirrored.text.splitlines()
        assert json.loads(lines[0])["origin"] == world.edge.origin
        assert any(json.loads(line).get("type") == "checkpoint" for line in lines[1:])


async def test_sign_out_revokes_the_refresh_token_and_clears_the_cookies(world: World) -> None:
    async with browser(world, world.a.users[Role.TECHNICIAN]) as client:
        token = await csrf_of(client)
        response = await client.post("/ui/logout", data={"csrf": token})
        assert response.status_code == 303
        assert all("max-age=0" in c.lower() for c in response.headers.get_list("set-cookie"))
        again = await client.get("/ui/")
        assert again.status_code == 303
    async with world.hub.state.db.read() as session:
        rows = (
            await session.execute(select(RefreshToken).where(RefreshToken.user_id == world.a.users[Role.TECHNICIAN].id))
        ).scalars()
        assert all(r.revoked_at is not None for r in rows)


async def test_an_expired_access_token_is_renewed_with_the_refresh_cookie(world: World) -> None:
    async with browser(world, world.a.users[Role.TECHNICIAN]) as client:
        refresh = client.cookies["tracseq_refresh"]
    async with browser(world) as client:
        page = await client.get("/ui/", headers={"Cookie": f"tracseq_access=expired; tracseq_refresh={refresh}"})
        assert page.status_code == 200
        assert "tracseq_access=" in page.headers.get("set-cookie", "")


async def test_a_disabled_person_is_signed_out_at_once(world: World) -> None:
    user = world.a.users[Role.TECHNICIAN]
    async with browser(world, user) as client:
        assert (await client.get("/ui/")).status_code == 200
        admin = world.a.users[Role.ADMIN]
        actor = Principal("user", admin.id, world.a.id, admin.username, Role.ADMIN)
        async with world.hub.state.db.transaction() as session:
            await world.hub.state.identity.update_user(
                session, tenant_id=world.a.id, user_id=user.id, actor=actor, reason="left the lab", disabled=True
            )
        response = await client.get("/ui/")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/login")
