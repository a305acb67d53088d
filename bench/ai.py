"""Answers from documents at scale: indexing throughput (extract + chunk + BM25) and questions answered per second
with p50/p99 latency over 10,000 indexed chunks, all in memory on one core; then the sequencing QC model on a
seeded synthetic history with known drivers: training time, held-out Brier score (against the base rate and the
true probabilities), ROC AUC, the reliability table, and predictions per second with their explanations.

    .venv/bin/python bench/ai.py [--chunks 10000] [--questions 2000] [--qc-jobs 5000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.ai import BM25Index, Passage, extract
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
        total_bytes += len(data)
        number += 1
    index.search("warm up", 1)  # the matrix is assembled on first search
    indexing = time.perf_counter() - started
    print(f"indexed {index.size} chunks from {number} documents ({total_bytes / 1e6:.1f} MB) in {indexing:.2f} s")
    print(f"indexing throughput: {index.size / indexing:,.0f} chunks/s, {number / indexing:,.0f} documents/s")

    started = time.perf_counter()
    index.replace_document(raw[0][0], [])
    index.search("warm up", 1)
    print(f"re-index after one document changed: {(time.perf_counter() - started) * 1000:.1f} ms")

    asked = [q.question for q in questions()]
    latencies = []
    found = 0
    started = time.perf_counter()
    for i in range(args.questions):
        t0 = time.perf_counter()
        found += retrieve_and_answer(index, asked[i % len(asked)]).found
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    print(f"questions answered: {args.questions} in {elapsed:.2f} s = {args.questions / elapsed:,.0f}/s")
    print(f"latency p50 {p50:.2f} ms, p99 {p99:.2f} ms (retrieval + extractive answer, {index.size} chunks)")
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
