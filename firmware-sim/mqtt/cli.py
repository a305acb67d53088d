"""Command line and process life cycle: connect, start the control socket, print the ready line, publish every
interval, stop on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import signal
import sys
import time
from datetime import UTC, datetime

from mqtt import payloads
from mqtt.control import ControlServer
from mqtt.faults import Fault, ScheduledFault, parse_scheduled
from mqtt.gateway import Gateway
from mqtt.publisher import Publisher
from mqtt.room import SENSOR_NAMES, Room

log = logging.getLogger("mqtt-sim")

CONNECT_TIMEOUT_S = 10.0
_LEVEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def topic_level(text: str) -> str:
    if not _LEVEL.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a topic level (letters, digits, '_', '.', '-'): {text!r}")
    return text


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def scheduled(text: str) -> ScheduledFault:
    try:
        return parse_scheduled(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sim.py", description="Simulated room sensors publishing over MQTT.")
    parser.add_argument("--broker", type=host_port, default=("127.0.0.1", 1883), metavar="HOST:PORT")
    parser.add_argument("--site", type=topic_level, default="site-a", help="topic level for the site")
    parser.add_argument("--room", type=topic_level, default="ln2-room-1", help="topic level for the room")
    parser.add_argument("--prefix", default="lab", help="first topic level(s) (default 'lab')")
    parser.add_argument("--interval", type=positive, default=1.0, help="seconds between readings")
    parser.add_argument("--control", type=host_port, metavar="HOST:PORT", help="JSON control socket address")
    parser.add_argument("--client-id", help="MQTT client id (default sim-<site>-<room>)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outbox", type=int, default=10_000, help="readings kept while the broker is away")
    parser.add_argument(
        "--fault",
        type=scheduled,
        action="append",
        default=[],
        metavar="NAME[@SECONDS]",
        help=f"apply a fault at a second after start (repeatable): {', '.join(Fault.__members__.values())}, clear",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


async def tick(gateway: Gateway, interval: float, schedule: list[ScheduledFault]) -> None:
    started = time.monotonic()
    pending = sorted(schedule, key=lambda item: item.at)
    next_cycle = started
    while True:
        now = time.monotonic()
        while pending and pending[0].at <= now - started:
            gateway.apply(pending.pop(0).fault)
        gateway.publish_cycle()
        next_cycle += interval
        await asyncio.sleep(max(0.0, next_cycle - time.monotonic()))


async def run(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    prefix = f"{args.prefix}/{args.site}/{args.room}"
    host, port = args.broker
    client_id = args.client_id or f"sim-{args.site}-{args.room}"
    publisher = Publisher(
        host,
        port,
        client_id,
        f"{prefix}/status",
        lambda online: payloads.status(online, payloads.timestamp(datetime.now(UTC))),
        args.outbox,
    )
    gateway = Gateway(prefix, Room(args.seed), publisher)
    control = ControlServer(gateway) if args.control else None
    connection = asyncio.create_task(publisher.run())
    ticker: asyncio.Task[None] | None = None
    try:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await publisher.connected.wait()
        except TimeoutError:
            log.error("cannot reach the broker at %s:%d", host, port)
            return 1
        ready: dict[str, object] = {
            "ready": True,
            "broker": f"{host}:{port}",
            "control": await control.start(*args.control) if control is not None else None,
            "client_id": client_id,
            "prefix": prefix,
            "topics": {name: gateway.topic(name) for name in SENSOR_NAMES},
            "status_topic": f"{prefix}/status",
            "interval": args.interval,
        }
        print(json.dumps(ready), flush=True)
        log.info("ready: %s", ready)
        ticker = asyncio.create_task(tick(gateway, args.interval, args.fault))
        await stop.wait()
        log.info("stopping after %d cycles, %d messages published", gateway.cycles, publisher.published)
        if ticker is not None:
            ticker.cancel()
        publisher.send(f"{prefix}/status", payloads.status(False, payloads.timestamp(datetime.now(UTC))))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await publisher.flush()
    finally:
        for task in (ticker, connection):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if control is not None:
            await control.stop()
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
