"""Lineage: aliquots (the same material split), derivatives (new material made from a sample: DNA from blood, a
library from DNA) and pools (one sample made from many), and the family tree of a sample.

A child is made only from a sample in hand and not finished with (``lifecycle.SOURCE_STATES``); the volume it
takes is subtracted from its parent, and a parent that does not hold enough (or whose volume is not recorded)
refuses the request. Every child, link and parent change is audited and announced in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import utcnow
from hub.db.sample_models import Sample, SampleLink, SampleType
from hub.domain.identity import Principal
from hub.domain.lifecycle import SOURCE_STATES, SampleState
from hub.domain.samples import NewSample, Samples, refuse
from hub.errors import NotFoundError, ValidationFailedError
from hub.events.outbox import record_event

MAX_CHILDREN = 384  # four 96-well plates of aliquots from one parent in one request
MAX_POOL = 1000
MAX_DEPTH = 20
MAX_NODES = 2000
_EVENT = {"aliquot": "sample.aliquoted", "derivative": "sample.derived", "pool": "sample.pooled"}


@dataclass(frozen=True)
class PoolPart:
    sample_id: str
    volume_ul: Decimal | None = None


@dataclass(frozen=True)
class LineageGraph:
    """The root, its ancestors and descendants up to ``depth`` generations each way; ``generation`` maps a sample
    id to its distance from the root (negative: ancestors). ``truncated``: there is more beyond the limits."""

    root: Sample
    samples: list[Sample]
    links: list[SampleLink]
    generation: dict[str, int]
    truncated: bool


def _sources(parents: Sequence[tuple[Sample, Decimal | None]]) -> list[str]:
    """What stops each parent from giving the volume asked of it."""
    allowed = ", ".join(sorted(s.value for s in SOURCE_STATES))
    problems = []
    for parent, taken in parents:
        label = f"sample {parent.barcode}"
        if SampleState(parent.state) not in SOURCE_STATES:
            problems.append(f"{label} is {parent.state}: children are made only from samples that are {allowed}")
        elif taken is not None and parent.volume_ul is None:
            problems.append(f"{label} has no recorded volume to take {taken} µl from; record its volume first")
        elif taken is not None and parent.volume_ul is not None and taken > parent.volume_ul:
            problems.append(f"{label} holds {parent.volume_ul} µl, less than the {taken} µl asked")
    return problems


class Lineage:
    def __init__(self, audit: AuditTrail, samples: Samples) -> None:
        self.audit = audit
        self.samples = samples

    async def aliquot(
        self,
        session: AsyncSession,
        principal: Principal,
        parent_id: str,
        *,
        count: int,
        volume_ul: Decimal,
        reason: str | None = None,
        barcodes: Sequence[str] | None = None,
    ) -> list[Sample]:
        """``count`` aliquots of ``volume_ul`` each: same type, project, concentration and attributes."""
        parent = (await self.samples.load_many(session, principal.tenant_id, [parent_id]))[0]
        refuse(_sources([(parent, volume_ul * count)]))
        specs = [
            NewSample(
                name=parent.name,
                sample_type_id=parent.sample_type_id,
                barcode=barcodes[i] if barcodes else None,
                project_id=parent.project_id,
                volume_ul=volume_ul,
                concentration=parent.concentration,
                attributes=dict(parent.attributes),
            )
            for i in range(count)
        ]
        return await self._make(session, principal, "aliquot", [(parent, volume_ul)], specs, reason=reason)

    async def derive(
        self,
        session: AsyncSession,
        principal: Principal,
        parent_id: str,
        *,
        sample_type_id: str,
        count: int = 1,
        volume_taken_ul: Decimal | None = None,
        volume_ul: Decimal | None = None,
        concentration: Decimal | None = None,
        name: str | None = None,
        barcodes: Sequence[str] | None = None,
        consume_parent: bool = False,
        reason: str | None = None,
    ) -> list[Sample]:
        """``count`` new samples of ``sample_type_id`` made from the parent, each taking ``volume_taken_ul`` of it
        (when given); ``consume_parent`` marks the parent used up."""
        parent = (await self.samples.load_many(session, principal.tenant_id, [parent_id]))[0]
        kind = await self._sample_type(session, principal.tenant_id, sample_type_id)
        taken = volume_taken_ul * count if volume_taken_ul is not None else None
        refuse(_sources([(parent, taken)]))
        specs = [
            NewSample(
                name=name or f"{parent.name} {kind.name}"[:200],
                sample_type_id=kind.id,
                barcode=barcodes[i] if barcodes else None,
                project_id=parent.project_id,
                volume_ul=volume_ul,
                concentration=concentration,
                attributes=dict(parent.attributes),
            )
            for i in range(count)
        ]
        children = await self._make(session, principal, "derivative", [(parent, volume_taken_ul)], specs, reason=reason)
        if consume_parent:
            await self.samples.transition_many(
                session, principal, [parent.id], SampleState.CONSUMED, reason=reason or "used up making derivatives"
            )
        return children

    async def pool(
        self,
        session: AsyncSession,
        principal: Principal,
        parts: Sequence[PoolPart],
        *,
        name: str,
        sample_type_id: str | None = None,
        project_id: str | None = None,
        barcode: str | None = None,
        volume_ul: Decimal | None = None,
        concentration: Decimal | None = None,
        consume_parents: bool = False,
        reason: str | None = None,
    ) -> Sample:
        """One sample pooled from at least two parents, taking each part's volume from its parent. The pool's type
        and project default to the parents' when they all share one; its volume to the sum of the parts."""
        if len(parts) < 2:
            raise ValidationFailedError("a pool needs at least two parent samples")
        if len(parts) > MAX_POOL:
            raise ValidationFailedError(f"at most {MAX_POOL} samples in one pool")
        parents = await self.samples.load_many(session, principal.tenant_id, [p.sample_id for p in parts])
        refuse(_sources([(parent, part.volume_ul) for parent, part in zip(parents, parts, strict=True)]))
        if sample_type_id is None:
            kinds = {p.sample_type_id for p in parents}
            if len(kinds) > 1:
                raise ValidationFailedError("the parents are of different sample types: name the pool's type")
            sample_type_id = kinds.pop()
        if project_id is None:
            projects = {p.project_id for p in parents}
            project_id = projects.pop() if len(projects) == 1 else None
        if volume_ul is None and all(p.volume_ul is not None for p in parts):
            volume_ul = sum((p.volume_ul for p in parts if p.volume_ul is not None), Decimal(0))
        spec = NewSample(
            name=name,
            sample_type_id=sample_type_id,
            barcode=barcode,
            project_id=project_id,
            volume_ul=volume_ul,
            concentration=concentration,
        )
        taken = [(parent, part.volume_ul) for parent, part in zip(parents, parts, strict=True)]
        child = (await self._make(session, principal, "pool", taken, [spec], reason=reason))[0]
        if consume_parents:
            await self.samples.transition_many(
                session,
                principal,
                [p.id for p in parents],
                SampleState.CONSUMED,
                reason=reason or "used up in a pool",
            )
        return child

    @staticmethod
    async def _sample_type(session: AsyncSession, tenant_id: str, sample_type_id: str) -> SampleType:
        row = (
            await session.execute(
                select(SampleType).where(SampleType.tenant_id == tenant_id, SampleType.id == sample_type_id)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no sample type {sample_type_id}")
        return row

    async def _make(
        self,
        session: AsyncSession,
        principal: Principal,
        kind: str,
        parents: Sequence[tuple[Sample, Decimal | None]],
        specs: Sequence[NewSample],
        *,
        reason: str | None,
    ) -> list[Sample]:
        """Register the children (received: they are made in the lab), link each to every parent, and take the
        volume (``parents``: each parent with what one child takes of it)."""
        children = await self.samples.register_many(
            session, principal, specs, reason=reason, state=SampleState.RECEIVED
        )
        now = utcnow()
        for parent, each in parents:
            for child in children:
                session.add(
                    SampleLink(
                        parent_id=parent.id,
                        child_id=child.id,
                        tenant_id=principal.tenant_id,
                        kind=kind,
                        volume_ul=each,
                        created_by=principal.label,
                        created_at=now,
                    )
                )
            if each is not None and parent.volume_ul is not None:
                old = parent.volume_ul
                parent.volume_ul = old - each * len(children)
                parent.version += 1
                parent.updated_at = now
                await self.audit.record(
                    session,
                    tenant_id=principal.tenant_id,
                    actor=principal.label,
                    action="update",
                    record_type="sample",
                    record_id=parent.id,
                    reason=reason or f"volume taken for {len(children)} {kind}(s)",
                    old={"volume_ul": old},
                    new={"volume_ul": parent.volume_ul, "children": [c.id for c in children]},
                )
        parent_ids = [p.id for p, _ in parents]
        for child in children:
            facts: dict[str, Any] = {"barcode": child.barcode, "kind": kind, "parents": parent_ids}
            record_event(
                session,
                tenant_id=principal.tenant_id,
                type=_EVENT[kind],
                subject_type="sample",
                subject_id=child.id,
                actor=principal.label,
                payload=facts,
            )
        await session.flush()
        return children

    async def graph(self, session: AsyncSession, tenant_id: str, sample_id: str, *, depth: int = 5) -> LineageGraph:
        """Ancestors and descendants of a sample, breadth first, ``depth`` generations each way (at most
        ``MAX_DEPTH``) and ``MAX_NODES`` samples in all."""
        depth = max(1, min(depth, MAX_DEPTH))
        root = await self.samples.get(session, tenant_id, sample_id)
        links: dict[tuple[str, str], SampleLink] = {}
        generation = {root.id: 0}
        truncated = False
        for step, near, far in ((-1, SampleLink.child_id, "parent_id"), (1, SampleLink.parent_id, "child_id")):
            frontier = {root.id}
            for level in range(1, depth + 1):
                query = select(SampleLink).where(SampleLink.tenant_id == tenant_id, near.in_(frontier))
                found: set[str] = set()
                for link in (await session.execute(query)).scalars():
                    links[(link.parent_id, link.child_id)] = link
                    other = getattr(link, far)
                    if other not in generation:
                        generation[other] = step * level
                        found.add(other)
                frontier = found
                if not frontier or len(generation) > MAX_NODES:
                    break
            if frontier:
                more = select(SampleLink.parent_id).where(SampleLink.tenant_id == tenant_id, near.in_(frontier))
                truncated = truncated or (await session.execute(more.limit(1))).first() is not None
        samples = list(
            (
                await session.execute(
                    select(Sample).where(Sample.tenant_id == tenant_id, Sample.id.in_(list(generation)))
                )
            ).scalars()
        )
        samples.sort(key=lambda s: (generation[s.id], s.created_at, s.id))
        return LineageGraph(root, samples, list(links.values()), generation, truncated)
