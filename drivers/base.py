"""The shape every driver follows, the status it reports, and the errors it raises.

A driver is one connection to one device: I/O and decoding only. Retries, backoff and availability live
in the edge supervisor, which tells "retry later" from "permanent" with ``DriverError.retryable``. Every
error from an outside library is translated where the driver calls it (``raise DriverUnavailableError(...)
from exc``), so callers only ever catch ``DriverError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from protocol.models import Event, Observation

Reading = Observation | Event
"""What a poll yields: readings, and events for what a device reports or does wrong (a run started, a bad
frame skipped while good data around it still flows)."""

DriverState = Literal["closed", "open", "unavailable"]


class DriverError(Exception):
    """Root of every error a driver raises."""

    retryable: bool = False


class DriverUnavailableError(DriverError):
    """The device cannot be reached right now: connection refused, port gone, no answer. Retry later."""

    retryable = True


class DriverTimeoutError(DriverUnavailableError):
    """The device did not answer within the configured timeout."""


class BadFrameError(DriverError):
    """The device answered with data that cannot be used: wrong length, bad checksum, unparsable."""

    retryable = True


class DeviceExceptionError(DriverError):
    """The device answered with an error of its own, such as a Modbus exception code.

    ``retryable`` is decided per code by the driver: "busy" is worth retrying, "illegal address" is not.
    """

    def __init__(self, message: str, *, code: int | str, retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class DriverConfigError(DriverError):
    """The configuration cannot work (unknown channel, conflicting line settings). Retrying will not help."""


class UnencodableValueError(DriverError, ValueError):
    """A value cannot be written to a channel: out of range, or not a whole number of the channel's steps."""


@dataclass(frozen=True, slots=True)
class DriverStatus:
    """What a driver last knew about its device. Counters only grow; ``polls`` counts attempts."""

    state: DriverState = "closed"
    last_ok: datetime | None = None
    last_error: str | None = None
    polls: int = 0
    errors: int = 0
    bad_frames: int = 0

    def opened(self) -> DriverStatus:
        return replace(self, state="open")

    def closed(self) -> DriverStatus:
        return replace(self, state="closed")

    def succeeded(self, at: datetime, *, poll: bool = True) -> DriverStatus:
        return replace(self, state="open", last_ok=at, polls=self.polls + poll)

    def failed(self, error: DriverError, *, poll: bool = True) -> DriverStatus:
        unreachable = isinstance(error, DriverUnavailableError)
        return replace(
            self,
            state="unavailable" if unreachable else self.state,
            last_error=f"{type(error).__name__}: {error}",
            polls=self.polls + poll,
            errors=self.errors + 1,
            bad_frames=self.bad_frames + isinstance(error, BadFrameError),
        )


@runtime_checkable
class Driver(Protocol):
    """One connection to one device. I/O and decoding only; retries live in the edge supervisor."""

    async def open(self) -> None:
        """Connect. Raises ``DriverUnavailableError`` when the device cannot be reached."""

    async def poll(self) -> Sequence[Observation | Event]:
        """Read the device once (or take what it streamed since the last poll).

        Raises a ``DriverError`` when the poll as a whole failed; never returns a made-up value. A streaming driver
        that skipped a bad frame among good ones returns an ``Event`` of type ``bad_frame`` for it instead.
        """
        ...

    async def close(self) -> None:
        """Disconnect. Safe to call twice; never raises."""

    def status(self) -> DriverStatus:
        """The last known state, without I/O."""
        ...
