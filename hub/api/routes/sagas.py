"""Sagas: start the lab's workflows, list them by state, inspect their steps and history, retry or abort them
(admins, with a reason); and the corrective actions an excursion response opens."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.models import Device, User
from hub.db.sagas_models import SAGA_STATES, CorrectiveAction, Saga, SagaStep, SagaTransition
from hub.db.sequencing_models import SequencingJob
from hub.domain.corrective_actions import CorrectiveActions
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.domain.sequencing_platforms import SequencingPlatform
from hub.domain.storage.layout import UNIT_KINDS
from hub.errors import NotFoundError, ValidationFailedError
from hub.sagas import REGISTRY, SagaBook
from hub.sagas.workflows import excursion, intake, sequencing

router = APIRouter(prefix="/v1", tags=["sagas"])

CanReadSagas = Annotated[Principal, Depends(require(Permission.EVENTS_READ))]
CanManageSagas = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
CanWriteSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_WRITE))]
CanWriteSequencing = Annotated[Principal, Depends(require(Permission.SEQUENCING_WRITE))]
CanReadStorage = Annotated[Principal, Depends(require(Permission.STORAGE_READ))]
CanWriteStorage = Annotated[Principal, Depends(require(Permission.STORAGE_WRITE))]
SagaState = Literal["running", "waiting", "compensating", "completed", "compensated", "compensation_failed", "failed"]
Reason = Annotated[str, Field(min_length=3, max_length=1000, description="why (kept in the audit trail)")]
Key = Annotated[str | None, Field(min_length=1, max_length=150, description="a second start with it returns the first")]


class StepPublic(BaseModel):
    position: int
    name: str
    state: str
    idempotency_key: str
    attempts: int
    compensation_attempts: int
    output: dict[str, Any]
    error: str | None
    wait_until: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, step: SagaStep) -> StepPublic:
        return cls(
            position=step.position,
            name=step.name,
            state=step.state,
            idempotency_key=step.idempotency_key,
            attempts=step.attempts,
            compensation_attempts=step.compensation_attempts,
            output={k: v for k, v in step.output.items() if k != "sheet"},
            error=step.error,
            wait_until=step.wait_until,
            started_at=step.started_at,
            finished_at=step.finished_at,
        )


class TransitionPublic(BaseModel):
    position: int | None
    step: str | None
    transition: str
    detail: dict[str, Any]
    actor: str
    at: datetime

    @classmethod
    def of(cls, row: SagaTransition) -> TransitionPublic:
        return cls(
            position=row.position,
            step=row.step,
            transition=row.transition,
            detail=row.detail,
            actor=row.actor,
            at=row.created_at,
        )


class SagaPublic(BaseModel):
    id: str
    type: str
    version: int
    state: str
    current_step: int
    pivot_passed: bool
    error: str | None
    started_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    next_attempt_at: datetime
    steps: list[StepPublic] | None = None
    history: list[TransitionPublic] | None = None

    @classmethod
    def of(cls, saga: Saga, steps: Any = None, history: Any = None) -> SagaPublic:
        return cls(
            id=saga.id,
            type=saga.type,
            version=saga.version,
            state=saga.state,
            current_step=saga.current_step,
            pivot_passed=saga.pivot_passed,
            error=saga.error,
            started_by=saga.started_by,
            created_at=saga.created_at,
            updated_at=saga.updated_at,
            finished_at=saga.finished_at,
            next_attempt_at=saga.next_attempt_at,
            steps=[StepPublic.of(s) for s in steps] if steps is not None else None,
            history=[TransitionPublic.of(t) for t in history] if history is not None else None,
        )


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class IntakeStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template_id: Annotated[str, Field(min_length=1, max_length=36)]
    container_id: Annotated[str, Field(min_length=1, max_length=36, description="where positions are allocated")]
    sheet_base64: Annotated[str, Field(min_length=1, max_length=14_000_000)]
    filename: Annotated[str, Field(min_length=1, max_length=255)] = "sheet.csv"
    content_type: Annotated[str | None, Field(max_length=200)] = None
    notify_user_ids: Annotated[list[Annotated[str, Field(max_length=36)]], Field(max_length=50)] = []
    key: Key = None


class SequencingStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100)]
    platform: SequencingPlatform
    job_ids: Annotated[list[Annotated[str, Field(max_length=36)]], Field(min_length=1, max_length=200)]
    device_id: Annotated[str, Field(min_length=1, max_length=36, description="the sequencer PC's edge")]
    flowcell_type: Annotated[str | None, Field(max_length=64)] = None
    lanes: Annotated[int | None, Field(ge=1, le=8)] = None
    lane_capacity: Annotated[int | None, Field(ge=1)] = None
    mismatches: Annotated[list[Annotated[int, Field(ge=0, le=2)]], Field(min_length=2, max_length=2)] = [1, 1]
    flow_cell: Annotated[str | None, Field(max_length=64)] = None
    start_deadline_s: Annotated[float, Field(gt=0, le=30 * 86400)] = 86400
    finish_deadline_s: Annotated[float, Field(gt=0, le=60 * 86400)] = 14 * 86400
    key: Key = None


class ExcursionStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: Annotated[str, Field(min_length=1, max_length=36)]
    reason: Reason
    excursion_id: Annotated[str | None, Field(max_length=36)] = None
    key: Key = None


class CorrectiveActionPublic(BaseModel):
    id: str
    title: str
    state: str
    saga_id: str | None
    unit_id: str | None
    excursion_id: str | None
    details: dict[str, Any]
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    comment: str | None

    @classmethod
    def of(cls, row: CorrectiveAction) -> CorrectiveActionPublic:
        return cls(
            id=row.id,
            title=row.title,
            state=row.state,
            saga_id=row.saga_id,
            unit_id=row.unit_id,
            excursion_id=row.excursion_id,
            details=row.details,
            opened_by=row.opened_by,
            opened_at=row.opened_at,
            closed_by=row.closed_by,
            closed_at=row.closed_at,
            comment=row.comment,
        )


class Closing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: Annotated[str, Field(min_length=3, max_length=5000, description="what was done")]


# -- sagas --------------------------------------------------------------------------------------------------------


@router.get("/sagas")
async def list_sagas(
    principal: CanReadSagas,
    session: ReadSessionDep,
    state: StateDep,
    saga_state: Annotated[list[SagaState] | None, Query(alias="state")] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SagaPublic]:
    rows = await SagaBook(state.audit).list(
        session, principal.tenant_id, states=saga_state or (), type=type, limit=limit, offset=offset
    )
    return [SagaPublic.of(s) for s in rows]


@router.get("/sagas/{saga_id}")
async def get_saga(saga_id: str, principal: CanReadSagas, session: ReadSessionDep, state: StateDep) -> SagaPublic:
    view = await SagaBook(state.audit).view(session, principal.tenant_id, saga_id)
    return SagaPublic.of(view.saga, view.steps, view.history)


@router.post("/sagas/{saga_id}/retry")
async def retry_saga(
    saga_id: str, body: Decision, principal: CanManageSagas, session: SessionDep, state: StateDep
) -> SagaPublic:
    return SagaPublic.of(await SagaBook(state.audit).retry(session, principal, saga_id, reason=body.reason))


@router.post("/sagas/{saga_id}/abort")
async def abort_saga(
    saga_id: str, body: Decision, principal: CanManageSagas, session: SessionDep, state: StateDep
) -> SagaPublic:
    return SagaPublic.of(await SagaBook(state.audit).abort(session, principal, saga_id, reason=body.reason))


async def _exists(session: AsyncSession, query: Any, what: str) -> None:
    if (await session.execute(query)).first() is None:
        raise NotFoundError(f"no {what}")


@router.post("/sagas/sample-intake", status_code=202)
async def start_sample_intake(
    body: IntakeStart, principal: CanWriteSamples, session: SessionDep, state: StateDep
) -> SagaPublic:
    try:
        base64.b64decode(body.sheet_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailedError("sheet_base64 is not base64") from exc
    await state.intake.get_template(session, principal.tenant_id, body.template_id)
    await state.storage.get(session, principal.tenant_id, body.container_id)
    for user_id in body.notify_user_ids:
        await _exists(session, select(User.id).where(User.tenant_id == principal.tenant_id, User.id == user_id), "user")
    inputs = body.model_dump(exclude={"key"})
    saga = await SagaBook(state.audit).start(session, principal, intake.DEFINITION, inputs, start_key=body.key)
    return SagaPublic.of(saga)


@router.post("/sagas/sequencing-submission", status_code=202)
async def start_sequencing_submission(
    body: SequencingStart, principal: CanWriteSequencing, session: SessionDep, state: StateDep
) -> SagaPublic:
    tenant = principal.tenant_id
    await _exists(session, select(Device.id).where(Device.tenant_id == tenant, Device.id == body.device_id), "device")
    found = set(
        (
            await session.execute(
                select(SequencingJob.id).where(SequencingJob.tenant_id == tenant, SequencingJob.id.in_(body.job_ids))
            )
        ).scalars()
    )
    missing = sorted(set(body.job_ids) - found)
    if missing:
        raise NotFoundError(f"no sequencing job {', '.join(missing[:20])}")
    inputs = body.model_dump(mode="json", exclude={"key"})
    saga = await SagaBook(state.audit).start(session, principal, sequencing.DEFINITION, inputs, start_key=body.key)
    return SagaPublic.of(saga)


@router.post("/sagas/excursion-response", status_code=202)
async def start_excursion_response(
    body: ExcursionStart, principal: CanWriteStorage, session: SessionDep, state: StateDep
) -> SagaPublic:
    await state.storage.get(session, principal.tenant_id, body.unit_id, kinds=UNIT_KINDS)
    inputs = body.model_dump(exclude={"key"})
    saga = await SagaBook(state.audit).start(session, principal, excursion.DEFINITION, inputs, start_key=body.key)
    return SagaPublic.of(saga)


@router.get("/saga-types")
async def saga_types(principal: CanReadSagas) -> dict[str, list[str]]:
    return {t: [s.name for s in d.steps] for t, d in sorted(REGISTRY.items())}


# -- corrective actions -------------------------------------------------------------------------------------------


@router.get("/corrective-actions")
async def list_corrective_actions(
    principal: CanReadStorage,
    session: ReadSessionDep,
    state: StateDep,
    action_state: Annotated[Literal["open", "closed"] | None, Query(alias="state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CorrectiveActionPublic]:
    rows = await CorrectiveActions(state.audit).list(
        session, principal.tenant_id, state=action_state, limit=limit, offset=offset
    )
    return [CorrectiveActionPublic.of(r) for r in rows]


@router.get("/corrective-actions/{action_id}")
async def get_corrective_action(
    action_id: str, principal: CanReadStorage, session: ReadSessionDep, state: StateDep
) -> CorrectiveActionPublic:
    return CorrectiveActionPublic.of(await CorrectiveActions(state.audit).get(session, principal.tenant_id, action_id))


@router.post("/corrective-actions/{action_id}/close")
async def close_corrective_action(
    action_id: str, body: Closing, principal: CanWriteStorage, session: SessionDep, state: StateDep
) -> CorrectiveActionPublic:
    closed = await CorrectiveActions(state.audit).close(session, principal, action_id, comment=body.comment)
    return CorrectiveActionPublic.of(closed)


__all__ = ["SAGA_STATES", "router"]
