"""The saga runner: claims runnable sagas under a lease, runs their steps one transaction each, compensates in
reverse order when a step fails before the pivot, and resumes every unfinished saga after a restart.

A step's action and its log write ("done", its output, the next step) commit in one transaction: a crash before
the commit leaves no trace of the attempt (the action runs again), a crash after it leaves the step done. What an
action writes outside that transaction (none of the lab's workflows does: notifications and edge commands are rows)
must be idempotent on the step's key. Each transaction first locks the saga row (``FOR UPDATE`` on PostgreSQL; a
SQLite write transaction holds the database) and checks the lease is still this runner's: a runner that lost its
lease (paused past its expiry) stops without writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.db.base import Database, utcnow
from hub.db.models import OutboxEvent
from hub.db.sagas_models import Saga, SagaStep
from hub.errors import HubError
from hub.sagas.context import Services, StepContext, principal_of
from hub.sagas.crash import CrashPoints
from hub.sagas.definition import PermanentStepError, RetryableStepError, SagaDefinition, Step, StepTimeoutError
from hub.sagas.log import transition

logger = logging.getLogger(__name__)

ACTIVE = ("running", "waiting", "compensating")
FINISHED = ("completed", "compensated")
ACTOR = "system:sagas"


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe(exc: BaseException) -> str:
    text = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:2000]


def is_permanent(exc: BaseException) -> bool:
    """Refusals (bad input, not found, a conflict the lab must resolve) do not get better by retrying."""
    if isinstance(exc, RetryableStepError):
        return False
    if isinstance(exc, PermanentStepError):
        return True
    return isinstance(exc, HubError) and 400 <= exc.status < 500 and exc.status not in (408, 429)


@dataclass
class _Outcome:
    go_on: bool
    crash: tuple[str, str, str, str | None] | None = None  # (saga type, step, boundary, start key): after the commit


class SagaRunner:
    """``registry``: saga type → definition. ``lease``: how long a claim lasts without a step committing (longer
    than any step's timeout). ``concurrency``: sagas advanced at once in this process."""

    def __init__(
        self,
        db: Database,
        services: Services,
        registry: Mapping[str, SagaDefinition],
        *,
        owner: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 20,
        concurrency: int = 8,
        poll_s: float = 0.5,
        crash: CrashPoints | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.services = services
        self.registry = dict(registry)
        self.owner = owner or default_owner()
        self.lease = lease
        self.batch = batch
        self.poll_s = poll_s
        self.crash = crash or CrashPoints()
        self.clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Recover, then advance runnable sagas until ``stop``; a failure is logged once and again on recovery."""
        await self.recover()
        failing = False
        while not stop.is_set():
            self._wake.clear()
            advanced = 0
            try:
                advanced = await self.run_once()
                if failing:
                    logger.info("saga runner %s recovered", self.owner)
                failing = False
            except Exception:
                if not failing:
                    logger.exception("saga runner %s failed; retrying", self.owner)
                failing = True
            if advanced:
                continue
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def run_once(self) -> int:
        """Claim a batch of runnable sagas and advance each as far as it goes now; returns how many."""
        claimed = await self.claim()
        if claimed:
            await asyncio.gather(*(self._advance_in_slot(saga_id) for saga_id in claimed))
        return len(claimed)

    async def drain(self, *, rounds: int = 1000) -> None:
        """Advance until nothing is runnable now (tests and the CLI)."""
        for _ in range(rounds):
            if not await self.run_once():
                return

    async def recover(self) -> int:
        """Free the leases of runners on this host that are gone (their pid is dead), so their sagas resume now
        instead of when the lease expires; every unfinished saga is then picked up by ``run``. Returns how many."""
        host = socket.gethostname()
        async with self._transaction() as session:
            rows = await session.execute(
                select(Saga.id, Saga.lease_owner).where(Saga.state.in_(ACTIVE), Saga.lease_owner.is_not(None))
            )
            dead = []
            for saga_id, owner in rows.all():
                parts = str(owner).split(":")
                if len(parts) == 3 and parts[0] == host and parts[1].isdigit():
                    pid = int(parts[1])
                    if (pid == os.getpid() and owner != self.owner) or (pid != os.getpid() and not _alive(pid)):
                        dead.append(saga_id)
            if dead:
                await session.execute(
                    update(Saga).where(Saga.id.in_(dead)).values(lease_owner=None, lease_expires_at=None)
                )
        if dead:
            logger.info("saga runner %s took over %d saga(s) of runners that are gone", self.owner, len(dead))
        return len(dead)

    async def claim(self) -> list[str]:
        now = self.clock()
        async with self._transaction() as session:
            query = (
                select(Saga.id)
                .where(
                    Saga.state.in_(ACTIVE),
                    Saga.next_attempt_at <= now,
                    or_(Saga.lease_owner.is_(None), Saga.lease_expires_at < now),
                )
                .order_by(Saga.next_attempt_at)
                .limit(self.batch)
            )
            if self.db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list((await session.execute(query)).scalars())
            if ids:
                await session.execute(
                    update(Saga)
                    .where(Saga.id.in_(ids))
                    .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
                )
        return ids

    async def _advance_in_slot(self, saga_id: str) -> None:
        async with self._slots:
            try:
                await self.advance(saga_id)
            except Exception:
                logger.exception("saga %s: advancing failed; it resumes when its lease expires", saga_id)

    async def advance(self, saga_id: str) -> None:
        """Run the saga's steps (or compensations) one transaction each while this runner holds its lease."""
        while True:
            try:
                outcome = await self._step(saga_id)
            except Exception as exc:  # the step's transaction failed as a whole: count the attempt in a new one
                logger.warning("saga %s: a step's transaction failed: %s", saga_id, describe(exc))
                outcome = await self._record_failure(saga_id, exc)
            if outcome.crash is not None:
                self.crash.hit(*outcome.crash)
            if not outcome.go_on:
                return

    # -- one step -----------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """Committed on success, rolled back on any error (unlike ``Database.transaction``, a ``HubError`` with
        ``keep_changes`` keeps nothing: half an action must never commit without its log line)."""
        async with self.db.sessions() as session, session.begin():
            yield session

    async def _locked(self, session: AsyncSession, saga_id: str) -> Saga | None:
        """The saga row, locked, if this runner still holds its lease."""
        query = select(Saga).where(Saga.id == saga_id)
        if self.db.dialect == "postgresql":
            query = query.with_for_update()
        saga = (await session.execute(query)).scalar_one_or_none()
        now = self.clock()
        if saga is None or saga.lease_owner != self.owner or saga.state not in ACTIVE:
            return None
        if saga.lease_expires_at is not None and saga.lease_expires_at < now:
            return None
        saga.lease_expires_at = now + self.lease
        return saga

    def _definition(self, saga: Saga) -> SagaDefinition:
        definition = self.registry.get(saga.type)
        if definition is None or definition.version != saga.version:
            raise PermanentStepError(f"no definition of saga {saga.type} version {saga.version} in this runner")
        return definition

    async def _context(self, session: AsyncSession, saga: Saga, row: SagaStep, now: datetime) -> StepContext:
        steps = (await session.execute(select(SagaStep).where(SagaStep.saga_id == saga.id))).scalars()
        outputs = {s.name: dict(s.output) for s in steps}
        return StepContext(
            session=session,
            services=self.services,
            principal=principal_of(saga.inputs["principal"]),
            saga_id=saga.id,
            saga_type=saga.type,
            step=row.name,
            key=row.idempotency_key,
            inputs=saga.inputs,
            outputs=outputs,
            now=now,
        )

    async def _step(self, saga_id: str) -> _Outcome:
        at = await self._at(saga_id)
        if at is None:
            return _Outcome(False)
        saga_type, name, compensating, key = at
        if name is not None:
            self.crash.hit(saga_type, name, "compensate_before" if compensating else "before", key)
        async with self._transaction() as session:
            saga = await self._locked(session, saga_id)
            if saga is None:
                return _Outcome(False)
            definition = self._definition(saga)
            if saga.state == "compensating":
                return await self._compensate_one(session, saga, definition)
            return await self._forward_one(session, saga, definition)

    async def _at(self, saga_id: str) -> tuple[str, str | None, bool, str | None] | None:
        """The saga's type, the step it is at and whether it compensates (read without a lock: only to name the
        crash point before the step's transaction; skipped when no crash point is set)."""
        if not self.crash.armed:
            return "", None, False, None
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(Saga.type, Saga.state, SagaStep.name, Saga.start_key)
                    .outerjoin(SagaStep, (SagaStep.saga_id == Saga.id) & (SagaStep.position == Saga.current_step))
                    .where(Saga.id == saga_id)
                )
            ).one_or_none()
            if row is None:
                return None
            return row[0], row[2], row[1] == "compensating", row[3]

    async def _forward_one(self, session: AsyncSession, saga: Saga, definition: SagaDefinition) -> _Outcome:
        now = self.clock()
        position = saga.current_step
        row = await session.get(SagaStep, (saga.id, position))
        if row is None or position >= len(definition.steps):
            return self._finish(session, saga, "completed", now)
        step = definition.step(position)
        row.started_at = row.started_at or now
        if step.wait is not None:
            return await self._wait_one(session, saga, step, row, now)
        if step.action is None:
            raise PermanentStepError(f"step {step.name} has nothing to do")
        context = await self._context(session, saga, row, now)
        try:
            output = await asyncio.wait_for(step.action(context), step.timeout.total_seconds())
            await session.flush()
        except TimeoutError as exc:
            raise StepTimeoutError(f"step {step.name} ran longer than {step.timeout}") from exc
        self.crash.hit(saga.type, step.name, "after_action", saga.start_key)
        return self._done(session, saga, definition, step, row, output, now)

    def _done(
        self,
        session: AsyncSession,
        saga: Saga,
        definition: SagaDefinition,
        step: Step,
        row: SagaStep,
        output: Mapping[str, Any],
        now: datetime,
    ) -> _Outcome:
        row.state, row.output, row.finished_at, row.error = "done", dict(output), now, None
        row.attempts += 1
        saga.current_step = row.position + 1
        saga.pivot_passed = saga.pivot_passed or step.pivot
        saga.state, saga.updated_at, saga.next_attempt_at = "running", now, now
        transition(session, saga, "step_done", actor=ACTOR, position=row.position, step=row.name, attempts=row.attempts)
        if saga.current_step >= len(definition.steps):
            self._finish(session, saga, "completed", now)
        return _Outcome(saga.state in ACTIVE, crash=(saga.type, step.name, "after_log", saga.start_key))

    async def _wait_one(self, session: AsyncSession, saga: Saga, step: Step, row: SagaStep, now: datetime) -> _Outcome:
        wait = step.wait
        if wait is None:
            raise PermanentStepError(f"step {step.name} waits for nothing")
        if row.wait_until is None:
            row.wait_until = now + wait.deadline(saga.inputs)
            transition(
                session, saga, "waiting", actor=ACTOR, position=row.position, step=row.name, until=row.wait_until
            )
        context = await self._context(session, saga, row, now)
        subject = wait.subject(context)
        event = (
            await session.execute(
                select(OutboxEvent)
                .where(
                    OutboxEvent.tenant_id == saga.tenant_id,
                    OutboxEvent.type.in_(sorted(wait.types)),
                    OutboxEvent.subject_id == subject,
                    OutboxEvent.created_at >= saga.created_at,
                )
                .order_by(OutboxEvent.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if event is not None:
            definition = self._definition(saga)
            output = {"event": event.type, "event_id": event.event_id, "at": event.created_at.isoformat()}
            return self._done(session, saga, definition, step, row, output, now)
        if row.wait_until <= now:
            raise StepTimeoutError(f"no {' or '.join(sorted(wait.types))} for {subject} by {row.wait_until}")
        saga.state = "waiting"
        saga.next_attempt_at = min(now + wait.poll, row.wait_until)
        saga.lease_owner, saga.lease_expires_at = None, None
        return _Outcome(False)

    async def _compensate_one(self, session: AsyncSession, saga: Saga, definition: SagaDefinition) -> _Outcome:
        now = self.clock()
        position = saga.current_step
        if position < 0:
            return self._finish(session, saga, "compensated", now)
        row = await session.get(SagaStep, (saga.id, position))
        step = definition.step(position)
        if row is None or row.state not in ("done", "compensating") or step.compensate is None:
            if row is not None and row.state == "pending":
                row.state = "skipped"
            saga.current_step = position - 1
            return _Outcome(True)
        context = await self._context(session, saga, row, now)
        try:
            await asyncio.wait_for(step.compensate(context), step.timeout.total_seconds())
            await session.flush()
        except TimeoutError as exc:
            raise StepTimeoutError(f"compensating {step.name} ran longer than {step.timeout}") from exc
        self.crash.hit(saga.type, step.name, "compensate_after_action", saga.start_key)
        row.state, row.finished_at = "compensated", now
        row.compensation_attempts += 1
        saga.current_step, saga.updated_at = position - 1, now
        transition(session, saga, "step_compensated", actor=ACTOR, position=position, step=row.name)
        return _Outcome(True, crash=(saga.type, step.name, "compensate_after_log", saga.start_key))

    def _finish(self, session: AsyncSession, saga: Saga, state: str, now: datetime) -> _Outcome:
        saga.state, saga.finished_at, saga.updated_at = state, now, now
        saga.lease_owner, saga.lease_expires_at = None, None
        transition(session, saga, state, actor=ACTOR)
        return _Outcome(False)

    # -- failures -----------------------------------------------------------------------------------------------

    async def _record_failure(self, saga_id: str, exc: BaseException) -> _Outcome:
        """Count a failed attempt of the saga's current step (or compensation) and decide: retry after a backoff,
        compensate, or stop in ``failed`` / ``compensation_failed`` (both raise an alert via ``saga.failed``)."""
        now = self.clock()
        error = describe(exc)
        async with self._transaction() as session:
            saga = await self._locked(session, saga_id)
            if saga is None:
                return _Outcome(False)
            try:
                definition = self._definition(saga)
            except PermanentStepError as missing:
                saga.state, saga.error = "failed", describe(missing)
                transition(session, saga, "failed", actor=ACTOR, error=saga.error, reason=saga.error)
                saga.lease_owner = None
                return _Outcome(False)
            row = await session.get(SagaStep, (saga.id, saga.current_step))
            if row is None:
                return _Outcome(False)
            step = definition.step(row.position)
            row.error, saga.error, saga.updated_at = error, error, now
            if saga.state == "compensating":
                return self._compensation_failed(session, saga, step, row, error, now)
            row.attempts += 1
            waited_out = isinstance(exc, StepTimeoutError) and step.wait is not None
            if not is_permanent(exc) and not waited_out and row.attempts < step.attempts:
                return self._retry_later(session, saga, row, step.backoff.delay(row.attempts), error, now)
            row.state, row.finished_at = "failed", now
            if saga.pivot_passed:
                saga.state = "failed"
                saga.lease_owner, saga.lease_expires_at = None, None
                reason = f"step {row.name} failed after the pivot: {error}"
                transition(
                    session,
                    saga,
                    "failed",
                    actor=ACTOR,
                    position=row.position,
                    step=row.name,
                    error=error,
                    reason=reason,
                )
                return _Outcome(False)
            saga.state, saga.current_step = "compensating", row.position - 1
            transition(session, saga, "compensating", actor=ACTOR, position=row.position, step=row.name, error=error)
            return _Outcome(True)

    def _retry_later(
        self, session: AsyncSession, saga: Saga, row: SagaStep, delay: timedelta, error: str, now: datetime
    ) -> _Outcome:
        saga.next_attempt_at = now + delay
        saga.state = "compensating" if saga.state == "compensating" else "running"
        saga.lease_owner, saga.lease_expires_at = None, None
        transition(
            session,
            saga,
            "compensation_retry" if saga.state == "compensating" else "step_retry",
            actor=ACTOR,
            position=row.position,
            step=row.name,
            error=error,
            attempts=row.compensation_attempts if saga.state == "compensating" else row.attempts,
            retry_at=saga.next_attempt_at,
        )
        return _Outcome(False)

    def _compensation_failed(
        self, session: AsyncSession, saga: Saga, step: Step, row: SagaStep, error: str, now: datetime
    ) -> _Outcome:
        row.compensation_attempts += 1
        row.state = "compensating"
        if row.compensation_attempts < step.compensation_attempts:
            return self._retry_later(session, saga, row, step.backoff.delay(row.compensation_attempts), error, now)
        row.state = "failed"
        saga.state = "compensation_failed"
        saga.lease_owner, saga.lease_expires_at = None, None
        transition(session, saga, "compensation_failed", actor=ACTOR, position=row.position, step=row.name, error=error)
        return _Outcome(False)
