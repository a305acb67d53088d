"""sagas tables

Revision ID: 0010
Revises: 0009

Written by hand to match ``hub.db.sagas_models`` (``tests/integration/hub/test_migrations.py`` compares them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SAGA_STATES = ("running", "waiting", "compensating", "completed", "compensated", "compensation_failed", "failed")
STEP_STATES = ("pending", "done", "compensating", "compensated", "failed", "skipped")
ACTION_STATES = ("open", "closed")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _when() -> hub.db.base.UTCDateTime:
    return hub.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sagas",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("pivot_passed", sa.Boolean(), nullable=False),
        sa.Column("start_key", sa.String(length=200), nullable=True),
        sa.Column("inputs", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", _when(), nullable=True),
        sa.Column("next_attempt_at", _when(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.Column("finished_at", _when(), nullable=True),
        sa.CheckConstraint(_one_of("state", SAGA_STATES), name=op.f("ck_sagas_state_known")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_sagas_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sagas")),
        sa.UniqueConstraint("tenant_id", "start_key", name=op.f("uq_sagas_tenant_id")),
    )
    with op.batch_alter_table("sagas", schema=None) as batch_op:
        batch_op.create_index("ix_sagas_state_next_attempt_at", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_sagas_tenant_id_state_created_at", ["tenant_id", "state", "created_at"], unique=False)

    op.create_table(
        "saga_steps",
        sa.Column("saga_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("compensation_attempts", sa.Integer(), nullable=False),
        sa.Column("output", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("wait_until", _when(), nullable=True),
        sa.Column("started_at", _when(), nullable=True),
        sa.Column("finished_at", _when(), nullable=True),
        sa.CheckConstraint(_one_of("state", STEP_STATES), name=op.f("ck_saga_steps_state_known")),
        sa.ForeignKeyConstraint(
            ["saga_id"], ["sagas.id"], name=op.f("fk_saga_steps_saga_id_sagas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("saga_id", "position", name=op.f("pk_saga_steps")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_saga_steps_idempotency_key")),
    )

    op.create_table(
        "saga_transitions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("saga_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("transition", sa.String(length=48), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.ForeignKeyConstraint(
            ["saga_id"], ["sagas.id"], name=op.f("fk_saga_transitions_saga_id_sagas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_saga_transitions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saga_transitions")),
    )
    with op.batch_alter_table("saga_transitions", schema=None) as batch_op:
        batch_op.create_index("ix_saga_transitions_saga_id_id", ["saga_id", "id"], unique=False)

    op.create_table(
        "corrective_actions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("open_key", sa.String(length=200), nullable=False),
        sa.Column("saga_id", sa.String(length=36), nullable=True),
        sa.Column("unit_id", sa.String(length=36), nullable=True),
        sa.Column("excursion_id", sa.String(length=36), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("opened_at", _when(), nullable=False),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("closed_at", _when(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.CheckConstraint(_one_of("state", ACTION_STATES), name=op.f("ck_corrective_actions_state_known")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_corrective_actions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrective_actions")),
        sa.UniqueConstraint("tenant_id", "open_key", name=op.f("uq_corrective_actions_tenant_id")),
    )
    with op.batch_alter_table("corrective_actions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_corrective_actions_tenant_id_state_opened_at", ["tenant_id", "state", "opened_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("corrective_actions")
    op.drop_table("saga_transitions")
    op.drop_table("saga_steps")
    op.drop_table("sagas")
