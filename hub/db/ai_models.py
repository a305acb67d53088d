"""The ai tables: the documents a tenant indexed and their chunks, the tenant's index version (a counter every
hub process compares with its in-memory index), and trained prediction models with their evaluation reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow


class AiDocument(Base):
    """One document as indexed: the text itself is kept only as chunks. ``revision`` goes up each time different
    content is indexed under the same name; an unchanged upload (same SHA-256) changes nothing. A deleted document
    loses its chunks but keeps this row (``deleted_at``), so what was once answered from it stays traceable."""

    __tablename__ = "ai_documents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("revision >= 1", name="revision_positive"),
        CheckConstraint("source IN ('upload', 'record')", name="source_known"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="upload")
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)  # out of the index; the record stays


class AiChunk(Base):
    """A passage of a document under its heading path (``section``), the unit retrieval ranks and cites."""

    __tablename__ = "ai_chunks"
    __table_args__ = (
        UniqueConstraint("document_id", "ordinal"),
        Index("ix_ai_chunks_tenant_id_document_id", "tenant_id", "document_id"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    document_id: Mapped[str] = mapped_column(ForeignKey("ai_documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(500))
    page: Mapped[int | None] = mapped_column(Integer, default=None)
    text: Mapped[str] = mapped_column(Text)


class AiIndexHead(Base):
    """The tenant's index version: bumped in the transaction of every document change, so each hub process knows
    when its in-memory index is stale without any process-to-process messages."""

    __tablename__ = "ai_index_heads"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class AiModel(Base):
    """A trained model: its version per kind, when and on what data range it was trained, its evaluation on
    held-out data, and the model itself (a pickle the hub made; never one taken from outside)."""

    __tablename__ = "ai_models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(200))
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    data_from: Mapped[datetime | None] = mapped_column(default=None)
    data_to: Mapped[datetime | None] = mapped_column(default=None)
    rows: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column()
    model: Mapped[bytes] = mapped_column(LargeBinary)
    model_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
