"""``tracseq hub worker``: the outbox relay and the event subscribers, until SIGTERM or SIGINT.

Any number of workers may run. The relay's ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serialises writers)
holds each batch's rows from select through publish to marking them published, so two relays never publish one
batch; they may publish different batches out of order, which idempotent subscribers absorb. With Redis, every
worker joins each subscriber's consumer group under its own consumer name; without it, each subscriber follows
the outbox table in this process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable, Sequence

from hub.api.app import build_alert_engine, build_notifier, build_state
from hub.api.state import HubState
from hub.events.bus import OutboxRelay
from hub.events.redis_bus import RedisStreamsBus
from hub.events.subscribers import IdempotentSubscriber, attach
from hub.logs import configure_logging
from hub.sagas.process import build_runner
from hub.settings import HubSettings

logger = logging.getLogger(__name__)

SubscriberFactory = Callable[[HubState], Sequence[IdempotentSubscriber]]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def no_subscribers(state: HubState) -> Sequence[IdempotentSubscriber]:
    return ()


async def run_worker(
    settings: HubSettings,
    *,
    subscribers: SubscriberFactory = no_subscribers,
    stop: asyncio.Event | None = None,
    consumer_name: str | None = None,
    log_json: bool = True,
) -> None:
    """Relay and consume until SIGTERM/SIGINT (or ``stop``); in-flight work finishes, nothing is cut off."""
    if log_json:
        configure_logging(settings)
    if settings.environment == "development" and settings.is_sqlite:
        from hub.migrations import upgrade

        await asyncio.to_thread(upgrade, settings.database_url)  # as the API does: the embedded hub sets itself up
    stop = stop or asyncio.Event()
    consumer = consumer_name or default_consumer_name()
    state = build_state(settings)
    notifier = build_notifier(settings, state)
    alert_engine = build_alert_engine(settings, state)
    loop = asyncio.get_running_loop()
    signals = _install_signal_handlers(loop, stop)
    try:
        chosen = [*subscribers(state), *alert_engine.subscribers()]
        followers = [s for s in chosen if attach(state.bus, s)]
        logger.info(
            "worker %s started: %s events, subscribers: %s",
            consumer,
            "Redis Streams" if isinstance(state.bus, RedisStreamsBus) else "in-process",
            ", ".join(s.name for s in chosen) or "none",
        )
        async with asyncio.TaskGroup() as tasks:
            relay = OutboxRelay(state.db, state.bus)
            state.db.on_commit.append(relay.notify)  # this worker's own writes (alerts, sagas) publish at once
            tasks.create_task(relay.run(stop), name="outbox-relay")
            tasks.create_task(notifier.run(stop), name="notifier")
            tasks.create_task(alert_engine.run(stop, follow_events=False), name="alerts")
            tasks.create_task(build_runner(settings, state).run(stop), name="sagas")
            if isinstance(state.bus, RedisStreamsBus):
                tasks.create_task(state.bus.run_consumers(stop, consumer), name="event-consumers")
            for follower in followers:
                tasks.create_task(follower.run(stop), name=f"subscriber:{follower.name}")
        logger.info("worker %s stopped", consumer)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await notifier.aclose()
        await state.bus.close()
        if state.redis is not None:
            await state.redis.aclose()
        await state.db.dispose()


def _install_signal_handlers(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[signal.Signals]:
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, _request_stop, signum, stop)
        except (NotImplementedError, RuntimeError):  # not the main thread, or a platform without them
            continue
        installed.append(signum)
    return installed


def _request_stop(signum: signal.Signals, stop: asyncio.Event) -> None:
    logger.info("received %s: stopping", signum.name)
    stop.set()
