"""RTA log lines: cycles finished, and the line that says RTA gave up.

RTA 1 (MiSeq, HiSeq) writes ``Data/RTALogs/*Log.txt`` with comma-separated lines; RTA 2 (NextSeq 500/550)
writes ``RTALogs/*_GlobalLog_NN.tsv`` with tab-separated ``date, time, sender, level, message``. The watcher reads
only what was appended since the last poll, and only whole lines.

A failed run is one whose log says ``Application exited before completion`` (the line that run-scanning tools
look for); warnings and recoverable errors are not failures. Cycle progress comes from RTA 2's
``BasecallAndQScore complete for cycle N`` and ``Writing bcl for cycle N done``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.runfolder.timestamps import RunTime, search_time

LOG_DIRS = ("RTALogs", "Data/RTALogs")
LOG_SUFFIXES = (".txt", ".tsv", ".log", ".csv")
MAX_LINE = 4096

_FAILURE = re.compile(rb"Application\s+exited\s+before\s+completion")
_FOR_CYCLE = re.compile(rb"for cycle (\d{1,5})\b")  # a literal start: fast over megabytes of log
_CYCLE_DONE_BEFORE = (b"BasecallAndQScore complete ", b"Writing bcl ")


@dataclass(frozen=True, slots=True)
class LogFindings:
    """What a stretch of log says: the highest cycle finished, and the first failure line with its time."""

    last_cycle: int | None = None
    failure: str | None = None
    failure_time: RunTime | None = None


def scan_log(chunk: bytes, source: str) -> LogFindings:
    """Look through whole lines of one log (``chunk`` must end at a line break, or be the whole file)."""
    cycles = [
        int(match.group(1))
        for match in _FOR_CYCLE.finditer(chunk)
        if chunk[max(0, match.start() - 32) : match.start()].endswith(_CYCLE_DONE_BEFORE)
    ]
    failure = _FAILURE.search(chunk)
    if failure is None:
        return LogFindings(max(cycles) if cycles else None)
    start = chunk.rfind(b"\n", 0, failure.start()) + 1
    end = chunk.find(b"\n", failure.end())
    line = chunk[start : end if end != -1 else len(chunk)][:MAX_LINE].decode("utf-8", errors="replace")
    line = " ".join(line.split())
    return LogFindings(max(cycles) if cycles else None, line, search_time(line, source))


def merge(earlier: LogFindings, later: LogFindings) -> LogFindings:
    cycles = [c for c in (earlier.last_cycle, later.last_cycle) if c is not None]
    first_failure = earlier if earlier.failure is not None else later
    return LogFindings(max(cycles) if cycles else None, first_failure.failure, first_failure.failure_time)
