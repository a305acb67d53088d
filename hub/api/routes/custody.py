"""Chain of custody: hand samples over, confirm or refuse receipts, and a sample's custody history (also as CSV)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.api.sample_schemas import Note, Reason, RecordId, SampleIdPath, Username
from hub.db.sample_models import CustodyTransfer
from hub.domain.cells import safe_cell
from hub.domain.custody import Custody, CustodyStep
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.domain.samples import MAX_BATCH

router = APIRouter(tags=["custody"])

CanReadSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_READ))]
CanWriteSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_WRITE))]


def custody_service(state: StateDep) -> Custody:
    return Custody(state.audit, state.samples)


CustodyDep = Annotated[Custody, Depends(custody_service)]
TransferStatus = Literal["in_transit", "received", "refused"]


class TransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_ids: Annotated[list[RecordId], Field(min_length=1, max_length=MAX_BATCH)]
    to_party: Username = Field(description="the user name of the person who will receive them")
    reason: Reason


class ReceiptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accepted: bool = Field(description="true: received as sent; false: refused (say why in note)")
    note: Note | None = None


class TransferPublic(BaseModel):
    id: str
    batch_id: str
    sample_id: str
    from_party: str
    to_party: str
    reason: str
    sent_by: str
    sent_at: datetime
    status: str = Field(description="in_transit, received or refused")
    received_by: str | None
    received_at: datetime | None
    receipt_note: str | None

    @classmethod
    def of(cls, t: CustodyTransfer) -> TransferPublic:
        return cls(
            id=t.id,
            batch_id=t.batch_id,
            sample_id=t.sample_id,
            from_party=t.from_party,
            to_party=t.to_party,
            reason=t.reason,
            sent_by=t.sent_by,
            sent_at=t.sent_at,
            status=t.status,
            received_by=t.received_by,
            received_at=t.received_at,
            receipt_note=t.receipt_note,
        )


class ConsignmentPublic(BaseModel):
    batch_id: str
    transfers: list[TransferPublic]


class CustodyStepPublic(BaseModel):
    event: str
    from_party: str | None
    to_party: str
    by: str
    at: datetime
    reason: str | None
    received_by: str | None
    received_at: datetime | None
    note: str | None
    transfer_id: str | None
    batch_id: str | None


class CustodyHistory(BaseModel):
    sample_id: str
    barcode: str
    custodian: str
    in_transit: bool
    steps: list[CustodyStepPublic]


@router.post("/custody/transfers", status_code=201)
async def send_samples(
    body: TransferCreate, principal: CanWriteSamples, custody: CustodyDep, session: SessionDep
) -> ConsignmentPublic:
    """Hand samples over to a person of the lab; each stays in transit until that person confirms the receipt."""
    transfers = await custody.send(session, principal, body.sample_ids, to_party=body.to_party, reason=body.reason)
    return ConsignmentPublic(batch_id=transfers[0].batch_id, transfers=[TransferPublic.of(t) for t in transfers])


@router.get("/custody/transfers")
async def list_transfers(
    principal: CanReadSamples,
    custody: CustodyDep,
    session: ReadSessionDep,
    to_party: Annotated[str | None, Query(max_length=64, description="hand-overs to this user")] = None,
    mine: Annotated[bool, Query(description="hand-overs to me (overrides to_party)")] = False,
    status: TransferStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TransferPublic]:
    """Hand-overs, newest first: ``?mine=true&status=in_transit`` is what is on its way to you."""
    receiver = principal.name if mine else to_party
    rows = await custody.transfers(session, principal.tenant_id, to_party=receiver, status=status, limit=limit)
    return [TransferPublic.of(t) for t in rows]


@router.post("/custody/transfers/{transfer_id}/receipt")
async def receive_sample(
    transfer_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: ReceiptRequest,
    principal: CanWriteSamples,
    custody: CustodyDep,
    session: SessionDep,
) -> TransferPublic:
    """Confirm or refuse the receipt of one sample: only the person it was sent to, never the sender."""
    transfer = await custody.receive(session, principal, transfer_id, accepted=body.accepted, note=body.note)
    return TransferPublic.of(transfer)


@router.post("/custody/batches/{custody_batch_id}/receipt")
async def receive_consignment(
    custody_batch_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: ReceiptRequest,
    principal: CanWriteSamples,
    custody: CustodyDep,
    session: SessionDep,
) -> ConsignmentPublic:
    """Confirm or refuse every sample of a consignment still in transit, in one go."""
    transfers = await custody.receive_batch(
        session, principal, custody_batch_id, accepted=body.accepted, note=body.note
    )
    return ConsignmentPublic(batch_id=custody_batch_id, transfers=[TransferPublic.of(t) for t in transfers])


def _step(step: CustodyStep) -> CustodyStepPublic:
    return CustodyStepPublic(**step.__dict__)


@router.get("/samples/{sample_id}/custody")
async def custody_history(
    sample_id: SampleIdPath, principal: CanReadSamples, custody: CustodyDep, session: ReadSessionDep
) -> CustodyHistory:
    """Every holder of the sample since it was registered, and every hand-over, oldest first."""
    sample, steps = await custody.history(session, principal.tenant_id, sample_id)
    return CustodyHistory(
        sample_id=sample.id,
        barcode=sample.barcode,
        custodian=sample.custodian,
        in_transit=steps[-1].event == "in_transit",
        steps=[_step(s) for s in steps],
    )


CSV_COLUMNS = (
    "barcode",
    "event",
    "from",
    "to",
    "by",
    "at",
    "reason",
    "received_by",
    "received_at",
    "note",
    "transfer_id",
    "batch_id",
)


@router.get(
    "/samples/{sample_id}/custody.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "the custody history as CSV"}},
)
async def custody_csv(
    sample_id: SampleIdPath, principal: CanReadSamples, custody: CustodyDep, session: ReadSessionDep
) -> Response:
    """The custody history as a spreadsheet; every cell is defused against formula injection."""
    sample, steps = await custody.history(session, principal.tenant_id, sample_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for s in steps:
        row = (
            sample.barcode,
            s.event,
            s.from_party,
            s.to_party,
            s.by,
            s.at.isoformat(),
            s.reason,
            s.received_by,
            s.received_at.isoformat() if s.received_at else None,
            s.note,
            s.transfer_id,
            s.batch_id,
        )
        writer.writerow([safe_cell(v) for v in row])
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", sample.barcode)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="custody-{filename}.csv"'},
    )
