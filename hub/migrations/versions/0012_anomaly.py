"""anomaly tables

Revision ID: 0012
Revises: 0011

Written by hand to match ``hub.db.anomaly_models`` (``tests/integration/hub/test_migrations.py`` compares them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> hub.db.base.UTCDateTime:
    return hub.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "anomaly_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("unit_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("hold", sa.Integer(), nullable=False),
        sa.Column("trained_from", _time(), nullable=False),
        sa.Column("trained_to", _time(), nullable=False),
        sa.Column("trained_at", _time(), nullable=False),
        sa.Column("trained_by", sa.String(length=128), nullable=False),
        sa.Column("scored_until", _time(), nullable=False),
        sa.Column("last_score", sa.Float(), nullable=True),
        sa.Column("last_feature", sa.String(length=32), nullable=True),
        sa.Column("last_window_end", _time(), nullable=True),
        sa.Column("anomalous_streak", sa.Integer(), nullable=False),
        sa.Column("normal_streak", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_anomaly_models_tenant_id_tenants")),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["storage_containers.id"], name=op.f("fk_anomaly_models_unit_id_storage_containers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anomaly_models")),
        sa.UniqueConstraint("unit_id", "version", name="uq_anomaly_models_unit_id_version"),
    )
    with op.batch_alter_table("anomaly_models", schema=None) as batch_op:
        batch_op.create_index("ix_anomaly_models_tenant_id_unit_id", ["tenant_id", "unit_id"], unique=False)
        batch_op.create_index(
            "uq_anomaly_models_active_unit",
            ["unit_id"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )


def downgrade() -> None:
    with op.batch_alter_table("anomaly_models", schema=None) as batch_op:
        batch_op.drop_index("uq_anomaly_models_active_unit")
        batch_op.drop_index("ix_anomaly_models_tenant_id_unit_id")
    op.drop_table("anomaly_models")
