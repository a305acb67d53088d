"""The -80 °C freezer simulator as a process, driven through pymodbus clients and its control socket."""

from __future__ import annotations

import itertools
import json
import select
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from tests.simulator_process import stop_simulator

pytestmark = pytest.mark.e2e

SIM_DIR = Path(__file__).resolve().parents[2] / "firmware-sim"
SIM = SIM_DIR / "freezer" / "sim.py"
READY_TIMEOUT = 10.0

COMPRESSOR_BIT = 1 << 0
DOOR_BIT = 1 << 1
ALARM_BIT = 1 << 3


def signed(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def float32(high: int, low: int) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    return value


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


@dataclass
class Sim:
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]

    def tcp_client(self, timeout: float = 1.0) -> ModbusTcpClient:
        host, port = address(self.ready["tcp"])
        return ModbusTcpClient(host, port=port, timeout=timeout, retries=0)

    def control(self, command: dict[str, Any]) -> dict[str, Any]:
        with socket.create_connection(address(self.ready["control"]), timeout=5) as sock:
            sock.sendall(json.dumps(command).encode() + b"\n")
            with sock.makefile("rb") as lines:
                reply: dict[str, Any] = json.loads(lines.readline())
        return reply

    def state(self) -> dict[str, Any]:
        return self.control({"get": "state"})


def read_temperature(client: ModbusTcpClient) -> float:
    """Cabinet temperature from the int16 register, cross-checked against the float32 pair."""
    registers = client.read_input_registers(0, count=3, device_id=1).registers
    as_float = float32(registers[0], registers[1])
    as_tenths = signed(registers[2]) / 10
    assert abs(as_float - as_tenths) <= 0.051
    return as_tenths


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*args: str) -> Sim:
        log_path = tmp_path / f"sim{len(started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(SIM), "--control", "127.0.0.1:0", "--seed", "7", *args],
                stdout=subprocess.PIPE,
                stderr=log,
            )
        started.append((proc, log_path))
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
        assert readable, f"no ready line; log:\n{log_path.read_text()}"
        ready = json.loads(proc.stdout.readline())
        assert ready["ready"] is True, ready
        return Sim(proc, ready)

    yield start

    for proc, log_path in started:
        stop_simulator(proc, log_path, timeout=5)


