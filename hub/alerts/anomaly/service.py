"""Anomaly detection against the database: training a unit's model from its bound channels' readings, keeping its
versions, and scoring its new windows periodically, raising (and clearing) a low-severity alert for the unit
through the alert book.

Which channels: the unit's storage bindings. A binding named like a door contact (``door``, ``door_open``,
``door_contact``), a defrost status (``defrost``) or a compressor (``compressor``, ``compressor_on``,
``compressor_running``, ``compressor_duty``, ``duty``) feeds that role; the first other binding (by device, source,
channel) is the cabinet temperature.

Scoring runs on whole windows that ended at least ``lag_s`` ago (edges sync in batches; a window judged before its
readings arrived would read as a silent unit, which scores nothing rather than normal). One alert per unit
(dedup key ``anomaly:<unit id>``), severity ``warning`` (the lowest the alerts module has), grouped with the unit's
other alerts; never held by doors or defrosts (its features already leave those out).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.alerts.anomaly.detector import Streak, Verdict, judge
from hub.alerts.anomaly.features import Series, UnitReadings, WindowSpec, matrix, windows
from hub.alerts.anomaly.model import AnomalyModel, TrainingSpec, train
from hub.alerts.book import AlertBook, Clock, Condition
from hub.audit.trail import AuditTrail
from hub.db.anomaly_models import UnitAnomalyModel
from hub.db.base import Database, utcnow
from hub.db.ingest_models import Reading
from hub.db.storage_models import StorageContainer, StorageUnitBinding
from hub.domain.storage.layout import UNIT_KINDS
from hub.errors import NotFoundError, ValidationFailedError

logger = logging.getLogger(__name__)

DOOR_CHANNELS = frozenset({"door", "door_open", "door_contact"})
DEFROST_CHANNELS = frozenset({"defrost"})
COMPRESSOR_CHANNELS = frozenset({"compressor", "compressor_on", "compressor_running", "compressor_duty", "duty"})
WHAT = {
    "mean_c": "mean temperature",
    "slope_c_per_h": "temperature trend",
    "duty": "compressor duty",
    "recovery_s": "recovery after door openings",
}
SYSTEM = "system:anomaly"


@dataclass(frozen=True)
class AnomalySettings:
    window_s: int = 3600
    hold: int = 3
    train_days: int = 14
    lag_s: int = 600
    interval_s: float = 300.0
    catch_up_days: int = 7  # after a long stop, only the last days are judged
    max_rows: int = 500_000  # per channel and read


@dataclass(frozen=True)
class Channel:
    device_id: str
    source: str
    channel: str


@dataclass(frozen=True)
class UnitChannels:
    temperature: Channel
    door: tuple[Channel, ...] = ()
    defrost: tuple[Channel, ...] = ()
    compressor: Channel | None = None


def alert_key(unit_id: str) -> str:
    return f"anomaly:{unit_id}"


def _seconds(at: datetime) -> float:
    return at.timestamp()


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def floor_to(at: datetime, window_s: int) -> datetime:
    return _time(math.floor(_seconds(at) / window_s) * window_s)


async def unit_channels(session: AsyncSession, tenant_id: str, unit_id: str) -> UnitChannels:
    """The unit's channels by role; ``ValidationFailedError`` when no binding can be its temperature."""
    rows = (
        (
            await session.execute(
                select(StorageUnitBinding)
                .where(StorageUnitBinding.tenant_id == tenant_id, StorageUnitBinding.unit_id == unit_id)
                .order_by(StorageUnitBinding.device_id, StorageUnitBinding.source, StorageUnitBinding.channel)
            )
        )
        .scalars()
        .all()
    )
    channels = [Channel(b.device_id, b.source, b.channel) for b in rows]
    door = tuple(c for c in channels if c.channel in DOOR_CHANNELS)
    defrost = tuple(c for c in channels if c.channel in DEFROST_CHANNELS)
    compressor = next((c for c in channels if c.channel in COMPRESSOR_CHANNELS), None)
    others = [c for c in channels if c.channel not in DOOR_CHANNELS | DEFROST_CHANNELS | COMPRESSOR_CHANNELS]
    if not others:
        raise ValidationFailedError(
            f"unit {unit_id} has no bound temperature channel (bindings: "
            f"{', '.join(c.channel for c in channels) or 'none'}); bind one in storage first"
        )
    return UnitChannels(others[0], door, defrost, compressor)


