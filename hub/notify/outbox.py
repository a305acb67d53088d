"""The notification outbox: messages are stored, in the caller's transaction, before anything is sent.

``enqueue`` is what the alerts module calls for each escalation step. It is idempotent on (tenant, dedup key,
user, channel): a step queued twice (a retried saga step, a restarted hub) creates nothing new. Each stored message
is rendered in its reader's language, scheduled past their quiet hours unless critical, and recorded as a
``notification.queued`` event in the same transaction; the delivery loop (``hub.notify.delivery``) is woken when
the transaction commits.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from hub.audit.trail import log_value
from hub.db.base import new_id, utcnow
from hub.db.models import User
from hub.db.notifications_models import (
    Notification,
    NotificationChannel,
    NotificationPreference,
    NotificationSubscription,
)
from hub.errors import ConflictError, NotFoundError, ValidationFailedError
from hub.events.outbox import record_event
from hub.notify.quiet import SEVERITIES, QuietHours, send_at, zone
from hub.notify.templates import Rendered, render

logger = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
PRIORITY = {"critical": 0, "warning": 1, "info": 2}
STATES = ("queued", "sending", "sent", "delivered", "failed")
MAX_DEDUP_KEY = 200
MAX_KIND = 64


class Wakeable(Protocol):
    def wake(self) -> None: ...


_waiting: weakref.WeakSet[Any] = weakref.WeakSet()  # delivery loops of this process, woken on commit
_HOOKED = "hub.notify.wake_on_commit"


def listen_for_commits(loop: Wakeable) -> None:
    _waiting.add(loop)


def stop_listening(loop: Wakeable) -> None:
    _waiting.discard(loop)


def _wake_all(_session: Session) -> None:
    for loop in list(_waiting):
        loop.wake()


def wake_on_commit(session: AsyncSession) -> None:
    """When ``session`` commits, wake this process's delivery loops (other processes find the messages when
    they next poll)."""
    sync = session.sync_session
    if not sync.info.get(_HOOKED):
        event.listen(sync, "after_commit", _wake_all)
        sync.info[_HOOKED] = True


def _insert(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def _targets(
    session: AsyncSession, user: User, severity: str, channels: Sequence[str] | None
) -> list[tuple[NotificationChannel, str | None]]:
    """The user's channels for this severity (and ``channels``, kinds or channel ids, when given); a user who has
    chosen none gets e-mail at their account address on the tenant's first enabled e-mail channel."""
    rows = (
        await session.execute(
            select(NotificationSubscription, NotificationChannel)
            .join(NotificationChannel, NotificationChannel.id == NotificationSubscription.channel_id)
            .where(NotificationSubscription.tenant_id == user.tenant_id, NotificationSubscription.user_id == user.id)
            .order_by(NotificationChannel.name)
        )
    ).all()
    if not rows and user.email:
        fallback = (
            await session.execute(
                select(NotificationChannel)
                .where(
                    NotificationChannel.tenant_id == user.tenant_id,
                    NotificationChannel.kind == "email",
                    NotificationChannel.enabled.is_(True),
                )
                .order_by(NotificationChannel.name)
                .limit(1)
            )
        ).scalar_one_or_none()
        candidates: list[tuple[NotificationChannel, str | None, str, bool]] = (
            [] if fallback is None else [(fallback, user.email, "info", True)]
        )
    else:
        candidates = [(c, s.address, s.min_severity, s.enabled) for s, c in rows]
    found: list[tuple[NotificationChannel, str | None]] = []
    for channel, address, min_severity, enabled in candidates:
        if not (enabled and channel.enabled) or RANK[severity] < RANK.get(min_severity, 0):
            continue
        if channels is not None and channel.kind not in channels and channel.id not in channels:
            continue
        to = address or (user.email if channel.kind == "email" else None)
        if channel.kind in ("email", "sms") and not to:
            continue
        found.append((channel, to))
    return found


def _reading_time(preference: NotificationPreference | None) -> tuple[ZoneInfo, QuietHours | None]:
    """The reader's zone and quiet hours; preferences that no longer parse (a zone gone from the time zone
    database) must not stop an alert, so they fall back to UTC and no quiet hours."""
    if preference is None:
        return ZoneInfo("UTC"), None
    try:
        tz = zone(preference.time_zone)
        if preference.quiet_start and preference.quiet_end:
            return tz, QuietHours.of(preference.quiet_start, preference.quiet_end, preference.time_zone)
        return tz, None
    except ValidationFailedError:
        logger.warning("the notification preferences of user %s do not parse; using UTC", preference.user_id)
        return ZoneInfo("UTC"), None


