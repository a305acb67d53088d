"""Notifications for the tenant and role sweep: a webhook channel, and a failed message on it to tenant A's admin.

The channel is disabled once the message is stored, so nothing is sent while the sweep runs (a delivery loop in
the hub would otherwise change the message between the sweep's reads): the retry queues it without sending, and
a test message on it is refused with 409.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from hub.db.base import utcnow
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from hub.notify import configuration, enqueue
from hub.notify.channels.config import WebhookConfig
from tests.integration.hub.harness import RunningHub, SeededTenant

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/notification-channels"): lambda w: {
        "name": "sweep-slack",
        "config": {"kind": "slack", "webhook_url": "https://hooks.example.invalid/services/T0/B0/sweep"},
    },
}


async def seed(hub: RunningHub, tenant: SeededTenant, device_id: str) -> dict[str, str]:
    admin = tenant.users[Role.ADMIN]
    principal = Principal("user", admin.id, tenant.id, admin.username, Role.ADMIN)
    audit = hub.state.audit
    async with hub.state.db.transaction() as session:
        channel = await configuration.create_channel(
            session,
            audit,
            principal,
            name="sweep-webhook",
            config=WebhookConfig(kind="webhook", url=SecretStr("http://127.0.0.1:9/sweep-hook")),
        )
        await configuration.set_preferences(
            session,
            audit,
            principal,
            configuration.Preferences("en", "UTC", None, None, (configuration.Subscription(channel.id),)),
        )
        [message] = await enqueue(
            session,
            tenant_id=tenant.id,
            user_id=admin.id,
            kind="alert.raised",
            severity="warning",
            dedup_key="sweep:freezer:1",
            context={"title": "Sweep freezer above -70 °C"},
        )
        message.state, message.attempts, message.failed_at = "failed", 8, utcnow()
        message.last_error = "the receiver was not there"
        await configuration.update_channel(
            session, audit, principal, channel.id, reason="paused while the sweep runs", enabled=False
        )
    return {"notification_channel_id": channel.id, "notification_id": message.id}
