"""Sample QC: results with pass or fail and a reason, and the signed release of a failed result.

A failed result sets the sample's ``qc_status`` to ``failed``, which keeps it out of preparation and sequencing
(``Samples.transition_many``). A later passing result does not clear a failure (re-testing until a pass would
otherwise undo any failure unseen): only a release does, signed with the signer's password, the meaning
"approval" and a reason (21 CFR 11.50, 11.200), by someone other than who recorded the failure. The signature is
bound to the result by the SHA-256 of ``release_content``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.audit.trail import AuditTrail
from hub.db.base import utcnow
from hub.db.models import ESignature, User
from hub.db.sample_models import QcResult, Sample
from hub.domain.identity import Principal
from hub.domain.samples import Samples
from hub.errors import ConflictError, ForbiddenError, NotFoundError, ValidationFailedError
from hub.events.outbox import record_event
from protocol.encoding import format_timestamp

RELEASE_MEANING = "approval"
PASSED, FAILED, RELEASED = "passed", "failed", "released"


def release_content(sample: Sample, qc: QcResult, reason: str) -> str:
    """The record the signer approves, as the text whose hash binds the signature to it."""
    record = {
        "record_type": "qc_result",
        "qc_id": qc.id,
        "sample_id": sample.id,
        "barcode": sample.barcode,
        "assay": qc.assay,
        "value": qc.value,
        "unit": qc.unit,
        "passed": qc.passed,
        "result_reason": qc.reason,
        "recorded_by": qc.recorded_by,
        "recorded_at": format_timestamp(qc.recorded_at),
        "meaning": RELEASE_MEANING,
        "release_reason": reason,
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class QualityControl:
    def __init__(self, audit: AuditTrail, samples: Samples) -> None:
        self.audit = audit
        self.samples = samples

    async def record(
        self,
        session: AsyncSession,
        principal: Principal,
        sample_id: str,
        *,
        assay: str,
        passed: bool,
        reason: str,
        value: str | None = None,
        unit: str | None = None,
    ) -> QcResult:
        sample = await self.samples.get(session, principal.tenant_id, sample_id, for_update=True)
        now = utcnow()
        qc = QcResult(
            tenant_id=principal.tenant_id,
            sample_id=sample.id,
            assay=assay,
            value=value,
            unit=unit,
            passed=passed,
            reason=reason,
            recorded_by=principal.label,
            recorded_at=now,
        )
        session.add(qc)
        old_status = sample.qc_status
        if not passed:
            sample.qc_status = FAILED
        elif sample.qc_status != FAILED:
            sample.qc_status = PASSED
        if sample.qc_status != old_status:
            sample.version += 1
            sample.updated_at = now
        await session.flush()
        facts: dict[str, Any] = {
            "qc": qc.id,
            "barcode": sample.barcode,
            "assay": assay,
            "value": value,
            "unit": unit,
            "passed": passed,
            "qc_status": sample.qc_status,
        }
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="qc",
            record_type="sample",
            record_id=sample.id,
            reason=reason,
            old={"qc_status": old_status},
            new=facts,
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type="qc.passed" if passed else "qc.failed",
            subject_type="sample",
            subject_id=sample.id,
            actor=principal.label,
            payload=facts,
        )
        return qc

    async def results(
        self, session: AsyncSession, tenant_id: str, sample_id: str
    ) -> list[tuple[QcResult, ESignature | None]]:
        """The sample's QC results, oldest first, each with the signature that released it (if one did)."""
        await self.samples.get(session, tenant_id, sample_id)
        rows = await session.execute(
            select(QcResult, ESignature)
            .outerjoin(ESignature, ESignature.id == QcResult.released_signature_id)
            .where(QcResult.tenant_id == tenant_id, QcResult.sample_id == sample_id)
            .order_by(QcResult.recorded_at, QcResult.id)
        )
        return [(qc, signature) for qc, signature in rows.all()]

    async def release(
        self,
        session: AsyncSession,
        principal: Principal,
        sample_id: str,
        qc_id: str,
        *,
        reason: str,
        confirm_signer: Callable[[], Awaitable[User]],
    ) -> tuple[QcResult, ESignature]:
        """Release a failed result for use: ``confirm_signer`` checks the password the signer entered again and
        returns the signer, once every other check has passed."""
        if not reason.strip():
            raise ValidationFailedError("a reason is required to release a failed QC result")
        sample = await self.samples.get(session, principal.tenant_id, sample_id, for_update=True)
        qc = (
            await session.execute(
                select(QcResult)
                .where(QcResult.tenant_id == principal.tenant_id, QcResult.sample_id == sample.id, QcResult.id == qc_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if qc is None:
            raise NotFoundError(f"no QC result {qc_id} for sample {sample_id}")
        if qc.passed:
            raise ConflictError(f"QC result {qc_id} passed: only a failed result is released")
        if qc.released_signature_id is not None:
            raise ConflictError(f"QC result {qc_id} was released already (signature {qc.released_signature_id})")
        if qc.recorded_by == principal.label:
            raise ForbiddenError("a failed QC result is released by someone other than who recorded it")
        signer = await confirm_signer()
        content = release_content(sample, qc, reason)
        record_hash = hashlib.sha256(content.encode("utf-8")).hexdigest()
        signature = ESignature(
            tenant_id=principal.tenant_id,
            user_id=signer.id,
            signer_name=signer.display_name,
            meaning=RELEASE_MEANING,
            record_type="qc_result",
            record_id=qc.id,
            record_hash=record_hash,
            reason=reason,
        )
        session.add(signature)
        await session.flush()
        qc.released_signature_id = signature.id
        still_failed = (
            await session.execute(
                select(QcResult.id).where(
                    QcResult.tenant_id == principal.tenant_id,
                    QcResult.sample_id == sample.id,
                    QcResult.passed.is_(False),
                    QcResult.released_signature_id.is_(None),
                    QcResult.id != qc.id,
                )
            )
        ).first()
        old_status = sample.qc_status
        if still_failed is None:
            sample.qc_status = RELEASED
        sample.version += 1
        sample.updated_at = signature.signed_at
        await session.flush()
        signed = {"meaning": RELEASE_MEANING, "signer": signer.display_name, "record_hash": record_hash}
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="esign",
            record_type="qc_result",
            record_id=qc.id,
            reason=reason,
            new=signed,
        )
        facts = {"qc": qc.id, "barcode": sample.barcode, "signature": signature.id, **signed}
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action="release",
            record_type="sample",
            record_id=sample.id,
            reason=reason,
            old={"qc_status": old_status},
            new={**facts, "qc_status": sample.qc_status},
        )
        for event, subject_type, subject_id in (
            ("esignature.created", "qc_result", qc.id),
            ("qc.released", "sample", sample.id),
        ):
            record_event(
                session,
                tenant_id=principal.tenant_id,
                type=event,
                subject_type=subject_type,
                subject_id=subject_id,
                actor=principal.label,
                payload=facts,
            )
        return qc, signature
