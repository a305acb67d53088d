"""Sample QC: record results, list them, and release a failed result with an electronic signature."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.api.sample_schemas import Measurement, Reason, SampleIdPath, ShortText, Unit
from hub.db.models import ESignature, User
from hub.db.sample_models import QcResult
from hub.domain.identity import Principal
from hub.domain.permissions import Permission
from hub.domain.sample_qc import QualityControl

router = APIRouter(tags=["qc"])

CanReadSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_READ))]
CanWriteSamples = Annotated[Principal, Depends(require(Permission.SAMPLES_WRITE))]
CanSign = Depends(require(Permission.ESIGN))


def qc_service(state: StateDep) -> QualityControl:
    return QualityControl(state.audit, state.samples)


QcDep = Annotated[QualityControl, Depends(qc_service)]


class QcCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assay: ShortText = Field(description="e.g. Qubit, TapeStation RIN, Bioanalyzer")
    passed: bool
    reason: Reason
    value: Measurement | None = None
    unit: Unit | None = None


class QcRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, Field(min_length=1, max_length=256, description="yours, entered again to sign")]
    reason: Reason
    meaning: Literal["approval"] = "approval"


class SignaturePublic(BaseModel):
    id: str
    signer_name: str
    meaning: str
    record_hash: str
    reason: str | None
    signed_at: datetime

    @classmethod
    def of(cls, s: ESignature) -> SignaturePublic:
        return cls(
            id=s.id,
            signer_name=s.signer_name,
            meaning=s.meaning,
            record_hash=s.record_hash,
            reason=s.reason,
            signed_at=s.signed_at,
        )


class QcResultPublic(BaseModel):
    id: str
    sample_id: str
    assay: str
    value: str | None
    unit: str | None
    passed: bool
    reason: str
    recorded_by: str
    recorded_at: datetime
    release: SignaturePublic | None = Field(description="the signature that released this failed result")

    @classmethod
    def of(cls, qc: QcResult, signature: ESignature | None) -> QcResultPublic:
        return cls(
            id=qc.id,
            sample_id=qc.sample_id,
            assay=qc.assay,
            value=qc.value,
            unit=qc.unit,
            passed=qc.passed,
            reason=qc.reason,
            recorded_by=qc.recorded_by,
            recorded_at=qc.recorded_at,
            release=SignaturePublic.of(signature) if signature is not None else None,
        )


class QcReleased(QcResultPublic):
    qc_status: str | None = Field(description="the sample's QC status now")


@router.post("/samples/{sample_id}/qc", status_code=201)
async def record_qc(
    sample_id: SampleIdPath, body: QcCreate, principal: CanWriteSamples, qc: QcDep, session: SessionDep
) -> QcResultPublic:
    """A QC result; a failed one keeps the sample out of preparation and sequencing until it is released."""
    result = await qc.record(
        session,
        principal,
        sample_id,
        assay=body.assay,
        passed=body.passed,
        reason=body.reason,
        value=body.value,
        unit=body.unit,
    )
    return QcResultPublic.of(result, None)


@router.get("/samples/{sample_id}/qc")
async def list_qc(
    sample_id: SampleIdPath, principal: CanReadSamples, qc: QcDep, session: ReadSessionDep
) -> list[QcResultPublic]:
    return [QcResultPublic.of(r, s) for r, s in await qc.results(session, principal.tenant_id, sample_id)]


@router.post("/samples/{sample_id}/qc/{qc_id}/release", dependencies=[CanSign])
async def release_qc(
    sample_id: SampleIdPath,
    qc_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: QcRelease,
    principal: CanWriteSamples,
    state: StateDep,
    qc: QcDep,
    session: SessionDep,
) -> QcReleased:
    """Release a failed QC result for use: an electronic signature (your password again, meaning "approval", a
    reason) by someone other than who recorded the failure."""

    async def confirm_signer() -> User:
        return await state.identity.verify_password(session, principal, body.password)

    result, signature = await qc.release(
        session, principal, sample_id, qc_id, reason=body.reason, confirm_signer=confirm_signer
    )
    sample = await state.samples.get(session, principal.tenant_id, sample_id)
    return QcReleased(**QcResultPublic.of(result, signature).model_dump(), qc_status=sample.qc_status)
