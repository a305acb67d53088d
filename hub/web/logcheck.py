"""Verifying a log from the audit page, with the auditor's own verifier (``protocol.Verifier``, what ``tracseq
verify`` runs): the hub's audit trail as its export route streams it, or an edge's log as the hub mirrored it,
with the checkpoints the hub cosigned.

An export is spooled to a temporary file (in memory while small) and verified in a thread, so a long log costs
neither the event loop nor memory. An edge's export is built here: no API route serves one yet (see the report
to the lead: this belongs beside ``Ingest`` once the API offers it too).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import select

from hub.api.state import HubState
from hub.db.ingest_models import Cosignature, DeviceEntry, DeviceLog
from hub.db.models import AuditHead, Device
from hub.domain.identity import Principal
from hub.errors import NotFoundError
from protocol import Report, Trust, Verifier, VerifierKey
from protocol.export import checkpoint_line, end_line, header_line

SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    subject: str
    trusted: str  # what the check trusted, in words
    report: Report

    @property
    def facts(self) -> dict[str, Any]:
        return self.report.as_dict()


async def edge_log(state: HubState, tenant_id: str, device_id: str) -> tuple[Device, DeviceLog]:
    async with state.db.read() as session:
        row = (
            await session.execute(
                select(Device, DeviceLog)
                .join(DeviceLog, DeviceLog.device_id == Device.id)
                .where(Device.tenant_id == tenant_id, Device.id == device_id, DeviceLog.tenant_id == tenant_id)
            )
        ).first()
    if row is None:
        raise NotFoundError(f"no device log {device_id}")
    return row[0], row[1]


def edge_trust(state: HubState, device: Device, log: DeviceLog) -> Trust:
    """The key the edge enrolled with and the hub's witness key: what an auditor trusts for this edge."""
    keys = [VerifierKey.parse(device.public_key)] if device.public_key else []
    if not keys:
        keys = [VerifierKey.parse(str(v)) for _, v in log.keys.get("keys", [])[:1]]
    return Trust(log_keys=tuple(keys), witness_keys=(state.ingest.witness.verifier,))


async def edge_export(state: HubState, tenant_id: str, device_id: str) -> AsyncIterator[bytes]:
    """The edge's log as the hub holds it, as an export bundle: its entries and every checkpoint the hub
    cosigned, after the entry that completes it."""
    device, log = await edge_log(state, tenant_id, device_id)
    keys = [VerifierKey.parse(str(v)) for _, v in log.keys.get("keys", [])]
    yield header_line(origin=log.origin, log_keys=keys, witness_keys=[state.ingest.witness.verifier])
    async with state.db.read() as session:
        notes = dict(
            (
                await session.execute(
                    select(Cosignature.size, Cosignature.note).where(Cosignature.device_id == device.id)
                )
            ).all()
        )
        count = 0
        rows = await session.stream(
            select(DeviceEntry.seq, DeviceEntry.raw)
            .where(DeviceEntry.device_id == device.id, DeviceEntry.seq < log.next_seq)
            .order_by(DeviceEntry.seq)
            .execution_options(yield_per=1000)
        )
        async for seq, raw in rows:
            yield bytes(raw) + b"\n"
            count += 1
            note = notes.get(seq + 1)
            if note is not None:
                yield checkpoint_line(note)
    yield end_line(count, log.next_seq)


def _lines(spool: IO[bytes]) -> Iterator[bytes]:
    spool.seek(0)
    yield from spool


async def verify(lines: AsyncIterator[bytes], trust: Trust) -> Report:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        async for chunk in lines:
            spool.write(chunk)
        return await asyncio.to_thread(lambda: Verifier(trust).run(_lines(spool)))


async def verify_edge(state: HubState, tenant_id: str, device_id: str) -> Outcome:
    device, log = await edge_log(state, tenant_id, device_id)
    trust = edge_trust(state, device, log)
    report = await verify(edge_export(state, tenant_id, device_id), trust)
    return Outcome(
        f"edge {device.name}",
        "the key the edge enrolled with, and the hub's witness key for the checkpoints it cosigned",
        report,
    )


async def _as_bytes(body: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    async for chunk in body:
        yield chunk if isinstance(chunk, bytes) else bytes(chunk) if isinstance(chunk, memoryview) else chunk.encode()


async def verify_hub(state: HubState, principal: Principal) -> Outcome:
    """The tenant's audit trail exactly as ``GET /v1/audit/export`` streams it (the same route function)."""
    from hub.api.routes.records import audit_export

    response = await audit_export(principal, state)
    async with state.db.read() as session:
        head = await session.get(AuditHead, principal.tenant_id)
    if head is None:
        raise NotFoundError("this lab's audit trail is empty")
    trust = Trust(log_keys=(state.audit.key_for(head.origin).verifier,))
    report = await verify(_as_bytes(response.body_iterator), trust)  # type: ignore[arg-type]
    return Outcome("the hub's audit trail", "the hub's audit signing key (the trust file of /v1/audit/trust)", report)
