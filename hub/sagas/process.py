"""The saga runner as a process: alone (``tracseq hub sagas run``), or beside the API in one process (``tracseq
hub sagas serve``, the embedded hub); both stop on SIGTERM/SIGINT. Crash points (``hub.sagas.crash``) are read
here, from the environment, and refused in production."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from hub.api.state import HubState
from hub.sagas.crash import CrashPoints
from hub.sagas.engine import SagaRunner
from hub.sagas.workflows import REGISTRY
from hub.settings import HubSettings

logger = logging.getLogger(__name__)


def build_runner(
    settings: HubSettings, state: HubState, *, lease_s: float = 60.0, concurrency: int = 8, poll_s: float = 0.5
) -> SagaRunner:
    return SagaRunner(
        state.db,
        state,
        REGISTRY,
        lease=timedelta(seconds=lease_s),
        concurrency=concurrency,
        poll_s=poll_s,
        crash=CrashPoints.from_env(settings.environment),
    )


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)


async def run_runner_only(settings: HubSettings, *, lease_s: float, concurrency: int, poll_s: float) -> None:
    from hub.api.app import build_state
    from hub.logs import configure_logging

    configure_logging(settings)
    state = build_state(settings)
    stop = asyncio.Event()
    _on_signals(stop)
    try:
        await build_runner(settings, state, lease_s=lease_s, concurrency=concurrency, poll_s=poll_s).run(stop)
    finally:
        await state.db.dispose()


async def serve_with_runner(
    settings: HubSettings, *, host: str, port: int, lease_s: float, poll_s: float, runner: bool = True
) -> None:
    import uvicorn

    from hub.api.app import create_app
    from hub.logs import configure_logging

    configure_logging(settings)
    # this process runs its own runner (with the lease and poll given here): not a second one in the app
    app = create_app(settings.model_copy(update={"sagas_in_process": False}))
    state: HubState = app.state.hub
    sagas = build_runner(settings, state, lease_s=lease_s, poll_s=poll_s)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, log_level="warning"))
    stop = asyncio.Event()

    async def run() -> None:
        while not server.started and not server.should_exit:  # noqa: ASYNC110 - uvicorn has a flag, not an event
            await asyncio.sleep(0.05)  # the lifespan migrates an embedded database before the runner starts
        if runner:
            await sagas.run(stop)

    task = asyncio.create_task(run(), name="saga-runner")
    try:
        await server.serve()
    finally:
        stop.set()
        await task
