"""Answers: citations only to retrieved passages that hold what is said; "not found" below the threshold; a
language model's answer validated the same way, with timeouts and a circuit breaker; the hybrid ranker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pytest

from hub.ai import (
    NOT_FOUND,
    BM25Index,
    CircuitBreaker,
    CitationError,
    GenerativeAnswerer,
    HttpLanguageModel,
    HybridIndex,
    Passage,
    ProviderConfig,
    Statement,
)
from hub.ai.answering import cite, retrieve_and_answer, validate

PASSAGES = [
    ("sop-1", "Alarm levels", "The gateway raises an alarm above -60 °C for more than 5 minutes."),
    ("sop-1", "Backup", "Move racks to the backup freezer F9 in room B114 using dry ice."),
    ("sop-2", "Spills", "Cover a spill with towels soaked in 10% bleach for 20 minutes."),
]


def _index() -> BM25Index:
    index = BM25Index()
    for n, (doc, section, text) in enumerate(PASSAGES):
        index.replace_document(f"{doc}-{n}", [Passage(f"c{n}", doc, f"{doc}.md", doc.upper(), section, None, text)])
    return index


def test_an_answer_cites_the_passage_it_quotes() -> None:
    answer = retrieve_and_answer(_index(), "Which backup freezer and room do racks go to?")
    assert answer.found
    assert "F9" in answer.text
    assert answer.statements[0].citations[0].chunk_id == "c1"
    assert answer.statements[0].citations[0].section == "Backup"


def test_a_question_the_documents_do_not_answer_is_not_found() -> None:
    answer = retrieve_and_answer(_index(), "What is the warranty of the centrifuge rotor?")
    assert not answer.found
    assert answer.text == NOT_FOUND
    assert answer.statements == []
    assert answer.confidence < 0.5


def test_a_citation_to_a_passage_not_retrieved_is_refused() -> None:
    index = _index()
    hits = index.search("backup freezer", 1)
    forged = Statement("Move racks to the backup freezer F9.", [cite(hits, 1)])
    validate([forged], hits)
    other = index.search("bleach spill", 1)
    with pytest.raises(CitationError, match="not retrieved"):
        validate([Statement("Move racks to the backup freezer F9.", [cite(other, 1)])], hits)


def test_a_citation_to_a_passage_that_does_not_hold_the_statement_is_refused() -> None:
    hits = _index().search("bleach spill", 1)
    with pytest.raises(CitationError, match="do not hold"):
        validate([Statement("Centrifuge rotors must be autoclaved weekly.", [cite(hits, 1)])], hits)


def _model(reply: str | Exception) -> tuple[HttpLanguageModel, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        if isinstance(reply, Exception):
            raise reply
        return httpx.Response(200, json={"choices": [{"message": {"content": reply}}]})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return HttpLanguageModel(ProviderConfig("openai", "http://llm.local", "small"), client), sent


def test_a_language_model_answer_keeps_only_validly_cited_statements() -> None:
    model, sent = _model("Racks go to backup freezer F9 in room B114 [1]. The freezer is guaranteed for life [7].")
    fallback = retrieve_and_answer(_index(), "Which backup freezer and room do racks go to?")
    answer = asyncio.run(GenerativeAnswerer(model).answer("Which backup freezer?", fallback))
    assert answer.method == "openai:small"
    assert [s.text for s in answer.statements] == ["Racks go to backup freezer F9 in room B114."]
    assert any("without a valid citation" in n for n in answer.notes)
    assert "[1]" in sent[0]["messages"][1]["content"]


def test_a_failing_model_falls_back_to_the_extractive_answer_and_trips_the_breaker() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=2, reset_s=30, clock=lambda: now[0])
    model, sent = _model(httpx.ReadTimeout("slow"))
    generator = GenerativeAnswerer(model, breaker)
    fallback = retrieve_and_answer(_index(), "Which backup freezer and room do racks go to?")
    for _ in range(3):
        answer = asyncio.run(generator.answer("q", fallback))
        assert answer.method == "extractive"
        assert answer.text == fallback.text
    assert len(sent) == 2  # the third call never left: the breaker is open
    assert "paused" in answer.notes[-1]
    now[0] = 31.0
    assert breaker.allow()


def test_the_model_is_not_asked_when_the_documents_do_not_hold_the_answer() -> None:
    model, sent = _model("made up [1]")
    fallback = retrieve_and_answer(_index(), "What is the warranty of the centrifuge rotor?")
    answer = asyncio.run(GenerativeAnswerer(model).answer("q", fallback))
    assert not answer.found
    assert sent == []


class _LetterEmbedder:
    """Vectors from character trigrams: enough to show the fusion working, without a model."""

    name = "trigrams"

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = text.lower()
            for i in range(len(lowered) - 2):
                out[row, sum(map(ord, lowered[i : i + 3])) % 256] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_the_hybrid_ranker_fuses_lexical_and_dense_rankings() -> None:
    index = HybridIndex(_LetterEmbedder())
    for n, (doc, section, text) in enumerate(PASSAGES):
        index.replace_document(f"d{n}", [Passage(f"c{n}", doc, doc, doc, section, None, text)])
    hits = index.search("backup freezer racks", 3)
    assert hits[0].passage.chunk_id == "c1"
    index.remove_document("d1")
    assert all(h.passage.chunk_id != "c1" for h in index.search("backup freezer racks", 3))


def test_replacing_a_document_reindexes_it_alone() -> None:
    index = _index()
    index.replace_document("sop-2-2", [Passage("c9", "sop-2", "sop-2.md", "SOP-2", "Spills", None, "Use Virkon.")])
    assert index.search("Virkon", 1)[0].passage.chunk_id == "c9"
    assert index.search("bleach", 3) == []
    assert index.size == 3
