"""alerts tables

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> hub.db.base.UTCDateTime:
    return hub.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("open_key", sa.String(length=255), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("group_key", sa.String(length=300), nullable=False),
        sa.Column("unit_id", sa.String(length=36), nullable=True),
        sa.Column("device_id", sa.String(length=36), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=True),
        sa.Column("channel", sa.String(length=128), nullable=True),
        sa.Column("rule_id", sa.String(length=36), nullable=True),
        sa.Column("policy_id", sa.String(length=36), nullable=True),
        sa.Column("value", sa.String(length=64), nullable=True),
        sa.Column("limit_value", sa.String(length=64), nullable=True),
        sa.Column("details", _json(), nullable=False),
        sa.Column("inhibitable", sa.Boolean(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("held_by", sa.String(length=32), nullable=True),
        sa.Column("opened_at", _time(), nullable=False),
        sa.Column("due_at", _time(), nullable=True),
        sa.Column("fired_at", _time(), nullable=True),
        sa.Column("acknowledged_at", _time(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.Column("resolved_at", _time(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("resolve_comment", sa.Text(), nullable=True),
        sa.Column("steps_taken", sa.Integer(), nullable=False),
        sa.Column("next_action_at", _time(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_alerts_device_id_devices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alerts_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("tenant_id", "open_key", name="uq_alerts_tenant_id_open_key"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_tenant_id_state", ["tenant_id", "state"], unique=False)
        batch_op.create_index(
            "ix_alerts_tenant_id_dedup_key_opened_at", ["tenant_id", "dedup_key", "opened_at"], unique=False
        )
        batch_op.create_index("ix_alerts_tenant_id_group_key", ["tenant_id", "group_key"], unique=False)
        batch_op.create_index("ix_alerts_tenant_id_opened_at", ["tenant_id", "opened_at"], unique=False)
        batch_op.create_index("ix_alerts_next_action_at", ["next_action_at"], unique=False)

    op.create_table(
        "alert_steps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("alert_id", sa.String(length=36), nullable=False),
        sa.Column("step_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("targets", _json(), nullable=False),
        sa.Column("due_at", _time(), nullable=False),
        sa.Column("taken_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_alert_steps_alert_id_alerts")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_steps_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_steps")),
        sa.UniqueConstraint("step_key", name=op.f("uq_alert_steps_step_key")),
    )
    with op.batch_alter_table("alert_steps", schema=None) as batch_op:
        batch_op.create_index("ix_alert_steps_tenant_id_alert_id", ["tenant_id", "alert_id"], unique=False)

    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=True),
        sa.Column("channel", sa.String(length=128), nullable=True),
        sa.Column("params", _json(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_alert_rules_device_id_devices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_rules_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_alert_rules_tenant_id_name"),
    )
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.create_index("ix_alert_rules_tenant_id_kind", ["tenant_id", "kind"], unique=False)

    op.create_table(
        "alert_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("matcher", _json(), nullable=False),
        sa.Column("tiers", _json(), nullable=False),
        sa.Column("repeat_every_s", sa.Integer(), nullable=True),
        sa.Column("max_repeats", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_policies_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_policies")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_alert_policies_tenant_id_name"),
    )
    with op.batch_alter_table("alert_policies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_policies_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "alert_rotas",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("shifts", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_rotas_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rotas")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_alert_rotas_tenant_id_name"),
    )
    with op.batch_alter_table("alert_rotas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_rotas_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "alert_holidays",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_holidays_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "day", name=op.f("pk_alert_holidays")),
    )

    op.create_table(
        "alert_silences",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("matcher", _json(), nullable=False),
        sa.Column("starts_at", _time(), nullable=False),
        sa.Column("ends_at", _time(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("cancelled_at", _time(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_alert_silences_owner_id_users")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_silences_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_silences")),
    )
    with op.batch_alter_table("alert_silences", schema=None) as batch_op:
        batch_op.create_index("ix_alert_silences_tenant_id_ends_at", ["tenant_id", "ends_at"], unique=False)

    op.create_table(
        "alert_inhibitions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("ended_at", _time(), nullable=True),
        sa.Column("until", _time(), nullable=False),
        sa.Column("start_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_alert_inhibitions_device_id_devices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_inhibitions_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_inhibitions")),
    )
    with op.batch_alter_table("alert_inhibitions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_inhibitions_device_id_source_until", ["device_id", "source", "until"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alert_inhibitions_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "alert_series",
        sa.Column("device_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("last_value", sa.String(length=64), nullable=True),
        sa.Column("last_ts", _time(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_alert_series_device_id_devices")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_series_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("device_id", "source", "channel", name=op.f("pk_alert_series")),
    )
    with op.batch_alter_table("alert_series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_series_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "alert_webhooks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("event_types", _json(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_alert_webhooks_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_webhooks")),
        sa.UniqueConstraint("tenant_id", "name", name="uq_alert_webhooks_tenant_id_name"),
    )
    with op.batch_alter_table("alert_webhooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_webhooks_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "alert_webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _time(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("delivered_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["alert_webhooks.id"],
            name=op.f("fk_alert_webhook_deliveries_subscription_id_alert_webhooks"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_alert_webhook_deliveries_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_webhook_deliveries")),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_alert_webhook_deliveries_subscription_id_event_id"),
    )
    with op.batch_alter_table("alert_webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_webhook_deliveries_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_alert_webhook_deliveries_tenant_id_created_at", ["tenant_id", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("alert_webhook_deliveries")
    op.drop_table("alert_webhooks")
    op.drop_table("alert_series")
    op.drop_table("alert_inhibitions")
    op.drop_table("alert_silences")
    op.drop_table("alert_holidays")
    op.drop_table("alert_rotas")
    op.drop_table("alert_policies")
    op.drop_table("alert_rules")
    op.drop_table("alert_steps")
    op.drop_table("alerts")
