"""The tenant's documents in the database, and each hub process's in-memory index of them.

Indexing is incremental twice over: an upload with unchanged content (same SHA-256) changes nothing, and a changed
document is re-chunked alone. Every change bumps the tenant's ``AiIndexHead.version`` in the same transaction; a
process compares that counter with its own before ranking, and reloads only the documents whose revision moved, so
any number of hub processes stay correct with no messages between them.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from hub.ai.chunking import Chunk, chunk_sections
from hub.ai.extract import Extracted, extract
from hub.ai.ranking import BM25Index, Passage, Ranker
from hub.audit.trail import AuditTrail
from hub.db.ai_models import AiChunk, AiDocument, AiIndexHead
from hub.db.base import utcnow
from hub.domain.identity import Principal
from hub.errors import NotFoundError
from hub.events.outbox import record_event


@dataclass(frozen=True)
class Stored:
    document: AiDocument
    changed: bool


def _facts(d: AiDocument) -> dict[str, Any]:
    return {"name": d.name, "format": d.format, "sha256": d.sha256, "revision": d.revision, "chunks": d.chunk_count}


async def bump(session: AsyncSession, tenant_id: str) -> None:
    """The tenant's index version + 1, created at 1; one statement, safe under concurrent writers."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(AiIndexHead).values(tenant_id=tenant_id, version=1)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[AiIndexHead.tenant_id], set_={"version": AiIndexHead.version + 1}
        )
    )


