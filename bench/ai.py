"""Answers from documents at scale: indexing throughput (extract + chunk + BM25) and questions answered per second
with p50/p99 latency over 10,000 indexed chunks, all in memory on one core; then the sequencing QC model on a
seeded synthetic history with known drivers: training time, held-out Brier score (against the base rate and the
true probabilities), ROC AUC, the reliability table, and predictions per second with their explanations.

Baselines, run in the same process on the same inputs, each followed by the ratio ours/baseline:

- retrieval: bare scikit-learn, ``TfidfVectorizer`` fitted on the very chunk texts our index ranks (title, section
  path and text of each passage, after the one-document change) and, per question, ``transform`` + the sparse dot
  product with every chunk (what ``linear_kernel`` computes, taken against the term-major matrix without its input
  checks: about 3x faster here, so the baseline is the fastest bare one) + the top 5 by ``argpartition``; the
  same questions in the same order, timed per question the same way. It builds no answer, validates no citation
  and computes no confidence (the bench's index has no tenant scoping to leave out), so the ratio sets our whole
  answer path against a plain top-5 lookup over the same chunks;
- indexing: ``TfidfVectorizer.fit_transform`` (+ the term-major copy the retrieval baseline searches, as our index
  assembles its matrix) on the texts already extracted and chunked by our run: the bare baseline gets extraction
  and chunking for free, so that ratio is our whole pipeline against the matrix alone; like for like, our BM25
  alone (a fresh ``BM25Index`` fed the same passages, matrix assembled) against it too;
- QC model: the base-rate predictor (the training slice's pass rate for every job) on the same held-out jobs, its
  Brier score as ``fit`` computes it; ratio model/baseline (below 1: better than knowing only the pass rate).

    .venv/bin/python bench/ai.py [--chunks 10000] [--questions 2000] [--qc-jobs 5000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer  # imported here, not in the baseline's timing

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.ai import BM25Index, Passage, extract
from hub.ai.analysis import stem
from hub.ai.answering import retrieve_and_answer
from hub.ai.chunking import chunk_sections
from tests.data.ai.corpus import documents, questions

WORDS = [
    "freezer",
    "sample",
    "buffer",
    "reagent",
    "centrifuge",
    "pipette",
    "library",
    "flow",
    "cell",
    "cartridge",
    "thaw",
    "incubate",
    "elute",
    "wash",
    "spin",
    "column",
    "bleach",
    "ethanol",
    "gasket",
    "compressor",
    "alarm",
    "shelf",
    "rack",
    "plasma",
    "serum",
    "DNA",
    "RNA",
    "tube",
    "label",
    "barcode",
    "shipment",
    "dry",
    "ice",
    "temperature",
    "minutes",
    "hours",
    "concentration",
    "molarity",
    "adapter",
    "dimer",
    "fragment",
    "size",
    "PhiX",
    "cluster",
    "quality",
    "record",
]


def synthetic_document(rng: random.Random, number: int) -> bytes:
    lines = [f"# SOP-{number:05d} Procedure {number}", ""]
    for section in range(1, 9):
        lines += [f"## {section}. Step {rng.choice(WORDS)} {rng.choice(WORDS)}", ""]
        for _ in range(3):
            words = [rng.choice(WORDS) for _ in range(rng.randint(12, 24))]
            lines.append(" ".join(words).capitalize() + f" at {rng.randint(1, 99)} units.")
        lines.append("")
    return "\n".join(lines).encode()


def percentiles(latencies: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(latencies)
    return ordered[len(ordered) // 2] * 1000, ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000


def timed(ask: Callable[[str], object], asked: Sequence[str], count: int) -> tuple[float, list[float]]:
    """Asks ``count`` questions, cycling through ``asked``: total seconds and each question's."""
    latencies = []
    started = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        ask(asked[i % len(asked)])
        latencies.append(time.perf_counter() - t0)
    return time.perf_counter() - started, latencies


