"""What every part of ``Storage`` stands on: the service's collaborators, loading a container, occupancy and the
capacity warning, the storage event, and the query and batch rules the parts share."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.audit.trail import AuditTrail
from hub.db.storage_models import StorageContainer, StoragePosition
from hub.domain.identity import Principal
from hub.domain.samples import MAX_BATCH, check_batch_size
from hub.domain.samples import Samples as SampleService
from hub.domain.storage.layout import BOX_KINDS, UNIT_KINDS, over_threshold
from hub.errors import ConflictError, NotFoundError
from hub.events.outbox import record_event

DEFAULT_WARN_AT_PCT = 90


def under(column: Any, prefix: Any, dialect: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix`` (a path, or a path column) as an index range. Paths hold hex digits,
    dashes and slashes only, so every path that starts with ``prefix`` sorts before ``prefix || '~'``; PostgreSQL
    compares byte-wise with the pattern operators its ``text_pattern_ops`` index serves."""
    upper = prefix + "~"
    if dialect == "postgresql":
        # above concat's precedence, so ``path ~<~ (prefix || '~')`` keeps its parentheses
        return and_(column.op("~>=~", precedence=100)(prefix), column.op("~<~", precedence=100)(upper))
    return and_(column >= prefix, column < upper)


async def dialect_of(session: AsyncSession) -> str:
    return (await session.connection()).dialect.name


async def flush_or_conflict(session: AsyncSession, conflict: str) -> None:
    """Flush; a constraint the database refused (a race lost to another request) is a 409, never a 500."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise ConflictError(conflict) from exc


def chunks(items: Sequence[str], size: int = MAX_BATCH) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


check_batch = check_batch_size  # one rule for every batch of samples, whichever module takes it


@dataclass(frozen=True)
class Occupancy:
    used: int = 0
    total: int = 0

    @property
    def free(self) -> int:
        return self.total - self.used

    @property
    def pct(self) -> float:
        return round(100 * self.used / self.total, 1) if self.total else 0.0


class StorageBase:
    def __init__(self, audit: AuditTrail, samples: SampleService, *, warn_at_pct: int = DEFAULT_WARN_AT_PCT) -> None:
        self.audit = audit
        self.samples = samples
        self.warn_at_pct = warn_at_pct

    def threshold(self, container: StorageContainer) -> int:
        return container.warn_at_pct if container.warn_at_pct is not None else self.warn_at_pct

    async def get(
        self,
        session: AsyncSession,
        tenant_id: str,
        container_id: str,
        *,
        kinds: frozenset[str] | None = None,
        for_update: bool = False,
    ) -> StorageContainer:
        query = select(StorageContainer).where(
            StorageContainer.tenant_id == tenant_id, StorageContainer.id == container_id
        )
        if for_update:
            query = query.with_for_update()
        container = (await session.execute(query)).scalar_one_or_none()
        if container is None or (kinds is not None and container.kind not in kinds):
            what = "storage unit" if kinds == UNIT_KINDS else "box" if kinds == BOX_KINDS else "storage container"
            raise NotFoundError(f"no {what} {container_id}")
        return container

    async def occupancy(
        self, session: AsyncSession, tenant_id: str, containers: Sequence[StorageContainer]
    ) -> dict[str, Occupancy]:
        """Used and total positions of every box under each container (itself included), in one query."""
        if not containers:
            return {}
        dialect = await dialect_of(session)
        outer, box = aliased(StorageContainer), aliased(StorageContainer)
        rows = await session.execute(
            select(outer.id, func.count(StoragePosition.box_id), func.count(StoragePosition.sample_id))
            .join(box, and_(box.tenant_id == tenant_id, under(box.path, outer.path, dialect)))
            .join(StoragePosition, StoragePosition.box_id == box.id)
            .where(outer.tenant_id == tenant_id, outer.id.in_([c.id for c in containers]))
            .group_by(outer.id)
        )
        found = {cid: Occupancy(int(used), int(total)) for cid, total, used in rows.all()}
        return {c.id: found.get(c.id, Occupancy()) for c in containers}

    def _event(
        self, session: AsyncSession, principal: Principal, type: str, subject_id: str, payload: dict[str, Any]
    ) -> None:
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type=type,
            subject_type="storage_container",
            subject_id=subject_id,
            actor=principal.label,
            payload=payload,
        )

    async def _check_capacity(self, session: AsyncSession, principal: Principal, container_ids: Sequence[str]) -> None:
        """``storage.capacity_warning`` once per crossing: the flag changes only in a conditional update, so of two
        racing requests one emits the event."""
        if not container_ids:
            return
        found = await session.execute(
            select(StorageContainer).where(
                StorageContainer.tenant_id == principal.tenant_id, StorageContainer.id.in_(list(container_ids))
            )
        )
        containers = list(found.scalars())
        occupancy = await self.occupancy(session, principal.tenant_id, containers)
        for container in containers:
            used, total = occupancy[container.id].used, occupancy[container.id].total
            pct = self.threshold(container)
            above = over_threshold(used, total, pct)
            if above == container.capacity_warned:
                continue
            flipped = await session.execute(
                update(StorageContainer)
                .where(StorageContainer.id == container.id, StorageContainer.capacity_warned == (not above))
                .values(capacity_warned=above)
                .execution_options(synchronize_session=False)
            )
            if above and getattr(flipped, "rowcount", 0) == 1:
                self._event(
                    session,
                    principal,
                    "storage.capacity_warning",
                    container.id,
                    {
                        "kind": container.kind,
                        "name": container.name,
                        "used": used,
                        "total": total,
                        "warn_at_pct": pct,
                    },
                )
        await session.flush()
