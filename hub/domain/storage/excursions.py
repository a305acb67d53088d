"""Excursions and holds: a limit alarm raised on a channel bound to a unit opens the unit's excursion, which
remembers every sample inside (and every sample put in while it lasts) and ends when its alarms have cleared; one
call puts a unit's samples, or an excursion's, on hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import new_id
from hub.db.sample_models import Sample
from hub.db.storage_models import (
    StorageContainer,
    StorageExcursion,
    StorageExcursionSample,
    StoragePosition,
    StorageUnitBinding,
)
from hub.domain.identity import Principal
from hub.domain.lifecycle import HOLDABLE, SampleState
from hub.domain.storage.base import StorageBase, chunks, under
from hub.domain.storage.layout import UNIT_KINDS, position_label
from hub.errors import NotFoundError

# The alarm rules that mean the temperature left the unit's range. Rate of change and offline alarms are warnings
# about the probe or a door, not an excursion by themselves.
EXCURSION_RULES = frozenset({"high", "high_high", "low", "low_low"})


@dataclass(frozen=True)
class HoldOutcome:
    held: list[tuple[str, str]]  # (sample id, barcode)
    skipped: list[tuple[str, str, str]]  # (sample id, barcode, state)


@dataclass(frozen=True)
class ExposedSample:
    sample_id: str
    barcode: str
    state: str
    box_id: str
    box_name: str
    position: str
    joined: str


def excursion_alarms(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events that raise or clear a limit alarm, the only ones that open or end an excursion."""
    return [
        e
        for e in events
        if e.get("kind") == "alarm"
        and isinstance(e.get("payload"), dict)
        and e["payload"].get("rule") in EXCURSION_RULES
        and e["payload"].get("action") in ("raised", "cleared")
    ]


def new_excursion(
    tenant_id: str, unit_id: str, device_id: str, alarm_id: str, event: dict[str, Any]
) -> StorageExcursion:
    """The excursion a raised alarm opens, its facts cut to their columns' sizes."""
    payload = event["payload"]
    return StorageExcursion(
        id=new_id(),
        tenant_id=tenant_id,
        unit_id=unit_id,
        device_id=device_id,
        source=str(payload.get("device") or "")[:128],
        channel=str(payload.get("channel") or "")[:128],
        rule=str(payload.get("rule"))[:32],
        severity=None if payload.get("severity") is None else str(payload["severity"])[:16],
        value=None if payload.get("value") is None else str(payload["value"])[:64],
        limit_value=None if payload.get("limit") is None else str(payload["limit"])[:64],
        message=None if payload.get("message") is None else str(payload["message"])[:2000],
        started_at=event["ts"],
        start_seq=int(event["seq"]),
        active_alarms={"ids": [alarm_id]},
        samples_at_start=0,
    )


async def open_excursion(
    session: AsyncSession, tenant_id: str, unit_id: str, *, for_update: bool = False
) -> StorageExcursion | None:
    query = select(StorageExcursion).where(
        StorageExcursion.tenant_id == tenant_id,
        StorageExcursion.unit_id == unit_id,
        StorageExcursion.ended_at.is_(None),
    )
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def samples_under(
    session: AsyncSession, tenant_id: str, path: str, dialect: str
) -> list[tuple[str, str, int, int, str | None]]:
    """(sample, box, row, col, unit) of every sample in a box under ``path``."""
    rows = await session.execute(
        select(
            StoragePosition.sample_id,
            StoragePosition.box_id,
            StoragePosition.row_no,
            StoragePosition.col_no,
            StorageContainer.unit_id,
        )
        .join(StorageContainer, StorageContainer.id == StoragePosition.box_id)
        .where(
            StorageContainer.tenant_id == tenant_id,
            under(StorageContainer.path, path, dialect),
            StoragePosition.sample_id.is_not(None),
        )
    )
    return [(str(s), b, r, c, u) for s, b, r, c, u in rows.all()]


async def expose(
    session: AsyncSession, tenant_id: str, located: Sequence[tuple[str, str, int, int, str | None]]
) -> None:
    """Samples (sample, box, row, col, unit) that arrive in a unit during its excursion are exposed to it too."""
    units = {u for *_, u in located if u}
    if not units:
        return
    found = await session.execute(
        select(StorageExcursion.unit_id, StorageExcursion.id).where(
            StorageExcursion.tenant_id == tenant_id,
            StorageExcursion.unit_id.in_(units),
            StorageExcursion.ended_at.is_(None),
        )
    )
    open_by_unit = dict(found.all())
    if not open_by_unit:
        return
    exposed = [(open_by_unit[u], s, b, r, c) for s, b, r, c, u in located if u in open_by_unit]
    already = set(
        (
            await session.execute(
                select(StorageExcursionSample.excursion_id, StorageExcursionSample.sample_id).where(
                    StorageExcursionSample.excursion_id.in_(set(open_by_unit.values())),
                    StorageExcursionSample.sample_id.in_([e[1] for e in exposed]),
                )
            )
        ).all()
    )
    session.add_all(
        StorageExcursionSample(
            excursion_id=e,
            sample_id=s,
            tenant_id=tenant_id,
            box_id=b,
            row_no=r,
            col_no=c,
            joined="placed",
        )
        for e, s, b, r, c in exposed
        if (e, s) not in already
    )
    await session.flush()


