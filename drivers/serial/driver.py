"""A serial ASCII instrument as a ``Driver``: asked for a line on each poll, or streaming lines on its own.

Request mode: a poll sends the request and parses the one line that answers it; a bad answer fails the poll
with a ``BadFrameError`` (there is nothing else to return). Stream mode: a reader task splits what arrives into
lines and parses each as it comes; a poll returns what arrived since the last one, good lines as observations
stamped with their arrival time (``source_ts``) and bad ones as ``bad_frame`` events among them. Either way a
bad frame is counted in ``status().bad_frames`` and logged once per burst: at the first, and again when good
frames return.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError

from drivers.base import DriverConfigError, DriverError, DriverStatus, DriverTimeoutError, DriverUnavailableError
from drivers.serial.config import SerialDeviceSettings
from drivers.serial.errors import BadLineError
from drivers.serial.framing import Frame, LineSplitter
from drivers.serial.parse import LineParser
from drivers.serial.port import DEFAULT_PORTS, PortRegistry, SerialPort
from protocol.models import Event, Identifier, Observation

logger = logging.getLogger(__name__)

MAX_PENDING = 10_000
"""Readings a stream holds for the next poll. Beyond it new lines are counted and reported, never silently lost."""
_DEVICE_ID: TypeAdapter[str] = TypeAdapter(Identifier)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SerialDriver:
    """One serial ASCII instrument. Devices on one port share its ``SerialPort`` from ``ports``."""

    def __init__(
        self,
        device_id: str,
        settings: SerialDeviceSettings,
        *,
        ports: PortRegistry | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self.device_id = _DEVICE_ID.validate_python(device_id)
        except ValidationError as exc:
            raise DriverConfigError(f"device {device_id!r}: not a valid device id: {exc}") from exc
        self.settings = settings
        self.port: SerialPort = (ports or DEFAULT_PORTS).port(settings.port.port)
        self.port.bind(self.device_id, settings.port, streams=settings.mode == "stream")
        self._parser = LineParser(self.device_id, settings)
        self._request = settings.request_bytes
        self._terminator = settings.terminator_bytes
        self._clock = clock
        self._monotonic = monotonic
        self._attached = False
        self._status = DriverStatus()
        self._bad_run = 0
        # stream mode
        self._reader: asyncio.Task[None] | None = None
        self._splitter = LineSplitter(self._terminator, settings.max_line_bytes)
        self._pending: deque[Observation | Event] = deque()
        self._dropped = 0
        self._failure: DriverError | None = None
        self._heard_at = 0.0

    def __repr__(self) -> str:
        return f"SerialDriver({self.device_id!r}, {self.port.name!r}, mode={self.settings.mode!r})"

    def status(self) -> DriverStatus:
        return self._status

    async def open(self) -> None:
        if not self._attached:
            self.port.attach()
            self._attached = True
        try:
            await self.port.connect()
        except DriverError as exc:
            self._status = self._status.failed(exc, poll=False)
            raise
        if self.settings.mode == "stream" and (self._reader is None or self._reader.done()):
            self._failure = None
            self._splitter.clear()
            self._heard_at = self._monotonic()
            self._reader = asyncio.create_task(self._read_stream(), name=f"serial-stream:{self.device_id}")
        self._status = self._status.opened()

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            self.port.cancel_read()
            reader.cancel()
            await asyncio.wait([reader])
        if self._attached:
            self._attached = False
            await self.port.detach()
        self._status = self._status.closed()

    async def poll(self) -> list[Observation | Event]:
        if not self._attached:
            raise DriverUnavailableError(f"{self.device_id}: closed; call open() first")
        if self.settings.mode == "stream":
            return self._collect()
        return list(await self._ask())

    # -- request mode -----------------------------------------------------------------------------------------

    async def _ask(self) -> list[Observation]:
        try:
            line = await self.port.exchange(
                self._request, terminator=self._terminator, max_bytes=self.settings.max_line_bytes
            )
            observations = self._parser.parse(line)
        except BadLineError as exc:
            self._bad_frame(exc)
            raise
        except DriverError as exc:
            self._status = self._status.failed(exc)
            raise
        self._good_frame()
        self._status = self._status.succeeded(self._clock())
        return observations

    # -- stream mode ------------------------------------------------------------------------------------------

    def _collect(self) -> list[Observation | Event]:
        readings = list(self._pending)
        self._pending.clear()
        if self._dropped:
            readings.append(self._dropped_event())
            self._dropped = 0
        if not readings:
            self._raise_if_unheard()
        self._status = self._status.succeeded(self._clock())
        return readings

    def _raise_if_unheard(self) -> None:
        """A reader that failed, or a line silent for too long, fails the poll (once what came before is out)."""
        error: DriverError | None = None
        if self._failure is not None:
            error = DriverUnavailableError(f"{self.device_id}: {self._failure}")
        else:
            silent_s = self._monotonic() - self._heard_at
            limit_s = self.settings.silence_limit_s
            if silent_s >= limit_s:
                error = DriverTimeoutError(
                    f"{self.device_id}: nothing received for {silent_s:.1f} s (silence_timeout_s {limit_s:g})"
                )
        if error is not None:
            self._status = self._status.failed(error)
            raise error from self._failure

    async def _read_stream(self) -> None:
        try:
            while True:
                chunk = await self.port.read_available()
                if chunk:
                    self._heard_at = self._monotonic()
                    received = self._clock()
                    for frame in self._splitter.feed(chunk):
                        self._take(frame, received)
        except DriverError as exc:
            self._stream_failed(exc)
        except Exception as exc:  # a bug, not the device: a background task must not fail unseen
            logger.exception("%s: the stream reader failed", self.device_id)
            self._stream_failed(DriverError(f"the stream reader failed: {exc!r}"))

    def _stream_failed(self, error: DriverError) -> None:
        self._failure = error
        self._status = self._status.failed(error, poll=False)

    def _take(self, frame: Frame, received: datetime) -> None:
        if frame.complete and not frame.data:
            return  # a blank line carries nothing, good or bad
        try:
            if not frame.complete:
                limit = self.settings.max_line_bytes
                raise BadLineError("too_long", f"no terminator within {limit} bytes", frame.data)
            observations = self._parser.parse(frame.data, source_ts=received)
        except BadLineError as exc:
            self._bad_frame(exc, poll=False)
            self._queue(
                Event(
                    type="bad_frame",
                    severity="warning",
                    device=self.device_id,
                    message=str(exc)[:1024],
                    attrs={"reason": exc.reason, "bytes": exc.hex_prefix, "length": len(exc.line)},
                )
            )
            return
        self._good_frame()
        for observation in observations:
            self._queue(observation)

    def _queue(self, reading: Observation | Event) -> None:
        if len(self._pending) < MAX_PENDING:
            self._pending.append(reading)
            return
        if not self._dropped:
            logger.warning("%s: %d readings wait for a poll; counting further lines as dropped", self, MAX_PENDING)
        self._dropped += 1

    def _dropped_event(self) -> Event:
        return Event(
            type="readings_dropped",
            severity="warning",
            device=self.device_id,
            message=f"{self._dropped} readings dropped: more than {MAX_PENDING} were waiting for a poll",
            attrs={"count": self._dropped},
        )

    # -- bad frames, logged once per burst --------------------------------------------------------------------

    def _bad_frame(self, error: BadLineError, *, poll: bool = True) -> None:
        self._status = self._status.failed(error, poll=poll)
        if not self._bad_run:  # the supervisor warns about the burst; this adds the reason and the bytes
            logger.info(
                "%s: bad frame (%s): %s [%s]; counting further bad frames until a good one arrives",
                self.device_id,
                error.reason,
                error,
                error.hex_prefix,
                extra={"device_id": self.device_id},
            )
        self._bad_run += 1

    def _good_frame(self) -> None:
        if self._bad_run:
            logger.info(
                "%s: good frames again after %d bad", self.device_id, self._bad_run, extra={"device_id": self.device_id}
            )
            self._bad_run = 0


def create_driver(device_id: str, settings: SerialDeviceSettings) -> SerialDriver:
    """The driver the edge builds for a device configured with ``driver = "serial"``."""
    return SerialDriver(device_id, settings)
