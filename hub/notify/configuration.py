"""What people configure: a tenant's channels (managers) and each user's own preferences. Every change is written
to the audit trail in the caller's transaction, secrets masked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import utcnow
from hub.db.notifications_models import NotificationChannel, NotificationPreference, NotificationSubscription
from hub.domain.identity import Principal
from hub.errors import ConflictError, NotFoundError, ValidationFailedError
from hub.notify.channels.config import ChannelConfig, check_complete, masked, parse, split
from hub.notify.channels.sms import check_phone
from hub.notify.errors import DeliveryError
from hub.notify.outbox import RANK
from hub.notify.quiet import QuietHours, zone
from hub.notify.templates import LANGUAGES


def channel_view(channel: NotificationChannel) -> dict[str, Any]:
    """A channel as it may be shown and audited: its settings, and its secrets masked."""
    return {
        "name": channel.name,
        "kind": channel.kind,
        "enabled": channel.enabled,
        "config": dict(channel.config),
        "secrets": masked(channel.kind, dict(channel.secrets)),
    }


async def get_channel(
    session: AsyncSession, tenant_id: str, channel_id: str, *, for_update: bool = False
) -> NotificationChannel:
    query = select(NotificationChannel).where(
        NotificationChannel.tenant_id == tenant_id, NotificationChannel.id == channel_id
    )
    if for_update:
        query = query.with_for_update()
    channel = (await session.execute(query)).scalar_one_or_none()
    if channel is None:
        raise NotFoundError(f"no notification channel {channel_id}")
    return channel


async def _name_is_free(session: AsyncSession, tenant_id: str, name: str, but: str | None = None) -> None:
    query = select(NotificationChannel.id).where(
        NotificationChannel.tenant_id == tenant_id, NotificationChannel.name == name
    )
    taken = (await session.execute(query)).scalar_one_or_none()
    if taken is not None and taken != but:
        raise ConflictError(f"a notification channel named {name!r} exists")


async def create_channel(
    session: AsyncSession,
    audit: AuditTrail,
    principal: Principal,
    *,
    name: str,
    config: ChannelConfig,
    enabled: bool = True,
) -> NotificationChannel:
    plain, secrets = split(config)
    check_complete(config.kind, secrets)
    await _name_is_free(session, principal.tenant_id, name)
    channel = NotificationChannel(
        tenant_id=principal.tenant_id, name=name, kind=config.kind, config=plain, secrets=secrets, enabled=enabled
    )
    session.add(channel)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create of the same name
        raise ConflictError(f"a notification channel named {name!r} exists") from exc
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.label,
        action="create",
        record_type="notification_channel",
        record_id=channel.id,
        new=channel_view(channel),
    )
    return channel


async def update_channel(
    session: AsyncSession,
    audit: AuditTrail,
    principal: Principal,
    channel_id: str,
    *,
    reason: str,
    name: str | None = None,
    config: ChannelConfig | None = None,
    enabled: bool | None = None,
) -> NotificationChannel:
    """Change a channel. A new ``config`` replaces the settings; secrets it leaves out are kept as they were."""
    channel = await get_channel(session, principal.tenant_id, channel_id, for_update=True)
    old = channel_view(channel)
    if name is not None and name != channel.name:
        await _name_is_free(session, principal.tenant_id, name, but=channel.id)
        channel.name = name
    if config is not None:
        if config.kind != channel.kind:
            raise ValidationFailedError(f"this is a {channel.kind} channel; create a new one for {config.kind}")
        plain, secrets = split(config)
        merged = {**channel.secrets, **secrets}
        check_complete(channel.kind, merged)
        parse(channel.kind, plain, merged)
        channel.config, channel.secrets = plain, merged
    if enabled is not None:
        channel.enabled = enabled
    channel.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.label,
        action="update",
        record_type="notification_channel",
        record_id=channel.id,
        reason=reason,
        old=old,
        new=channel_view(channel),
    )
    return channel


@dataclass(frozen=True)
class Subscription:
    channel_id: str
    address: str | None = None
    min_severity: str = "info"
    enabled: bool = True


@dataclass(frozen=True)
class Preferences:
    language: str
    time_zone: str
    quiet_start: str | None
    quiet_end: str | None
    subscriptions: tuple[Subscription, ...]


async def get_preferences(session: AsyncSession, principal: Principal) -> Preferences:
    row = await session.get(NotificationPreference, principal.id)
    subscriptions = (
        await session.execute(
            select(NotificationSubscription)
            .where(
                NotificationSubscription.tenant_id == principal.tenant_id,
                NotificationSubscription.user_id == principal.id,
            )
            .order_by(NotificationSubscription.created_at, NotificationSubscription.id)
        )
    ).scalars()
    chosen = tuple(Subscription(s.channel_id, s.address, s.min_severity, s.enabled) for s in subscriptions)
    if row is None or row.tenant_id != principal.tenant_id:
        return Preferences("en", "UTC", None, None, chosen)
    return Preferences(row.language, row.time_zone, row.quiet_start, row.quiet_end, chosen)


def _check_address(kind: str, address: str | None) -> None:
    if kind == "sms":
        if not address:
            raise ValidationFailedError("an SMS subscription needs a phone number")
        try:
            check_phone(address)
        except DeliveryError as exc:
            raise ValidationFailedError(exc.detail) from exc
    if kind == "email" and address is not None and ("@" not in address or any(c.isspace() for c in address)):
        raise ValidationFailedError(f"{address!r} is not an e-mail address")


async def set_preferences(
    session: AsyncSession, audit: AuditTrail, principal: Principal, preferences: Preferences
) -> Preferences:
    """Replace the caller's preferences: language, zone, quiet hours and the channels they are reached on."""
    if principal.kind != "user":
        raise ValidationFailedError("only people have notification preferences")
    zone(preferences.time_zone)
    if preferences.language not in LANGUAGES:
        raise ValidationFailedError(f"messages are written in {', '.join(LANGUAGES)}, not {preferences.language!r}")
    if (preferences.quiet_start is None) != (preferences.quiet_end is None):
        raise ValidationFailedError("quiet hours need both a start and an end")
    if preferences.quiet_start is not None and preferences.quiet_end is not None:
        QuietHours.of(preferences.quiet_start, preferences.quiet_end, preferences.time_zone)
    wanted = _check_subscriptions(preferences.subscriptions)
    channels = {
        c.id: c
        for c in (
            await session.execute(
                select(NotificationChannel).where(
                    NotificationChannel.tenant_id == principal.tenant_id, NotificationChannel.id.in_(list(wanted))
                )
            )
        ).scalars()
    }
    unknown = [c for c in wanted if c not in channels]
    if unknown:
        raise NotFoundError(f"no notification channel {', '.join(unknown)}")
    for subscription in preferences.subscriptions:
        _check_address(channels[subscription.channel_id].kind, subscription.address)

    old = await get_preferences(session, principal)
    row = await session.get(NotificationPreference, principal.id, with_for_update=True)
    if row is None:
        row = NotificationPreference(user_id=principal.id, tenant_id=principal.tenant_id)
        session.add(row)
    row.language, row.time_zone = preferences.language, preferences.time_zone
    row.quiet_start, row.quiet_end, row.updated_at = preferences.quiet_start, preferences.quiet_end, utcnow()
    await session.execute(
        delete(NotificationSubscription).where(
            NotificationSubscription.tenant_id == principal.tenant_id,
            NotificationSubscription.user_id == principal.id,
        )
    )
    for subscription in preferences.subscriptions:
        session.add(
            NotificationSubscription(
                tenant_id=principal.tenant_id,
                user_id=principal.id,
                channel_id=subscription.channel_id,
                address=subscription.address,
                min_severity=subscription.min_severity,
                enabled=subscription.enabled,
            )
        )
    await session.flush()
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.label,
        action="set",
        record_type="notification_preferences",
        record_id=principal.id,
        old=_audited(old),
        new=_audited(preferences),
    )
    return await get_preferences(session, principal)


def _check_subscriptions(subscriptions: Sequence[Subscription]) -> list[str]:
    ids = [s.channel_id for s in subscriptions]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ValidationFailedError(f"one subscription per channel; named twice: {', '.join(twice)}")
    bad = sorted({s.min_severity for s in subscriptions} - set(RANK))
    if bad:
        raise ValidationFailedError(f"min_severity is one of {', '.join(RANK)}, not {', '.join(bad)}")
    return ids


def _audited(preferences: Preferences) -> dict[str, Any]:
    """Preferences as the audit trail keeps them: not the addresses (a phone number in a trail that can never be
    edited is personal data that can never be erased), only whether one is set."""
    return {
        "language": preferences.language,
        "time_zone": preferences.time_zone,
        "quiet_hours": [preferences.quiet_start, preferences.quiet_end] if preferences.quiet_start else None,
        "channels": [
            {
                "channel_id": s.channel_id,
                "address_set": s.address is not None,
                "min_severity": s.min_severity,
                "enabled": s.enabled,
            }
            for s in preferences.subscriptions
        ],
    }
