"""The production event bus: Redis Streams with one consumer group per subscriber.

``publish`` appends each event to one stream (pipelined, trimmed to about ``maxlen`` entries: the outbox table, not
the stream, is the history). Every subscriber name is a consumer group; any number of worker processes read a group
under their own consumer names and Redis hands each entry to one of them. An entry is acknowledged only after its
handler returned, so a worker that dies before acknowledging leaves it pending, and another worker claims it
(XAUTOCLAIM) once it has been idle for ``claim_idle_ms``. Delivery is therefore at least once, and across consumers
not in offset order: handlers are idempotent (see ``hub.events.subscribers``).

An entry that cannot be decoded is copied to ``<stream>:dead`` with the error, and acknowledged, once per group
that met it; it never stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from hub.errors import HubError, UnavailableError
from hub.events.bus import EventEnvelope, Handler

logger = logging.getLogger(__name__)

StreamEntry = tuple[bytes, Mapping[bytes, bytes] | None]

_REQUIRED = (b"offset", b"event_id", b"tenant_id", b"type", b"subject_type", b"subject_id", b"payload", b"created_at")


class MalformedEventError(HubError):
    """A stream entry that is not an encoded ``EventEnvelope`` (permanent: retrying cannot fix it)."""


def encode_event(event: EventEnvelope) -> dict[str, str]:
    fields = {
        "offset": str(event.offset),
        "event_id": event.event_id,
        "tenant_id": event.tenant_id,
        "type": event.type,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "payload": msgspec.json.encode(event.payload).decode(),
        "created_at": event.created_at.isoformat(),
    }
    if event.actor is not None:
        fields["actor"] = event.actor
    return fields


def decode_event(fields: Mapping[bytes, bytes]) -> EventEnvelope:
    """The envelope in a stream entry; ``MalformedEventError`` naming what is wrong otherwise."""
    try:
        raw = [fields[key] for key in _REQUIRED]
    except KeyError:
        missing = [key.decode() for key in _REQUIRED if key not in fields]
        raise MalformedEventError(f"missing fields: {', '.join(missing)}") from None
    try:
        offset = int(raw[0])
        event_id, tenant_id, type_, subject_type, subject_id = (value.decode() for value in raw[1:6])
        payload = msgspec.json.decode(raw[6])
        created_at = datetime.fromisoformat(raw[7].decode())
        actor = fields[b"actor"].decode() if b"actor" in fields else None
    except UnicodeDecodeError as exc:
        raise MalformedEventError(f"a field is not UTF-8: {exc}") from exc
    except (ValueError, msgspec.DecodeError) as exc:
        raise MalformedEventError(f"bad offset, payload or created_at: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedEventError(f"payload is a JSON {type(payload).__name__}, expected an object")
    if created_at.tzinfo is None:
        raise MalformedEventError("created_at has no time zone")
    return EventEnvelope(
        offset=offset,
        event_id=event_id,
        tenant_id=tenant_id,
        type=type_,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        payload=payload,
        created_at=created_at,
    )


def _stream_entries(reply: Any) -> list[StreamEntry]:
    """The entries of an XREADGROUP reply on one stream, as RESP2 (a list) or RESP3 (a dict) carries them."""
    if not reply:
        return []
    chunks = list(reply.values()) if isinstance(reply, dict) else [entries for _name, entries in reply]
    flat: list[StreamEntry] = []
    for chunk in chunks:
        if chunk and isinstance(chunk[0], list):  # RESP3 wraps the entries in one more list
            for inner in chunk:
                flat.extend(inner)
        else:
            flat.extend(chunk)
    return flat


class RedisStreamsBus:
    def __init__(
        self,
        redis: Redis,
        stream: str,
        *,
        maxlen: int = 1_000_000,
        batch: int = 100,
        block_ms: int = 1_000,
        claim_idle_ms: int = 60_000,
    ) -> None:
        # block_ms stays well under the client's socket timeout (redis-py's constructor default is 5 s)
        self.redis = redis
        self.stream = stream
        self.dead_letter_stream = f"{stream}:dead"
        self.maxlen = maxlen
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self._groups: dict[str, Handler] = {}

    def subscribe(self, name: str, handler: Handler) -> None:
        """Deliver every event to ``handler`` through the consumer group ``name``."""
        self._groups[name] = handler

    async def publish(self, events: Sequence[EventEnvelope]) -> None:
        if not events:
            return
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            pipe.xadd(self.stream, encode_event(event), maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
        try:
            await pipe.execute()
        except RedisError as exc:
            raise UnavailableError(f"cannot publish to the Redis stream {self.stream}: {exc}") from exc

    async def committed(self) -> None:
        """Nothing to do: entries were added inside the relay's transaction (at least once)."""

    async def close(self) -> None:
        return None  # the Redis client belongs to the caller (HubState), which closes it

    async def ensure_groups(self) -> None:
        """Create each subscriber's group (and the stream) when missing, reading from the stream's start."""
        for group in self._groups:
            await self._ensure_group(group)

    async def run_consumers(self, stop: asyncio.Event, consumer_name: str) -> None:
        """Read every subscribed group as ``consumer_name`` until ``stop`` is set (within ``block_ms``)."""
        if not self._groups:
            await stop.wait()
            return
        async with asyncio.TaskGroup() as tasks:
            for group, handler in self._groups.items():
                consumer = _GroupConsumer(self, group, handler, consumer_name)
                tasks.create_task(consumer.run(stop), name=f"events:{group}:{consumer_name}")

    async def _ensure_group(self, group: str) -> None:
        try:
            await self.redis.xgroup_create(self.stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


class _GroupConsumer:
    """One consumer of one group: claims stale entries, reads new ones, hands them over, acknowledges."""

    def __init__(self, bus: RedisStreamsBus, group: str, handler: Handler, consumer: str) -> None:
        self.bus = bus
        self.redis = bus.redis
        self.group = group
        self.handler = handler
        self.consumer = consumer
        self._failing: set[str] = set()  # what fails now ("redis", "handler"): logged once, and when it recovers

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_claim = 0.0
        delay = 0.1
        while not stop.is_set():
            try:
                if loop.time() >= next_claim:
                    await self.bus._ensure_group(self.group)
                    await self.claim_stale()
                    next_claim = loop.time() + max(self.bus.claim_idle_ms / 2000, 0.1)
                await self.read_new()
                self._recovered("redis")
                delay = 0.1
            except RedisError as exc:
                if "NOGROUP" in str(exc):
                    next_claim = 0.0  # the stream or group was deleted under us: recreate it
                self._failed("redis", f"reading {self.bus.stream} for group {self.group} failed: {exc}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 5.0)

    async def claim_stale(self) -> None:
        """Take over entries another consumer (or this one, in an earlier life) read and never acknowledged."""
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                self.bus.stream, self.group, self.consumer, self.bus.claim_idle_ms, start_id=start, count=self.bus.batch
            )
            start, entries = reply[0], reply[1]
            if entries:
                logger.info("claimed %d stale events in group %s", len(entries), self.group)
                await self.handle(entries)
            if start in (b"0-0", "0-0"):
                return

    async def read_new(self) -> None:
        reply = await self.redis.xreadgroup(
            self.group, self.consumer, {self.bus.stream: ">"}, count=self.bus.batch, block=self.bus.block_ms
        )
        entries = _stream_entries(reply)
        if entries:
            await self.handle(entries)

    async def handle(self, entries: Sequence[StreamEntry]) -> None:
        done: list[bytes] = []
        for entry_id, fields in entries:
            if fields is None:  # trimmed away while pending (Redis 6.2 reports it so): nothing left to deliver
                done.append(entry_id)
                continue
            try:
                event = decode_event(fields)
            except MalformedEventError as exc:
                await self.dead_letter(entry_id, fields, exc)
                continue
            try:
                await self.handler(event)
            except Exception:
                # left pending: claimed again (by any consumer) once idle for claim_idle_ms
                self._failed("handler", f"subscriber {self.group} failed on event {event.offset} ({event.type})")
                continue
            self._recovered("handler")
            done.append(entry_id)
        if done:
            await self.redis.xack(self.bus.stream, self.group, *done)

    async def dead_letter(self, entry_id: bytes, fields: Mapping[bytes, bytes], error: MalformedEventError) -> None:
        logger.error("malformed entry %s in %s (group %s): %s", entry_id, self.bus.stream, self.group, error.detail)
        record: dict[Any, Any] = dict(fields)
        record.update({"_source_id": entry_id, "_group": self.group, "_error": error.detail})
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.bus.dead_letter_stream, record, maxlen=self.bus.maxlen, approximate=True)
        pipe.xack(self.bus.stream, self.group, entry_id)
        await pipe.execute()

    def _failed(self, what: str, message: str) -> None:
        if what in self._failing:
            logger.debug(message, exc_info=True)
            return
        self._failing.add(what)
        logger.exception(message)

    def _recovered(self, what: str) -> None:
        if what in self._failing:
            self._failing.discard(what)
            logger.info("group %s recovered (%s)", self.group, what)
