"""Command line and process life cycle: start the transports, print the ready line, stop on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from freezer.clock import SimClock
from freezer.control import ControlServer
from freezer.device import Freezer
from freezer.faults import ACTIONS, ScheduledAction, parse_scheduled
from freezer.rtu_pty import RtuPty
from freezer.tcp_server import ModbusTcpServer
from freezer.thermal import DEFAULT_DEFROST_DURATION, DEFAULT_DEFROST_EVERY, FreezerModel

log = logging.getLogger("freezer")

DEFAULT_TCP = "127.0.0.1:5020"
TICK = 0.05
"""Real seconds between model updates when nobody is asking."""


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def scheduled(text: str) -> ScheduledAction:
    try:
        return parse_scheduled(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sim.py", description="Simulated -80 °C ultra-low freezer controller (Modbus TCP / RTU)."
    )
    parser.add_argument(
        "--tcp", type=host_port, metavar="HOST:PORT", help=f"Modbus TCP address (default {DEFAULT_TCP})"
    )
    parser.add_argument("--rtu-pty", action="store_true", help="serve Modbus RTU on a new pseudo-terminal")
    parser.add_argument("--control", type=host_port, metavar="HOST:PORT", help="JSON control socket address")
    parser.add_argument("--unit", type=int, default=1, choices=range(1, 248), metavar="1-247", help="unit id")
    parser.add_argument("--speed", type=positive, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--seed", type=int, default=1, help="random seed (the model is deterministic)")
    parser.add_argument(
        "--fault",
        type=scheduled,
        action="append",
        default=[],
        metavar="NAME[@SECONDS]",
        help=f"schedule a fault or action at a simulated second (repeatable): {', '.join(ACTIONS)}",
    )
    parser.add_argument(
        "--defrost-every",
        type=float,
        default=DEFAULT_DEFROST_EVERY,
        metavar="SECONDS",
        help="simulated seconds between defrosts, 0 to disable",
    )
    parser.add_argument("--defrost-duration", type=positive, default=DEFAULT_DEFROST_DURATION, metavar="SECONDS")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if args.tcp is None and not args.rtu_pty:
        args.tcp = host_port(DEFAULT_TCP)
    return args


async def tick(device: Freezer) -> None:
    while True:
        device.advance()
        await asyncio.sleep(TICK)


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    model = FreezerModel(args.seed, defrost_every=args.defrost_every, defrost_duration=args.defrost_duration)
    device = Freezer(model, SimClock(args.speed), args.fault, unit=args.unit)
    tcp = ModbusTcpServer(device) if args.tcp else None
    control = ControlServer(device) if args.control else None
    rtu = RtuPty(device) if args.rtu_pty else None
    ready: dict[str, object] = {"ready": True, "tcp": None, "control": None, "pty": None, "unit": args.unit}
    try:
        if tcp is not None:
            ready["tcp"] = await tcp.start(*args.tcp)
        if control is not None:
            ready["control"] = await control.start(*args.control)
        if rtu is not None:
            rtu.start()
            ready["pty"] = rtu.path
        device.advance()
        print(json.dumps(ready), flush=True)
        log.info("ready: %s (speed %g, seed %d)", ready, args.speed, args.seed)
        ticker = asyncio.create_task(tick(device))
        await stop.wait()
        log.info("stopping at simulated second %.1f", model.time)
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
    finally:
        if tcp is not None:
            await tcp.stop()
        if control is not None:
            await control.stop()
        if rtu is not None:
            rtu.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args = parse_args(argv)
    logging.getLogger().setLevel(args.log_level)
    try:
        return asyncio.run(run(args))
    except OSError as err:
        log.error("cannot start: %s", err)
        return 1
