"""The room sensor simulator and the local broker, as processes, checked with a plain aiomqtt subscriber."""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.simulator_process import stop_simulator

SIM_DIR = Path(__file__).resolve().parents[2] / "firmware-sim"
SIM = SIM_DIR / "mqtt" / "sim.py"
BROKER = SIM_DIR / "mqtt" / "broker.py"
READY_TIMEOUT = 10.0
Need = Callable[[str], tuple[str, int]]
Message = tuple[str, bytes]


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@dataclass
class Sim:
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]

    def control(self, command: dict[str, Any]) -> dict[str, Any]:
        with socket.create_connection(address(self.ready["control"]), timeout=5) as sock:
            sock.sendall(json.dumps(command).encode() + b"\n")
            with sock.makefile("rb") as lines:
                reply: dict[str, Any] = json.loads(lines.readline())
        return reply

    def settle(self) -> None:
        """Wait until the cycle published at start-up (and the status message) are out."""
        deadline = time.monotonic() + READY_TIMEOUT
        while (state := self.control({"get": "state"}))["published"] < 4 or state["backlog"]:
            assert time.monotonic() < deadline, state
            time.sleep(0.01)


def start_process(command: list[str], log_path: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
    assert readable, f"no ready line; log:\n{log_path.read_text()}"
    ready: dict[str, Any] = json.loads(proc.stdout.readline())
    assert ready["ready"] is True, ready
    return proc, ready


@pytest.fixture
def start_sim(require_service: Need, tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    host, port = require_service("mqtt")
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*args: str, broker: str = f"{host}:{port}") -> Sim:
        log_path = tmp_path / f"sim{len(started)}.log"
        command = [sys.executable, str(SIM), "--broker", broker, "--control", "127.0.0.1:0", "--seed", "3", *args]
        proc, ready = start_process(command, log_path)
        started.append((proc, log_path))
        return Sim(proc, ready)

    yield start
    for proc, log_path in started:
        stop_simulator(proc, log_path, timeout=10)


@pytest.fixture
def prefix() -> str:
    return f"tracseq-test/{uuid.uuid4().hex[:12]}"


async def gather_messages(
    host: str, port: int, topic_filter: str, count: int, action: Callable[[], object]
) -> list[Message]:
    """Subscribe, run ``action``, and return the next ``count`` messages."""
    messages: list[Message] = []
    async with aiomqtt.Client(host, port, identifier=f"sub-{uuid.uuid4().hex[:12]}") as client:
        await client.subscribe(topic_filter, qos=1)
        await asyncio.to_thread(action)
        if count == 0:
            return messages
        async with asyncio.timeout(10):
            async for message in client.messages:
                messages.append((str(message.topic), bytes(message.payload)))
                if len(messages) == count:
                    break
    return messages


def by_sensor(messages: list[Message]) -> dict[str, list[bytes]]:
    grouped: dict[str, list[bytes]] = {}
    for topic, payload in messages:
        grouped.setdefault(topic.rsplit("/", 1)[1], []).append(payload)
    return grouped


def test_ready_line_topics_and_payloads(start_sim: Callable[..., Sim], require_service: Need, prefix: str) -> None:
    host, port = require_service("mqtt")
    sim = start_sim("--prefix", prefix, "--site", "site-b", "--room", "ln2-room-2", "--interval", "30")
    sim.settle()
    room = f"{prefix}/site-b/ln2-room-2"
    assert sim.ready["prefix"] == room
    assert sim.ready["topics"] == {name: f"{room}/{name}" for name in ("temperature", "humidity", "co2", "o2")}
    assert sim.ready["status_topic"] == f"{room}/status"
    assert sim.ready["client_id"] == "sim-site-b-ln2-room-2"

    messages = asyncio.run(
        gather_messages(host, port, f"{room}/+", 9, lambda: [sim.control({"publish": "now"}) for _ in range(2)])
    )
    sensors = by_sensor(messages)
    assert json.loads(sensors["status"][0])["online"] is True  # retained, sent first on subscribe
    shapes = {
        "temperature": (r"-?[0-9]+\.[0-9]{2}", "Cel"),
        "humidity": (r"[0-9]+\.[0-9]", "%"),
        "co2": (r"[0-9]+", "[ppm]"),
        "o2": (r"[0-9]+\.[0-9]", "%"),
    }
    for name, (value_text, unit) in shapes.items():
        assert len(sensors[name]) == 2
        for payload in sensors[name]:
            assert re.fullmatch(
                rf'\{{"ts":"20[0-9]{{2}}-[0-9]{{2}}-[0-9]{{2}}T[0-9:]{{8}}\.[0-9]{{3}}Z","value":{value_text},'
                rf'"unit":"{re.escape(unit)}","seq":[0-9]+\}}',
                payload.decode(),
            ), payload
        assert [json.loads(p)["seq"] for p in sensors[name]][-1] == json.loads(sensors[name][0])["seq"] + 1
    assert json.loads(sensors["o2"][0])["value"] == 20.9


def test_faults_change_exactly_the_payloads_they_name(
    start_sim: Callable[..., Sim], require_service: Need, prefix: str
) -> None:
    host, port = require_service("mqtt")
    sim = start_sim("--prefix", prefix, "--interval", "30")
    sim.settle()
    room = sim.ready["prefix"]

    def faults_then_three_cycles() -> None:
        for command in (
            {"fault": "malformed_json", "sensor": "co2"},
            {"fault": "wrong_type"},
            {"fault": "out_of_range", "sensor": "o2"},
            {"fault": "duplicate", "sensor": "humidity"},
            {"fault": "out_of_order", "sensor": "humidity"},
        ):
            assert sim.control(command)["ok"] is True, command
        assert sim.control({"publish": "now"})["held"] == []
        assert sim.control({"publish": "now"})["held"] == ["humidity"]
        assert sim.control({"publish": "now"})["held"] == []

    messages = asyncio.run(gather_messages(host, port, f"{room}/+", 1 + 5 + 3 + 5, faults_then_three_cycles))
    sensors = by_sensor(messages)
    with pytest.raises(json.JSONDecodeError):
        json.loads(sensors["co2"][0])
    assert json.loads(sensors["co2"][1])["value"] >= 0
    assert isinstance(json.loads(sensors["temperature"][0])["value"], str)
    assert json.loads(sensors["o2"][0])["value"] == 99.9
    humidity = [json.loads(p)["seq"] for p in sensors["humidity"]]
    assert humidity == [2, 2, 4, 3]  # the duplicate, then seq 3 held back until seq 4 was out
    assert sensors["humidity"][0] == sensors["humidity"][1]
    assert len(sensors["temperature"]) == 3


def test_control_errors_are_answered_and_change_nothing(start_sim: Callable[..., Sim], prefix: str) -> None:
    sim = start_sim("--prefix", prefix, "--interval", "30")
    for command, error in (
        ({"fault": "melted"}, "unknown fault"),
        ({"fault": "duplicate", "sensor": "radon"}, "unknown sensor"),
        ({"fault": "duplicate", "count": 0}, "count"),
        ({"fault": "o2_drop", "sensor": "o2"}, "takes no sensor"),
        ({"fault": "duplicate", "seconds": 1}, "takes no seconds"),
        ({"door": "open"}, "unknown command"),
    ):
        reply = sim.control(command)
        assert reply["ok"] is False
        assert error in reply["error"], reply
    assert sim.control({"get": "state"})["pending_faults"] == {}


def test_an_ln2_spill_takes_oxygen_down_to_17_percent_and_clearing_it_recovers(
    start_sim: Callable[..., Sim], prefix: str
) -> None:
    sim = start_sim("--prefix", prefix, "--interval", "30")
    assert sim.control({"publish": "now"})["last"]["o2"] == "20.9"
    sim.control({"fault": "o2_drop", "seconds": 0.2})
    asyncio.run(asyncio.sleep(0.3))
    state = sim.control({"publish": "now"})
    assert state["spill"] is True
    assert state["last"]["o2"] == "17.0"
    assert float(state["last"]["temperature"]) < 20.0  # the cold nitrogen cools the room
    sim.control({"clear": "o2_drop"})
    asyncio.run(asyncio.sleep(0.3))
    state = sim.control({"publish": "now"})
    assert state["spill"] is False
    assert 17.0 <= float(state["last"]["o2"]) < 17.2  # ventilation needs minutes, not milliseconds


def test_the_broker_script_serves_mqtt_on_a_free_port(require_service: Need, tmp_path: Path) -> None:
    require_service("mqtt")
    log_path = tmp_path / "broker.log"
    proc, ready = start_process([sys.executable, str(BROKER), "--port", "0", "--data-dir", str(tmp_path)], log_path)
    try:
        assert ready["broker"] == "mosquitto"
        assert ready["protocols"] == ["3.1.1", "5"]
        assert ready["port"] > 0
        assert ready["url"] == f"mqtt://127.0.0.1:{ready['port']}"
        assert asyncio.run(gather_messages("127.0.0.1", ready["port"], "t/#", 0, lambda: None)) == []
    finally:
        stop_simulator(proc, log_path, timeout=10)
    assert (tmp_path / "mosquitto.db").exists()  # sessions saved on SIGTERM
