"""sequencing: jobs, libraries, runs, lane plans

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.base

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_PLATFORMS = ("novaseq_x", "novaseq_6000", "nextseq_2000", "nextseq_550", "miseq", "nanopore")
_PRIORITIES = ("urgent", "high", "normal", "low")
_JOB_STATES = ("queued", "planned", "sequencing", "completed", "failed", "cancelled")
_RUN_STATES = ("planned", "running", "completed", "failed", "cancelled", "merged")
_RUN_ORIGINS = ("planned", "instrument")


def _one_of(column: str, values: tuple[str, ...], *, nullable: bool = False) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IS NULL OR {column} IN ({listed})" if nullable else f"{column} IN ({listed})"


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "sequencing_runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("origin", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("platform", sa.String(length=24), nullable=True),
        sa.Column("flowcell_type", sa.String(length=32), nullable=True),
        sa.Column("lanes", sa.Integer(), nullable=True),
        sa.Column("lane_capacity", sa.BigInteger(), nullable=True),
        sa.Column("pooled", sa.Boolean(), nullable=False),
        sa.Column("read1_cycles", sa.Integer(), nullable=True),
        sa.Column("read2_cycles", sa.Integer(), nullable=True),
        sa.Column("index1_cycles", sa.Integer(), nullable=True),
        sa.Column("index2_cycles", sa.Integer(), nullable=True),
        sa.Column("mismatches1", sa.Integer(), nullable=False),
        sa.Column("mismatches2", sa.Integer(), nullable=False),
        sa.Column("flow_cell", sa.String(length=64), nullable=True),
        sa.Column("instrument_run_id", sa.String(length=128), nullable=True),
        sa.Column("instrument", sa.String(length=64), nullable=True),
        sa.Column("instrument_platform", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=36), nullable=True),
        sa.Column("cycles_done", sa.Integer(), nullable=False),
        sa.Column("cycles_total", sa.Integer(), nullable=True),
        sa.Column("reads_completed", _JSON, nullable=False),
        sa.Column("stalled", sa.Boolean(), nullable=False),
        sa.Column("stalled_since", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("instrument_metadata", _JSON, nullable=False),
        sa.Column("qc", _JSON, nullable=True),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("started_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("merged_into_id", sa.String(length=36), nullable=True),
        *_audit_columns(),
        sa.CheckConstraint(
            _one_of("platform", _PLATFORMS, nullable=True), name=op.f("ck_sequencing_runs_platform_known")
        ),
        sa.CheckConstraint(_one_of("state", _RUN_STATES), name=op.f("ck_sequencing_runs_state_known")),
        sa.CheckConstraint(_one_of("origin", _RUN_ORIGINS), name=op.f("ck_sequencing_runs_origin_known")),
        sa.CheckConstraint("lanes IS NULL OR lanes > 0", name=op.f("ck_sequencing_runs_lanes_positive")),
        sa.CheckConstraint(
            "lane_capacity IS NULL OR lane_capacity > 0", name=op.f("ck_sequencing_runs_lane_capacity_positive")
        ),
        sa.CheckConstraint("cycles_done >= 0", name=op.f("ck_sequencing_runs_cycles_done_not_negative")),
        sa.CheckConstraint(
            "mismatches1 BETWEEN 0 AND 2 AND mismatches2 BETWEEN 0 AND 2",
            name=op.f("ck_sequencing_runs_mismatches_range"),
        ),
        sa.CheckConstraint(
            "merged_into_id IS NULL OR merged_into_id <> id", name=op.f("ck_sequencing_runs_not_merged_into_self")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sequencing_runs_tenant_id_tenants")),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_sequencing_runs_device_id_devices")),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["sequencing_runs.id"], name=op.f("fk_sequencing_runs_merged_into_id_sequencing_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequencing_runs")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_sequencing_runs_tenant_id_name"),
        sa.UniqueConstraint("tenant_id", "instrument_run_id", name="uq_sequencing_runs_tenant_id_instrument_run_id"),
    )
    with op.batch_alter_table("sequencing_runs", schema=None) as batch_op:
        batch_op.create_index("ix_sequencing_runs_tenant_id_state", ["tenant_id", "state"], unique=False)
        batch_op.create_index(
            "ix_sequencing_runs_tenant_id_created_at_id", ["tenant_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "sequencing_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=24), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_reads", sa.BigInteger(), nullable=False),
        sa.Column("read1_cycles", sa.Integer(), nullable=True),
        sa.Column("read2_cycles", sa.Integer(), nullable=False),
        sa.Column("requeue_on_failure", sa.Boolean(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("queued_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        *_audit_columns(),
        sa.CheckConstraint(_one_of("platform", _PLATFORMS), name=op.f("ck_sequencing_jobs_platform_known")),
        sa.CheckConstraint(_one_of("priority", _PRIORITIES), name=op.f("ck_sequencing_jobs_priority_known")),
        sa.CheckConstraint(_one_of("state", _JOB_STATES), name=op.f("ck_sequencing_jobs_state_known")),
        sa.CheckConstraint("requested_reads > 0", name=op.f("ck_sequencing_jobs_requested_reads_positive")),
        sa.CheckConstraint(
            "read1_cycles IS NULL OR read1_cycles > 0", name=op.f("ck_sequencing_jobs_read1_cycles_positive")
        ),
        sa.CheckConstraint("read2_cycles >= 0", name=op.f("ck_sequencing_jobs_read2_cycles_not_negative")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sequencing_jobs_tenant_id_tenants")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["sequencing_runs.id"], name=op.f("fk_sequencing_jobs_run_id_sequencing_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequencing_jobs")),
    )
    with op.batch_alter_table("sequencing_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sequencing_jobs_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            "ix_sequencing_jobs_tenant_id_state_platform", ["tenant_id", "state", "platform"], unique=False
        )
        batch_op.create_index(
            "ix_sequencing_jobs_tenant_id_created_at_id", ["tenant_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "sequencing_libraries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("sample_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("i7", sa.String(length=32), nullable=False),
        sa.Column("i5", sa.String(length=32), nullable=False),
        sa.Column("requested_reads", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("requested_reads > 0", name=op.f("ck_sequencing_libraries_requested_reads_positive")),
        sa.CheckConstraint("position >= 1", name=op.f("ck_sequencing_libraries_position_positive")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sequencing_libraries_tenant_id_tenants")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["sequencing_jobs.id"], name=op.f("fk_sequencing_libraries_job_id_sequencing_jobs")
        ),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"], name=op.f("fk_sequencing_libraries_sample_id_samples")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequencing_libraries")),
        sa.UniqueConstraint("job_id", "sample_id", name=op.f("uq_sequencing_libraries_job_id")),
    )
    with op.batch_alter_table("sequencing_libraries", schema=None) as batch_op:
        batch_op.create_index("ix_sequencing_libraries_tenant_id_sample_id", ["tenant_id", "sample_id"], unique=False)

    op.create_table(
        "sequencing_run_libraries",
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("library_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("lane", sa.Integer(), nullable=False),
        sa.Column("sheet_sample_id", sa.String(length=64), nullable=False),
        sa.CheckConstraint("lane > 0", name=op.f("ck_sequencing_run_libraries_lane_positive")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["sequencing_runs.id"], name=op.f("fk_sequencing_run_libraries_run_id_sequencing_runs")
        ),
        sa.ForeignKeyConstraint(
            ["library_id"],
            ["sequencing_libraries.id"],
            name=op.f("fk_sequencing_run_libraries_library_id_sequencing_libraries"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sequencing_run_libraries_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["sequencing_jobs.id"], name=op.f("fk_sequencing_run_libraries_job_id_sequencing_jobs")
        ),
        sa.PrimaryKeyConstraint("run_id", "library_id", name=op.f("pk_sequencing_run_libraries")),
        sa.UniqueConstraint("run_id", "sheet_sample_id", name=op.f("uq_sequencing_run_libraries_run_id")),
    )
    with op.batch_alter_table("sequencing_run_libraries", schema=None) as batch_op:
        batch_op.create_index("ix_sequencing_run_libraries_tenant_id_job_id", ["tenant_id", "job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sequencing_run_libraries", schema=None) as batch_op:
        batch_op.drop_index("ix_sequencing_run_libraries_tenant_id_job_id")
    op.drop_table("sequencing_run_libraries")
    with op.batch_alter_table("sequencing_libraries", schema=None) as batch_op:
        batch_op.drop_index("ix_sequencing_libraries_tenant_id_sample_id")
    op.drop_table("sequencing_libraries")
    with op.batch_alter_table("sequencing_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_sequencing_jobs_tenant_id_created_at_id")
        batch_op.drop_index("ix_sequencing_jobs_tenant_id_state_platform")
        batch_op.drop_index(batch_op.f("ix_sequencing_jobs_run_id"))
    op.drop_table("sequencing_jobs")
    with op.batch_alter_table("sequencing_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_sequencing_runs_tenant_id_created_at_id")
        batch_op.drop_index("ix_sequencing_runs_tenant_id_state")
    op.drop_table("sequencing_runs")
