"""Sequencing: jobs and the queue, run plans with their sample sheets, and runs as the instruments report them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.sequencing_models import SequencingJob, SequencingRun
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.domain.sequencing import JobView, NewJob, NewLibrary, QueueEntry
from hub.domain.sequencing_plan import Cycles, PlanProblem
from hub.domain.sequencing_platforms import SequencingPlatform
from hub.domain.sequencing_queue import Priority
from hub.domain.sequencing_runs import LaneView, PlanPreview, RunSpec, RunView
from hub.domain.sequencing_states import JobState, RunState

router = APIRouter(prefix="/v1/sequencing", tags=["sequencing"])

CanRead = Annotated[Principal, Depends(require(Permission.SEQUENCING_READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.SEQUENCING_WRITE))]
JobId = Annotated[str, Field(max_length=64)]
RunId = Annotated[str, Field(max_length=64)]
Reason = Annotated[str, Field(min_length=3, max_length=1000, description="why (kept in the audit trail)")]
IndexText = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


# -- schemas ----------------------------------------------------------------------------------------------------


class LibraryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_id: Annotated[str, Field(min_length=1, max_length=64)]
    index: IndexText = Field(description="i7 as the kit lists it; for Nanopore the barcode name (barcode01)")
    index2: IndexText | None = Field(default=None, description="i5 as the kit lists it (forward strand)")
    requested_reads: Annotated[int | None, Field(ge=1, le=10**12)] = None


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    platform: SequencingPlatform
    priority: Priority = Priority.NORMAL
    read_lengths: Annotated[str | None, Field(max_length=16, description="2x151, 1x75 or 151,101")] = None
    libraries: Annotated[list[LibraryCreate], Field(min_length=1, max_length=1000)]
    requested_reads: Annotated[
        int | None, Field(ge=1, le=10**13, description="the job's total; shared evenly when libraries give none")
    ] = None
    requeue_on_failure: bool = Field(default=False, description="queue the job again at once if its run fails")
    note: Annotated[str | None, Field(max_length=2000)] = None


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class LibraryPublic(BaseModel):
    id: str
    sample_id: str
    sample_barcode: str
    sample_state: str
    index: str
    index2: str
    requested_reads: int


class JobSummary(BaseModel):
    id: str
    name: str
    platform: SequencingPlatform
    priority: Priority
    state: JobState
    requested_reads: int
    read_lengths: str | None
    requeue_on_failure: bool
    run_id: str | None
    note: str | None
    state_reason: str | None
    queued_at: datetime
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, job: SequencingJob) -> dict[str, Any]:
        lengths = None
        if job.read1_cycles is not None and not job.read2_cycles:
            lengths = f"1x{job.read1_cycles}"
        elif job.read1_cycles is not None:
            same = job.read2_cycles == job.read1_cycles
            lengths = f"2x{job.read1_cycles}" if same else f"{job.read1_cycles},{job.read2_cycles}"
        return {
            "id": job.id,
            "name": job.name,
            "platform": SequencingPlatform(job.platform),
            "priority": Priority(job.priority),
            "state": JobState(job.state),
            "requested_reads": job.requested_reads,
            "read_lengths": lengths,
            "requeue_on_failure": job.requeue_on_failure,
            "run_id": job.run_id,
            "note": job.note,
            "state_reason": job.state_reason,
            "queued_at": job.queued_at,
            "version": job.version,
            "created_by": job.created_by,
            "created_at": job.created_at,
            "updated_at": job.updated_at,
        }

    @classmethod
    def of(cls, job: SequencingJob) -> JobSummary:
        return cls(**cls.fields_of(job))


class JobPublic(JobSummary):
    libraries: list[LibraryPublic]
    warnings: list[str] = Field(default_factory=list, description="index collisions within the job, at creation")

    @classmethod
    def of_view(cls, view: JobView) -> JobPublic:
        libraries = [
            LibraryPublic(
                id=v.library.id,
                sample_id=v.library.sample_id,
                sample_barcode=v.barcode,
                sample_state=v.sample_state,
                index=v.library.i7,
                index2=v.library.i5,
                requested_reads=v.library.requested_reads,
            )
            for v in view.libraries
        ]
        return cls(**JobSummary.fields_of(view.job), libraries=libraries, warnings=list(view.warnings))


class QueueEntryPublic(BaseModel):
    position: int
    job_id: str
    name: str
    platform: SequencingPlatform
    priority: Priority
    effective_priority: Priority
    promoted_by: int = Field(description="bands ageing has moved the job up")
    waited_s: int
    queued_at: datetime
    requested_reads: int
    libraries: int

    @classmethod
    def of(cls, entry: QueueEntry) -> QueueEntryPublic:
        job, ranked = entry.job, entry.ranked
        return cls(
            position=ranked.position,
            job_id=job.id,
            name=job.name,
            platform=SequencingPlatform(job.platform),
            priority=Priority(job.priority),
            effective_priority=ranked.effective,
            promoted_by=ranked.promoted,
            waited_s=int(ranked.waited.total_seconds()),
            queued_at=job.queued_at,
            requested_reads=job.requested_reads,
            libraries=entry.libraries,
        )


class QueuePublic(BaseModel):
    as_of: datetime
    ageing_every_hours: float = Field(description="a waiting job moves up one priority band per this many hours")
    ageing_ceiling: Priority = Field(description="the band ageing stops at")
    jobs: list[QueueEntryPublic]


class RunPlanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[
        str,
        Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", description="the run name (RunName in the sample sheet)"),
    ]
    platform: SequencingPlatform
    job_ids: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=200)]
    flowcell_type: Annotated[str | None, Field(max_length=32, description="10B, S4, P3, v3, High…")] = None
    lanes: Annotated[int | None, Field(ge=1, le=8)] = None
    lane_capacity_reads: Annotated[int | None, Field(ge=1, le=10**12)] = None
    barcode_mismatches_index1: Annotated[int, Field(ge=0, le=2)] = 1
    barcode_mismatches_index2: Annotated[int, Field(ge=0, le=2)] = 1
    flow_cell: Annotated[
        str | None, Field(pattern=r"^[A-Za-z0-9-]{1,64}$", description="the flow cell id, when known")
    ] = None
    dry_run: bool = Field(default=False, description="plan and check without saving (200, with every problem)")


class RunUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason
    flow_cell: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9-]{1,64}$")] = None
    name: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")] = None


class RunLink(BaseModel):
    model_config = ConfigDict(extra="forbid")
    planned_run_id: Annotated[str, Field(max_length=64)]
    reason: Reason


class CyclesPublic(BaseModel):
    read1: int
    index1: int
    index2: int
    read2: int

    @classmethod
    def of(cls, cycles: Cycles | None) -> CyclesPublic | None:
        if cycles is None:
            return None
        return cls(read1=cycles.read1, index1=cycles.index1, index2=cycles.index2, read2=cycles.read2)


class LaneLibraryPublic(BaseModel):
    library_id: str
    job_id: str
    sample_id: str
    sample_barcode: str
    sheet_sample_id: str
    index: str
    index2: str
    requested_reads: int


class LanePublic(BaseModel):
    lane: int
    capacity_reads: int | None
    requested_reads: int
    fill: float | None
    libraries: list[LaneLibraryPublic]

    @classmethod
    def of(cls, lane: LaneView) -> LanePublic:
        return cls(
            lane=lane.number,
            capacity_reads=lane.capacity,
            requested_reads=lane.reads,
            fill=round(lane.reads / lane.capacity, 4) if lane.capacity else None,
            libraries=[
                LaneLibraryPublic(
                    library_id=lib.library_id,
                    job_id=lib.job_id,
                    sample_id=lib.sample_id,
                    sample_barcode=lib.barcode,
                    sheet_sample_id=lib.sheet_sample_id,
                    index=lib.i7,
                    index2=lib.i5,
                    requested_reads=lib.requested_reads,
                )
                for lib in lane.libraries
            ],
        )


class ProblemPublic(BaseModel):
    code: str
    message: str
    lane: int | None
    samples: list[str]

    @classmethod
    def of(cls, problem: PlanProblem) -> ProblemPublic:
        return cls(code=problem.code, message=problem.message, lane=problem.lane, samples=list(problem.samples))


class RunPublic(BaseModel):
    id: str
    name: str
    origin: str = Field(description="planned here, or recorded from an instrument's events without a plan")
    state: RunState
    platform: SequencingPlatform | None
    flowcell_type: str | None
    lane_count: int | None
    lane_capacity_reads: int | None
    pooled: bool
    cycles: CyclesPublic | None
    barcode_mismatches: list[int]
    flow_cell: str | None
    instrument_run_id: str | None
    instrument: str | None
    instrument_platform: str | None
    device_id: str | None
    cycles_done: int
    cycles_total: int | None
    percent: int | None
    reads_completed: list[int]
    stalled: bool
    stalled_since: datetime | None
    qc: dict[str, Any] | None
    metadata: dict[str, Any]
    state_reason: str | None
    started_at: datetime | None
    ended_at: datetime | None
    last_event_at: datetime | None
    merged_into: str | None
    job_ids: list[str]
    lanes: list[LanePublic] | None = Field(description="the lane plan; only when one run is read")
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: RunView, *, with_lanes: bool = True) -> RunPublic:
        run: SequencingRun = view.run
        cycles = None
        if run.read1_cycles is not None:
            cycles = Cycles(run.read1_cycles, run.read2_cycles or 0, run.index1_cycles or 0, run.index2_cycles or 0)
        percent = run.cycles_done * 100 // run.cycles_total if run.cycles_total else None
        reads = run.reads_completed.get("reads", [])
        return cls(
            id=run.id,
            name=run.name,
            origin=run.origin,
            state=RunState(run.state),
            platform=SequencingPlatform(run.platform) if run.platform else None,
            flowcell_type=run.flowcell_type,
            lane_count=run.lanes,
            lane_capacity_reads=run.lane_capacity,
            pooled=run.pooled,
            cycles=CyclesPublic.of(cycles),
            barcode_mismatches=[run.mismatches1, run.mismatches2],
            flow_cell=run.flow_cell,
            instrument_run_id=run.instrument_run_id,
            instrument=run.instrument,
            instrument_platform=run.instrument_platform,
            device_id=run.device_id,
            cycles_done=run.cycles_done,
            cycles_total=run.cycles_total,
            percent=min(percent, 100) if percent is not None else None,
            reads_completed=[int(r) for r in reads if isinstance(r, int)],
            stalled=run.stalled,
            stalled_since=run.stalled_since,
            qc=run.qc,
            metadata=run.instrument_metadata,
            state_reason=run.state_reason,
            started_at=run.started_at,
            ended_at=run.ended_at,
            last_event_at=run.last_event_at,
            merged_into=run.merged_into_id,
            job_ids=list(view.job_ids),
            lanes=[LanePublic.of(lane) for lane in view.lanes] if with_lanes else None,
            version=run.version,
            created_by=run.created_by,
            created_at=run.created_at,
            updated_at=run.updated_at,
        )


class RunPlanPreview(BaseModel):
    ok: bool
    problems: list[ProblemPublic]
    lane_count: int
    lane_capacity_reads: int
    pooled: bool
    cycles: CyclesPublic | None
    job_ids: list[str]
    lanes: list[LanePublic]

    @classmethod
    def of(cls, preview: PlanPreview) -> RunPlanPreview:
        return cls(
            ok=not preview.problems,
            problems=[ProblemPublic.of(p) for p in preview.problems],
            lane_count=preview.lane_count,
            lane_capacity_reads=preview.lane_capacity,
            pooled=preview.pooled,
            cycles=CyclesPublic.of(preview.cycles),
            job_ids=list(preview.job_ids),
            lanes=[LanePublic.of(lane) for lane in preview.lanes],
        )


# -- jobs and the queue -----------------------------------------------------------------------------------------


@router.post("/jobs", status_code=201)
async def create_job(body: JobCreate, principal: CanWrite, state: StateDep, session: SessionDep) -> JobPublic:
    """Queue a job. Its libraries are samples that are stored or in preparation, each in one active job at most.
    ``warnings`` names libraries of the job whose indexes would collide in one lane."""
    spec = NewJob(
        name=body.name,
        platform=body.platform,
        priority=body.priority,
        read_lengths=body.read_lengths,
        requested_reads=body.requested_reads,
        requeue_on_failure=body.requeue_on_failure,
        note=body.note,
        libraries=[NewLibrary(x.sample_id, x.index, x.index2, x.requested_reads) for x in body.libraries],
    )
    return JobPublic.of_view(await state.sequencing.create_job(session, principal, spec))


@router.get("/jobs")
async def list_jobs(
    principal: CanRead,
    state: StateDep,
    session: ReadSessionDep,
    job_state: Annotated[JobState | None, Query(alias="state")] = None,
    platform: SequencingPlatform | None = None,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[JobSummary]:
    """Newest first."""
    jobs = await state.sequencing.list_jobs(
        session, principal.tenant_id, state=job_state, platform=platform, run_id=run_id, limit=limit, offset=offset
    )
    return [JobSummary.of(job) for job in jobs]


@router.get("/jobs/{job_id}")
async def get_job(job_id: JobId, principal: CanRead, state: StateDep, session: ReadSessionDep) -> JobPublic:
    job = await state.sequencing.get_job(session, principal.tenant_id, job_id)
    return JobPublic.of_view(await state.sequencing.job_view(session, principal.tenant_id, job))


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(
    job_id: JobId, body: ReasonBody, principal: CanWrite, state: StateDep, session: SessionDep
) -> JobPublic:
    """Cancel a queued, planned or failed job (a planned one leaves its run plan and sample sheet)."""
    return JobPublic.of_view(await state.sequencing.cancel_job(session, principal, job_id, reason=body.reason))


@router.post("/jobs/{job_id}/requeue")
async def requeue_job(
    job_id: JobId, body: ReasonBody, principal: CanWrite, state: StateDep, session: SessionDep
) -> JobPublic:
    """Queue a failed job again; it keeps its original place (its waiting time counts from its first queueing)."""
    return JobPublic.of_view(await state.sequencing.requeue_job(session, principal, job_id, reason=body.reason))


@router.get("/queue")
async def queue(
    principal: CanRead, state: StateDep, session: ReadSessionDep, platform: SequencingPlatform | None = None
) -> QueuePublic:
    """Queued jobs in the order to run them: effective priority (one band up per ageing step waited, never above
    the ceiling), then first queued first."""
    sequencing = state.sequencing
    entries = await sequencing.queue(session, principal.tenant_id, platform=platform)
    return QueuePublic(
        as_of=sequencing.now(),
        ageing_every_hours=sequencing.ageing.every.total_seconds() / 3600,
        ageing_ceiling=sequencing.ageing.ceiling,
        jobs=[QueueEntryPublic.of(e) for e in entries],
    )


# -- runs -------------------------------------------------------------------------------------------------------


@router.post("/runs", status_code=201, responses={200: {"description": "a dry run: the plan and its problems"}})
async def plan_run(
    body: RunPlanCreate, principal: CanWrite, state: StateDep, session: SessionDep, response: Response
) -> RunPublic | RunPlanPreview:
    """Plan a run from queued jobs: libraries packed into lanes by requested reads, colliding indexes kept apart
    where lanes allow, and every remaining problem (index collisions per lane at the allowed mismatches, what the
    sample sheet cannot hold) refused with 422 and listed in ``problems``. ``dry_run`` answers 200 with the plan
    and its problems, and saves nothing."""
    spec = RunSpec(
        name=body.name,
        platform=body.platform,
        job_ids=body.job_ids,
        flowcell_type=body.flowcell_type,
        lanes=body.lanes,
        lane_capacity=body.lane_capacity_reads,
        mismatches=(body.barcode_mismatches_index1, body.barcode_mismatches_index2),
        flow_cell=body.flow_cell,
    )
    planned = await state.sequencing.runs.plan(session, principal, spec, dry_run=body.dry_run)
    if isinstance(planned, PlanPreview):
        response.status_code = 200
        return RunPlanPreview.of(planned)
    return RunPublic.of(planned)


@router.get("/runs")
async def list_runs(
    principal: CanRead,
    state: StateDep,
    session: ReadSessionDep,
    run_state: Annotated[RunState | None, Query(alias="state")] = None,
    platform: SequencingPlatform | None = None,
    unmatched: Annotated[bool | None, Query(description="only runs recorded from an instrument without a plan")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[RunPublic]:
    """Newest first; the lane plans are left out (read one run for its lanes)."""
    views = await state.sequencing.runs.list_runs(
        session,
        principal.tenant_id,
        state=run_state,
        platform=platform,
        unmatched=unmatched,
        limit=limit,
        offset=offset,
    )
    return [RunPublic.of(view, with_lanes=False) for view in views]


@router.get("/runs/{run_id}")
async def get_run(run_id: RunId, principal: CanRead, state: StateDep, session: ReadSessionDep) -> RunPublic:
    runs = state.sequencing.runs
    return RunPublic.of(
        await runs.view(session, principal.tenant_id, await runs.get(session, principal.tenant_id, run_id))
    )


@router.patch("/runs/{run_id}")
async def update_run(
    run_id: RunId, body: RunUpdate, principal: CanWrite, state: StateDep, session: SessionDep
) -> RunPublic:
    """Set a planned run's flow cell (the instrument's events then find it) or its name."""
    view = await state.sequencing.runs.update(
        session, principal, run_id, reason=body.reason, flow_cell=body.flow_cell, name=body.name
    )
    return RunPublic.of(view)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(
    run_id: RunId, body: ReasonBody, principal: CanWrite, state: StateDep, session: SessionDep
) -> RunPublic:
    """Cancel a run plan that has not started; its jobs go back to the queue, keeping their place."""
    return RunPublic.of(await state.sequencing.runs.cancel(session, principal, run_id, reason=body.reason))


@router.post("/runs/{run_id}/link")
async def link_run(
    run_id: RunId, body: RunLink, principal: CanWrite, state: StateDep, session: SessionDep
) -> RunPublic:
    """Link a run recorded from an instrument without a plan (``run_id``) to its plan (``planned_run_id``): the plan
    takes the instrument's facts and state, its jobs and samples follow, the recorded run is marked merged."""
    view = await state.sequencing.runs.link(
        session, principal, run_id, planned_run_id=body.planned_run_id, reason=body.reason
    )
    return RunPublic.of(view)


@router.get(
    "/runs/{run_id}/samplesheet",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "a v2 sample sheet for BCL Convert"}},
)
async def sample_sheet(run_id: RunId, principal: CanRead, state: StateDep, session: ReadSessionDep) -> Response:
    """The planned run's v2 sample sheet (BCL Convert), Index2 written as the instrument needs it; generated and
    checked as BCL Convert would read it."""
    text = await state.sequencing.runs.sample_sheet(session, principal.tenant_id, run_id)
    run = await state.sequencing.runs.get(session, principal.tenant_id, run_id)
    return Response(
        content=text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="SampleSheet_{run.name}.csv"'},
    )
