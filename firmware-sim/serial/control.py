"""Line-based JSON control socket: one JSON object per line in, one JSON object per line back.

Commands: ``{"fault": NAME, "count": N}`` (NAME: silence, garbage, truncate, bad_checksum; ``count`` optional),
``{"fault": "unplug"}``, ``{"fault": "replug"}``, ``{"fault": "clear"}`` (every fault, and plugs back in),
``{"clear": NAME}``, ``{"get": "state"}``. Success answers ``{"ok": true, ...state}``; anything else
``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from bus import Bus
from terminal import Terminal

log = logging.getLogger("serial_sim.control")


class CommandError(Exception):
    pass


class Control:
    def __init__(self, bus: Bus, terminal: Terminal, describe: Callable[[], dict[str, Any]]) -> None:
        self._bus = bus
        self._terminal = terminal
        self._describe = describe
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def state(self) -> dict[str, Any]:
        return {
            **self._describe(),
            "tty": self._terminal.tty,
            "plugged": self._terminal.plugged,
            "faults": dict(self._bus.faults.active),
            **self._bus.counters(),
        }

    def execute(self, command: object) -> None:
        if not isinstance(command, dict) or not command:
            raise CommandError("expected a JSON object")
        if "fault" in command and set(command) <= {"fault", "count"}:
            self._fault(command["fault"], command.get("count"))
        elif set(command) == {"clear"}:
            self._bus.faults.clear(str(command["clear"]))
        elif command != {"get": "state"}:
            raise CommandError(f"unknown command {json.dumps(command)}")

    def _fault(self, name: object, count: object) -> None:
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            raise CommandError("count must be a whole number")
        if name == "unplug":
            self._terminal.unplug()
        elif name == "replug":
            self._terminal.plug()
        elif name == "clear":
            self._bus.faults.clear()
            self._terminal.plug()
        else:
            try:
                self._bus.faults.add(str(name), count)
            except ValueError as err:
                raise CommandError(str(err)) from None
        log.info("fault %s%s", name, f" x{count}" if count else "")

    def answer(self, line: bytes) -> dict[str, Any]:
        try:
            self.execute(json.loads(line))
        except json.JSONDecodeError as err:
            return {"ok": False, "error": f"bad JSON: {err}"}
        except CommandError as err:
            return {"ok": False, "error": str(err)}
        return {"ok": True, **self.state()}

    async def start(self, host: str, port: int) -> str:
        self._server = await asyncio.start_server(self._serve, host, port)
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
                    writer.write(json.dumps(self.answer(line)).encode() + b"\n")
                    await writer.drain()
        except (ConnectionError, ValueError) as err:  # ValueError: a line longer than the stream limit
            log.debug("control connection ended: %s", err)
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()
