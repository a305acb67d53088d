"""Line-based JSON control socket: one JSON object per line in, one JSON object per line back.

Commands: {"fault": NAME} (or "clear" for all), {"clear": NAME}, {"door": "open"|"close"},
{"defrost": "start"|"stop"}, {"get": "state"}. A successful command answers {"ok": true, ...state};
a bad one answers {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import asyncio
import json
import logging

from freezer.device import Freezer
from freezer.faults import CLEAR, Fault
from freezer.listener import Listener

log = logging.getLogger("freezer.control")


class CommandError(Exception):
    pass


def execute(device: Freezer, command: object) -> None:
    """Carry out one decoded command; raise CommandError when it is not understood."""
    if not isinstance(command, dict) or len(command) != 1:
        raise CommandError("expected an object with exactly one key")
    ((key, value),) = command.items()
    device.advance()
    if key == "fault" and (value == CLEAR or value in Fault.__members__.values()):
        device.apply(value)
    elif key == "clear" and value in Fault.__members__.values():
        device.clear_fault(Fault(value))
    elif key == "door" and value in ("open", "close"):
        device.apply(f"door_{value}")
    elif key == "defrost" and value in ("start", "stop"):
        device.apply(f"defrost_{value}")
    elif not (key == "get" and value == "state"):
        raise CommandError(f"unknown command {json.dumps(command)}")


def answer(device: Freezer, line: bytes) -> dict[str, object]:
    try:
        execute(device, json.loads(line))
    except json.JSONDecodeError as err:
        return {"ok": False, "error": f"bad JSON: {err}"}
    except CommandError as err:
        return {"ok": False, "error": str(err)}
    return {"ok": True, **device.state()}


class ControlServer(Listener):
    def __init__(self, device: Freezer) -> None:
        super().__init__()
        self._device = device

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                if line.strip():
                    writer.write(json.dumps(answer(self._device, line)).encode() + b"\n")
                    await writer.drain()
        except ValueError as err:  # a line longer than the stream limit
            log.warning("control connection dropped: %s", err)
