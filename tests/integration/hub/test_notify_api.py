"""Notifications over HTTP, on SQLite and PostgreSQL: channel configuration with secrets that never come back,
each person's own preferences, messages with their delivery state, retrying a failed one, a test message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from hub.db.models import AuditEntry
from hub.db.notifications_models import Notification
from hub.domain.permissions import Role
from hub.notify import Backoff, Notifier, enqueue
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed
from tests.integration.hub.notify_receivers import Answer, HttpReceiver

pytestmark = pytest.mark.anyio

SECRET_PATH = "/services/T0000/B0000/very-secret-path-0123456789"


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    # these tests run their own Notifier, with test timings, and count what it sends
    async with running_hub(hub_settings(db_url, tmp_path, notify_in_process=False)) as running:
        yield running


@pytest.fixture
async def tenants(hub: RunningHub) -> dict[str, SeededTenant]:
    return await seed(hub.state, roles=(Role.LAB_MANAGER, Role.TECHNICIAN, Role.SCIENTIST))


@pytest.fixture
def lab(tenants: dict[str, SeededTenant]) -> SeededTenant:
    return tenants["alpha-lab"]


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


async def test_managers_configure_channels_whose_secrets_never_come_back_whole(
    hub: RunningHub, lab: SeededTenant
) -> None:
    manager, tech = hub.auth(lab.users[Role.LAB_MANAGER]), hub.auth(lab.users[Role.TECHNICIAN])
    secret_url = f"https://hooks.slack.com{SECRET_PATH}"
    body = {"name": "Freezer room", "config": {"kind": "slack", "webhook_url": secret_url}}
    refused(await hub.client.post("/v1/notification-channels", json=body, headers=tech), 403)
    created = ok(await hub.client.post("/v1/notification-channels", json=body, headers=manager), 201)
    assert created["secrets"] == {"webhook_url": "https://hooks.slack.com/…6789"}
    refused(await hub.client.post("/v1/notification-channels", json=body, headers=manager), 409)
    no_url = {"name": "No URL", "config": {"kind": "slack"}}
    assert (
        "webhook_url"
        in refused(await hub.client.post("/v1/notification-channels", json=no_url, headers=manager), 422)["detail"]
    )

    channel_id = created["id"]
    shown = ok(await hub.client.get(f"/v1/notification-channels/{channel_id}", headers=manager))
    listed = ok(await hub.client.get("/v1/notification-channels", headers=tech))  # everyone may choose from them
    assert listed == [{"id": channel_id, "name": "Freezer room", "kind": "slack", "enabled": True}]
    refused(await hub.client.get(f"/v1/notification-channels/{channel_id}", headers=tech), 403)

    renamed = ok(
        await hub.client.patch(
            f"/v1/notification-channels/{channel_id}",
            json={"reason": "one name per room", "name": "Room 2.14", "config": {"kind": "slack"}},
            headers=manager,
        )
    )
    assert renamed["secrets"] == shown["secrets"]  # the URL left out of the new config is kept
    changed_kind = {"reason": "wrong kind", "config": {"kind": "teams", "webhook_url": secret_url}}
    refused(await hub.client.patch(f"/v1/notification-channels/{channel_id}", json=changed_kind, headers=manager), 422)

    async with hub.state.db.read() as session:
        trail = (
            await session.execute(select(AuditEntry).where(AuditEntry.record_type == "notification_channel"))
        ).scalars()
        entries = [(e.action, e.raw) for e in trail]
    assert [action for action, _raw in entries] == ["create", "update"]
    assert all(SECRET_PATH.encode() not in raw for _action, raw in entries)
    for path in ("/v1/notification-channels", f"/v1/notification-channels/{channel_id}"):
        assert SECRET_PATH not in (await hub.client.get(path, headers=manager)).text


async def test_people_set_their_own_preferences(hub: RunningHub, tenants: dict[str, SeededTenant]) -> None:
    lab = tenants["alpha-lab"]
    manager, tech = hub.auth(lab.users[Role.LAB_MANAGER]), hub.auth(lab.users[Role.TECHNICIAN])
    sms = ok(
        await hub.client.post(
            "/v1/notification-channels",
            json={"name": "sms", "config": {"kind": "sms", "sender": "TracSeq"}},
            headers=manager,
        ),
        201,
    )
    assert ok(await hub.client.get("/v1/me/notification-preferences", headers=tech)) == {
        "language": "en",
        "time_zone": "UTC",
        "quiet_hours": None,
        "channels": [],
    }
    wanted = {
        "language": "de",
        "time_zone": "Europe/Berlin",
        "quiet_hours": {"start": "22:00", "end": "06:30"},
        "channels": [{"channel_id": sms["id"], "address": "+4915112345678", "min_severity": "critical"}],
    }
    stored = ok(await hub.client.put("/v1/me/notification-preferences", json=wanted, headers=tech))
    assert stored == {**wanted, "channels": [{**wanted["channels"][0], "enabled": True}]}
    assert ok(await hub.client.get("/v1/me/notification-preferences", headers=tech)) == stored
    assert ok(await hub.client.get("/v1/me/notification-preferences", headers=manager))["channels"] == []

    for bad, why in (
        ({**wanted, "time_zone": "Mars/Olympus_Mons"}, "time zone"),
        ({**wanted, "quiet_hours": {"start": "22:00", "end": "22:00"}}, "empty"),
        ({**wanted, "channels": [{"channel_id": sms["id"], "address": "0151 123"}]}, "E.164"),
        ({**wanted, "channels": [{"channel_id": sms["id"]}]}, "phone number"),
        ({**wanted, "channels": [{"channel_id": sms["id"], "address": "+4915112345678"}] * 2}, "twice"),
    ):
        assert (
            why
            in refused(await hub.client.put("/v1/me/notification-preferences", json=bad, headers=tech), 422)["detail"]
        )
    beta_manager = hub.auth(tenants["beta-lab"].users[Role.LAB_MANAGER])
    beta_body = {"name": "beta hook", "config": {"kind": "webhook", "url": "https://beta.example/hook"}}
    beta = ok(await hub.client.post("/v1/notification-channels", json=beta_body, headers=beta_manager), 201)["id"]
    foreign = {**wanted, "channels": [{"channel_id": beta, "address": "+4915112345678"}]}
    refused(await hub.client.put("/v1/me/notification-preferences", json=foreign, headers=tech), 404)


async def test_messages_show_their_delivery_state_to_their_reader_and_to_managers(
    hub: RunningHub, lab: SeededTenant
) -> None:
    manager_user, tech_user = lab.users[Role.LAB_MANAGER], lab.users[Role.TECHNICIAN]
    manager, tech, scientist = hub.auth(manager_user), hub.auth(tech_user), hub.auth(lab.users[Role.SCIENTIST])
    async with HttpReceiver(then=Answer(422, "no such recipient")) as refusing:
        channel = ok(
            await hub.client.post(
                "/v1/notification-channels",
                json={"name": "hook", "config": {"kind": "webhook", "url": refusing.url()}},
                headers=manager,
            ),
            201,
        )
        for headers in (tech, manager):
            prefs = {"channels": [{"channel_id": channel["id"]}]}
            ok(await hub.client.put("/v1/me/notification-preferences", json=prefs, headers=headers))
        async with hub.state.db.transaction() as session:
            for user in (tech_user, manager_user):
                await enqueue(
                    session,
                    tenant_id=lab.id,
                    user_id=user.id,
                    kind="alert.raised",
                    severity="warning",
                    dedup_key="alert:1:step:1",
                    context={"title": "Incubator 3 CO₂ low"},
                )
        notifier = Notifier(hub.state.db, poll_interval_s=0.02, backoff=Backoff(base_s=0.05, max_attempts=2))
        try:
            assert await notifier.run_once() == 2
        finally:
            await notifier.aclose()

    mine = ok(await hub.client.get("/v1/notifications", headers=tech))
    assert [(m["user_id"], m["state"], m["attempts"]) for m in mine] == [(tech_user.id, "failed", 1)]
    assert ok(await hub.client.get("/v1/notifications", headers=scientist)) == []
    everyone = ok(await hub.client.get("/v1/notifications", params={"state": "failed"}, headers=manager))
    assert {m["user_id"] for m in everyone} == {tech_user.id, manager_user.id}

    message_id = mine[0]["id"]
    detail = ok(await hub.client.get(f"/v1/notifications/{message_id}", headers=tech))
    assert detail["subject"] == "[WARNING] Incubator 3 CO₂ low"
    assert [(h["number"], h["outcome"], h["status_code"]) for h in detail["history"]] == [(1, "failed", 422)]
    refused(await hub.client.get(f"/v1/notifications/{message_id}", headers=scientist), 404)

    refused(await hub.client.post(f"/v1/notifications/{message_id}/retry", headers=tech), 403)
    again = ok(await hub.client.post(f"/v1/notifications/{message_id}/retry", headers=manager))
    assert (again["state"], again["attempts"]) == ("queued", 0)
    assert (
        "queued"
        in refused(await hub.client.post(f"/v1/notifications/{message_id}/retry", headers=manager), 409)["detail"]
    )


async def test_a_test_message_reaches_the_channel_now(hub: RunningHub, lab: SeededTenant) -> None:
    manager = hub.auth(lab.users[Role.LAB_MANAGER])
    async with HttpReceiver() as webhook:
        channel = ok(
            await hub.client.post(
                "/v1/notification-channels",
                json={"name": "hook", "config": {"kind": "webhook", "url": webhook.url()}},
                headers=manager,
            ),
            201,
        )
        night = {"language": "fr", "quiet_hours": {"start": "00:00", "end": "23:59"}}
        ok(await hub.client.put("/v1/me/notification-preferences", json=night, headers=manager))
        queued = ok(
            await hub.client.post(f"/v1/notification-channels/{channel['id']}/test", json={}, headers=manager), 202
        )
        assert queued["deferred_until"] is None  # someone is checking the channel: quiet hours do not apply
        notifier = Notifier(hub.state.db)
        try:
            assert await notifier.run_once() == 1
        finally:
            await notifier.aclose()
        [post] = webhook.requests
        assert post.json()["subject"] == "Notification de test TracSeq"
        assert post.headers["idempotency-key"] == queued["id"]

        disable = {"reason": "provider contract ended", "enabled": False}
        ok(await hub.client.patch(f"/v1/notification-channels/{channel['id']}", json=disable, headers=manager))
        refused(await hub.client.post(f"/v1/notification-channels/{channel['id']}/test", json={}, headers=manager), 409)

    async with hub.state.db.transaction() as session:
        await session.execute(update(Notification).values(state="queued"))
    notifier = Notifier(hub.state.db)
    try:
        assert await notifier.run_once() == 0  # a disabled channel's messages wait
    finally:
        await notifier.aclose()
