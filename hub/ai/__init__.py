"""AI services that work offline: answers from the lab's own documents (lexical retrieval by default, extractive
answers with validated citations and a confidence, "not found" below a measured threshold), optional language
models behind one interface, and the evaluation that keeps retrieval honest. Pure code and database access; no web
framework.

    service = AiService(audit)
    await service.documents.put(session, principal, data=..., filename="SOP-14.pdf", content_type=...)
    answer = await service.ask(session, principal, "At what temperature does a freezer alarm?")
"""

from hub.ai.answering import ABSTAIN_BELOW, NOT_FOUND, Answer, Citation, CitationError, Statement
from hub.ai.documents import Documents, Indexes
from hub.ai.errors import (
    DocumentTooLargeError,
    NotEnoughDataError,
    OptionalDependencyError,
    ProviderUnavailableError,
    UnreadableDocumentError,
)
from hub.ai.evaluation import Case, Report, evaluate
from hub.ai.extract import Extracted, Section, extract
from hub.ai.providers import CircuitBreaker, GenerativeAnswerer, HttpLanguageModel, LanguageModel, ProviderConfig
from hub.ai.ranking import BM25Index, Embedder, Hit, HybridIndex, MiniLMEmbedder, Passage, Ranker
from hub.ai.service import AiService

__all__ = [
    "ABSTAIN_BELOW",
    "NOT_FOUND",
    "AiService",
    "Answer",
    "BM25Index",
    "Case",
    "CircuitBreaker",
    "Citation",
    "CitationError",
    "DocumentTooLargeError",
    "Documents",
    "Embedder",
    "Extracted",
    "GenerativeAnswerer",
    "Hit",
    "HttpLanguageModel",
    "HybridIndex",
    "Indexes",
    "LanguageModel",
    "MiniLMEmbedder",
    "NotEnoughDataError",
    "OptionalDependencyError",
    "Passage",
    "ProviderConfig",
    "ProviderUnavailableError",
    "Ranker",
    "Report",
    "Section",
    "Statement",
    "UnreadableDocumentError",
    "evaluate",
    "extract",
]
