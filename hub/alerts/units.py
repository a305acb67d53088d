"""Where an alert's instrument stands: the storage unit bound to an edge channel, and the samples a unit held.

The only place alerts read storage's tables, so grouping and reports follow storage's bindings and excursions
without the alerts module knowing how storage keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.sample_models import Sample
from hub.db.storage_models import (
    StorageContainer,
    StorageExcursion,
    StorageExcursionSample,
    StorageUnitBinding,
)


async def unit_for(
    session: AsyncSession, tenant_id: str, device_id: str | None, source: str | None, channel: str | None
) -> str | None:
    """The storage unit watched by (device, source, channel); a binding for this instrument wins over one for any
    instrument (``source`` empty). With no channel (a device-wide alert), a unit only when every binding of the
    device and source names the same unit."""
    if device_id is None:
        return None
    query = select(StorageUnitBinding.unit_id, StorageUnitBinding.source, StorageUnitBinding.channel).where(
        StorageUnitBinding.tenant_id == tenant_id,
        StorageUnitBinding.device_id == device_id,
        or_(StorageUnitBinding.source == (source or ""), StorageUnitBinding.source == ""),
    )
    if channel is not None:
        query = query.where(StorageUnitBinding.channel == channel)
    rows = (await session.execute(query)).all()
    if channel is not None:
        exact = [unit for unit, bound_source, _ in rows if bound_source == (source or "")]
        anyone = [unit for unit, bound_source, _ in rows if bound_source == ""]
        chosen = exact or anyone
        return chosen[0] if chosen else None
    units = {unit for unit, _, _ in rows}
    return units.pop() if len(units) == 1 else None


async def unit_name(session: AsyncSession, tenant_id: str, unit_id: str) -> str | None:
    return (
        await session.execute(
            select(StorageContainer.name).where(StorageContainer.tenant_id == tenant_id, StorageContainer.id == unit_id)
        )
    ).scalar_one_or_none()


@dataclass(frozen=True)
class AffectedSample:
    sample_id: str
    barcode: str
    name: str
    box_id: str
    row: int
    col: int
    excursion_id: str


async def affected_samples(
    session: AsyncSession, tenant_id: str, unit_id: str, start: datetime, end: datetime
) -> list[AffectedSample]:
    """The samples storage recorded as exposed to the unit's excursions overlapping [start, end]."""
    rows = await session.execute(
        select(StorageExcursionSample, Sample.barcode, Sample.name)
        .join(StorageExcursion, StorageExcursion.id == StorageExcursionSample.excursion_id)
        .join(Sample, Sample.id == StorageExcursionSample.sample_id)
        .where(
            StorageExcursion.tenant_id == tenant_id,
            StorageExcursion.unit_id == unit_id,
            StorageExcursion.started_at <= end,
            or_(StorageExcursion.ended_at.is_(None), StorageExcursion.ended_at >= start),
        )
        .order_by(Sample.barcode)
        .limit(5000)
    )
    seen: dict[str, AffectedSample] = {}
    for exposed, barcode, name in rows.all():
        seen.setdefault(
            exposed.sample_id,
            AffectedSample(
                exposed.sample_id, barcode, name, exposed.box_id, exposed.row_no, exposed.col_no, exposed.excursion_id
            ),
        )
    return list(seen.values())
