"""Samples: projects, sample types, samples with lineage, chain of custody, QC results and releases.

The database holds the rules a bug or a race could break: one barcode per tenant, known states, no negative
volume, no sample its own parent, one open hand-over per sample, a release only on a failed QC result.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, get_args

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow

# The temperature zones a storage unit can hold and a sample type can need, coldest first.
Zone = Literal["ln2_vapour", "-80", "-20", "4", "room"]
ZONES: tuple[str, ...] = get_args(Zone)
# hub.domain.lifecycle.SampleState, spelled out: the schema must not change when the domain module is edited
# (a unit test keeps the two equal).
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
QC_STATUSES = ("passed", "failed", "released")
LINK_KINDS = ("aliquot", "derivative", "pool")
TRANSFER_STATUSES = ("in_transit", "received", "refused")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


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
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint(_one_of("zone", ZONES), name="zone_known"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str] = mapped_column(String(16))
    colder_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sample(Base):
    """One sample. ``state`` follows the lifecycle in ``hub.domain.lifecycle``; ``held_from`` is the state an
    on-hold sample returns to; ``version`` increases with every change (optimistic concurrency, ETags).

    Lists page by ``(created_at, id)``: every filter the list offers has an index that ends in those two columns,
    so a page is an index range read whatever the table's size. On PostgreSQL the barcode index compares bytes
    (``varchar_pattern_ops``: a prefix search uses it whatever the database's collation) and the name has a
    trigram index (a search inside names)."""

    __tablename__ = "samples"
    __table_args__ = (
        Index(
            "uq_samples_tenant_id_barcode",
            "tenant_id",
            "barcode",
            unique=True,
            postgresql_ops={"barcode": "varchar_pattern_ops"},
        ),
        Index("ix_samples_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
        Index("ix_samples_tenant_id_state_created_at_id", "tenant_id", "state", "created_at", "id"),
        Index("ix_samples_tenant_id_project_id_created_at_id", "tenant_id", "project_id", "created_at", "id"),
        Index("ix_samples_tenant_id_sample_type_id_created_at_id", "tenant_id", "sample_type_id", "created_at", "id"),
        # a trigram index on PostgreSQL; SQLite makes it a plain index (alembic compares both databases with the
        # same metadata, so the index cannot be left out there)
        Index("ix_samples_name", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        CheckConstraint("volume_ul IS NULL OR volume_ul >= 0", name="volume_not_negative"),
        CheckConstraint("concentration IS NULL OR concentration >= 0", name="concentration_not_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(_one_of("state", SAMPLE_STATES), name="state_known"),
        CheckConstraint(f"qc_status IS NULL OR {_one_of('qc_status', QC_STATUSES)}", name="qc_status_known"),
        CheckConstraint("held_from IS NULL OR state = 'on_hold'", name="held_only_on_hold"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    barcode: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    sample_type_id: Mapped[str] = mapped_column(ForeignKey("sample_types.id"))
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
    many parents); ``volume_ul`` is what was taken from the parent, when known."""

    __tablename__ = "sample_links"
    __table_args__ = (
        CheckConstraint("parent_id <> child_id", name="not_self"),
        CheckConstraint(_one_of("kind", LINK_KINDS), name="kind_known"),
        CheckConstraint("volume_ul IS NULL OR volume_ul >= 0", name="volume_not_negative"),
    )

    parent_id: Mapped[str] = mapped_column(ForeignKey("samples.id"), primary_key=True)
    child_id: Mapped[str] = mapped_column(ForeignKey("samples.id"), primary_key=True, index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # aliquot | derivative | pool
    volume_ul: Mapped[Decimal | None] = mapped_column(Numeric(14, 3), default=None)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustodyTransfer(Base):
    """One hand-over of one sample: from whom to whom, sent by, when and why; open (``in_transit``) until the
    receiving person confirms or refuses the receipt. Samples sent together share a ``batch_id`` (a consignment,
    received in one go or one by one)."""

    __tablename__ = "custody_transfers"
    __table_args__ = (
        Index("ix_custody_transfers_tenant_id_sample_id", "tenant_id", "sample_id", "sent_at"),
        Index("ix_custody_transfers_tenant_id_batch_id", "tenant_id", "batch_id"),
        Index("ix_custody_transfers_tenant_id_to_party_status", "tenant_id", "to_party", "status", "sent_at"),
        # a sample travels once at a time: a second hand-over while one is open is refused by the database too
        Index(
            "uq_custody_transfers_sample_id_in_transit",
            "sample_id",
            unique=True,
            postgresql_where=text("status = 'in_transit'"),
            sqlite_where=text("status = 'in_transit'"),
        ),
        CheckConstraint(_one_of("status", TRANSFER_STATUSES), name="status_known"),
        CheckConstraint("from_party <> to_party", name="not_to_self"),
        CheckConstraint(
            "(status = 'in_transit' AND received_by IS NULL AND received_at IS NULL)"
            " OR (status <> 'in_transit' AND received_by IS NOT NULL AND received_at IS NOT NULL)",
            name="receipt_complete",
        ),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    batch_id: Mapped[str] = mapped_column(String(36))
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
    __table_args__ = (
        Index("ix_qc_results_tenant_id_sample_id", "tenant_id", "sample_id"),
        CheckConstraint("released_signature_id IS NULL OR NOT passed", name="release_only_failed"),
    )

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
