"""``create_app(settings)``: the hub's FastAPI application. No import-time globals: everything is built here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from hub.api import problems
from hub.api.middleware import BodyLimit, Metrics, RequestContext
from hub.api.routes import (
    alerts,
    auth,
    devices,
    health,
    intake,
    notifications,
    records,
    samples,
    sequencing,
    storage,
    users,
)
from hub.api.state import HubState
from hub.audit.trail import AuditTrail
from hub.db.base import Database
from hub.domain.devices import Devices
from hub.domain.identity import Identity
from hub.domain.ingest import Ingest
from hub.domain.intake import Intake
from hub.domain.samples import Samples
from hub.domain.sequencing import Sequencing
from hub.domain.storage import Storage
from hub.events.bus import EventBus, InProcessBus, OutboxRelay
from hub.ratelimit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from hub.settings import HubSettings

logger = logging.getLogger(__name__)


def build_state(settings: HubSettings) -> HubState:
    db = Database(settings.database_url)
    audit = AuditTrail(settings.name, settings.audit_key_file, settings.audit_checkpoint_every)
    redis = None
    limiter: RateLimiter = InProcessRateLimiter()
    bus: EventBus = InProcessBus()
    if settings.redis_url:
        from redis.asyncio import Redis

        from hub.events.redis_bus import RedisStreamsBus

        redis = Redis.from_url(settings.redis_url)
        limiter = RedisRateLimiter(redis)
        bus = RedisStreamsBus(redis, settings.events_stream)
    sample_service = Samples(audit)
    return HubState(
        settings=settings,
        db=db,
        audit=audit,
        identity=Identity(settings, audit),
        limiter=limiter,
        bus=bus,
        metrics=Metrics(),
        redis=redis,
        devices=Devices(audit),
        ingest=Ingest(audit, settings.witness_key_file, settings.name, max_concurrent=settings.ingest_concurrency),
        samples=sample_service,
        storage=Storage(audit, sample_service),
        intake=Intake(audit, sample_service),
        sequencing=Sequencing(audit, sample_service),
    )


def create_app(settings: HubSettings, *, run_relay: bool | None = None) -> FastAPI:
    """The API. ``run_relay`` (default: when no Redis is configured) runs the outbox relay in this process."""
    state = build_state(settings)
    relay_here = run_relay if run_relay is not None else settings.redis_url is None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.environment == "development" and settings.is_sqlite:
            from hub.migrations import upgrade

            await asyncio.to_thread(upgrade, settings.database_url)
        stop = asyncio.Event()
        relay_task = None
        if relay_here:
            relay_task = asyncio.create_task(OutboxRelay(state.db, state.bus).run(stop), name="outbox-relay")
        try:
            yield
        finally:
            stop.set()
            if relay_task is not None:
                await relay_task
            await state.bus.close()
            if state.redis is not None:
                await state.redis.aclose()
            await state.db.dispose()

    app = FastAPI(
        title="TracSeq hub",
        version="0.1.0",
        lifespan=lifespan,
        description="The lab's hub: identity and roles, events, audit trail; every query scoped to the tenant.",
    )
    app.state.hub = state
    problems.install(app)
    for router in (
        health.router,
        auth.router,
        auth.me_router,
        users.router,
        records.router,
        devices.router,
        devices.sync_router,
        samples.router,
        storage.router,
        intake.router,
        sequencing.router,
        alerts.router,
        notifications.router,
    ):
        app.include_router(router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RequestContext, metrics=state.metrics)
    return app
