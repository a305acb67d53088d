"""Storage units ranked by risk of failure from their own sensor history over the last week, with the reasons.

From the anomaly detector's hourly window features (``hub.alerts.anomaly.features``) three signs of a unit
wearing out are measured, each scaled to 0..1 at the value that alone would make it a certain concern:

- the compressor duty trend (share points per day: a compressor working harder to hold the same temperature);
- the trend of recovery time after door openings (seconds per day: a cabinet that recovers ever more slowly);
- drift: the mean undisturbed temperature of the last day against the first two days of the week.

The score combines them as ``1 - Π(1 - part)``: one strong sign is enough, several weak ones add up. Trends are
least-squares slopes over the windows that have the feature, and need ``MIN_WINDOWS`` of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.anomaly.features import FEATURES, UnitReadings, WindowSpec, matrix, windows
from hub.alerts.anomaly.service import unit_channels, unit_readings
from hub.db.base import utcnow
from hub.db.storage_models import StorageContainer
from hub.domain.storage.layout import UNIT_KINDS
from hub.errors import ValidationFailedError

DAYS = 7
BASELINE_H = 48  # the first hours of the week: the unit's baseline
RECENT_H = 24  # the last hours: compared with the baseline
MIN_WINDOWS = 12
DUTY_FULL = 0.05  # +5 share points of duty per day
RECOVERY_FULL_S = 300.0  # +5 minutes of recovery per day
DRIFT_FULL_C = 2.0  # 2 °C warmer than the baseline
MAX_READINGS = 500_000
REASON_FROM = 0.2  # a part this large or larger is named as a reason
HOURLY = WindowSpec()


@dataclass(frozen=True)
class Assessment:
    score: float | None  # None: not enough data to judge
    parts: dict[str, float | None]
    reasons: list[str]
    windows: int


def _slope_per_day(starts: np.ndarray, values: np.ndarray) -> float | None:
    known = ~np.isnan(values)
    if int(known.sum()) < MIN_WINDOWS:
        return None
    t = starts[known] / 86400.0
    v = values[known]
    dt = t - t.mean()
    sxx = float(np.dot(dt, dt))
    return None if sxx == 0.0 else float(np.dot(dt, v - v.mean()) / sxx)


def _part(value: float | None, full: float) -> float:
    return 0.0 if value is None or math.isnan(value) else float(np.clip(value / full, 0.0, 1.0))


def assess(readings: UnitReadings, start: float, end: float, spec: WindowSpec = HOURLY) -> Assessment:
    """The risk of one unit from its readings in [start, end) (POSIX seconds)."""
    found = windows(readings, start, end, spec)
    if not found:
        return Assessment(None, {}, ["no whole window of readings in the period"], 0)
    x = matrix(found)
    starts = np.asarray([w.start for w in found])
    column = {name: x[:, i] for i, name in enumerate(FEATURES)}
    duty_trend = _slope_per_day(starts, column["duty"])
    recovery_trend = _slope_per_day(starts, column["recovery_s"])
    mean_c = column["mean_c"]
    early = mean_c[starts < start + BASELINE_H * 3600]
    late = mean_c[starts >= end - RECENT_H * 3600]
    drift = None
    if np.count_nonzero(~np.isnan(early)) >= 3 and np.count_nonzero(~np.isnan(late)) >= 3:
        drift = float(np.nanmean(late) - np.nanmean(early))
    parts = {
        "duty_trend": _part(duty_trend, DUTY_FULL),
        "recovery_trend": _part(recovery_trend, RECOVERY_FULL_S),
        "drift": _part(drift, DRIFT_FULL_C),
    }
    measured = {
        "duty_trend_per_day": duty_trend,
        "recovery_trend_s_per_day": recovery_trend,
        "drift_c": drift,
    }
    if all(v is None for v in measured.values()):
        return Assessment(None, measured, ["too few windows with readings to judge a trend"], len(found))
    reasons = []
    if parts["duty_trend"] >= REASON_FROM and duty_trend is not None:
        reasons.append(f"compressor duty rising {duty_trend * 100:.1f} points a day")
    if parts["recovery_trend"] >= REASON_FROM and recovery_trend is not None:
        reasons.append(f"recovery after door openings {recovery_trend / 60:.1f} min a day slower")
    if parts["drift"] >= REASON_FROM and drift is not None:
        reasons.append(f"{drift:.1f} °C warmer than at the start of the period")
    score = 1.0 - math.prod(1.0 - p for p in parts.values())
    rounded = {k: None if v is None else round(v, 4) for k, v in measured.items()}
    return Assessment(
        round(score, 3),
        {**rounded, **{f"{k}_part": round(v, 3) for k, v in parts.items()}},
        reasons or ["no sign of wear"],
        len(found),
    )


@dataclass(frozen=True)
class UnitRisk:
    unit_id: str
    name: str
    kind: str
    path: str
    assessment: Assessment
    data_from: datetime
    data_to: datetime
    rank: int = 0


@dataclass
class FreezerRisk:
    clock: Callable[[], datetime] = field(default=utcnow)
    days: int = DAYS
    _hourly: dict[tuple[str, datetime], list[UnitRisk]] = field(default_factory=dict, repr=False)

    async def ranked_this_hour(self, session: AsyncSession, tenant_id: str) -> list[UnitRisk]:
        """``rank`` of every unit, computed once per tenant per hour: the period ends at the last whole hour, so
        the figures cannot change within it (a unit bound or created meanwhile shows at the next hour). For pages
        that show the risk on every load; reading a week of every unit's readings is too slow for that."""
        key = (tenant_id, self.period()[1])
        found = self._hourly.get(key)
        if found is None:
            found = await self.rank(session, tenant_id)
            self._hourly = {k: v for k, v in self._hourly.items() if k[1] == key[1]}  # earlier hours are stale
            self._hourly[key] = found
        return found

    def period(self) -> tuple[datetime, datetime]:
        """The last ``days`` of whole hours."""
        now = self.clock().astimezone(UTC)
        end = now.replace(minute=0, second=0, microsecond=0)
        return end - timedelta(days=self.days), end

    async def rank(self, session: AsyncSession, tenant_id: str, unit_id: str | None = None) -> list[UnitRisk]:
        """The tenant's storage units, riskiest first; units that cannot be judged last, with why."""
        query = select(StorageContainer).where(
            StorageContainer.tenant_id == tenant_id, StorageContainer.kind.in_(sorted(UNIT_KINDS))
        )
        if unit_id is not None:
            query = query.where(StorageContainer.id == unit_id)
        units = list((await session.execute(query.order_by(StorageContainer.path))).scalars())
        start, end = self.period()
        found = []
        for unit in units:
            try:
                channels = await unit_channels(session, tenant_id, unit.id)
                readings = await unit_readings(session, tenant_id, channels, start, end, MAX_READINGS)
            except ValidationFailedError as exc:
                found.append(
                    UnitRisk(
                        unit.id, unit.name, unit.kind, unit.path, Assessment(None, {}, [exc.detail], 0), start, end
                    )
                )
                continue
            assessment = assess(readings, start.timestamp(), end.timestamp())
            found.append(UnitRisk(unit.id, unit.name, unit.kind, unit.path, assessment, start, end))
        found.sort(key=lambda r: (r.assessment.score is None, -(r.assessment.score or 0.0), r.path))
        return [
            UnitRisk(r.unit_id, r.name, r.kind, r.path, r.assessment, r.data_from, r.data_to, n)
            for n, r in enumerate(found, start=1)
        ]
