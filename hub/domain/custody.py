"""Chain of custody: every hand-over of a sample records from whom, to whom, sent by, when and why, and stays open
until the named receiving person confirms (or refuses) the receipt. The custodian changes only on a confirmed
receipt, so the chain never shows a sample with two holders or none.

Samples sent together form a consignment (``batch_id``): received in one go, or one by one when a tube arrives
broken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import new_id, utcnow
from hub.db.models import User
from hub.db.sample_models import CustodyTransfer, Sample
from hub.domain.identity import Principal
from hub.domain.lifecycle import TERMINAL, SampleState
from hub.domain.samples import Samples, refuse
from hub.errors import ConflictError, ForbiddenError, NotFoundError, ValidationFailedError
from hub.events.outbox import record_event

IN_TRANSIT, RECEIVED, REFUSED = "in_transit", "received", "refused"


@dataclass(frozen=True)
class CustodyStep:
    """One line of a sample's custody history: its registration, or a hand-over."""

    event: str  # registered | in_transit | received | refused
    from_party: str | None
    to_party: str
    by: str
    at: datetime
    reason: str | None
    received_by: str | None = None
    received_at: datetime | None = None
    note: str | None = None
    transfer_id: str | None = None
    batch_id: str | None = None


class Custody:
    def __init__(self, audit: AuditTrail, samples: Samples) -> None:
        self.audit = audit
        self.samples = samples

    async def send(
        self, session: AsyncSession, principal: Principal, sample_ids: Sequence[str], *, to_party: str, reason: str
    ) -> list[CustodyTransfer]:
        """Hand samples over to ``to_party`` (a user of the tenant), all or none: a sample already on its way,
        already held by ``to_party``, or used up or destroyed refuses the consignment, naming each."""
        if principal.kind == "user" and to_party == principal.name:
            raise ValidationFailedError("you cannot send samples to yourself: the receipt needs someone else")
        receiver = (
            await session.execute(select(User).where(User.tenant_id == principal.tenant_id, User.username == to_party))
        ).scalar_one_or_none()
        if receiver is None:
            raise NotFoundError(f"no user {to_party} in this lab")
        if receiver.disabled:
            raise ValidationFailedError(f"{to_party} is disabled and cannot receive samples")
        samples = await self.samples.load_many(session, principal.tenant_id, sample_ids)
        travelling = set(
            (
                await session.execute(
                    select(CustodyTransfer.sample_id).where(
                        CustodyTransfer.tenant_id == principal.tenant_id,
                        CustodyTransfer.sample_id.in_([s.id for s in samples]),
                        CustodyTransfer.status == IN_TRANSIT,
                    )
                )
            ).scalars()
        )
        problems = []
        for sample in samples:
            label = f"sample {sample.barcode}"
            if sample.id in travelling:
                problems.append(f"{label} is already on its way to someone; it must be received first")
            elif sample.custodian == to_party:
                problems.append(f"{label} is already held by {to_party}")
            elif SampleState(sample.state) in TERMINAL:
                problems.append(f"{label} is {sample.state}: there is nothing to hand over")
        refuse(problems)
        batch_id, now = new_id(), utcnow()
        transfers = [
            CustodyTransfer(
                id=new_id(),
                tenant_id=principal.tenant_id,
                batch_id=batch_id,
                sample_id=sample.id,
                from_party=sample.custodian,
                to_party=to_party,
                reason=reason,
                sent_by=principal.label,
                sent_at=now,
                status=IN_TRANSIT,
            )
            for sample in samples
        ]
        session.add_all(transfers)
        try:
            await session.flush()
        except IntegrityError as exc:  # the one-open-transfer index: sent by someone else at the same moment
            raise ConflictError("one of these samples was sent at the same moment; reload and retry") from exc
        for sample, transfer in zip(samples, transfers, strict=True):
            facts = {
                "transfer": transfer.id,
                "batch": batch_id,
                "barcode": sample.barcode,
                "from": transfer.from_party,
                "to": to_party,
            }
            await self._record(session, principal, "transfer", sample.id, reason, facts, "custody.sent")
        return transfers

    async def transfer(self, session: AsyncSession, tenant_id: str, transfer_id: str) -> CustodyTransfer:
        row = (
            await session.execute(
                select(CustodyTransfer)
                .where(CustodyTransfer.tenant_id == tenant_id, CustodyTransfer.id == transfer_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no custody transfer {transfer_id}")
        return row

    async def receive(
        self, session: AsyncSession, principal: Principal, transfer_id: str, *, accepted: bool, note: str | None
    ) -> CustodyTransfer:
        """Confirm (``accepted``) or refuse the receipt of one sample; only the named receiving person may."""
        transfer = await self.transfer(session, principal.tenant_id, transfer_id)
        return (await self._receive(session, principal, [transfer], accepted=accepted, note=note))[0]

    async def receive_batch(
        self, session: AsyncSession, principal: Principal, batch_id: str, *, accepted: bool, note: str | None
    ) -> list[CustodyTransfer]:
        """Confirm or refuse every sample of a consignment still on its way."""
        rows = list(
            (
                await session.execute(
                    select(CustodyTransfer)
                    .where(CustodyTransfer.tenant_id == principal.tenant_id, CustodyTransfer.batch_id == batch_id)
                    .order_by(CustodyTransfer.id)
                    .with_for_update()
                )
            ).scalars()
        )
        if not rows:
            raise NotFoundError(f"no consignment {batch_id}")
        open_rows = [r for r in rows if r.status == IN_TRANSIT]
        if not open_rows:
            raise ConflictError(f"every sample of consignment {batch_id} has been received or refused already")
        return await self._receive(session, principal, open_rows, accepted=accepted, note=note)

    async def _receive(
        self,
        session: AsyncSession,
        principal: Principal,
        transfers: Sequence[CustodyTransfer],
        *,
        accepted: bool,
        note: str | None,
    ) -> list[CustodyTransfer]:
        first = transfers[0]
        if principal.kind != "user" or principal.name != first.to_party:
            raise ForbiddenError(f"only {first.to_party}, the receiving person, can confirm or refuse this receipt")
        if principal.label == first.sent_by:
            raise ForbiddenError("the sender cannot confirm the receipt of what they sent")
        if not accepted and not (note and note.strip()):
            raise ValidationFailedError("say why the receipt is refused (note)")
        closed = [t for t in transfers if t.status != IN_TRANSIT]
        if closed:
            raise ConflictError(f"custody transfer {closed[0].id} was {closed[0].status} already")
        samples = await self.samples.load_many(session, principal.tenant_id, [t.sample_id for t in transfers])
        now = utcnow()
        status = RECEIVED if accepted else REFUSED
        for transfer, sample in zip(transfers, samples, strict=True):
            transfer.status, transfer.received_by, transfer.received_at = status, principal.label, now
            transfer.receipt_note = note
            facts = {"transfer": transfer.id, "barcode": sample.barcode, "status": status, "note": note}
            old = {"custodian": sample.custodian}
            if accepted:
                sample.custodian = transfer.to_party
                sample.version += 1
                sample.updated_at = now
            facts["custodian"] = sample.custodian
            await self._record(
                session,
                principal,
                "receive" if accepted else "refuse",
                sample.id,
                note,
                facts,
                f"custody.{status}",
                old,
            )
        await session.flush()
        return list(transfers)

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        sample_id: str,
        reason: str | None,
        facts: Mapping[str, str | None],
        event: str,
        old: Mapping[str, str] | None = None,
    ) -> None:
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action=action,
            record_type="sample",
            record_id=sample_id,
            reason=reason,
            old=old,
            new=facts,
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type=event,
            subject_type="sample",
            subject_id=sample_id,
            actor=principal.label,
            payload=dict(facts),
        )

    async def transfers(
        self,
        session: AsyncSession,
        tenant_id: str,
        *,
        to_party: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> list[CustodyTransfer]:
        """Hand-overs, newest first: what is on its way to someone (``to_party``, ``status="in_transit"``)."""
        query = select(CustodyTransfer).where(CustodyTransfer.tenant_id == tenant_id)
        if to_party is not None:
            query = query.where(CustodyTransfer.to_party == to_party)
        if status is not None:
            query = query.where(CustodyTransfer.status == status)
        query = query.order_by(CustodyTransfer.sent_at.desc(), CustodyTransfer.id.desc()).limit(limit)
        return list((await session.execute(query)).scalars())

    async def history(self, session: AsyncSession, tenant_id: str, sample_id: str) -> tuple[Sample, list[CustodyStep]]:
        """The sample's whole chain, oldest first: who registered it and held it first, then every hand-over."""
        sample = await self.samples.get(session, tenant_id, sample_id)
        rows = list(
            (
                await session.execute(
                    select(CustodyTransfer)
                    .where(CustodyTransfer.tenant_id == tenant_id, CustodyTransfer.sample_id == sample_id)
                    .order_by(CustodyTransfer.sent_at, CustodyTransfer.id)
                )
            ).scalars()
        )
        first_holder = rows[0].from_party if rows else sample.custodian
        steps = [
            CustodyStep(
                event="registered",
                from_party=None,
                to_party=first_holder,
                by=sample.created_by,
                at=sample.created_at,
                reason=None,
            )
        ]
        steps += [
            CustodyStep(
                event=t.status,
                from_party=t.from_party,
                to_party=t.to_party,
                by=t.sent_by,
                at=t.sent_at,
                reason=t.reason,
                received_by=t.received_by,
                received_at=t.received_at,
                note=t.receipt_note,
                transfer_id=t.id,
                batch_id=t.batch_id,
            )
            for t in rows
        ]
        return sample, steps
