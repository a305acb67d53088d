"""Liveness, readiness (database and bus reachable) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from hub.api.deps import StateDep
from hub.errors import UnavailableError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: StateDep) -> dict[str, str]:
    try:
        async with state.db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise UnavailableError(f"the database is not reachable: {type(exc).__name__}") from exc
    bus = "in-process"
    if state.redis is not None:
        try:
            await state.redis.ping()
        except Exception as exc:
            raise UnavailableError(f"redis is not reachable: {type(exc).__name__}") from exc
        bus = "redis"
    return {"status": "ready", "database": state.db.dialect, "bus": bus}


@router.get("/metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
