"""The anomaly tables: each storage unit's learned models of its own normal behaviour, one version per training,
with where its scorer stands.

A unit has at most one active model (a partial unique index): training a new version retires the old one, which
is kept, with its metrics, so a person can see what the unit was judged against and when. The model's numbers
are plain JSON (``params``), never pickled code. The scorer's state (the last window judged, its score, the
consecutive anomalous and normal windows, whether the unit is flagged) lives on the active model's row, so any hub
process may score and a restart resumes where the last one stopped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow


class UnitAnomalyModel(Base):
    __tablename__ = "anomaly_models"
    __table_args__ = (
        UniqueConstraint("unit_id", "version", name="uq_anomaly_models_unit_id_version"),
        Index("ix_anomaly_models_tenant_id_unit_id", "tenant_id", "unit_id"),
        Index(
            "uq_anomaly_models_active_unit",
            "unit_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    unit_id: Mapped[str] = mapped_column(ForeignKey("storage_containers.id"))
    version: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any]]
    window_s: Mapped[int] = mapped_column(Integer)
    hold: Mapped[int] = mapped_column(Integer)
    trained_from: Mapped[datetime]
    trained_to: Mapped[datetime]
    trained_at: Mapped[datetime] = mapped_column(default=utcnow)
    trained_by: Mapped[str] = mapped_column(String(128))
    scored_until: Mapped[datetime]
    last_score: Mapped[float | None] = mapped_column(Float, default=None)
    last_feature: Mapped[str | None] = mapped_column(String(32), default=None)
    last_window_end: Mapped[datetime | None] = mapped_column(default=None)
    anomalous_streak: Mapped[int] = mapped_column(Integer, default=0)
    normal_streak: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
