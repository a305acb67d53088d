"""Edge devices: one-time enrolment tokens, device credentials, commands back to the edge."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.ingest_models import DeviceCommand, DeviceLog, EnrollmentToken
from hub.db.models import Device
from hub.domain.identity import Principal
from hub.errors import AuthenticationError, ConflictError, NotFoundError, ValidationFailedError
from hub.events.outbox import record_event
from protocol import VerifierKey, genesis_hash
from protocol.errors import NoteError
from protocol.keys import SIGNER_TYPE

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
DEVICE_TOKEN_PREFIX = "tsd_"  # noqa: S105 - a prefix, not a secret
ENROLL_TOKEN_PREFIX = "tse_"  # noqa: S105 - a prefix, not a secret


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Devices:
    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit

    async def create_enrollment_token(
        self, session: AsyncSession, principal: Principal, ttl_s: int = 24 * 3600
    ) -> tuple[str, EnrollmentToken]:
        token = ENROLL_TOKEN_PREFIX + secrets.token_urlsafe(24)
        row = EnrollmentToken(
            id=new_id(),
            tenant_id=principal.tenant_id,
            token_hash=_digest(token),
            created_by=principal.label,
            expires_at=utcnow() + timedelta(seconds=ttl_s),
        )
        session.add(row)
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="create",
            record_type="enrollment_token",
            record_id=row.id,
            new={"expires_at": row.expires_at},
        )
        return token, row

    async def enroll(
        self, session: AsyncSession, *, token: str, name: str, origin: str, public_key: str
    ) -> tuple[Device, str]:
        """Spend a one-time token: register the edge's key and origin, return the device and its credential."""
        row = (
            await session.execute(
                select(EnrollmentToken).where(EnrollmentToken.token_hash == _digest(token)).with_for_update()
            )
        ).scalar_one_or_none()
        now = utcnow()
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise AuthenticationError("the enrolment token is unknown, spent or expired")
        if not _NAME.fullmatch(name):
            raise ValidationFailedError("a device name is 1-128 letters, digits, dots, dashes or underscores")
        try:
            key = VerifierKey.parse(public_key)
        except NoteError as exc:
            raise ValidationFailedError(f"the public key is not a verifier key: {exc}") from exc
        if key.key_type != SIGNER_TYPE or key.name != origin:
            raise ValidationFailedError("the public key must be the log's signer key, named after its origin")
        taken = await session.execute(select(DeviceLog.device_id).where(DeviceLog.origin == origin))
        if taken.scalar_one_or_none() is not None:
            raise ConflictError(f"a device already writes the log {origin!r}")
        clash = await session.execute(select(Device.id).where(Device.tenant_id == row.tenant_id, Device.name == name))
        if clash.scalar_one_or_none() is not None:
            raise ConflictError(f"a device named {name!r} exists in this tenant")
        device = Device(id=new_id(), tenant_id=row.tenant_id, name=name, origin=origin, public_key=public_key)
        session.add(device)
        await session.flush()
        secret = secrets.token_urlsafe(32)
        session.add(
            DeviceLog(
                device_id=device.id,
                tenant_id=row.tenant_id,
                origin=origin,
                next_seq=0,
                head=genesis_hash(origin),
                keys={"keys": [[0, public_key]]},
                secret_hash=_digest(secret),
            )
        )
        row.used_at = now
        row.device_id = device.id
        facts = {"name": name, "origin": origin, "key_id": key.key_id.hex()}
        await self.audit.record(
            session,
            tenant_id=row.tenant_id,
            actor=f"device:{name}",
            action="enroll",
            record_type="device",
            record_id=device.id,
            new=facts,
        )
        record_event(
            session,
            tenant_id=row.tenant_id,
            type="device.enrolled",
            subject_type="device",
            subject_id=device.id,
            actor=f"device:{name}",
            payload=facts,
        )
        return device, f"{DEVICE_TOKEN_PREFIX}{device.id}.{secret}"

    async def authenticate(self, session: AsyncSession, token: str) -> Principal:
        body = token.removeprefix(DEVICE_TOKEN_PREFIX)
        device_id, _, secret = body.partition(".")
        failure = AuthenticationError("the device credential is not valid")
        if not device_id or not secret or len(device_id) > 36:
            raise failure
        row = (
            await session.execute(
                select(DeviceLog.secret_hash, Device.tenant_id, Device.name, Device.disabled)
                .join(Device, Device.id == DeviceLog.device_id)
                .where(DeviceLog.device_id == device_id)
            )
        ).one_or_none()
        if row is None or row.disabled or not hmac.compare_digest(row.secret_hash, _digest(secret)):
            raise failure
        return Principal("device", device_id, row.tenant_id, row.name)

    async def command(
        self, session: AsyncSession, principal: Principal, device_id: str, type: str, args: dict[str, Any]
    ) -> DeviceCommand:
        device = (
            await session.execute(select(Device).where(Device.tenant_id == principal.tenant_id, Device.id == device_id))
        ).scalar_one_or_none()
        if device is None:
            raise NotFoundError(f"no device {device_id}")
        command = DeviceCommand(
            id=new_id(),
            tenant_id=principal.tenant_id,
            device_id=device_id,
            type=type,
            args=args,
            created_by=principal.label,
        )
        session.add(command)
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="command",
            record_type="device",
            record_id=device_id,
            new={"type": type, "args": args},
        )
        return command
