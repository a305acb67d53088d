"""The hub's own audit trail: who, what, when, why, old and new values, as a signed hash chain per tenant.

Entries use the edge's log format (``protocol``), so ``tracseq verify`` checks an export of the trail exactly as it
checks an edge's. An entry is appended in the same transaction as the change it records; the tenant's head row is
locked for the append, which orders entries across any number of hub processes. No setting turns it off.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub import context
from hub.db.base import utcnow
from hub.db.models import AuditCheckpoint, AuditEntry, AuditHead, Tenant
from hub.errors import ValidationFailedError
from protocol import ChainWriter, SigningKey, genesis_hash, sign_checkpoint
from protocol.checkpoint import CheckpointBody
from protocol.encoding import format_timestamp
from protocol.errors import KeyFileError

REGULATED_ACTIONS = {"update", "delete", "disable", "role_change", "release", "dispose", "override"}


def log_value(value: Any) -> Any:
    """A value as the log can hold it: no floats (decimal text instead), times as UTC text, enums by value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        return format(Decimal(str(value)), "f") if isinstance(value, float) else format(value, "f")
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return log_value(value.value)
    if isinstance(value, Mapping):
        return {str(k): log_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [log_value(v) for v in value]
    return str(value)


def load_or_create_key(path: Path, name: str) -> SigningKey:
    if path.exists():
        return SigningKey.load(path, name)
    key = SigningKey.generate(name)
    try:
        key.save(path)
    except OSError as exc:
        raise KeyFileError(f"cannot write the audit key {path}: {exc.strerror}") from exc
    return key


class AuditTrail:
    def __init__(self, hub_name: str, key_path: Path, checkpoint_every: int) -> None:
        self.hub_name = hub_name
        self.key_path = key_path
        self.checkpoint_every = checkpoint_every
        self._keys: dict[str, SigningKey] = {}

    def origin(self, tenant_slug: str) -> str:
        return f"tracseq.local/hub/{self.hub_name}/{tenant_slug}"

    def key_for(self, origin: str) -> SigningKey:
        """One Ed25519 key signs every tenant's trail; it is named after each origin it signs for."""
        key = self._keys.get(origin)
        if key is None:
            base = load_or_create_key(self.key_path, f"tracseq.local/hub/{self.hub_name}")
            key = SigningKey(name=origin, key_type=base.key_type, private=base.private)
            self._keys[origin] = key
        return key

    async def _head(self, session: AsyncSession, tenant_id: str) -> AuditHead:
        """The tenant's head row, locked for the rest of the transaction: selected once per transaction, then
        kept in ``session.info`` (a batch of 5,000 samples appends 5,000 entries under one lock)."""
        key = ("audit_head", tenant_id)
        transaction = session.get_transaction()
        held = session.info.get(key)
        if held is not None and transaction is not None and held[0] is transaction:
            cached: AuditHead = held[1]
            return cached
        head = await self._lock_head(session, tenant_id)
        session.info[key] = (transaction, head)
        return head

    async def _lock_head(self, session: AsyncSession, tenant_id: str) -> AuditHead:
        head = await session.get(AuditHead, tenant_id, with_for_update=True)
        if head is None:
            slug = (await session.execute(select(Tenant.slug).where(Tenant.id == tenant_id))).scalar_one()
            origin = self.origin(slug)
            head = AuditHead(tenant_id=tenant_id, origin=origin, next_seq=0, head=genesis_hash(origin), signed_size=0)
            session.add(head)
            await session.flush()
        return head

    async def record(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        actor: str,
        action: str,
        record_type: str,
        record_id: str,
        reason: str | None = None,
        old: Mapping[str, Any] | None = None,
        new: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> int:
        """Append one audit entry in the caller's transaction; returns its seq."""
        if action in REGULATED_ACTIONS and not (reason and reason.strip()):
            raise ValidationFailedError(f"a reason is required to {action.replace('_', ' ')} a {record_type}")
        head = await self._head(session, tenant_id)
        now = utcnow()
        payload = {
            "actor": actor,
            "action": action,
            "record_type": record_type,
            "record_id": record_id,
            "reason": reason,
            "old": log_value(dict(old)) if old is not None else None,
            "new": log_value(dict(new)) if new is not None else None,
            "request_id": request_id or context.request_id.get(),
        }
        chain = ChainWriter(head.origin, next_seq=head.next_seq, head=head.head)
        entry = chain.append("audit", payload, now, time.monotonic_ns())
        session.add(
            AuditEntry(
                tenant_id=tenant_id,
                seq=entry.seq,
                raw=entry.raw,
                action=action,
                record_type=record_type,
                record_id=record_id,
                actor=actor,
                created_at=now,
            )
        )
        head.next_seq = chain.next_seq
        head.head = chain.head
        if head.next_seq - head.signed_size >= self.checkpoint_every:
            self._checkpoint(session, head)
        return entry.seq

    def _checkpoint(self, session: AsyncSession, head: AuditHead) -> str:
        body = CheckpointBody(head.origin, head.next_seq, head.head)
        note = sign_checkpoint(body, [self.key_for(head.origin)]).render()
        session.add(AuditCheckpoint(tenant_id=head.tenant_id, size=head.next_seq, note=note))
        head.signed_size = head.next_seq
        return note

    async def checkpoint(self, session: AsyncSession, tenant_id: str) -> None:
        """Sign the current head if entries are unsigned (before an export)."""
        head = await self._head(session, tenant_id)
        if head.next_seq > head.signed_size or head.next_seq == 0:
            existing = await session.get(AuditCheckpoint, (tenant_id, head.next_seq))
            if existing is None:
                self._checkpoint(session, head)
