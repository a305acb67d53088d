"""Benchmark: durable signed appends per second into the edge's log store.

    python bench/edge_append.py [--entries N]

The store is driven as the agent drives it: appends on one thread, ``flush`` (one transaction, WAL,
``synchronous=FULL``) on a worker thread every 50 ms, a signed checkpoint every 5 s and at the end; the clock stops
when the final checkpoint is on disk. The baseline is a bare sqlite3 loop inserting the same rows (bytes and hash
precomputed) in 1,000-row transactions with the same pragmas, in the same run.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from edge.store import LogStore
from protocol import SigningKey

PAYLOADS = [
    {"device": f"freezer-{d:02d}", "channel": "temp", "value": f"-80.{d:02d}", "unit": "Cel", "quality": "good"}
    for d in range(50)
]


def ours(folder: Path, entries: int) -> tuple[float, list[tuple[int, bytes]]]:
    store = LogStore(
        folder / "edge.db", "tracseq.example/edge/bench", SigningKey.generate("tracseq.example/edge/bench")
    )
    done = threading.Event()

    def flusher() -> None:
        last_checkpoint = time.monotonic()
        while not done.is_set():
            time.sleep(0.05)
            store.flush()
            if time.monotonic() - last_checkpoint >= 5:
                store.checkpoint()
                last_checkpoint = time.monotonic()

    worker = threading.Thread(target=flusher)
    start = time.perf_counter()
    worker.start()
    now = datetime.now(UTC)
    for i in range(entries):
        if i % 1000 == 0:
            now = datetime.now(UTC)
        store.append("observation", PAYLOADS[i % 50], now, i)
    done.set()
    worker.join()
    store.checkpoint()
    elapsed = time.perf_counter() - start
    rows = list(store.entries())
    store.close()
    return elapsed, rows


def bare(folder: Path, rows: list[tuple[int, bytes]]) -> float:
    db = sqlite3.connect(folder / "bare.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY, raw BLOB NOT NULL)")
    start = time.perf_counter()
    for i in range(0, len(rows), 1000):
        db.execute("BEGIN")
        db.executemany("INSERT INTO entries VALUES (?, ?)", rows[i : i + 1000])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    best_ours = best_bare = float("inf")
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="tracseq-bench-") as tmp:
            folder = Path(tmp)
            elapsed, rows = ours(folder, args.entries)
            best_ours = min(best_ours, elapsed)
            best_bare = min(best_bare, bare(folder, rows))
    n = args.entries
    print(f"bare sqlite3 inserts     : {n / best_bare:>10,.0f} rows/s   (same rows, 1,000-row FULL transactions)")
    print(f"tracseq durable appends  : {n / best_ours:>10,.0f} entries/s (encoded, hashed, chained, checkpointed)")
    print(f"ratio                    : {best_bare / best_ours:.1%} of the bare insert loop (aim: 100,000/s)")


if __name__ == "__main__":
    main()
