"""The run-folder watcher as a ``Driver``: each poll turns what changed in the watch directory into events.

A poll lists the watch directory, refreshes every unfinished run among the newest ``max_runs`` (a few ``stat``
calls each, see ``reader``), and reports each milestone once: ``run_started``, ``run_progress``,
``read_completed``, then ``run_completed`` or ``run_failed``; ``run_stalled``/``run_resumed`` when the files stop
and start changing; ``bad_frame`` for a file that cannot be read (the watching goes on). A finished run is not
looked at again. The blocking file work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import TypeAdapter, ValidationError

from drivers.base import BadFrameError, DriverConfigError, DriverError, DriverStatus, DriverUnavailableError
from drivers.runfolder import events
from drivers.runfolder.ledger import Reported, RunLedger
from drivers.runfolder.reader import RunFolderReader
from drivers.runfolder.runinfo import RUN_INFO
from drivers.runfolder.settings import RunFolderDeviceSettings
from drivers.runfolder.snapshot import RunFolderSnapshot
from protocol.models import Event, Identifier

_DEVICE_ID: TypeAdapter[str] = TypeAdapter(Identifier)
_DATED = re.compile(r"^(\d{8}|\d{6})_")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run_order(name: str) -> tuple[str, str]:
    """Oldest first: by the date a run folder's name starts with (``YYMMDD_`` or ``YYYYMMDD_``), then by name."""
    match = _DATED.match(name)
    if match is None:
        return ("", name)
    digits = match.group(1)
    return (digits if len(digits) == 8 else f"20{digits}", name)


@dataclass(slots=True)
class _Run:
    reader: RunFolderReader
    reported: Reported
    baseline: bool
    last_change: datetime


class RunFolderWatcher:
    """Watches one instrument's output directory. ``clock`` gives aware UTC times; tests pass their own."""

    def __init__(
        self, device_id: str, settings: RunFolderDeviceSettings, *, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        try:
            self.device_id = _DEVICE_ID.validate_python(device_id)
        except ValidationError as exc:
            raise DriverConfigError(f"device {device_id!r}: {exc}") from exc
        self.settings = settings
        self._clock = clock
        self._ledger = RunLedger(settings.state_file)
        self._runs: dict[str, _Run] = {}
        self._opened = False
        self._scanned = False
        self._status = DriverStatus()

    def __repr__(self) -> str:
        return f"RunFolderWatcher({self.device_id!r}, {str(self.settings.watch_dir)!r})"

    def status(self) -> DriverStatus:
        return self._status

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self._listing)
        except DriverError as exc:
            self._status = self._status.failed(exc, poll=False)
            raise
        if not self._opened:
            await asyncio.to_thread(self._ledger.load)
            self._opened = True
        self._status = self._status.opened()

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await asyncio.to_thread(self._ledger.save)
        self._status = self._status.closed()

    async def poll(self) -> list[Event]:
        if not self._opened:
            raise DriverUnavailableError(f"{self.device_id}: closed; call open() first")
        try:
            found = await asyncio.to_thread(self.scan)
        except DriverError as exc:
            self._status = self._status.failed(exc)
            raise
        status = self._status.succeeded(self._clock())
        for event in found:
            if event.type == "bad_frame":  # counted as every driver counts one: an error, a bad frame, the last error
                status = status.failed(BadFrameError(event.message), poll=False)
        self._status = status
        return found

    def scan(self) -> list[Event]:
        """One poll, synchronously (``poll`` runs it in a worker thread)."""
        now = self._clock()
        listing = self._listing()
        tracked = sorted(listing, key=run_order)[-self.settings.max_runs :]
        first = not self._scanned
        found: list[Event] = []
        for name in tracked:
            run = self._runs.get(name)
            if run is None:
                run = self._runs[name] = self._track(name, now, first)
                changed = True
            elif not run.reported.terminal:
                changed = run.reader.refresh(now, self.settings.settle_s)
            if not run.reported.terminal:
                found.extend(self._advance(name, run, now, changed))
        for name in set(self._runs) - set(tracked):
            del self._runs[name]
        self._ledger.keep_only(set(listing))
        self._ledger.save()
        self._scanned = True
        return found

    def _listing(self) -> list[str]:
        directory = self.settings.watch_dir
        try:
            with os.scandir(directory) as entries:
                return [e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=True)]
        except OSError as exc:
            raise DriverUnavailableError(f"{self.device_id}: cannot list {directory}: {exc.strerror or exc}") from exc

    def _track(self, name: str, now: datetime, first: bool) -> _Run:
        reader = RunFolderReader(self.settings.watch_dir / name)
        known = self._ledger.runs.get(name)
        if known is not None and known.terminal:  # reported to the end before a restart: nothing left to read
            return _Run(reader, known, False, now)
        reader.refresh(now, self.settings.settle_s)
        # Present at a first start (no state yet) with RunInfo already written: the run began before we watched.
        baseline = known is None and first and not self._ledger.existed and (reader.path / RUN_INFO).exists()
        return _Run(reader, known or Reported(), baseline, now)

    def _advance(self, name: str, run: _Run, now: datetime, changed: bool) -> list[Event]:
        if changed:
            run.last_change = now
        idle = (now - run.last_change).total_seconds()
        settings, reported = self.settings, run.reported
        snap = run.reader.snapshot(
            idle_s=idle, stall_after_s=settings.stall_after_s, completion_grace_s=settings.completion_grace_s
        )
        found = self._problems(name, run)
        if snap is None:
            return found
        if not reported.started:
            if run.reader.pending:  # let RunParameters and any completion file settle: the first report is whole
                return found
            reported.started = True
            self._ledger.runs[name] = reported
            if run.baseline:
                reported.cycles, reported.reads = snap.cycles_done, set(snap.reads_completed)
                reported.terminal = snap.state if snap.terminal else None
                reported.stalled = snap.state == "stalled"
                return [*found, events.run_seen(self.device_id, snap)]
            found.append(events.run_started(self.device_id, snap))
        found.extend(self._milestones(snap, reported))
        if snap.state == "stalled" and not reported.stalled:
            reported.stalled = True
            found.append(events.run_stalled(self.device_id, snap, idle, run.last_change))
        elif snap.state != "stalled" and reported.stalled and not snap.terminal:
            reported.stalled = False
            found.append(events.run_resumed(self.device_id, snap))
        return found

    def _milestones(self, snap: RunFolderSnapshot, reported: Reported) -> list[Event]:
        found: list[Event] = []
        step = self.settings.progress_every_cycles
        done = snap.cycles_done
        if done > reported.cycles and (done - reported.cycles >= step or done == snap.cycles_total):
            reported.cycles = done
            found.append(events.run_progress(self.device_id, snap))
        for number in snap.reads_completed:
            if number not in reported.reads:
                reported.reads.add(number)
                found.append(events.read_completed(self.device_id, snap, number))
        if snap.state == "failed":
            reported.terminal = "failed"
            found.append(events.run_failed(self.device_id, snap))
        elif snap.state == "completed":
            reported.terminal = "completed"
            found.append(events.run_completed(self.device_id, snap))
        return found

    def _problems(self, name: str, run: _Run) -> list[Event]:
        current = run.reader.evidence.problems.values()
        keys = {(problem.file, problem.reason) for problem in current}
        fresh = [problem for problem in current if (problem.file, problem.reason) not in run.reported.problems]
        run.reported.problems = keys
        return [events.bad_file(self.device_id, name, problem) for problem in fresh]


def create_driver(device_id: str, settings: RunFolderDeviceSettings) -> RunFolderWatcher:
    return RunFolderWatcher(device_id, settings)
