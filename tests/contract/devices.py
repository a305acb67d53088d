"""The devices the driver contract runs against: one per driver family, each backed by its real simulator process.

A ``ContractDevice`` builds a driver for its working device (the simulator is started on first use, with its own
command line and ready line, as a user would start it), a driver for a device that cannot be reached, and can make
the device send one bad frame (``corrupt``) or fail from now on (``fail``). Everything listens on 127.0.0.1.
``stop()`` ends every process it started and checks each one exited cleanly.

What "bad frame", "fails" and "unreachable" mean per family is in each class's docstring.
"""

from __future__ import annotations

import abc
import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from drivers import Driver, Reading
from drivers.modbus import ModbusDeviceSettings
from drivers.modbus import create_driver as create_modbus_driver
from drivers.mqtt import MqttDeviceSettings
from drivers.mqtt import create_driver as create_mqtt_driver
from drivers.runfolder import RunFolderDeviceSettings
from drivers.runfolder import create_driver as create_runfolder_driver
from drivers.serial import PortRegistry, SerialDeviceSettings, SerialDriver
from protocol.models import Event, Observation
from tests.contract.relay import RegisterCuttingRelay

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_SIM = ROOT / "firmware-sim"
ILLUMINA = ROOT.parent / "shared" / "data" / "illumina"
if not ILLUMINA.is_dir():
    ILLUMINA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
LOCALHOST = "127.0.0.1"
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

Need = Callable[[str], tuple[str, int]]


def free_port() -> int:
    """A loopback port nothing listens on (the kernel just handed it out and it was closed again)."""
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
    return port


class SimulatorProcess:
    """One simulator process: started from its command line, ready once it printed its one JSON line on stdout."""

    def __init__(self, name: str, command: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, *command], stdout=subprocess.PIPE, stderr=log)
        try:
            self.ready = self._read_ready()
        except BaseException:
            self.stop(check=False)
            raise

    def _read_ready(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT_S)
        assert readable, f"{self.name}: no ready line within {READY_TIMEOUT_S} s; log:\n{self.log()}"
        line = self.proc.stdout.readline()
        assert line, f"{self.name} exited with {self.proc.wait()} before its ready line; log:\n{self.log()}"
        ready: dict[str, Any] = json.loads(line)
        assert ready.get("ready") is True, ready
        return ready

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def address(self, key: str) -> tuple[str, int]:
        host, _, port = str(self.ready[key]).rpartition(":")
        return host, int(port)

    async def control(self, **command: Any) -> dict[str, Any]:
        """Send one command to the simulator's JSON-lines control socket; its reply, which must say ``ok``."""
        host, port = self.address("control")
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(json.dumps(command).encode() + b"\n")
            await writer.drain()
            reply: dict[str, Any] = json.loads(await reader.readline())
        finally:
            writer.close()
            await writer.wait_closed()
        assert reply.get("ok") is True, f"{self.name} refused {command}: {reply}"
        return reply

    def stop(self, *, check: bool = True) -> None:
        """SIGTERM, as a service manager would; with ``check``, it must exit 0 without a traceback."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code: int | None
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        if check:
            log = self.log()
            assert code == 0, f"{self.name} exited with {code} (None: killed after {STOP_TIMEOUT_S} s); log:\n{log}"
            assert "Traceback" not in log, f"{self.name} logged a traceback:\n{log}"


class ContractDevice(abc.ABC):
    """One device of one driver family, as the contract tests need it."""

    family: ClassVar[str]
    device_id: ClassVar[str]
    streaming: ClassVar[bool]
    """A bad frame comes back as a ``bad_frame`` event among good readings instead of failing the poll."""
    unavailable_within_s: ClassVar[float]
    """The timeout the unreachable driver is configured with: how long it may take to give up."""
    data_within_s: ClassVar[float] = 5.0
    """How long good data may take to arrive after ``produce()``."""
    failure_within_s: ClassVar[float] = 3.0
    """How long after ``corrupt()`` or ``fail()`` the driver may take to report it."""

    def __init__(self, tmp_path: Path, need: Need) -> None:
        self.tmp_path = tmp_path
        self._need = need
        self._processes: list[SimulatorProcess] = []

    def driver(self) -> Driver:
        """A driver for the working device, built by the family's ``create_driver``; starts the simulator once."""
        return self._build_driver()

    @abc.abstractmethod
    def _build_driver(self) -> Driver: ...

    @abc.abstractmethod
    def unavailable_driver(self) -> Driver:
        """A driver configured for a device that is not there."""

    async def produce(self) -> None:  # noqa: B027 (a hook with a default, not a forgotten abstractmethod)
        """Make the device send good data now. Polled devices answer when asked: nothing to do."""

    @abc.abstractmethod
    async def corrupt(self) -> None:
        """Make the device's next frame a bad one; the frames after it are good again."""

    @abc.abstractmethod
    async def fail(self) -> None:
        """Make the device fail from now on: every frame bad, or no answer at all."""

    def is_good(self, reading: Reading) -> bool:
        """A reading that shows the device works: an observation with a good value."""
        return isinstance(reading, Observation) and reading.value is not None and reading.quality == "good"

    def start(self, name: str, *command: str) -> SimulatorProcess:
        process = SimulatorProcess(name, list(command), self.tmp_path / f"{name}-{len(self._processes)}.log")
        self._processes.append(process)
        return process

    def stop(self) -> None:
        """Stop every simulator; report the first that did not exit cleanly (after stopping the rest)."""
        failures: list[AssertionError] = []
        for process in self._processes:
            try:
                process.stop()
            except AssertionError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]


