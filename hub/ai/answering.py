"""Answers from retrieved passages: extractive by default, every statement cited to a passage that was retrieved,
a confidence, and "not found in your documents" below a threshold measured on the evaluation set
(``tests/data/ai/eval.json``; the tests print recall@5, MRR and the abstention rates it gives).

Confidence is the share of the question's meaning (its terms, weighted by how specific each is in the tenant's
documents) that the best passages hold. A question about something the documents never mention keeps a specific
term (a part number, "warranty") that no passage holds, and its confidence drops below the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from hub.ai.analysis import question_terms, sentences, terms
from hub.ai.ranking import Hit, Passage, Ranker

ABSTAIN_BELOW = 0.5  # measured on tests/data/ai/eval.json: see tests/unit/hub/test_ai_evaluation.py
NOT_FOUND = "Not found in your documents."
MAX_STATEMENTS = 3


@dataclass(frozen=True)
class Citation:
    passage: int  # 1-based, into Answer.passages
    chunk_id: str
    document_id: str
    document_name: str
    section: str
    page: int | None


@dataclass(frozen=True)
class Statement:
    text: str
    citations: list[Citation]


@dataclass(frozen=True)
class Answer:
    found: bool
    text: str
    statements: list[Statement]
    passages: list[Hit]
    confidence: float
    method: str = "extractive"
    notes: list[str] = field(default_factory=list)


class CitationError(ValueError):
    """A statement cites a passage that was not retrieved, or one that does not hold what the statement says."""


def _weights(ranker: Ranker, query_terms: Sequence[str]) -> dict[str, float]:
    return {t: ranker.idf(t) for t in dict.fromkeys(query_terms)}


def coverage(weights: dict[str, float], text_terms: set[str]) -> float:
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in text_terms) / total


def confidence_of(ranker: Ranker, question: str, hits: Sequence[Hit]) -> float:
    weights = _weights(ranker, question_terms(question))
    if not weights or not hits:
        return 0.0
    best = max(coverage(weights, set(terms(h.passage.indexed_text))) for h in hits[:3])
    return round(best, 4)


def retrieve_and_answer(ranker: Ranker, question: str, *, k: int = 5, abstain_below: float = ABSTAIN_BELOW) -> Answer:
    hits = ranker.search(question, k)
    confidence = confidence_of(ranker, question, hits)
    if not hits or confidence < abstain_below:
        return Answer(False, NOT_FOUND, [], hits, confidence)
    return extractive(ranker, question, hits, confidence)


def extractive(ranker: Ranker, question: str, hits: Sequence[Hit], confidence: float) -> Answer:
    """The sentences of the best passages that hold most of the question's terms, each cited to its passage."""
    weights = _weights(ranker, question_terms(question))
    candidates: list[tuple[float, int, int, str]] = []  # (score, passage index, sentence position, text)
    for index, hit in enumerate(hits[:3]):
        heading_terms = set(terms(f"{hit.passage.document_title} {hit.passage.section}"))
        for position, sentence in enumerate(sentences(hit.passage.text)):
            own = set(terms(sentence))
            if not own:
                continue
            score = coverage(weights, own | heading_terms) + 0.5 * coverage(weights, own) - 0.05 * index
            candidates.append((score, index, position, sentence))
    if not candidates:
        return Answer(False, NOT_FOUND, [], list(hits), confidence)
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    best = candidates[0][0]
    chosen = [c for c in candidates if c[0] >= 0.75 * best][:MAX_STATEMENTS]
    chosen.sort(key=lambda c: (c[1], c[2]))
    statements = [Statement(text, [cite(hits, index + 1)]) for _, index, _, text in chosen]
    validate(statements, hits)
    return Answer(True, " ".join(s.text for s in statements), statements, list(hits), confidence)


def cite(hits: Sequence[Hit], number: int) -> Citation:
    passage: Passage = hits[number - 1].passage
    return Citation(number, passage.chunk_id, passage.document_id, passage.document_name, passage.section, passage.page)


def validate(statements: Sequence[Statement], hits: Sequence[Hit], *, support: float = 0.5) -> None:
    """Every statement has a citation, every citation names a retrieved passage, and the cited passages hold at
    least ``support`` of the statement's terms (a model that cites [2] for words of its own is caught here)."""
    retrieved = {h.passage.chunk_id: h.passage for h in hits}
    for statement in statements:
        if not statement.citations:
            raise CitationError(f"no citation for {statement.text[:80]!r}")
        cited_terms: set[str] = set()
        for citation in statement.citations:
            passage = retrieved.get(citation.chunk_id)
            if passage is None or hits[citation.passage - 1].passage.chunk_id != citation.chunk_id:
                raise CitationError(f"{citation.chunk_id} was not retrieved for this question")
            cited_terms |= set(terms(passage.indexed_text))
        own = set(terms(statement.text))
        if own and len(own & cited_terms) / len(own) < support:
            raise CitationError(f"the cited passages do not hold {statement.text[:80]!r}")


_MARKER = re.compile(r"\[(\d{1,2})\]")


def statements_from_model(text: str, hits: Sequence[Hit]) -> tuple[list[Statement], list[str]]:
    """A language model's answer cut into cited statements; statements whose citations fail validation are
    dropped (and said so in the notes), never passed on."""
    kept: list[Statement] = []
    notes: list[str] = []
    for sentence in sentences(text):
        numbers = [int(n) for n in _MARKER.findall(sentence)]
        plain = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(_MARKER.sub("", sentence).split()))
        if not plain:
            continue
        if not numbers or any(n < 1 or n > len(hits) for n in numbers):
            notes.append(f"dropped a statement without a valid citation: {plain[:80]!r}")
            continue
        statement = Statement(plain, [cite(hits, n) for n in dict.fromkeys(numbers)])
        try:
            validate([statement], hits)
        except CitationError as exc:
            notes.append(f"dropped: {exc}")
            continue
        kept.append(statement)
    return kept, notes
