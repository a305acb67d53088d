"""Corrective action records: opened by a process (an excursion response) and closed by a person with a comment.
Opening is idempotent on a key, so a retried step opens one record. Audited and published as
``corrective_action.*`` events in the caller's transaction; every query scoped to the tenant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.sagas_models import CorrectiveAction
from hub.domain.identity import Principal
from hub.errors import ConflictError, NotFoundError, ValidationFailedError
from hub.events.outbox import record_event


class CorrectiveActions:
    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit

    async def open(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        key: str,
        title: str,
        details: Mapping[str, Any],
        saga_id: str | None = None,
        unit_id: str | None = None,
        excursion_id: str | None = None,
    ) -> CorrectiveAction:
        """Open a record, or return the one ``key`` opened already."""
        earlier = (
            await session.execute(
                select(CorrectiveAction).where(
                    CorrectiveAction.tenant_id == principal.tenant_id, CorrectiveAction.open_key == key
                )
            )
        ).scalar_one_or_none()
        if earlier is not None:
            return earlier
        action = CorrectiveAction(
            id=new_id(),
            tenant_id=principal.tenant_id,
            open_key=key,
            saga_id=saga_id,
            unit_id=unit_id,
            excursion_id=excursion_id,
            title=title[:300],
            details=dict(details),
            state="open",
            opened_by=principal.label,
            opened_at=utcnow(),
        )
        session.add(action)
        await session.flush()
        facts = {"title": action.title, "unit_id": unit_id, "excursion_id": excursion_id, "saga_id": saga_id}
        await self._record(session, principal, action, "create", None, facts, "corrective_action.opened")
        return action

    async def get(
        self, session: AsyncSession, tenant_id: str, action_id: str, *, for_update: bool = False
    ) -> CorrectiveAction:
        query = select(CorrectiveAction).where(
            CorrectiveAction.tenant_id == tenant_id, CorrectiveAction.id == action_id
        )
        if for_update:
            query = query.with_for_update()
        action = (await session.execute(query)).scalar_one_or_none()
        if action is None:
            raise NotFoundError(f"no corrective action {action_id}")
        return action

    async def list(
        self, session: AsyncSession, tenant_id: str, *, state: str | None, limit: int, offset: int
    ) -> list[CorrectiveAction]:
        query = select(CorrectiveAction).where(CorrectiveAction.tenant_id == tenant_id)
        if state is not None:
            query = query.where(CorrectiveAction.state == state)
        query = query.order_by(CorrectiveAction.opened_at.desc(), CorrectiveAction.id).limit(limit).offset(offset)
        return list((await session.execute(query)).scalars())

    async def close(
        self, session: AsyncSession, principal: Principal, action_id: str, *, comment: str
    ) -> CorrectiveAction:
        if not comment or len(comment.strip()) < 3:
            raise ValidationFailedError("closing a corrective action needs a comment (what was done)")
        action = await self.get(session, principal.tenant_id, action_id, for_update=True)
        if action.state != "open":
            raise ConflictError(f"corrective action {action.id} is closed already ({action.closed_by})")
        action.state, action.closed_by, action.closed_at, action.comment = "closed", principal.label, utcnow(), comment
        await self._record(
            session, principal, action, "update", comment, {"state": "closed"}, "corrective_action.closed"
        )
        return action

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        action: CorrectiveAction,
        verb: str,
        reason: str | None,
        facts: dict[str, Any],
        event: str,
    ) -> None:
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action=verb,
            record_type="corrective_action",
            record_id=action.id,
            reason=reason,
            new=facts,
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type=event,
            subject_type="corrective_action",
            subject_id=action.id,
            actor=principal.label,
            payload=facts,
        )