class StorageExcursions(StorageBase):
    """The part of ``Storage`` that watches units: the device-event handler, excursions, holds."""

    async def on_device_events(
        self, session: AsyncSession, principal: Principal, events: Sequence[dict[str, Any]]
    ) -> None:
        """The ingest handler (``hub.domain.ingest.DeviceEventHandler``): a limit alarm raised on a bound channel
        opens the unit's excursion (or joins the open one); when every alarm it holds has cleared it ends. Runs in
        the batch's transaction, so it happens exactly once."""
        alarms = excursion_alarms(events)
        if not alarms:
            return
        found = await session.execute(
            select(StorageUnitBinding).where(
                StorageUnitBinding.tenant_id == principal.tenant_id, StorageUnitBinding.device_id == principal.id
            )
        )
        watched = {(b.source, b.channel): b.unit_id for b in found.scalars()}
        if not watched:
            return
        for event in sorted(alarms, key=lambda e: int(e["seq"])):
            payload = event["payload"]
            source, channel = str(payload.get("device") or ""), str(payload.get("channel") or "")
            unit_id = watched.get((source, channel)) or watched.get(("", channel))
            if unit_id is None:
                continue
            alarm_id = str(payload.get("alarm_id") or f"{source}/{channel}/{payload.get('rule')}")
            if payload["action"] == "raised":
                await self._excursion_raised(session, principal, unit_id, alarm_id, event)
            else:
                await self._excursion_cleared(session, principal, unit_id, alarm_id, event)

    async def _excursion_raised(
        self, session: AsyncSession, principal: Principal, unit_id: str, alarm_id: str, event: dict[str, Any]
    ) -> None:
        tenant_id = principal.tenant_id
        excursion = await open_excursion(session, tenant_id, unit_id, for_update=True)
        if excursion is not None:
            ids = list(excursion.active_alarms.get("ids", []))
            if alarm_id not in ids:
                excursion.active_alarms = {"ids": [*ids, alarm_id]}
                await session.flush()
            return
        excursion = new_excursion(tenant_id, unit_id, principal.id, alarm_id, event)
        try:
            async with session.begin_nested():  # another edge bound to the unit may open it at the same moment
                session.add(excursion)
                await session.flush()
        except IntegrityError:
            opened = await open_excursion(session, tenant_id, unit_id, for_update=True)
            if opened is None:
                raise
            opened.active_alarms = {"ids": sorted({*opened.active_alarms.get("ids", []), alarm_id})}
            await session.flush()
            return
        unit = await self.get(session, tenant_id, unit_id)
        await session.execute(
            insert(StorageExcursionSample).from_select(
                ["excursion_id", "sample_id", "tenant_id", "box_id", "row_no", "col_no", "joined"],
                select(
                    literal(excursion.id),
                    StoragePosition.sample_id,
                    StoragePosition.tenant_id,
                    StoragePosition.box_id,
                    StoragePosition.row_no,
                    StoragePosition.col_no,
                    literal("start"),
                )
                .join(StorageContainer, StorageContainer.id == StoragePosition.box_id)
                .where(
                    StorageContainer.tenant_id == tenant_id,
                    StorageContainer.unit_id == unit_id,
                    StoragePosition.sample_id.is_not(None),
                ),
            )
        )
        count = (
            await session.execute(select(func.count()).where(StorageExcursionSample.excursion_id == excursion.id))
        ).scalar_one()
        excursion.samples_at_start = int(count)
        await session.flush()
        facts = {
            "unit": unit.name,
            "zone": unit.zone,
            "excursion_id": excursion.id,
            "samples": int(count),
            "device_id": principal.id,
            "source": excursion.source,
            "channel": excursion.channel,
            "rule": excursion.rule,
            "value": excursion.value,
            "limit": excursion.limit_value,
            "started_at": excursion.started_at,
        }
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=principal.label,
            action="excursion_started",
            record_type="storage_container",
            record_id=unit_id,
            new=facts,
        )
        self._event(session, principal, "storage.excursion_started", unit_id, facts)

    async def _excursion_cleared(
        self, session: AsyncSession, principal: Principal, unit_id: str, alarm_id: str, event: dict[str, Any]
    ) -> None:
        excursion = await open_excursion(session, principal.tenant_id, unit_id, for_update=True)
        if excursion is None:
            return
        ids = [i for i in excursion.active_alarms.get("ids", []) if i != alarm_id]
        excursion.active_alarms = {"ids": ids}
        if ids:
            await session.flush()
            return
        ended_at: datetime = max(event["ts"], excursion.started_at)
        excursion.ended_at, excursion.end_seq = ended_at, int(event["seq"])
        await session.flush()
        facts = {
            "excursion_id": excursion.id,
            "started_at": excursion.started_at,
            "ended_at": ended_at,
            "minutes": round((ended_at - excursion.started_at).total_seconds() / 60, 1),
            "samples": excursion.samples_at_start,
        }
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="excursion_ended",
            record_type="storage_container",
            record_id=unit_id,
            new=facts,
        )
        self._event(session, principal, "storage.excursion_ended", unit_id, facts)

    async def excursions(
        self, session: AsyncSession, tenant_id: str, unit_id: str, *, limit: int = 100, offset: int = 0
    ) -> list[StorageExcursion]:
        await self.get(session, tenant_id, unit_id, kinds=UNIT_KINDS)
        found = await session.execute(
            select(StorageExcursion)
            .where(StorageExcursion.tenant_id == tenant_id, StorageExcursion.unit_id == unit_id)
            .order_by(StorageExcursion.started_at.desc(), StorageExcursion.id)
            .limit(limit)
            .offset(offset)
        )
        return list(found.scalars())

    async def excursion(
        self, session: AsyncSession, tenant_id: str, excursion_id: str, *, limit: int = 1000, offset: int = 0
    ) -> tuple[StorageExcursion, list[ExposedSample]]:
        """An excursion and the samples it exposed (a page of them), wherever they are now."""
        excursion = (
            await session.execute(
                select(StorageExcursion).where(
                    StorageExcursion.tenant_id == tenant_id, StorageExcursion.id == excursion_id
                )
            )
        ).scalar_one_or_none()
        if excursion is None:
            raise NotFoundError(f"no excursion {excursion_id}")
        rows = await session.execute(
            select(
                Sample.id,
                Sample.barcode,
                Sample.state,
                StorageContainer.id,
                StorageContainer.name,
                StorageExcursionSample.row_no,
                StorageExcursionSample.col_no,
                StorageExcursionSample.joined,
            )
            .select_from(StorageExcursionSample)
            .join(Sample, Sample.id == StorageExcursionSample.sample_id)
            .join(StorageContainer, StorageContainer.id == StorageExcursionSample.box_id)
            .where(StorageExcursionSample.excursion_id == excursion.id)
            .order_by(StorageContainer.name, StorageExcursionSample.row_no, StorageExcursionSample.col_no)
            .limit(limit)
            .offset(offset)
        )
        return excursion, [
            ExposedSample(sid, barcode, state, box_id, box_name, position_label(r, c), joined)
            for sid, barcode, state, box_id, box_name, r, c, joined in rows.all()
        ]

    async def hold(
        self,
        session: AsyncSession,
        principal: Principal,
        unit_id: str,
        reason: str,
        *,
        excursion_id: str | None = None,
    ) -> HoldOutcome:
        """Put every holdable sample inside the unit on hold in one action (or, with ``excursion_id``, every sample
        that excursion exposed, wherever it is now). Samples already on hold, rejected or finished are skipped and
        listed."""
        tenant_id = principal.tenant_id
        unit = await self.get(session, tenant_id, unit_id, kinds=UNIT_KINDS)
        if excursion_id is not None:
            excursion = (
                await session.execute(
                    select(StorageExcursion.id).where(
                        StorageExcursion.tenant_id == tenant_id,
                        StorageExcursion.id == excursion_id,
                        StorageExcursion.unit_id == unit.id,
                    )
                )
            ).scalar_one_or_none()
            if excursion is None:
                raise NotFoundError(f"no excursion {excursion_id} of {unit.name}")
            ids_query: Select[Any] = select(StorageExcursionSample.sample_id).where(
                StorageExcursionSample.excursion_id == excursion_id
            )
        else:
            ids_query = (
                select(StoragePosition.sample_id)
                .join(StorageContainer, StorageContainer.id == StoragePosition.box_id)
                .where(
                    StorageContainer.tenant_id == tenant_id,
                    StorageContainer.unit_id == unit.id,
                    StoragePosition.sample_id.is_not(None),
                )
            )
        sample_ids = sorted(str(s) for s in (await session.execute(ids_query)).scalars())
        samples: list[Sample] = []
        for chunk in chunks(sample_ids):  # every row locked before the first transition takes the audit head
            samples += await self.samples.load_many(session, tenant_id, chunk)
        holdable = [s for s in samples if SampleState(s.state) in HOLDABLE]
        skipped = [(s.id, s.barcode, s.state) for s in samples if SampleState(s.state) not in HOLDABLE]
        held = [(s.id, s.barcode) for s in holdable]
        for chunk in chunks([s.id for s in holdable]):
            await self.samples.transition_many(session, principal, chunk, SampleState.ON_HOLD, reason=reason)
        facts = {"held": len(held), "skipped": len(skipped), "excursion_id": excursion_id}
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=principal.label,
            action="hold",
            record_type="storage_container",
            record_id=unit.id,
            reason=reason,
            new=facts,
        )
        self._event(session, principal, "storage.unit_held", unit.id, {"unit": unit.name, "reason": reason, **facts})
        return HoldOutcome(held, skipped)
