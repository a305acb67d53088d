"""Runs followed from the run-folder events the edges send: the ingest's device-event handler.

Called in the sync batch's transaction, once per stored entry (a resent batch is a duplicate and is not passed
again), so a run moves exactly once per event. An event for a run the hub does not know is matched to a planned
run (``sequencing_reports.match_planned``) or recorded as an unmatched run, visible in the runs list and linkable
to its plan later. A run that has ended ignores later events. Nothing here raises for odd input: an error would
refuse the edge's batch, and the edge would send it again for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id
from hub.db.sequencing_models import SequencingRun, SequencingRunLibrary
from hub.domain.identity import Principal
from hub.domain.sequencing_lifecycle import RunLifecycle
from hub.domain.sequencing_moves import record_change
from hub.domain.sequencing_platforms import platform_for_instrument
from hub.domain.sequencing_reports import PlannedRun, RunReport, match_planned, parse_reports
from hub.domain.sequencing_states import TERMINAL_RUN_STATES, RunState

logger = logging.getLogger(__name__)
_ENDINGS = frozenset({"run_completed", "run_failed"})


class RunTracker:
    def __init__(self, audit: AuditTrail, lifecycle: RunLifecycle, clock: Callable[[], datetime]) -> None:
        self.audit = audit
        self.lifecycle = lifecycle
        self.clock = clock

    async def handle(self, session: AsyncSession, principal: Principal, events: Sequence[Mapping[str, Any]]) -> None:
        for report in parse_reports(events):
            run = await self._run_for(session, principal, report)
            if RunState(run.state) in TERMINAL_RUN_STATES:
                logger.info("run %s is %s: %s (seq %d) ignored", run.name, run.state, report.type, report.seq)
                continue
            self._note(run, principal, report)
            await self._apply(session, principal, run, report)

    async def _run_for(self, session: AsyncSession, principal: Principal, report: RunReport) -> SequencingRun:
        tenant_id = principal.tenant_id
        known = await session.execute(
            select(SequencingRun)
            .where(SequencingRun.tenant_id == tenant_id, SequencingRun.instrument_run_id == report.run_id)
            .with_for_update()
        )
        run = known.scalar_one_or_none()
        if run is not None:
            return run
        planned = list(
            (
                await session.execute(
                    select(SequencingRun)
                    .where(
                        SequencingRun.tenant_id == tenant_id,
                        SequencingRun.origin == "planned",
                        SequencingRun.state == RunState.PLANNED.value,
                    )
                    .order_by(SequencingRun.created_at, SequencingRun.id)
                    .with_for_update()
                )
            ).scalars()
        )
        sheet_ids = await self._sheet_ids(session, tenant_id, planned) if report.sample_ids else {}
        refs = [PlannedRun(p.id, p.name, p.flow_cell, sheet_ids.get(p.id, frozenset())) for p in planned]
        matched = match_planned(report, refs)
        if matched is not None:
            run = next(p for p in planned if p.id == matched)
            run.instrument_run_id = report.run_id
            await record_change(
                self.audit,
                session,
                principal,
                record_type="sequencing_run",
                record_id=run.id,
                event="run_matched",
                reason=f"{report.type} from {principal.name} names run {report.run_id}",
                old={"instrument_run_id": None},
                new={"instrument_run_id": report.run_id},
                payload={"name": run.name, "flow_cell": report.flow_cell, "experiment": report.experiment},
            )
            return run
        return await self._record_unmatched(session, principal, report)

    async def _sheet_ids(
        self, session: AsyncSession, tenant_id: str, planned: Sequence[SequencingRun]
    ) -> dict[str, frozenset[str]]:
        if not planned:
            return {}
        rows = await session.execute(
            select(SequencingRunLibrary.run_id, SequencingRunLibrary.sheet_sample_id).where(
                SequencingRunLibrary.tenant_id == tenant_id,
                SequencingRunLibrary.run_id.in_([p.id for p in planned]),
            )
        )
        found: dict[str, set[str]] = {}
        for run_id, sheet_id in rows.all():
            found.setdefault(run_id, set()).add(sheet_id)
        return {run_id: frozenset(ids) for run_id, ids in found.items()}

    async def _record_unmatched(self, session: AsyncSession, principal: Principal, report: RunReport) -> SequencingRun:
        now = self.clock()
        name = await self._free_name(session, principal.tenant_id, report.run_id)
        platform = platform_for_instrument(report.platform)
        run = SequencingRun(
            id=new_id(),
            tenant_id=principal.tenant_id,
            name=name,
            origin="instrument",
            state=RunState.RUNNING.value,
            platform=platform.value if platform else None,
            lanes=report.lanes or None,
            pooled=False,
            mismatches1=1,
            mismatches2=1,
            flow_cell=report.flow_cell,
            instrument_run_id=report.run_id,
            instrument=report.instrument,
            instrument_platform=report.platform,
            device_id=principal.id,
            cycles_done=0,
            reads_completed={"reads": []},
            stalled=False,
            instrument_metadata={},
            started_at=report.started or report.at or now,
            version=1,
            created_by=principal.label,
            created_at=now,
            updated_at=now,
        )
        session.add(run)
        await session.flush()
        await record_change(
            self.audit,
            session,
            principal,
            action="create",
            record_type="sequencing_run",
            record_id=run.id,
            event="run_recorded",
            reason=f"{report.type} from {principal.name} for a run no plan matched",
            new={
                "name": run.name,
                "instrument_run_id": run.instrument_run_id,
                "flow_cell": run.flow_cell,
                "instrument": run.instrument,
                "platform": run.instrument_platform,
                "state": run.state,
            },
        )
        return run

    async def _free_name(self, session: AsyncSession, tenant_id: str, wanted: str) -> str:
        """``wanted``, or ``wanted-2``… when a planned run already has that name (but was not this run)."""
        rows = await session.execute(
            select(SequencingRun.name).where(
                SequencingRun.tenant_id == tenant_id, SequencingRun.name.startswith(wanted, autoescape=True)
            )
        )
        taken = set(rows.scalars())
        name, n = wanted, 1
        while name in taken:
            n += 1
            name = f"{wanted}-{n}"
        return name

    def _note(self, run: SequencingRun, principal: Principal, report: RunReport) -> None:
        """What the event says about the run, kept whatever its state change."""
        run.device_id = principal.id
        run.instrument = report.instrument or run.instrument
        run.instrument_platform = report.platform or run.instrument_platform
        run.flow_cell = run.flow_cell or report.flow_cell
        if run.lanes is None and report.lanes:
            run.lanes = report.lanes
        if report.cycles_total:
            run.cycles_total = report.cycles_total
        if report.cycles_done is not None and report.cycles_done > run.cycles_done:
            run.cycles_done = report.cycles_done
        if report.read is not None:
            reads = sorted({*run.reads_completed.get("reads", []), report.read})
            run.reads_completed = {"reads": reads}
        if report.metadata:
            run.instrument_metadata = {**run.instrument_metadata, **report.metadata}
        run.last_event_at = report.at or self.clock()
        run.updated_at = self.clock()

    async def _apply(self, session: AsyncSession, principal: Principal, run: SequencingRun, report: RunReport) -> None:
        life = self.lifecycle
        reason = f"{report.type} from {principal.name} (log seq {report.seq})"
        kind = report.type
        if kind == "run_seen":  # the watcher began while the run was under way, or after it ended
            kind = {"completed": "run_completed", "failed": "run_failed", "stalled": "run_stalled"}.get(
                report.state or "", "run_started"
            )
        if report.started is not None and (run.state == RunState.PLANNED.value or kind in _ENDINGS):
            run.started_at = report.started  # an ending's start is the exact one (RunCompletionStatus.xml)
        ended = report.ended or report.at
        if kind == "run_completed":
            await life.complete(session, principal, run, at=ended, reason=reason, qc=report.qc)
        elif kind == "run_failed":
            why = f"{reason}: {report.reason}" if report.reason else reason
            await life.fail(session, principal, run, at=ended, reason=why)
        elif kind == "run_stalled":
            await life.stall(session, principal, run, at=report.at, reason=reason)
        elif kind == "run_resumed":
            await life.start(session, principal, run, at=report.at, reason=reason)
            await life.resume(session, principal, run, reason=reason)
        else:  # run_started, run_progress, read_completed: the run is on the instrument
            await life.start(session, principal, run, at=report.at, reason=reason)
