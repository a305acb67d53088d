"""JSON-lines control socket: one JSON object per line in, one JSON object per line back.

Commands: ``{"fault": NAME, "sensor": S, "count": N}`` (sensor and count optional; NAME "clear" clears all),
``{"fault": "o2_drop", "seconds": S}``, ``{"clear": NAME}``, ``{"publish": "now"}``, ``{"get": "state"}``.
A command that worked answers ``{"ok": true, ...state}``; one that did not answers ``{"ok": false, "error": ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Protocol

log = logging.getLogger("mqtt-sim.control")


class CommandError(Exception):
    pass


class Controlled(Protocol):
    def execute(self, command: dict[str, object]) -> None: ...

    def state(self) -> dict[str, object]: ...


def answer(target: Controlled, line: bytes) -> dict[str, object]:
    try:
        command = json.loads(line)
        if not isinstance(command, dict):
            raise CommandError("expected a JSON object")
        target.execute(command)
    except json.JSONDecodeError as err:
        return {"ok": False, "error": f"bad JSON: {err}"}
    except CommandError as err:
        return {"ok": False, "error": str(err)}
    return {"ok": True, **target.state()}


class ControlServer:
    limit = 64 * 1024

    def __init__(self, target: Controlled) -> None:
        self._target = target
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> str:
        self._server = await asyncio.start_server(self._serve, host, port, limit=self.limit)
        bound_host, bound_port = self._server.sockets[0].getsockname()[:2]
        return f"{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while line := await reader.readline():
                if line.strip():
                    writer.write(json.dumps(answer(self._target, line)).encode() + b"\n")
                    await writer.drain()
        except (ConnectionError, ValueError) as err:  # ValueError: a line over the stream limit
            log.warning("control connection dropped: %s", err)
        finally:
            self._connections.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
