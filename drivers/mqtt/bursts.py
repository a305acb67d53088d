"""Logging a run of like failures once: the first one with its detail, then once more when the run ends."""

from __future__ import annotations

import logging


class BurstLog:
    """One kind of failure of one device (bad payloads, duplicates, a lost connection)."""

    def __init__(self, logger: logging.Logger, device: str, what: str, level: int = logging.WARNING) -> None:
        self._logger = logger
        self._device = device
        self._what = what
        self._level = level
        self.count = 0
        """Failures in the current run; 0 when there is none."""

    def failure(self, detail: str) -> None:
        if self.count == 0:
            self._logger.log(self._level, "%s: %s: %s (counting until it recovers)", self._device, self._what, detail)
        self.count += 1

    def recovered(self) -> None:
        if self.count:
            self._logger.info("%s: %s: %d in a row, now recovered", self._device, self._what, self.count)
            self.count = 0
