"""Reading one run folder, incrementally: each refresh stats a fixed set of paths and reads only what changed.

Per refresh of a live run: one ``stat`` per marker file (RunInfo, RunParameters, RunCompletionStatus,
RTAComplete, CopyComplete, one RTARead<N>Complete per read), one for the InterOp extraction metrics, one per
per-cycle probe (the next ``C<n>.1`` folder or ``<n>.bcl.bgzf`` file), and a listing of each RTA log folder.
XML and text markers are parsed once per version of the file, and only after it has kept the same size and
modification time for ``settle_s`` (instruments do not write atomically); logs are read from where the last
refresh stopped, whole lines only; InterOp from its tail.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from drivers.runfolder.completion import (
    COPY_COMPLETE,
    RTA_COMPLETE,
    RUN_COMPLETION_STATUS,
    parse_completion_status,
    parse_read_complete,
    parse_rta_complete,
    read_marker_name,
    read_marker_number,
)
from drivers.runfolder.errors import MalformedRunFileError, NotARunFolderError
from drivers.runfolder.interop import EXTRACTION_METRICS, read_extraction_progress
from drivers.runfolder.rtalog import LOG_DIRS, LOG_SUFFIXES, merge, scan_log
from drivers.runfolder.runinfo import RUN_INFO, parse_run_info
from drivers.runfolder.runparameters import RUN_PARAMETERS_NAMES, parse_run_parameters
from drivers.runfolder.snapshot import Problem, RunEvidence, RunFolderSnapshot, conclude
from drivers.runfolder.timestamps import from_mtime

MAX_LOG_READ = 16 << 20
_MARKERS = (RUN_INFO, *RUN_PARAMETERS_NAMES, RUN_COMPLETION_STATUS, RTA_COMPLETE, COPY_COMPLETE)
# label -> path of cycle n, relative to the run folder
_CYCLE_PROBES: dict[str, Callable[[int], str]] = {
    "InterOp/C<n>.1": lambda n: f"InterOp/C{n}.1",
    "BaseCalls/L001/C<n>.1": lambda n: f"Data/Intensities/BaseCalls/L001/C{n}.1",
    "BaseCalls/L001/<n>.bcl.bgzf": lambda n: f"Data/Intensities/BaseCalls/L001/{n:04d}.bcl.bgzf",
}

StatKey = tuple[int, int]


@dataclass(slots=True)
class _Watched:
    key: StatKey | None = None
    since: datetime | None = None
    parsed: StatKey | None = None


class RunFolderReader:
    """Keeps a ``RunEvidence`` up to date with one run folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._prefix = os.path.join(path, "")  # plain strings: pathlib costs more than the stat on a steady poll
        self.evidence = RunEvidence(path.name)
        self.newest_mtime_ns = 0
        self._watched: dict[str, _Watched] = {}
        self._log_offsets: dict[str, int] = {}
        self._extraction_key: StatKey | None = None
        self._signature: tuple[object, ...] = ()

    def refresh(self, now: datetime, settle_s: float = 0.0) -> bool:
        """Look again; ``True`` when anything on disk changed since the last refresh."""
        parts: list[object] = [self._marker(RUN_INFO, now, settle_s)]
        if self.evidence.run_info is not None:
            reads = [read.number for read in self.evidence.run_info.reads]
            for name in (*_MARKERS[1:], *(read_marker_name(n) for n in reads)):
                parts.append(self._marker(name, now, settle_s))
            parts.append(self._extraction())
            total = self.evidence.run_info.cycles_total
            parts.extend(self._probe(label, total) for label in _CYCLE_PROBES)
            parts.extend(self._logs())
        signature = tuple(parts)
        changed = signature != self._signature
        self._signature = signature
        return changed

    @property
    def pending(self) -> bool:
        """Some marker file changed and has not settled yet (unreadable files excepted: they are problems)."""
        return any(
            watched.key is not None and watched.key != watched.parsed and name not in self.evidence.problems
            for name, watched in self._watched.items()
        )

    def snapshot(
        self, *, idle_s: float | None = None, stall_after_s: float | None = None, completion_grace_s: float = 0.0
    ) -> RunFolderSnapshot | None:
        return conclude(
            self.evidence, idle_s=idle_s, stall_after_s=stall_after_s, completion_grace_s=completion_grace_s
        )

    def _stat(self, relative: str) -> os.stat_result | None:
        try:
            result = os.stat(self._prefix + relative)
        except OSError:
            return None
        self.newest_mtime_ns = max(self.newest_mtime_ns, result.st_mtime_ns)
        return result

    def _marker(self, name: str, now: datetime, settle_s: float) -> StatKey | None:
        result = self._stat(name)
        if result is None:
            return None
        watched = self._watched.setdefault(name, _Watched())
        key = (result.st_size, result.st_mtime_ns)
        if key != watched.key:
            watched.key, watched.since = key, now
        settled = watched.since is not None and (now - watched.since).total_seconds() >= settle_s
        if key != watched.parsed and settled:
            try:
                data = (self.path / name).read_bytes()
            except OSError as exc:
                self.evidence.problems[name] = Problem(name, f"cannot be read: {exc.strerror or exc}")
                return key
            watched.parsed = key
            try:
                self._take(name, data, result.st_mtime_ns)
            except MalformedRunFileError as exc:
                self.evidence.problems[name] = Problem(name, exc.reason)
            else:
                self.evidence.problems.pop(name, None)
        return key

    def _take(self, name: str, data: bytes, mtime_ns: int) -> None:
        evidence = self.evidence
        if name == RUN_INFO:
            evidence.run_info = parse_run_info(data, name)
        elif name in RUN_PARAMETERS_NAMES:
            evidence.parameters = parse_run_parameters(data, name)
        elif name == RUN_COMPLETION_STATUS:
            evidence.completion = parse_completion_status(data, name)
        elif name == RTA_COMPLETE:
            evidence.rta_complete = parse_rta_complete(data, name)
        elif name == COPY_COMPLETE:
            evidence.copy_completed, evidence.copy_complete = True, from_mtime(mtime_ns, f"{name} modification time")
        elif (read := read_marker_number(name)) is not None:
            evidence.reads_marked[read] = parse_read_complete(data, read)

    def _extraction(self) -> StatKey | None:
        result = self._stat(EXTRACTION_METRICS)
        key = None if result is None else (result.st_size, result.st_mtime_ns)
        if key is not None and key != self._extraction_key:
            try:
                self.evidence.extraction = read_extraction_progress(self.path / EXTRACTION_METRICS)
            except MalformedRunFileError as exc:
                self.evidence.problems[EXTRACTION_METRICS] = Problem(EXTRACTION_METRICS, exc.reason)
            except OSError:
                key = None  # gone or unreadable for a moment: try again next time
        self._extraction_key = key
        return key

    def _probe(self, label: str, total: int) -> int:
        found = self.evidence.cycle_folders.get(label, 0)
        while found < total and self._stat(_CYCLE_PROBES[label](found + 1)) is not None:
            found += 1
        if found:
            self.evidence.cycle_folders[label] = found
        return found

    def _logs(self) -> list[tuple[str, int]]:
        seen: list[tuple[str, int]] = []
        for folder in LOG_DIRS:
            try:
                with os.scandir(self._prefix + folder) as entries:
                    logs = [(f"{folder}/{e.name}", e.stat()) for e in entries if e.name.endswith(LOG_SUFFIXES)]
            except OSError:
                continue
            for relative, result in sorted(logs):
                self.newest_mtime_ns = max(self.newest_mtime_ns, result.st_mtime_ns)
                seen.append((relative, result.st_size))
                self._read_log(relative, result.st_size)
        return seen

    def _read_log(self, relative: str, size: int) -> None:
        offset = self._log_offsets.get(relative, 0)
        if size < offset:  # replaced by a shorter file: read it again from the start
            offset = 0
        if size == offset:
            return
        try:
            with (self.path / relative).open("rb") as stream:
                stream.seek(offset)
                data = stream.read(min(size - offset, MAX_LOG_READ))
        except OSError:
            return
        cut = data.rfind(b"\n") + 1 or (len(data) if len(data) == MAX_LOG_READ else 0)
        self._log_offsets[relative] = offset + cut
        if cut:
            self.evidence.log = merge(self.evidence.log, scan_log(data[:cut], relative))