async def _series(
    session: AsyncSession, tenant_id: str, channel: Channel, start: datetime, end: datetime, max_rows: int
) -> Series:
    query = select(Reading.ts, Reading.value).where(
        Reading.tenant_id == tenant_id,
        Reading.device_id == channel.device_id,
        Reading.channel == channel.channel,
        Reading.quality == "good",
        Reading.ts >= start,
        Reading.ts < end,
    )
    if channel.source:
        query = query.where(Reading.source == channel.source)
    rows = (await session.execute(query.order_by(Reading.ts).limit(max_rows + 1))).all()
    if len(rows) > max_rows:  # a probe logged every second for weeks: train on fewer days
        raise ValidationFailedError(
            f"{channel.channel} logged more than {max_rows} readings between {start} and {end}; choose fewer days"
        )
    times, values = [], []
    for ts, text in rows:
        try:
            value = float(text or "nan")
        except ValueError:
            continue
        if math.isfinite(value):
            times.append(_seconds(ts))
            values.append(value)
    return Series.of(times, values)


async def _merged(
    session: AsyncSession, tenant_id: str, channels: Sequence[Channel], start: datetime, end: datetime, most: int
) -> Series | None:
    if not channels:
        return None
    parts = [await _series(session, tenant_id, c, start, end, most) for c in channels]
    times = [t for p in parts for t in p.t.tolist()]
    values = [v for p in parts for v in p.v.tolist()]
    return Series.of(times, values)


async def unit_readings(
    session: AsyncSession, tenant_id: str, channels: UnitChannels, start: datetime, end: datetime, max_rows: int
) -> UnitReadings:
    compressor = None
    if channels.compressor is not None:
        compressor = await _series(session, tenant_id, channels.compressor, start, end, max_rows)
    return UnitReadings(
        temperature=await _series(session, tenant_id, channels.temperature, start, end, max_rows),
        door=await _merged(session, tenant_id, channels.door, start, end, max_rows),
        defrost=await _merged(session, tenant_id, channels.defrost, start, end, max_rows),
        compressor=compressor,
    )


def model_public(row: UnitAnomalyModel) -> dict[str, Any]:
    return {
        "id": row.id,
        "unit_id": row.unit_id,
        "version": row.version,
        "algorithm": row.algorithm,
        "active": row.active,
        "window_s": row.window_s,
        "hold": row.hold,
        "trained_from": row.trained_from,
        "trained_to": row.trained_to,
        "trained_at": row.trained_at,
        "trained_by": row.trained_by,
        "threshold": float(row.params.get("threshold", math.nan)),
        "metrics": row.metrics,
        "scored_until": row.scored_until,
        "last_score": row.last_score,
        "last_feature": row.last_feature,
        "last_window_end": row.last_window_end,
        "anomalous_streak": row.anomalous_streak,
        "normal_streak": row.normal_streak,
        "flagged": row.flagged,
    }


