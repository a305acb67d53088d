"""Samples: projects, sample types, samples with lineage, chain of custody, QC results and releases."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow

# The temperature zones a storage unit can hold and a sample type can need, coldest first.
ZONES = ("ln2_vapour", "-80", "-20", "4", "room")


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SampleType(Base):
    """What a sample is (blood, DNA, library…) and the storage it needs: ``zone`` is one of ``ZONES``; a unit of
    the same zone fits, and a colder one too when ``colder_ok``."""

    __tablename__ = "sample_types"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str] = mapped_column(String(16))
    colder_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sample(Base):
    """One sample. ``state`` follows the lifecycle in ``hub.domain.lifecycle``; ``held_from`` is the state an
    on-hold sample returns to; ``version`` increases with every change (optimistic concurrency, ETags)."""

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("tenant_id", "barcode"),
        Index("ix_samples_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
        Index("ix_samples_tenant_id_state", "tenant_id", "state"),
        Index("ix_samples_tenant_id_project_id", "tenant_id", "project_id"),
        CheckConstraint("volume_ul IS NULL OR volume_ul >= 0", name="volume_not_negative"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    barcode: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    sample_type_id: Mapped[str] = mapped_column(ForeignKey("sample_types.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), default=None)
    state: Mapped[str] = mapped_column(String(24))
    held_from: Mapped[str | None] = mapped_column(String(24), default=None)
    volume_ul: Mapped[Decimal | None] = mapped_column(Numeric(14, 3), default=None)
    concentration: Mapped[Decimal | None] = mapped_column(Numeric(14, 4), default=None)
    custodian: Mapped[str] = mapped_column(String(200))  # who holds it now: a person, a lab, a courier
    qc_status: Mapped[str | None] = mapped_column(String(16), default=None)  # passed | failed | released
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # intake template fields
    intake_upload_id: Mapped[str | None] = mapped_column(String(36), default=None, index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SampleLink(Base):
    """Lineage: ``child`` was made from ``parent`` (an aliquot, a derivative such as extracted DNA, or a pool of
    many parents)."""

    __tablename__ = "sample_links"
    __table_args__ = (CheckConstraint("parent_id <> child_id", name="not_self"),)

    parent_id: Mapped[str] = mapped_column(ForeignKey("samples.id"), primary_key=True)
    child_id: Mapped[str] = mapped_column(ForeignKey("samples.id"), primary_key=True, index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # aliquot | derivative | pool
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustodyTransfer(Base):
    """One hand-over: from whom to whom, sent by, when and why; open until someone at the receiving end confirms
    (or refuses) the receipt."""

    __tablename__ = "custody_transfers"
    __table_args__ = (Index("ix_custody_transfers_tenant_id_sample_id", "tenant_id", "sample_id", "sent_at"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id"))
    from_party: Mapped[str] = mapped_column(String(200))
    to_party: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    sent_by: Mapped[str] = mapped_column(String(128))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="in_transit")  # in_transit | received | refused
    received_by: Mapped[str | None] = mapped_column(String(128), default=None)
    received_at: Mapped[datetime | None] = mapped_column(default=None)
    receipt_note: Mapped[str | None] = mapped_column(Text, default=None)


class QcResult(Base):
    __tablename__ = "qc_results"
    __table_args__ = (Index("ix_qc_results_tenant_id_sample_id", "tenant_id", "sample_id"),)

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id"))
    assay: Mapped[str] = mapped_column(String(64))  # e.g. Qubit, TapeStation RIN, Bioanalyzer
    value: Mapped[str | None] = mapped_column(String(64), default=None)
    unit: Mapped[str | None] = mapped_column(String(32), default=None)
    passed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a failed result released for use anyway: the e-signature that allowed it
    released_signature_id: Mapped[str | None] = mapped_column(ForeignKey("esignatures.id"), default=None)


class SampleSequence(Base):
    """A counter per tenant and prefix for generated barcodes (S-000123), incremented under a row lock."""

    __tablename__ = "sample_sequences"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger, default=1)
