"""Runs: planned here from queued jobs (lanes packed, collisions refused, a sample sheet BCL Convert accepts),
recorded from an instrument's events, linked to each other when the instrument's run matched no plan.

Every query is scoped to the caller's tenant; no FastAPI here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id
from hub.db.sample_models import Sample
from hub.db.sequencing_models import SequencingJob, SequencingLibrary, SequencingRun, SequencingRunLibrary
from hub.domain.identity import Principal
from hub.domain.sequencing_lifecycle import RunLifecycle
from hub.domain.sequencing_moves import record_change
from hub.domain.sequencing_plan import (
    Cycles,
    FlowCellSpec,
    PlanLibrary,
    PlannedLane,
    PlanProblem,
    RunPlan,
    RunPlanRefusedError,
    plan_run,
    sheet_name,
    sheet_request,
)
from hub.domain.sequencing_platforms import SequencingPlatform, facts
from hub.domain.sequencing_reports import flow_cell_keys
from hub.domain.sequencing_states import JobState, RunState
from hub.errors import ConflictError, NotFoundError, ValidationFailedError
from hub.samplesheet import build_sheet, render_sheet

MAX_JOBS_PER_RUN = 200
_ACTIVE_RUNS = (RunState.PLANNED.value, RunState.RUNNING.value)


@dataclass(frozen=True, slots=True)
class RunSpec:
    name: str
    platform: SequencingPlatform
    job_ids: Sequence[str]
    flowcell_type: str | None = None
    lanes: int | None = None
    lane_capacity: int | None = None
    mismatches: tuple[int, int] = (1, 1)
    flow_cell: str | None = None


@dataclass(frozen=True, slots=True)
class LaneLibrary:
    library_id: str
    job_id: str
    sample_id: str
    barcode: str
    sheet_sample_id: str
    i7: str
    i5: str
    requested_reads: int


@dataclass(frozen=True, slots=True)
class LaneView:
    number: int
    capacity: int | None
    libraries: tuple[LaneLibrary, ...]

    @property
    def reads(self) -> int:
        return sum(lib.requested_reads for lib in self.libraries)


@dataclass(frozen=True, slots=True)
class RunView:
    run: SequencingRun
    lanes: tuple[LaneView, ...] = ()
    job_ids: tuple[str, ...] = ()
    problems: tuple[PlanProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanPreview:
    """A dry run: what planning would do, and everything wrong with it."""

    lanes: tuple[LaneView, ...]
    problems: tuple[PlanProblem, ...]
    cycles: Cycles | None
    lane_count: int
    lane_capacity: int
    pooled: bool
    job_ids: tuple[str, ...] = ()


class Runs:
    def __init__(self, audit: AuditTrail, lifecycle: RunLifecycle, clock: Callable[[], datetime]) -> None:
        self.audit = audit
        self.lifecycle = lifecycle
        self.clock = clock

    # -- reads ----------------------------------------------------------------------------------------------------

    async def get(
        self, session: AsyncSession, tenant_id: str, run_id: str, *, for_update: bool = False
    ) -> SequencingRun:
        query = select(SequencingRun).where(SequencingRun.tenant_id == tenant_id, SequencingRun.id == run_id)
        if for_update:
            query = query.with_for_update()
        run = (await session.execute(query)).scalar_one_or_none()
        if run is None:
            raise NotFoundError(f"no sequencing run {run_id}")
        return run

    async def lanes(self, session: AsyncSession, tenant_id: str, run: SequencingRun) -> tuple[LaneView, ...]:
        rows = await session.execute(
            select(SequencingRunLibrary, SequencingLibrary, Sample.barcode)
            .join(SequencingLibrary, SequencingLibrary.id == SequencingRunLibrary.library_id)
            .join(Sample, Sample.id == SequencingLibrary.sample_id)
            .where(SequencingRunLibrary.tenant_id == tenant_id, SequencingRunLibrary.run_id == run.id)
            .order_by(SequencingRunLibrary.lane, SequencingRunLibrary.sheet_sample_id)
        )
        by_lane: dict[int, list[LaneLibrary]] = {}
        for placed, lib, barcode in rows.all():
            by_lane.setdefault(placed.lane, []).append(
                LaneLibrary(
                    lib.id,
                    lib.job_id,
                    lib.sample_id,
                    barcode,
                    placed.sheet_sample_id,
                    lib.i7,
                    lib.i5,
                    lib.requested_reads,
                )
            )
        capacity = run.lane_capacity * (run.lanes or 1) if run.pooled and run.lane_capacity else run.lane_capacity
        return tuple(LaneView(n, capacity, tuple(libs)) for n, libs in sorted(by_lane.items()))

    async def view(self, session: AsyncSession, tenant_id: str, run: SequencingRun) -> RunView:
        lanes = await self.lanes(session, tenant_id, run)
        job_ids = tuple(dict.fromkeys(lib.job_id for lane in lanes for lib in lane.libraries))
        return RunView(run, lanes, job_ids)

    async def list_runs(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        state: RunState | None = None,
        platform: SequencingPlatform | None = None,
        unmatched: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunView]:
        query = select(SequencingRun).where(SequencingRun.tenant_id == tenant_id)
        if state is not None:
            query = query.where(SequencingRun.state == state.value)
        if platform is not None:
            query = query.where(SequencingRun.platform == platform.value)
        if unmatched is not None:
            query = query.where(SequencingRun.origin == ("instrument" if unmatched else "planned"))
        query = query.order_by(SequencingRun.created_at.desc(), SequencingRun.id).limit(limit).offset(offset)
        runs = list((await session.execute(query)).scalars())
        jobs: dict[str, list[str]] = {}
        if runs:
            rows = await session.execute(
                select(SequencingRunLibrary.run_id, SequencingRunLibrary.job_id)
                .where(
                    SequencingRunLibrary.tenant_id == tenant_id,
                    SequencingRunLibrary.run_id.in_([r.id for r in runs]),
                )
                .distinct()
                .order_by(SequencingRunLibrary.run_id, SequencingRunLibrary.job_id)
            )
            for run_id, job_id in rows.all():
                jobs.setdefault(run_id, []).append(job_id)
        return [RunView(run, (), tuple(jobs.get(run.id, ()))) for run in runs]

    # -- planning -------------------------------------------------------------------------------------------------

    def _flow_cell(self, spec: RunSpec) -> tuple[FlowCellSpec, str | None]:
        platform = facts(spec.platform)
        known = ", ".join(f.name for f in platform.flow_cells)
        flow_type = None
        if spec.flowcell_type is not None:
            flow_type = platform.flow_cell(spec.flowcell_type)
            if flow_type is None:
                raise ValidationFailedError(
                    f"{spec.platform.value} has no flow cell type {spec.flowcell_type!r}; known: {known}"
                )
        lanes = spec.lanes or (flow_type.lanes if flow_type else None)
        capacity = spec.lane_capacity or (flow_type.reads_per_lane if flow_type else None)
        if lanes is None or capacity is None:
            raise ValidationFailedError(
                f"give a flowcell_type ({known}), or lanes and lane_capacity_reads for another flow cell"
            )
        if flow_type is not None and lanes > flow_type.lanes:
            raise ValidationFailedError(f"a {flow_type.name} flow cell has {flow_type.lanes} lanes, not {lanes}")
        if platform.vendor == "ont" and lanes != 1:
            raise ValidationFailedError("an Oxford Nanopore run is one flow cell: lanes must be 1")
        pooled = flow_type.pooled if flow_type else False
        return FlowCellSpec(lanes, capacity, pooled), flow_type.name if flow_type else spec.flowcell_type

    async def _queued_jobs(self, session: AsyncSession, principal: Principal, spec: RunSpec) -> list[SequencingJob]:
        ids = list(dict.fromkeys(spec.job_ids))
        if not ids or len(ids) > MAX_JOBS_PER_RUN:
            raise ValidationFailedError(f"a run holds 1 to {MAX_JOBS_PER_RUN} jobs, not {len(ids)}")
        rows = await session.execute(
            select(SequencingJob)
            .where(SequencingJob.tenant_id == principal.tenant_id, SequencingJob.id.in_(ids))
            .with_for_update()
        )
        found = {job.id: job for job in rows.scalars()}
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFoundError(f"no sequencing job {', '.join(missing[:20])}", missing=missing[:100])
        jobs = [found[i] for i in ids]
        problems = [
            f"job {job.name} is {job.state}; only queued jobs can be planned"
            for job in jobs
            if job.state != JobState.QUEUED.value
        ]
        problems += [
            f"job {job.name} is for {job.platform}, not {spec.platform.value}"
            for job in jobs
            if job.platform != spec.platform.value
        ]
        if problems:
            raise ConflictError("; ".join(problems[:20]), problems=problems)
        return jobs

    async def _check_names(self, session: AsyncSession, tenant_id: str, name: str, flow_cell: str | None) -> None:
        taken = await session.execute(
            select(SequencingRun.id).where(SequencingRun.tenant_id == tenant_id, SequencingRun.name == name)
        )
        if taken.first() is not None:
            raise ConflictError(f"a run named {name} exists; give this one another name")
        if flow_cell:
            await self._check_flow_cell_free(session, tenant_id, flow_cell, None)

    async def _check_flow_cell_free(
        self, session: AsyncSession, tenant_id: str, flow_cell: str, run_id: str | None
    ) -> None:
        keys = flow_cell_keys(flow_cell)
        rows = await session.execute(
            select(SequencingRun.name, SequencingRun.flow_cell).where(
                SequencingRun.tenant_id == tenant_id,
                SequencingRun.state.in_(_ACTIVE_RUNS),
                SequencingRun.flow_cell.is_not(None),
                SequencingRun.id != (run_id or ""),
            )
        )
        for name, other in rows.all():
            if flow_cell_keys(other) & keys:
                raise ConflictError(f"flow cell {flow_cell} is already on run {name}")

    async def _plan_libraries(
        self, session: AsyncSession, tenant_id: str, jobs: Sequence[SequencingJob]
    ) -> list[PlanLibrary]:
        order = {job.id: n for n, job in enumerate(jobs)}
        names = {job.id: sheet_name(job.name, "job") for job in jobs}
        rows = await session.execute(
            select(SequencingLibrary, Sample.barcode)
            .join(Sample, Sample.id == SequencingLibrary.sample_id)
            .where(SequencingLibrary.tenant_id == tenant_id, SequencingLibrary.job_id.in_(list(order)))
        )
        found = sorted(rows.all(), key=lambda row: (order[row[0].job_id], row[0].position))
        return [
            PlanLibrary(
                lib.id, lib.job_id, sheet_name(barcode, f"L{n}"), lib.i7, lib.i5, lib.requested_reads, names[lib.job_id]
            )
            for n, (lib, barcode) in enumerate(found, start=1)
        ]

    async def plan(
        self, session: AsyncSession, principal: Principal, spec: RunSpec, *, dry_run: bool = False
    ) -> RunView | PlanPreview:
        """A planned run, or (``dry_run``) the plan without saving it. Refuses (``RunPlanRefusedError``, 422) a plan
        with any problem, listing each: index collisions per lane, what the sample sheet could not hold."""
        flow_cell, flowcell_type = self._flow_cell(spec)
        jobs = await self._queued_jobs(session, principal, spec)
        await self._check_names(session, principal.tenant_id, spec.name, spec.flow_cell)
        libraries = await self._plan_libraries(session, principal.tenant_id, jobs)
        read_lengths = [(job.read1_cycles or 0, job.read2_cycles) for job in jobs]
        plan = plan_run(spec.name, spec.platform, libraries, flow_cell, read_lengths, spec.mismatches)
        barcodes = await self._barcodes(session, principal.tenant_id, libraries)
        lanes = _lane_views(plan, barcodes)
        if dry_run:
            return PlanPreview(
                lanes,
                plan.problems,
                plan.cycles,
                flow_cell.lanes,
                flow_cell.lane_capacity,
                flow_cell.pooled,
                tuple(job.id for job in jobs),
            )
        if plan.problems:
            first = plan.problems[0].message
            raise RunPlanRefusedError(
                f"the run cannot be loaded as planned ({len(plan.problems)} problem(s)); first: {first}",
                problems=[p.to_dict() for p in plan.problems],
            )
        return await self._save(session, principal, spec, flow_cell, flowcell_type, plan, jobs)

    async def _barcodes(
        self, session: AsyncSession, tenant_id: str, libraries: Sequence[PlanLibrary]
    ) -> dict[str, tuple[str, str]]:
        if not libraries:
            return {}
        rows = await session.execute(
            select(SequencingLibrary.id, Sample.id, Sample.barcode)
            .join(Sample, Sample.id == SequencingLibrary.sample_id)
            .where(
                SequencingLibrary.tenant_id == tenant_id, SequencingLibrary.id.in_([x.library_id for x in libraries])
            )
        )
        return {library_id: (sample_id, barcode) for library_id, sample_id, barcode in rows.all()}

    async def _save(
        self,
        session: AsyncSession,
        principal: Principal,
        spec: RunSpec,
        flow_cell: FlowCellSpec,
        flowcell_type: str | None,
        plan: RunPlan,
        jobs: Sequence[SequencingJob],
    ) -> RunView:
        now = self.clock()
        cycles = plan.cycles
        run = SequencingRun(
            id=new_id(),
            tenant_id=principal.tenant_id,
            name=spec.name,
            origin="planned",
            state=RunState.PLANNED.value,
            platform=spec.platform.value,
            flowcell_type=flowcell_type,
            lanes=flow_cell.lanes,
            lane_capacity=flow_cell.lane_capacity,
            pooled=flow_cell.pooled,
            read1_cycles=cycles.read1 if cycles else None,
            read2_cycles=cycles.read2 if cycles else None,
            index1_cycles=cycles.index1 if cycles else None,
            index2_cycles=cycles.index2 if cycles else None,
            mismatches1=spec.mismatches[0],
            mismatches2=spec.mismatches[1],
            flow_cell=spec.flow_cell,
            cycles_done=0,
            reads_completed={"reads": []},
            stalled=False,
            instrument_metadata={},
            version=1,
            created_by=principal.label,
            created_at=now,
            updated_at=now,
        )
        session.add(run)
        await session.flush()
        session.add_all(
            SequencingRunLibrary(
                run_id=run.id,
                library_id=lib.library_id,
                tenant_id=principal.tenant_id,
                job_id=lib.job_id,
                lane=lane.number,
                sheet_sample_id=lib.sheet_id,
            )
            for lane in plan.lanes
            for lib in lane.libraries
        )
        facts_ = {
            "name": run.name,
            "platform": run.platform,
            "flowcell_type": run.flowcell_type,
            "lanes": run.lanes,
            "flow_cell": run.flow_cell,
            "jobs": [job.id for job in jobs],
            "libraries": sum(len(lane.libraries) for lane in plan.lanes),
            "state": run.state,
        }
        await record_change(
            self.audit,
            session,
            principal,
            action="create",
            record_type="sequencing_run",
            record_id=run.id,
            event="run_planned",
            reason=None,
            new=facts_,
        )
        for job in jobs:
            job.run_id = run.id
            await self.lifecycle.move_job(
                session, principal, job, JobState.PLANNED, reason=f"planned on run {run.name}"
            )
        await session.flush()
        return await self.view(session, principal.tenant_id, run)

    # -- changes by hand ------------------------------------------------------------------------------------------

    async def update(
        self,
        session: AsyncSession,
        principal: Principal,
        run_id: str,
        *,
        reason: str,
        flow_cell: str | None = None,
        name: str | None = None,
    ) -> RunView:
        """Set a planned run's flow cell (so the instrument's events find it) or its name."""
        run = await self.get(session, principal.tenant_id, run_id, for_update=True)
        if run.state != RunState.PLANNED.value:
            raise ConflictError(f"run {run.name} is {run.state}; only a planned run can be changed")
        old: dict[str, str | None] = {}
        new: dict[str, str | None] = {}
        if name is not None and name != run.name:
            await self._check_names(session, principal.tenant_id, name, None)
            old["name"], new["name"], run.name = run.name, name, name
        if flow_cell is not None and flow_cell != run.flow_cell:
            await self._check_flow_cell_free(session, principal.tenant_id, flow_cell, run.id)
            old["flow_cell"], new["flow_cell"], run.flow_cell = run.flow_cell, flow_cell, flow_cell
        if new:
            run.version += 1
            run.updated_at = self.clock()
            await record_change(
                self.audit,
                session,
                principal,
                record_type="sequencing_run",
                record_id=run.id,
                event="run_updated",
                reason=reason,
                old=old,
                new=new,
            )
        return await self.view(session, principal.tenant_id, run)

    async def cancel(self, session: AsyncSession, principal: Principal, run_id: str, *, reason: str) -> RunView:
        """Cancel a run plan: its jobs go back to the queue, keeping their place."""
        run = await self.get(session, principal.tenant_id, run_id, for_update=True)
        if run.state != RunState.PLANNED.value:
            raise ConflictError(f"run {run.name} is {run.state}; only a planned run can be cancelled")
        run.state_reason = reason
        await self.lifecycle.change_run(session, principal, run, RunState.CANCELLED, reason=reason)
        for job in await self.lifecycle.jobs_on(session, principal.tenant_id, run.id, [JobState.PLANNED]):
            await self.lifecycle.move_job(
                session, principal, job, JobState.QUEUED, reason=f"run {run.name} cancelled: {reason}"
            )
        return await self.view(session, principal.tenant_id, run)

    async def link(
        self, session: AsyncSession, principal: Principal, run_id: str, *, planned_run_id: str, reason: str
    ) -> RunView:
        """Link a run recorded from an instrument (``run_id``) to the plan it was (``planned_run_id``): the plan takes
        the instrument's facts and state, its jobs and samples follow, and the recorded run is marked merged."""
        source = await self.get(session, principal.tenant_id, run_id, for_update=True)
        target = await self.get(session, principal.tenant_id, planned_run_id, for_update=True)
        if source.origin != "instrument" or source.state == RunState.MERGED.value:
            raise ConflictError(f"run {source.name} is not an unlinked run recorded from an instrument")
        if target.id == source.id or target.origin != "planned" or target.state != RunState.PLANNED.value:
            raise ConflictError(f"run {target.name} is {target.state}; link to a planned run that has not started")
        instrument_run_id, state = source.instrument_run_id, RunState(source.state)
        source.instrument_run_id = None  # unique per tenant: free it before the plan takes it
        source.merged_into_id = target.id
        await session.flush()
        for column in (
            "instrument",
            "instrument_platform",
            "device_id",
            "cycles_total",
            "reads_completed",
            "instrument_metadata",
            "qc",
            "stalled",
            "stalled_since",
            "last_event_at",
            "started_at",
        ):
            setattr(target, column, getattr(source, column))
        target.instrument_run_id = instrument_run_id
        target.flow_cell = source.flow_cell or target.flow_cell
        target.cycles_done = source.cycles_done
        moved = {"merged_into": target.id, "instrument_run_id": instrument_run_id}
        await self.lifecycle.change_run(session, principal, source, RunState.MERGED, reason=reason, payload=moved)
        why = f"linked to instrument run {instrument_run_id}: {reason}"
        if state == RunState.COMPLETED:
            await self.lifecycle.complete(session, principal, target, at=source.ended_at, reason=why, qc=source.qc)
        elif state == RunState.FAILED:
            failed = f"{why}; the instrument's run failed: {source.state_reason or 'no reason given'}"
            await self.lifecycle.fail(session, principal, target, at=source.ended_at, reason=failed)
        else:
            await self.lifecycle.start(session, principal, target, at=source.started_at, reason=why)
        return await self.view(session, principal.tenant_id, target)

    # -- the sample sheet -----------------------------------------------------------------------------------------

    async def sample_sheet(self, session: AsyncSession, tenant_id: str, run_id: str) -> str:
        """The run's v2 sample sheet, generated and checked as BCL Convert would read it."""
        run = await self.get(session, tenant_id, run_id)
        if run.platform is None or run.origin != "planned" or run.read1_cycles is None:
            raise ConflictError(f"run {run.name} was not planned here for an Illumina instrument: it has no sheet")
        platform = SequencingPlatform(run.platform)
        if facts(platform).vendor != "illumina":
            raise ConflictError(f"run {run.name} is an Oxford Nanopore run: there is no Illumina sample sheet")
        views = await self.lanes(session, tenant_id, run)
        job_ids = list({lib.job_id for lane in views for lib in lane.libraries})
        rows = await session.execute(
            select(SequencingJob.id, SequencingJob.name).where(
                SequencingJob.tenant_id == tenant_id, SequencingJob.id.in_(job_ids)
            )
        )
        projects = {job_id: sheet_name(name, "job") for job_id, name in rows.all()}
        lanes = [
            PlannedLane(
                lane.number,
                lane.capacity or 0,
                tuple(
                    PlanLibrary(
                        lib.library_id,
                        lib.job_id,
                        lib.sheet_sample_id,
                        lib.i7,
                        lib.i5,
                        lib.requested_reads,
                        projects[lib.job_id],
                    )
                    for lib in lane.libraries
                ),
            )
            for lane in views
        ]
        cycles = Cycles(run.read1_cycles, run.read2_cycles or 0, run.index1_cycles or 0, run.index2_cycles or 0)
        request = sheet_request(
            run.name, platform, cycles, lanes, pooled=run.pooled, mismatches=(run.mismatches1, run.mismatches2)
        )
        return render_sheet(build_sheet(request))


def _lane_views(plan: RunPlan, barcodes: dict[str, tuple[str, str]]) -> tuple[LaneView, ...]:
    return tuple(
        LaneView(
            lane.number,
            lane.capacity,
            tuple(
                LaneLibrary(
                    lib.library_id,
                    lib.job_id,
                    barcodes.get(lib.library_id, ("", ""))[0],
                    barcodes.get(lib.library_id, ("", ""))[1],
                    lib.sheet_id,
                    lib.i7,
                    lib.i5,
                    lib.requested_reads,
                )
                for lib in lane.libraries
            ),
        )
        for lane in plan.lanes
    )
