"""Command line and life cycle: replay the source run into ``--out``, printing one JSON ready line first."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from sequencer.clock import SimClock
from sequencer.instrument import Instrument
from sequencer.source import load_source

log = logging.getLogger("sequencer")

SCENARIOS = ("complete", "fail", "stall")


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sim.py", description="Simulated Illumina sequencer: replays a run folder's life cycle into a directory."
    )
    parser.add_argument("--source", type=Path, required=True, help="a real run folder to replay")
    parser.add_argument("--out", type=Path, required=True, help="the instrument's output directory")
    parser.add_argument("--name", help="run folder name (default: the source's)")
    parser.add_argument("--speed", type=positive, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--scenario", choices=SCENARIOS, default="complete")
    parser.add_argument("--cycle-seconds", type=positive, default=300.0, help="simulated seconds per cycle")
    parser.add_argument("--startup-seconds", type=float, default=600.0, help="simulated seconds before cycle 1")
    parser.add_argument("--fail-at", type=fraction, default=0.6, help="fraction of cycles done when it fails")
    parser.add_argument("--stall-at", type=fraction, default=0.5, help="fraction of cycles done when it stalls")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    source = load_source(args.source)
    name = args.name or source.name
    if (args.out / name).exists():
        log.error("%s already exists: refusing to write over a run folder", args.out / name)
        return 1
    clock = SimClock(args.speed)
    instrument = Instrument(source, args.out, name, clock)
    total = source.cycles
    last = total
    if args.scenario == "fail":
        last = max(1, int(total * args.fail_at))
    elif args.scenario == "stall":
        last = max(1, int(total * args.stall_at))
    ready = {
        "ready": True,
        "run": name,
        "path": str(args.out / name),
        "instrument": source.instrument,
        "family": source.family,
        "cycles": total,
        "scenario": args.scenario,
        "last_cycle": last,
        "speed": args.speed,
    }
    print(json.dumps(ready), flush=True)
    instrument.setup()
    read_ends = source.read_ends()
    for cycle in range(1, last + 1):
        clock.sleep_until(args.startup_seconds + cycle * args.cycle_seconds, stop.wait)
        if stop.is_set():
            return 0
        instrument.cycle(cycle)
        if cycle in read_ends:
            instrument.read_done(read_ends[cycle])
            log.info("read %d complete at cycle %d", read_ends[cycle], cycle)
    end = args.startup_seconds + last * args.cycle_seconds
    if args.scenario == "fail":
        instrument.fail(last)
        log.info("run failed at cycle %d", last)
        return 0
    if args.scenario == "stall":
        log.info("stalled at cycle %d: writing nothing more until stopped", last)
        stop.wait()
        return 0
    for delay, step in instrument.finish_steps():
        clock.sleep_until(end + delay, stop.wait)
        if stop.is_set():
            return 0
        step()
    log.info("run complete")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    logging.getLogger().setLevel(args.log_level)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        return run(args, stop)
    except (OSError, ValueError) as err:
        log.error("cannot replay %s: %s", args.source, err)
        return 1
