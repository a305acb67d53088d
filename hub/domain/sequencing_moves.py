"""Moving a run's samples through their lifecycle, and recording each sequencing change.

Samples move only through ``Samples.transition_many`` (the lifecycle and its QC gate). A run that starts takes its
samples to ``sequencing`` step by step (a stored library goes through ``in_preparation``); one that completes takes
them on to ``completed``; one that fails brings those still ``sequencing`` back to ``in_preparation``. A sample
that cannot move (on hold, disposed, refused by the QC gate) stays where it is and is named in the result: a run on
an instrument happened whatever state a sample record was in, and an error here would refuse the edge's whole
batch, which the edge would send again for ever.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.sample_models import Sample
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState, allowed_moves
from hub.domain.samples import MAX_BATCH, Samples
from hub.errors import HubError
from hub.events.outbox import record_event

S = SampleState
FORWARD: tuple[SampleState, ...] = (S.RECEIVED, S.STORED, S.IN_PREPARATION, S.SEQUENCING, S.COMPLETED)
_ORDER = {state: n for n, state in enumerate(FORWARD)}


def forward_path(current: SampleState, target: SampleState) -> list[SampleState] | None:
    """The shortest lifecycle path from ``current`` to ``target`` that only moves forward along ``FORWARD``;
    ``[]`` when already there, ``None`` when there is none."""
    if current == target:
        return []
    if current not in _ORDER or target not in _ORDER or _ORDER[current] > _ORDER[target]:
        return None
    paths: deque[list[SampleState]] = deque([[current]])
    while paths:
        path = paths.popleft()
        for step in sorted(allowed_moves(path[-1]), key=lambda s: _ORDER.get(s, 99)):
            if step in _ORDER and _ORDER[path[-1]] < _ORDER[step] <= _ORDER[target]:
                if step == target:
                    return [*path[1:], step]
                paths.append([*path, step])
    return None


async def record_change(
    audit: AuditTrail,
    session: AsyncSession,
    principal: Principal,
    *,
    record_type: str,
    record_id: str,
    event: str,
    reason: str | None,
    action: str = "update",
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """The audit entry and the ``sequencing.*`` event of one change, in the caller's transaction."""
    await audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal.label,
        action=action,
        record_type=record_type,
        record_id=record_id,
        reason=reason,
        old=old,
        new=new,
    )
    record_event(
        session,
        tenant_id=principal.tenant_id,
        type=f"sequencing.{event}",
        subject_type=record_type,
        subject_id=record_id,
        actor=principal.label,
        payload={**(new or {}), **(payload or {}), "reason": reason},
    )


class SampleMover:
    def __init__(self, samples: Samples) -> None:
        self.samples = samples

    async def _states(self, session: AsyncSession, tenant_id: str, sample_ids: Sequence[str]) -> dict[str, Sample]:
        if not sample_ids:
            return {}
        rows = await session.execute(select(Sample).where(Sample.tenant_id == tenant_id, Sample.id.in_(sample_ids)))
        return {s.id: s for s in rows.scalars()}

    async def _move(
        self, session: AsyncSession, principal: Principal, sample_ids: Sequence[str], target: SampleState, reason: str
    ) -> None:
        await session.flush()  # the caller's changes stay outside the savepoint a refusal rolls back
        async with session.begin_nested():
            await self.samples.transition_many(session, principal, sample_ids, target, reason=reason)

    async def _transition(
        self,
        session: AsyncSession,
        principal: Principal,
        sample_ids: list[str],
        target: SampleState,
        reason: str,
    ) -> tuple[set[str], list[str]]:
        """Move the samples in batches of up to ``MAX_BATCH``; a batch that is refused (a sample on hold, a failed
        QC) is moved one sample at a time, so one sample does not hold back the others. The samples moved, and why
        the others were not."""
        moved: set[str] = set()
        problems: list[str] = []
        for first in range(0, len(sample_ids), MAX_BATCH):
            chunk = sample_ids[first : first + MAX_BATCH]
            try:
                await self._move(session, principal, chunk, target, reason)
            except HubError:
                for sample_id in chunk:
                    try:
                        await self._move(session, principal, [sample_id], target, reason)
                    except HubError as exc:
                        problems.append(f"not moved to {target.value}: {exc.detail}")
                    else:
                        moved.add(sample_id)
            else:
                moved.update(chunk)
        return moved, problems

    async def forward(
        self,
        session: AsyncSession,
        principal: Principal,
        sample_ids: Sequence[str],
        target: SampleState,
        *,
        reason: str,
    ) -> list[str]:
        """Move every sample forward to ``target``; the problems with those that could not move."""
        samples = await self._states(session, principal.tenant_id, sample_ids)
        problems: list[str] = []
        remaining: dict[str, list[SampleState]] = {}
        for sample_id in sample_ids:
            sample = samples.get(sample_id)
            if sample is None:
                problems.append(f"sample {sample_id} is gone")
                continue
            path = forward_path(SampleState(sample.state), target)
            if path is None:
                problems.append(f"sample {sample.barcode} is {sample.state} and stays so (not moved to {target.value})")
            elif path:
                remaining[sample_id] = path
        while remaining:
            groups: dict[SampleState, list[str]] = {}
            for sample_id, path in remaining.items():
                groups.setdefault(path[0], []).append(sample_id)
            for step, ids in sorted(groups.items(), key=lambda item: _ORDER[item[0]]):
                moved, refused = await self._transition(session, principal, ids, step, reason)
                problems += refused
                for sample_id in ids:
                    path = remaining[sample_id]
                    if sample_id not in moved or len(path) == 1:
                        del remaining[sample_id]
                    else:
                        remaining[sample_id] = path[1:]
        return problems

    async def back(
        self,
        session: AsyncSession,
        principal: Principal,
        sample_ids: Sequence[str],
        *,
        source: SampleState,
        target: SampleState,
        reason: str,
    ) -> list[str]:
        """Move the samples that are in ``source`` to ``target``; the others stay as they are."""
        samples = await self._states(session, principal.tenant_id, sample_ids)
        ids = [i for i in sample_ids if i in samples and samples[i].state == source.value]
        if not ids:
            return []
        _, refused = await self._transition(session, principal, ids, target, reason)
        return refused