def tfidf_top5(texts: Sequence[str]) -> Callable[[str], list[int]]:
    """The bare baseline: TF-IDF fitted on ``texts`` and, per question, the 5 best chunks by the dot product of the
    question's vector with each chunk's (``linear_kernel``, computed against the term-major matrix: the same
    numbers without its input checks, which cost more than the product at this size)."""
    vectorizer = TfidfVectorizer()
    by_term = vectorizer.fit_transform(texts).T.tocsr()  # terms × chunks

    def top5(question: str) -> list[int]:
        scores = (vectorizer.transform([question]) @ by_term).toarray().ravel()
        best = np.argpartition(-scores, 4)[:5]
        return [int(i) for i in best[np.argsort(-scores[best], kind="stable")]]

    return top5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=2_000)
    parser.add_argument("--qc-jobs", type=int, default=5_000)
    args = parser.parse_args()
    rng = random.Random(7)
    index = BM25Index()
    corpus = documents()
    raw = [(name, ct, data) for name, ct, data in corpus]
    by_document: dict[str, list[Passage]] = {}
    number = 0
    started = time.perf_counter()
    total_bytes = 0
    while index.size < args.chunks:
        if number < len(raw):
            name, content_type, data = raw[number]
        else:
            name, content_type, data = f"sop-{number}.md", "text/markdown", synthetic_document(rng, number)
        doc = extract(data, filename=name, content_type=content_type)
        passages = [
            Passage(f"{name}#{c.ordinal}", name, name, doc.title, c.section, c.page, c.text)
            for c in chunk_sections(doc.sections)
        ]
        index.replace_document(name, passages)
        by_document[name] = passages
        total_bytes += len(data)
        number += 1
    index.search("warm up", 1)  # the matrix is assembled on first search
    indexing = time.perf_counter() - started
    print(f"indexed {index.size} chunks from {number} documents ({total_bytes / 1e6:.1f} MB) in {indexing:.2f} s")
    print(f"indexing throughput: {index.size / indexing:,.0f} chunks/s, {number / indexing:,.0f} documents/s")

    texts = [p.indexed_text for name in sorted(by_document) for p in by_document[name]]
    stem.cache_clear()  # as cold as in the run above
    started = time.perf_counter()
    alone = BM25Index()
    for name in sorted(by_document):
        alone.replace_document(name, by_document[name])
    alone.search("warm up", 1)
    bm25_only = time.perf_counter() - started
    del alone
    started = time.perf_counter()
    tfidf_top5(texts)
    bare = time.perf_counter() - started
    print(
        f"baseline indexing (TfidfVectorizer.fit_transform + term-major copy, same {len(texts)} chunk texts): "
        f"{bare:.2f} s = {len(texts) / bare:,.0f} chunks/s"
    )
    print(
        f"ratio ours/baseline (indexing throughput): {bare / indexing:.3f} for extract + chunk + BM25; "
        f"{bare / bm25_only:.3f} for our BM25 alone on the same passages ({len(texts) / bm25_only:,.0f} chunks/s)"
    )

    started = time.perf_counter()
    index.replace_document(raw[0][0], [])
    del by_document[raw[0][0]]
    index.search("warm up", 1)
    print(f"re-index after one document changed: {(time.perf_counter() - started) * 1000:.1f} ms")

    asked = [q.question for q in questions()]
    found = 0

    def answer(question: str) -> None:
        nonlocal found
        found += retrieve_and_answer(index, question).found

    elapsed, latencies = timed(answer, asked, args.questions)
    p50, p99 = percentiles(latencies)
    print(f"questions answered: {args.questions} in {elapsed:.2f} s = {args.questions / elapsed:,.0f}/s")
    print(f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms (retrieval + extractive answer, {index.size} chunks)")

    texts = [p.indexed_text for name in sorted(by_document) for p in by_document[name]]
    top5 = tfidf_top5(texts)
    base_elapsed, base_latencies = timed(top5, asked, args.questions)
    base_p50, base_p99 = percentiles(base_latencies)
    print(
        f"baseline (TF-IDF dot product top 5 over the same {len(texts)} chunk texts, no answer): "
        f"{args.questions / base_elapsed:,.0f}/s, p50 {base_p50:.2f} ms, p99 {base_p99:.2f} ms"
    )
    print(
        f"ratio ours/baseline: throughput {base_elapsed / elapsed:.3f}, p50 {p50 / base_p50:.3f}, "
        f"p99 {p99 / base_p99:.3f} (latency ratios above 1: ours slower)"
    )
    qc_figures(args.qc_jobs)


def qc_figures(jobs: int) -> None:
    """The QC model on ``jobs`` synthetic finished jobs (split by time 60/20/20)."""
    from hub.ai.qc_model import QcModel, fit
    from tests.unit.hub.test_ai_qc_model import synthetic_history, true_probability

    history = synthetic_history(jobs)
    started = time.perf_counter()
    fitted = fit(history)
    training = time.perf_counter() - started
    m = fitted.metrics
    held_out = history[len(history) - m["held_out_jobs"] :]
    oracle = 0.0
    for job in held_out:
        known = [s.concentration for s in job.samples if s.concentration is not None] or [18.0]
        failed = sum(1 for s in job.samples if s.failed_qc) / len(job.samples)
        oracle += (true_probability(min(known), failed, job.platform) - float(bool(job.passed))) ** 2
    oracle /= len(held_out)
    print(f"QC model: trained on {jobs} jobs in {training:.2f} s (fit, calibrate, evaluate)")
    print(
        f"held-out ({m['held_out_jobs']} newest jobs): Brier {m['brier']:.4f} (base rate {m['brier_base_rate']:.4f}, "
        f"true probabilities {oracle:.4f}), ROC AUC {m['roc_auc']:.3f}"
    )
    print(
        f"baseline (base-rate predictor: the training pass rate for every job, same held-out jobs): "
        f"Brier {m['brier_base_rate']:.4f}; ratio ours/baseline {m['brier'] / m['brier_base_rate']:.3f} "
        f"(lower is better; oracle/baseline {oracle / m['brier_base_rate']:.3f})"
    )
    print("reliability (bin: jobs, mean predicted, observed pass rate):")
    for b in m["reliability"]:
        if b["count"]:
            print(f"  {b['bin']}: {b['count']:4d}  {b['mean_predicted']:.3f}  {b['observed_pass_rate']:.3f}")
    print("drivers: " + ", ".join(f"{d['feature']} {d['weight']:+.2f}" for d in m["drivers"]))
    model = QcModel.from_bytes(fitted.model.to_bytes())
    started = time.perf_counter()
    for job in held_out:
        model.predict(job)
    elapsed = time.perf_counter() - started
    print(
        f"predictions with explanations: {len(held_out) / elapsed:,.0f}/s ({elapsed / len(held_out) * 1e3:.2f} ms each)"
    )


if __name__ == "__main__":
    main()
