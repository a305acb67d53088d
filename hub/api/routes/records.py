"""The event history, the audit trail (entries, an export for ``tracseq verify``, its trust file), and
electronic signatures."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.models import AuditCheckpoint, AuditEntry, AuditHead, Device, ESignature, OutboxEvent, User
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import NotFoundError
from hub.events.bus import EventEnvelope
from hub.events.outbox import record_event
from protocol import Trust
from protocol.export import checkpoint_line, end_line, header_line

router = APIRouter(prefix="/v1", tags=["records"])

CanReadEvents = Annotated[Principal, Depends(require(Permission.EVENTS_READ))]
CanReadAudit = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
CanExportAudit = Annotated[Principal, Depends(require(Permission.AUDIT_EXPORT))]
CanSign = Annotated[Principal, Depends(require(Permission.ESIGN))]


class EventPublic(BaseModel):
    offset: int
    event_id: str
    type: str
    subject_type: str
    subject_id: str
    actor: str | None
    payload: dict[str, Any]
    created_at: datetime


class EventPage(BaseModel):
    events: list[EventPublic]
    next_after: int


@router.get("/events")
async def list_events(
    principal: CanReadEvents,
    session: ReadSessionDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="return events with an offset above this")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    type: Annotated[str | None, Query(max_length=64)] = None,
) -> EventPage:
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.tenant_id == principal.tenant_id, OutboxEvent.position > after)
        .order_by(OutboxEvent.position)
        .limit(limit)
    )
    if type is not None:
        query = query.where(OutboxEvent.type == type)
    rows = (await session.execute(query)).scalars().all()
    events = [EventPublic(**EventEnvelope.from_row(r).__dict__) for r in rows]
    return EventPage(events=events, next_after=events[-1].offset if events else after)


class AuditEntryPublic(BaseModel):
    seq: int
    action: str
    record_type: str
    record_id: str
    actor: str
    created_at: datetime
    entry: str = Field(description="the stored entry bytes (JSON), exactly as hashed")


@router.get("/audit/entries")
async def audit_entries(
    principal: CanReadAudit,
    session: ReadSessionDep,
    after: Annotated[int, Query(ge=-1, le=2**62)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    record_type: Annotated[str | None, Query(max_length=64)] = None,
    record_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditEntryPublic]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.tenant_id == principal.tenant_id, AuditEntry.seq > after)
        .order_by(AuditEntry.seq)
        .limit(limit)
    )
    if record_type is not None:
        query = query.where(AuditEntry.record_type == record_type)
    if record_id is not None:
        query = query.where(AuditEntry.record_id == record_id)
    rows = (await session.execute(query)).scalars().all()
    return [
        AuditEntryPublic(
            seq=r.seq,
            action=r.action,
            record_type=r.record_type,
            record_id=r.record_id,
            actor=r.actor,
            created_at=r.created_at,
            entry=r.raw.decode("utf-8"),
        )
        for r in rows
    ]


@router.get("/audit/trust")
async def audit_trust(principal: CanReadAudit, state: StateDep, session: ReadSessionDep) -> dict[str, Any]:
    import json

    head = await session.get(AuditHead, principal.tenant_id)
    origin = head.origin if head is not None else "none"
    key = state.audit.key_for(origin)
    result: dict[str, Any] = json.loads(Trust(log_keys=(key.verifier,)).to_json())
    return result


@router.get("/audit/export", response_class=StreamingResponse)
async def audit_export(principal: CanExportAudit, state: StateDep) -> StreamingResponse:
    """The tenant's audit trail as an export bundle (JSON Lines) that ``tracseq verify`` checks."""
    async with state.db.transaction() as session:
        await state.audit.checkpoint(session, principal.tenant_id)
    tenant_id = principal.tenant_id

    async def lines() -> AsyncIterator[bytes]:
        async with state.db.read() as session:
            head = await session.get(AuditHead, tenant_id)
            if head is None:
                return
            key = state.audit.key_for(head.origin)
            yield header_line(origin=head.origin, log_keys=[key.verifier])
            marks = dict(
                (
                    await session.execute(
                        select(AuditCheckpoint.size, AuditCheckpoint.note).where(AuditCheckpoint.tenant_id == tenant_id)
                    )
                ).all()
            )
            count = 0
            stream = await session.stream(
                select(AuditEntry.seq, AuditEntry.raw)
                .where(AuditEntry.tenant_id == tenant_id, AuditEntry.seq < head.next_seq)
                .order_by(AuditEntry.seq)
                .execution_options(yield_per=1000)
            )
            async for seq, raw in stream:
                yield bytes(raw) + b"\n"
                count += 1
                note = marks.get(seq + 1)
                if note is not None:
                    yield checkpoint_line(note)
            yield end_line(count, count)

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit-export.jsonl"'},
    )


