"""One supervisor per device: it owns the poll loop, the connection, backoff and availability.

Time is divided into poll slots of ``poll_interval_s``. A slot whose poll did not deliver (device unreachable, a
timeout, backing off after a failure) is a missed poll; missed polls are reported as ``gap`` entries covering
from the first missed slot to the end of the outage (and every ``gap_report_s`` during a long one), so the log
never has a silent hole and never a made-up value. A failure is logged once at ERROR, and again when the device
recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from drivers import BadFrameError, Driver, DriverError
from edge.clock import Clock
from edge.config import DeviceConfig
from protocol.encoding import format_timestamp
from protocol.models import Event, Observation

logger = logging.getLogger(__name__)

Availability = Literal["starting", "available", "unavailable", "stopped"]
_BACKOFF_BASE_S = 1.0
_BACKOFF_MAX_S = 60.0


class ReadingSink(Protocol):
    def on_readings(self, device: str, readings: Sequence[Observation | Event]) -> None: ...

    def on_event(self, event: Event) -> None: ...

    def on_gap(self, payload: dict[str, object]) -> None: ...


@dataclass
class DeviceHealth:
    device: str
    availability: Availability = "starting"
    last_ok: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    missed_polls: int = 0
    bad_frames: int = 0
    polls: int = 0


class DeviceSupervisor:
    def __init__(
        self,
        config: DeviceConfig,
        driver: Driver,
        sink: ReadingSink,
        clock: Clock,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.driver = driver
        self.sink = sink
        self.clock = clock
        self.health = DeviceHealth(config.id)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._open = False
        self._retry_at = 0.0
        self._gap_from: datetime | None = None
        self._gap_missed = 0
        self._gap_reason = ""
        self._gap_reported_at = 0.0
        self._failing_since: datetime | None = None
        self._bad_burst = False

    # -- the loop ---------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.config.poll_interval_s
        next_slot = self._mono()
        try:
            while not stop.is_set():
                now = self._mono()
                if now < next_slot:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), next_slot - now)
                    if stop.is_set():
                        break
                await self._slot()
                next_slot += interval
                behind = self._mono() - next_slot
                if behind > 0:  # the poll overran its slots: each skipped slot is a missed poll
                    skipped = int(behind // interval) + 1
                    self._missed(skipped, "poll overran its interval")
                    next_slot += skipped * interval
        finally:
            await self._finish()

    async def _slot(self) -> None:
        if self._mono() < self._retry_at:
            self._missed(1, self._gap_reason or "backing off")
            return
        timeout = self.config.poll_timeout_s
        try:
            if not self._open:
                await asyncio.wait_for(self.driver.open(), timeout)
                self._open = True
            readings = await asyncio.wait_for(self.driver.poll(), timeout)
        except BadFrameError as exc:
            self._bad_frame(str(exc), exc)
            self._missed(1, f"bad frame: {exc}")
            return
        except (DriverError, TimeoutError, OSError) as exc:
            await self._failed(exc)
            return
        self._succeeded(readings)

    # -- outcomes ---------------------------------------------------------------------------------------------

    def _succeeded(self, readings: Sequence[Observation | Event]) -> None:
        health = self.health
        now = self.clock.utc()
        if health.availability == "unavailable" and self._failing_since is not None:
            down_s = (now - self._failing_since).total_seconds()
            logger.info("device %s recovered after %.0f s", self.config.id, down_s, extra={"device_id": self.config.id})
            self.sink.on_event(
                Event(
                    type="device_recovered",
                    severity="info",
                    device=self.config.id,
                    message=f"device answers again after {down_s:.0f} s",
                    attrs={"down_ms": int(down_s * 1000)},
                )
            )
        self._report_gap(now)
        self._failing_since = None
        health.availability = "available"
        health.last_ok = now
        health.consecutive_failures = 0
        health.polls += 1
        self._retry_at = 0.0
        bad = [r for r in readings if isinstance(r, Event) and r.type == "bad_frame"]
        if bad:
            health.bad_frames += len(bad)
            if not self._bad_burst:
                logger.warning("device %s sent bad data: %s", self.config.id, bad[0].message)
            self._bad_burst = True
        else:
            self._bad_burst = False
        self.sink.on_readings(self.config.id, readings)

    async def _failed(self, exc: BaseException) -> None:
        health = self.health
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {self.config.poll_timeout_s:g} s"
        health.last_error = reason
        health.consecutive_failures += 1
        retryable = getattr(exc, "retryable", True)
        if health.availability != "unavailable":
            logger.error("device %s failed: %s", self.config.id, reason, extra={"device_id": self.config.id})
            self._failing_since = self.clock.utc()
            self.sink.on_event(
                Event(
                    type="device_unavailable",
                    severity="warning",
                    device=self.config.id,
                    message=reason[:1000],
                    attrs={"retryable": bool(retryable)},
                )
            )
        health.availability = "unavailable"
        self._missed(1, reason)
        with contextlib.suppress(Exception):
            await self.driver.close()
        self._open = False
        delay = min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2 ** (health.consecutive_failures - 1))
        self._retry_at = self._mono() + delay * self._rng.uniform(0.5, 1.0)

    def _bad_frame(self, message: str, exc: BaseException | None = None) -> None:
        self.health.bad_frames += 1
        if not self._bad_burst:
            logger.warning("device %s sent a bad frame: %s", self.config.id, message)
        self._bad_burst = True
        attrs: dict[str, str | int | bool | None] = {}
        for name, key in (("reason", "reason"), ("hex_prefix", "bytes")):
            value = getattr(exc, name, None)
            if isinstance(value, str):
                attrs[key] = value[:200]
        self.sink.on_event(
            Event(type="bad_frame", severity="warning", device=self.config.id, message=message[:1000], attrs=attrs)
        )

    def _missed(self, count: int, reason: str) -> None:
        if self._gap_from is None:
            self._gap_from = self.clock.utc()
            self._gap_reason = reason
            self._gap_reported_at = self._mono()
        self._gap_missed += count
        self.health.missed_polls += count
        if self._mono() - self._gap_reported_at >= self.config.gap_report_s:
            self._report_gap(self.clock.utc())

    def _report_gap(self, until: datetime) -> None:
        if self._gap_from is None or self._gap_missed == 0:
            self._gap_from = None
            return
        self.sink.on_gap(
            {
                "device": self.config.id,
                "from": format_timestamp(self._gap_from),
                "to": format_timestamp(until),
                "missed_polls": self._gap_missed,
                "poll_interval_ms": int(self.config.poll_interval_s * 1000),
                "reason": self._gap_reason[:500],
            }
        )
        self._gap_from = None
        self._gap_missed = 0
        self._gap_reported_at = self._mono()

    async def _finish(self) -> None:
        self._report_gap(self.clock.utc())
        if self._open:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.driver.close(), self.config.poll_timeout_s)
        self._open = False
        self.health.availability = "stopped"

    def _mono(self) -> float:
        return self.clock.mono_ns() / 1e9
