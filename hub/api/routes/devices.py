"""Edge devices: enrolment, their mirrored logs and readings, commands, and the sync endpoint itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.ingest_models import DeviceLog, Reading
from hub.db.models import Device
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import BadRequestError, NotFoundError
from sync import MEDIA_TYPE, BadBatchError, SyncAck, decode_batch

router = APIRouter(prefix="/v1/devices", tags=["devices"])
sync_router = APIRouter(prefix="/v1/sync", tags=["sync"])

CanReadDevices = Annotated[Principal, Depends(require(Permission.DEVICES_READ))]
CanManageDevices = Annotated[Principal, Depends(require(Permission.DEVICES_MANAGE))]
IsDevice = Annotated[Principal, Depends(require(Permission.DEVICE_SYNC))]


class EnrollmentTokenPublic(BaseModel):
    token: str
    expires_at: datetime


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, Field(min_length=8, max_length=128)]
    name: Annotated[str, Field(min_length=1, max_length=128)]
    origin: Annotated[str, Field(min_length=1, max_length=255)]
    public_key: Annotated[str, Field(min_length=1, max_length=400)]


class Enrolled(BaseModel):
    device_id: str
    device_token: str
    witness_key: str
    tenant_id: str


class DevicePublic(BaseModel):
    id: str
    name: str
    origin: str | None
    disabled: bool
    next_seq: int
    cosigned_size: int
    last_sync_at: datetime | None


class CommandRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["set_limit", "ack_alarm", "rotate_key", "request_export"]
    args: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=dict
    )


class CommandPublic(BaseModel):
    id: str
    type: str
    args: dict[str, Any]
    created_at: datetime
    applied_seq: int | None


class ReadingPublic(BaseModel):
    seq: int
    source: str
    channel: str
    value: str | None
    unit: str
    quality: str
    ts: datetime
    flagged: str | None


@router.post("/enrollment-tokens", status_code=201)
async def create_enrollment_token(
    principal: CanManageDevices, state: StateDep, session: SessionDep
) -> EnrollmentTokenPublic:
    """A one-time token for ``tracseq edge enroll``; valid for 24 hours."""
    token, row = await state.devices.create_enrollment_token(session, principal)
    return EnrollmentTokenPublic(token=token, expires_at=row.expires_at)


@router.get("")
async def list_devices(principal: CanReadDevices, session: ReadSessionDep) -> list[DevicePublic]:
    rows = await session.execute(
        select(Device, DeviceLog)
        .join(DeviceLog, DeviceLog.device_id == Device.id)
        .where(Device.tenant_id == principal.tenant_id)
        .order_by(Device.name)
    )
    return [
        DevicePublic(
            id=d.id,
            name=d.name,
            origin=d.origin,
            disabled=d.disabled,
            next_seq=log.next_seq,
            cosigned_size=log.cosigned_size,
            last_sync_at=log.last_sync_at,
        )
        for d, log in rows.all()
    ]


async def _device(session: ReadSessionDep, principal: Principal, device_id: str) -> Device:
    device = (
        await session.execute(select(Device).where(Device.tenant_id == principal.tenant_id, Device.id == device_id))
    ).scalar_one_or_none()
    if device is None:
        raise NotFoundError(f"no device {device_id}")
    return device


@router.get("/{device_id}/readings")
async def device_readings(
    device_id: Annotated[str, Field(max_length=64)],
    principal: CanReadDevices,
    session: ReadSessionDep,
    channel: Annotated[str | None, Query(max_length=128)] = None,
    after: Annotated[int, Query(ge=-1, le=2**62)] = -1,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[ReadingPublic]:
    await _device(session, principal, device_id)
    query = (
        select(Reading)
        .where(Reading.tenant_id == principal.tenant_id, Reading.device_id == device_id, Reading.seq > after)
        .order_by(Reading.seq)
        .limit(limit)
    )
    if channel is not None:
        query = query.where(Reading.channel == channel)
    return [
        ReadingPublic(
            seq=r.seq,
            source=r.source,
            channel=r.channel,
            value=r.value,
            unit=r.unit,
            quality=r.quality,
            ts=r.ts,
            flagged=r.flagged,
        )
        for r in (await session.execute(query)).scalars()
    ]


@router.post("/{device_id}/commands", status_code=201)
async def send_command(
    device_id: Annotated[str, Field(max_length=64)],
    body: CommandRequest,
    principal: CanManageDevices,
    state: StateDep,
    session: SessionDep,
) -> CommandPublic:
    """Queue a command for the edge; it travels in the next sync answer and the edge logs that it applied it."""
    command = await state.devices.command(session, principal, device_id, body.type, dict(body.args))
    return CommandPublic(
        id=command.id, type=command.type, args=command.args, created_at=command.created_at, applied_seq=None
    )


@sync_router.post("/enroll", status_code=201)
async def enroll(body: EnrollRequest, state: StateDep, session: SessionDep) -> Enrolled:
    """Spend an enrolment token: register the edge's public key and log origin, receive device credentials."""
    device, token = await state.devices.enroll(
        session, token=body.token, name=body.name, origin=body.origin, public_key=body.public_key
    )
    return Enrolled(
        device_id=device.id,
        device_token=token,
        witness_key=state.ingest.witness.verifier.vkey,
        tenant_id=device.tenant_id,
    )


@sync_router.post("/batches", response_model=SyncAck)
async def receive_batch(request: Request, principal: IsDevice, state: StateDep) -> SyncAck:
    """A batch of the device's own log entries with its newest checkpoint; the answer carries the acknowledged
    seq, the hub's cosignature, commands and a beacon. 409 names the expected seq (gap) or reports a fork."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != MEDIA_TYPE:
        raise BadRequestError(f"send the batch as {MEDIA_TYPE}")
    body = await request.body()
    try:
        header, lines = decode_batch(body, gzipped=request.headers.get("content-encoding", "") == "gzip")
    except BadBatchError as exc:
        raise BadRequestError(str(exc)) from exc
    await state.ingest.admit()
    try:
        async with state.db.transaction() as session:
            result = await state.ingest.ingest(session, principal, header, lines)
    finally:
        state.ingest.release()
    return result.ack
