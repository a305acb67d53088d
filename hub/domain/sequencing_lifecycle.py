"""What a run's state changes do to its jobs and samples; the one place jobs change state.

Used by the device-event handler (a run started, completed, failed, stalled on an instrument), by linking an
instrument's run to its plan, and by the job and run routes. Every change is audited and published as a
``sequencing.*`` event in the caller's transaction. Moves are idempotent where events can repeat: starting a
running run, or completing a completed one, does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.sequencing_models import SequencingJob, SequencingLibrary, SequencingRun
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.samples import Samples
from hub.domain.sequencing_moves import SampleMover, record_change
from hub.domain.sequencing_states import TERMINAL_RUN_STATES, JobState, RunState, check_job_move

logger = logging.getLogger(__name__)


class RunLifecycle:
    def __init__(self, audit: AuditTrail, samples: Samples, clock: Callable[[], datetime]) -> None:
        self.audit = audit
        self.mover = SampleMover(samples)
        self.clock = clock

    # -- jobs -----------------------------------------------------------------------------------------------------

    async def move_job(
        self,
        session: AsyncSession,
        principal: Principal,
        job: SequencingJob,
        target: JobState,
        *,
        reason: str,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Move one job (``IllegalJobMoveError`` for a move the job states do not allow)."""
        old = JobState(job.state)
        check_job_move(old, target, f"job {job.name}")
        job.state = target.value
        job.version += 1
        job.updated_at = self.clock()
        if target in (JobState.CANCELLED, JobState.FAILED):
            job.state_reason = reason
        if target == JobState.QUEUED:
            job.run_id = None
        await record_change(
            self.audit,
            session,
            principal,
            record_type="sequencing_job",
            record_id=job.id,
            event=f"job_{target.value}",
            reason=reason,
            old={"state": old.value},
            new={"state": target.value},
            payload={"name": job.name, "run_id": job.run_id, **(payload or {})},
        )

    async def jobs_on(
        self, session: AsyncSession, tenant_id: str, run_id: str, states: Sequence[JobState]
    ) -> list[SequencingJob]:
        rows = await session.execute(
            select(SequencingJob)
            .where(
                SequencingJob.tenant_id == tenant_id,
                SequencingJob.run_id == run_id,
                SequencingJob.state.in_([s.value for s in states]),
            )
            .order_by(SequencingJob.queued_at, SequencingJob.id)
            .with_for_update()
        )
        return list(rows.scalars())

    async def sample_ids(self, session: AsyncSession, tenant_id: str, jobs: Sequence[SequencingJob]) -> list[str]:
        if not jobs:
            return []
        rows = await session.execute(
            select(SequencingLibrary.sample_id)
            .where(SequencingLibrary.tenant_id == tenant_id, SequencingLibrary.job_id.in_([j.id for j in jobs]))
            .order_by(SequencingLibrary.job_id, SequencingLibrary.position)
        )
        return list(dict.fromkeys(rows.scalars()))

    # -- runs -----------------------------------------------------------------------------------------------------

    async def change_run(
        self,
        session: AsyncSession,
        principal: Principal,
        run: SequencingRun,
        target: RunState,
        *,
        reason: str,
        payload: dict[str, Any] | None = None,
    ) -> None:
        old = run.state
        run.state = target.value
        run.version += 1
        run.updated_at = self.clock()
        await record_change(
            self.audit,
            session,
            principal,
            record_type="sequencing_run",
            record_id=run.id,
            event=f"run_{target.value}",
            reason=reason,
            old={"state": old},
            new={"state": target.value},
            payload={"name": run.name, "instrument_run_id": run.instrument_run_id, **(payload or {})},
        )

    async def start(
        self, session: AsyncSession, principal: Principal, run: SequencingRun, *, at: datetime | None, reason: str
    ) -> None:
        """A planned run is on the instrument: its jobs are sequencing, and so are their samples."""
        if run.state != RunState.PLANNED.value:
            return
        run.started_at = run.started_at or at or self.clock()
        jobs = await self.jobs_on(session, principal.tenant_id, run.id, [JobState.PLANNED])
        samples = await self.sample_ids(session, principal.tenant_id, jobs)
        problems = await self.mover.forward(session, principal, samples, SampleState.SEQUENCING, reason=reason)
        await self.change_run(
            session, principal, run, RunState.RUNNING, reason=reason, payload=_problems(problems, run)
        )
        for job in jobs:
            await self.move_job(session, principal, job, JobState.SEQUENCING, reason=reason)

    async def complete(
        self,
        session: AsyncSession,
        principal: Principal,
        run: SequencingRun,
        *,
        at: datetime | None,
        reason: str,
        qc: dict[str, Any] | None,
    ) -> None:
        """The run finished: QC kept, its jobs completed, their samples completed."""
        if RunState(run.state) in TERMINAL_RUN_STATES:
            return
        await self.start(session, principal, run, at=at, reason=reason)
        run.ended_at = at or self.clock()
        run.stalled, run.stalled_since = False, None
        if qc is not None:
            run.qc = qc
        if run.cycles_total:
            run.cycles_done = max(run.cycles_done, run.cycles_total)
        jobs = await self.jobs_on(session, principal.tenant_id, run.id, [JobState.SEQUENCING])
        samples = await self.sample_ids(session, principal.tenant_id, jobs)
        problems = await self.mover.forward(session, principal, samples, SampleState.COMPLETED, reason=reason)
        extra = {"qc": run.qc, **_problems(problems, run)}
        await self.change_run(session, principal, run, RunState.COMPLETED, reason=reason, payload=extra)
        for job in jobs:
            await self.move_job(session, principal, job, JobState.COMPLETED, reason=reason)

    async def fail(
        self, session: AsyncSession, principal: Principal, run: SequencingRun, *, at: datetime | None, reason: str
    ) -> None:
        """The run failed: its jobs failed (queued again when they asked for it), their samples back in
        preparation."""
        if RunState(run.state) in TERMINAL_RUN_STATES:
            return
        await self.start(session, principal, run, at=at, reason=reason)
        run.ended_at = at or self.clock()
        run.stalled, run.stalled_since = False, None
        run.state_reason = reason
        jobs = await self.jobs_on(session, principal.tenant_id, run.id, [JobState.SEQUENCING])
        samples = await self.sample_ids(session, principal.tenant_id, jobs)
        problems = await self.mover.back(
            session, principal, samples, source=SampleState.SEQUENCING, target=SampleState.IN_PREPARATION, reason=reason
        )
        await self.change_run(session, principal, run, RunState.FAILED, reason=reason, payload=_problems(problems, run))
        for job in jobs:
            await self.move_job(session, principal, job, JobState.FAILED, reason=reason)
            if job.requeue_on_failure:
                await self.move_job(
                    session, principal, job, JobState.QUEUED, reason=f"queued again after the run failed: {reason}"
                )

    async def stall(
        self, session: AsyncSession, principal: Principal, run: SequencingRun, *, at: datetime | None, reason: str
    ) -> None:
        if run.stalled or RunState(run.state) in TERMINAL_RUN_STATES:
            return
        await self.start(session, principal, run, at=at, reason=reason)
        run.stalled, run.stalled_since = True, at or self.clock()
        await self._flagged(session, principal, run, "run_stalled", reason, stalled=True)

    async def resume(self, session: AsyncSession, principal: Principal, run: SequencingRun, *, reason: str) -> None:
        if not run.stalled:
            return
        run.stalled, run.stalled_since = False, None
        await self._flagged(session, principal, run, "run_resumed", reason, stalled=False)

    async def _flagged(
        self, session: AsyncSession, principal: Principal, run: SequencingRun, event: str, reason: str, *, stalled: bool
    ) -> None:
        run.version += 1
        run.updated_at = self.clock()
        await record_change(
            self.audit,
            session,
            principal,
            record_type="sequencing_run",
            record_id=run.id,
            event=event,
            reason=reason,
            old={"stalled": not stalled},
            new={"stalled": stalled},
            payload={"name": run.name, "instrument_run_id": run.instrument_run_id, "cycles_done": run.cycles_done},
        )


def _problems(problems: list[str], run: SequencingRun) -> dict[str, Any]:
    if not problems:
        return {}
    logger.warning("run %s: %d sample(s) not moved: %s", run.id, len(problems), "; ".join(problems[:5]))
    return {"samples_not_moved": problems[:50]}
