"""Writing the saga log: a transition line and its ``saga.*`` event, in the caller's transaction, for every change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import log_value
from hub.db.sagas_models import Saga, SagaTransition
from hub.events.outbox import record_event


def transition(
    session: AsyncSession,
    saga: Saga,
    name: str,
    *,
    actor: str,
    position: int | None = None,
    step: str | None = None,
    **detail: Any,
) -> None:
    """Record ``name`` (``step_done``, ``compensating``, ``failed``…) in the saga's history and as a
    ``saga.<name>`` event; ``failed`` and ``compensation_failed`` also publish ``saga.failed``, which the alerts
    engine turns into an alert."""
    facts = log_value({k: v for k, v in detail.items() if v is not None})
    session.add(
        SagaTransition(
            saga_id=saga.id,
            tenant_id=saga.tenant_id,
            position=position,
            step=step,
            transition=name,
            detail=facts,
            actor=actor,
        )
    )
    payload = {"saga_id": saga.id, "saga": saga.type, "type": saga.type, "state": saga.state, "step": step, **facts}
    record_event(
        session,
        tenant_id=saga.tenant_id,
        type=f"saga.{name}",
        subject_type="saga",
        subject_id=saga.id,
        actor=actor,
        payload=payload,
    )
    if name == "compensation_failed":
        error = facts.get("error")
        record_event(
            session,
            tenant_id=saga.tenant_id,
            type="saga.failed",
            subject_type="saga",
            subject_id=saga.id,
            actor=actor,
            payload={**payload, "error": error, "reason": f"compensation failed at {step}: {error}"},
        )