class Documents:
    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit

    async def put(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        data: bytes,
        filename: str,
        content_type: str | None,
        source: str = "upload",
        reason: str | None = None,
    ) -> Stored:
        """Index ``data`` under ``filename``: new, replaced (revision + 1), or unchanged."""
        sha256 = hashlib.sha256(data).hexdigest()
        existing = (
            await session.execute(
                select(AiDocument)
                .where(AiDocument.tenant_id == principal.tenant_id, AiDocument.name == filename)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if existing is not None and existing.sha256 == sha256 and existing.deleted_at is None:
            return Stored(existing, False)
        extracted: Extracted = await asyncio.to_thread(extract, data, filename=filename, content_type=content_type)
        chunks: list[Chunk] = chunk_sections(extracted.sections)
        old = _facts(existing) if existing is not None else None
        if existing is None:
            document = AiDocument(
                tenant_id=principal.tenant_id, name=filename, created_by=principal.label, revision=1, source=source
            )
            session.add(document)
        else:
            document = existing
            document.revision += 1
            document.deleted_at = None
            await session.execute(delete(AiChunk).where(AiChunk.document_id == document.id))
        document.title = extracted.title[:300]
        document.format = extracted.format
        document.sha256 = sha256
        document.size_bytes = len(data)
        document.chunk_count = len(chunks)
        document.updated_at = utcnow()
        await session.flush()
        session.add_all(
            AiChunk(
                tenant_id=principal.tenant_id,
                document_id=document.id,
                ordinal=c.ordinal,
                section=c.section,
                page=c.page,
                text=c.text,
            )
            for c in chunks
        )
        await bump(session, principal.tenant_id)
        why = reason or f"new content for {filename} (revision {document.revision})"
        await self._record(session, principal, "update" if old else "create", document, old, why if old else reason)
        return Stored(document, True)

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        action: str,
        d: AiDocument,
        old: dict[str, Any] | None,
        reason: str | None,
    ) -> None:
        new = _facts(d) if action != "delete" else None
        await self.audit.record(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.label,
            action=action,
            record_type="ai_document",
            record_id=d.id,
            reason=reason,
            old=old,
            new=new,
        )
        record_event(
            session,
            tenant_id=principal.tenant_id,
            type=f"ai_document.{action}d",
            subject_type="ai_document",
            subject_id=d.id,
            actor=principal.label,
            payload=new or old or {},
        )

    async def page(
        self, session: AsyncSession, tenant_id: str, *, limit: int = 100, offset: int = 0
    ) -> list[AiDocument]:
        query = (
            select(AiDocument)
            .where(AiDocument.tenant_id == tenant_id, AiDocument.deleted_at.is_(None))
            .order_by(AiDocument.name, AiDocument.id)
            .limit(limit)
            .offset(offset)
        )
        return list((await session.execute(query)).scalars())

    async def get(self, session: AsyncSession, tenant_id: str, document_id: str) -> AiDocument:
        found = (
            await session.execute(
                select(AiDocument).where(AiDocument.tenant_id == tenant_id, AiDocument.id == document_id)
            )
        ).scalar_one_or_none()
        if found is None:
            raise NotFoundError(f"no document {document_id}")
        return found

    async def chunks(self, session: AsyncSession, tenant_id: str, document_id: str) -> list[AiChunk]:
        query = (
            select(AiChunk)
            .where(AiChunk.tenant_id == tenant_id, AiChunk.document_id == document_id)
            .order_by(AiChunk.ordinal)
        )
        return list((await session.execute(query)).scalars())

    async def delete(
        self, session: AsyncSession, principal: Principal, document_id: str, reason: str | None = None
    ) -> None:
        document = await self.get(session, principal.tenant_id, document_id)
        if document.deleted_at is not None:
            raise NotFoundError(f"document {document_id} was deleted already")
        old = _facts(document)
        await session.execute(delete(AiChunk).where(AiChunk.document_id == document.id))
        document.deleted_at = utcnow()
        document.chunk_count = 0
        await bump(session, principal.tenant_id)
        await self._record(session, principal, "delete", document, old, reason or f"{document.name} removed")


@dataclass
class _TenantIndex:
    version: int
    revisions: dict[str, int]
    ranker: Ranker
    lock: asyncio.Lock


class Indexes:
    """Each tenant's ranker in this process, refreshed from the database when the tenant's version moved."""

    def __init__(self, make_ranker: Callable[[], Ranker] = BM25Index) -> None:
        self.make_ranker = make_ranker
        self._tenants: dict[str, _TenantIndex] = {}

    async def ranker(self, session: AsyncSession, tenant_id: str) -> Ranker:
        version = (
            await session.execute(select(AiIndexHead.version).where(AiIndexHead.tenant_id == tenant_id))
        ).scalar_one_or_none() or 0
        index = self._tenants.setdefault(tenant_id, _TenantIndex(-1, {}, self.make_ranker(), asyncio.Lock()))
        if index.version == version:
            return index.ranker
        async with index.lock:
            if index.version != version:
                await self._refresh(session, tenant_id, index, version)
        return index.ranker

    async def _refresh(self, session: AsyncSession, tenant_id: str, index: _TenantIndex, version: int) -> None:
        rows = await session.execute(
            select(AiDocument.id, AiDocument.revision, AiDocument.name, AiDocument.title).where(
                AiDocument.tenant_id == tenant_id, AiDocument.deleted_at.is_(None)
            )
        )
        current = {r.id: (r.revision, r.name, r.title) for r in rows}
        for gone in set(index.revisions) - set(current):
            index.ranker.remove_document(gone)
            del index.revisions[gone]
        changed = [d for d, (revision, _, _) in current.items() if index.revisions.get(d) != revision]
        for start in range(0, len(changed), 200):
            batch = changed[start : start + 200]
            chunks = await session.execute(
                select(AiChunk)
                .where(AiChunk.tenant_id == tenant_id, AiChunk.document_id.in_(batch))
                .order_by(AiChunk.document_id, AiChunk.ordinal)
            )
            by_document: dict[str, list[Passage]] = {d: [] for d in batch}
            for c in chunks.scalars():
                _, name, title = current[c.document_id]
                by_document[c.document_id].append(Passage(c.id, c.document_id, name, title, c.section, c.page, c.text))
            for document_id, passages in by_document.items():
                await asyncio.to_thread(index.ranker.replace_document, document_id, passages)
                index.revisions[document_id] = current[document_id][0]
        index.version = version
