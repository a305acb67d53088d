"""AI routes: the tenant's documents (upload as the raw body, list, read, delete) and answers from them; submission
forms read into intake manifests; the sequencing QC model (train, list, report, predict); questions in plain words;
freezer risk.

Asking and reading documents needs tenant:read (every person; no device); uploading or deleting documents and
reading forms samples:write; training a QC model sequencing:write, reading models and predictions sequencing:read.
Everything is the caller's tenant's alone.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.ai import AiService, Answer
from hub.ai.extract import DOCX_TYPE, XLSX_TYPE
from hub.ai.freezer_risk import FreezerRisk
from hub.ai.intake_forms import manifest_dict, read_form
from hub.ai.qc_model import QcModels, report
from hub.ai.questions import Questions
from hub.api.deps import ReadSessionDep, SessionDep, StateDep, require
from hub.db.ai_models import AiDocument
from hub.domain.cells import clean_text
from hub.domain.identity import Principal
from hub.domain.permissions import Permission

router = APIRouter(prefix="/v1", tags=["ai"])

CanRead = Annotated[Principal, Depends(require(Permission.TENANT_READ))]
CanWrite = Annotated[Principal, Depends(require(Permission.SAMPLES_WRITE))]
DocumentId = Annotated[str, Path(min_length=1, max_length=64)]


def get_ai(request: Request, state: StateDep) -> AiService:
    """One ``AiService`` per application, made on first use (its indexes live as long as the process)."""
    service: AiService | None = getattr(request.app.state, "ai", None)
    if service is None:
        service = AiService.from_settings(state.settings, state.audit)
        request.app.state.ai = service
    return service


AiDep = Annotated[AiService, Depends(get_ai)]


class DocumentPublic(BaseModel):
    id: str
    name: str
    title: str
    format: str
    source: str
    sha256: str
    size_bytes: int
    revision: int
    chunk_count: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = Field(description="set once deleted: out of the index, the record kept")

    @classmethod
    def of(cls, d: AiDocument) -> DocumentPublic:
        return cls(
            id=d.id,
            name=d.name,
            title=d.title,
            format=d.format,
            source=d.source,
            sha256=d.sha256,
            size_bytes=d.size_bytes,
            revision=d.revision,
            chunk_count=d.chunk_count,
            created_by=d.created_by,
            created_at=d.created_at,
            updated_at=d.updated_at,
            deleted_at=d.deleted_at,
        )


class ChunkPublic(BaseModel):
    id: str
    ordinal: int
    section: str
    page: int | None
    text: str


class DocumentWithChunks(DocumentPublic):
    chunks: list[ChunkPublic]


_UPLOAD_BODY = {
    "required": True,
    "description": "the document itself (not a multipart form)",
    "content": {
        "text/markdown": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        DOCX_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


def _name(filename: str) -> str:
    return clean_text(re.split(r"[\\/]", filename)[-1])[:255] or "document"


@router.post(
    "/ai/documents",
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses={201: {"description": "indexed (new or changed)"}, 200: {"description": "unchanged"}},
)
async def put_document(
    request: Request,
    response: Response,
    principal: CanWrite,
    ai: AiDep,
    session: SessionDep,
    filename: Annotated[
        str, Query(min_length=1, max_length=255, description="names the document; same name replaces it")
    ],
    reason: Annotated[str | None, Query(max_length=1000, description="why it changed (audited)")] = None,
) -> DocumentPublic:
    """Index a document (Markdown, text, PDF, DOCX, CSV or XLSX sample sheet) for the caller's tenant. The same
    name with new content is re-indexed (revision + 1); the same content again changes nothing (200)."""
    stored = await ai.documents.put(
        session,
        principal,
        data=await request.body(),
        filename=_name(filename),
        content_type=request.headers.get("content-type"),
        reason=reason,
    )
    response.status_code = 201 if stored.changed else 200
    return DocumentPublic.of(stored.document)


@router.get("/ai/documents")
async def list_documents(
    principal: CanRead,
    ai: AiDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[DocumentPublic]:
    return [
        DocumentPublic.of(d) for d in await ai.documents.page(session, principal.tenant_id, limit=limit, offset=offset)
    ]


@router.get("/ai/documents/{document_id}")
async def get_document(
    document_id: DocumentId, principal: CanRead, ai: AiDep, session: ReadSessionDep
) -> DocumentWithChunks:
    document = await ai.documents.get(session, principal.tenant_id, document_id)
    chunks = await ai.documents.chunks(session, principal.tenant_id, document.id)
    return DocumentWithChunks(
        **DocumentPublic.of(document).model_dump(),
        chunks=[ChunkPublic(id=c.id, ordinal=c.ordinal, section=c.section, page=c.page, text=c.text) for c in chunks],
    )


@router.delete("/ai/documents/{document_id}", status_code=204)
async def delete_document(
    document_id: DocumentId,
    principal: CanWrite,
    ai: AiDep,
    session: SessionDep,
    reason: Annotated[str | None, Query(max_length=1000, description="why (audited)")] = None,
) -> None:
    await ai.documents.delete(session, principal, document_id, reason)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Annotated[str, Field(min_length=3, max_length=1000)]
    top_k: Annotated[int, Field(ge=1, le=20)] = 5
    generate: Annotated[bool, Field(description="use the configured language model, if one is switched on")] = True


class CitationPublic(BaseModel):
    passage: int
    chunk_id: str
    document_id: str
    document_name: str
    section: str
    page: int | None


class StatementPublic(BaseModel):
    text: str
    citations: list[CitationPublic]


class PassagePublic(BaseModel):
    number: int
    chunk_id: str
    document_id: str
    document_name: str
    section: str
    page: int | None
    score: float
    text: str


class AnswerPublic(BaseModel):
    found: bool = Field(description="false: not found in your documents (confidence below the threshold)")
    answer: str
    confidence: float = Field(description="0..1: the share of the question's specific terms the best passages hold")
    threshold: float
    method: str = Field(description="extractive, or the language model that phrased it")
    statements: list[StatementPublic]
    passages: list[PassagePublic]
    notes: list[str]

    @classmethod
    def of(cls, answer: Answer, threshold: float) -> AnswerPublic:
        return cls(
            found=answer.found,
            answer=answer.text,
            confidence=answer.confidence,
            threshold=threshold,
            method=answer.method,
            statements=[
                StatementPublic(text=s.text, citations=[CitationPublic(**c.__dict__) for c in s.citations])
                for s in answer.statements
            ],
            passages=[
                PassagePublic(
                    number=n,
                    chunk_id=h.passage.chunk_id,
                    document_id=h.passage.document_id,
                    document_name=h.passage.document_name,
                    section=h.passage.section,
                    page=h.passage.page,
                    score=round(h.score, 4),
                    text=h.passage.text,
                )
                for n, h in enumerate(answer.passages, start=1)
            ],
            notes=answer.notes,
        )


@router.post("/ai/ask")
async def ask(body: AskRequest, principal: CanRead, ai: AiDep, session: ReadSessionDep) -> AnswerPublic:
    """An answer from the tenant's documents: statements cited to the passages retrieved (document and section),
    a confidence, and "Not found in your documents." below the threshold rather than a guess."""
    answer = await ai.ask(session, principal, body.question, k=body.top_k, generate=body.generate)
    return AnswerPublic.of(answer, ai.abstain_below)


# -- submission forms → manifests -------------------------------------------------------------------------------


class SpanPublic(BaseModel):
    document: str
    start: int = Field(description="character offset into the line or cell")
    end: int
    text: str
    page: int | None
    line: int | None
    sheet: str | None
    cell: str | None


class FieldValuePublic(BaseModel):
    key: str
    label: str
    value: str | None = Field(description="filled only when confident and valid; never for a flagged field")
    suggestion: str | None = Field(description="the text found in the form, for a person to confirm")
    confidence: float
    needs_review: bool
    reasons: list[str]
    source: SpanPublic | None
    matched_label: str | None


class ManifestRowPublic(BaseModel):
    number: int
    needs_review: bool
    fields: list[FieldValuePublic]


class ManifestPublic(BaseModel):
    template_id: str
    template_version: int
    document: str
    format: str
    threshold: float
    flagged: int
    notes: list[str]
    rows: list[ManifestRowPublic]


_FORM_BODY = {
    "required": True,
    "description": "the submission form itself (not a multipart form)",
    "content": {
        "text/plain": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        DOCX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.post("/ai/intake-forms", openapi_extra={"requestBody": _FORM_BODY})
async def read_intake_form(
    request: Request,
    principal: CanWrite,
    state: StateDep,
    session: ReadSessionDep,
    template_id: Annotated[str, Query(min_length=1, max_length=64)],
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    version: Annotated[
        str | None, Query(min_length=1, max_length=64, description="a version number or id; default: approved")
    ] = None,
) -> ManifestPublic:
    """A submission form (PDF, text, DOCX, CSV, XLSX) read into a manifest for the template: per field a value, a
    confidence and where it was found. Nothing is registered: a person reviews the flagged fields, then uploads
    the sheet through the intake upload route."""
    template = await state.intake.get_template(session, principal.tenant_id, template_id)
    chosen = (
        await state.intake.get_version(session, principal.tenant_id, template.id, version)
        if version
        else await state.intake.current_version(session, principal.tenant_id, template.id)
    )
    fields = state.intake.fields_of(template, chosen)
    data = await request.body()
    manifest = await asyncio.to_thread(
        read_form, data, filename=_name(filename), content_type=request.headers.get("content-type"), fields=fields
    )
    return ManifestPublic(template_id=template.id, template_version=chosen.version, **manifest_dict(manifest))


# -- prediction models ------------------------------------------------------------------------------------------

CanReadSequencing = Annotated[Principal, Depends(require(Permission.SEQUENCING_READ))]
CanTrain = Annotated[Principal, Depends(require(Permission.SEQUENCING_WRITE))]
ModelId = Annotated[str, Path(min_length=1, max_length=64)]


def get_qc_models(state: StateDep) -> QcModels:
    return QcModels(state.audit)


QcModelsDep = Annotated[QcModels, Depends(get_qc_models)]


class ModelSummary(BaseModel):
    id: str
    kind: str
    version: int
    algorithm: str
    trained_at: datetime
    data_from: datetime | None = Field(description="the oldest job the model was trained on")
    data_to: datetime | None = Field(description="the newest job the model was trained on")
    rows: int
    model_sha256: str
    created_by: str


class ModelReport(ModelSummary):
    metrics: dict[str, Any] = Field(
        description="held-out evaluation: brier, brier_base_rate, roc_auc, reliability (10 bins), class_balance, "
        "split, drivers"
    )


@router.post("/ai/models/qc/train", status_code=201)
async def train_qc_model(
    principal: CanTrain,
    models: QcModelsDep,
    session: SessionDep,
    reason: Annotated[str | None, Query(max_length=1000, description="why (audited)")] = None,
) -> ModelReport:
    """Train a new version of the tenant's sequencing QC model on its finished jobs (409 with too few)."""
    return ModelReport(**report(await models.train(session, principal, reason=reason)))


