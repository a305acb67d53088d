"""What each platform family writes, and when: setup files, per-cycle output, read markers, the end of a run.

Families, by the serial prefix of the replayed run's instrument:

- ``miseq`` (RTA 1): per cycle, the cycle's records appended to ``InterOp/ExtractionMetricsOut.bin`` (the real
  ones from the source, extraction times included) and ``Data/Intensities/BaseCalls/L001/C<n>.1/``; at the end
  the other InterOp files, then ``RTAComplete.txt`` (``M/D/YYYY,HH:MM:SS.fff,Illumina RTA x``). A failure is an
  ``Application exited before completion`` line in ``Data/RTALogs/GlobalLog.txt``.
- ``nextseq`` (RTA 2): per cycle, ``L00<l>/<nnnn>.bcl.bgzf`` per lane and RTA log lines
  (``RTALogs/*_GlobalLog_00.tsv``); ``RTARead<N>Complete.txt`` as reads end; then ``RTAComplete.txt`` and
  ``RunCompletionStatus.xml``. A failure is the RTA log line plus ``CompletionStatus`` ``ExceptionEndedEarly``.
- ``novaseqx`` (RTA 4): per cycle, ``InterOp/C<n>.1/`` and ``L00<l>/C<n>.1/`` per lane; at the end
  ``RunCompletionStatus.xml`` then ``CopyComplete.txt``. A failure is ``RunStatus`` ``RunErrored``.
- ``rta3`` (anything else): per-cycle folders as NovaSeq X, then ``RTAComplete.txt`` and ``CopyComplete.txt``.

Files are written the way instruments write them: opened, written, closed, never renamed into place.
Per-cycle base-call files are a few bytes: the point is that they appear, not what they hold.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sequencer.clock import SimClock
from sequencer.source import SourceRun

log = logging.getLogger("sequencer")

FAILURE_LINE = "Application exited before completion"


def us_time(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'}"


def offset_time(moment: datetime) -> str:
    """``2023-04-18T15:26:54.8607510-04:00``, as NovaSeq X writes RunCompletionStatus.xml."""
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0{offset[:3]}:{offset[3:]}"


class Instrument:
    """Writes one run folder under ``out`` as the source's platform would, on the simulated clock."""

    def __init__(self, source: SourceRun, out: Path, name: str, clock: SimClock) -> None:
        self.source = source
        self.run = out / name
        self.clock = clock
        self.started = clock.now()

    def write(self, relative: str, data: bytes) -> None:
        path = self.run / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as stream:
            stream.write(data)

    def append(self, relative: str, data: bytes) -> None:
        path = self.run / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as stream:
            stream.write(data)

    # -- stages ------------------------------------------------------------------------------------------------

    def setup(self) -> None:
        self.run.mkdir(parents=True)
        self.write("RunInfo.xml", (self.source.path / "RunInfo.xml").read_bytes())
        if self.source.run_parameters:
            name = self.source.run_parameters
            self.write(name, (self.source.path / name).read_bytes())
        for path in self.source.setup_files():
            self.write(str(path.relative_to(self.source.path)), path.read_bytes())
        if self.source.extraction_header:
            self.write("InterOp/ExtractionMetricsOut.bin", self.source.extraction_header)
        if self.source.family == "nextseq":
            self._log("Work Manager", "Run started")

    def cycle(self, cycle: int) -> None:
        family, lanes = self.source.family, range(1, self.source.lanes + 1)
        if family == "miseq":
            records = self.source.extraction_by_cycle.get(cycle, [])
            if records:
                self.append("InterOp/ExtractionMetricsOut.bin", b"".join(records))
            self.write(f"Data/Intensities/BaseCalls/L001/C{cycle}.1/s_1_1101.bcl", b"\x00" * 8)
        elif family == "nextseq":
            for lane in lanes:
                self.write(f"Data/Intensities/BaseCalls/L{lane:03d}/{cycle:04d}.bcl.bgzf", b"\x1f\x8b" + b"\x00" * 6)
            for step in ("ImageReceived", "RegExtraction", "BasecallAndQScore"):
                self._log("Work Manager", f"{step} complete for cycle {cycle}")
            self._log("BclManagerAggregate", f"Writing bcl for cycle {cycle} done (wrote {self.source.lanes} tiles)")
        else:
            self.write(f"InterOp/C{cycle}.1/CycleMetricsOut.bin", b"\x01\x00")
            for lane in lanes:
                self.write(f"Data/Intensities/BaseCalls/L{lane:03d}/C{cycle}.1/L{lane:03d}_1.cbcl", b"\x00" * 8)

    def read_done(self, read: int) -> None:
        marker = self.source.read_markers.get(read)
        if marker is None and self.source.family != "nextseq":
            return
        self.write(f"RTARead{read}Complete.txt", marker or f"Read {read} complete {us_time(self.clock.now())}".encode())

    def finish_steps(self) -> list[tuple[float, Callable[[], None]]]:
        """The end of a run in the platform's order, each with its delay in simulated seconds after the last cycle."""
        family = self.source.family
        steps: list[tuple[float, Callable[[], None]]] = [(30.0, self._final_interop)]
        if family in ("miseq", "nextseq", "rta3"):
            steps.append(
                (
                    60.0,
                    lambda: self.write("RTAComplete.txt", self.source.file("RTAComplete.txt") or self._rta_complete()),
                )
            )
        if family in ("nextseq", "novaseqx"):
            status = self.source.file("RunCompletionStatus.xml")
            steps.append(
                (
                    90.0,
                    lambda: self.write(
                        "RunCompletionStatus.xml", status or self._completion_status(self.source.cycles, None)
                    ),
                )
            )
        if family in ("novaseqx", "rta3"):
            steps.append((600.0, lambda: self.write("CopyComplete.txt", self.source.file("CopyComplete.txt") or b"")))
        return steps

    def _final_interop(self) -> None:
        for path in self.source.interop_files():
            self.write(f"InterOp/{path.name}", path.read_bytes())

    def fail(self, cycles_done: int) -> None:
        family = self.source.family
        if family == "miseq":
            now = self.clock.now()
            stamp = f"{now.month}/{now.day}/{now.year},{now:%H:%M:%S}.{now.microsecond // 1000:03d}"
            self.append("Data/RTALogs/GlobalLog.txt", f"{stamp},RTA,{FAILURE_LINE}\r\n".encode())
        elif family == "nextseq":
            self._log("RTA", FAILURE_LINE, level="Error")
            self.write("RunCompletionStatus.xml", self._completion_status(cycles_done, "ExceptionEndedEarly"))
        else:
            self.write("RunCompletionStatus.xml", self._completion_status(cycles_done, "RunErrored"))

    # -- file contents -----------------------------------------------------------------------------------------

    def _log(self, sender: str, message: str, level: str = "Info") -> None:
        now = self.clock.now()
        name = f"RTALogs/{self.started:%Y%m%d-%H%M}_GlobalLog_00.tsv"
        day, time = us_time(now).split(" ", 1)
        self.append(name, f"{day}\t{time}\t{sender}\t{level}\t{message}\r\n".encode())

    def _rta_complete(self) -> bytes:
        now = self.clock.now()
        if self.source.family == "miseq":
            stamp = f"{now.month}/{now.day}/{now.year},{now:%H:%M:%S}.{now.microsecond // 1000:03d}"
            return f"{stamp},Illumina RTA 1.17.28\r\n".encode()
        if self.source.family == "nextseq":
            return f"RTA 2.4.11 completed on {us_time(now)}\r\n".encode()
        return b""

    def _completion_status(self, cycles_done: int, failure: str | None) -> bytes:
        if self.source.family == "nextseq":
            return self._nextseq_status(cycles_done, failure)
        reads, left = [], cycles_done
        for index, read in enumerate(self.source.reads, start=1):
            done = min(read.cycles, left)
            left -= done
            label = f"Index{index}" if read.is_index else f"Read{index}"
            reads.append(f'    <Read ReadName="{label}" Cycles="{done}" />')
        status = failure or "RunCompleted"
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<RunCompletionStatus xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
            f"  <RunStartTime>{offset_time(self.started)}</RunStartTime>\n"
            f"  <RunEndTime>{offset_time(self.clock.now())}</RunEndTime>\n"
            "  <CompletedReads>\n" + "\n".join(reads) + "\n  </CompletedReads>\n"
            f"  <RunStatus>{status}</RunStatus>\n"
            "</RunCompletionStatus>\n"
        ).encode()

    def _nextseq_status(self, cycles_done: int, failure: str | None) -> bytes:
        planned = {"Read1": 0, "Read2": 0, "Index1Read": 0, "Index2Read": 0}
        done = dict(planned)
        left, sequencing, indexes = cycles_done, 0, 0
        for read in self.source.reads:
            if read.is_index:
                indexes += 1
                key = f"Index{indexes}Read"
            else:
                sequencing += 1
                key = f"Read{sequencing}"
            planned[key], done[key] = read.cycles, min(read.cycles, left)
            left -= done[key]
        lines = [f"  <Planned{k}Cycles>{v}</Planned{k}Cycles>" for k, v in planned.items()]
        lines += [f"  <Completed{k}Cycles>{v}</Completed{k}Cycles>" for k, v in done.items()]
        error = "RTA exited before completion (simulated)" if failure else "None"
        return (
            '<?xml version="1.0"?>\n<RunCompletionStatus>\n  <Version>1</Version>\n'
            f"  <CompletionStatus>{failure or 'CompletedAsPlanned'}</CompletionStatus>\n"
            f"  <RunId>{self.source.name}</RunId>\n" + "\n".join(lines) + "\n"
            f"  <ErrorDescription>{error}</ErrorDescription>\n</RunCompletionStatus>\n"
        ).encode()
