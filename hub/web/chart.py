"""A unit's last 24 hours as an inline SVG, drawn on the server: the readings, the alarm limits as dashed lines and
each door opening as a mark. Pure: values and times in, markup out. The scale travels in ``data-*`` attributes so
the page's script can append live readings to the line without redrawing it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 28
MAX_POINTS = 600


@dataclass(frozen=True)
class Limit:
    direction: str  # high | low
    value: Decimal
    name: str


def _fmt(value: Decimal | float) -> str:
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def thin(points: Sequence[tuple[datetime, Decimal]], most: int = MAX_POINTS) -> list[tuple[datetime, Decimal]]:
    """At most ``most`` points, keeping the first and the last (a chart needs no more than its pixels)."""
    if len(points) <= most:
        return list(points)
    stride = len(points) / (most - 1)
    kept = [points[int(i * stride)] for i in range(most - 1)]
    return [*kept, points[-1]]


def svg(
    label: str,
    points: Sequence[tuple[datetime, Decimal]],
    limits: Sequence[Limit],
    doors: Sequence[datetime],
    start: datetime,
    end: datetime,
    unit: str,
) -> str:
    """The chart, with a text summary as its accessible name (the figures a screen reader needs)."""
    points = thin(points)
    values = [v for _, v in points] + [lim.value for lim in limits]
    low = min(values) if values else Decimal(-1)
    high = max(values) if values else Decimal(1)
    margin = max((high - low) * Decimal("0.1"), Decimal(1))
    low, high = low - margin, high + margin
    span = float(high - low)
    seconds = max((end - start).total_seconds(), 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + plot_w * min(max((at - start).total_seconds() / seconds, 0.0), 1.0)

    def y(value: Decimal) -> float:
        return TOP + plot_h * (1 - (float(value - low) / span))

    shown = [v for _, v in points]
    summary = (
        f"{label}, last 24 hours: {len(points)} readings"
        + (f", lowest {_fmt(min(shown))} {unit}, highest {_fmt(max(shown))} {unit}" if shown else "")
        + "".join(f"; {lim.direction} limit {_fmt(lim.value)} {unit}" for lim in limits)
        + f"; door opened {len(doors)} times"
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(summary)}" '
        f'data-t0="{int(start.timestamp() * 1000)}" data-t1="{int(end.timestamp() * 1000)}" '
        f'data-low="{_fmt(low)}" data-high="{_fmt(high)}" data-left="{LEFT}" data-top="{TOP}" '
        f'data-w="{plot_w}" data-h="{plot_h}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(summary)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end" class="axis">{_fmt(high)}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" class="axis">{_fmt(low)}</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}" class="axis">{start.strftime("%d %b %H:%M")} UTC</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" class="axis">'
        f"{end.strftime('%d %b %H:%M')} UTC</text>",
    ]
    for at in doors:
        dx = x(at)
        parts.append(
            f'<line x1="{dx:.1f}" y1="{TOP}" x2="{dx:.1f}" y2="{TOP + plot_h}" class="door">'
            f"<title>door opened {at.strftime('%H:%M:%S')} UTC</title></line>"
        )
    for lim in limits:
        ly = y(lim.value)
        parts.append(
            f'<line x1="{LEFT}" y1="{ly:.1f}" x2="{LEFT + plot_w}" y2="{ly:.1f}" class="limit">'
            f"<title>{escape(lim.direction)} limit {_fmt(lim.value)} ({escape(lim.name)})</title></line>"
            f'<text x="{LEFT + plot_w - 4}" y="{ly - 4:.1f}" text-anchor="end" class="limit-label">'
            f"{escape(lim.direction)} {_fmt(lim.value)}</text>"
        )
    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    parts.append(f'<polyline points="{line}" class="trace"/>')
    parts.append("</svg>")
    return "".join(parts)
