"""samples, lineage, custody, QC

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 00:32:09.739720

Written by hand to match ``hub.db.sample_models`` (``tests/integration/hub/test_migrations.py`` compares them).
On PostgreSQL it creates the ``pg_trgm`` extension (trusted since PostgreSQL 13: the database owner may create it)
for the trigram index that serves searches inside sample names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ZONES = ("ln2_vapour", "-80", "-20", "4", "room")
SAMPLE_STATES = (
    "registered",
    "received",
    "stored",
    "in_preparation",
    "sequencing",
    "completed",
    "on_hold",
    "rejected",
    "consumed",
    "disposed",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_projects_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_projects_tenant_id")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_projects_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "sample_sequences",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sample_sequences_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "prefix", name=op.f("pk_sample_sequences")),
    )
    op.create_table(
        "sample_types",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=16), nullable=False),
        sa.Column("colder_ok", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_one_of("zone", ZONES), name=op.f("ck_sample_types_zone_known")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sample_types_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_types")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sample_types_tenant_id")),
    )
    with op.batch_alter_table("sample_types", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sample_types_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "samples",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sample_type_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("held_from", sa.String(length=24), nullable=True),
        sa.Column("volume_ul", sa.Numeric(precision=14, scale=3), nullable=True),
        sa.Column("concentration", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("custodian", sa.String(length=200), nullable=False),
        sa.Column("qc_status", sa.String(length=16), nullable=True),
        sa.Column(
            "attributes", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("intake_upload_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("volume_ul IS NULL OR volume_ul >= 0", name=op.f("ck_samples_volume_not_negative")),
        sa.CheckConstraint(
            "concentration IS NULL OR concentration >= 0", name=op.f("ck_samples_concentration_not_negative")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_samples_version_positive")),
        sa.CheckConstraint(_one_of("state", SAMPLE_STATES), name=op.f("ck_samples_state_known")),
        sa.CheckConstraint(
            "qc_status IS NULL OR " + _one_of("qc_status", ("passed", "failed", "released")),
            name=op.f("ck_samples_qc_status_known"),
        ),
        sa.CheckConstraint("held_from IS NULL OR state = 'on_hold'", name=op.f("ck_samples_held_only_on_hold")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_samples_project_id_projects")),
        sa.ForeignKeyConstraint(
            ["sample_type_id"], ["sample_types.id"], name=op.f("fk_samples_sample_type_id_sample_types")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_samples_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
    )
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.create_index(
            "uq_samples_tenant_id_barcode",
            ["tenant_id", "barcode"],
            unique=True,
            postgresql_ops={"barcode": "varchar_pattern_ops"},
        )
        batch_op.create_index(batch_op.f("ix_samples_intake_upload_id"), ["intake_upload_id"], unique=False)
        batch_op.create_index("ix_samples_tenant_id_created_at_id", ["tenant_id", "created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_samples_tenant_id_state_created_at_id", ["tenant_id", "state", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_samples_tenant_id_project_id_created_at_id",
            ["tenant_id", "project_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_samples_tenant_id_sample_type_id_created_at_id",
            ["tenant_id", "sample_type_id", "created_at", "id"],
            unique=False,
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_samples_name",
        "samples",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )

    op.create_table(
        "custody_transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("sample_id", sa.String(length=36), nullable=False),
        sa.Column("from_party", sa.String(length=200), nullable=False),
        sa.Column("to_party", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sent_by", sa.String(length=128), nullable=False),
        sa.Column("sent_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_by", sa.String(length=128), nullable=True),
        sa.Column("received_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("receipt_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            _one_of("status", ("in_transit", "received", "refused")), name=op.f("ck_custody_transfers_status_known")
        ),
        sa.CheckConstraint("from_party <> to_party", name=op.f("ck_custody_transfers_not_to_self")),
        sa.CheckConstraint(
            "(status = 'in_transit' AND received_by IS NULL AND received_at IS NULL)"
            " OR (status <> 'in_transit' AND received_by IS NOT NULL AND received_at IS NOT NULL)",
            name=op.f("ck_custody_transfers_receipt_complete"),
        ),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"], name=op.f("fk_custody_transfers_sample_id_samples")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_custody_transfers_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custody_transfers")),
    )
    with op.batch_alter_table("custody_transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_custody_transfers_tenant_id_sample_id", ["tenant_id", "sample_id", "sent_at"], unique=False
        )
        batch_op.create_index("ix_custody_transfers_tenant_id_batch_id", ["tenant_id", "batch_id"], unique=False)
        batch_op.create_index(
            "ix_custody_transfers_tenant_id_to_party_status",
            ["tenant_id", "to_party", "status", "sent_at"],
            unique=False,
        )
        batch_op.create_index(
            "uq_custody_transfers_sample_id_in_transit",
            ["sample_id"],
            unique=True,
            postgresql_where=sa.text("status = 'in_transit'"),
            sqlite_where=sa.text("status = 'in_transit'"),
        )

    op.create_table(
        "qc_results",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("sample_id", sa.String(length=36), nullable=False),
        sa.Column("assay", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_signature_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint(
            "released_signature_id IS NULL OR NOT passed", name=op.f("ck_qc_results_release_only_failed")
        ),
        sa.ForeignKeyConstraint(
            ["released_signature_id"], ["esignatures.id"], name=op.f("fk_qc_results_released_signature_id_esignatures")
        ),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"], name=op.f("fk_qc_results_sample_id_samples")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_qc_results_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qc_results")),
    )
    with op.batch_alter_table("qc_results", schema=None) as batch_op:
        batch_op.create_index("ix_qc_results_tenant_id_sample_id", ["tenant_id", "sample_id"], unique=False)

    op.create_table(
        "sample_links",
        sa.Column("parent_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("volume_ul", sa.Numeric(precision=14, scale=3), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("parent_id <> child_id", name=op.f("ck_sample_links_not_self")),
        sa.CheckConstraint(_one_of("kind", ("aliquot", "derivative", "pool")), name=op.f("ck_sample_links_kind_known")),
        sa.CheckConstraint("volume_ul IS NULL OR volume_ul >= 0", name=op.f("ck_sample_links_volume_not_negative")),
        sa.ForeignKeyConstraint(["child_id"], ["samples.id"], name=op.f("fk_sample_links_child_id_samples")),
        sa.ForeignKeyConstraint(["parent_id"], ["samples.id"], name=op.f("fk_sample_links_parent_id_samples")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sample_links_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("parent_id", "child_id", name=op.f("pk_sample_links")),
    )
    with op.batch_alter_table("sample_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sample_links_child_id"), ["child_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sample_links_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sample_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sample_links_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_sample_links_child_id"))

    op.drop_table("sample_links")
    with op.batch_alter_table("qc_results", schema=None) as batch_op:
        batch_op.drop_index("ix_qc_results_tenant_id_sample_id")

    op.drop_table("qc_results")
    with op.batch_alter_table("custody_transfers", schema=None) as batch_op:
        batch_op.drop_index("uq_custody_transfers_sample_id_in_transit")
        batch_op.drop_index("ix_custody_transfers_tenant_id_to_party_status")
        batch_op.drop_index("ix_custody_transfers_tenant_id_batch_id")
        batch_op.drop_index("ix_custody_transfers_tenant_id_sample_id")

    op.drop_table("custody_transfers")
    op.drop_index("ix_samples_name", table_name="samples")
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index("ix_samples_tenant_id_sample_type_id_created_at_id")
        batch_op.drop_index("ix_samples_tenant_id_project_id_created_at_id")
        batch_op.drop_index("ix_samples_tenant_id_state_created_at_id")
        batch_op.drop_index("ix_samples_tenant_id_created_at_id")
        batch_op.drop_index(batch_op.f("ix_samples_intake_upload_id"))
        batch_op.drop_index("uq_samples_tenant_id_barcode")

    op.drop_table("samples")
    with op.batch_alter_table("sample_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sample_types_tenant_id"))

    op.drop_table("sample_types")
    op.drop_table("sample_sequences")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_tenant_id"))

    op.drop_table("projects")
