"""AI routes: the tenant's documents (upload as the raw body, list, read, delete) and answers from them.

Asking and reading documents needs tenant:read (every person; no device); uploading or deleting documents
samples:write. Answers come from the caller's tenant's documents alone.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from hub.ai import AiService, Answer
from hub.ai.extract import DOCX_TYPE
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
