"""Intake: templates of typed sample fields, their versions (approved by a second person with an electronic
signature), and every sheet uploaded against them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, JsonType, new_id, utcnow

VERSION_STATES = ("draft", "approved", "superseded")
UPLOAD_STATES = ("checked", "rejected", "registered")


class IntakeTemplate(Base):
    __tablename__ = "intake_templates"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntakeTemplateVersion(Base):
    """One version of a template's fields. ``content_hash`` is the SHA-256 of the canonical definition that an
    approval signs; an approved version never changes, and a newer approval supersedes it. The database itself
    refuses an approval without a signature, or by the version's author."""

    __tablename__ = "intake_template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("status IN ('draft', 'approved', 'superseded')", name="status_known"),
        CheckConstraint(
            "status = 'draft' OR (signature_id IS NOT NULL AND approver_id IS NOT NULL AND approved_at IS NOT NULL)",
            name="approval_signed",
        ),
        CheckConstraint("approver_id IS NULL OR approver_id <> author_id", name="second_person"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("intake_templates.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    content_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text, default=None)  # what changed, in the author's words
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approver_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), default=None)
    approved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    signature_id: Mapped[str | None] = mapped_column(ForeignKey("esignatures.id"), default=None)
    superseded_at: Mapped[datetime | None] = mapped_column(default=None)


class IntakeUpload(Base):
    """One sheet checked (a dry run) or committed against a template version. ``registered_sha256`` is set only
    when the sheet's samples were registered: the unique constraint makes registering one file twice impossible,
    whatever two requests race."""

    __tablename__ = "intake_uploads"
    __table_args__ = (
        UniqueConstraint("template_version_id", "registered_sha256"),
        Index("ix_intake_uploads_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_intake_uploads_tenant_id_template_id", "tenant_id", "template_id"),
        CheckConstraint("status IN ('checked', 'rejected', 'registered')", name="status_known"),
        CheckConstraint(
            "(status = 'registered' AND registered_sha256 IS NOT NULL AND problem_count = 0)"
            " OR (status <> 'registered' AND registered_sha256 IS NULL AND registered_count = 0)",
            name="registered_whole",
        ),
        CheckConstraint("row_count >= 0 AND problem_count >= 0 AND registered_count >= 0", name="counts"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    template_id: Mapped[str] = mapped_column(ForeignKey("intake_templates.id"))
    template_version_id: Mapped[str] = mapped_column(ForeignKey("intake_template_versions.id"))
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    problem_count: Mapped[int] = mapped_column(Integer, default=0)
    registered_count: Mapped[int] = mapped_column(Integer, default=0)
    registered_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)  # problems (capped), notes, column mapping
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
