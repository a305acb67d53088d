"""The simulated serial port: a pseudo-terminal pair behind a stable symlink.

Clients open the symlink as if it were ``/dev/serial/by-id/...``. The simulator keeps the slave end open too, so
the pty lives while no client has it open. Unplugging closes both ends and removes the link, as a pulled USB
adapter does: a client holding the port gets I/O errors, and opening the link fails. Plugging in again makes a
new pty (often under a new ``/dev/pts/N``) and points the same link at it, so a client's configuration stays
valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tty
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("serial_sim.terminal")


class Terminal:
    def __init__(self, link: Path, on_data: Callable[[bytes], None]) -> None:
        self.link = link
        self._on_data = on_data
        self._master: int | None = None
        self._slave: int | None = None
        self.tty: str | None = None

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> str:
        if self._master is not None:
            return self.tty or ""
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.tty = os.ttyname(slave)
        staged = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
        staged.symlink_to(self.tty)
        staged.replace(self.link)  # atomic: a client never sees the link missing or half-made
        asyncio.get_running_loop().add_reader(master, self._readable)
        log.info("plugged in: %s -> %s", self.link, self.tty)
        return self.tty

    def unplug(self) -> None:
        if self._master is None:
            return
        asyncio.get_running_loop().remove_reader(self._master)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        log.info("unplugged: %s (was %s)", self.link, self.tty)
        self.tty = None

    def write(self, data: bytes) -> bool:
        """Send bytes to the client; False when unplugged or when the client stopped reading (buffer full)."""
        if self._master is None:
            return False
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                log.warning("pty buffer full: %d bytes dropped", len(view))
                return False
        return True

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            log.warning("pty read failed: %s", err)
            return
        if data:
            self._on_data(data)
