"""Which edge channels watch a unit: a channel watches one unit, and a limit alarm on it opens the unit's
excursion (see ``excursions``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import new_id, utcnow
from hub.db.models import Device
from hub.db.storage_models import StorageContainer, StorageUnitBinding
from hub.domain.identity import Principal
from hub.domain.storage.base import StorageBase, flush_or_conflict
from hub.domain.storage.layout import UNIT_KINDS
from hub.errors import ConflictError, NotFoundError, ValidationFailedError


@dataclass(frozen=True)
class Binding:
    device_id: str
    channel: str
    source: str | None = None


async def unit_bindings(session: AsyncSession, tenant_id: str, unit_id: str) -> list[StorageUnitBinding]:
    found = await session.execute(
        select(StorageUnitBinding)
        .where(StorageUnitBinding.tenant_id == tenant_id, StorageUnitBinding.unit_id == unit_id)
        .order_by(StorageUnitBinding.device_id, StorageUnitBinding.source, StorageUnitBinding.channel)
    )
    return list(found.scalars())


class StorageBindings(StorageBase):
    """The part of ``Storage`` that binds units to edge channels."""

    async def bindings(self, session: AsyncSession, tenant_id: str, unit_id: str) -> list[StorageUnitBinding]:
        return await unit_bindings(session, tenant_id, unit_id)

    async def set_bindings(
        self, session: AsyncSession, principal: Principal, unit_id: str, wanted: Sequence[Binding]
    ) -> list[StorageUnitBinding]:
        """Replace the unit's bindings. Each device must be the tenant's; a channel watches one unit."""
        tenant_id = principal.tenant_id
        unit = await self.get(session, tenant_id, unit_id, kinds=UNIT_KINDS, for_update=True)
        device_ids = sorted({b.device_id for b in wanted})
        known = set(
            (
                await session.execute(select(Device.id).where(Device.tenant_id == tenant_id, Device.id.in_(device_ids)))
            ).scalars()
        )
        missing = [d for d in device_ids if d not in known]
        if missing:
            raise NotFoundError(f"no device {', '.join(missing)}", missing=missing)
        keys = [(b.device_id, b.source or "", b.channel) for b in wanted]
        if len(set(keys)) < len(keys):
            raise ValidationFailedError("a channel is named twice")
        before = await unit_bindings(session, tenant_id, unit.id)
        if keys:
            elsewhere = await session.execute(
                select(StorageUnitBinding, StorageContainer.name)
                .join(StorageContainer, StorageContainer.id == StorageUnitBinding.unit_id)
                .where(
                    StorageUnitBinding.tenant_id == tenant_id,
                    StorageUnitBinding.unit_id != unit.id,
                    tuple_(StorageUnitBinding.device_id, StorageUnitBinding.source, StorageUnitBinding.channel).in_(
                        keys
                    ),
                )
            )
            clashes = [f"channel {b.channel} already watches {name}" for b, name in elsewhere.all()]
            if clashes:
                raise ConflictError("; ".join(clashes))
        await session.execute(delete(StorageUnitBinding).where(StorageUnitBinding.unit_id == unit.id))
        now = utcnow()
        session.add_all(
            StorageUnitBinding(
                id=new_id(),
                tenant_id=tenant_id,
                unit_id=unit.id,
                device_id=d,
                source=s,
                channel=c,
                created_by=principal.label,
                created_at=now,
            )
            for d, s, c in keys
        )
        await flush_or_conflict(
            session, "another request bound one of these channels at the same time; reload and retry"
        )
        old = [{"device_id": b.device_id, "source": b.source, "channel": b.channel} for b in before]
        new = [{"device_id": d, "source": s, "channel": c} for d, s, c in keys]
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=principal.label,
            action="bind",
            record_type="storage_container",
            record_id=unit.id,
            old={"bindings": old},
            new={"bindings": new},
        )
        self._event(session, principal, "storage.bindings_changed", unit.id, {"unit": unit.name, "bindings": new})
        return await unit_bindings(session, tenant_id, unit.id)
