"""The container tree: creating, changing and moving sites, rooms, units, shelves, racks, drawers, towers and
boxes. A unit sets the temperature zone for everything inside it; a box gets its grid's positions when created."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, overload

from sqlalchemy import and_, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import new_id, utcnow
from hub.db.sample_models import ZONES, Sample, SampleType
from hub.db.storage_models import StorageContainer, StoragePosition
from hub.domain.cells import clean_text
from hub.domain.identity import Principal
from hub.domain.storage.base import StorageBase, dialect_of, flush_or_conflict, under
from hub.domain.storage.errors import ZoneMismatchError
from hub.domain.storage.excursions import expose, samples_under
from hub.domain.storage.layout import (
    ABOVE_UNIT_KINDS,
    BOX,
    MAX_DEPTH,
    SEGMENT,
    UNIT_KINDS,
    ZONE_NAMES,
    check_fields,
    check_grid,
    check_structure,
    depth_of,
    grid_positions,
    zone_fits,
    zone_need,
)
from hub.errors import ConflictError, ValidationFailedError


@dataclass(frozen=True)
class NewContainer:
    kind: str
    name: str
    parent_id: str | None = None
    zone: str | None = None
    capacity: int | None = None
    rows: int | None = None
    cols: int | None = None
    barcode: str | None = None
    warn_at_pct: int | None = None


@dataclass(frozen=True)
class ContainerChanges:
    name: str | None = None
    barcode: str | None = None
    capacity: int | None = None
    warn_at_pct: int | None = None
    zone: str | None = None


@overload
def clean_label(text: str, what: str) -> str: ...
@overload
def clean_label(text: None, what: str) -> None: ...
def clean_label(text: str | None, what: str) -> str | None:
    """A name or barcode as people typed it, without control or invisible characters; never empty."""
    if text is None:
        return None
    cleaned = clean_text(text)
    if not cleaned:
        raise ValidationFailedError(f"the {what} is empty")
    return cleaned


def container_facts(container: StorageContainer) -> dict[str, Any]:
    """What the audit trail and the events say about a container."""
    return {
        "kind": container.kind,
        "name": container.name,
        "barcode": container.barcode,
        "parent_id": container.parent_id,
        "zone": container.zone,
        "capacity": container.capacity,
        "rows": container.grid_rows,
        "cols": container.grid_cols,
        "warn_at_pct": container.warn_at_pct,
    }


class StorageContainers(StorageBase):
    """The part of ``Storage`` that builds and rearranges the container tree."""

    async def create_container(
        self, session: AsyncSession, principal: Principal, spec: NewContainer
    ) -> StorageContainer:
        """A container under ``spec.parent_id`` (or at the top). A unit needs its zone; what is inside a unit takes
        the unit's. A box gets its grid's positions, all free."""
        tenant_id = principal.tenant_id
        spec = replace(spec, name=clean_label(spec.name, "name"), barcode=clean_label(spec.barcode, "barcode"))
        parent = None
        if spec.parent_id is not None:
            parent = await self.get(session, tenant_id, spec.parent_id, for_update=True)
        check_structure(spec.kind, parent.kind if parent else None)
        check_fields(spec.kind, zone=spec.zone, capacity=spec.capacity, rows=spec.rows, cols=spec.cols)
        if parent is not None:
            if depth_of(parent.path) >= MAX_DEPTH:
                raise ValidationFailedError(f"containers nest at most {MAX_DEPTH} deep")
            if parent.capacity is not None and parent.child_count >= parent.capacity:
                raise ConflictError(
                    f"{parent.kind} {parent.name} is full: {parent.child_count} of {parent.capacity} places taken",
                    capacity=parent.capacity,
                )
        await self._check_unique(session, tenant_id, parent.id if parent else None, spec.name, spec.barcode)
        container_id = new_id()
        is_unit = spec.kind in UNIT_KINDS
        now = utcnow()
        container = StorageContainer(
            id=container_id,
            tenant_id=tenant_id,
            parent_id=parent.id if parent else None,
            unit_id=container_id if is_unit else (parent.unit_id if parent else None),
            kind=spec.kind,
            name=spec.name,
            barcode=spec.barcode,
            zone=spec.zone if is_unit else (parent.zone if parent else None),
            path=(parent.path if parent else "/") + container_id + "/",
            capacity=spec.capacity,
            child_count=0,
            grid_rows=spec.rows if spec.kind == BOX else None,
            grid_cols=spec.cols if spec.kind == BOX else None,
            warn_at_pct=spec.warn_at_pct,
            capacity_warned=False,
            version=1,
            created_by=principal.label,
            created_at=now,
            updated_at=now,
        )
        session.add(container)
        if parent is not None:
            parent.child_count += 1
        await flush_or_conflict(
            session, f"a container named {spec.name!r} or barcode {spec.barcode!r} was just created there"
        )
        if spec.kind == BOX:
            rows, cols = check_grid(spec.rows, spec.cols)
            await session.execute(
                insert(StoragePosition),
                [
                    {"box_id": container_id, "row_no": r, "col_no": c, "tenant_id": tenant_id}
                    for r, c in grid_positions(rows, cols)
                ],
            )
        facts = container_facts(container)
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=principal.label,
            action="create",
            record_type="storage_container",
            record_id=container_id,
            new=facts,
        )
        self._event(session, principal, "storage.container_created", container_id, facts)
        return container

    async def _check_unique(
        self, session: AsyncSession, tenant_id: str, parent_id: str | None, name: str | None, barcode: str | None
    ) -> None:
        if barcode is not None:
            taken = await session.execute(
                select(StorageContainer.name).where(
                    StorageContainer.tenant_id == tenant_id, StorageContainer.barcode == barcode
                )
            )
            holder = taken.scalar_one_or_none()
            if holder is not None:
                raise ConflictError(f"barcode {barcode} is already on {holder}")
        if name is not None:
            same_place = (
                StorageContainer.parent_id == parent_id
                if parent_id is not None
                else and_(StorageContainer.tenant_id == tenant_id, StorageContainer.parent_id.is_(None))
            )
            taken = await session.execute(select(StorageContainer.id).where(same_place, StorageContainer.name == name))
            if taken.first() is not None:
                where = "that container" if parent_id is not None else "the top level"
                raise ConflictError(f"there is already a {name!r} in {where}")

    async def update_container(
        self, session: AsyncSession, principal: Principal, container_id: str, changes: ContainerChanges, reason: str
    ) -> StorageContainer:
        """Rename, relabel, resize, set the warning threshold, or change a unit's zone (refused while a sample
        inside would no longer fit it)."""
        tenant_id = principal.tenant_id
        container = await self.get(session, tenant_id, container_id, for_update=True)
        changes = replace(
            changes, name=clean_label(changes.name, "name"), barcode=clean_label(changes.barcode, "barcode")
        )
        old = container_facts(container)
        if changes.zone is not None and changes.zone != container.zone:
            if container.kind not in UNIT_KINDS:
                raise ValidationFailedError(f"a {container.kind} takes the zone of its unit; change the unit's zone")
            if changes.zone not in ZONES:
                raise ValidationFailedError(f"unknown zone {changes.zone!r}; one of {', '.join(ZONES)}")
            await self._check_contents_fit(session, tenant_id, container.path, changes.zone, container.name)
            await session.execute(
                update(StorageContainer)
                .where(StorageContainer.tenant_id == tenant_id, StorageContainer.unit_id == container.id)
                .values(zone=changes.zone)
                .execution_options(synchronize_session=False)
            )
            container.zone = changes.zone
        if changes.capacity is not None:
            if container.kind == BOX:
                raise ValidationFailedError("a box holds samples in its grid, not containers: no capacity")
            if changes.capacity < container.child_count:
                raise ConflictError(
                    f"{container.name} holds {container.child_count} containers; capacity {changes.capacity} is less"
                )
            container.capacity = changes.capacity
        if changes.name is not None and changes.name != container.name:
            await self._check_unique(session, tenant_id, container.parent_id, changes.name, None)
            container.name = changes.name
        if changes.barcode is not None and changes.barcode != container.barcode:
            await self._check_unique(session, tenant_id, None, None, changes.barcode)
            container.barcode = changes.barcode
        if changes.warn_at_pct is not None:
            container.warn_at_pct = changes.warn_at_pct
        new = container_facts(container)
        if new == old:
            raise ValidationFailedError("nothing to change: the container already reads so")
        container.version += 1
        container.updated_at = utcnow()
        await flush_or_conflict(session, "another request changed this container at the same time; reload and retry")
        if changes.warn_at_pct is not None:
            await self._check_capacity(session, principal, [container.id])
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=principal.label,
            action="update",
            record_type="storage_container",
            record_id=container.id,
            reason=reason,
            old=old,
            new=new,
        )
        self._event(session, principal, "storage.container_updated", container.id, {"old": old, "new": new})
        return container

    async def move_container(
        self, session: AsyncSession, principal: Principal, container_id: str, parent_id: str, reason: str
    ) -> StorageContainer:
        """Move a container, with everything inside, under another (a box to a backup freezer). Inside a unit it
        takes that unit's zone, refused if a sample inside would not fit."""
        tenant_id = principal.tenant_id
        container = await self.get(session, tenant_id, container_id, for_update=True)
        target = await self.get(session, tenant_id, parent_id, for_update=True)
        check_structure(container.kind, target.kind)
        if target.path.startswith(container.path):
            raise ValidationFailedError(f"{container.name} cannot go inside itself or its own contents")
        if target.id == container.parent_id:
            raise ValidationFailedError(f"{container.name} is already in {target.name}")
        dialect = await dialect_of(session)
        longest = (
            await session.execute(
                select(func.max(func.length(StorageContainer.path))).where(
                    StorageContainer.tenant_id == tenant_id, under(StorageContainer.path, container.path, dialect)
                )
            )
        ).scalar_one()
        levels = (int(longest or len(container.path)) - len(container.path)) // SEGMENT + 1
        if depth_of(target.path) + levels > MAX_DEPTH:
            raise ValidationFailedError(f"containers nest at most {MAX_DEPTH} deep")
        if target.capacity is not None and target.child_count >= target.capacity:
            raise ConflictError(f"{target.kind} {target.name} is full: {target.child_count} of {target.capacity}")
        await self._check_unique(session, tenant_id, target.id, container.name, None)
        keeps_zone = container.kind in UNIT_KINDS or container.kind in ABOVE_UNIT_KINDS
        old_unit = container.unit_id
        if not keeps_zone and target.zone is not None and target.zone != container.zone:
            await self._check_contents_fit(session, tenant_id, container.path, target.zone, target.name)
        old_parent = (
            await self.get(session, tenant_id, container.parent_id, for_update=True) if container.parent_id else None
        )
        old_facts = {"parent_id": container.parent_id, "unit_id": container.unit_id, "zone": container.zone}
        old_path, new_path = container.path, target.path + container.id + "/"
        values: dict[str, Any] = {"path": literal(new_path) + func.substr(StorageContainer.path, len(old_path) + 1)}
        if not keeps_zone:
            values |= {"unit_id": target.unit_id, "zone": target.zone}
        if old_parent is not None:
            old_parent.child_count -= 1
        target.child_count += 1
        container.parent_id = target.id
        container.version += 1
        container.updated_at = utcnow()
        await flush_or_conflict(session, f"{target.name} changed at the same time; reload and retry")
        await session.execute(
            update(StorageContainer)
            .where(StorageContainer.tenant_id == tenant_id, under(StorageContainer.path, old_path, dialect))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(container)
        if not keeps_zone and container.unit_id != old_unit:
            inside = await samples_under(session, tenant_id, container.path, dialect)
            await expose(session, tenant_id, inside)
            await self._check_capacity(session, principal, [u for u in (old_unit, container.unit_id) if u])
        new_facts = {"parent_id": target.id, "unit_id": container.unit_id, "zone": container.zone}
        await self.audit.record(
            session,
            tenant_id=tenant_id,
            actor=principal.label,
            action="move",
            record_type="storage_container",
            record_id=container.id,
            reason=reason,
            old=old_facts,
            new=new_facts,
        )
        self._event(session, principal, "storage.container_moved", container.id, {"old": old_facts, "new": new_facts})
        return container

    async def _check_contents_fit(
        self, session: AsyncSession, tenant_id: str, path: str, zone: str, where: str
    ) -> None:
        """Nothing, or ``ZoneMismatchError`` naming the samples under ``path`` that would not suit ``zone``."""
        dialect = await dialect_of(session)
        rows = await session.execute(
            select(Sample.barcode, SampleType.name, SampleType.zone, SampleType.colder_ok)
            .join(StoragePosition, StoragePosition.sample_id == Sample.id)
            .join(StorageContainer, StorageContainer.id == StoragePosition.box_id)
            .join(SampleType, SampleType.id == Sample.sample_type_id)
            .where(StorageContainer.tenant_id == tenant_id, under(StorageContainer.path, path, dialect))
        )
        problems = [
            f"sample {barcode} ({type_name}) needs {zone_need(needs, colder_ok)}, not {ZONE_NAMES[zone]}"
            for barcode, type_name, needs, colder_ok in rows.all()
            if not zone_fits(needs, colder_ok, zone)
        ]
        if problems:
            raise ZoneMismatchError(
                f"{where} would be at {ZONE_NAMES[zone]}: " + "; ".join(problems[:20]), problems=problems[:200]
            )
