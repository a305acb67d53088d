"""``create_app(settings)``: the hub's FastAPI application. No import-time globals: everything is built here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI

from hub.alerts import AlertEngine, Flapping, HoldTimes
from hub.api import problems
from hub.api.middleware import BodyLimit, Metrics, RequestContext
from hub.api.routes import (
    ai,
    alerts,
    anomaly,
    auth,
    devices,
    health,
    intake,
    notifications,
    records,
    sagas,
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
from hub.notify import Notifier, SmtpRelay
from hub.ratelimit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from hub.sagas.process import build_runner
from hub.settings import HubSettings
from hub.web import mount_pages

logger = logging.getLogger(__name__)
# routes that take a file as their body (a spreadsheet, a manual as PDF): ``max_upload_bytes`` instead
UPLOAD_PATHS = r"/v1/intake/templates/[^/]+/uploads|/v1/ai/documents"


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
    storage_service = Storage(audit, sample_service)
    sequencing_service = Sequencing(audit, sample_service)
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
        ingest=Ingest(
            audit,
            settings.witness_key_file,
            settings.name,
            max_concurrent=settings.ingest_concurrency,
            event_handlers=[storage_service.on_device_events, sequencing_service.on_device_events],
        ),
        samples=sample_service,
        storage=storage_service,
        intake=Intake(audit, sample_service),
        sequencing=sequencing_service,
    )


def build_notifier(settings: HubSettings, state: HubState) -> Notifier:
    return Notifier(
        state.db,
        smtp=SmtpRelay(settings.smtp_host, settings.smtp_port, settings.smtp_security),
        sms_api_url=settings.sms_api_url,
        poll_interval_s=settings.notify_poll_interval_s,
    )


def build_alert_engine(settings: HubSettings, state: HubState) -> AlertEngine:
    return AlertEngine(
        state.db,
        state.audit,
        bus=state.bus,
        mqtt_url=settings.alerts_mqtt_url,
        tick_s=settings.alerts_tick_s,
        scan_s=settings.alerts_scan_s,
        holds=HoldTimes(
            timedelta(seconds=settings.alerts_door_hold_s),
            timedelta(seconds=settings.alerts_door_longest_s),
            timedelta(seconds=settings.alerts_defrost_hold_s),
            timedelta(seconds=settings.alerts_defrost_longest_s),
        ),
        flapping=Flapping(settings.alerts_flap_threshold, timedelta(seconds=settings.alerts_flap_window_s)),
        webhook_timeout_s=settings.alerts_webhook_timeout_s,
        webhook_max_attempts=settings.alerts_webhook_max_attempts,
        webhook_backoff=timedelta(seconds=settings.alerts_webhook_backoff_s),
    )


def create_app(settings: HubSettings, *, run_relay: bool | None = None) -> FastAPI:
    """The API. ``run_relay`` (default: when no Redis is configured, the embedded default) runs the background
    work in this process too: the outbox relay, the alert engine and the notification delivery loop."""
    state = build_state(settings)
    relay_here = run_relay if run_relay is not None else settings.redis_url is None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.environment == "development" and settings.is_sqlite:
            from hub.migrations import upgrade

            await asyncio.to_thread(upgrade, settings.database_url)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        notifier = build_notifier(settings, state) if relay_here and settings.notify_in_process else None
        if relay_here:
            relay = OutboxRelay(state.db, state.bus)
            state.db.on_commit.append(relay.notify)  # publish as soon as a change commits, not at the next poll
            tasks.append(asyncio.create_task(relay.run(stop), name="outbox-relay"))
        if notifier is not None:
            tasks.append(asyncio.create_task(notifier.run(stop), name="notifier"))
        if relay_here and settings.sagas_in_process:
            tasks.append(asyncio.create_task(build_runner(settings, state).run(stop), name="sagas"))
        if relay_here and settings.alerts_in_process:
            tasks.append(asyncio.create_task(build_alert_engine(settings, state).run(stop), name="alerts"))
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task
            if notifier is not None:
                await notifier.aclose()
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
        anomaly.router,
        notifications.router,
        sagas.router,
        ai.router,
    ):
        app.include_router(router)
    mount_pages(app, state)  # the web pages under /ui
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
        upload_paths=UPLOAD_PATHS,
    )
    app.add_middleware(RequestContext, metrics=state.metrics)
    return app
