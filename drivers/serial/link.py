"""The blocking side of a serial port: pyserial behind a small protocol, and the two things done with it.

Everything here runs in a port's worker thread, never on the event loop. pyserial's errors are translated to
ours here: ``SerialException`` is an ``OSError``, and a port that vanished (USB adapter pulled, pty closed)
shows up as one on the next read or write, or as a ``termios.error`` when the input buffer is flushed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import serial

try:
    import termios
except ImportError:  # Windows: pyserial reports everything as SerialException there
    PORT_ERRORS: tuple[type[Exception], ...] = (OSError,)
else:
    # tcflush on a port that vanished raises termios.error, which is not an OSError
    PORT_ERRORS = (OSError, termios.error)

from drivers.base import DriverConfigError, DriverTimeoutError, DriverUnavailableError
from drivers.serial.config import SerialPortSettings
from drivers.serial.errors import BadLineError

READ_SLICE_S = 0.05
"""The longest one blocking read waits: how often a waiting thread checks its deadline, and the worst delay
before a closing port's reader notices (``cancel_read`` usually wakes it at once)."""


class SerialLink(Protocol):
    """The part of ``serial.Serial`` a port uses; the seam for testing without a device."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def reset_input_buffer(self) -> None: ...

    def cancel_read(self) -> None: ...

    def close(self) -> None: ...


LinkFactory = Callable[[SerialPortSettings], SerialLink]


def open_pyserial(settings: SerialPortSettings) -> SerialLink:
    """Open the port with pyserial, locked against other processes (``exclusive``): two programs reading one
    line would each see half of it."""
    try:
        link: SerialLink = serial.Serial(
            port=settings.port,
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity,
            stopbits=settings.stopbits,
            timeout=READ_SLICE_S,
            write_timeout=settings.timeout_s,
            exclusive=True,
        )
    except ValueError as exc:  # pyserial refusing the line settings
        raise DriverConfigError(f"{settings.port}: {exc}") from exc
    except PORT_ERRORS as exc:
        raise DriverUnavailableError(f"{settings.port}: cannot open: {exc}") from exc
    return link


def read_available(link: SerialLink, name: str) -> bytes:
    """What has arrived, waiting at most one read slice for the first byte; empty when nothing came."""
    try:
        return link.read(max(1, link.in_waiting))
    except PORT_ERRORS as exc:
        raise DriverUnavailableError(f"{name}: read failed: {exc}") from exc


def exchange(
    link: SerialLink,
    name: str,
    request: bytes,
    *,
    terminator: bytes,
    max_bytes: int,
    timeout_s: float,
    monotonic: Callable[[], float],
) -> bytes:
    """Write ``request`` and read one line back, without its terminator.

    Stale input (a late answer to an abandoned request) is discarded first. Bytes after the terminator are
    dropped. ``DriverTimeoutError`` when nothing arrives within ``timeout_s``; ``BadLineError`` when an answer
    starts but its terminator does not come in time, or comes after more than ``max_bytes``.
    """
    try:
        link.reset_input_buffer()
        link.write(request)
    except serial.SerialTimeoutException as exc:
        raise DriverTimeoutError(f"{name}: the request could not be sent within {timeout_s:g} s") from exc
    except PORT_ERRORS as exc:
        raise DriverUnavailableError(f"{name}: write failed: {exc}") from exc
    deadline = monotonic() + timeout_s
    answer = bytearray()
    while True:
        chunk = read_available(link, name)
        if chunk:
            answer += chunk
            end = answer.find(terminator, max(0, len(answer) - len(chunk) - len(terminator) + 1))
            if 0 <= end <= max_bytes:
                return bytes(answer[:end])
            if end > max_bytes or len(answer) > max_bytes + len(terminator):
                line = bytes(answer[:max_bytes])
                raise BadLineError("too_long", f"{name}: no terminator within {max_bytes} bytes", line)
        if monotonic() >= deadline:
            if answer:
                raise BadLineError(
                    "truncated",
                    f"{name}: the answer stopped after {len(answer)} bytes, without its terminator",
                    bytes(answer),
                )
            raise DriverTimeoutError(f"{name}: no answer within {timeout_s:g} s")
