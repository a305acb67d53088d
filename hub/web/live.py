"""The board's live feed as server-sent events: new readings of the tenant's bound channels (by a per-device
``seq`` cursor over the readings sync stores) and alert changes (the alerts feed's own frames, so the event id is
the outbox offset and a reconnect with ``Last-Event-ID`` loses no alert change).

On connect it sends each bound channel's latest reading, so a page that was offline catches up at once. Each poll
is a short read transaction; the person's account is checked again every ``recheck_s`` and the stream ends when it
was disabled or its role changed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import and_, func, or_, select

from hub.alerts.stream import changes_after, frame
from hub.api.state import HubState
from hub.db.ingest_models import Reading
from hub.db.models import OutboxEvent
from hub.db.storage_models import StorageUnitBinding
from hub.web.board import channel_key, is_door_channel, latest, reading_public

RETRY_MS = 3000
BATCH = 500


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Feed:
    def __init__(self, state: HubState, tenant_id: str) -> None:
        self.state = state
        self.tenant_id = tenant_id
        self.bindings: list[StorageUnitBinding] = []
        self.cursors: dict[str, int] = {}

    def _key_of(self, reading: Reading) -> tuple[str, str] | None:
        """(channel key, unit id) of the binding a reading belongs to; the instrument's own binding wins."""
        exact = anyone = None
        for b in self.bindings:
            if b.device_id == reading.device_id and b.channel == reading.channel:
                if b.source == reading.source:
                    exact = b
                elif b.source == "":
                    anyone = b
        chosen = exact or anyone
        return (
            None if chosen is None else (channel_key(chosen.device_id, chosen.source, chosen.channel), chosen.unit_id)
        )

    async def start(self, after: int | None) -> tuple[list[bytes], int]:
        """The latest reading of every bound channel, and where the alert changes start."""
        out = []
        async with self.state.db.read() as session:
            rows = await session.execute(
                select(StorageUnitBinding).where(StorageUnitBinding.tenant_id == self.tenant_id)
            )
            self.bindings = [b for b in rows.scalars() if not is_door_channel(b.channel)]
            for device_id in sorted({b.device_id for b in self.bindings}):
                top = await session.execute(select(func.max(Reading.seq)).where(Reading.device_id == device_id))
                self.cursors[device_id] = int(top.scalar_one_or_none() or -1)
            for b in self.bindings:
                last = await latest(session, self.tenant_id, b)
                if last is not None:
                    out.append(
                        _event(
                            "reading", reading_public(channel_key(b.device_id, b.source, b.channel), b.unit_id, last)
                        )
                    )
            if after is None:
                top = await session.execute(
                    select(func.max(OutboxEvent.position)).where(OutboxEvent.tenant_id == self.tenant_id)
                )
                after = int(top.scalar_one_or_none() or 0)
        return out, after

    async def readings(self) -> list[bytes]:
        if not self.cursors:
            return []
        out = []
        async with self.state.db.read() as session:
            rows = await session.execute(
                select(Reading)
                .where(
                    Reading.tenant_id == self.tenant_id,
                    or_(*(and_(Reading.device_id == d, Reading.seq > s) for d, s in self.cursors.items())),
                )
                .order_by(Reading.device_id, Reading.seq)
                .limit(BATCH)
            )
            for reading in rows.scalars():
                self.cursors[reading.device_id] = max(self.cursors[reading.device_id], reading.seq)
                found = self._key_of(reading)
                if found is not None:
                    out.append(_event("reading", reading_public(found[0], found[1], reading)))
        return out


async def stream(
    state: HubState,
    tenant_id: str,
    *,
    alerts: bool,
    after: int | None,
    max_s: float,
    still_active: Callable[[], Awaitable[bool]],
    disconnected: Callable[[], Awaitable[bool]],
    poll_s: float = 0.5,
    keepalive_s: float = 15.0,
    recheck_s: float = 30.0,
) -> AsyncIterator[bytes]:
    feed = Feed(state, tenant_id)
    yield f"retry: {RETRY_MS}\n\n".encode()
    first, position = await feed.start(after)
    for chunk in first:
        yield chunk
    started = last_sent = checked = time.monotonic()
    while True:
        sent = await feed.readings()
        for event in await changes_after(state.db, tenant_id, position) if alerts else []:
            sent.append(frame(event))
            position = event.offset
        for chunk in sent:
            yield chunk
        now = time.monotonic()
        if sent:
            last_sent = now
        if now - started >= max_s or await disconnected():
            return
        if now - checked >= recheck_s:
            checked = now
            if not await still_active():
                return
        if now - last_sent >= keepalive_s:
            yield b": keepalive\n\n"
            last_sent = now
        await asyncio.sleep(poll_s)
