"""Benchmark: run-folder watcher polls per second over an output directory of 20 run folders, against a bare
``os.scandir`` walk of the same tree in the same process.

    python bench/drivers_runfolder.py [--runs 20] [--live 3] [--polls 200] [--keep DIR]

The tree: copies of the three real run folders in ``shared/data/illumina`` under new names, most finished (with
the per-cycle folders their platform leaves behind) and ``--live`` of them mid-run. Prints the first (cold) poll,
steady polls per second through ``scan()`` and through the async ``poll()``, bare walks per second, and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from drivers.runfolder import RunFolderDeviceSettings, RunFolderWatcher

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "illumina"
SOURCES = {
    "M00146": "130417_M00146_0021_000000000-A2WDF",
    "NB551051": "170609_NB551051_0017_AHLFFJBGX2",
    "LH00130": "20230418_LH00130_0003_B223YTFLT3",
}
LIFECYCLE = ("RTAComplete.txt", "RunCompletionStatus.xml", "CopyComplete.txt", "reference.json", "README.md")


def build(root: Path, runs: int, live: int) -> int:
    """Write the tree; return how many entries it holds."""
    instruments = list(SOURCES)
    for index in range(runs):
        instrument = instruments[index % len(instruments)]
        source = DATA / SOURCES[instrument]
        name = f"2401{index + 1:02d}_{instrument}_{index + 1:04d}_FC{index:05d}"
        target = root / name
        finished = index < runs - live
        shutil.copytree(
            source,
            target,
            copy_function=shutil.copyfile,
            ignore=None
            if finished
            else shutil.ignore_patterns(*LIFECYCLE, "RTARead*", "RTALogs", "ExtractionMetricsOut.bin"),
        )
        for folder, _, _ in os.walk(target):
            Path(folder).chmod(0o755)
        cycles = {"M00146": 242, "NB551051": 158, "LH00130": 318}[instrument] // (1 if finished else 2)
        for cycle in range(1, cycles + 1):
            if instrument == "LH00130":
                (target / "InterOp" / f"C{cycle}.1").mkdir(parents=True, exist_ok=True)
            lanes = {"M00146": 1, "NB551051": 4, "LH00130": 8}[instrument]
            for lane in range(1, lanes + 1):
                calls = target / "Data" / "Intensities" / "BaseCalls" / f"L{lane:03d}"
                if instrument == "NB551051":
                    calls.mkdir(parents=True, exist_ok=True)
                    (calls / f"{cycle:04d}.bcl.bgzf").write_bytes(b"")
                else:
                    (calls / f"C{cycle}.1").mkdir(parents=True, exist_ok=True)
                    (calls / f"C{cycle}.1" / f"L{lane:03d}_1.cbcl").write_bytes(b"")
    return walk(root)


def walk(root: Path) -> int:
    count, stack = 0, [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                count += 1
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return count


def rate(action: object, rounds: int, count: int) -> float:
    assert callable(action)
    figures = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            action()
        figures.append(count / (time.perf_counter() - start))
    return statistics.median(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--live", type=int, default=3)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the tree here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="tracseq-bench-runs-"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        entries = build(root, args.runs, args.live)
        settings = RunFolderDeviceSettings(watch_dir=root, settle_s=0, stall_after_s=86400, completion_grace_s=0)
        watcher = RunFolderWatcher("bench", settings)
        asyncio.run(watcher.open())
        start = time.perf_counter()
        first = watcher.scan()
        cold = time.perf_counter() - start
        scans = rate(watcher.scan, args.rounds, args.polls)

        async def polls() -> float:
            figures = []
            for _ in range(args.rounds):
                begin = time.perf_counter()
                for _ in range(args.polls):
                    await watcher.poll()
                figures.append(args.polls / (time.perf_counter() - begin))
            return statistics.median(figures)

        async_polls = asyncio.run(polls())
        walks = rate(lambda: walk(root), args.rounds, max(5, args.polls // 20))
        print(f"tree: {args.runs} run folders ({args.live} mid-run), {entries:,} entries")
        print(f"first poll (parses every run): {cold * 1000:.1f} ms, {len(first)} events")
        print(f"watcher scan():  {scans:10,.0f} polls/s  ({1e6 / scans:,.0f} µs a poll)")
        print(f"watcher poll():  {async_polls:10,.0f} polls/s  (scan in a worker thread)")
        print(f"bare scandir walk: {walks:8,.1f} walks/s  ({1e3 / walks:,.1f} ms a walk)")
        print(f"ratio scan()/walk: {scans / walks:,.0f}x   poll()/walk: {async_polls / walks:,.0f}x")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
