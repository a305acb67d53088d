"""Modbus RTU transport over a pseudo-terminal pair made with ``os.openpty``.

The simulator keeps both ends open: it reads and writes the master end, and clients open the slave path
(``/dev/pts/N``) as if it were a serial port. Holding the slave end open keeps the pty alive while no client
has it open. A pty ignores baud rate, so frames are delimited by function-code length and CRC, with a
stale partial frame dropped after an inter-frame gap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import tty

from freezer.device import Freezer
from freezer.modbus import crc_ok, rtu_request_length, with_crc

log = logging.getLogger("freezer.rtu")

FRAME_GAP = 0.05
"""Real seconds of silence after which an incomplete frame is dropped."""


class RtuPty:
    def __init__(self, device: Freezer) -> None:
        self._device = device
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._buffer = bytearray()
        self._last_byte = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._master, self._on_readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            log.warning("pty read failed: %s", err)
            return
        now = time.monotonic()
        if self._buffer and now - self._last_byte > FRAME_GAP:
            log.debug("dropping %d stale bytes", len(self._buffer))
            self._buffer.clear()
        self._last_byte = now
        self._buffer += data
        self._drain()

    def _drain(self) -> None:
        while True:
            length = rtu_request_length(self._buffer)
            if length is None or len(self._buffer) < length:
                return
            frame = bytes(self._buffer[:length])
            if not crc_ok(frame):
                del self._buffer[0]  # resynchronise one byte at a time
                continue
            del self._buffer[:length]
            unit = frame[0]
            response = self._device.handle(unit, frame[1:-2], serial=True)
            if response is not None:
                self._send(with_crc(bytes((unit,)) + response))

    def _send(self, frame: bytes) -> None:
        try:
            os.write(self._master, frame)
        except BlockingIOError:
            log.warning("pty full, response dropped")