# -- Modbus -------------------------------------------------------------------------------------------------------


class ModbusFreezer(ContractDevice):
    """The -80 °C freezer simulator over Modbus TCP, reached through a ``RegisterCuttingRelay``.

    - bad frame: the relay cuts one register out of the next answer. The simulator itself cannot send a bad frame:
      its wire faults are an exception response (a valid frame saying "no") and silence.
    - fails: the simulator's ``exception`` fault, every read answered with exception 4 (server device failure).
    - unreachable: a loopback port nothing listens on (connection refused).
    """

    family = "modbus"
    device_id = "freezer-1"
    streaming = False
    unavailable_within_s = 0.5
    CHANNELS: ClassVar[list[dict[str, Any]]] = [
        {"name": "cabinet", "table": "input", "address": 0, "data_type": "float32", "precision": 2, "unit": "Cel"},
        {"name": "ambient", "table": "input", "address": 3, "data_type": "int16", "scale": "0.1", "unit": "Cel"},
        {"name": "door_open", "table": "discrete", "address": 0, "data_type": "bool"},
    ]

    def __init__(self, tmp_path: Path, need: Need) -> None:
        super().__init__(tmp_path, need)
        self._sim: SimulatorProcess | None = None
        self._relay: RegisterCuttingRelay | None = None

    def _settings(self, port: int) -> ModbusDeviceSettings:
        connection = {"transport": "tcp", "host": LOCALHOST, "port": port, "timeout_s": self.unavailable_within_s}
        return ModbusDeviceSettings.model_validate({"connection": connection, "channels": self.CHANNELS})

    def _build_driver(self) -> Driver:
        if self._relay is None:
            self._sim = self.start(
                "freezer", str(FIRMWARE_SIM / "freezer" / "sim.py"), "--tcp", f"{LOCALHOST}:0",
                "--control", f"{LOCALHOST}:0", "--log-level", "WARNING",
            )  # fmt: skip
            self._relay = RegisterCuttingRelay(self._sim.address("tcp"))
        return create_modbus_driver(self.device_id, self._settings(self._relay.port))

    def unavailable_driver(self) -> Driver:
        return create_modbus_driver(self.device_id, self._settings(free_port()))

    async def corrupt(self) -> None:
        assert self._relay is not None, "build the driver first"
        self._relay.cut_next()

    async def fail(self) -> None:
        assert self._sim is not None, "build the driver first"
        await self._sim.control(fault="exception")

    def stop(self) -> None:
        if self._relay is not None:
            self._relay.close()
        super().stop()


