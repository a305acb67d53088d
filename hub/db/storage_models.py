"""Storage: a tree of containers (site, room, unit, shelf, rack, box), one row per box position, units bound to the
edge channels that watch them, and the temperature excursions those channels report.

The database holds the rules a race could break: a position holds one sample and a sample sits in one position
(``storage_positions``: primary key and a unique ``sample_id``), a box has no position beyond its grid (positions are
created with the box), a container holds no more children than its capacity (a CHECK on the maintained
``child_count``), and a unit has at most one open excursion (a partial unique index).

``path`` is the materialised path of ids (``/site/room/unit/shelf/``, each id 36 characters and a slash), so every
container under one, any depth, is one indexed range query; ``unit_id`` and ``zone`` are copied down from the unit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow

CONTAINER_KINDS = (
    "site",
    "room",
    "freezer",
    "fridge",
    "ln2_tank",
    "cabinet",
    "shelf",
    "rack",
    "drawer",
    "tower",
    "box",
)
MAX_GRID_ROWS = 26  # rows are lettered A..Z
MAX_GRID_COLS = 48


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StorageContainer(Base):
    __tablename__ = "storage_containers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "barcode", name="uq_storage_containers_tenant_id_barcode"),
        UniqueConstraint("parent_id", "name", name="uq_storage_containers_parent_id_name"),
        Index("ix_storage_containers_tenant_id_parent_id", "tenant_id", "parent_id"),
        Index("ix_storage_containers_tenant_id_kind", "tenant_id", "kind"),
        Index("ix_storage_containers_unit_id", "unit_id"),
        # text_pattern_ops: the prefix range (~>=~, ~<~) uses the index whatever the database's collation
        Index("ix_storage_containers_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
        CheckConstraint(_in_list("kind", CONTAINER_KINDS), name="kind_known"),
        CheckConstraint("zone IS NULL OR zone IN ('ln2_vapour', '-80', '-20', '4', 'room')", name="zone_known"),
        CheckConstraint(
            "child_count >= 0 AND (capacity IS NULL OR child_count <= capacity)", name="children_within_capacity"
        ),
        CheckConstraint(
            "(kind = 'box' AND grid_rows IS NOT NULL AND grid_cols IS NOT NULL"
            f" AND grid_rows BETWEEN 1 AND {MAX_GRID_ROWS} AND grid_cols BETWEEN 1 AND {MAX_GRID_COLS})"
            " OR (kind <> 'box' AND grid_rows IS NULL AND grid_cols IS NULL)",
            name="box_grid",
        ),
        CheckConstraint("warn_at_pct IS NULL OR warn_at_pct BETWEEN 1 AND 100", name="warn_at_pct_range"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("storage_containers.id"), default=None)
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("storage_containers.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    barcode: Mapped[str | None] = mapped_column(String(64), default=None)
    zone: Mapped[str | None] = mapped_column(String(16), default=None)
    path: Mapped[str] = mapped_column(String(512))
    capacity: Mapped[int | None] = mapped_column(Integer, default=None)  # child containers it can hold
    child_count: Mapped[int] = mapped_column(Integer, default=0)
    grid_rows: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    grid_cols: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    warn_at_pct: Mapped[int | None] = mapped_column(SmallInteger, default=None)  # None: the hub's default
    capacity_warned: Mapped[bool] = mapped_column(Boolean, default=False)  # above the threshold since the crossing
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StoragePosition(Base):
    """One position of a box grid (row 1 = A, column 1 = 1), free when ``sample_id`` is None."""

    __tablename__ = "storage_positions"
    __table_args__ = (CheckConstraint("row_no >= 1 AND col_no >= 1", name="in_grid"),)

    box_id: Mapped[str] = mapped_column(ForeignKey("storage_containers.id"), primary_key=True)
    row_no: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    col_no: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    sample_id: Mapped[str | None] = mapped_column(ForeignKey("samples.id"), unique=True, default=None)
    placed_at: Mapped[datetime | None] = mapped_column(default=None)
    placed_by: Mapped[str | None] = mapped_column(String(128), default=None)


class StorageUnitBinding(Base):
    """An edge channel that watches a unit: ``source`` is the instrument behind the edge (the alarm payload's
    ``device``), empty when any instrument's ``channel`` counts."""

    __tablename__ = "storage_unit_bindings"
    __table_args__ = (
        UniqueConstraint("device_id", "source", "channel", name="uq_storage_unit_bindings_device_id_source_channel"),
        Index("ix_storage_unit_bindings_unit_id", "unit_id"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("storage_containers.id"))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    source: Mapped[str] = mapped_column(String(128), default="")
    channel: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StorageExcursion(Base):
    """A unit out of its temperature range: from the first limit alarm raised on a bound channel until every alarm
    it raised has cleared. ``active_alarms`` holds ``{"ids": [alarm ids still raised]}``."""

    __tablename__ = "storage_excursions"
    __table_args__ = (
        Index("ix_storage_excursions_tenant_id_unit_id", "tenant_id", "unit_id", "started_at"),
        Index(
            "uq_storage_excursions_open_unit",
            "unit_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("storage_containers.id"))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    source: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str | None] = mapped_column(String(16), default=None)
    value: Mapped[str | None] = mapped_column(String(64), default=None)
    limit_value: Mapped[str | None] = mapped_column(String(64), default=None)
    message: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime]
    start_seq: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    active_alarms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    samples_at_start: Mapped[int] = mapped_column(Integer, default=0)


class StorageExcursionSample(Base):
    """A sample exposed to an excursion and where it was: inside the unit when it started (``joined`` "start"), or
    placed or moved into it while it lasted ("placed")."""

    __tablename__ = "storage_excursion_samples"

    excursion_id: Mapped[str] = mapped_column(ForeignKey("storage_excursions.id"), primary_key=True)
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id"), primary_key=True, index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    box_id: Mapped[str] = mapped_column(ForeignKey("storage_containers.id"))
    row_no: Mapped[int] = mapped_column(SmallInteger)
    col_no: Mapped[int] = mapped_column(SmallInteger)
    joined: Mapped[str] = mapped_column(String(16))
