"""Anomaly models of storage units: each unit's model versions (trained range, threshold, metrics) and where its
scorer stands (the last window's score, the feature behind it, whether the unit is flagged); training a new
version. Reading needs ``storage:read``; training needs ``alerts:manage`` and is audited. Every query is scoped to
the caller's tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.alerts.anomaly import AnomalyService, model_public
from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.errors import NotFoundError

router = APIRouter(prefix="/v1", tags=["anomaly"])

CanRead = Annotated[Principal, Depends(require(Permission.STORAGE_READ))]
CanManage = Annotated[Principal, Depends(require(Permission.ALERTS_MANAGE))]
PathId = Annotated[str, Field(max_length=64)]


class AnomalyModelPublic(BaseModel):
    id: str
    unit_id: str
    version: int
    algorithm: str
    active: bool
    window_s: int
    hold: int
    trained_from: datetime
    trained_to: datetime
    trained_at: datetime
    trained_by: str
    threshold: float
    metrics: dict[str, Any]
    scored_until: datetime
    last_score: float | None
    last_feature: str | None
    last_window_end: datetime | None
    anomalous_streak: int
    normal_streak: int
    flagged: bool


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: Annotated[int, Field(ge=2, le=90, description="days of history before `until` the unit was normal in")] = 14
    until: datetime | None = Field(default=None, description="end of the normal history; default: now")
    reason: Annotated[str | None, Field(max_length=500)] = None


def _service(state: StateDep) -> AnomalyService:
    return AnomalyService(state.db, state.audit)


ServiceDep = Annotated[AnomalyService, Depends(_service)]


@router.get("/anomaly/models")
async def list_anomaly_models(
    principal: CanRead,
    service: ServiceDep,
    session: ReadSessionDep,
    unit_id: Annotated[str | None, Query(max_length=64, description="one unit's versions, newest first")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AnomalyModelPublic]:
    rows = await service.models(session, principal.tenant_id, unit_id=unit_id, limit=limit, offset=offset)
    return [AnomalyModelPublic(**model_public(r)) for r in rows]


@router.get("/anomaly/models/{anomaly_model_id}")
async def get_anomaly_model(
    anomaly_model_id: PathId, principal: CanRead, service: ServiceDep, session: ReadSessionDep
) -> AnomalyModelPublic:
    return AnomalyModelPublic(**model_public(await service.get(session, principal.tenant_id, anomaly_model_id)))


@router.get("/anomaly/units/{anomaly_unit_id}")
async def get_unit_anomaly_model(
    anomaly_unit_id: PathId, principal: CanRead, service: ServiceDep, session: ReadSessionDep
) -> AnomalyModelPublic:
    """The unit's active model and its current score."""
    row = await service.active(session, principal.tenant_id, anomaly_unit_id)
    if row is None:
        raise NotFoundError(f"no anomaly model for unit {anomaly_unit_id}; train one first")
    return AnomalyModelPublic(**model_public(row))


@router.post("/anomaly/units/{anomaly_unit_id}/train", status_code=201)
async def train_unit_anomaly_model(
    anomaly_unit_id: PathId, body: TrainRequest, principal: CanManage, service: ServiceDep, session: SessionDep
) -> AnomalyModelPublic:
    """A new version of the unit's model from its last ``days`` of readings (which the caller vouches were
    normal); it replaces the active version, and the unit's open anomaly alert resolves. 422 when the history is
    too short or the unit has no bound temperature channel."""
    row = await service.train(
        session,
        principal.tenant_id,
        anomaly_unit_id,
        actor=principal.label,
        days=body.days,
        until=body.until,
        reason=body.reason,
    )
    return AnomalyModelPublic(**model_public(row))
