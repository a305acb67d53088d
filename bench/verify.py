"""Benchmark: verify a 1,000,000-entry export; compare with a bare hashlib SHA-256 loop over the same lines.

    python bench/verify.py [--entries N] [--keep DIR]

Prints entries per second for both, their ratio (the issue aims at 40% of the bare loop or more), and the peak
resident memory of this process, which does nothing but the two passes (the export is written by a child process).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from protocol import Trust, Verifier


def bare_loop(path: Path) -> tuple[int, float]:
    sha256 = hashlib.sha256
    count = 0
    start = time.perf_counter()
    with path.open("rb") as lines:
        for line in lines:
            sha256(line).digest()
            count += 1
    return count, time.perf_counter() - start


def verify(path: Path, trust: Trust) -> tuple[int, float]:
    start = time.perf_counter()
    with path.open("rb") as lines:
        report = Verifier(trust).run(lines)
    elapsed = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"verification failed: {report.failure}")
    return report.entries, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the export here and keep it")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="tracseq-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / "bench.jsonl"
    if not export.exists():
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "protocol",
                "log",
                "synth",
                "--entries",
                str(args.entries),
                "--out",
                str(export),
                "--witness",
            ],
            check=True,
        )
        print(f"synthesised {args.entries:,} entries in {time.perf_counter() - t:.1f} s")
    trust = Trust.load(export.with_name("bench.trust.json"))
    size = export.stat().st_size
    print(f"export: {export} ({size / 1e6:.0f} MB)")
    base_best, ours_best = float("inf"), float("inf")
    entries = lines = 0
    for _ in range(args.rounds):  # interleaved, best of N: the machine is shared and noisy
        lines, base = bare_loop(export)
        entries, ours = verify(export, trust)
        base_best, ours_best = min(base_best, base), min(ours_best, ours)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bare sha256 loop : {lines / base_best:>12,.0f} lines/s   ({base_best:.2f} s)")
    print(
        f"tracseq verify   : {entries / ours_best:>12,.0f} entries/s "
        f"({ours_best:.2f} s, {size / ours_best / 1e6:.0f} MB/s)"
    )
    print(f"ratio            : {base_best / ours_best:.1%} of the bare loop (aim: 40% or more)")
    print(f"peak RSS         : {peak_mb:.0f} MB (this process: both passes, constant memory)")


if __name__ == "__main__":
    main()
