"""Starting sagas and what people do with them: list by state, inspect steps and history, retry, abort (with a
reason in the audit trail). Everything in the caller's transaction, scoped to the caller's tenant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.sagas_models import Saga, SagaStep, SagaTransition
from hub.domain.identity import Principal
from hub.errors import ConflictError, NotFoundError, ValidationFailedError
from hub.sagas.context import principal_facts
from hub.sagas.definition import SagaDefinition
from hub.sagas.log import transition


@dataclass(frozen=True)
class SagaView:
    saga: Saga
    steps: tuple[SagaStep, ...]
    history: tuple[SagaTransition, ...]


def step_key(saga_id: str, position: int, name: str) -> str:
    return f"saga:{saga_id}:{position}:{name}"


class SagaBook:
    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit

    async def start(
        self,
        session: AsyncSession,
        principal: Principal,
        definition: SagaDefinition,
        inputs: Mapping[str, Any],
        *,
        start_key: str | None = None,
    ) -> Saga:
        """A new saga, to be run by a runner; with ``start_key``, a second start with the same key returns the
        first saga instead of starting another."""
        if start_key is not None:
            earlier = await self._by_start_key(session, principal.tenant_id, start_key)
            if earlier is not None:
                if earlier.type != definition.type:
                    raise ConflictError(f"the key {start_key!r} started a {earlier.type} saga already")
                return earlier
        now = utcnow()
        saga = Saga(
            id=new_id(),
            tenant_id=principal.tenant_id,
            type=definition.type,
            version=definition.version,
            state="running",
            current_step=0,
            pivot_passed=False,
            start_key=start_key,
            inputs={**inputs, "principal": principal_facts(principal)},
            started_by=principal.label,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(saga)
        session.add_all(
            SagaStep(
                saga_id=saga.id,
                position=n,
                name=step.name,
                state="pending",
                idempotency_key=step_key(saga.id, n, step.name),
                attempts=0,
                compensation_attempts=0,
                output={},
            )
            for n, step in enumerate(definition.steps)
        )
        try:
            await session.flush()
        except IntegrityError as exc:
            raise ConflictError("a saga with this key was started at the same moment; retry") from exc
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="create",
            record_type="saga",
            record_id=saga.id,
            new={"type": saga.type, "version": saga.version, "steps": [s.name for s in definition.steps]},
        )
        transition(session, saga, "started", actor=principal.label, version=saga.version)
        return saga

    async def _by_start_key(self, session: AsyncSession, tenant_id: str, key: str) -> Saga | None:
        query = select(Saga).where(Saga.tenant_id == tenant_id, Saga.start_key == key)
        return (await session.execute(query)).scalar_one_or_none()

    async def get(self, session: AsyncSession, tenant_id: str, saga_id: str, *, for_update: bool = False) -> Saga:
        query = select(Saga).where(Saga.tenant_id == tenant_id, Saga.id == saga_id)
        if for_update:
            query = query.with_for_update()
        saga = (await session.execute(query)).scalar_one_or_none()
        if saga is None:
            raise NotFoundError(f"no saga {saga_id}")
        return saga

    async def list(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        states: Sequence[str] = (),
        type: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Saga]:
        query = select(Saga).where(Saga.tenant_id == tenant_id)
        if states:
            query = query.where(Saga.state.in_(list(states)))
        if type is not None:
            query = query.where(Saga.type == type)
        query = query.order_by(Saga.created_at.desc(), Saga.id).limit(limit).offset(offset)
        return list((await session.execute(query)).scalars())

    async def view(self, session: AsyncSession, tenant_id: str, saga_id: str) -> SagaView:
        saga = await self.get(session, tenant_id, saga_id)
        steps = (
            await session.execute(select(SagaStep).where(SagaStep.saga_id == saga.id).order_by(SagaStep.position))
        ).scalars()
        history = (
            await session.execute(
                select(SagaTransition).where(SagaTransition.saga_id == saga.id).order_by(SagaTransition.id)
            )
        ).scalars()
        return SagaView(saga, tuple(steps), tuple(history))

    async def retry(self, session: AsyncSession, principal: Principal, saga_id: str, *, reason: str) -> Saga:
        """Resume a ``failed`` saga at its failed step, or a ``compensation_failed`` one at its failed compensation,
        with fresh attempts."""
        _need_reason(reason)
        saga = await self.get(session, principal.tenant_id, saga_id, for_update=True)
        if saga.state not in ("failed", "compensation_failed"):
            raise ConflictError(f"saga {saga.id} is {saga.state}; only a failed saga is retried")
        row = await session.get(SagaStep, (saga.id, saga.current_step))
        old = saga.state
        if saga.state == "failed":
            saga.state = "running"
            if row is not None:
                row.state, row.attempts = "pending", 0
        else:
            saga.state = "compensating"
            if row is not None:
                row.state, row.compensation_attempts = "compensating", 0
        now = utcnow()
        saga.error, saga.next_attempt_at, saga.updated_at, saga.finished_at = None, now, now, None
        saga.lease_owner, saga.lease_expires_at = None, None
        await self._audit(session, principal, saga, "retry", reason, old)
        transition(session, saga, "retried", actor=principal.label, reason=reason, was=old)
        return saga

    async def abort(self, session: AsyncSession, principal: Principal, saga_id: str, *, reason: str) -> Saga:
        """Stop a saga that has not passed its pivot: what its steps did is compensated, newest first."""
        _need_reason(reason)
        saga = await self.get(session, principal.tenant_id, saga_id, for_update=True)
        if saga.state not in ("running", "waiting", "failed"):
            raise ConflictError(f"saga {saga.id} is {saga.state}; only a running, waiting or failed saga is aborted")
        if saga.pivot_passed:
            raise ConflictError(f"saga {saga.id} is past its pivot: it can only go forward (retry it)")
        old = saga.state
        row = await session.get(SagaStep, (saga.id, saga.current_step))
        if row is not None and row.state in ("pending", "failed"):
            row.state = "skipped"
        now = utcnow()
        saga.state, saga.current_step = "compensating", saga.current_step - 1
        saga.next_attempt_at, saga.updated_at = now, now
        saga.lease_owner, saga.lease_expires_at = None, None
        await self._audit(session, principal, saga, "abort", reason, old)
        transition(session, saga, "aborted", actor=principal.label, reason=reason, was=old)
        return saga

    async def _audit(
        self, session: AsyncSession, principal: Principal, saga: Saga, action: str, reason: str, old: str
    ) -> None:
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action=action,
            record_type="saga",
            record_id=saga.id,
            reason=reason,
            old={"state": old},
            new={"state": saga.state},
        )


def _need_reason(reason: str) -> None:
    if not reason or len(reason.strip()) < 3:
        raise ValidationFailedError("say why (a reason of at least 3 characters, kept in the audit trail)")