def read_run_folder(
    path: Path, *, stall_after_s: float | None = None, now: datetime | None = None
) -> RunFolderSnapshot:
    """Everything a run folder says right now (settled or not), as ``tracseq runfolder inspect`` shows it.

    With ``stall_after_s``, an unfinished run whose newest file is older than that is ``stalled``.
    Raises ``NotARunFolderError`` without a ``RunInfo.xml`` and ``MalformedRunFileError`` when it cannot be read;
    problems with other files are listed in the snapshot's ``problems``.
    """
    if not path.is_dir():
        raise NotARunFolderError(str(path), "is not a directory")
    moment = now or datetime.now(UTC)
    reader = RunFolderReader(path)
    reader.refresh(moment)
    idle = None
    if stall_after_s is not None and reader.newest_mtime_ns:
        idle = max(0.0, moment.timestamp() - reader.newest_mtime_ns / 1e9)
    snapshot = reader.snapshot(idle_s=idle, stall_after_s=stall_after_s)
    if snapshot is None:
        problem = reader.evidence.problems.get(RUN_INFO)
        if problem is not None:
            raise MalformedRunFileError(RUN_INFO, problem.reason)
        raise NotARunFolderError(str(path), f"holds no {RUN_INFO}: not an Illumina run folder")
    return snapshot