class AnomalyService:
    def __init__(
        self,
        db: Database,
        audit: AuditTrail,
        *,
        book: AlertBook | None = None,
        settings: AnomalySettings | None = None,
        training: TrainingSpec | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.audit = audit
        self.book = book or AlertBook(audit, clock=clock)
        self.settings = settings or AnomalySettings()
        self.training = training or TrainingSpec()
        self.spec = WindowSpec(length_s=float(self.settings.window_s))
        self.clock = clock

    # -- reading ---------------------------------------------------------------------------------------------------

    async def models(
        self, session: AsyncSession, tenant_id: str, *, unit_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[UnitAnomalyModel]:
        query = select(UnitAnomalyModel).where(UnitAnomalyModel.tenant_id == tenant_id)
        if unit_id is not None:
            query = query.where(UnitAnomalyModel.unit_id == unit_id)
        query = query.order_by(UnitAnomalyModel.unit_id, UnitAnomalyModel.version.desc()).limit(limit).offset(offset)
        return list((await session.execute(query)).scalars())

    async def get(self, session: AsyncSession, tenant_id: str, model_id: str) -> UnitAnomalyModel:
        row = (
            await session.execute(
                select(UnitAnomalyModel).where(UnitAnomalyModel.tenant_id == tenant_id, UnitAnomalyModel.id == model_id)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no anomaly model {model_id}")
        return row

    async def active(
        self, session: AsyncSession, tenant_id: str, unit_id: str, *, for_update: bool = False
    ) -> UnitAnomalyModel | None:
        query = select(UnitAnomalyModel).where(
            UnitAnomalyModel.tenant_id == tenant_id,
            UnitAnomalyModel.unit_id == unit_id,
            UnitAnomalyModel.active.is_(True),
        )
        if for_update:
            query = query.with_for_update()
        return (await session.execute(query)).scalar_one_or_none()

    async def _unit(self, session: AsyncSession, tenant_id: str, unit_id: str, *, lock: bool = False) -> str:
        query = select(StorageContainer.name).where(
            StorageContainer.tenant_id == tenant_id,
            StorageContainer.id == unit_id,
            StorageContainer.kind.in_(list(UNIT_KINDS)),
        )
        if lock:
            query = query.with_for_update()
        name = (await session.execute(query)).scalar_one_or_none()
        if name is None:
            raise NotFoundError(f"no storage unit {unit_id}")
        return name

    # -- training --------------------------------------------------------------------------------------------------

    async def train(
        self,
        session: AsyncSession,
        tenant_id: str,
        unit_id: str,
        *,
        actor: str,
        days: int | None = None,
        until: datetime | None = None,
        reason: str | None = None,
    ) -> UnitAnomalyModel:
        """A new version of the unit's model from its last ``days`` of readings before ``until`` (default now),
        which the caller vouches were normal; it replaces the active one, whose open anomaly alert resolves (the
        unit is judged afresh against its new normal)."""
        await self._unit(session, tenant_id, unit_id, lock=True)  # serialises two trainings of one unit
        days = days or self.settings.train_days
        end = floor_to(until or self.clock(), self.settings.window_s)
        start = end - timedelta(days=days)
        channels = await unit_channels(session, tenant_id, unit_id)
        readings = await unit_readings(session, tenant_id, channels, start, end, self.settings.max_rows)
        found = windows(readings, _seconds(start), _seconds(end), self.spec)
        training = train(matrix(found), self.training)
        previous = await self.active(session, tenant_id, unit_id, for_update=True)
        latest = (
            await session.execute(select(func.max(UnitAnomalyModel.version)).where(UnitAnomalyModel.unit_id == unit_id))
        ).scalar_one_or_none()
        if previous is not None:
            previous.active = False
            await session.flush()
            await self.book.clear(session, tenant_id, alert_key(unit_id), now=self.clock())
        row = UnitAnomalyModel(
            tenant_id=tenant_id,
            unit_id=unit_id,
            version=(latest or 0) + 1,
            algorithm=training.model.algorithm,
            active=True,
            params=training.model.to_params(),
            metrics={**training.metrics, "channels": _channels_public(channels)},
            window_s=self.settings.window_s,
            hold=self.settings.hold,
            trained_from=start,
            trained_to=end,
            trained_at=self.clock(),
            trained_by=actor[:128],
            scored_until=end,
            anomalous_streak=0,
            normal_streak=0,
            flagged=False,
        )
        session.add(row)
        await session.flush()
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="train",
            record_type="anomaly_model",
            record_id=row.id,
            reason=reason,
            old=None if previous is None else {"version": previous.version, "id": previous.id},
            new={
                "unit_id": unit_id,
                "version": row.version,
                "trained_from": start,
                "trained_to": end,
                "threshold": training.model.threshold,
                "windows": training.metrics["windows"],
            },
        )
        return row

    # -- scoring ---------------------------------------------------------------------------------------------------

    async def score(self, session: AsyncSession, row: UnitAnomalyModel, now: datetime) -> list[Verdict]:
        """Judge the unit's whole windows since the model last did, up to ``now - lag``; open or clear its alert."""
        end = floor_to(now - timedelta(seconds=self.settings.lag_s), row.window_s)
        start = max(row.scored_until, end - timedelta(days=self.settings.catch_up_days))
        if end <= start:
            return []
        model = AnomalyModel.from_params(row.params)
        channels = await unit_channels(session, row.tenant_id, row.unit_id)
        spec = WindowSpec(length_s=float(row.window_s))
        context = timedelta(seconds=spec.before_door_s + spec.settle_s)
        readings = await unit_readings(session, row.tenant_id, channels, start - context, end, self.settings.max_rows)
        found = windows(readings, _seconds(start), _seconds(end), spec)
        verdicts = judge(model, found, row.hold, Streak(row.anomalous_streak, row.normal_streak, row.flagged))
        for verdict in verdicts:
            if verdict.raised:
                await self._raise(session, row, model, channels, verdict)
            elif verdict.cleared:
                await self.book.clear(
                    session, row.tenant_id, alert_key(row.unit_id), value=_shown(verdict.score), now=_time(verdict.end)
                )
        scored = [v for v in verdicts if not math.isnan(v.score)]
        if scored:
            row.last_score = scored[-1].score
            row.last_feature = scored[-1].feature
            row.last_window_end = _time(scored[-1].end)
        if verdicts:
            last = verdicts[-1].streak
            row.anomalous_streak, row.normal_streak, row.flagged = last.anomalous, last.normal, last.flagged
        row.scored_until = end
        return verdicts

    async def _raise(
        self,
        session: AsyncSession,
        row: UnitAnomalyModel,
        model: AnomalyModel,
        channels: UnitChannels,
        verdict: Verdict,
    ) -> None:
        name = await self._unit(session, row.tenant_id, row.unit_id)
        what = WHAT.get(verdict.feature or "", verdict.feature or "behaviour")
        hours = row.hold * row.window_s / 3600
        temperature = channels.temperature
        await self.book.open(
            session,
            Condition(
                tenant_id=row.tenant_id,
                dedup_key=alert_key(row.unit_id),
                origin="anomaly",
                kind="anomaly",
                severity="warning",
                title=f"{name}: {what} unlike its own history ({verdict.score:.1f} σ from its baseline, "
                f"{row.hold} windows in a row, {hours:g} h)",
                started_at=_time(verdict.end),
                device_id=temperature.device_id,
                source=temperature.source or None,
                channel=temperature.channel,
                unit_id=row.unit_id,
                value=_shown(verdict.score),
                limit=_shown(model.threshold),
                details={
                    "model_id": row.id,
                    "model_version": row.version,
                    "feature": verdict.feature,
                    "window_start": _time(verdict.start).isoformat(),
                    "window_end": _time(verdict.end).isoformat(),
                },
            ),
            now=self.clock(),
        )

    async def score_all(self, now: datetime | None = None) -> int:
        """Score every active model (each unit in its own transaction, so one unit's failure holds back no other);
        returns the windows judged."""
        now = now or self.clock()
        async with self.db.read() as session:
            due = (
                (
                    await session.execute(
                        select(UnitAnomalyModel.id).where(
                            UnitAnomalyModel.active.is_(True),
                            UnitAnomalyModel.scored_until
                            <= floor_to(now - timedelta(seconds=self.settings.lag_s), self.settings.window_s)
                            - timedelta(seconds=1),
                        )
                    )
                )
                .scalars()
                .all()
            )
        judged = 0
        for model_id in due:
            try:
                async with self.db.transaction() as session:
                    query = select(UnitAnomalyModel).where(
                        UnitAnomalyModel.id == model_id, UnitAnomalyModel.active.is_(True)
                    )
                    if self.db.dialect == "postgresql":
                        query = query.with_for_update(skip_locked=True)
                    row = (await session.execute(query)).scalar_one_or_none()
                    if row is not None:
                        judged += len(await self.score(session, row, now))
            except ValidationFailedError as exc:  # the unit lost its temperature binding: nothing to judge
                logger.warning("anomaly model %s not scored: %s", model_id, exc)
        return judged

    async def run(self, stop: asyncio.Event) -> None:
        """Score every ``interval_s`` until ``stop``; a failure is logged once, and again when it recovers."""
        failing = False
        while not stop.is_set():
            try:
                await self.score_all()
                if failing:
                    logger.info("anomaly scoring recovered")
                failing = False
            except Exception:
                if not failing:
                    logger.exception("anomaly scoring failed; retrying")
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.interval_s)


def _shown(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.2f}"


def _channels_public(channels: UnitChannels) -> dict[str, Any]:
    def one(c: Channel) -> dict[str, str]:
        return {"device_id": c.device_id, "source": c.source, "channel": c.channel}

    return {
        "temperature": one(channels.temperature),
        "door": [one(c) for c in channels.door],
        "defrost": [one(c) for c in channels.defrost],
        "compressor": None if channels.compressor is None else one(channels.compressor),
    }
