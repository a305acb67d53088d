"""Signed webhooks for facilities: every alert change, POSTed to each subscription, stored before it is sent.

Signature: ``X-TracSeq-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`` with the timestamp (Unix
seconds) in ``X-TracSeq-Timestamp``: a receiver recomputes it over the exact bytes it received (never a re-encoding)
and refuses a timestamp outside its tolerance, which stops replays. ``X-TracSeq-Event-Id`` is the same on every
retry of one change, so a receiver can drop duplicates.

Delivery is at least once: a delivery is claimed under a lease (its next attempt moved past the send), sent, and
its outcome recorded; a crash mid-send sends it again after the lease. 2xx delivers; 408, 429, 5xx and network
errors retry with exponential backoff up to ``max_attempts``; any other answer fails it for good (the receiver
said no, and asking again will not change that).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import log_value
from hub.db.alerts_models import AlertWebhook, AlertWebhookDelivery
from hub.db.base import Database, new_id, utcnow
from hub.errors import ValidationFailedError
from hub.events.bus import EventEnvelope

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-TracSeq-Signature"
TIMESTAMP_HEADER = "X-TracSeq-Timestamp"
EVENT_ID_HEADER = "X-TracSeq-Event-Id"
EVENT_TYPE_HEADER = "X-TracSeq-Event"
_RETRY_STATUSES = {408, 429}


class WebhookSignatureError(ValidationFailedError):
    """A webhook body whose signature or timestamp does not check out (for receivers, and our tests)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> None:
    """Nothing when ``signature`` is ours over ``body`` at ``timestamp`` within ``tolerance`` of ``now``; raises
    ``WebhookSignatureError`` naming what failed otherwise."""
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise WebhookSignatureError(f"{TIMESTAMP_HEADER} is not a Unix time: {timestamp!r}") from exc
    skew = abs(now.timestamp() - sent)
    if skew > tolerance.total_seconds():
        raise WebhookSignatureError(f"{TIMESTAMP_HEADER} is {skew:.0f} s away from now (tolerance {tolerance})")
    expected = sign(secret, sent, body)
    if not hmac.compare_digest(expected, signature):
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} does not match the body (expected {expected[:15]}…)")