Meaning = Literal["review", "approval", "responsibility", "authorship"]


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record_type: Annotated[str, Field(pattern=r"^[a-z_]{1,64}$")]
    record_id: Annotated[str, Field(min_length=1, max_length=64)]
    record_content: Annotated[str, Field(max_length=100_000, description="the record as shown to the signer")]
    meaning: Meaning
    password: Annotated[str, Field(min_length=1, max_length=256)]
    reason: Annotated[str | None, Field(max_length=1000)] = None


class SignaturePublic(BaseModel):
    id: str
    signer_name: str
    meaning: str
    record_type: str
    record_id: str
    record_hash: str
    reason: str | None
    signed_at: datetime


_SIGNABLE: dict[str, type[User] | type[Device]] = {"user": User, "device": Device}


async def _record_in_tenant(session: AsyncSession, tenant_id: str, record_type: str, record_id: str) -> None:
    """A record the hub keeps must exist in the signer's tenant: nobody signs another lab's records. Other record
    types are not stored here (yet), so only their content hash binds the signature."""
    if record_type == "tenant":
        found = record_id == tenant_id
    elif (model := _SIGNABLE.get(record_type)) is not None:
        query = select(model.id).where(model.tenant_id == tenant_id, model.id == record_id)
        found = (await session.execute(query)).scalar_one_or_none() is not None
    else:
        return
    if not found:
        raise NotFoundError(f"no {record_type} {record_id}")


@router.post("/esignatures", status_code=201)
async def sign(body: SignRequest, principal: CanSign, state: StateDep, session: SessionDep) -> SignaturePublic:
    """Sign a record (Part 11 §11.50, §11.70, §11.200): the password again, the meaning, the printed name and time,
    bound to the record by the hash of its content."""
    await _record_in_tenant(session, principal.tenant_id, body.record_type, body.record_id)
    user = await state.identity.verify_password(session, principal, body.password)
    record_hash = hashlib.sha256(body.record_content.encode("utf-8")).hexdigest()
    signature = ESignature(
        tenant_id=principal.tenant_id,
        user_id=user.id,
        signer_name=user.display_name,
        meaning=body.meaning,
        record_type=body.record_type,
        record_id=body.record_id,
        record_hash=record_hash,
        reason=body.reason,
    )
    session.add(signature)
    await session.flush()
    facts = {"meaning": body.meaning, "signer": user.display_name, "record_hash": record_hash}
    await state.audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.label,
        action="esign",
        record_type=body.record_type,
        record_id=body.record_id,
        reason=body.reason,
        new=facts,
    )
    record_event(
        session,
        tenant_id=principal.tenant_id,
        type="esignature.created",
        subject_type=body.record_type,
        subject_id=body.record_id,
        actor=principal.label,
        payload=facts,
    )
    return SignaturePublic(
        id=signature.id,
        signer_name=signature.signer_name,
        meaning=signature.meaning,
        record_type=signature.record_type,
        record_id=signature.record_id,
        record_hash=record_hash,
        reason=signature.reason,
        signed_at=signature.signed_at,
    )


@router.get("/esignatures")
async def list_signatures(
    principal: CanReadAudit,
    session: ReadSessionDep,
    record_type: Annotated[str, Query(pattern=r"^[a-z_]{1,64}$")],
    record_id: Annotated[str, Query(min_length=1, max_length=64)],
) -> list[SignaturePublic]:
    rows = await session.execute(
        select(ESignature)
        .where(
            ESignature.tenant_id == principal.tenant_id,
            ESignature.record_type == record_type,
            ESignature.record_id == record_id,
        )
        .order_by(ESignature.signed_at)
    )
    return [
        SignaturePublic(
            id=s.id,
            signer_name=s.signer_name,
            meaning=s.meaning,
            record_type=s.record_type,
            record_id=s.record_id,
            record_hash=s.record_hash,
            reason=s.reason,
            signed_at=s.signed_at,
        )
        for s in rows.scalars()
    ]