async def _store(
    session: AsyncSession,
    *,
    tenant_id: str,
    user_id: str,
    channel: NotificationChannel,
    address: str | None,
    kind: str,
    severity: str,
    dedup_key: str,
    text: Rendered,
    context: Mapping[str, Any],
    due: datetime,
    now: datetime,
    actor: str | None,
) -> str | None:
    """Insert one message unless (tenant, dedup key, user, channel) is stored already; its id, or None."""
    message_id = new_id()
    statement = (
        _insert(session.get_bind().dialect.name)(Notification)
        .values(
            id=message_id,
            tenant_id=tenant_id,
            user_id=user_id,
            channel_id=channel.id,
            channel_kind=channel.kind,
            address=address,
            kind=kind,
            severity=severity,
            priority=PRIORITY[severity],
            dedup_key=dedup_key,
            language=text.language,
            subject=text.subject,
            body=text.body,
            context=log_value(dict(context)),
            state="queued",
            attempts=0,
            due_at=due,
            deferred_until=due if due > now else None,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedup_key", "user_id", "channel_id"])
        .returning(Notification.id)
    )
    if (await session.execute(statement)).scalar_one_or_none() is None:
        return None  # this step was queued before
    record_event(
        session,
        tenant_id=tenant_id,
        type="notification.queued",
        subject_type="notification",
        subject_id=message_id,
        actor=actor,
        payload={
            "user_id": user_id,
            "channel": channel.kind,
            "kind": kind,
            "severity": severity,
            "dedup_key": dedup_key,
            "due_at": due,
        },
    )
    return message_id


async def enqueue(
    session: AsyncSession,
    *,
    tenant_id: str,
    user_id: str,
    kind: str,
    severity: Severity,
    dedup_key: str,
    context: Mapping[str, Any],
    channels: Sequence[str] | None = None,
    actor: str | None = "system:alerts",
    now: datetime | None = None,
) -> list[Notification]:
    """Store one message per channel the user receives ``severity`` on; returns every message stored for
    (``dedup_key``, user), including those an earlier call stored. Nothing is sent here; an empty list means the
    user cannot be reached (disabled, or no channel fits): the caller should go on up the chain."""
    if severity not in RANK:
        raise ValidationFailedError(f"severity is one of {', '.join(SEVERITIES)}, not {severity!r}")
    if not dedup_key or len(dedup_key) > MAX_DEDUP_KEY:
        raise ValidationFailedError(f"a dedup key is 1 to {MAX_DEDUP_KEY} characters")
    if not kind or len(kind) > MAX_KIND:
        raise ValidationFailedError(f"a notification kind is 1 to {MAX_KIND} characters")
    user = (
        await session.execute(select(User).where(User.tenant_id == tenant_id, User.id == user_id))
    ).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    if user.disabled:
        logger.warning("not notifying %s (%s): the account is disabled", user.username, dedup_key)
        return []
    targets = await _targets(session, user, severity, channels)
    if not targets:
        logger.warning("no channel reaches %s for a %s %s (%s)", user.username, severity, kind, dedup_key)
    else:
        preference = await session.get(NotificationPreference, user_id)
        tz, quiet = _reading_time(preference)
        moment = now or utcnow()
        due = send_at(severity, quiet, moment)
        text = render(kind, severity, preference.language if preference else None, context, tz)
        for channel, address in targets:
            await _store(
                session,
                tenant_id=tenant_id,
                user_id=user_id,
                channel=channel,
                address=address,
                kind=kind,
                severity=severity,
                dedup_key=dedup_key,
                text=text,
                context=context,
                due=due,
                now=moment,
                actor=actor,
            )
        wake_on_commit(session)
    return list(
        (
            await session.execute(
                select(Notification)
                .where(
                    Notification.tenant_id == tenant_id,
                    Notification.dedup_key == dedup_key,
                    Notification.user_id == user_id,
                )
                .order_by(Notification.channel_kind, Notification.channel_id)
            )
        ).scalars()
    )


async def enqueue_test(
    session: AsyncSession,
    *,
    tenant_id: str,
    user_id: str,
    channel_id: str,
    address: str | None,
    actor: str,
    now: datetime | None = None,
) -> Notification:
    """A test message to ``user_id`` on one channel, now: quiet hours and subscriptions do not apply (someone
    is checking the channel). ``address`` defaults to the user's address on the channel, then their e-mail."""
    channel = (
        await session.execute(
            select(NotificationChannel).where(
                NotificationChannel.tenant_id == tenant_id, NotificationChannel.id == channel_id
            )
        )
    ).scalar_one_or_none()
    if channel is None:
        raise NotFoundError(f"no notification channel {channel_id}")
    if not channel.enabled:
        raise ConflictError(f"the channel {channel.name!r} is disabled; enable it to test it")
    user = (await session.execute(select(User).where(User.tenant_id == tenant_id, User.id == user_id))).scalar_one()
    if address is None:
        address = (
            await session.execute(
                select(NotificationSubscription.address).where(
                    NotificationSubscription.tenant_id == tenant_id,
                    NotificationSubscription.user_id == user_id,
                    NotificationSubscription.channel_id == channel_id,
                )
            )
        ).scalar_one_or_none() or (user.email if channel.kind == "email" else None)
    if channel.kind in ("email", "sms") and not address:
        raise ValidationFailedError(f"give an address to send a test {channel.kind} to")
    preference = await session.get(NotificationPreference, user_id)
    language = preference.language if preference else None
    moment = now or utcnow()
    text = render("test", "info", language, {"channel": channel.name})
    message_id = await _store(
        session,
        tenant_id=tenant_id,
        user_id=user_id,
        channel=channel,
        address=address,
        kind="test",
        severity="info",
        dedup_key=f"test:{new_id()}",
        text=text,
        context={"channel": channel.name},
        due=moment,
        now=moment,
        actor=actor,
    )
    wake_on_commit(session)
    return await get_notification(session, tenant_id, str(message_id))


async def get_notification(
    session: AsyncSession, tenant_id: str, notification_id: str, *, for_update: bool = False
) -> Notification:
    query = select(Notification).where(Notification.tenant_id == tenant_id, Notification.id == notification_id)
    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no notification {notification_id}")
    return row


async def requeue(
    session: AsyncSession, tenant_id: str, notification_id: str, *, actor: str, now: datetime | None = None
) -> Notification:
    """Send a failed message again, with a fresh round of attempts (its earlier attempts stay on record)."""
    row = await get_notification(session, tenant_id, notification_id, for_update=True)
    if row.state != "failed":
        raise ConflictError(f"only a failed notification is retried; this one is {row.state}", state=row.state)
    moment = now or utcnow()
    row.state, row.attempts, row.due_at, row.failed_at, row.updated_at = "queued", 0, moment, None, moment
    record_event(
        session,
        tenant_id=tenant_id,
        type="notification.queued",
        subject_type="notification",
        subject_id=row.id,
        actor=actor,
        payload={"user_id": row.user_id, "channel": row.channel_kind, "retry": True, "due_at": moment},
    )
    wake_on_commit(session)
    return row


async def record_receipt(
    session: AsyncSession,
    *,
    tenant_id: str,
    channel_id: str,
    provider_message_id: str,
    delivered: bool,
    error: str | None = None,
    now: datetime | None = None,
) -> Notification | None:
    """A provider's delivery receipt (an SMS delivery report): the sent message becomes delivered, or failed
    with the provider's reason. Receipts for unknown or already settled messages change nothing."""
    row = (
        await session.execute(
            select(Notification)
            .where(
                Notification.tenant_id == tenant_id,
                Notification.channel_id == channel_id,
                Notification.provider_message_id == provider_message_id,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None or row.state != "sent":
        return row
    moment = now or utcnow()
    row.updated_at = moment
    if delivered:
        row.state, row.delivered_at = "delivered", moment
    else:
        row.state, row.failed_at, row.last_error = "failed", moment, error or "the provider could not deliver it"
    record_event(
        session,
        tenant_id=tenant_id,
        type="notification.delivered" if delivered else "notification.failed",
        subject_type="notification",
        subject_id=row.id,
        actor="system:notifier",
        payload={"channel": row.channel_kind, "error": None if delivered else row.last_error},
    )
    return row
