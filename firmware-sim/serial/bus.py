"""The line the instruments sit on: requests in, answers (or a stream) out, through the faults.

Requests end with CR (a following LF is ignored). With addresses (multi-drop), a request starting with ``#NN``
goes to instrument NN and any other request is ignored, as on RS-485; without, every request goes to the one
instrument. An instrument answers after ``turnaround`` seconds; a request that arrives while an answer is still
due is a collision, as two talkers on RS-485 garble each other: the collision is counted and neither is
answered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from faults import Faults
from instruments import Instrument, frame
from terminal import Terminal

log = logging.getLogger("serial_sim.bus")

MAX_REQUEST = 256


@dataclass
class Station:
    instrument: Instrument
    address: str  # "" when the line has one instrument and no addressing


class Bus:
    def __init__(
        self, stations: list[Station], faults: Faults, *, checksum: str, turnaround: float, started: float
    ) -> None:
        self.stations = stations
        self.faults = faults
        self.terminal: Terminal | None = None
        self._checksum = checksum
        self._turnaround = turnaround
        self._started = started
        self._buffer = bytearray()
        self._due: asyncio.TimerHandle | None = None
        self.requests = 0
        self.answers = 0
        self.lines = 0
        self.collisions = 0

    def counters(self) -> dict[str, int]:
        return {"requests": self.requests, "answers": self.answers, "lines": self.lines, "collisions": self.collisions}

    def on_bytes(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r")) >= 0:
            request = bytes(self._buffer[:end]).replace(b"\n", b"")
            del self._buffer[: end + 1]
            self._request(request.decode("ascii", "replace").strip())
        if len(self._buffer) > MAX_REQUEST:
            log.warning("dropping %d bytes without a CR", len(self._buffer))
            self._buffer.clear()

    def _request(self, request: str) -> None:
        self.requests += 1
        if self._due is not None:
            self._due.cancel()
            self._due = None
            self.collisions += 1
            log.info("collision: %r arrived while an answer was due", request)
            return
        station = self._station_for(request)
        if station is None:
            return
        payload = station.instrument.answer(request[len(station.address) :], self._now())
        out = self.faults.apply(frame(payload, address=station.address, checksum=self._checksum))
        if out is None:
            return
        if self._turnaround > 0:
            self._due = asyncio.get_running_loop().call_later(self._turnaround, self._answer, out)
        else:
            self._answer(out)

    def _station_for(self, request: str) -> Station | None:
        for station in self.stations:
            if request.startswith(station.address):
                return station
        return None

    def _answer(self, data: bytes) -> None:
        self._due = None
        if self.terminal is not None and self.terminal.write(data):
            self.answers += 1

    async def stream(self, interval: float) -> None:
        """Print one line per instrument every ``interval`` seconds, on a fixed schedule."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            for station in self.stations:
                line = frame(station.instrument.reading(self._now()), address=station.address, checksum=self._checksum)
                out = self.faults.apply(line)
                if out is not None and self.terminal is not None and self.terminal.write(out):
                    self.lines += 1

    def _now(self) -> float:
        return time.monotonic() - self._started
