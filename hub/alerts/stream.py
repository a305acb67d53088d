"""The server-sent events feed of alert changes: the tenant's ``alert.*`` events from the outbox, in offset order,
each framed with its offset as the SSE id, so a client that reconnects with ``Last-Event-ID`` resumes exactly
after the last change it saw (the outbox's offsets have no gaps and follow commit order).

Reads happen in short read transactions, one per poll, never one held for the stream's life (a long snapshot
would keep SQLite's WAL from being checkpointed).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import select

from hub.audit.trail import log_value
from hub.db.base import Database
from hub.db.models import OutboxEvent
from hub.events.bus import EventEnvelope

RETRY_MS = 2000


async def changes_after(db: Database, tenant_id: str, after: int, limit: int = 200) -> list[EventEnvelope]:
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxEvent)
            .where(
                OutboxEvent.tenant_id == tenant_id,
                OutboxEvent.position > after,
                OutboxEvent.type.like("alert.%"),
            )
            .order_by(OutboxEvent.position)
            .limit(limit)
        )
        return [EventEnvelope.from_row(r) for r in rows.scalars()]


def frame(event: EventEnvelope) -> bytes:
    data = {
        "offset": event.offset,
        "event_id": event.event_id,
        "type": event.type,
        "actor": event.actor,
        "alert": log_value(event.payload),
        "created_at": event.created_at.isoformat(),
    }
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return f"id: {event.offset}\nevent: {event.type}\ndata: {text}\n\n".encode()


async def sse(
    db: Database,
    tenant_id: str,
    after: int,
    *,
    follow: bool,
    max_s: float,
    poll_s: float = 0.2,
    keepalive_s: float = 15.0,
    disconnected: Callable[[], Awaitable[bool]] | None = None,
) -> AsyncIterator[bytes]:
    """The backlog after ``after``; with ``follow``, then every new change as it is published, until ``max_s``
    passes or the client goes away (it reconnects with ``Last-Event-ID`` and loses nothing)."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    started = last_sent = time.monotonic()
    while True:
        batch = await changes_after(db, tenant_id, after)
        for event in batch:
            yield frame(event)
            after = event.offset
        if batch:
            last_sent = time.monotonic()
            if len(batch) == 200:
                continue
        if not follow:
            return
        now = time.monotonic()
        if now - started >= max_s or (disconnected is not None and await disconnected()):
            return
        if now - last_sent >= keepalive_s:
            yield b": keepalive\n\n"
            last_sent = now
        await asyncio.sleep(poll_s)
