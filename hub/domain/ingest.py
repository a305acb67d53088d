"""The hub as witness: mirror each device's log, derive readings and events, cosign what extends the chain.

One transaction per batch, under the device's row lock: entries, derived rows, the cosignature and the new
head commit together or not at all, so a resent batch finds either everything or nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail, load_or_create_key
from hub.db.base import utcnow
from hub.db.ingest_models import (
    Cosignature,
    DeviceCommand,
    DeviceEntry,
    DeviceEvent,
    DeviceLog,
    ForkEvidence,
    Reading,
)
from hub.db.models import AuditHead
from hub.domain.identity import Principal
from hub.errors import ConflictError, RateLimitedError, ValidationFailedError
from hub.events.outbox import record_event
from protocol import SigningKey, VerifierKey
from protocol.keys import COSIGNER_TYPE
from sync import Accepted, Beacon, ChainError, Command, DeviceChain, ForkError, GapError, SyncAck, cosign_note, plan
from sync import check_batch as check
from sync.messages import BatchHeader

FUTURE_SKEW = timedelta(minutes=5)
BEACON_EVERY = timedelta(minutes=10)
_EVENT_KINDS = {"event", "alarm", "gap", "key_rotation"}


_ENTRY_COLUMNS = ("device_id", "seq", "hash", "raw", "received_at")
_READING_COLUMNS = ("device_id", "seq", "tenant_id", "source", "channel", "value", "unit", "quality", "ts", "flagged")


def _parse_ts(text: str) -> datetime | None:
    """The entry's time when it is an aware ISO 8601 time; None (the hub's time is used) for anything else."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


