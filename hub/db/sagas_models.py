"""The sagas tables: the saga log (one row per saga, one per step, and every transition), and the corrective actions
an excursion response opens.

A saga row carries its lease (``lease_owner``, ``lease_expires_at``): a runner claims a saga before it advances it
and checks the lease under the row lock in every step's transaction, so two runners never run one step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.base import Base, IdColumn, new_id, utcnow
from hub.db.models import BigIntPk

SAGA_STATES = ("running", "waiting", "compensating", "completed", "compensated", "compensation_failed", "failed")
STEP_STATES = ("pending", "done", "compensating", "compensated", "failed", "skipped")
ACTION_STATES = ("open", "closed")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Saga(Base):
    __tablename__ = "sagas"
    __table_args__ = (
        CheckConstraint(_one_of("state", SAGA_STATES), name="state_known"),
        UniqueConstraint("tenant_id", "start_key"),
        Index("ix_sagas_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_sagas_tenant_id_state_created_at", "tenant_id", "state", "created_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    type: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(24))
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    pivot_passed: Mapped[bool] = mapped_column(default=False)
    start_key: Mapped[str | None] = mapped_column(String(200), default=None)
    inputs: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_by: Mapped[str] = mapped_column(String(128))
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SagaStep(Base):
    __tablename__ = "saga_steps"
    __table_args__ = (
        CheckConstraint(_one_of("state", STEP_STATES), name="state_known"),
        UniqueConstraint("idempotency_key"),
    )

    saga_id: Mapped[str] = mapped_column(ForeignKey("sagas.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    idempotency_key: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    compensation_attempts: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text, default=None)
    wait_until: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SagaTransition(Base):
    """One line of a saga's history: a step done, failed, retried, compensated; the saga started, finished, aborted."""

    __tablename__ = "saga_transitions"
    __table_args__ = (Index("ix_saga_transitions_saga_id_id", "saga_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    saga_id: Mapped[str] = mapped_column(ForeignKey("sagas.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    position: Mapped[int | None] = mapped_column(Integer, default=None)
    step: Mapped[str | None] = mapped_column(String(64), default=None)
    transition: Mapped[str] = mapped_column(String(48))
    detail: Mapped[dict[str, Any]]
    actor: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CorrectiveAction(Base):
    """A corrective action record (an excursion's follow-up): open until a person closes it with a comment."""

    __tablename__ = "corrective_actions"
    __table_args__ = (
        CheckConstraint(_one_of("state", ACTION_STATES), name="state_known"),
        UniqueConstraint("tenant_id", "open_key"),
        Index("ix_corrective_actions_tenant_id_state_opened_at", "tenant_id", "state", "opened_at"),
    )

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    open_key: Mapped[str] = mapped_column(String(200))
    saga_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    unit_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    excursion_id: Mapped[str | None] = mapped_column(IdColumn, default=None)
    title: Mapped[str] = mapped_column(String(300))
    details: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="open")
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(128), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
