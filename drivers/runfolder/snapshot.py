"""What a run folder says, gathered (``RunEvidence``) and concluded (``RunFolderSnapshot``).

The conclusion is a pure function of the evidence, so the watcher, ``tracseq runfolder inspect`` and the tests
agree by construction. The rules, strongest evidence first:

- **failed**: ``RunCompletionStatus.xml`` with any status but ``CompletedAsPlanned``/``RunCompleted``, or an RTA
  log line saying the application exited before completion;
- **completed**: ``RunCompletionStatus.xml`` that completed, else ``CopyComplete.txt``, else ``RTAComplete.txt``,
  else every cycle on disk (InterOp or per-cycle folders) with no completion file: at once for a one-off look,
  after ``completion_grace_s`` of quiet for the watcher (a completion file is usually seconds away);
- **stalled**: neither, and nothing changed for ``stall_after_s`` (instruments never say they stopped);
- **running** once a cycle is done, **started** before.

Cycles done are the highest of: the completed cycles in ``RunCompletionStatus.xml``, the last read marked
complete, the last cycle in ``InterOp/ExtractionMetricsOut.bin``, the last ``C<n>.1`` folder or
``<n>.bcl.bgzf`` file, and the last cycle the RTA log reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from drivers.runfolder.completion import CompletionStatus, ReadComplete, RtaComplete
from drivers.runfolder.interop import ExtractionProgress
from drivers.runfolder.platforms import platform_name
from drivers.runfolder.rtalog import LogFindings
from drivers.runfolder.runinfo import Read, RunInfo
from drivers.runfolder.runparameters import Consumable, RunParameters
from drivers.runfolder.timestamps import RunTime

RunState = Literal["started", "running", "completed", "failed", "stalled"]
TERMINAL_STATES: frozenset[RunState] = frozenset({"completed", "failed"})


@dataclass(frozen=True, slots=True)
class Problem:
    """A file that could not be used, and why."""

    file: str
    reason: str


@dataclass(slots=True)
class RunEvidence:
    """Everything read so far from one run folder; the folder reader fills it in as files appear."""

    folder: str
    run_info: RunInfo | None = None
    parameters: RunParameters | None = None
    completion: CompletionStatus | None = None
    rta_complete: RtaComplete | None = None
    copy_complete: RunTime | None = None
    copy_completed: bool = False
    reads_marked: dict[int, ReadComplete] = field(default_factory=dict)
    log: LogFindings = field(default_factory=LogFindings)
    extraction: ExtractionProgress | None = None
    cycle_folders: dict[str, int] = field(default_factory=dict)
    problems: dict[str, Problem] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunFolderSnapshot:
    """One run as the watcher understands it at one moment."""

    folder: str
    run_info: RunInfo
    parameters: RunParameters | None
    platform: str
    state: RunState
    state_reason: str
    cycles_done: int
    cycles_source: str | None
    reads_completed: tuple[int, ...]
    start: RunTime | None
    end: RunTime | None
    failure: str | None
    rta_version: str | None
    problems: tuple[Problem, ...] = ()
    vendor: str = "Illumina"

    @property
    def run_id(self) -> str:
        return self.run_info.run_id

    @property
    def cycles_total(self) -> int:
        return self.run_info.cycles_total

    @property
    def reads(self) -> tuple[Read, ...]:
        return self.run_info.reads

    @property
    def consumables(self) -> tuple[Consumable, ...]:
        return self.parameters.consumables if self.parameters else ()

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without floats: what ``tracseq runfolder inspect --json`` prints."""
        info, params = self.run_info, self.parameters
        return {
            "folder": self.folder,
            "vendor": self.vendor,
            "platform": self.platform,
            "run_id": info.run_id,
            "run_number": info.run_number,
            "instrument": info.instrument,
            "side": params.side if params else None,
            "flow_cell": info.flow_cell,
            "flow_cell_model": params.flow_cell_model if params else None,
            "lanes": info.layout.lanes,
            "tiles_per_lane": info.layout.tiles_per_lane,
            "reads": [
                {
                    "number": r.number,
                    "cycles": r.cycles,
                    "index": r.is_index,
                    "reverse_complement": r.is_reverse_complement,
                }
                for r in info.reads
            ],
            "read_lengths": list(info.read_lengths),
            "index_lengths": list(info.index_lengths),
            "bases_mask": info.bases_mask,
            "paired_end": len(info.read_lengths) > 1,
            "i5_orientation": info.i5_orientation,
            "cycles_total": info.cycles_total,
            "cycles_done": self.cycles_done,
            "cycles_source": self.cycles_source,
            "reads_completed": list(self.reads_completed),
            "state": self.state,
            "state_reason": self.state_reason,
            "failure": self.failure,
            "start": _time_dict(self.start),
            "end": _time_dict(self.end),
            "rta_version": self.rta_version,
            "application": params.application if params else None,
            "application_version": params.application_version if params else None,
            "chemistry": params.chemistry if params else None,
            "reagent_kit_version": params.reagent_kit_version if params else None,
            "reagent_kit": params.reagent_kit if params else None,
            "experiment_name": params.experiment_name if params else None,
            "recipe": params.recipe if params else None,
            "workflow_type": params.workflow_type if params else None,
            "consumables": [
                {
                    "type": c.type,
                    "lot_number": c.lot_number,
                    "part_number": c.part_number,
                    "serial_number": c.serial_number,
                }
                for c in self.consumables
            ],
            "problems": [{"file": p.file, "reason": p.reason} for p in self.problems],
        }


