"""Benchmark: MQTT messages ingested per second through MqttDriver, against a bare aiomqtt subscriber loop.

    python bench/drivers_mqtt.py [--messages N] [--rounds R] [--broker HOST:PORT]

Both consumers drain the same kind of backlog from the same broker in the same run: N QoS 1 messages published
into their persistent session while they were away (what an edge agent meets after an outage). The bare loop only
counts messages (paho acknowledges each on arrival); the driver maps each JSON payload to an Observation with its
exact decimal text and source time stamp, checks duplicates and order, and acknowledges after every poll, as the
edge does after each durable flush. Without --broker a private Mosquitto is started through
firmware-sim/mqtt/broker.py (its default of 1000 queued messages per session would cut the backlog short).
Prints messages per second for both (median of the rounds) and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from drivers.mqtt import FieldMapping, MqttDeviceSettings, MqttDriver, MqttSubscription, PayloadMapper

BROKER_SCRIPT = Path(__file__).resolve().parents[1] / "firmware-sim" / "mqtt" / "broker.py"
SESSION_EXPIRY_S = 300


def payload(n: int) -> bytes:
    second, milli = divmod(n, 1000)
    stamp = f"2025-11-25T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{milli:03d}Z"
    return f'{{"ts":"{stamp}","value":{20 + n % 300 / 100:.2f},"unit":"Cel","seq":{n}}}'.encode()


@contextlib.contextmanager
def private_broker() -> Iterator[tuple[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, str(BROKER_SCRIPT), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    try:
        ready = json.loads(proc.stdout.readline())
        print(f"broker: {ready['broker']} {ready['version']} on {ready['url']}")
        yield ready["host"], ready["port"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


async def publish_backlog(host: str, port: int, topic: str, count: int) -> None:
    client = aiomqtt.Client(host, port, identifier=f"bench-pub-{uuid.uuid4().hex[:8]}", max_inflight_messages=1000)
    client.pending_calls_threshold = 1000  # up to 1000 publishes in flight on purpose (PERFORMANCE.md)
    window = asyncio.Semaphore(1000)

    async def one(n: int) -> None:
        async with window:
            await client.publish(topic, payload(n), qos=1, timeout=30)

    async with client:
        await asyncio.gather(*(one(n) for n in range(count)))


def session_properties() -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    return properties


async def bare_loop(host: str, port: int, count: int) -> float:
    topic, client_id = f"bench/{uuid.uuid4().hex[:8]}/t", f"bench-bare-{uuid.uuid4().hex[:8]}"

    def client() -> aiomqtt.Client:
        return aiomqtt.Client(
            host,
            port,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=session_properties(),
        )

    async with client() as subscriber:
        await subscriber.subscribe(topic, qos=1)
    await publish_backlog(host, port, topic, count)
    received = 0
    async with client() as subscriber:
        started = time.perf_counter()
        async for _ in subscriber.messages:
            received += 1
            if received == count:
                break
        elapsed = time.perf_counter() - started
    return count / elapsed


def subscription(prefix: str) -> MqttSubscription:
    return MqttSubscription(
        topic=f"{prefix}/+",
        channel_segment=-1,
        timestamp="$.ts",
        mappings=(FieldMapping(path="$.value", unit="Cel", unit_path="$.unit", range=("-40", "85")),),
    )


def mapping_only(count: int) -> float:
    """Payload to Observation alone, in process: the driver's own CPU cost per message."""
    mapper = PayloadMapper("bench-room", subscription("bench"))
    payloads = [payload(n) for n in range(count)]
    started = time.perf_counter()
    for data in payloads:
        mapper.map("bench/temperature", data)
    return count / (time.perf_counter() - started)


async def through_driver(host: str, port: int, count: int, poll_interval: float) -> float:
    prefix, client_id = f"bench/{uuid.uuid4().hex[:8]}", f"bench-driver-{uuid.uuid4().hex[:8]}"
    settings = MqttDeviceSettings(
        driver="mqtt",
        broker={"host": host, "port": port, "client_id": client_id, "session_expiry_s": SESSION_EXPIRY_S},  # type: ignore[arg-type]
        subscriptions=(subscription(prefix),),
    )
    driver = MqttDriver("bench-room", settings)
    await driver.open()
    await driver.close()
    await publish_backlog(host, port, f"{prefix}/temperature", count)
    received = 0
    await driver.open()
    started = time.perf_counter()
    while received < count:
        await asyncio.sleep(poll_interval)  # the supervisor's poll interval; messages arrive meanwhile
        readings = await driver.poll()
        received += len(readings)
        await driver.acknowledge()  # as after a durable flush
    elapsed = time.perf_counter() - started
    counters = driver.counters()
    await driver.close()
    if counters.bad_payloads or counters.duplicates or counters.out_of_order:
        raise SystemExit(f"unexpected: {counters}")
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.01, help="seconds between polls (default 0.01)")
    parser.add_argument("--broker", help="HOST:PORT of a broker to use instead of a private Mosquitto")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.broker:
            host, _, port_text = args.broker.rpartition(":")
            address = host, int(port_text)
        else:
            address = stack.enter_context(private_broker())
        bare: list[float] = []
        driver: list[float] = []
        for round_number in range(1, args.rounds + 1):
            bare.append(asyncio.run(bare_loop(*address, args.messages)))
            driver.append(asyncio.run(through_driver(*address, args.messages, args.poll_interval)))
            print(f"round {round_number}: bare {bare[-1]:,.0f} msg/s, driver {driver[-1]:,.0f} msg/s")
    bare_rate, driver_rate = statistics.median(bare), statistics.median(driver)
    print(f"{args.messages:,} QoS 1 messages from a persistent session, median of {args.rounds} rounds:")
    print(f"  bare aiomqtt subscriber loop: {bare_rate:>10,.0f} msg/s")
    print(f"  MqttDriver poll + acknowledge: {driver_rate:>9,.0f} msg/s  ({1e6 / driver_rate:.1f} µs per message)")
    print(f"  ratio driver / bare: {driver_rate / bare_rate:.2f}")
    mapped = mapping_only(args.messages)
    print(f"  (payload to Observation alone, no I/O: {mapped:,.0f} msg/s, {1e6 / mapped:.1f} µs per message)")


if __name__ == "__main__":
    main()
