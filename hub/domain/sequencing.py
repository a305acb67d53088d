"""Sequencing: jobs and the queue here; runs in ``sequencing_runs``; run events from the edges in
``sequencing_tracking`` (``Sequencing.on_device_events`` is the ingest's device-event handler).

A job asks for libraries (samples that are stored or in preparation, with their indexes) to be sequenced on a
platform; it waits in the queue, ordered by priority with ageing (``sequencing_queue``), until a run is planned for
it. Samples move only through ``Samples.transition_many``. Every change is audited and published as a
``sequencing.*`` event in the caller's transaction; every query is scoped to the caller's tenant.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.sample_models import Sample
from hub.db.sequencing_models import SequencingJob, SequencingLibrary, SequencingRunLibrary
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.samples import MAX_BATCH, Samples
from hub.domain.sequencing_lifecycle import RunLifecycle
from hub.domain.sequencing_moves import record_change
from hub.domain.sequencing_platforms import SequencingPlatform, facts, index_problem
from hub.domain.sequencing_queue import Ageing, Priority, Ranked, Waiting, rank_queue
from hub.domain.sequencing_runs import Runs
from hub.domain.sequencing_states import ACTIVE_JOB_STATES, JobState
from hub.domain.sequencing_tracking import RunTracker
from hub.errors import ConflictError, NotFoundError, ValidationFailedError
from hub.samplesheet import Barcoded, find_collisions

MAX_LIBRARIES = MAX_BATCH  # samples moved in one call; more go in several jobs
LIBRARY_STATES = frozenset({SampleState.STORED.value, SampleState.IN_PREPARATION.value})
_READ_LENGTHS = re.compile(r"^\s*(?:([12])\s*[xX]\s*(\d{1,3})|(\d{1,3})\s*(?:[,+]\s*(\d{1,3}))?)\s*$")


def parse_read_lengths(text: str) -> tuple[int, int]:
    """``"2x151"`` → (151, 151); ``"1x75"`` and ``"75"`` → (75, 0); ``"151,101"`` or ``"151+101"`` → (151, 101)."""
    match = _READ_LENGTHS.match(text)
    if match is None:
        raise ValidationFailedError(f"read lengths {text!r}: write 2x151, 1x75, or 151,101")
    if match.group(1):
        length = int(match.group(2))
        lengths = (length, length if match.group(1) == "2" else 0)
    else:
        lengths = (int(match.group(3)), int(match.group(4) or 0))
    if lengths[0] < 1 or not 0 <= lengths[1] <= 999:
        raise ValidationFailedError(f"read lengths {text!r}: each read is 1 to 999 cycles")
    return lengths


@dataclass(frozen=True, slots=True)
class NewLibrary:
    sample_id: str
    index: str
    index2: str | None = None
    requested_reads: int | None = None


@dataclass(frozen=True, slots=True)
class NewJob:
    name: str
    platform: SequencingPlatform
    libraries: Sequence[NewLibrary]
    priority: Priority = Priority.NORMAL
    read_lengths: str | None = None
    requested_reads: int | None = None
    requeue_on_failure: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class LibraryView:
    library: SequencingLibrary
    barcode: str
    sample_state: str


@dataclass(frozen=True, slots=True)
class JobView:
    job: SequencingJob
    libraries: tuple[LibraryView, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueEntry:
    ranked: Ranked
    job: SequencingJob
    libraries: int


class Sequencing:
    """``ageing``: how the queue promotes waiting jobs; ``clock``: aware UTC now (tests pass their own)."""

    def __init__(
        self,
        audit: AuditTrail,
        samples: Samples,
        *,
        ageing: Ageing | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.audit = audit
        self.samples = samples
        self.ageing = ageing or Ageing()
        self.clock = clock
        self.lifecycle = RunLifecycle(self.audit, self.samples, self.now)
        self.runs = Runs(self.audit, self.lifecycle, self.now)
        self.tracker = RunTracker(self.audit, self.lifecycle, self.now)

    def now(self) -> datetime:
        """Read through ``self.clock`` on every call, so a test that swaps the clock changes every part."""
        return self.clock()

    async def on_device_events(
        self, session: AsyncSession, principal: Principal, events: Sequence[Mapping[str, Any]]
    ) -> None:
        """The ingest's device-event handler (``hub.domain.ingest.DeviceEventHandler``): run-folder events."""
        await self.tracker.handle(session, principal, events)

    # -- jobs -----------------------------------------------------------------------------------------------------

    async def create_job(self, session: AsyncSession, principal: Principal, spec: NewJob) -> JobView:
        """Queue a job. Refuses (422) bad indexes, read lengths or read counts, listing each; (404) unknown samples;
        (409) samples that are not stored or in preparation, or already in another active job."""
        platform = facts(spec.platform)
        problems: list[str] = []
        if not spec.libraries or len(spec.libraries) > MAX_LIBRARIES:
            raise ValidationFailedError(f"a job holds 1 to {MAX_LIBRARIES} libraries, not {len(spec.libraries)}")
        read1, read2 = None, 0
        if spec.read_lengths is not None:
            read1, read2 = parse_read_lengths(spec.read_lengths)
        elif platform.vendor == "illumina":
            problems.append("read_lengths are needed for an Illumina job (2x151, 1x75…)")
        ids = [lib.sample_id for lib in spec.libraries]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        problems += [f"sample {i} is given twice; one library per sample" for i in twice]
        for n, lib in enumerate(spec.libraries, start=1):
            for what, value in (("index", lib.index), ("index2", lib.index2)):
                why = index_problem(spec.platform, value, f"library {n} {what}") if value else None
                if why:
                    problems.append(why)
            if platform.vendor == "ont" and lib.index2:
                problems.append(f"library {n}: a Nanopore barcode has no index2")
        reads = _split_reads(spec, problems)
        if problems:
            raise ValidationFailedError("; ".join(problems[:20]), problems=problems)
        samples = await self.samples.load_many(session, principal.tenant_id, ids)  # locked: one active job each
        await self._check_free(session, principal.tenant_id, samples)
        now = self.now()
        job = SequencingJob(
            id=new_id(),
            tenant_id=principal.tenant_id,
            name=spec.name,
            platform=spec.platform.value,
            priority=spec.priority.value,
            state=JobState.QUEUED.value,
            requested_reads=sum(reads),
            read1_cycles=read1,
            read2_cycles=read2,
            requeue_on_failure=spec.requeue_on_failure,
            note=spec.note,
            queued_at=now,
            version=1,
            created_by=principal.label,
            created_at=now,
            updated_at=now,
        )
        session.add(job)
        await session.flush()
        upper = platform.vendor == "illumina"
        libraries = [
            SequencingLibrary(
                id=new_id(),
                tenant_id=principal.tenant_id,
                job_id=job.id,
                sample_id=lib.sample_id,
                position=n,
                i7=lib.index.upper() if upper else lib.index,
                i5=((lib.index2 or "").upper() if upper else ""),
                requested_reads=count,
            )
            for n, (lib, count) in enumerate(zip(spec.libraries, reads, strict=True), start=1)
        ]
        session.add_all(libraries)
        await session.flush()
        await record_change(
            self.audit,
            session,
            principal,
            action="create",
            record_type="sequencing_job",
            record_id=job.id,
            event="job_queued",
            reason=None,
            new={
                "name": job.name,
                "platform": job.platform,
                "priority": job.priority,
                "requested_reads": job.requested_reads,
                "libraries": len(libraries),
                "samples": ids,
                "state": job.state,
            },
        )
        views = tuple(LibraryView(lib, s.barcode, s.state) for lib, s in zip(libraries, samples, strict=True))
        return JobView(job, views, _collision_warnings(views) if upper else ())

    async def _check_free(self, session: AsyncSession, tenant_id: str, samples: Sequence[Sample]) -> None:
        problems = [
            f"sample {s.barcode} is {s.state}; a library must be stored or in preparation"
            for s in samples
            if s.state not in LIBRARY_STATES
        ]
        busy = await session.execute(
            select(Sample.barcode, SequencingJob.name, SequencingJob.state)
            .join(SequencingLibrary, SequencingLibrary.sample_id == Sample.id)
            .join(SequencingJob, SequencingJob.id == SequencingLibrary.job_id)
            .where(
                SequencingLibrary.tenant_id == tenant_id,
                SequencingLibrary.sample_id.in_([s.id for s in samples]),
                SequencingJob.state.in_([s.value for s in ACTIVE_JOB_STATES]),
            )
        )
        problems += [f"sample {barcode} is in job {name} ({state})" for barcode, name, state in busy.all()]
        if problems:
            raise ConflictError("; ".join(problems[:20]), problems=problems)

    async def get_job(
        self, session: AsyncSession, tenant_id: str, job_id: str, *, for_update: bool = False
    ) -> SequencingJob:
        query = select(SequencingJob).where(SequencingJob.tenant_id == tenant_id, SequencingJob.id == job_id)
        if for_update:
            query = query.with_for_update()
        job = (await session.execute(query)).scalar_one_or_none()
        if job is None:
            raise NotFoundError(f"no sequencing job {job_id}")
        return job

    async def job_view(self, session: AsyncSession, tenant_id: str, job: SequencingJob) -> JobView:
        rows = await session.execute(
            select(SequencingLibrary, Sample.barcode, Sample.state)
            .join(Sample, Sample.id == SequencingLibrary.sample_id)
            .where(SequencingLibrary.tenant_id == tenant_id, SequencingLibrary.job_id == job.id)
            .order_by(SequencingLibrary.position)
        )
        return JobView(job, tuple(LibraryView(lib, barcode, state) for lib, barcode, state in rows.all()))

    async def list_jobs(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        state: JobState | None = None,
        platform: SequencingPlatform | None = None,
        run_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[SequencingJob]:
        query = select(SequencingJob).where(SequencingJob.tenant_id == tenant_id)
        if state is not None:
            query = query.where(SequencingJob.state == state.value)
        if platform is not None:
            query = query.where(SequencingJob.platform == platform.value)
        if run_id is not None:
            on_run = select(SequencingRunLibrary.job_id).where(
                SequencingRunLibrary.tenant_id == tenant_id, SequencingRunLibrary.run_id == run_id
            )
            query = query.where(SequencingJob.id.in_(on_run))
        query = query.order_by(SequencingJob.created_at.desc(), SequencingJob.id).limit(limit).offset(offset)
        return list((await session.execute(query)).scalars())

    async def cancel_job(self, session: AsyncSession, principal: Principal, job_id: str, *, reason: str) -> JobView:
        """Cancel a queued, planned or failed job; a planned job leaves its run plan (and its sample sheet)."""
        job = await self.get_job(session, principal.tenant_id, job_id, for_update=True)
        run_id = job.run_id if job.state == JobState.PLANNED.value else None
        await self.lifecycle.move_job(session, principal, job, JobState.CANCELLED, reason=reason)
        if run_id is not None:
            placed = await session.execute(
                select(SequencingRunLibrary).where(
                    SequencingRunLibrary.tenant_id == principal.tenant_id,
                    SequencingRunLibrary.run_id == run_id,
                    SequencingRunLibrary.job_id == job.id,
                )
            )
            for row in placed.scalars():
                await session.delete(row)
            job.run_id = None
        return await self.job_view(session, principal.tenant_id, job)

    async def requeue_job(self, session: AsyncSession, principal: Principal, job_id: str, *, reason: str) -> JobView:
        """Queue a failed job again; it keeps the place its first queueing gave it."""
        job = await self.get_job(session, principal.tenant_id, job_id, for_update=True)
        await self.lifecycle.move_job(session, principal, job, JobState.QUEUED, reason=reason)
        return await self.job_view(session, principal.tenant_id, job)

    # -- the queue ------------------------------------------------------------------------------------------------

    async def queue(
        self, session: AsyncSession, tenant_id: str, *, platform: SequencingPlatform | None = None
    ) -> list[QueueEntry]:
        """Queued jobs in the order to run them: effective priority (with ageing), then first queued first."""
        query = select(SequencingJob).where(
            SequencingJob.tenant_id == tenant_id, SequencingJob.state == JobState.QUEUED.value
        )
        if platform is not None:
            query = query.where(SequencingJob.platform == platform.value)
        jobs = {job.id: job for job in (await session.execute(query)).scalars()}
        counts: dict[str, int] = {}
        if jobs:
            rows = await session.execute(
                select(SequencingLibrary.job_id, func.count())
                .where(SequencingLibrary.tenant_id == tenant_id, SequencingLibrary.job_id.in_(list(jobs)))
                .group_by(SequencingLibrary.job_id)
            )
            counts = {job_id: int(n) for job_id, n in rows.all()}
        waiting = [Waiting(job.id, Priority(job.priority), job.queued_at) for job in jobs.values()]
        return [
            QueueEntry(ranked, jobs[ranked.job.id], counts.get(ranked.job.id, 0))
            for ranked in rank_queue(waiting, self.now(), self.ageing)
        ]


def _split_reads(spec: NewJob, problems: list[str]) -> list[int]:
    """Reads per library: as given, or the job's total shared evenly (the first libraries take the remainder)."""
    given = [lib.requested_reads for lib in spec.libraries]
    count = len(given)
    if all(r is not None for r in given):
        reads = [r for r in given if r is not None]
        if spec.requested_reads is not None and spec.requested_reads != sum(reads):
            problems.append(
                f"requested_reads {spec.requested_reads:,} is not the sum of the libraries' reads ({sum(reads):,})"
            )
        return reads
    if any(r is not None for r in given):
        problems.append("give requested_reads for every library, or for none (and the job's total)")
        return [1] * count
    if spec.requested_reads is None:
        problems.append("give requested_reads: the job's total, or each library's")
        return [1] * count
    if spec.requested_reads < count:
        problems.append(f"{spec.requested_reads} reads cannot be shared by {count} libraries")
        return [1] * count
    share, extra = divmod(spec.requested_reads, count)
    return [share + (1 if n < extra else 0) for n in range(count)]


def _collision_warnings(libraries: Sequence[LibraryView]) -> tuple[str, ...]:
    """Libraries of one job that would collide in one lane at one mismatch (the planner keeps them apart if it
    can): said at once, not first when the run is planned."""
    barcoded = [Barcoded(v.barcode, v.library.i7, v.library.i5) for v in libraries]
    return tuple(hit.describe() for hit in find_collisions(barcoded)[:20])
