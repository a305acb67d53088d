"""The ``Event`` each run milestone becomes. Attribute values are text, whole numbers or flags: never floats.

Times travel as text (``start_time``) with their zone (``start_time_zone``: ``utc``, ``local`` for the
instrument PC's wall clock when the file records no zone, or ``date`` for a calendar date only).
"""

from __future__ import annotations

import re
from datetime import datetime

from drivers.runfolder.snapshot import Problem, RunFolderSnapshot
from drivers.runfolder.timestamps import RunTime
from protocol.models import Event, Scalar, Severity

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
MAX_TEXT = 512


def _channel(folder: str) -> str | None:
    return folder if _IDENTIFIER.match(folder) else None


def _numbers(values: tuple[int, ...]) -> str:
    return ",".join(str(value) for value in values)


def _time(prefix: str, time: RunTime | None) -> dict[str, Scalar]:
    if time is None:
        return {f"{prefix}_time": None, f"{prefix}_time_zone": None, f"{prefix}_time_source": None}
    return {f"{prefix}_time": time.text, f"{prefix}_time_zone": time.kind, f"{prefix}_time_source": time.source}


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _event(
    device: str, snap: RunFolderSnapshot, kind: str, message: str, attrs: dict[str, Scalar], severity: Severity = "info"
) -> Event:
    base: dict[str, Scalar] = {"run_id": snap.run_id, "folder": snap.folder, "state": snap.state}
    return Event(
        type=kind,
        severity=severity,
        device=device,
        channel=_channel(snap.folder),
        message=_clip(message),
        attrs=base | attrs,
    )


def metadata(snap: RunFolderSnapshot) -> dict[str, Scalar]:
    info, params = snap.run_info, snap.parameters
    return {
        "instrument": info.instrument,
        "platform": snap.platform,
        "run_number": info.run_number,
        "flow_cell": info.flow_cell,
        "flow_cell_model": params.flow_cell_model if params else None,
        "side": params.side if params else None,
        "lanes": info.layout.lanes,
        "reads": _numbers(tuple(read.cycles for read in info.reads)),
        "read_lengths": _numbers(info.read_lengths),
        "index_lengths": _numbers(info.index_lengths),
        "bases_mask": info.bases_mask,
        "cycles_total": info.cycles_total,
        "experiment": params.experiment_name if params else None,
        "rta_version": snap.rta_version,
    } | _time("start", snap.start)


def run_started(device: str, snap: RunFolderSnapshot) -> Event:
    info = snap.run_info
    message = (
        f"run {snap.run_id} started on {info.instrument} ({snap.platform}): flow cell {info.flow_cell}, "
        f"{info.layout.lanes} lanes, reads {_numbers(tuple(r.cycles for r in info.reads))}"
    )
    return _event(device, snap, "run_started", message, metadata(snap))


def run_seen(device: str, snap: RunFolderSnapshot) -> Event:
    message = (
        f"run {snap.run_id} found {snap.state} when watching began ({snap.cycles_done} of {snap.cycles_total} "
        "cycles): earlier milestones are not reported again"
    )
    attrs: dict[str, Scalar] = {"cycles_done": snap.cycles_done, "reason": snap.state_reason}
    return _event(device, snap, "run_seen", message, attrs | metadata(snap) | _time("end", snap.end))


def run_progress(device: str, snap: RunFolderSnapshot) -> Event:
    message = f"run {snap.run_id}: {snap.cycles_done} of {snap.cycles_total} cycles"
    attrs: dict[str, Scalar] = {
        "cycles_done": snap.cycles_done,
        "cycles_total": snap.cycles_total,
        "percent": snap.cycles_done * 100 // max(snap.cycles_total, 1),
        "source": snap.cycles_source,
    }
    return _event(device, snap, "run_progress", message, attrs)


def read_completed(device: str, snap: RunFolderSnapshot, number: int) -> Event:
    read = next(r for r in snap.reads if r.number == number)
    kind = "index read" if read.is_index else "read"
    message = f"run {snap.run_id}: read {number} ({kind}, {read.cycles} cycles) complete"
    return _event(
        device, snap, "read_completed", message, {"read": number, "cycles": read.cycles, "index": read.is_index}
    )


def run_completed(device: str, snap: RunFolderSnapshot) -> Event:
    start, end = snap.start, snap.end
    duration = int((end.utc - start.utc).total_seconds()) if start and end and start.utc and end.utc else None
    message = f"run {snap.run_id} completed ({snap.state_reason})"
    attrs: dict[str, Scalar] = {"completed_by": snap.state_reason, "duration_s": duration}
    return _event(device, snap, "run_completed", message, attrs | metadata(snap) | _time("end", end))


def run_failed(device: str, snap: RunFolderSnapshot) -> Event:
    reason = _clip(snap.failure or snap.state_reason)
    message = f"run {snap.run_id} failed: {reason}"
    attrs: dict[str, Scalar] = {"reason": reason, "cycles_done": snap.cycles_done, "cycles_total": snap.cycles_total}
    return _event(device, snap, "run_failed", message, attrs | _time("end", snap.end), severity="alarm")


def run_stalled(device: str, snap: RunFolderSnapshot, idle_s: float, since: datetime) -> Event:
    message = (
        f"run {snap.run_id}: nothing written for {int(idle_s)} s at {snap.cycles_done} of {snap.cycles_total} "
        "cycles; the instrument may have stopped"
    )
    attrs: dict[str, Scalar] = {
        "idle_s": int(idle_s),
        "last_change": since.isoformat(),
        "cycles_done": snap.cycles_done,
        "cycles_total": snap.cycles_total,
    }
    return _event(device, snap, "run_stalled", message, attrs, severity="warning")


def run_resumed(device: str, snap: RunFolderSnapshot) -> Event:
    message = f"run {snap.run_id}: files are changing again ({snap.cycles_done} of {snap.cycles_total} cycles)"
    return _event(device, snap, "run_resumed", message, {"cycles_done": snap.cycles_done})


def bad_file(device: str, folder: str, problem: Problem) -> Event:
    return Event(
        type="bad_frame",
        severity="warning",
        device=device,
        channel=_channel(folder),
        message=_clip(f"{folder}/{problem.file}: {problem.reason}"),
        attrs={"folder": folder, "file": problem.file, "reason": _clip(problem.reason)},
    )
