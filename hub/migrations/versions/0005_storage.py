"""storage: containers, box positions, unit bindings, excursions

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_KINDS = ("site", "room", "freezer", "fridge", "ln2_tank", "cabinet", "shelf", "rack", "drawer", "tower", "box")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "storage_containers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("unit_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=True),
        sa.Column("zone", sa.String(length=16), nullable=True),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("child_count", sa.Integer(), nullable=False),
        sa.Column("grid_rows", sa.SmallInteger(), nullable=True),
        sa.Column("grid_cols", sa.SmallInteger(), nullable=True),
        sa.Column("warn_at_pct", sa.SmallInteger(), nullable=True),
        sa.Column("capacity_warned", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in _KINDS) + ")", name=op.f("ck_storage_containers_kind_known")
        ),
        sa.CheckConstraint(
            "zone IS NULL OR zone IN ('ln2_vapour', '-80', '-20', '4', 'room')",
            name=op.f("ck_storage_containers_zone_known"),
        ),
        sa.CheckConstraint(
            "child_count >= 0 AND (capacity IS NULL OR child_count <= capacity)",
            name=op.f("ck_storage_containers_children_within_capacity"),
        ),
        sa.CheckConstraint(
            "(kind = 'box' AND grid_rows IS NOT NULL AND grid_cols IS NOT NULL"
            " AND grid_rows BETWEEN 1 AND 26 AND grid_cols BETWEEN 1 AND 48)"
            " OR (kind <> 'box' AND grid_rows IS NULL AND grid_cols IS NULL)",
            name=op.f("ck_storage_containers_box_grid"),
        ),
        sa.CheckConstraint(
            "warn_at_pct IS NULL OR warn_at_pct BETWEEN 1 AND 100", name=op.f("ck_storage_containers_warn_at_pct_range")
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_storage_containers_tenant_id_tenants")),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["storage_containers.id"], name=op.f("fk_storage_containers_parent_id_storage_containers")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["storage_containers.id"], name=op.f("fk_storage_containers_unit_id_storage_containers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_containers")),
        sa.UniqueConstraint("tenant_id", "barcode", name="uq_storage_containers_tenant_id_barcode"),
        sa.UniqueConstraint("parent_id", "name", name="uq_storage_containers_parent_id_name"),
    )
    with op.batch_alter_table("storage_containers", schema=None) as batch_op:
        batch_op.create_index("ix_storage_containers_tenant_id_parent_id", ["tenant_id", "parent_id"], unique=False)
        batch_op.create_index("ix_storage_containers_tenant_id_kind", ["tenant_id", "kind"], unique=False)
        batch_op.create_index("ix_storage_containers_unit_id", ["unit_id"], unique=False)
        batch_op.create_index(
            "ix_storage_containers_path", ["path"], unique=False, postgresql_ops={"path": "text_pattern_ops"}
        )

    op.create_table(
        "storage_positions",
        sa.Column("box_id", sa.String(length=36), nullable=False),
        sa.Column("row_no", sa.SmallInteger(), nullable=False),
        sa.Column("col_no", sa.SmallInteger(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("sample_id", sa.String(length=36), nullable=True),
        sa.Column("placed_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("placed_by", sa.String(length=128), nullable=True),
        sa.CheckConstraint("row_no >= 1 AND col_no >= 1", name=op.f("ck_storage_positions_in_grid")),
        sa.ForeignKeyConstraint(
            ["box_id"], ["storage_containers.id"], name=op.f("fk_storage_positions_box_id_storage_containers")
        ),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"], name=op.f("fk_storage_positions_sample_id_samples")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_storage_positions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("box_id", "row_no", "col_no", name=op.f("pk_storage_positions")),
        sa.UniqueConstraint("sample_id", name=op.f("uq_storage_positions_sample_id")),
    )

    op.create_table(
        "storage_unit_bindings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("unit_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_storage_unit_bindings_device_id_devices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_storage_unit_bindings_tenant_id_tenants")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["storage_containers.id"], name=op.f("fk_storage_unit_bindings_unit_id_storage_containers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_unit_bindings")),
        sa.UniqueConstraint("device_id", "source", "channel", name="uq_storage_unit_bindings_device_id_source_channel"),
    )
    with op.batch_alter_table("storage_unit_bindings", schema=None) as batch_op:
        batch_op.create_index("ix_storage_unit_bindings_unit_id", ["unit_id"], unique=False)

    op.create_table(
        "storage_excursions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("unit_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("limit_value", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("started_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("start_seq", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_seq", sa.BigInteger(), nullable=True),
        sa.Column("active_alarms", _JSON, nullable=False),
        sa.Column("samples_at_start", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_storage_excursions_device_id_devices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_storage_excursions_tenant_id_tenants")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["storage_containers.id"], name=op.f("fk_storage_excursions_unit_id_storage_containers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_excursions")),
    )
    with op.batch_alter_table("storage_excursions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_storage_excursions_tenant_id_unit_id", ["tenant_id", "unit_id", "started_at"], unique=False
        )
        batch_op.create_index(
            "uq_storage_excursions_open_unit",
            ["unit_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "storage_excursion_samples",
        sa.Column("excursion_id", sa.String(length=36), nullable=False),
        sa.Column("sample_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("box_id", sa.String(length=36), nullable=False),
        sa.Column("row_no", sa.SmallInteger(), nullable=False),
        sa.Column("col_no", sa.SmallInteger(), nullable=False),
        sa.Column("joined", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["box_id"], ["storage_containers.id"], name=op.f("fk_storage_excursion_samples_box_id_storage_containers")
        ),
        sa.ForeignKeyConstraint(
            ["excursion_id"],
            ["storage_excursions.id"],
            name=op.f("fk_storage_excursion_samples_excursion_id_storage_excursions"),
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["samples.id"], name=op.f("fk_storage_excursion_samples_sample_id_samples")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_storage_excursion_samples_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("excursion_id", "sample_id", name=op.f("pk_storage_excursion_samples")),
    )
    with op.batch_alter_table("storage_excursion_samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_storage_excursion_samples_sample_id"), ["sample_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("storage_excursion_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_storage_excursion_samples_sample_id"))
    op.drop_table("storage_excursion_samples")
    with op.batch_alter_table("storage_excursions", schema=None) as batch_op:
        batch_op.drop_index("uq_storage_excursions_open_unit")
        batch_op.drop_index("ix_storage_excursions_tenant_id_unit_id")
    op.drop_table("storage_excursions")
    with op.batch_alter_table("storage_unit_bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_storage_unit_bindings_unit_id")
    op.drop_table("storage_unit_bindings")
    op.drop_table("storage_positions")
    with op.batch_alter_table("storage_containers", schema=None) as batch_op:
        batch_op.drop_index("ix_storage_containers_path")
        batch_op.drop_index("ix_storage_containers_unit_id")
        batch_op.drop_index("ix_storage_containers_tenant_id_kind")
        batch_op.drop_index("ix_storage_containers_tenant_id_parent_id")
    op.drop_table("storage_containers")
