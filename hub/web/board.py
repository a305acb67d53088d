"""What the facilities board shows, read within one tenant: every storage unit with the channels bound to it, each
channel's latest reading, its hub alarm limits and its last 24 hours; and the alerts still open.

Units, bindings and alerts come from the storage and alerts services (the calls their API routes make); readings,
door openings and limits are read here from the tables sync fills, as the excursion report reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.ai.freezer_risk import FreezerRisk, UnitRisk
from hub.alerts.inhibition import event_signal, reading_signal
from hub.alerts.rules import reading_value
from hub.api.state import HubState
from hub.db.alerts_models import AlertRule
from hub.db.ingest_models import DeviceEvent, Reading
from hub.db.storage_models import StorageContainer, StorageExcursion, StorageUnitBinding
from hub.domain.storage import UNIT_KINDS
from hub.web.chart import Limit, svg

WINDOW = timedelta(hours=24)
HEADROOM = timedelta(minutes=30)  # room on the right of the chart for live readings
MAX_READINGS = 20_000


def is_door_channel(channel: str) -> bool:
    return reading_signal(channel, "1") is not None


def channel_key(device_id: str, source: str, channel: str) -> str:
    """How the page and the live feed name a bound channel (``source`` empty: any instrument on the device)."""
    return f"{device_id}|{source}|{channel}"


@dataclass
class ChannelPanel:
    key: str
    binding: StorageUnitBinding
    latest: Reading | None
    limits: list[Limit]
    chart: str

    @property
    def label(self) -> str:
        return "/".join(p for p in (self.binding.source, self.binding.channel) if p)


@dataclass
class UnitPanel:
    unit: StorageContainer
    channels: list[ChannelPanel] = field(default_factory=list)
    doors: int = 0
    excursion: StorageExcursion | None = None
    risk: UnitRisk | None = None  # failure risk from the last week of readings (hub/ai/freezer_risk.py)
    ranked: int = 0  # how many units the risk ranks


async def units(state: HubState, session: AsyncSession, tenant_id: str) -> list[StorageContainer]:
    found: list[StorageContainer] = []
    for kind in sorted(UNIT_KINDS):
        found += [c for c, _ in await state.storage.children(session, tenant_id, None, kind=kind, limit=500)]
    return sorted(found, key=lambda c: (c.name, c.id))


async def latest(session: AsyncSession, tenant_id: str, binding: StorageUnitBinding) -> Reading | None:
    query = select(Reading).where(
        Reading.tenant_id == tenant_id, Reading.device_id == binding.device_id, Reading.channel == binding.channel
    )
    if binding.source:
        query = query.where(Reading.source == binding.source)
    return (await session.execute(query.order_by(Reading.seq.desc()).limit(1))).scalar_one_or_none()


async def limits(session: AsyncSession, tenant_id: str, binding: StorageUnitBinding) -> list[Limit]:
    """The enabled hub limit rules that watch this channel (a rule's empty field matches anything)."""
    rows = await session.execute(
        select(AlertRule).where(
            AlertRule.tenant_id == tenant_id,
            AlertRule.kind == "limit",
            AlertRule.enabled.is_(True),
            or_(AlertRule.device_id.is_(None), AlertRule.device_id == binding.device_id),
            or_(AlertRule.channel.is_(None), AlertRule.channel == binding.channel),
        )
    )
    found = []
    for rule in rows.scalars():
        if binding.source and rule.source not in (None, binding.source):
            continue
        try:
            found.append(Limit(str(rule.params["direction"]), Decimal(str(rule.params["limit"])), rule.name))
        except (KeyError, InvalidOperation):
            continue
    return sorted(found, key=lambda lim: (lim.direction, lim.value))


async def series(
    session: AsyncSession, tenant_id: str, binding: StorageUnitBinding, start: datetime
) -> list[tuple[datetime, Decimal]]:
    query = select(Reading.ts, Reading.value, Reading.quality).where(
        Reading.tenant_id == tenant_id,
        Reading.device_id == binding.device_id,
        Reading.channel == binding.channel,
        Reading.ts >= start,
    )
    if binding.source:
        query = query.where(Reading.source == binding.source)
    rows = await session.execute(query.order_by(Reading.ts).limit(MAX_READINGS))
    return [(ts, v) for ts, text, quality in rows.all() if (v := reading_value(text, quality)) is not None]


async def door_openings(
    session: AsyncSession, tenant_id: str, bindings: list[StorageUnitBinding], start: datetime
) -> list[datetime]:
    """When a door of the unit opened: door events and door-open alarms of its instruments, and door contact
    channels going to 1."""
    found: set[datetime] = set()
    for device_id in sorted({b.device_id for b in bindings}):
        sources = {b.source for b in bindings if b.device_id == device_id}
        events = await session.execute(
            select(DeviceEvent.ts, DeviceEvent.kind, DeviceEvent.payload).where(
                DeviceEvent.tenant_id == tenant_id, DeviceEvent.device_id == device_id, DeviceEvent.ts >= start
            )
        )
        for ts, kind, payload in events.all():
            signal = event_signal(kind, payload)
            if signal == ("door", "start") and ("" in sources or str(payload.get("device", "")) in sources):
                found.add(ts)
        doors = [b for b in bindings if b.device_id == device_id and is_door_channel(b.channel)]
        if doors:
            contact = or_(
                *(
                    and_(Reading.channel == b.channel, Reading.source == b.source)
                    if b.source
                    else Reading.channel == b.channel
                    for b in doors
                )
            )
            rows = await session.execute(
                select(Reading.ts, Reading.source, Reading.channel, Reading.value)
                .where(Reading.tenant_id == tenant_id, Reading.device_id == device_id, Reading.ts >= start, contact)
                .order_by(Reading.ts)
            )
            last: dict[tuple[str, str], str | None] = {}
            for ts, source, channel, value in rows.all():
                if reading_signal(channel, value) == ("door", "start") and last.get((source, channel)) != value:
                    found.add(ts)
                last[(source, channel)] = value
    return sorted(found)


async def board(
    state: HubState, session: AsyncSession, tenant_id: str, now: datetime, risk: FreezerRisk | None = None
) -> list[UnitPanel]:
    """Every storage unit with its channels' latest readings and 24-hour charts, and, with ``risk``, its failure
    risk beside it (computed once an hour)."""
    start, end = now - WINDOW, now + HEADROOM
    ranked = {r.unit_id: r for r in await risk.ranked_this_hour(session, tenant_id)} if risk is not None else {}
    panels = []
    for unit in await units(state, session, tenant_id):
        view = await state.storage.view(session, tenant_id, unit.id)
        panel = UnitPanel(unit, excursion=view.open_excursion, risk=ranked.get(unit.id), ranked=len(ranked))
        doors = await door_openings(session, tenant_id, view.bindings, start) if view.bindings else []
        panel.doors = len(doors)
        for binding in view.bindings:
            if is_door_channel(binding.channel):
                continue
            last = await latest(session, tenant_id, binding)
            found_limits = await limits(session, tenant_id, binding)
            points = await series(session, tenant_id, binding, start)
            label = f"{unit.name} {'/'.join(p for p in (binding.source, binding.channel) if p)}"
            chart = svg(label, points, found_limits, doors, start, end, last.unit if last else "")
            key = channel_key(binding.device_id, binding.source, binding.channel)
            panel.channels.append(ChannelPanel(key, binding, last, found_limits, chart))
        panels.append(panel)
    return panels


def reading_public(key: str, unit_id: str, reading: Reading) -> dict[str, Any]:
    """A reading as the live feed sends it."""
    return {
        "key": key,
        "unit_id": unit_id,
        "value": reading.value,
        "unit": reading.unit,
        "quality": reading.quality,
        "ts": reading.ts.isoformat(),
        "seq": reading.seq,
    }
