"""The delivery loop: claim due messages under a lease, send them, record what happened.

Claiming takes a batch of due messages in one transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers
take different rows; SQLite's ``BEGIN IMMEDIATE`` serialises claims) and marks them ``sending`` with a lease. Each
channel's messages then go out one after another in a task of their own, so a slow or dead provider holds up only
its own channel; once its circuit breaker opens, its messages are put back without spending attempts.

A send is started only when it will end (``send_timeout_s``) well inside the lease, so no other worker re-claims a
message while it is being sent. Each send and the record of its outcome run shielded: stopping or cancelling the
loop cuts off no send whose outcome would then go unrecorded, and messages claimed but not yet sent are re-claimed
when their lease expires. Only a process that dies between a provider's answer and the commit of that answer can
cause a second send; every channel then passes the message id as an idempotency key (``Idempotency-Key`` header,
the e-mail ``Message-ID``, the SMS ``reference``) for receivers that drop repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import Database, utcnow
from hub.db.notifications_models import Notification, NotificationAttempt, NotificationChannel
from hub.events.outbox import record_event
from hub.notify.backoff import Backoff
from hub.notify.breaker import Breakers
from hub.notify.channels import Channel, Outgoing, Receipt, SmtpRelay, standard_channels
from hub.notify.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from hub.notify.outbox import listen_for_commits, stop_listening

logger = logging.getLogger(__name__)

ACTOR = "system:notifier"


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"[:128]


@dataclass(frozen=True)
class Claimed:
    message: Outgoing
    attempt: int
    lease_until: datetime

    @property
    def breaker_key(self) -> tuple[str, str]:
        return (self.message.tenant_id, self.message.channel_id)


@dataclass(frozen=True)
class Outcome:
    receipt: Receipt | None = None
    error: DeliveryError | None = None


class Notifier:
    """Delivers the notification outbox of one database. ``run`` until ``stop``; ``run_once`` for one batch.

    ``channels`` maps a channel kind to its sender (default: the standard ones over one httpx client).
    ``clock`` gives aware UTC times; ``breakers`` has its own monotonic clock.
    """

    def __init__(
        self,
        db: Database,
        *,
        channels: Mapping[str, Channel] | None = None,
        smtp: SmtpRelay | None = None,
        sms_api_url: str | None = None,
        poll_interval_s: float = 0.1,
        batch: int = 50,
        lease_s: float = 60.0,
        send_timeout_s: float = 10.0,
        record_margin_s: float = 1.0,
        max_channels_in_flight: int = 32,
        backoff: Backoff | None = None,
        breakers: Breakers[tuple[str, str]] | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker: str | None = None,
    ) -> None:
        if lease_s <= send_timeout_s + record_margin_s:
            raise ValueError("the lease must outlast a send and the record of its outcome")
        self.db = db
        self._client: httpx.AsyncClient | None = None
        if channels is None:
            self._client = httpx.AsyncClient(timeout=send_timeout_s, follow_redirects=False)
            channels = standard_channels(self._client, smtp=smtp, sms_api_url=sms_api_url, timeout_s=send_timeout_s)
        self.channels = dict(channels)
        self.poll_interval_s = poll_interval_s
        self.batch = batch
        self.lease = timedelta(seconds=lease_s)
        self.send_timeout_s = send_timeout_s
        self.record_margin = timedelta(seconds=record_margin_s)
        self.max_channels_in_flight = max_channels_in_flight
        self.backoff = backoff or Backoff()
        self.breakers: Breakers[tuple[str, str]] = breakers or Breakers()
        self.clock = clock
        self.worker = worker or default_worker_name()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy: dict[str, asyncio.Task[int]] = {}  # channel id → the task sending its messages
        self._inflight: set[asyncio.Task[Any]] = set()  # shielded sends, finished even when the loop is cancelled
        self._stopping = False

    # -- the loop ----------------------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due messages now (called when a transaction that queued messages commits)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._wake.set)

    async def run_once(self) -> int:
        """Claim one batch, deliver it, and return how many messages were attempted."""
        self._loop = asyncio.get_running_loop()
        tasks = await self._dispatch()
        return sum(await asyncio.gather(*tasks)) if tasks else 0

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop``: in-flight sends finish and are recorded; unsent claims are put back."""
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        listen_for_commits(self)
        failing = False
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    dispatched = await self._dispatch()
                    if failing:
                        logger.info("the notification delivery loop recovered")
                    failing = False
                except Exception:
                    if not failing:  # once per outage
                        logger.exception("the notification delivery loop failed; retrying until it recovers")
                    failing = True
                    dispatched = []
                if not dispatched:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
            self._stopping = True
            await self.drain()
        finally:
            stop_listening(self)
            for task in list(self._busy.values()):  # cancelled: their shielded sends still finish
                task.cancel()

    async def drain(self) -> None:
        """Wait for every channel task and every shielded send of this notifier."""
        while self._busy or self._inflight:
            await asyncio.gather(*self._busy.values(), *self._inflight, return_exceptions=True)

    async def aclose(self) -> None:
        self._stopping = True
        await self.drain()
        if self._client is not None:
            await self._client.aclose()

    async def _dispatch(self) -> list[asyncio.Task[int]]:
        if len(self._busy) >= self.max_channels_in_flight:
            return []
        exclude = {channel for _tenant, channel in self.breakers.blocked()} | set(self._busy)
        if not await self._anything_due(exclude):
            return []
        claimed = await self._claim(exclude)
        by_channel: dict[str, list[Claimed]] = {}
        for item in claimed:
            by_channel.setdefault(item.message.channel_id, []).append(item)
        tasks = []
        for channel_id, items in by_channel.items():
            task = asyncio.create_task(self._deliver_channel(items), name=f"notify:{channel_id}")
            self._busy[channel_id] = task
            task.add_done_callback(functools.partial(self._finished, channel_id))
            tasks.append(task)
        return tasks

    def _finished(self, channel_id: str, _task: asyncio.Task[int]) -> None:
        self._busy.pop(channel_id, None)
        self._wake.set()  # the channel may have more waiting

    # -- claiming ----------------------------------------------------------------------------------------------

    def _due(self, now: datetime, exclude: set[str]) -> Any:
        query = (
            select(Notification, NotificationChannel)
            .join(NotificationChannel, NotificationChannel.id == Notification.channel_id)
            .where(
                Notification.state.in_(("queued", "sending")),
                Notification.due_at <= now,
                NotificationChannel.enabled.is_(True),
            )
        )
        if exclude:
            query = query.where(Notification.channel_id.not_in(sorted(exclude)))
        return query

    async def _anything_due(self, exclude: set[str]) -> bool:
        """A read-only look first: on SQLite a claim takes the write lock, which an idle poll should not."""
        async with self.db.read() as session:
            query = self._due(self.clock(), exclude).with_only_columns(Notification.id).limit(1)
            return (await session.execute(query)).first() is not None

    async def _claim(self, exclude: set[str]) -> list[Claimed]:
        now = self.clock()
        claimed: list[Claimed] = []
        async with self.db.transaction() as session:
            query = (
                self._due(now, exclude)
                .order_by(Notification.priority, Notification.due_at)
                .limit(self.batch)
                .with_for_update(skip_locked=True, of=Notification)
            )
            for row, channel in (await session.execute(query)).all():
                if row.state == "sending" and not self._abandoned(session, row, now):
                    continue
                row.state, row.lease_owner, row.due_at, row.updated_at = "sending", self.worker, now + self.lease, now
                claimed.append(Claimed(self._outgoing(row, channel), row.attempts + 1, now + self.lease))
        return claimed

    def _abandoned(self, session: AsyncSession, row: Notification, now: datetime) -> bool:
        """A message whose lease expired: its worker stopped before recording an outcome. That counts as an
        attempt (it may have been sent); returns whether attempts remain."""
        row.attempts += 1
        self._attempt_record(
            session,
            row,
            "abandoned",
            now,
            now,
            f"the lease of {row.lease_owner} expired before an outcome was recorded",
        )
        if self.backoff.exhausted(row.attempts):
            self._fail(session, row, now, "no attempts left (the last ones were abandoned by stopped workers)")
            return False
        return True

    @staticmethod
    def _outgoing(row: Notification, channel: NotificationChannel) -> Outgoing:
        return Outgoing(
            id=row.id,
            tenant_id=row.tenant_id,
            channel_id=row.channel_id,
            channel_name=channel.name,
            channel_kind=channel.kind,
            address=row.address,
            kind=row.kind,
            severity=row.severity,
            subject=row.subject,
            body=row.body,
            context=dict(row.context),
            created_at=row.created_at,
            config=dict(channel.config),
            secrets=dict(channel.secrets),
        )

    # -- sending -----------------------------------------------------------------------------------------------

    async def _deliver_channel(self, items: list[Claimed]) -> int:
        attempted = 0
        for index, item in enumerate(items):
            if self._stopping:
                await self._shielded(self._release_all(items[index:]))
                break
            enough_time = self.clock() + timedelta(seconds=self.send_timeout_s) + self.record_margin < item.lease_until
            if not enough_time or not self.breakers.allow(item.breaker_key):
                # the rest share this channel and lease: back they go, to be claimed when the channel is ready
                await self._shielded(self._release_all(items[index:]))
                break
            await self._shielded(self._attempt(item))
            attempted += 1
        return attempted

    async def _shielded(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        await asyncio.shield(task)

    async def _attempt(self, item: Claimed) -> None:
        started = self.clock()
        outcome = await self._send(item.message)
        if outcome.error is None or isinstance(outcome.error, PermanentDeliveryError):
            self.breakers.success(item.breaker_key)  # a refused recipient still means the provider answers
        else:
            self.breakers.failure(item.breaker_key)
        await self._with_retries(lambda session: self._record(session, item, outcome, started), item.message.id)

    async def _send(self, message: Outgoing) -> Outcome:
        channel = self.channels.get(message.channel_kind)
        if channel is None:
            return Outcome(error=PermanentDeliveryError(f"this hub cannot send {message.channel_kind} messages"))
        try:
            async with asyncio.timeout(self.send_timeout_s):
                return Outcome(receipt=await channel.send(message))
        except DeliveryError as exc:
            return Outcome(error=exc)
        except TimeoutError:
            return Outcome(error=RetryableDeliveryError(f"no answer within {self.send_timeout_s:g} s"))
        except Exception as exc:  # a bug in a sender must not stop the loop; the message is retried
            logger.exception("sending notification %s over %s failed unexpectedly", message.id, message.channel_kind)
            return Outcome(error=RetryableDeliveryError(f"internal error: {type(exc).__name__}"))

    async def _with_retries(self, write: Callable[[AsyncSession], Awaitable[None]], message_id: str) -> None:
        for attempt in range(1, 4):
            try:
                async with self.db.transaction() as session:
                    await write(session)
                return
            except Exception:
                if attempt == 3:
                    logger.exception(
                        "could not record the outcome of notification %s; its lease will expire", message_id
                    )
                    return
                await asyncio.sleep(0.2 * attempt)

    async def _owned(self, session: AsyncSession, message_id: str) -> Notification | None:
        row = await session.get(Notification, message_id, with_for_update=True)
        if row is None or row.state != "sending" or row.lease_owner != self.worker:
            return None  # re-claimed by another worker after our lease ran out, or settled: theirs now
        return row

    async def _record(self, session: AsyncSession, item: Claimed, outcome: Outcome, started: datetime) -> None:
        row = await session.get(Notification, item.message.id, with_for_update=True)
        if row is None or row.state in ("sent", "delivered", "failed"):
            return
        now = self.clock()
        receipt, error = outcome.receipt, outcome.error
        if receipt is not None:
            row.attempts, row.lease_owner, row.updated_at = item.attempt, None, now
            row.state = "delivered" if receipt.delivered else "sent"
            row.sent_at, row.last_error = now, None
            row.delivered_at = now if receipt.delivered else None
            row.provider_message_id = receipt.provider_message_id
            self._attempt_record(session, row, row.state, started, now, None, receipt.status_code)
            record_event(
                session,
                tenant_id=row.tenant_id,
                type="notification.sent",
                subject_type="notification",
                subject_id=row.id,
                actor=ACTOR,
                payload={"channel": row.channel_kind, "attempts": row.attempts, "delivered": receipt.delivered},
            )
            return
        if error is None:
            return
        if row.state != "sending" or row.lease_owner != self.worker:
            return  # re-claimed by another worker after our lease ran out: its attempt will be recorded
        row.attempts, row.lease_owner, row.updated_at = item.attempt, None, now
        retry = isinstance(error, RetryableDeliveryError) and not self.backoff.exhausted(item.attempt)
        self._attempt_record(
            session, row, "retry" if retry else "failed", started, now, error.detail, error.status_code
        )
        if retry:
            delay = self.backoff.delay(item.attempt, retry_after_s=error.retry_after_s)
            row.state, row.due_at, row.last_error = "queued", now + timedelta(seconds=delay), error.detail
        else:
            self._fail(session, row, now, error.detail)

    def _fail(self, session: AsyncSession, row: Notification, now: datetime, error: str) -> None:
        row.state, row.failed_at, row.last_error, row.lease_owner, row.updated_at = "failed", now, error, None, now
        logger.warning("notification %s over %s failed for good: %s", row.id, row.channel_kind, error)
        record_event(
            session,
            tenant_id=row.tenant_id,
            type="notification.failed",
            subject_type="notification",
            subject_id=row.id,
            actor=ACTOR,
            payload={"channel": row.channel_kind, "attempts": row.attempts, "error": error},
        )

    def _attempt_record(
        self,
        session: AsyncSession,
        row: Notification,
        outcome: str,
        started: datetime,
        finished: datetime,
        error: str | None,
        status_code: int | None = None,
    ) -> None:
        session.add(
            NotificationAttempt(
                tenant_id=row.tenant_id,
                notification_id=row.id,
                number=row.attempts,
                worker=self.worker,
                outcome=outcome,
                status_code=status_code,
                error=error,
                started_at=started,
                finished_at=finished,
            )
        )

    async def _release_all(self, items: list[Claimed]) -> None:
        """Put claimed messages back, unsent and without spending an attempt."""

        async def write(session: AsyncSession) -> None:
            now = self.clock()
            for item in items:
                row = await self._owned(session, item.message.id)
                if row is not None:
                    row.state, row.lease_owner, row.due_at, row.updated_at = "queued", None, now, now

        await self._with_retries(write, items[0].message.id)