def _time_dict(time: RunTime | None) -> dict[str, str] | None:
    return None if time is None else {"time": time.text, "zone": time.kind, "source": time.source}


def conclude(
    evidence: RunEvidence,
    *,
    idle_s: float | None = None,
    stall_after_s: float | None = None,
    completion_grace_s: float = 0.0,
) -> RunFolderSnapshot | None:
    """The run's state from its evidence; ``None`` until ``RunInfo.xml`` has been read.

    ``idle_s`` is how long nothing has changed (``None``: unknown, a one-off look).
    """
    info = evidence.run_info
    if info is None:
        return None
    total = info.cycles_total
    cycles_done, cycles_source = _cycles(evidence, info)
    state, reason, failure = _verdict(evidence, cycles_done, cycles_source, total, idle_s, completion_grace_s)
    if state == "completed":
        cycles_done, cycles_source = total, cycles_source if cycles_done == total else reason
    elif state not in TERMINAL_STATES and stall_after_s is not None and idle_s is not None and idle_s >= stall_after_s:
        state, reason = "stalled", f"no change for {int(idle_s)} s (stalled after {int(stall_after_s)} s)"
    ends = dict(info.read_end_cycles())
    completed_reads = {number for number, end in ends.items() if end <= cycles_done} | set(evidence.reads_marked)
    params = evidence.parameters
    return RunFolderSnapshot(
        folder=evidence.folder,
        run_info=info,
        parameters=params,
        platform=platform_name(info.instrument, params),
        state=state,
        state_reason=reason,
        cycles_done=cycles_done,
        cycles_source=cycles_source,
        reads_completed=tuple(sorted(completed_reads & ends.keys())),
        start=_start(evidence, info),
        end=_end(evidence, state, total),
        failure=failure,
        rta_version=(params.rta_version if params else None)
        or (evidence.rta_complete.rta_version if evidence.rta_complete else None),
        problems=tuple(evidence.problems.values()),
    )


def _cycles(evidence: RunEvidence, info: RunInfo) -> tuple[int, str | None]:
    candidates: list[tuple[int, str]] = []
    if evidence.completion is not None and evidence.completion.completed_cycles is not None:
        candidates.append((evidence.completion.completed_cycles, "RunCompletionStatus.xml"))
    ends = dict(info.read_end_cycles())
    marked = [ends[n] for n in evidence.reads_marked if n in ends]
    if marked:
        candidates.append((max(marked), f"RTARead{max(evidence.reads_marked)}Complete.txt"))
    if evidence.extraction is not None:
        candidates.append((evidence.extraction.last_cycle, "InterOp/ExtractionMetricsOut.bin"))
    candidates.extend((cycle, source) for source, cycle in evidence.cycle_folders.items())
    if evidence.log.last_cycle is not None:
        candidates.append((evidence.log.last_cycle, "RTA log"))
    if not candidates:
        return 0, None
    best, source = max(candidates, key=lambda candidate: candidate[0])  # ties: the first listed wins
    return min(best, info.cycles_total), source


def _verdict(
    evidence: RunEvidence,
    cycles_done: int,
    cycles_source: str | None,
    total: int,
    idle_s: float | None,
    completion_grace_s: float,
) -> tuple[RunState, str, str | None]:
    status = evidence.completion
    if status is not None and not status.succeeded:
        reason = f"RunCompletionStatus.xml: {status.status}" + (f" ({status.error})" if status.error else "")
        return "failed", reason, reason
    if evidence.log.failure is not None:
        return "failed", "RTA log: application exited before completion", evidence.log.failure
    if status is not None:
        return "completed", f"RunCompletionStatus.xml: {status.status}", None
    if evidence.copy_completed:
        return "completed", "CopyComplete.txt", None
    if evidence.rta_complete is not None:
        return "completed", "RTAComplete.txt", None
    quiet = idle_s is None or idle_s >= completion_grace_s
    if total and cycles_done >= total and quiet and cycles_source and not cycles_source.startswith("RTARead"):
        return "completed", f"all {total} cycles on disk ({cycles_source}); no completion file", None
    if cycles_done > 0:
        return "running", f"{cycles_done} of {total} cycles ({cycles_source})", None
    return "started", "RunInfo.xml written; no cycle on disk yet", None


def _start(evidence: RunEvidence, info: RunInfo) -> RunTime | None:
    if evidence.completion is not None and evidence.completion.start_time is not None:
        return evidence.completion.start_time
    if evidence.parameters is not None and evidence.parameters.start_time is not None:
        return evidence.parameters.start_time
    return info.date


def _end(evidence: RunEvidence, state: RunState, total: int) -> RunTime | None:
    status, extraction = evidence.completion, evidence.extraction
    candidates: list[RunTime | None] = [status.end_time if status else None]
    if state == "failed":
        candidates.append(evidence.log.failure_time)
    elif state == "completed":
        if extraction is not None and extraction.last_cycle >= total:
            candidates.append(extraction.last_time)
        candidates.append(evidence.rta_complete.time if evidence.rta_complete else None)
        candidates.append(evidence.copy_complete)
    return next((time for time in candidates if time is not None), None)