# -- serial -------------------------------------------------------------------------------------------------------


class _SerialInstrument(ContractDevice):
    SIM_ARGS: ClassVar[tuple[str, ...]]
    SETTINGS: ClassVar[dict[str, Any]]
    TIMEOUT_S: ClassVar[float] = 0.3
    device_id = "serial-1"

    def __init__(self, tmp_path: Path, need: Need) -> None:
        super().__init__(tmp_path, need)
        self._sim: SimulatorProcess | None = None
        # Ports of our own rather than the process-wide ``DEFAULT_PORTS`` that ``create_driver`` uses: that registry
        # keys a port by the node a path resolves to and keeps the path it first opened, and a later simulator may
        # get the /dev/pts/N of an earlier test, whose port (not yet garbage-collected) would open the old link.
        self._ports = PortRegistry()

    def _settings(self, path: str) -> SerialDeviceSettings:
        port = {"port": path, "timeout_s": self.TIMEOUT_S, "inter_frame_gap_s": 0}
        return SerialDeviceSettings.model_validate({"port": port, "checksum": {"kind": "xor8"}, **self.SETTINGS})

    def _build_driver(self) -> Driver:
        if self._sim is None:
            self._sim = self.start(
                "serial", str(FIRMWARE_SIM / "serial" / "sim.py"), *self.SIM_ARGS, "--checksum", "xor8"
            )
        return SerialDriver(self.device_id, self._settings(str(self._sim.ready["pty"])), ports=self._ports)

    def unavailable_driver(self) -> Driver:
        missing = str(self.tmp_path / "usb-adapter-not-plugged-in")
        return SerialDriver(self.device_id, self._settings(missing), ports=self._ports)

    @property
    def sim(self) -> SimulatorProcess:
        assert self._sim is not None, "build the driver first"
        return self._sim


class SerialProbe(_SerialInstrument):
    """The Pt100 probe simulator in request mode (``T?`` answered by ``T=-80.12 C*hh``) on a pty.

    - bad frame: the simulator's ``bad_checksum`` fault on one answer.
    - fails: ``silence``, no answer to any request (each poll times out).
    - unreachable: a serial port path that does not exist (an adapter not plugged in).
    """

    family = "serial"
    streaming = False
    unavailable_within_s = _SerialInstrument.TIMEOUT_S
    SIM_ARGS = ("--device", "probe")
    SETTINGS: ClassVar[dict[str, Any]] = {
        "mode": "request",
        "request": "T?\\r",
        "channels": {"kind": "regex", "pattern": r"T=(?P<t>[-+0-9.]+) C", "groups": {"t": {"channel": "temp"}}},
    }

    async def corrupt(self) -> None:
        await self.sim.control(fault="bad_checksum", count=1)

    async def fail(self) -> None:
        await self.sim.control(fault="silence")