@router.get("/ai/models")
async def list_models(
    principal: CanReadSequencing,
    models: QcModelsDep,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[ModelSummary]:
    rows = await models.page(session, principal.tenant_id, limit=limit, offset=offset)
    return [ModelSummary(**{k: v for k, v in report(r).items() if k != "metrics"}) for r in rows]


@router.get("/ai/models/{ai_model_id}")
async def get_model(
    ai_model_id: ModelId, principal: CanReadSequencing, models: QcModelsDep, session: ReadSessionDep
) -> ModelReport:
    """A model version with its evaluation report on held-out data."""
    return ModelReport(**report(await models.get(session, principal.tenant_id, ai_model_id)))


class ContributionPublic(BaseModel):
    feature: str
    meaning: str
    value: float
    contribution: float = Field(description="to the log-odds of passing, against the average training job")


class QcPredictionPublic(BaseModel):
    job_id: str
    probability: float = Field(description="calibrated probability that the job passes QC")
    model_id: str
    model_version: int
    data_from: datetime | None
    data_to: datetime | None
    features: list[ContributionPublic]


@router.get("/sequencing/jobs/{job_id}/qc-prediction")
async def predict_job_qc(
    job_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: CanReadSequencing,
    models: QcModelsDep,
    session: ReadSessionDep,
) -> QcPredictionPublic:
    """The newest QC model's probability that this job passes, with the features that drove it."""
    row, prediction = await models.predict(session, principal.tenant_id, job_id)
    return QcPredictionPublic(
        job_id=job_id,
        probability=prediction.probability,
        model_id=row.id,
        model_version=row.version,
        data_from=row.data_from,
        data_to=row.data_to,
        features=[ContributionPublic(**c.__dict__) for c in prediction.contributions],
    )


# -- questions in plain words -----------------------------------------------------------------------------------


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Annotated[str, Field(min_length=3, max_length=500)]


class QueryAnswerPublic(BaseModel):
    question: str
    resource: str = Field(description="samples, or storage_contents (the samples inside one container)")
    filters: dict[str, Any] = Field(description="the structured filter the question was read as")
    api_path: str = Field(description="the API call that lists the same records")
    results: list[dict[str, Any]] = Field(description="the first page")
    more: bool
    notes: list[str]


@router.post("/ai/query")
async def query(body: QueryRequest, principal: CanRead, state: StateDep, session: ReadSessionDep) -> QueryAnswerPublic:
    """A question about samples in plain words, read by rules over the lab's own names (projects, sample types,
    containers, states) into a filter, shown in the answer and run through the permission-checked sample or
    storage code (samples:read, and storage:read for a container). 422 with what was understood otherwise."""
    answer = await Questions(state.samples, state.storage).ask(session, principal, body.question)
    return QueryAnswerPublic(**answer.__dict__)


# -- freezer risk -----------------------------------------------------------------------------------------------

CanReadStorage = Annotated[Principal, Depends(require(Permission.STORAGE_READ))]


def get_freezer_risk(request: Request) -> FreezerRisk:
    """One ``FreezerRisk`` per application (tests set one with a fixed clock)."""
    risk: FreezerRisk | None = getattr(request.app.state, "freezer_risk", None)
    if risk is None:
        risk = FreezerRisk()
        request.app.state.freezer_risk = risk
    return risk


class UnitRiskPublic(BaseModel):
    rank: int
    unit_id: str
    name: str
    kind: str
    path: str
    score: float | None = Field(description="0..1; null when the unit's readings cannot be judged")
    reasons: list[str]
    measures: dict[str, float | None] = Field(
        description="duty_trend_per_day, recovery_trend_s_per_day, drift_c and each one's part of the score"
    )
    windows: int = Field(description="hourly windows with readings")
    data_from: datetime
    data_to: datetime


@router.get("/ai/freezer-risk")
async def freezer_risk(
    principal: CanReadStorage,
    session: ReadSessionDep,
    risk: Annotated[FreezerRisk, Depends(get_freezer_risk)],
    unit_id: Annotated[str | None, Query(min_length=1, max_length=64, description="one unit only")] = None,
) -> list[UnitRiskPublic]:
    """The tenant's storage units ranked by risk of failure over the last week of their readings (compressor duty
    trend, recovery after door openings, drift), with the reasons; units that cannot be judged come last."""
    return [
        UnitRiskPublic(
            rank=r.rank,
            unit_id=r.unit_id,
            name=r.name,
            kind=r.kind,
            path=r.path,
            score=r.assessment.score,
            reasons=r.assessment.reasons,
            measures=r.assessment.parts,
            windows=r.assessment.windows,
            data_from=r.data_from,
            data_to=r.data_to,
        )
        for r in await risk.rank(session, principal.tenant_id, unit_id)
    ]
