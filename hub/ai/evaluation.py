"""Retrieval quality on an evaluation set: recall@k, mean reciprocal rank, and how often the answerer abstains
on questions the documents do and do not answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.ai.answering import ABSTAIN_BELOW, confidence_of
from hub.ai.ranking import Passage, Ranker


@dataclass(frozen=True)
class Case:
    question: str
    document: str | None  # None: not answerable from the documents
    section: str | None  # part of the right passage's heading path (case-insensitive)


@dataclass(frozen=True)
class Report:
    answerable: int
    unanswerable: int
    recall_at_k: float
    mrr: float
    abstained_unanswerable: float  # should be high: the share of unanswerable questions answered "not found"
    abstained_answerable: float  # should be low: answerable questions wrongly answered "not found"
    k: int
    threshold: float
    misses: list[str]

    def lines(self) -> list[str]:
        return [
            f"questions: {self.answerable} answerable, {self.unanswerable} not in the documents",
            f"recall@{self.k}: {self.recall_at_k:.3f}",
            f"MRR: {self.mrr:.3f}",
            f"abstention on unanswerable: {self.abstained_unanswerable:.3f}",
            f"abstention on answerable (wrong): {self.abstained_answerable:.3f}",
            f"threshold: {self.threshold}",
        ]


def matches(passage: Passage, case: Case) -> bool:
    return passage.document_name == case.document and (case.section or "").lower() in passage.section.lower()


def evaluate(ranker: Ranker, cases: Sequence[Case], *, k: int = 5, threshold: float = ABSTAIN_BELOW) -> Report:
    found = reciprocal = 0.0
    abstain_yes = abstain_no = 0
    misses: list[str] = []
    answerable = [c for c in cases if c.document is not None]
    unanswerable = [c for c in cases if c.document is None]
    for case in cases:
        hits = ranker.search(case.question, k)
        abstains = confidence_of(ranker, case.question, hits) < threshold
        if case.document is None:
            abstain_yes += abstains
            if not abstains:
                misses.append(f"answered, should abstain: {case.question}")
            continue
        abstain_no += abstains
        rank = next((h.rank for h in hits if matches(h.passage, case)), None)
        if rank is None:
            misses.append(f"not in top {k}: {case.question}")
        else:
            found += 1
            reciprocal += 1 / (rank + 1)
        if abstains:
            misses.append(f"abstained, answerable: {case.question}")
    return Report(
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        recall_at_k=found / max(len(answerable), 1),
        mrr=reciprocal / max(len(answerable), 1),
        abstained_unanswerable=abstain_yes / max(len(unanswerable), 1),
        abstained_answerable=abstain_no / max(len(answerable), 1),
        k=k,
        threshold=threshold,
        misses=misses,
    )