class SerialLevelStream(_SerialInstrument):
    """The LN2 level sensor simulator streaming ``L=072.5;T=-187.3*hh`` every 0.1 s on a pty.

    - bad frame: the simulator's ``garbage`` fault on one line (16 random bytes, not text).
    - fails: ``silence``, nothing more is sent; polls fail once ``silence_timeout_s`` has passed.
    - unreachable: a serial port path that does not exist.
    """

    family = "serial-stream"
    streaming = True
    unavailable_within_s = _SerialInstrument.TIMEOUT_S
    SILENCE_TIMEOUT_S: ClassVar[float] = 1.0
    failure_within_s = SILENCE_TIMEOUT_S + 1.0
    SIM_ARGS = ("--device", "ln2", "--mode", "stream", "--interval", "0.1")
    SETTINGS: ClassVar[dict[str, Any]] = {
        "mode": "stream",
        "silence_timeout_s": SILENCE_TIMEOUT_S,
        "channels": {
            "kind": "fields",
            "delimiter": ";",
            "count": 2,
            "fields": [
                {"index": 0, "channel": "level", "unit": "%", "prefix": "L="},
                {"index": 1, "channel": "vapour", "unit": "Cel", "prefix": "T="},
            ],
        },
    }

    async def corrupt(self) -> None:
        await self.sim.control(fault="garbage", count=1)

    async def fail(self) -> None:
        await self.sim.control(fault="silence")


# -- MQTT ---------------------------------------------------------------------------------------------------------


class MqttRoom(ContractDevice):
    """The room sensor gateway simulator publishing to the shared Mosquitto (``require_service("mqtt")``).

    The gateway publishes only when told (``{"publish": "now"}``; its own interval is 30 s), one reading of each of
    four sensors, each on its own subscription. Topics and client ids are unique per test; sessions expire after 60 s.

    - bad frame: the simulator's ``malformed_json`` fault on the temperature reading of one cycle (the other three
      readings of that cycle are the good data around it).
    - fails: ``malformed_json`` on every sensor of a cycle.
    - unreachable: a loopback broker port nothing listens on.
    """

    family = "mqtt"
    device_id = "ln2-room-1"
    streaming = True
    CONNECT_TIMEOUT_S: ClassVar[float] = 1.0
    unavailable_within_s = CONNECT_TIMEOUT_S + 1.0  # MqttDriver.open waits connect_timeout_s + 1 s for an outcome
    SENSORS: ClassVar[dict[str, tuple[str, tuple[str, str]]]] = {
        "temperature": ("Cel", ("-40", "85")),
        "humidity": ("%", ("0", "100")),
        "co2": ("[ppm]", ("0", "10000")),
        "o2": ("%", ("0", "25")),
    }

    def __init__(self, tmp_path: Path, need: Need) -> None:
        super().__init__(tmp_path, need)
        self._token = uuid.uuid4().hex[:12]
        self._sim: SimulatorProcess | None = None

    def _settings(self, host: str, port: int, room: str) -> MqttDeviceSettings:
        broker = {
            "host": host,
            "port": port,
            "client_id": f"tracseq-contract-{self._token}",
            "session_expiry_s": 60,
            "connect_timeout_s": self.CONNECT_TIMEOUT_S,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.2,
        }
        subscriptions = [
            {
                "topic": f"{room}/{sensor}",
                "timestamp": "$.ts",
                "mappings": [
                    {"path": "$.value", "channel": sensor, "unit": unit, "unit_path": "$.unit", "range": list(span)}
                ],
            }
            for sensor, (unit, span) in self.SENSORS.items()
        ]
        return MqttDeviceSettings.model_validate({"driver": "mqtt", "broker": broker, "subscriptions": subscriptions})

    def _build_driver(self) -> Driver:
        host, port = self._need("mqtt")
        if self._sim is None:
            self._sim = self.start(
                "mqtt-room", str(FIRMWARE_SIM / "mqtt" / "sim.py"), "--broker", f"{host}:{port}",
                "--prefix", f"tracseq-contract/{self._token}", "--client-id", f"sim-contract-{self._token}",
                "--interval", "30", "--control", f"{LOCALHOST}:0", "--log-level", "WARNING",
            )  # fmt: skip
        return create_mqtt_driver(self.device_id, self._settings(host, port, str(self._sim.ready["prefix"])))

    def unavailable_driver(self) -> Driver:
        return create_mqtt_driver(self.device_id, self._settings(LOCALHOST, free_port(), "tracseq-contract/none"))

    @property
    def sim(self) -> SimulatorProcess:
        assert self._sim is not None, "build the driver first"
        return self._sim

    async def produce(self) -> None:
        await self.sim.control(publish="now")

    async def corrupt(self) -> None:
        await self.sim.control(fault="malformed_json", sensor="temperature")
        await self.produce()

    async def fail(self) -> None:
        for sensor in self.SENSORS:
            await self.sim.control(fault="malformed_json", sensor=sensor)
        await self.produce()


