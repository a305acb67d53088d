"""ai tables

Revision ID: 0011
Revises: 0010

Written by hand to match ``hub.db.ai_models`` (``tests/integration/hub/test_migrations.py`` compares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hub.db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_ai_documents_revision_positive")),
        sa.CheckConstraint("source IN ('upload', 'record')", name=op.f("ck_ai_documents_source_known")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_ai_documents_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_documents")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_ai_documents_tenant_id")),
    )
    with op.batch_alter_table("ai_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_documents_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "ai_chunks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=500), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["ai_documents.id"],
            name=op.f("fk_ai_chunks_document_id_ai_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_ai_chunks_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_chunks")),
        sa.UniqueConstraint("document_id", "ordinal", name=op.f("uq_ai_chunks_document_id")),
    )
    with op.batch_alter_table("ai_chunks", schema=None) as batch_op:
        batch_op.create_index("ix_ai_chunks_tenant_id_document_id", ["tenant_id", "document_id"], unique=False)

    op.create_table(
        "ai_index_heads",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_ai_index_heads_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_ai_index_heads")),
    )

    op.create_table(
        "ai_models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=200), nullable=False),
        sa.Column("trained_at", hub.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data_from", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("data_to", hub.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column(
            "metrics", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("model", sa.LargeBinary(), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_ai_models_version_positive")),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_ai_models_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_models")),
        sa.UniqueConstraint("tenant_id", "kind", "version", name=op.f("uq_ai_models_tenant_id")),
    )
    with op.batch_alter_table("ai_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_models_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("ai_models")
    op.drop_table("ai_index_heads")
    with op.batch_alter_table("ai_chunks", schema=None) as batch_op:
        batch_op.drop_index("ix_ai_chunks_tenant_id_document_id")
    op.drop_table("ai_chunks")
    with op.batch_alter_table("ai_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_documents_tenant_id"))
    op.drop_table("ai_documents")