async def _bulk_insert(
    session: AsyncSession, model: type[DeviceEntry | Reading], columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows in the session's transaction: COPY on PostgreSQL (bench/sync.py: about twice the rows per
    second of executemany, without SQLAlchemy's per-row work), an executemany INSERT elsewhere."""
    if not rows:
        return
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg's connection, inside the session's open transaction
        await driver.copy_records_to_table(model.__tablename__, records=rows, columns=columns)
    else:
        await session.execute(insert(model), [dict(zip(columns, row, strict=True)) for row in rows])


def device_event(session: AsyncSession, principal: Principal, type: str, payload: dict[str, Any]) -> None:
    """An event about the calling device, in the outbox of its tenant."""
    record_event(
        session,
        tenant_id=principal.tenant_id,
        type=type,
        subject_type="device",
        subject_id=principal.id,
        actor=principal.label,
        payload=payload,
    )


# Called in the batch's transaction with the events (and alarms, gaps) it stored, as the ``device_events`` rows'
# values: a run's progress, a unit's excursion. What a handler writes commits with the batch, exactly once; an error
# refuses the batch, and the edge sends it again.
DeviceEventHandler = Callable[[AsyncSession, Principal, Sequence[dict[str, Any]]], Awaitable[None]]


@dataclass
class IngestResult:
    ack: SyncAck
    new_entries: int
    duplicates: int


class Ingest:
    def __init__(
        self,
        audit: AuditTrail,
        witness_key_path: Any,
        hub_name: str,
        *,
        max_concurrent: int = 4,
        max_waiting: int | None = None,
        wait_s: float = 1.0,
        event_handlers: Sequence[DeviceEventHandler] = (),
    ) -> None:
        self.audit = audit
        self.event_handlers = list(event_handlers)
        self.witness_key_path = witness_key_path
        self.witness_name = f"tracseq.local/hub/{hub_name}/witness"
        self._witness: SigningKey | None = None
        self._admission = asyncio.Semaphore(max_concurrent)
        self._max_waiting = max_concurrent if max_waiting is None else max_waiting
        self._waiting = 0
        self._wait_s = wait_s

    @property
    def witness(self) -> SigningKey:
        if self._witness is None:
            base = load_or_create_key(self.witness_key_path, self.witness_name)
            self._witness = SigningKey(self.witness_name, COSIGNER_TYPE, base.private)
        return self._witness

    async def admit(self) -> None:
        """Hub-side admission: ``max_concurrent`` batches at a time, and a short queue of ``max_waiting`` that
        waits up to ``wait_s`` for a slot; beyond, a fleet reconnecting at once gets 429 + Retry-After instead of
        an ever longer queue. (Without the short queue, every batch that finds the slots taken waits a whole
        Retry-After second while the hub idles: bench/sync.py, 20 edges.)"""
        busy = RateLimitedError("the hub is busy ingesting other edges; retry shortly", retry_after=1)
        if self._admission.locked() and self._waiting >= self._max_waiting:
            raise busy
        self._waiting += 1
        try:
            async with asyncio.timeout(self._wait_s):  # in this task: no acquired slot can be dropped on the way
                await self._admission.acquire()
        except TimeoutError as exc:
            raise busy from exc
        finally:
            self._waiting -= 1

    def release(self) -> None:
        self._admission.release()

    async def ingest(
        self, session: AsyncSession, principal: Principal, header: BatchHeader, lines: list[bytes]
    ) -> IngestResult:
        log = (
            await session.execute(select(DeviceLog).where(DeviceLog.device_id == principal.id).with_for_update())
        ).scalar_one()
        chain = DeviceChain(
            origin=log.origin,
            next_seq=log.next_seq,
            head=log.head,
            keys=[(int(first), VerifierKey.parse(str(v))) for first, v in log.keys["keys"]],
        )
        try:
            batch = plan(chain, header)
        except GapError as exc:
            raise ConflictError(str(exc), expected_seq=exc.expected_seq, kind="gap") from exc
        except ChainError as exc:  # another device's log, or a malformed checkpoint: refused and recorded
            raise self._refused(session, principal, exc) from exc
        held = {}
        if len(batch.held_range):
            rows = await session.execute(
                select(DeviceEntry.seq, DeviceEntry.hash).where(
                    DeviceEntry.device_id == principal.id,
                    DeviceEntry.seq >= batch.held_range.start,
                    DeviceEntry.seq < batch.held_range.stop,
                )
            )
            held = {int(s): bytes(h) for s, h in rows.all()}
        held_head = None
        if batch.checkpoint_size is not None:
            held_head = (
                await session.execute(
                    select(DeviceEntry.hash).where(
                        DeviceEntry.device_id == principal.id, DeviceEntry.seq == batch.checkpoint_size - 1
                    )
                )
            ).scalar_one_or_none()
        cosigned: dict[int, bytes] = {}
        if batch.checkpoint_size is not None:  # only a size the hub holds can have been cosigned before
            cosigned_head = (
                await session.execute(
                    select(Cosignature.head).where(
                        Cosignature.device_id == principal.id, Cosignature.size == batch.checkpoint_size
                    )
                )
            ).scalar_one_or_none()
            if cosigned_head is not None:
                cosigned[batch.checkpoint_size] = bytes(cosigned_head)
        try:
            accepted = check(chain, batch, lines, held=held, held_head=held_head, cosigned=cosigned)
        except ForkError as exc:
            await self._fork(session, principal, exc)
            raise ConflictError(str(exc), kind="fork", seq=exc.seq, keep_changes=True) from exc
        except ChainError as exc:
            raise self._refused(session, principal, exc) from exc
        now = utcnow()
        flags = await self._store(session, principal, log, accepted, now)
        cosigned_note = await self._cosign(session, principal, log, accepted, cosigned, now)
        log.next_seq = accepted.chain.next_seq
        log.head = accepted.chain.head
        if accepted.new_keys:
            log.keys = {"keys": [*log.keys["keys"], *[[first, key.vkey] for first, key in accepted.new_keys]]}
        log.last_sync_at = now
        commands = await self._commands(session, principal, accepted)
        beacon = await self._beacon(session, principal, log, now)
        if accepted.entries:
            device_event(
                session,
                principal,
                "device.synced",
                {
                    "from": accepted.entries[0].seq,
                    "to": accepted.entries[-1].seq,
                    "count": len(accepted.entries),
                    "flags": flags,
                },
            )
        ack = SyncAck(acked_seq=log.next_seq, cosigned=cosigned_note, commands=commands, beacon=beacon, flags=flags)
        return IngestResult(ack, len(accepted.entries), accepted.duplicates)

    def _refused(self, session: AsyncSession, principal: Principal, exc: ChainError) -> ValidationFailedError:
        """Record the refusal (``integrity.refused``) and return the error that commits it and answers 422."""
        device_event(session, principal, "integrity.refused", {"reason": str(exc), "seq": exc.seq})
        return ValidationFailedError(f"the batch was refused: {exc}", kind="chain", seq=exc.seq, keep_changes=True)

    async def _store(
        self, session: AsyncSession, principal: Principal, log: DeviceLog, accepted: Accepted, now: datetime
    ) -> list[str]:
        if not accepted.entries:
            return []
        flags: list[str] = []
        device_id, tenant_id = principal.id, principal.tenant_id
        entries: list[tuple[Any, ...]] = []
        readings: list[tuple[Any, ...]] = []
        events: list[dict[str, Any]] = []
        limit_future = now + FUTURE_SKEW
        beacon_floor = log.last_beacon_at - FUTURE_SKEW if log.last_beacon_at else None
        for e in accepted.entries:
            entries.append((device_id, e.seq, e.hash, e.raw, now))
            ts = _parse_ts(e.ts) or now
            flag = None
            if ts > limit_future:
                flag = "future"
            elif beacon_floor is not None and ts < beacon_floor:
                flag = "before_beacon"
            if flag and flag not in flags:
                flags.append(flag)
            payload = e.payload
            if e.kind == "observation":
                value = payload.get("value")
                readings.append(
                    (
                        device_id,
                        e.seq,
                        tenant_id,
                        str(payload.get("device", ""))[:128],
                        str(payload.get("channel", ""))[:128],
                        None if value is None else str(value)[:64],
                        str(payload.get("unit", ""))[:32],
                        str(payload.get("quality", "good"))[:16],
                        ts,
                        flag,
                    )
                )
            elif e.kind in _EVENT_KINDS:
                severity = payload.get("severity")
                events.append(
                    {
                        "device_id": device_id,
                        "seq": e.seq,
                        "tenant_id": tenant_id,
                        "kind": e.kind,
                        "type": str(payload.get("type") or payload.get("action") or e.kind)[:64],
                        "severity": None if severity is None else str(severity)[:16],
                        "payload": payload,
                        "ts": ts,
                        "flagged": flag,
                    }
                )
        await _bulk_insert(session, DeviceEntry, _ENTRY_COLUMNS, entries)
        await _bulk_insert(session, Reading, _READING_COLUMNS, readings)
        if events:
            await session.execute(insert(DeviceEvent), events)
            for event in events:
                if event["kind"] == "alarm":
                    device_event(session, principal, "device.alarm", {"seq": event["seq"], **event["payload"]})
            for handler in self.event_handlers:
                await handler(session, principal, events)
        if flags:
            device_event(session, principal, "integrity.clock", {"flags": flags})
        return flags

    async def _cosign(
        self,
        session: AsyncSession,
        principal: Principal,
        log: DeviceLog,
        accepted: Accepted,
        cosigned: dict[int, bytes],
        now: datetime,
    ) -> str | None:
        if accepted.checkpoint is None or accepted.note is None:
            return None
        body = accepted.checkpoint
        existing = await session.get(Cosignature, (principal.id, body.size))
        if existing is not None:
            return existing.note
        note = cosign_note(accepted.note, body, self.witness, int(now.timestamp()))
        session.add(Cosignature(device_id=principal.id, size=body.size, head=body.head, note=note, cosigned_at=now))
        log.cosigned_size = max(log.cosigned_size, body.size)
        return note

    async def _commands(self, session: AsyncSession, principal: Principal, accepted: Accepted) -> list[Command]:
        for e in accepted.entries:
            if e.kind == "event" and e.payload.get("type") == "command_applied":
                command_id = str((e.payload.get("attrs") or {}).get("command_id", ""))
                await session.execute(
                    update(DeviceCommand)
                    .where(DeviceCommand.id == command_id, DeviceCommand.device_id == principal.id)
                    .values(applied_seq=e.seq)
                )
        rows = await session.execute(
            select(DeviceCommand)
            .where(DeviceCommand.device_id == principal.id, DeviceCommand.applied_seq.is_(None))
            .order_by(DeviceCommand.created_at)
            .limit(20)
        )
        return [Command(id=c.id, type=c.type, args={k: str(v) for k, v in c.args.items()}) for c in rows.scalars()]

    async def _beacon(self, session: AsyncSession, principal: Principal, log: DeviceLog, now: datetime) -> Beacon:
        head = await session.get(AuditHead, principal.tenant_id)
        log.last_beacon_at = now
        return Beacon(
            hub_time=now.isoformat(),
            hub_origin=head.origin if head else None,
            hub_size=head.next_seq if head else None,
            hub_head=head.head.hex() if head else None,
        )

    async def _fork(self, session: AsyncSession, principal: Principal, exc: ForkError) -> None:
        session.add(
            ForkEvidence(
                tenant_id=principal.tenant_id,
                device_id=principal.id,
                seq=exc.seq,
                reason=str(exc),
                held=exc.held,
                offered=exc.offered,
            )
        )
        device_event(session, principal, "integrity.fork", {"seq": exc.seq, "reason": str(exc)})
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="fork_detected",
            record_type="device",
            record_id=principal.id,
            new={"seq": exc.seq, "reason": str(exc)},
        )
