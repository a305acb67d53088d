"""Notifications: the tenant's channels (managers), each person's own preferences, and the messages with their
delivery state. Secrets (webhook URLs, passwords, tokens) go in and never come out whole."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.notifications_models import Notification, NotificationAttempt, NotificationChannel
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import NotFoundError
from hub.notify import configuration, outbox
from hub.notify.channels.config import ChannelConfig, ChannelKind

router = APIRouter(prefix="/v1", tags=["notifications"])

CanReadAlerts = Annotated[Principal, Depends(require(Permission.ALERTS_READ))]
CanManageAlerts = Annotated[Principal, Depends(require(Permission.ALERTS_MANAGE))]

SeverityName = Literal["info", "warning", "critical"]
StateName = Literal["queued", "sending", "sent", "delivered", "failed"]
Id = Annotated[str, Field(max_length=64)]
Clock = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="local time of day, HH:MM")]


class NotificationPublic(BaseModel):
    id: str
    user_id: str
    channel_id: str
    channel_kind: str
    address: str | None
    kind: str
    severity: SeverityName
    dedup_key: str
    language: str
    subject: str
    state: StateName
    attempts: int
    due_at: datetime = Field(description="when it may next go out (while sending: when its lease ends)")
    deferred_until: datetime | None = Field(description="held back by quiet hours until then")
    last_error: str | None
    provider_message_id: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationPublic:
        return cls(
            id=row.id,
            user_id=row.user_id,
            channel_id=row.channel_id,
            channel_kind=row.channel_kind,
            address=row.address,
            kind=row.kind,
            severity=row.severity,
            dedup_key=row.dedup_key,
            language=row.language,
            subject=row.subject,
            state=row.state,
            attempts=row.attempts,
            due_at=row.due_at,
            deferred_until=row.deferred_until,
            last_error=row.last_error,
            provider_message_id=row.provider_message_id,
            created_at=row.created_at,
            sent_at=row.sent_at,
            delivered_at=row.delivered_at,
            failed_at=row.failed_at,
        )


# -- channels -------------------------------------------------------------------------------------------------


class ChannelSummary(BaseModel):
    id: str
    name: str
    kind: ChannelKind
    enabled: bool


class ChannelPublic(ChannelSummary):
    config: dict[str, Any]
    secrets: dict[str, str] = Field(description="each secret masked: a URL's scheme and host, a token's last four")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, channel: NotificationChannel) -> ChannelPublic:
        view = configuration.channel_view(channel)
        return cls(
            id=channel.id,
            name=channel.name,
            kind=channel.kind,
            enabled=channel.enabled,
            config=view["config"],
            secrets=view["secrets"],
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )


ChannelName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w][\w .:-]*$")]


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ChannelName
    config: ChannelConfig
    enabled: bool = True


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=3, max_length=1000, description="why (kept in the audit trail)")]
    name: ChannelName | None = None
    config: Annotated[ChannelConfig | None, Field(description="replaces the settings; omitted secrets are kept")] = None
    enabled: bool | None = None


class TestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: Annotated[str | None, Field(min_length=1, max_length=320)] = None


@router.get("/notification-channels")
async def list_channels(principal: CanReadAlerts, session: ReadSessionDep) -> list[ChannelSummary]:
    """The tenant's channels, to choose from in one's preferences (settings only for managers, one by one)."""
    rows = await session.execute(
        select(NotificationChannel)
        .where(NotificationChannel.tenant_id == principal.tenant_id)
        .order_by(NotificationChannel.name)
    )
    return [ChannelSummary(id=c.id, name=c.name, kind=c.kind, enabled=c.enabled) for c in rows.scalars()]


@router.post("/notification-channels", status_code=201)
async def create_channel(
    body: ChannelCreate, principal: CanManageAlerts, state: StateDep, session: SessionDep
) -> ChannelPublic:
    channel = await configuration.create_channel(
        session, state.audit, principal, name=body.name, config=body.config, enabled=body.enabled
    )
    return ChannelPublic.of(channel)


@router.get("/notification-channels/{notification_channel_id}")
async def get_channel(
    notification_channel_id: Id, principal: CanManageAlerts, session: ReadSessionDep
) -> ChannelPublic:
    return ChannelPublic.of(await configuration.get_channel(session, principal.tenant_id, notification_channel_id))


@router.patch("/notification-channels/{notification_channel_id}")
async def update_channel(
    notification_channel_id: Id, body: ChannelUpdate, principal: CanManageAlerts, state: StateDep, session: SessionDep
) -> ChannelPublic:
    """Rename, reconfigure, enable or disable a channel. A disabled channel's queued messages wait until it is
    enabled again; channels are never deleted, their messages' history refers to them."""
    channel = await configuration.update_channel(
        session,
        state.audit,
        principal,
        notification_channel_id,
        reason=body.reason,
        name=body.name,
        config=body.config,
        enabled=body.enabled,
    )
    return ChannelPublic.of(channel)


@router.post("/notification-channels/{notification_channel_id}/test", status_code=202)
async def send_test(
    notification_channel_id: Id, body: TestRequest, principal: CanManageAlerts, session: SessionDep
) -> NotificationPublic:
    """Queue a test message to yourself on this channel (or to ``address``), now, whatever your quiet hours."""
    row = await outbox.enqueue_test(
        session,
        tenant_id=principal.tenant_id,
        user_id=principal.id,
        channel_id=notification_channel_id,
        address=body.address,
        actor=principal.label,
    )
    return NotificationPublic.of(row)


# -- preferences ----------------------------------------------------------------------------------------------


class QuietHoursModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: Clock
    end: Clock


class SubscriptionModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel_id: Id
    address: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=320,
            description="e-mail address (default: your account's), phone number (+4930…), Slack member id",
        ),
    ] = None
    min_severity: SeverityName = "info"
    enabled: bool = True


class PreferencesModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Literal["en", "de", "fr"] = "en"
    time_zone: Annotated[str, Field(min_length=1, max_length=64, description="IANA zone, e.g. Europe/Berlin")] = "UTC"
    quiet_hours: Annotated[
        QuietHoursModel | None, Field(description="when only critical messages reach you (they wait otherwise)")
    ] = None
    channels: Annotated[list[SubscriptionModel], Field(max_length=20)] = Field(default_factory=list)

    @classmethod
    def of(cls, preferences: configuration.Preferences) -> PreferencesModel:
        quiet = (
            QuietHoursModel(start=preferences.quiet_start, end=preferences.quiet_end)
            if preferences.quiet_start and preferences.quiet_end
            else None
        )
        return cls(
            language=preferences.language,
            time_zone=preferences.time_zone,
            quiet_hours=quiet,
            channels=[
                SubscriptionModel(
                    channel_id=s.channel_id,
                    address=s.address,
                    min_severity=s.min_severity,
                    enabled=s.enabled,
                )
                for s in preferences.subscriptions
            ],
        )


@router.get("/me/notification-preferences")
async def my_preferences(principal: CanReadAlerts, session: ReadSessionDep) -> PreferencesModel:
    return PreferencesModel.of(await configuration.get_preferences(session, principal))


@router.put("/me/notification-preferences")
async def set_my_preferences(
    body: PreferencesModel, principal: CanReadAlerts, state: StateDep, session: SessionDep
) -> PreferencesModel:
    """Replace your preferences. With no channels chosen, alerts reach you by e-mail at your account address."""
    wanted = configuration.Preferences(
        language=body.language,
        time_zone=body.time_zone,
        quiet_start=body.quiet_hours.start if body.quiet_hours else None,
        quiet_end=body.quiet_hours.end if body.quiet_hours else None,
        subscriptions=tuple(
            configuration.Subscription(s.channel_id, s.address, s.min_severity, s.enabled) for s in body.channels
        ),
    )
    return PreferencesModel.of(await configuration.set_preferences(session, state.audit, principal, wanted))


# -- messages -------------------------------------------------------------------------------------------------


class AttemptPublic(BaseModel):
    number: int
    outcome: str
    status_code: int | None
    error: str | None
    worker: str
    started_at: datetime
    finished_at: datetime


class NotificationDetail(NotificationPublic):
    body: str
    history: list[AttemptPublic]


def _visible(principal: Principal) -> Any:
    """Managers see every message of the tenant; everyone else their own (they carry colleagues' addresses)."""
    condition = Notification.tenant_id == principal.tenant_id
    if not principal.can(Permission.ALERTS_MANAGE):
        condition = condition & (Notification.user_id == principal.id)
    return condition


@router.get("/notifications")
async def list_notifications(
    principal: CanReadAlerts,
    session: ReadSessionDep,
    state: StateName | None = None,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    dedup_key: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[NotificationPublic]:
    """Newest first. Yours, or the whole tenant's with ``alerts:manage``."""
    query = select(Notification).where(_visible(principal))
    if state is not None:
        query = query.where(Notification.state == state)
    if user_id is not None:
        query = query.where(Notification.user_id == user_id)
    if dedup_key is not None:
        query = query.where(Notification.dedup_key == dedup_key)
    query = query.order_by(Notification.created_at.desc(), Notification.id).limit(limit).offset(offset)
    return [NotificationPublic.of(row) for row in (await session.execute(query)).scalars()]


async def _visible_one(session: ReadSessionDep, principal: Principal, notification_id: str) -> Notification:
    row = (
        await session.execute(select(Notification).where(_visible(principal), Notification.id == notification_id))
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no notification {notification_id}")
    return row


@router.get("/notifications/{notification_id}")
async def get_notification(
    notification_id: Id, principal: CanReadAlerts, session: ReadSessionDep
) -> NotificationDetail:
    """One message with its text and every delivery attempt."""
    row = await _visible_one(session, principal, notification_id)
    attempts = (
        await session.execute(
            select(NotificationAttempt)
            .where(NotificationAttempt.tenant_id == principal.tenant_id, NotificationAttempt.notification_id == row.id)
            .order_by(NotificationAttempt.number, NotificationAttempt.started_at)
        )
    ).scalars()
    return NotificationDetail(
        **NotificationPublic.of(row).model_dump(),
        body=row.body,
        history=[
            AttemptPublic(
                number=a.number,
                outcome=a.outcome,
                status_code=a.status_code,
                error=a.error,
                worker=a.worker,
                started_at=a.started_at,
                finished_at=a.finished_at,
            )
            for a in attempts
        ],
    )


@router.post("/notifications/{notification_id}/retry")
async def retry_notification(
    notification_id: Id, principal: CanManageAlerts, state: StateDep, session: SessionDep
) -> NotificationPublic:
    """Send a failed message again, with a fresh round of attempts. 409 unless it failed."""
    row = await outbox.requeue(session, principal.tenant_id, notification_id, actor=principal.label)
    await state.audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.label,
        action="retry",
        record_type="notification",
        record_id=row.id,
        new={"state": row.state, "channel": row.channel_kind, "user_id": row.user_id},
    )
    return NotificationPublic.of(row)
