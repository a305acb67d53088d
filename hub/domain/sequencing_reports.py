"""Run-folder events from the edges, read defensively into ``RunReport`` values, and matched to planned runs.

Pure functions, no database. The edge's run-folder watcher sends ``run_started``, ``run_seen``, ``run_progress``,
``read_completed``, ``run_completed``, ``run_failed``, ``run_stalled`` and ``run_resumed`` events (payload
``{"type", "severity", "message", "channel", "attrs": {...}}``). Nothing here trusts their shape: a missing key is
recorded as unknown, a value of the wrong type is dropped, another event type is ignored.

QC summaries are taken from a ``qc`` object in the payload or its attrs (``{"percent_q30": "93.1", "lanes": {"1":
{...}}}``), or from flat attrs named ``qc_<metric>`` or ``lane<N>_<metric>`` (``lane1_percent_q30``), because an
event's attrs hold only scalars. Values are kept as decimal text, as the audit trail keeps numbers.

A run is matched to a planned run by, strongest first: its flow cell (RunInfo's, or the one the folder name ends
with, side letter and all); the run name a planner gave (the sheet's RunName, which the instrument records as the
experiment name) or the run id; the Sample_IDs of its sample sheet when the event lists them (most of them must
belong to one planned run). An ambiguous match is no match: the run is recorded unmatched and linked by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

RUN_EVENT_TYPES = frozenset(
    {
        "run_started",
        "run_seen",
        "run_progress",
        "read_completed",
        "run_completed",
        "run_failed",
        "run_stalled",
        "run_resumed",
    }
)
Scalar = str | int | bool | None

_FOLDER = re.compile(r"^\d{6}(?:\d{2})?_[A-Za-z0-9-]+_\d+_([A-Za-z0-9-]+)$")
_LANE_KEY = re.compile(r"^(?:qc_)?lane_?(\d{1,2})_(.+)$")
_MAX_TEXT = 256
_MAX_METADATA_KEYS = 64
_MAX_SAMPLE_IDS = 5000
_QC_METRICS = {
    "yield_gb": "yield_gb",
    "yield_gbp": "yield_gb",
    "yield": "yield_gb",
    "yield_bases": "yield_bases",
    "percent_q30": "percent_q30",
    "pct_q30": "percent_q30",
    "q30_percent": "percent_q30",
    "percent_ge_q30": "percent_q30",
    "percent_gt_q30": "percent_q30",
    "q30": "percent_q30",
    "cluster_density": "cluster_density",
    "density": "cluster_density",
    "cluster_density_k_mm2": "cluster_density",
    "percent_pf": "percent_pf",
    "pct_pf": "percent_pf",
    "pf_percent": "percent_pf",
    "clusters_pf_percent": "percent_pf",
    "reads_pf": "reads_pf",
    "clusters_pf": "reads_pf",
    "error_rate": "error_rate",
    "phasing": "phasing",
    "prephasing": "prephasing",
    "percent_occupied": "percent_occupied",
}
# run metadata kept from the events, beyond the columns a run has
_QC_ATTR = re.compile(r"^(?:qc_.+|lane_?\d{1,2}_.+|qc)$")
_NOT_METADATA = {"message", "sample_ids"}


@dataclass(frozen=True, slots=True)
class RunReport:
    """One run event from one device, as far as it could be read. ``run_id`` is always set."""

    type: str
    seq: int
    at: datetime | None
    run_id: str
    folder: str | None = None
    state: str | None = None
    instrument: str | None = None
    platform: str | None = None
    flow_cell: str | None = None
    experiment: str | None = None
    lanes: int | None = None
    cycles_done: int | None = None
    cycles_total: int | None = None
    read: int | None = None
    reason: str | None = None
    started: datetime | None = None  # the instrument's own times, when it gave them in UTC
    ended: datetime | None = None
    qc: dict[str, Any] | None = None
    sample_ids: tuple[str, ...] = ()
    metadata: dict[str, Scalar] = field(default_factory=dict)

    def flow_cell_keys(self) -> frozenset[str]:
        """Every spelling of this run's flow cell a planner might have typed."""
        keys = set(flow_cell_keys(self.flow_cell))
        in_folder = folder_flow_cell(self.folder or self.run_id)
        keys |= flow_cell_keys(in_folder)
        if in_folder and len(in_folder) == 10 and in_folder[0] in "ABab":  # the side the flow cell was loaded on
            keys |= flow_cell_keys(in_folder[1:])
        return frozenset(keys)


def _text(value: Any, limit: int = _MAX_TEXT) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(value: Any) -> int | None:
    """A whole number ≥ 0 (as a number or as digits), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**31 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value.strip())
        return number if number < 2**31 else None
    return None


def _decimal_text(value: Any) -> str | None:
    """A metric as decimal text (``"93.10"``); ``None`` for anything that is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return format(number, "f") if number.is_finite() else None


def folder_flow_cell(folder: str | None) -> str | None:
    """The flow cell a run folder's name ends with: ``20230418_LH00130_0003_B223YTFLT3`` → ``B223YTFLT3``."""
    if not folder:
        return None
    match = _FOLDER.match(folder)
    return match.group(1) if match else None


def flow_cell_keys(value: str | None) -> frozenset[str]:
    """Upper case without spaces; also without MiSeq's ``000000000-`` padding (``000000000-A2WDF`` → ``A2WDF``)."""
    if not value:
        return frozenset()
    key = re.sub(r"\s+", "", value).upper()
    if not key:
        return frozenset()
    return frozenset({key, key.removeprefix("000000000-")})


def read_qc(attrs: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"summary": {metric: text}, "lanes": {"1": {metric: text}}}`` from whatever the event carries."""
    summary: dict[str, str] = {}
    lanes: dict[str, dict[str, str]] = {}

    def put(target: dict[str, str], name: str, value: Any) -> None:
        metric = _QC_METRICS.get(name.lower())
        text = _decimal_text(value)
        if metric is not None and text is not None:
            target[metric] = text

    def put_lane(lane: Any, metrics: Any) -> None:
        number = _count(lane)
        if number is None or number < 1 or not isinstance(metrics, Mapping):
            return
        target = lanes.setdefault(str(number), {})
        for name, value in metrics.items():
            if isinstance(name, str):
                put(target, name, value)

    for nested in (payload.get("qc"), attrs.get("qc")):
        if not isinstance(nested, Mapping):
            continue
        for name, value in nested.items():
            if name == "lanes" and isinstance(value, Mapping):
                for lane, metrics in value.items():
                    put_lane(lane, metrics)
            elif name == "lanes" and isinstance(value, list):
                for item in value[:64]:
                    if isinstance(item, Mapping):
                        put_lane(item.get("lane"), item)
            elif isinstance(name, str):
                put(summary, name, value)
    for key, value in attrs.items():
        if not isinstance(key, str):
            continue
        lane = _LANE_KEY.match(key.lower())
        if lane is not None:
            put_lane(lane.group(1), {lane.group(2): value})
        elif key.lower().startswith("qc_"):
            put(summary, key[3:], value)
    lanes = {lane: metrics for lane, metrics in lanes.items() if metrics}
    if not summary and not lanes:
        return None
    found: dict[str, Any] = {"summary": summary}
    if lanes:
        found["lanes"] = dict(sorted(lanes.items(), key=lambda item: int(item[0])))
    return found


def _sample_ids(attrs: Mapping[str, Any], payload: Mapping[str, Any]) -> tuple[str, ...]:
    raw: Any = payload.get("sample_ids", attrs.get("sample_ids"))
    if isinstance(raw, str):
        items: Iterable[Any] = raw.split(",")
    elif isinstance(raw, list | tuple):
        items = raw
    else:
        return ()
    found = [text for text in (_text(item, 64) for item in items) if text]
    return tuple(dict.fromkeys(found))[:_MAX_SAMPLE_IDS]


def _utc_time(attrs: Mapping[str, Any], prefix: str) -> datetime | None:
    """``<prefix>_time`` when ``<prefix>_time_zone`` says it is UTC; local wall-clock times are left as text."""
    text = attrs.get(f"{prefix}_time")
    if attrs.get(f"{prefix}_time_zone") != "utc" or not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _metadata(attrs: Mapping[str, Any]) -> dict[str, Scalar]:
    kept: dict[str, Scalar] = {}
    for key, value in attrs.items():
        if len(kept) >= _MAX_METADATA_KEYS:
            break
        if not isinstance(key, str) or len(key) > 64 or key in _NOT_METADATA or _QC_ATTR.match(key.lower()):
            continue
        if value is None or isinstance(value, bool | int):
            kept[key] = value
        elif isinstance(value, str):
            kept[key] = _text(value) or ""
    return kept


def parse_report(event: Mapping[str, Any]) -> RunReport | None:
    """The report in one ``device_events`` row (``kind``, ``type``, ``seq``, ``ts``, ``payload``); ``None`` for an
    event that is not about a run, or names no run."""
    if event.get("kind") != "event" or event.get("type") not in RUN_EVENT_TYPES:
        return None
    payload = event.get("payload")
    if not isinstance(payload, Mapping):
        return None
    raw_attrs = payload.get("attrs")
    attrs: Mapping[str, Any] = raw_attrs if isinstance(raw_attrs, Mapping) else {}
    folder = _text(attrs.get("folder"), 128)
    run_id = _text(attrs.get("run_id"), 128) or folder or _text(payload.get("channel"), 128)
    seq = event.get("seq")
    if run_id is None or isinstance(seq, bool) or not isinstance(seq, int):
        return None
    at = event.get("ts")
    kind = str(event["type"])
    return RunReport(
        type=kind,
        seq=seq,
        at=at if isinstance(at, datetime) and at.tzinfo is not None else None,
        run_id=run_id,
        folder=folder,
        state=_text(attrs.get("state"), 16),
        instrument=_text(attrs.get("instrument"), 64),
        platform=_text(attrs.get("platform"), 64),
        flow_cell=_text(attrs.get("flow_cell"), 64),
        experiment=_text(attrs.get("experiment"), 200),
        lanes=_count(attrs.get("lanes")),
        cycles_done=_count(attrs.get("cycles_done")),
        cycles_total=_count(attrs.get("cycles_total")),
        read=_count(attrs.get("read")),
        reason=_text(attrs.get("reason") or attrs.get("completed_by"), 1000),
        started=_utc_time(attrs, "start"),
        ended=_utc_time(attrs, "end"),
        qc=read_qc(attrs, payload) if kind in ("run_completed", "run_seen") else None,
        sample_ids=_sample_ids(attrs, payload),
        metadata=_metadata(attrs) if kind in ("run_started", "run_seen", "run_completed") else {},
    )


def parse_reports(events: Sequence[Mapping[str, Any]]) -> list[RunReport]:
    """The run reports among ``events``, in log order."""
    found = [report for report in (parse_report(e) for e in events) if report is not None]
    return sorted(found, key=lambda report: report.seq)


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """What matching needs of a planned run."""

    id: str
    name: str
    flow_cell: str | None
    sample_ids: frozenset[str] = frozenset()


def match_planned(report: RunReport, planned: Sequence[PlannedRun]) -> str | None:
    """The id of the one planned run ``report`` belongs to, or ``None`` (no match, or more than one)."""
    event_keys = report.flow_cell_keys()
    by_flow_cell = [p for p in planned if flow_cell_keys(p.flow_cell) & event_keys]
    if by_flow_cell:
        return by_flow_cell[0].id if len(by_flow_cell) == 1 else None
    # a planned run whose flow cell is known and different is not this run, whatever its name says
    open_runs = [p for p in planned if not (p.flow_cell and event_keys)]
    names = {n.lower() for n in (report.experiment, report.run_id, report.folder) if n}
    by_name = [p for p in open_runs if p.name.lower() in names]
    if by_name:
        return by_name[0].id if len(by_name) == 1 else None
    if not report.sample_ids:
        return None
    wanted = set(report.sample_ids)
    overlaps = sorted(((len(wanted & p.sample_ids), p.id) for p in open_runs), reverse=True)
    if not overlaps or overlaps[0][0] * 2 < len(wanted) or overlaps[0][0] == 0:
        return None
    if len(overlaps) > 1 and overlaps[1][0] == overlaps[0][0]:
        return None
    return overlaps[0][1]