# -- run folders --------------------------------------------------------------------------------------------------

MALFORMED_RUN_INFO = (
    b'<?xml version="1.0"?>\r\n<RunInfo Version="6">\r\n  <Run Id="240102_LH00130_0999_BMALFORMED" Number="999">\r\n'
    b"    <Flowcell>223YTF"  # cut off mid-copy
)


class RunFolders(ContractDevice):
    """An instrument's output directory, written by the sequencer simulator (a NovaSeq X run replayed).

    Each ``produce()`` starts a new simulated run that stalls at 10 % of its cycles (the process then waits for
    SIGTERM). The watcher reports events only, never observations: its good readings are ``run_started`` or
    ``run_seen``.

    - bad frame: a run folder whose ``RunInfo.xml`` is cut off mid-copy.
    - fails: the instrument stops writing, then the watch directory goes away (a share unmounted).
    - unreachable: a watch directory that does not exist.
    """

    family = "runfolder"
    device_id = "novaseq-x-1"
    streaming = True
    unavailable_within_s = 0.0  # a directory listing: no timeout of its own
    SOURCE: ClassVar[str] = "20230418_LH00130_0003_B223YTFLT3"

    def __init__(self, tmp_path: Path, need: Need) -> None:
        super().__init__(tmp_path, need)
        self.watch_dir = tmp_path / "runs"
        self._runs = 0

    def _settings(self, watch_dir: Path) -> RunFolderDeviceSettings:
        return RunFolderDeviceSettings(watch_dir=watch_dir, settle_s=0.02)

    def _build_driver(self) -> Driver:
        if not (ILLUMINA / self.SOURCE).is_dir():
            pytest.skip(f"no Illumina run folder to replay at {ILLUMINA / self.SOURCE}")
        self.watch_dir.mkdir(exist_ok=True)
        return create_runfolder_driver(self.device_id, self._settings(self.watch_dir))

    def unavailable_driver(self) -> Driver:
        return create_runfolder_driver(self.device_id, self._settings(self.tmp_path / "share-not-mounted"))

    def is_good(self, reading: Reading) -> bool:
        return isinstance(reading, Event) and reading.type in ("run_started", "run_seen")

    async def produce(self) -> None:
        self._runs += 1
        name = f"2401{self._runs:02d}_LH00130_{self._runs:04d}_BCONTRACT{self._runs}"
        await asyncio.to_thread(
            self.start, "sequencer", str(FIRMWARE_SIM / "sequencer" / "sim.py"), "--source",
            str(ILLUMINA / self.SOURCE), "--out", str(self.watch_dir), "--name", name, "--speed", "100000",
            "--scenario", "stall", "--stall-at", "0.1", "--log-level", "WARNING",
        )  # fmt: skip

    async def corrupt(self) -> None:
        folder = self.watch_dir / "240102_LH00130_0999_BMALFORMED"
        await asyncio.to_thread(folder.mkdir)
        await asyncio.to_thread((folder / "RunInfo.xml").write_bytes, MALFORMED_RUN_INFO)

    async def fail(self) -> None:
        for process in self._processes:  # a simulator still writing would recreate the directory, then crash
            await asyncio.to_thread(process.stop)
        await asyncio.to_thread(self.watch_dir.rename, self.tmp_path / "runs-unmounted")


FAMILIES: dict[str, type[ContractDevice]] = {
    family.family: family for family in (ModbusFreezer, SerialProbe, SerialLevelStream, MqttRoom, RunFolders)
}
