"""intake templates, versions, uploads

Revision ID: 0006
Revises: 0005

Written by hand (other modules' tables change in the same release); test_migrations compares it with the models.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "intake_templates",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_intake_templates_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_templates")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_intake_templates_tenant_id")),
    )
    with op.batch_alter_table("intake_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_templates_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "intake_template_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("template_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fields", _json(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approver_id", sa.String(length=36), nullable=True),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signature_id", sa.String(length=36), nullable=True),
        sa.Column("superseded_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("version >= 1", name=op.f("ck_intake_template_versions_version_positive")),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'superseded')", name=op.f("ck_intake_template_versions_status_known")
        ),
        sa.CheckConstraint(
            "status = 'draft' OR (signature_id IS NOT NULL AND approver_id IS NOT NULL AND approved_at IS NOT NULL)",
            name=op.f("ck_intake_template_versions_approval_signed"),
        ),
        sa.CheckConstraint(
            "approver_id IS NULL OR approver_id <> author_id", name=op.f("ck_intake_template_versions_second_person")
        ),
        sa.ForeignKeyConstraint(
            ["approver_id"], ["users.id"], name=op.f("fk_intake_template_versions_approver_id_users")
        ),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_intake_template_versions_author_id_users")),
        sa.ForeignKeyConstraint(
            ["signature_id"], ["esignatures.id"], name=op.f("fk_intake_template_versions_signature_id_esignatures")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["intake_templates.id"],
            name=op.f("fk_intake_template_versions_template_id_intake_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_intake_template_versions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_template_versions")),
        sa.UniqueConstraint("template_id", "version", name=op.f("uq_intake_template_versions_template_id")),
    )
    with op.batch_alter_table("intake_template_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_template_versions_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "intake_uploads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("template_id", sa.String(length=36), nullable=False),
        sa.Column("template_version_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("registered_count", sa.Integer(), nullable=False),
        sa.Column("registered_sha256", sa.String(length=64), nullable=True),
        sa.Column("report", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('checked', 'rejected', 'registered')", name=op.f("ck_intake_uploads_status_known")
        ),
        sa.CheckConstraint(
            "(status = 'registered' AND registered_sha256 IS NOT NULL AND problem_count = 0)"
            " OR (status <> 'registered' AND registered_sha256 IS NULL AND registered_count = 0)",
            name=op.f("ck_intake_uploads_registered_whole"),
        ),
        sa.CheckConstraint(
            "row_count >= 0 AND problem_count >= 0 AND registered_count >= 0", name=op.f("ck_intake_uploads_counts")
        ),
        sa.ForeignKeyConstraint(
            ["template_id"], ["intake_templates.id"], name=op.f("fk_intake_uploads_template_id_intake_templates")
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            ["intake_template_versions.id"],
            name=op.f("fk_intake_uploads_template_version_id_intake_template_versions"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_intake_uploads_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_uploads")),
        sa.UniqueConstraint(
            "template_version_id", "registered_sha256", name=op.f("uq_intake_uploads_template_version_id")
        ),
    )
    with op.batch_alter_table("intake_uploads", schema=None) as batch_op:
        batch_op.create_index("ix_intake_uploads_tenant_id_created_at", ["tenant_id", "created_at"], unique=False)
        batch_op.create_index("ix_intake_uploads_tenant_id_template_id", ["tenant_id", "template_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("intake_uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_intake_uploads_tenant_id_template_id")
        batch_op.drop_index("ix_intake_uploads_tenant_id_created_at")
    op.drop_table("intake_uploads")
    with op.batch_alter_table("intake_template_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_template_versions_tenant_id"))
    op.drop_table("intake_template_versions")
    with op.batch_alter_table("intake_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_templates_tenant_id"))
    op.drop_table("intake_templates")
