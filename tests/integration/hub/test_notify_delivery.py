"""The notification outbox against real local providers, on SQLite and PostgreSQL: an SMTP server (aiosmtpd) and
HTTP receivers standing in for Slack, Teams, an SMS provider and a webhook. Nothing of ours is mocked; nothing
leaves the loopback interface."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update

from hub.db.base import utcnow
from hub.db.models import OutboxEvent, User
from hub.db.notifications_models import Notification, NotificationAttempt
from hub.domain.identity import Principal
from hub.domain.permissions import Role
from hub.notify import Backoff, Breakers, Notifier, QuietHours, SmtpRelay, enqueue, record_receipt
from hub.notify import configuration as config
from hub.notify.channels.config import (
    ChannelConfig,
    EmailConfig,
    SlackConfig,
    SmsConfig,
    TeamsConfig,
    WebhookConfig,
)
from tests.integration.hub.harness import RunningHub, SeededUser, hub_settings, running_hub, seed
from tests.integration.hub.notify_receivers import Answer, HttpReceiver, SmtpInbox

pytestmark = pytest.mark.anyio

CONTEXT = {
    "title": "Freezer F-12 above -70 °C",
    "value": "-61.2 °C",
    "limit": "-70 °C",
    "location": "Room 2.14",
    "since": "2025-01-10T02:00:00+00:00",
    "link": "https://hub.lab.example/alerts/1",
}


@pytest.fixture
def smtp_inbox() -> Iterator[SmtpInbox]:
    with SmtpInbox() as inbox:
        yield inbox


@dataclass
class Lab:
    hub: RunningHub
    tenant_id: str
    manager: Principal
    tech: SeededUser
    facilities: SeededUser

    async def channel(self, name: str, settings: ChannelConfig) -> str:
        async with self.hub.state.db.transaction() as session:
            row = await config.create_channel(session, self.hub.state.audit, self.manager, name=name, config=settings)
            return row.id

    async def prefer(
        self,
        user: SeededUser,
        channels: list[tuple[str, str | None]],
        *,
        language: str = "en",
        time_zone: str = "UTC",
        quiet: tuple[str, str] | None = None,
    ) -> None:
        principal = Principal("user", user.id, user.tenant_id, user.username, user.role)
        wanted = config.Preferences(
            language,
            time_zone,
            quiet[0] if quiet else None,
            quiet[1] if quiet else None,
            tuple(config.Subscription(channel_id, address) for channel_id, address in channels),
        )
        async with self.hub.state.db.transaction() as session:
            await config.set_preferences(session, self.hub.state.audit, principal, wanted)

    async def enqueue(
        self, user: SeededUser, dedup_key: str, *, severity: Any = "critical", kind: str = "alert.raised"
    ) -> list[str]:
        async with self.hub.state.db.transaction() as session:
            rows = await enqueue(
                session,
                tenant_id=self.tenant_id,
                user_id=user.id,
                kind=kind,
                severity=severity,
                dedup_key=dedup_key,
                context=CONTEXT,
            )
            return [r.id for r in rows]

    async def messages(self, *ids: str) -> dict[str, Notification]:
        async with self.hub.state.db.read() as session:
            query = select(Notification).where(Notification.tenant_id == self.tenant_id)
            if ids:
                query = query.where(Notification.id.in_(ids))
            return {n.id: n for n in (await session.execute(query)).scalars()}

    async def history(self, message_id: str) -> list[str]:
        async with self.hub.state.db.read() as session:
            rows = await session.execute(
                select(NotificationAttempt.outcome)
                .where(NotificationAttempt.notification_id == message_id)
                .order_by(NotificationAttempt.number, NotificationAttempt.started_at)
            )
            return list(rows.scalars())

    async def events(self, type_: str) -> int:
        async with self.hub.state.db.read() as session:
            query = select(func.count()).where(OutboxEvent.tenant_id == self.tenant_id, OutboxEvent.type == type_)
            return int((await session.execute(query)).scalar_one())

    def notifier(self, **overrides: Any) -> Notifier:
        options: dict[str, Any] = {
            "poll_interval_s": 0.02,
            "lease_s": 3.0,
            "send_timeout_s": 1.0,
            "record_margin_s": 0.5,
            "backoff": Backoff(base_s=0.05, cap_s=0.2, max_attempts=4),
            "breakers": Breakers(threshold=3, cooldown_s=0.5),
            **overrides,
        }
        return Notifier(self.hub.state.db, **options)


@pytest.fixture
async def lab(db_url: str, tmp_path: Path) -> AsyncIterator[Lab]:
    # these tests run their own Notifier, with test timings, and count what it sends
    async with running_hub(hub_settings(db_url, tmp_path, notify_in_process=False)) as hub:
        tenants = await seed(
            hub.state, slugs=("alpha-lab",), roles=(Role.LAB_MANAGER, Role.TECHNICIAN, Role.FACILITIES)
        )
        tenant = tenants["alpha-lab"]
        manager = tenant.users[Role.LAB_MANAGER]
        yield Lab(
            hub,
            tenant.id,
            Principal("user", manager.id, tenant.id, manager.username, Role.LAB_MANAGER),
            tenant.users[Role.TECHNICIAN],
            tenant.users[Role.FACILITIES],
        )


@contextlib.asynccontextmanager
async def delivering(notifier: Notifier) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await notifier.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def hook(url: str) -> WebhookConfig:
    return WebhookConfig(kind="webhook", url=SecretStr(url))


async def test_every_channel_kind_delivers_the_message_in_its_readers_language(lab: Lab, smtp_inbox: SmtpInbox) -> None:
    sms_answer = Answer(200, json.dumps({"id": "sms-0001", "status": "queued"}))
    async with (
        HttpReceiver(then=Answer(200, "ok")) as slack,
        HttpReceiver(then=Answer(202)) as teams,
        HttpReceiver(then=sms_answer) as sms,
        HttpReceiver() as webhook,
    ):
        email_id = await lab.channel(
            "mail",
            EmailConfig(
                kind="email",
                from_address="alerts@lab.example",
                host="127.0.0.1",
                port=smtp_inbox.port,
                security="none",
            ),
        )
        slack_id = await lab.channel("slack", SlackConfig(kind="slack", webhook_url=SecretStr(slack.url())))
        teams_id = await lab.channel("teams", TeamsConfig(kind="teams", webhook_url=SecretStr(teams.url())))
        sms_id = await lab.channel(
            "sms",
            SmsConfig(
                kind="sms", sender="TracSeq", api_url=SecretStr(sms.url("/v1/messages")), api_token=SecretStr("t0k3n")
            ),
        )
        hook_id = await lab.channel("hook", hook(webhook.url()))
        await lab.prefer(
            lab.tech,
            [
                (email_id, "tech@lab.example"),
                (slack_id, "U012AB3CD"),
                (teams_id, None),
                (sms_id, "+4930123456"),
                (hook_id, None),
            ],
            language="de",
            time_zone="Europe/Berlin",
        )
        ids = await lab.enqueue(lab.tech, "alert:1:step:1")
        assert len(ids) == 5

        notifier = lab.notifier()
        try:
            assert await notifier.run_once() == 5
        finally:
            await notifier.aclose()

        messages = {m.channel_kind: m for m in (await lab.messages()).values()}
        [(recipients, mail)] = smtp_inbox.received()
        assert recipients == ["tech@lab.example"]
        assert mail["Subject"] == "[KRITISCH] Freezer F-12 above -70 °C"
        assert mail["Message-ID"] == f"<{messages['email'].id}@tracseq.notify>"
        assert "Seit: 2025-01-10 03:00 CET" in mail.get_content()

        [slack_post] = slack.requests
        assert slack_post.json()["text"].startswith("<@U012AB3CD> *[KRITISCH] Freezer F-12 above -70 °C*")
        [card] = teams.requests
        assert card.json()["attachments"][0]["content"]["body"][0]["text"] == "[KRITISCH] Freezer F-12 above -70 °C"
        [text] = sms.requests
        assert text.headers["authorization"] == "Bearer t0k3n"
        assert text.json()["to"] == "+4930123456"
        assert text.json()["from"] == "TracSeq"
        assert text.json()["reference"] == messages["sms"].id
        [post] = webhook.requests
        assert post.headers["idempotency-key"] == messages["webhook"].id
        assert post.json()["id"] == messages["webhook"].id
        assert post.json()["severity"] == "critical"

    assert {kind: m.state for kind, m in messages.items()} == {
        "email": "sent",
        "slack": "delivered",  # Slack's "ok" means the post is in the channel
        "teams": "sent",
        "sms": "sent",
        "webhook": "sent",
    }
    assert messages["sms"].provider_message_id == "sms-0001"
    async with lab.hub.state.db.transaction() as session:
        receipt = await record_receipt(
            session, tenant_id=lab.tenant_id, channel_id=sms_id, provider_message_id="sms-0001", delivered=True
        )
        assert receipt is not None
    assert (await lab.messages(messages["sms"].id))[messages["sms"].id].state == "delivered"
    assert await lab.events("notification.queued") == 5
    assert await lab.events("notification.sent") == 5
    assert await lab.events("notification.delivered") == 1


async def test_queueing_one_alert_step_twice_stores_one_message_per_channel(lab: Lab) -> None:
    async with HttpReceiver() as webhook:
        await lab.prefer(lab.tech, [(await lab.channel("hook", hook(webhook.url())), None)])
        first = await lab.enqueue(lab.tech, "alert:7:step:1")
        again = await lab.enqueue(lab.tech, "alert:7:step:1")
        assert again == first
        # two transactions at once (a retried saga step racing the first): still one message
        racing = await asyncio.gather(*(lab.enqueue(lab.tech, "alert:7:step:2") for _ in range(2)))
        assert racing[0] == racing[1]
        assert len(await lab.messages()) == 2
        assert await lab.events("notification.queued") == 2

        notifier = lab.notifier()
        try:
            assert await notifier.run_once() == 2
            assert await notifier.run_once() == 0
        finally:
            await notifier.aclose()
        assert len(webhook.requests) == 2


async def test_a_provider_error_is_retried_with_backoff_and_the_message_sent_once(lab: Lab) -> None:
    async with HttpReceiver(script=[Answer(500, "try later")], then=Answer(200)) as webhook:
        await lab.prefer(lab.tech, [(await lab.channel("hook", hook(webhook.url())), None)])
        [message_id] = await lab.enqueue(lab.tech, "alert:2:step:1")
        async with delivering(lab.notifier()):
            await eventually(lambda: _state_is(lab, message_id, "sent"))
        assert webhook.keys() == [message_id, message_id]
        message = (await lab.messages(message_id))[message_id]
        assert message.attempts == 2
        assert message.last_error is None
        assert await lab.history(message_id) == ["retry", "sent"]
        assert await lab.events("notification.sent") == 1


async def test_a_refused_message_fails_at_once_and_a_failing_one_after_its_last_attempt(lab: Lab) -> None:
    async with HttpReceiver(then=Answer(400, "invalid payload")) as refusing, HttpReceiver(then=Answer(503)) as down:
        refused_channel = await lab.channel("refusing", hook(refusing.url()))
        down_channel = await lab.channel("down", hook(down.url()))
        await lab.prefer(lab.tech, [(refused_channel, None), (down_channel, None)])
        ids = await lab.enqueue(lab.tech, "alert:3:step:1")
        notifier = lab.notifier(
            backoff=Backoff(base_s=0.02, cap_s=0.05, max_attempts=3), breakers=Breakers(threshold=10, cooldown_s=1)
        )
        async with delivering(notifier):
            await eventually(lambda: _all_in(lab, ids, "failed"))
        by_channel = {m.channel_id: m for m in (await lab.messages(*ids)).values()}
        assert by_channel[refused_channel].attempts == 1
        assert "400" in (by_channel[refused_channel].last_error or "")
        assert by_channel[down_channel].attempts == 3
        assert len(refusing.requests) == 1
        assert len(down.requests) == 3
        assert await lab.events("notification.failed") == 2


async def test_a_dead_provider_opens_its_breaker_and_the_other_channels_keep_delivering_promptly(lab: Lab) -> None:
    async with HttpReceiver(hang=True) as dead, HttpReceiver(then=Answer(200, "ok")) as slack:
        dead_channel = await lab.channel("dead", hook(dead.url()))
        slack_channel = await lab.channel("slack", SlackConfig(kind="slack", webhook_url=SecretStr(slack.url())))
        await lab.prefer(lab.tech, [(dead_channel, None), (slack_channel, None)])
        notifier = lab.notifier(
            send_timeout_s=0.3, lease_s=2.0, record_margin_s=0.3, breakers=Breakers(threshold=2, cooldown_s=0.6)
        )
        latencies = []
        async with delivering(notifier):
            for step in range(6):
                before = len(slack.requests)
                started = time.monotonic()
                await lab.enqueue(lab.tech, f"alert:4:step:{step}")
                await eventually(functools.partial(_more_than, slack, before), timeout_s=5)
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.1)
        assert len(slack.requests) == 6
        assert max(latencies) < 1.0, latencies
        waiting = [m for m in (await lab.messages()).values() if m.channel_id == dead_channel]
        assert len(waiting) == 6
        assert all(m.state in ("queued", "sending") for m in waiting)
        # two timeouts opened the breaker; after that only the half-open probes spent attempts
        assert sum(m.attempts for m in waiting) <= 2 + 3
        assert sum(1 for m in waiting if m.attempts == 0) >= 2


async def test_a_crashed_notifier_loses_no_message_and_repeats_none(lab: Lab) -> None:
    async with HttpReceiver(delay_s=0.03) as webhook:
        await lab.prefer(lab.tech, [(await lab.channel("hook", hook(webhook.url())), None)])
        ids = [i for step in range(20) for i in await lab.enqueue(lab.tech, f"alert:5:step:{step}")]
        first = lab.notifier(lease_s=1.2, send_timeout_s=0.5, record_margin_s=0.2, batch=20, worker="first")
        stop = asyncio.Event()
        crashing = asyncio.create_task(first.run(stop))
        await eventually(lambda: _at_least(webhook, 5))
        crashing.cancel()  # mid-batch: claimed messages stay leased to a worker that is gone
        with contextlib.suppress(asyncio.CancelledError):
            await crashing
        assert len(webhook.requests) < 20
        async with delivering(lab.notifier(lease_s=1.2, send_timeout_s=0.5, record_margin_s=0.2, worker="second")):
            await eventually(lambda: _all_in(lab, ids, "sent"))
        await first.aclose()
        assert sorted(webhook.keys()) == sorted(ids)  # every message once, none twice
        outcomes = [await lab.history(i) for i in ids]
        assert sum(h.count("abandoned") for h in outcomes) > 0


async def test_two_notifiers_at_once_send_every_message_once(lab: Lab) -> None:
    async with HttpReceiver(delay_s=0.01) as webhook:
        await lab.prefer(lab.tech, [(await lab.channel("hook", hook(webhook.url())), None)])
        ids = [i for step in range(30) for i in await lab.enqueue(lab.tech, f"alert:11:step:{step}")]
        async with (
            delivering(lab.notifier(batch=5, worker="one")),
            delivering(lab.notifier(batch=5, worker="two")),
        ):
            await eventually(lambda: _all_in(lab, ids, "sent"))
        assert sorted(webhook.keys()) == sorted(ids)


async def test_a_message_claimed_by_a_worker_that_died_is_reclaimed_when_its_lease_expires(lab: Lab) -> None:
    async with HttpReceiver() as webhook:
        await lab.prefer(lab.tech, [(await lab.channel("hook", hook(webhook.url())), None)])
        [message_id] = await lab.enqueue(lab.tech, "alert:6:step:1")
        died = lab.notifier(worker="died")
        assert len(await died._claim(set())) == 1  # claimed, then the process is gone
        await died.aclose()

        survivor = lab.notifier(worker="survivor")
        later = lab.notifier(worker="later", clock=lambda: utcnow() + timedelta(seconds=4))
        try:
            assert await survivor.run_once() == 0  # the lease still holds
            assert await later.run_once() == 1
        finally:
            await survivor.aclose()
            await later.aclose()
        assert webhook.keys() == [message_id]
        assert await lab.history(message_id) == ["abandoned", "sent"]


async def test_quiet_hours_hold_back_a_warning_until_they_end_but_never_a_critical_alert(lab: Lab) -> None:
    async with HttpReceiver() as webhook:
        zone = "Europe/Berlin"
        local = datetime.now(ZoneInfo(zone))
        quiet = ((local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M"))
        await lab.prefer(
            lab.tech, [(await lab.channel("hook", hook(webhook.url())), None)], time_zone=zone, quiet=quiet
        )
        [warning] = await lab.enqueue(lab.tech, "alert:8:step:1", severity="warning")
        [critical] = await lab.enqueue(lab.tech, "alert:9:step:1", severity="critical")
        notifier = lab.notifier()
        try:
            assert await notifier.run_once() == 1
        finally:
            await notifier.aclose()
        assert webhook.keys() == [critical]
        held = (await lab.messages(warning))[warning]
        assert held.state == "queued"
        expected_end = QuietHours.of(*quiet, zone).ends_at(utcnow())
        assert expected_end is not None
        assert held.deferred_until == held.due_at
        assert abs((held.due_at - expected_end).total_seconds()) < 120

        assert held.deferred_until is not None
        after_quiet = lab.notifier(clock=lambda: held.due_at + timedelta(seconds=1))
        try:
            assert await after_quiet.run_once() == 1
        finally:
            await after_quiet.aclose()
        assert webhook.keys() == [critical, warning]


async def test_a_user_who_chose_no_channel_gets_email_at_their_account_address(lab: Lab, smtp_inbox: SmtpInbox) -> None:
    assert await lab.enqueue(lab.facilities, "alert:10:step:1") == []  # no channel, no address: nobody reached
    await lab.channel(
        "mail",
        EmailConfig(
            kind="email", from_address="alerts@lab.example", host="127.0.0.1", port=smtp_inbox.port, security="none"
        ),
    )
    async with lab.hub.state.db.transaction() as session:
        await session.execute(update(User).where(User.id == lab.facilities.id).values(email="fac@lab.example"))
    assert len(await lab.enqueue(lab.facilities, "alert:10:step:2")) == 1
    notifier = lab.notifier(smtp=SmtpRelay())
    try:
        assert await notifier.run_once() == 1
    finally:
        await notifier.aclose()
    [(recipients, _mail)] = smtp_inbox.received()
    assert recipients == ["fac@lab.example"]


async def _state_is(lab: Lab, message_id: str, state: str) -> bool:
    return (await lab.messages(message_id))[message_id].state == state


async def _all_in(lab: Lab, ids: list[str], state: str) -> bool:
    return all(m.state == state for m in (await lab.messages(*ids)).values())


async def _more_than(receiver: HttpReceiver, count: int) -> bool:
    return len(receiver.requests) > count


async def _at_least(receiver: HttpReceiver, count: int) -> bool:
    return len(receiver.requests) >= count