def test_ready_line_and_register_map(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--tcp", "127.0.0.1:0")
    assert set(sim.ready) >= {"ready", "tcp", "control", "pty"}
    assert sim.ready["pty"] is None
    assert sim.ready["tcp"].startswith("127.0.0.1:")
    assert not sim.ready["tcp"].endswith(":0")

    with sim.tcp_client() as client:
        inputs = client.read_input_registers(0, count=6, device_id=1).registers
        temperature = client.convert_from_registers(inputs[0:2], client.DATATYPE.FLOAT32, word_order="big")
        assert isinstance(temperature, float)
        assert -82.5 < temperature < -77.5
        assert abs(signed(inputs[2]) / 10 - temperature) <= 0.051
        assert 18.0 < signed(inputs[3]) / 10 < 26.0
        assert 0 <= inputs[4] <= 100
        assert inputs[5] & ~0b1111 == 0
        doors = client.read_discrete_inputs(0, count=2, device_id=1).bits[:2]
        assert doors[0] is False
        assert bool(inputs[5] & DOOR_BIT) is doors[0]
        assert client.read_coils(0, count=1, device_id=1).bits[0] is False
        holding = client.read_holding_registers(0, count=3, device_id=1).registers
        assert [signed(word) for word in holding] == [-800, -700, -900]

        assert not client.write_register(0, -750 & 0xFFFF, device_id=1).isError()
        assert signed(client.read_holding_registers(0, count=1, device_id=1).registers[0]) == -750
        assert sim.state()["setpoint_c"] == -75.0
        out_of_range = client.write_register(0, -1000 & 0xFFFF, device_id=1)
        assert out_of_range.isError()
        assert out_of_range.exception_code == 3
        past_the_end = client.read_input_registers(5, count=2, device_id=1)
        assert past_the_end.isError()
        assert past_the_end.exception_code == 2


def test_compressor_cycles_at_speed_60(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--tcp", "127.0.0.1:0", "--speed", "60", "--defrost-every", "0")
    transitions: list[bool] = []
    with sim.tcp_client() as client:
        previous = bool(client.read_input_registers(5, count=1, device_id=1).registers[0] & COMPRESSOR_BIT)

        def both_ways() -> bool:
            nonlocal previous
            running = bool(client.read_input_registers(5, count=1, device_id=1).registers[0] & COMPRESSOR_BIT)
            if running != previous:
                transitions.append(running)
                previous = running
            return True in transitions and False in transitions

        assert wait_for(both_ways, timeout=8.0), transitions
    state = sim.state()
    assert state["sim_time_s"] < 600
    assert 10 < state["duty_percent"] < 90
    assert -82.0 < state["temperature_c"] < -78.0


def test_compressor_failure_warms_past_minus_70(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--tcp", "127.0.0.1:0", "--speed", "300", "--fault", "compressor_failure@0")
    readings: list[float] = []
    with sim.tcp_client() as client:

        def warm() -> bool:
            readings.append(read_temperature(client))
            status = client.read_input_registers(5, count=1, device_id=1).registers[0]
            assert not status & COMPRESSOR_BIT
            return readings[-1] > -69.5

        assert wait_for(warm, timeout=8.0, interval=0.1), readings
        state = sim.state()
        assert state["sim_time_s"] < 900
        assert state["faults"] == ["compressor_failure"]
        assert state["alarm"] is True
        assert client.read_input_registers(5, count=1, device_id=1).registers[0] & ALARM_BIT
    assert all(later >= earlier - 0.2 for earlier, later in itertools.pairwise(readings))


def test_exception_fault_scheduled_then_cleared(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--tcp", "127.0.0.1:0", "--speed", "60", "--fault", "exception@20")
    with sim.tcp_client() as client:
        assert not client.read_input_registers(0, count=6, device_id=1).isError()
        assert wait_for(lambda: sim.state()["sim_time_s"] >= 20, timeout=5.0)
        for response in (
            client.read_input_registers(0, count=6, device_id=1),
            client.read_holding_registers(0, count=3, device_id=1),
            client.read_discrete_inputs(0, count=2, device_id=1),
            client.read_coils(0, count=1, device_id=1),
        ):
            assert response.isError()
            assert response.exception_code == 4
        assert sim.control({"fault": "clear"})["faults"] == []
        assert not client.read_input_registers(0, count=6, device_id=1).isError()
    assert sim.control({"fault": "melted"})["ok"] is False


def test_unresponsive_fault_times_out_but_keeps_the_connection(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--tcp", "127.0.0.1:0")
    request = struct.pack(">HHHBBHH", 1, 0, 6, 1, 4, 0, 6)
    with socket.create_connection(address(sim.ready["tcp"]), timeout=2) as raw:
        raw.sendall(request)
        assert raw.recv(256)[7] == 4

        assert sim.control({"fault": "unresponsive"})["faults"] == ["unresponsive"]
        with sim.tcp_client(timeout=0.4) as client, pytest.raises(ModbusIOException):
            client.read_input_registers(0, count=6, device_id=1)
        raw.settimeout(0.4)
        raw.sendall(request)
        with pytest.raises(TimeoutError):
            raw.recv(256)  # no answer, and no EOF either: the socket stays open

        sim.control({"fault": "clear"})
        raw.settimeout(2)
        raw.sendall(request)
        assert raw.recv(256)[7] == 4


def test_door_opening_raises_temperature(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--tcp", "127.0.0.1:0", "--speed", "60", "--defrost-every", "0")
    with sim.tcp_client() as client:
        before = read_temperature(client)
        opened = sim.control({"door": "open"})
        assert opened["door_open"] is True
        assert client.read_discrete_inputs(0, count=2, device_id=1).bits[0] is True
        assert client.read_input_registers(5, count=1, device_id=1).registers[0] & DOOR_BIT
        assert wait_for(lambda: sim.state()["sim_time_s"] >= opened["sim_time_s"] + 30, timeout=3.0)
        peak = read_temperature(client)
        assert peak > before + 4.0

        sim.control({"door": "close"})
        assert client.read_discrete_inputs(0, count=2, device_id=1).bits[0] is False
        assert wait_for(lambda: read_temperature(client) < peak - 3.0, timeout=4.0)


def test_stuck_and_noisy_sensor(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--tcp", "127.0.0.1:0", "--speed", "60", "--defrost-every", "0")
    with sim.tcp_client() as client:
        sim.control({"fault": "stuck_sensor"})
        sim.control({"door": "open"})  # the cabinet warms fast while the reading stays put
        stuck = []
        for _ in range(10):
            stuck.append(client.read_input_registers(0, count=3, device_id=1).registers)
            time.sleep(0.06)
        assert all(registers == stuck[0] for registers in stuck)
        state = sim.state()
        assert state["temperature_c"] - state["reading_c"] > 3.0

        sim.control({"door": "close"})
        sim.control({"fault": "clear"})
        sim.control({"fault": "noisy_sensor"})
        noisy = []
        for _ in range(15):
            noisy.append(read_temperature(client))
            time.sleep(0.05)
        assert max(noisy) - min(noisy) > 3.0


def test_rtu_over_pty(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--rtu-pty", "--unit", "3")
    assert sim.ready["tcp"] is None
    pty = sim.ready["pty"]
    assert pty.startswith("/dev/")
    with ModbusSerialClient(pty, baudrate=19200, timeout=0.5, retries=0) as client:
        inputs = client.read_input_registers(0, count=6, device_id=3).registers
        assert -82.5 < float32(inputs[0], inputs[1]) < -77.5
        assert not client.write_registers(1, [-650 & 0xFFFF, -950 & 0xFFFF], device_id=3).isError()
        holding = client.read_holding_registers(0, count=3, device_id=3).registers
        assert [signed(word) for word in holding] == [-800, -650, -950]
        assert client.read_discrete_inputs(0, count=2, device_id=3).bits[0] is False
        with pytest.raises(ModbusIOException):
            client.read_input_registers(0, count=6, device_id=1)  # another unit's request goes unanswered
        assert not client.read_input_registers(0, count=6, device_id=3).isError()


def test_thermal_model_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(SIM_DIR))
    from freezer.thermal import FreezerModel

    def trace(seed: int) -> list[tuple[float, bool]]:
        model = FreezerModel(seed, defrost_every=600)
        points = []
        for step in range(12_000):
            model.step()
            if step % 100 == 0:
                points.append((model.reading, model.compressor_running))
        return points

    assert trace(5) == trace(5)
    assert trace(5) != trace(6)
