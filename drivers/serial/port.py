"""A serial port shared by the devices on it: one handle, one lock, one worker thread, a gap between frames.

Every device on one RS-485 line shares one ``SerialPort`` (``port_for``): per-device locks would let two
requests collide on the wire. pyserial blocks, so each port has a worker thread of its own: a port is used by
one exchange at a time anyway, and a busy line cannot starve the event loop's default executor or another
port. The quiet gap is kept in that thread, from the moment the previous exchange really ended, so a poll
cancelled by its caller's timeout cannot shorten it. The port neither retries nor reopens by itself: the edge
supervisor closes and reopens the device after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from drivers.base import DriverConfigError, DriverTimeoutError, DriverUnavailableError
from drivers.serial.config import SerialPortSettings
from drivers.serial.link import LinkFactory, SerialLink, exchange, open_pyserial, read_available

logger = logging.getLogger(__name__)

T = TypeVar("T")


class SerialPort:
    """One serial port and the devices bound to it.

    The port's settings come from the first device bound to it; devices that disagree are refused, and so is
    any sharing with a streaming device (an instrument that talks unasked needs the line to itself). The port
    opens the path of that first device, so a symlink that is re-pointed while the port is closed is followed.
    """

    def __init__(
        self,
        path: str,
        *,
        link_factory: LinkFactory = open_pyserial,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = f"serial:{path}"
        self._link_factory = link_factory
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._settings: SerialPortSettings | None = None
        self._devices: dict[str, bool] = {}  # device id -> streams
        self._link: SerialLink | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._users = 0
        self._quiet_at = float("-inf")

    def __repr__(self) -> str:
        return f"SerialPort({self.name!r}, devices={sorted(self._devices)}, users={self._users})"

    @property
    def settings(self) -> SerialPortSettings | None:
        return self._settings

    @property
    def is_open(self) -> bool:
        return self._link is not None

    def bind(self, device_id: str, settings: SerialPortSettings, *, streams: bool) -> None:
        """Check that a device fits this port; the first one sets the port's settings."""
        if self._settings is not None:
            ours = self._settings.model_dump(exclude={"port"})
            theirs = settings.model_dump(exclude={"port"})
            if ours != theirs:
                diff = ", ".join(f"{k}: {ours[k]!r} vs {theirs[k]!r}" for k in ours if ours[k] != theirs[k])
                raise DriverConfigError(f"{self.name}: every device on one port must share its settings ({diff})")
        others = {other: s for other, s in self._devices.items() if other != device_id}
        if others and (streams or any(others.values())):
            streamer = device_id if streams else next(other for other, s in others.items() if s)
            raise DriverConfigError(
                f"{self.name}: {streamer} streams, so it needs the port to itself "
                f"(devices on it: {', '.join(sorted({*others, device_id}))})"
            )
        if self._settings is None:
            self._settings = settings
        self._devices[device_id] = streams

    def attach(self) -> None:
        """Count one more driver using the port."""
        self._users += 1
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)

    async def detach(self) -> None:
        """Count one driver fewer; the last one out closes the port and ends its thread. Never raises."""
        self._users = max(0, self._users - 1)
        if self._users or self._executor is None:
            return
        executor, self._executor = self._executor, None
        self.cancel_read()
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._drop_link)
        except Exception:  # close must not raise; nothing useful can be done with the error
            logger.warning("closing %s failed", self.name, exc_info=True)
        executor.shutdown(wait=False)

    async def connect(self) -> None:
        """Open the port if it is not open. ``DriverUnavailableError`` when that fails."""
        async with self._lock:
            await self._in_thread(self._open)

    async def exchange(self, request: bytes, *, terminator: bytes, max_bytes: int) -> bytes:
        """Send ``request`` and return the answer line, holding the port for the whole exchange."""
        async with self._lock:
            return await self._in_thread(partial(self._exchange, request, terminator=terminator, max_bytes=max_bytes))

    async def read_available(self) -> bytes:
        """Whatever the port has received (a streaming device's data), after at most a short wait."""
        return await self._in_thread(self._read_available)

    def cancel_read(self) -> None:
        """Wake a read waiting in the worker thread. Safe from the event loop."""
        link = self._link
        if link is not None:
            # the worker may be closing the link at this moment: pyserial then writes to a closed pipe (OSError)
            # or to a pipe it has already set to None (TypeError); either way there is no read left to wake
            with contextlib.suppress(OSError, TypeError):
                link.cancel_read()

    async def _in_thread(self, function: Callable[[], T]) -> T:
        executor = self._executor
        if executor is None:
            raise DriverUnavailableError(f"{self.name}: closed; open the device first")
        try:
            future = asyncio.get_running_loop().run_in_executor(executor, function)
        except RuntimeError as exc:  # the executor was shut down under us: the last device closed the port
            raise DriverUnavailableError(f"{self.name}: closed") from exc
        return await future

    # -- in the worker thread ----------------------------------------------------------------------------------

    def _open(self) -> None:
        if self._link is None:
            self._link = self._link_factory(self._bound_settings())

    def _bound_settings(self) -> SerialPortSettings:
        if self._settings is None:
            raise DriverConfigError(f"{self.name}: no device bound to the port")
        return self._settings

    def _exchange(self, request: bytes, *, terminator: bytes, max_bytes: int) -> bytes:
        link = self._open_link()
        settings = self._bound_settings()
        wait = self._quiet_at - self._monotonic()
        if wait > 0:
            self._sleep(wait)
        try:
            return exchange(
                link,
                self.name,
                request,
                terminator=terminator,
                max_bytes=max_bytes,
                timeout_s=settings.timeout_s,
                monotonic=self._monotonic,
            )
        except DriverTimeoutError:
            raise
        except DriverUnavailableError:
            self._drop_link()
            raise
        finally:
            self._quiet_at = self._monotonic() + settings.inter_frame_gap_s

    def _read_available(self) -> bytes:
        link = self._open_link()
        try:
            return read_available(link, self.name)
        except DriverUnavailableError:
            self._drop_link()
            raise

    def _open_link(self) -> SerialLink:
        if self._link is None:
            raise DriverUnavailableError(f"{self.name}: not open")
        return self._link

    def _drop_link(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            try:
                link.close()
            except Exception:  # a port that vanished may fail to close; it is gone either way
                logger.debug("closing %s failed", self.name, exc_info=True)


class PortRegistry:
    """The ``SerialPort`` of each path, shared by every device on it; a port lives while some driver holds it.

    Paths are resolved, so ``/dev/serial/by-id/...`` and the ``/dev/ttyUSB0`` it points to are one port; the
    port keeps the name (and opens the path) it was first asked for.
    """

    def __init__(
        self,
        *,
        link_factory: LinkFactory = open_pyserial,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._link_factory = link_factory
        self._monotonic = monotonic
        self._sleep = sleep
        self._ports: weakref.WeakValueDictionary[str, SerialPort] = weakref.WeakValueDictionary()

    def port(self, path: str) -> SerialPort:
        key = os.path.realpath(path) if os.path.isabs(path) else path
        port = self._ports.get(key)
        if port is None:
            port = SerialPort(path, link_factory=self._link_factory, monotonic=self._monotonic, sleep=self._sleep)
            self._ports[key] = port
        return port


DEFAULT_PORTS = PortRegistry()


def port_for(path: str) -> SerialPort:
    """The process-wide port of ``path``: what every ``SerialDriver`` uses unless given a registry."""
    return DEFAULT_PORTS.port(path)
