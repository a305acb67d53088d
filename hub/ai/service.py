"""The ai services one hub process holds: documents, the per-tenant indexes, and answering (with an optional
language model). Built from settings; no web framework here."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.ai.answering import ABSTAIN_BELOW, Answer, retrieve_and_answer
from hub.ai.documents import Documents, Indexes
from hub.ai.providers import GenerativeAnswerer, HttpLanguageModel, ProviderConfig
from hub.ai.ranking import BM25Index, HybridIndex, MiniLMEmbedder, Ranker
from hub.audit.trail import AuditTrail
from hub.domain.identity import Principal


class AiService:
    def __init__(
        self,
        audit: AuditTrail,
        *,
        ranker: str = "lexical",
        abstain_below: float = ABSTAIN_BELOW,
        generator: GenerativeAnswerer | None = None,
    ) -> None:
        self.documents = Documents(audit)
        if ranker == "hybrid":
            embedder = MiniLMEmbedder()

            def make() -> Ranker:
                return HybridIndex(embedder)

            self.indexes = Indexes(make)
        else:
            self.indexes = Indexes(BM25Index)
        self.abstain_below = abstain_below
        self.generator = generator

    @classmethod
    def from_settings(cls, settings: Any, audit: AuditTrail) -> AiService:
        """Reads ``ai_*`` settings when the hub's settings have them (all optional; the default is offline,
        lexical, extractive)."""
        provider = getattr(settings, "ai_provider", None)
        generator = None
        if provider:
            config = ProviderConfig(
                kind=provider,
                base_url=getattr(settings, "ai_provider_url", None) or "http://127.0.0.1:11434",
                model=getattr(settings, "ai_provider_model", None) or "llama3.1",
                api_key=getattr(settings, "ai_provider_key", None),
                timeout_s=float(getattr(settings, "ai_provider_timeout_s", 20.0)),
            )
            generator = GenerativeAnswerer(HttpLanguageModel(config))
        return cls(
            audit,
            ranker=getattr(settings, "ai_ranker", "lexical"),
            abstain_below=float(getattr(settings, "ai_abstain_below", ABSTAIN_BELOW)),
            generator=generator,
        )

    async def ask(
        self, session: AsyncSession, principal: Principal, question: str, *, k: int = 5, generate: bool = True
    ) -> Answer:
        """An answer from the caller's tenant's documents alone."""
        ranker = await self.indexes.ranker(session, principal.tenant_id)
        answer = retrieve_and_answer(ranker, question, k=k, abstain_below=self.abstain_below)
        if generate and self.generator is not None:
            answer = await self.generator.answer(question, answer)
        return answer
