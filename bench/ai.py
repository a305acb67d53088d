"""Answers from documents at scale: indexing throughput (extract + chunk + BM25) and questions answered per second
with p50/p99 latency over 10,000 indexed chunks, all in memory on one core.

    .venv/bin/python bench/ai.py [--chunks 10000] [--questions 2000]
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


if __name__ == "__main__":
    main()
