"""The serial instrument simulator as a process, spoken to with bare pyserial and its control socket."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from drivers.serial import crc16_ccitt, crc16_modbus, sum8, xor8
from tests.simulator_process import stop_simulator

pytestmark = pytest.mark.e2e

SIM = Path(__file__).resolve().parents[2] / "firmware-sim" / "serial" / "sim.py"
READY_TIMEOUT_S = 10.0
CHECKSUMS: dict[str, tuple[Callable[[bytes], int], int]] = {
    "xor8": (xor8, 2),
    "sum8": (sum8, 2),
    "crc16_modbus": (crc16_modbus, 4),
    "crc16_ccitt": (crc16_ccitt, 4),
}


class Sim:
    def __init__(self, proc: subprocess.Popen[bytes], ready: dict[str, Any]) -> None:
        self.proc = proc
        self.ready = ready

    def control(self, line: bytes) -> dict[str, Any]:
        host, _, port = self.ready["control"].rpartition(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(line + b"\n")
            with sock.makefile("rb") as lines:
                reply: dict[str, Any] = json.loads(lines.readline())
        return reply

    def send(self, **command: Any) -> dict[str, Any]:
        return self.control(json.dumps(command).encode())

    def port(self) -> serial.Serial:
        return serial.Serial(self.ready["pty"], timeout=0.3)


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*args: str) -> Sim:
        log_path = tmp_path / f"sim{len(started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen([sys.executable, str(SIM), *args], stdout=subprocess.PIPE, stderr=log)
        started.append((proc, log_path))
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        assert readable, f"no ready line; log:\n{log_path.read_text()}"
        return Sim(proc, json.loads(proc.stdout.readline()))

    yield start

    for proc, log_path in started:
        stop_simulator(proc, log_path, timeout=5)


def ask(port: serial.Serial, request: bytes) -> bytes:
    port.write(request)
    answer: bytes = port.read_until(b"\r\n")
    return answer


@pytest.mark.parametrize("kind", sorted(CHECKSUMS))
def test_the_probe_answers_its_commands_with_a_checksum_over_the_line(start_sim: Callable[..., Sim], kind: str) -> None:
    sim = start_sim("--device", "probe", "--checksum", kind)
    function, digits = CHECKSUMS[kind]
    assert sim.ready["ready"] is True
    assert os.readlink(sim.ready["pty"]) == sim.ready["tty"]
    with sim.port() as port:
        for request, shape in [(b"T?\r", rb"T=[-+]\d+\.\d\d C"), (b"ID?\r", rb"ID=.*"), (b"X?\r", rb"ERR=.*")]:
            answer = ask(port, request)
            assert answer.endswith(b"\r\n")
            body, _, checksum = answer[:-2].rpartition(b"*")
            assert int(checksum, 16) == function(body)
            assert len(checksum) == digits
            assert re.fullmatch(shape, body)


def test_the_ln2_sensor_streams_its_level_and_vapour_temperature(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--device", "ln2", "--interval", "0.02")
    assert sim.ready["mode"] == "stream"
    with sim.port() as port:
        lines = [port.read_until(b"\r\n") for _ in range(3)]
    for line in lines[1:]:  # the first may have been cut by opening the port mid-line
        level, _, vapour = line[:-2].partition(b";")
        assert level.startswith(b"L=0")
        assert len(level) == len(b"L=072.5")
        assert vapour.startswith(b"T=-18")


def test_on_a_multi_drop_line_only_the_addressed_instrument_answers(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--device", "probe@01", "--device", "ln2@02")
    with sim.port() as port:
        assert ask(port, b"#01T?\r").startswith(b"#01T=")
        assert ask(port, b"#02L?\r").startswith(b"#02L=")
        assert ask(port, b"#03T?\r") == b""  # nobody has address 03
        assert ask(port, b"T?\r") == b""
    assert sim.send(get="state")["requests"] == 4


def test_faults_last_their_count_and_unplugging_keeps_the_link_path(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--device", "probe", "--checksum", "xor8")
    with sim.port() as port:
        assert sim.send(fault="bad_checksum", count=2)["faults"] == {"bad_checksum": 2}
        answers = [ask(port, b"T?\r")[:-2].rpartition(b"*") for _ in range(3)]
        assert [int(checksum, 16) == xor8(body) for body, _, checksum in answers] == [False, False, True]
        assert sim.send(get="state")["faults"] == {}
        assert sim.send(fault="unplug")["plugged"] is False
        assert not os.path.lexists(sim.ready["pty"])
        with pytest.raises(serial.SerialException):
            ask(port, b"T?\r")
    replugged = sim.send(fault="replug")
    assert (replugged["plugged"], replugged["pty"]) == (True, sim.ready["pty"])
    assert os.readlink(sim.ready["pty"]) == replugged["tty"]
    with sim.port() as port:
        assert ask(port, b"T?\r").startswith(b"T=")


def test_the_control_socket_refuses_what_it_does_not_understand(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--device", "probe")
    assert sim.control(b"{not json")["ok"] is False
    assert "unknown fault" in sim.send(fault="melt")["error"]
    assert "needs the simulator started with --checksum" in sim.send(fault="bad_checksum")["error"]
    assert "count must be" in sim.send(fault="garbage", count="two")["error"]
    assert sim.send(fault="clear")["ok"] is True


def test_a_stopped_simulator_removes_its_link(start_sim: Callable[..., Sim]) -> None:
    sim = start_sim("--device", "probe")
    link = Path(sim.ready["pty"])
    assert link.is_symlink()
    sim.proc.send_signal(signal.SIGTERM)
    assert sim.proc.wait(timeout=5) == 0
    assert not link.exists()
    assert not link.parent.exists()