def body_of(event: EventEnvelope) -> bytes:
    document = {
        "id": event.event_id,
        "type": event.type,
        "offset": event.offset,
        "created_at": event.created_at.isoformat(),
        "alert": log_value(event.payload),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def backoff(attempt: int, base: timedelta, cap: timedelta) -> timedelta:
    """The wait after failed attempt ``attempt`` (1, 2, …): base, 2×base, 4×base… never above ``cap``."""
    grown: timedelta = base * (2 ** max(0, attempt - 1))
    return min(cap, grown)


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in _RETRY_STATUSES or self.status >= 500


class WebhookDispatch:
    def __init__(
        self,
        db: Database,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=2),
        backoff_cap: timedelta = timedelta(minutes=10),
        lease: timedelta = timedelta(seconds=60),
        batch: int = 20,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.transport = transport
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.lease = lease
        self.batch = batch
        self.clock = clock
        self._client: httpx.AsyncClient | None = None

    async def record(self, session: AsyncSession, event: EventEnvelope) -> None:
        """Store one delivery per enabled subscription of the tenant that wants this change (exactly once per
        event: the subscriber's offset moves in this transaction, and (subscription, event) is unique)."""
        if not event.type.startswith("alert."):
            return
        rows = await session.execute(
            select(AlertWebhook).where(AlertWebhook.tenant_id == event.tenant_id, AlertWebhook.enabled.is_(True))
        )
        body = body_of(event)
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        for subscription in rows.scalars():
            wanted = subscription.event_types.get("types") or []
            if wanted and event.type not in wanted:
                continue
            statement = dialect.insert(AlertWebhookDelivery).values(
                id=new_id(),
                tenant_id=event.tenant_id,
                subscription_id=subscription.id,
                event_id=event.event_id,
                event_type=event.type,
                body=body,
                status="pending",
                attempts=0,
                next_attempt_at=self.clock(),
                created_at=self.clock(),
            )
            await session.execute(statement.on_conflict_do_nothing(index_elements=["subscription_id", "event_id"]))

    async def deliver_due(self) -> int:
        """Claim the deliveries due now, send them side by side, record each outcome; returns how many went out."""
        now = self.clock()
        async with self.db.read() as session:
            due = (
                (
                    await session.execute(
                        select(AlertWebhookDelivery.id)
                        .where(AlertWebhookDelivery.status == "pending", AlertWebhookDelivery.next_attempt_at <= now)
                        .order_by(AlertWebhookDelivery.next_attempt_at)
                        .limit(self.batch)
                    )
                )
                .scalars()
                .all()
            )
        if not due:
            return 0
        claimed: list[tuple[str, str, str, bytes, str, str]] = []
        async with self.db.transaction() as session:
            query = (
                select(AlertWebhookDelivery, AlertWebhook)
                .join(AlertWebhook, AlertWebhook.id == AlertWebhookDelivery.subscription_id)
                .where(
                    AlertWebhookDelivery.id.in_(list(due)),
                    AlertWebhookDelivery.status == "pending",
                    AlertWebhookDelivery.next_attempt_at <= now,
                )
            )
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True, of=AlertWebhookDelivery)
            for delivery, subscription in (await session.execute(query)).all():
                delivery.attempts += 1
                delivery.next_attempt_at = now + self.lease
                claimed.append(
                    (
                        delivery.id,
                        subscription.url,
                        subscription.secret,
                        delivery.body,
                        delivery.event_id,
                        delivery.event_type,
                    )
                )
        outcomes = await asyncio.gather(*(self._send(*c[1:]) for c in claimed))
        async with self.db.transaction() as session:
            for (delivery_id, *_), outcome in zip(claimed, outcomes, strict=True):
                stored = await session.get(AlertWebhookDelivery, delivery_id)
                if stored is not None:
                    self._settle(stored, outcome)
        return len(claimed)

    def _settle(self, delivery: AlertWebhookDelivery, outcome: Outcome) -> None:
        now = self.clock()
        delivery.last_status = outcome.status
        delivery.last_error = outcome.error
        if outcome.delivered:
            delivery.status, delivery.delivered_at = "delivered", now
        elif outcome.retryable and delivery.attempts < self.max_attempts:
            delivery.next_attempt_at = now + backoff(delivery.attempts, self.backoff_base, self.backoff_cap)
        else:
            delivery.status = "failed"
            logger.warning(
                "webhook delivery %s failed for good after %d attempts: %s",
                delivery.id,
                delivery.attempts,
                outcome.error or outcome.status,
            )

    async def _send(self, url: str, secret: str, body: bytes, event_id: str, event_type: str) -> Outcome:
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            TIMESTAMP_HEADER: str(timestamp),
            EVENT_ID_HEADER: event_id,
            EVENT_TYPE_HEADER: event_type,
            "User-Agent": "tracseq-hub-alerts",
        }
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
        error = None if response.is_success else response.text[:500]
        return Outcome(response.status_code, error)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=self.timeout_s, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run(self, stop: asyncio.Event, *, interval_s: float = 0.2) -> None:
        failing = False
        try:
            while not stop.is_set():
                try:
                    await self.deliver_due()
                    if failing:
                        logger.info("webhook deliveries recovered")
                    failing = False
                except Exception:
                    if not failing:
                        logger.exception("webhook deliveries failed; retrying")
                    failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)
        finally:
            await self.aclose()


def subscription_public(subscription: AlertWebhook) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "name": subscription.name,
        "url": subscription.url,
        "event_types": list(subscription.event_types.get("types") or []),
        "enabled": subscription.enabled,
        "created_by": subscription.created_by,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }
