"""The excursion report of one alert, as one HTML page that prints well: what happened, the readings around it
(an inline SVG trace, no script), door and defrost events, every step taken and who acknowledged it, and the
samples the storage unit held.

The page is made from the records alone (it names the alert's last change, not the time it was printed), so two
prints of an unchanged alert are the same document.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.inhibition import event_signal, reading_signal
from hub.alerts.rules import reading_value
from hub.alerts.units import AffectedSample, affected_samples, unit_name
from hub.db.alerts_models import Alert, AlertInhibition
from hub.db.ingest_models import DeviceEvent, Reading
from hub.db.models import AuditEntry

MARGIN = timedelta(minutes=30)
LONGEST = timedelta(hours=48)
MAX_POINTS = 1500
WIDTH, HEIGHT, PAD = 760, 220, 40
_NO_SAMPLES = "No samples recorded in an excursion of this unit."
_NO_UNIT = "No storage unit is bound to this channel."


@dataclass(frozen=True)
class Happening:
    at: datetime
    what: str
    who: str
    note: str


async def render(session: AsyncSession, alert: Alert) -> str:
    end = alert.resolved_at or alert.updated_at
    start = max(alert.opened_at - MARGIN, end + MARGIN - LONGEST)
    trace = await _trace(session, alert, start, end + MARGIN)
    doors = await _doors(session, alert, start, end + MARGIN)
    timeline = await _timeline(session, alert)
    samples: list[AffectedSample] = []
    unit = None
    if alert.unit_id is not None:
        unit = await unit_name(session, alert.tenant_id, alert.unit_id)
        samples = await affected_samples(session, alert.tenant_id, alert.unit_id, alert.opened_at, end)
    parts = [
        _HEAD.format(title=escape(alert.title)),
        f"<h1>Excursion report: {escape(alert.title)}</h1>",
        _summary(alert, unit),
        "<h2>Readings</h2>",
        _svg(trace, alert) if trace else "<p class=none>No readings of this channel in the period.</p>",
        "<h2>Door and defrost</h2>",
        _table(["Time (UTC)", "Event", "Detail"], [[_t(h.at), h.what, h.note] for h in doors])
        if doors
        else "<p class=none>No door openings or defrost cycles recorded.</p>",
        "<h2>Acknowledgements and steps</h2>",
        _table(["Time (UTC)", "Action", "By", "Comment"], [[_t(h.at), h.what, h.who, h.note] for h in timeline])
        if timeline
        else "<p class=none>Nothing recorded yet.</p>",
        "<h2>Affected samples</h2>",
        _table(
            ["Barcode", "Name", "Box", "Position"],
            [[s.barcode, s.name, s.box_id, f"{chr(64 + s.row)}{s.col}"] for s in samples],
        )
        if samples
        else f"<p class=none>{_NO_SAMPLES if unit else _NO_UNIT}</p>",
        f"<footer>Alert {escape(alert.id)} as of its last change, {_t(alert.updated_at)} UTC.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts)


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 11pt/1.4 system-ui, sans-serif; margin: 2em; color: #111; }}
h1 {{ font-size: 16pt; }} h2 {{ font-size: 13pt; border-bottom: 1px solid #999; margin-top: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #bbb; padding: 2px 6px; text-align: left; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 2px 12px; }} dt {{ font-weight: 600; }}
svg {{ width: 100%; height: auto; border: 1px solid #bbb; }} .none {{ color: #555; font-style: italic; }}
footer {{ margin-top: 2em; font-size: 9pt; color: #555; }}
@media print {{ body {{ margin: 0; }} h2 {{ break-after: avoid; }} table, svg {{ break-inside: avoid; }} }}
@page {{ size: A4; margin: 15mm; }}
</style></head><body>"""


def _t(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _summary(alert: Alert, unit: str | None) -> str:
    rows = [
        ("State", alert.state + (" (flapping)" if alert.flapping else "")),
        ("Severity", alert.severity),
        ("Source", f"{alert.origin} / {alert.kind}"),
        ("Storage unit", unit or "—"),
        ("Instrument", " / ".join(x for x in (alert.source, alert.channel) if x) or "—"),
        ("Value", alert.value or "—"),
        ("Limit", alert.limit_value or "—"),
        ("Opened", _t(alert.opened_at)),
        ("Fired", _t(alert.fired_at) or "never"),
        ("Acknowledged", f"{_t(alert.acknowledged_at)} by {alert.acknowledged_by}" if alert.acknowledged_at else "no"),
        ("Resolved", _t(alert.resolved_at) or "no"),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


async def _trace(session: AsyncSession, alert: Alert, start: datetime, end: datetime) -> list[tuple[datetime, Decimal]]:
    if alert.device_id is None or alert.channel is None:
        return []
    rows = await session.execute(
        select(Reading.ts, Reading.value, Reading.quality)
        .where(
            Reading.tenant_id == alert.tenant_id,
            Reading.device_id == alert.device_id,
            Reading.source == (alert.source or ""),
            Reading.channel == alert.channel,
            Reading.ts >= start,
            Reading.ts <= end,
        )
        .order_by(Reading.ts)
        .limit(MAX_POINTS * 10)
    )
    points = [(ts, v) for ts, text, quality in rows.all() if (v := reading_value(text, quality)) is not None]
    stride = max(1, len(points) // MAX_POINTS)
    return points[::stride]


def _svg(points: list[tuple[datetime, Decimal]], alert: Alert) -> str:
    values = [v for _, v in points]
    limit = None
    if alert.limit_value is not None and alert.kind not in ("rate",):
        try:
            limit = Decimal(alert.limit_value)
        except ArithmeticError:
            limit = None
    low, high = (
        min([*values, *([limit] if limit is not None else [])]),
        max([*values, *([limit] if limit is not None else [])]),
    )
    span = (high - low) or Decimal(1)
    t0, t1 = points[0][0], points[-1][0]
    seconds = max((t1 - t0).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        return PAD + (WIDTH - 2 * PAD) * (at - t0).total_seconds() / seconds

    def y(value: Decimal) -> float:
        return float(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value - low) / span)

    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="readings of {escape(alert.channel or "")}">',
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" fill="none" stroke="#ccc"/>',
    ]
    if alert.fired_at is not None and t0 <= alert.fired_at <= t1:
        fx = x(alert.fired_at)
        parts.append(
            f'<line x1="{fx:.1f}" y1="{PAD}" x2="{fx:.1f}" y2="{HEIGHT - PAD}" stroke="#c00" stroke-width="1"/>'
        )
    if limit is not None:
        ly = y(limit)
        parts.append(
            f'<line x1="{PAD}" y1="{ly:.1f}" x2="{WIDTH - PAD}" y2="{ly:.1f}" stroke="#c00" stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - PAD + 2}" y="{ly + 4:.1f}" font-size="10" fill="#c00">{escape(str(limit))}</text>'
        )
    parts += [
        f'<polyline points="{line}" fill="none" stroke="#036" stroke-width="1.5"/>',
        f'<text x="{PAD}" y="{HEIGHT - 12}" font-size="10">{_t(t0)}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 12}" font-size="10" text-anchor="end">{_t(t1)}</text>',
        f'<text x="4" y="{PAD + 4}" font-size="10">{escape(str(high))}</text>',
        f'<text x="4" y="{HEIGHT - PAD}" font-size="10">{escape(str(low))}</text>',
        "</svg>",
    ]
    return "".join(parts)


async def _doors(session: AsyncSession, alert: Alert, start: datetime, end: datetime) -> list[Happening]:
    if alert.device_id is None:
        return []
    found: list[Happening] = []
    events = await session.execute(
        select(DeviceEvent).where(
            DeviceEvent.tenant_id == alert.tenant_id,
            DeviceEvent.device_id == alert.device_id,
            DeviceEvent.ts >= start,
            DeviceEvent.ts <= end,
        )
    )
    for event in events.scalars():
        signal = event_signal(event.kind, event.payload)
        if signal is not None and str(event.payload.get("device", "")) == (alert.source or ""):
            found.append(Happening(event.ts, f"{signal[0]} {signal[1]}", "", str(event.payload.get("message") or "")))
    readings = await session.execute(
        select(Reading.ts, Reading.channel, Reading.value).where(
            Reading.tenant_id == alert.tenant_id,
            Reading.device_id == alert.device_id,
            Reading.source == (alert.source or ""),
            Reading.channel.in_(["door", "door_open", "door_contact", "defrost"]),
            Reading.ts >= start,
            Reading.ts <= end,
        )
    )
    last: dict[str, str | None] = {}
    for ts, channel, value in sorted(readings.all()):
        signal = reading_signal(channel, value)
        if signal is not None and last.get(channel) != value:
            found.append(Happening(ts, f"{signal[0]} {signal[1]}", "", f"{channel} = {value}"))
        last[channel] = value
    holds = await session.execute(
        select(AlertInhibition).where(
            AlertInhibition.tenant_id == alert.tenant_id,
            AlertInhibition.device_id == alert.device_id,
            AlertInhibition.source == (alert.source or ""),
            AlertInhibition.started_at <= end,
            AlertInhibition.until >= start,
        )
    )
    for hold in holds.scalars():
        found.append(Happening(hold.started_at, f"{hold.cause} holds alerts", "", f"until {_t(hold.until)}"))
    return sorted(found, key=lambda h: h.at)


async def _timeline(session: AsyncSession, alert: Alert) -> list[Happening]:
    entries = await session.execute(
        select(AuditEntry)
        .where(
            AuditEntry.tenant_id == alert.tenant_id,
            AuditEntry.record_type == "alert",
            AuditEntry.record_id == alert.id,
        )
        .order_by(AuditEntry.seq)
    )
    found = []
    for entry in entries.scalars():
        payload = json.loads(entry.raw).get("payload", {})
        note = payload.get("reason") or ""
        if entry.action == "escalate":
            people = (payload.get("new") or {}).get("users") or []
            note = f"step {(payload.get('new') or {}).get('step', '')}: {len(people)} people"
        found.append(Happening(entry.created_at, entry.action, entry.actor, str(note)))
    return found
