"""The sequencing tables: jobs and their libraries, runs (planned here or recorded from an instrument), and which
library went into which lane of which run.

A job's libraries are samples (one library per sample per job). A run's lane plan is kept per run, so a job that
failed on one run and was planned again keeps the lanes of both. A run recorded from an instrument's events that
matched no plan has ``origin = 'instrument'``; linking it to a plan moves its instrument facts there and marks it
``merged``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow

PLATFORMS = ("novaseq_x", "novaseq_6000", "nextseq_2000", "nextseq_550", "miseq", "nanopore")
PRIORITIES = ("urgent", "high", "normal", "low")
JOB_STATES = ("queued", "planned", "sequencing", "completed", "failed", "cancelled")
RUN_STATES = ("planned", "running", "completed", "failed", "cancelled", "merged")
RUN_ORIGINS = ("planned", "instrument")


def _one_of(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IS NULL OR {column} IN ({listed})" if nullable else f"{column} IN ({listed})"


class SequencingJob(Base):
    """A request to sequence libraries on a platform, waiting in the queue until a run is planned for it."""

    __tablename__ = "sequencing_jobs"
    __table_args__ = (
        Index("ix_sequencing_jobs_tenant_id_state_platform", "tenant_id", "state", "platform"),
        Index("ix_sequencing_jobs_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
        CheckConstraint(_one_of("platform", PLATFORMS), name="platform_known"),
        CheckConstraint(_one_of("priority", PRIORITIES), name="priority_known"),
        CheckConstraint(_one_of("state", JOB_STATES), name="state_known"),
        CheckConstraint("requested_reads > 0", name="requested_reads_positive"),
        CheckConstraint("read1_cycles IS NULL OR read1_cycles > 0", name="read1_cycles_positive"),
        CheckConstraint("read2_cycles >= 0", name="read2_cycles_not_negative"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(24))
    priority: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    requested_reads: Mapped[int] = mapped_column(BigInteger)
    read1_cycles: Mapped[int | None] = mapped_column(Integer, default=None)  # None: no read lengths (Nanopore)
    read2_cycles: Mapped[int] = mapped_column(Integer, default=0)
    requeue_on_failure: Mapped[bool] = mapped_column(Boolean, default=False)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("sequencing_runs.id"), default=None, index=True)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)  # why it was cancelled or failed
    queued_at: Mapped[datetime] = mapped_column()  # kept when a failed job is queued again: it keeps its place
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SequencingLibrary(Base):
    """One sample of a job, with its indexes as the kit lists them (i5 forward) and the reads it asks for."""

    __tablename__ = "sequencing_libraries"
    __table_args__ = (
        UniqueConstraint("job_id", "sample_id"),
        Index("ix_sequencing_libraries_tenant_id_sample_id", "tenant_id", "sample_id"),
        CheckConstraint("requested_reads > 0", name="requested_reads_positive"),
        CheckConstraint("position >= 1", name="position_positive"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    job_id: Mapped[str] = mapped_column(ForeignKey("sequencing_jobs.id"))
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id"))
    position: Mapped[int] = mapped_column(Integer)  # order in the job as submitted
    i7: Mapped[str] = mapped_column(String(32))
    i5: Mapped[str] = mapped_column(String(32), default="")
    requested_reads: Mapped[int] = mapped_column(BigInteger)


class SequencingRun(Base):
    """A run: planned here (lanes, cycles, the sample sheet) and/or seen on an instrument (its run id, flow cell,
    progress, QC). ``stalled`` is a flag on a running run, not a state: instruments never say they stopped."""

    __tablename__ = "sequencing_runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_sequencing_runs_tenant_id_name"),
        UniqueConstraint("tenant_id", "instrument_run_id", name="uq_sequencing_runs_tenant_id_instrument_run_id"),
        Index("ix_sequencing_runs_tenant_id_state", "tenant_id", "state"),
        Index("ix_sequencing_runs_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
        CheckConstraint(_one_of("platform", PLATFORMS, nullable=True), name="platform_known"),
        CheckConstraint(_one_of("state", RUN_STATES), name="state_known"),
        CheckConstraint(_one_of("origin", RUN_ORIGINS), name="origin_known"),
        CheckConstraint("lanes IS NULL OR lanes > 0", name="lanes_positive"),
        CheckConstraint("lane_capacity IS NULL OR lane_capacity > 0", name="lane_capacity_positive"),
        CheckConstraint("cycles_done >= 0", name="cycles_done_not_negative"),
        CheckConstraint("mismatches1 BETWEEN 0 AND 2 AND mismatches2 BETWEEN 0 AND 2", name="mismatches_range"),
        CheckConstraint("merged_into_id IS NULL OR merged_into_id <> id", name="not_merged_into_self"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    name: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str | None] = mapped_column(String(24), default=None)  # None: an instrument we do not plan for
    flowcell_type: Mapped[str | None] = mapped_column(String(32), default=None)
    lanes: Mapped[int | None] = mapped_column(Integer, default=None)
    lane_capacity: Mapped[int | None] = mapped_column(BigInteger, default=None)
    pooled: Mapped[bool] = mapped_column(Boolean, default=False)
    read1_cycles: Mapped[int | None] = mapped_column(Integer, default=None)
    read2_cycles: Mapped[int | None] = mapped_column(Integer, default=None)
    index1_cycles: Mapped[int | None] = mapped_column(Integer, default=None)
    index2_cycles: Mapped[int | None] = mapped_column(Integer, default=None)
    mismatches1: Mapped[int] = mapped_column(Integer, default=1)
    mismatches2: Mapped[int] = mapped_column(Integer, default=1)
    flow_cell: Mapped[str | None] = mapped_column(String(64), default=None)
    instrument_run_id: Mapped[str | None] = mapped_column(String(128), default=None)
    instrument: Mapped[str | None] = mapped_column(String(64), default=None)
    instrument_platform: Mapped[str | None] = mapped_column(String(64), default=None)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"), default=None)
    cycles_done: Mapped[int] = mapped_column(Integer, default=0)
    cycles_total: Mapped[int | None] = mapped_column(Integer, default=None)
    reads_completed: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"reads": [1, 2]}
    stalled: Mapped[bool] = mapped_column(Boolean, default=False)
    stalled_since: Mapped[datetime | None] = mapped_column(default=None)
    instrument_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    qc: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    last_event_at: Mapped[datetime | None] = mapped_column(default=None)
    merged_into_id: Mapped[str | None] = mapped_column(ForeignKey("sequencing_runs.id"), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SequencingRunLibrary(Base):
    """A library's lane on a run, and the Sample_ID the run's sample sheet gives it."""

    __tablename__ = "sequencing_run_libraries"
    __table_args__ = (
        UniqueConstraint("run_id", "sheet_sample_id"),
        Index("ix_sequencing_run_libraries_tenant_id_job_id", "tenant_id", "job_id"),
        CheckConstraint("lane > 0", name="lane_positive"),
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("sequencing_runs.id"), primary_key=True)
    library_id: Mapped[str] = mapped_column(ForeignKey("sequencing_libraries.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    job_id: Mapped[str] = mapped_column(ForeignKey("sequencing_jobs.id"))
    lane: Mapped[int] = mapped_column(Integer)
    sheet_sample_id: Mapped[str] = mapped_column(String(64))
