"""Serial ASCII instrument simulator: ``python firmware-sim/serial/sim.py --device probe --checksum xor8``.

Plays a temperature probe and/or an LN2 level sensor on a pseudo-terminal pair reached through a stable
symlink, with wire faults driven from a JSON-lines control socket (see README.md). Standard library only; it
imports nothing of TracSeq. Its modules sit beside this file, which Python puts first on ``sys.path`` when the
file is run, and there is deliberately no ``__init__.py``: a package named ``serial`` would hide pyserial.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bus import Bus, Station
from control import Control
from faults import Faults
from instruments import CHECKSUMS, KINDS
from terminal import Terminal

log = logging.getLogger("serial_sim")


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def device(text: str) -> tuple[str, str]:
    """``KIND`` or ``KIND@NN``: the instrument and its two-digit multi-drop address (prefix ``#NN``)."""
    kind, _, address = text.partition("@")
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"unknown device {kind!r}; known: {', '.join(KINDS)}")
    if address and not (len(address) == 2 and address.isdigit()):
        raise argparse.ArgumentTypeError(f"an address is two digits, such as probe@01, not {address!r}")
    return kind, f"#{address}" if address else ""


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sim.py", description="Simulated serial ASCII instruments on a pty.")
    parser.add_argument(
        "--device",
        type=device,
        action="append",
        metavar="KIND[@NN]",
        help="probe or ln2, with an optional two-digit address for multi-drop (repeatable; default probe)",
    )
    parser.add_argument("--mode", choices=["request", "stream"], help="default: the first device's usual mode")
    parser.add_argument("--interval", type=positive, default=1.0, help="seconds between streamed lines")
    parser.add_argument("--checksum", choices=["none", *CHECKSUMS], default="none")
    parser.add_argument("--turnaround", type=float, default=0.0, help="seconds before an instrument answers")
    parser.add_argument("--link", type=Path, help="symlink to the pty (default: in a new temporary directory)")
    parser.add_argument("--control", type=host_port, default=("127.0.0.1", 0), metavar="HOST:PORT")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    args.device = args.device or [("probe", "")]
    if args.mode is None:
        args.mode = KINDS[args.device[0][0]].natural_mode
    addresses = [address for _, address in args.device]
    if len(args.device) > 1 and (not all(addresses) or len(set(addresses)) != len(addresses)):
        parser.error("several devices on one line need distinct addresses: --device probe@01 --device ln2@02")
    if len(args.device) > 1 and args.mode == "stream":
        parser.error("stream mode plays one device: several talking unasked would collide")
    return args


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    rng = random.Random(args.seed)
    stations = [Station(KINDS[kind](rng), address) for kind, address in args.device]
    faults = Faults(random.Random(args.seed + 1), checksum=args.checksum)
    bus = Bus(stations, faults, checksum=args.checksum, turnaround=args.turnaround, started=time.monotonic())
    own_dir: Path | None = None
    link: Path = args.link
    if link is None:
        own_dir = Path(tempfile.mkdtemp(prefix="tracseq-serial-"))
        link = own_dir / "tty"
    terminal = Terminal(link, bus.on_bytes)
    bus.terminal = terminal

    def describe() -> dict[str, Any]:
        devices = [{"kind": s.instrument.kind, "address": s.address or None} for s in stations]
        return {"pty": str(link), "mode": args.mode, "checksum": args.checksum, "devices": devices}

    control = Control(bus, terminal, describe)
    streamer: asyncio.Task[None] | None = None
    try:
        terminal.plug()
        address = await control.start(*args.control)
        print(json.dumps({"ready": True, **describe(), "tty": terminal.tty, "control": address}), flush=True)
        log.info("ready: %s -> %s, control %s, %s mode", link, terminal.tty, address, args.mode)
        if args.mode == "stream":
            streamer = asyncio.create_task(bus.stream(args.interval))
        await stop.wait()
    finally:
        if streamer is not None:
            streamer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await streamer
        await control.stop()
        terminal.unplug()
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    logging.getLogger().setLevel(args.log_level)
    try:
        return asyncio.run(run(args))
    except OSError as err:
        log.error("cannot start: %s", err)
        return 1


if __name__ == "__main__":
    sys.exit(main())
