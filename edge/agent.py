"""The edge agent: device supervisors feeding the signed log, offline alarms, durability, status and commands.

Everything a device reports becomes a log entry first (``observation``, ``event``, ``gap``), then feeds the alarm
rules, whose transitions are entries too (``alarm``). A flusher commits the queue every ``flush_interval_s``
and a checkpoint is signed every ``checkpoint_interval_s`` and at shutdown, only over durable entries.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from drivers import Driver
from edge.alarms import AlarmEngine, AlarmError, AlarmTransition
from edge.clock import Clock, SystemClock
from edge.config import DRIVER_KINDS, Config, Device
from edge.errors import StoreError, StoreFullError
from edge.samplesheets import SampleSheetFolder
from edge.store import LogStore
from edge.supervisor import DeviceSupervisor
from edge.uplink import HubLink, run_uplink
from protocol import SigningKey
from protocol.encoding import format_timestamp
from protocol.errors import KeyFileError
from protocol.models import Event, Observation

logger = logging.getLogger(__name__)

VERSION = "0.1.0"
_MAX_PENDING = 500_000  # entries held in memory while the disk refuses writes; beyond, losses are counted


def load_or_create_key(config: Config) -> SigningKey:
    edge = config.edge
    passphrase = os.environ.get(edge.key_passphrase_env) if edge.key_passphrase_env else None
    path = edge.key_path
    if path.exists():
        return SigningKey.load(path, edge.log_origin, passphrase)
    key = SigningKey.generate(edge.log_origin)
    key.save(path, passphrase)
    logger.info("generated a new signing key %s at %s", key.key_id.hex(), path)
    return key


def create_driver(device: Device) -> Driver:
    module_name, _ = DRIVER_KINDS[device.config.driver]
    module = importlib.import_module(module_name)
    driver: Driver = module.create_driver(device.config.id, device.settings)
    return driver


class Agent:
    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        edge = config.edge
        edge.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(edge.data_dir, 0o700)
        edge.commands_dir.mkdir(exist_ok=True)
        self.key = load_or_create_key(config)
        self.store = LogStore(edge.db_path, edge.log_origin, self.key)
        self.engine = AlarmEngine({d.config.id: d.config.alarm_rules() for d in config.devices})
        self.supervisors = [DeviceSupervisor(d.config, create_driver(d), self, self.clock) for d in config.devices]
        self._ackers: list[Any] = [
            s.driver for s in self.supervisors if hasattr(s.driver, "acknowledge") and hasattr(s.driver, "poll_mark")
        ]
        self.stop_event = asyncio.Event()
        # an alarm changed: sync as soon as it is on disk instead of at the next idle round (the hub pages people)
        self.sync_now = asyncio.Event()
        self.samplesheets = SampleSheetFolder(edge.samplesheet_dir, edge.data_dir / "samplesheets.json")
        self._alarm_pending_sync = False
        self.started_at = self.clock.utc()
        self.last_values: dict[str, dict[str, Any]] = {}
        self.last_events: dict[str, dict[str, Any]] = {}
        self._disk_alarm = False  # the log over its disk budget's warning level
        self._disk_full = False  # the disk refused a write (ENOSPC); a separate alarm, raised and cleared once
        self._dropped = 0
        self._last_checkpoint_at: datetime | None = None

    # -- the sink the supervisors write into -----------------------------------------------------------------

    def _append(self, kind: str, payload: dict[str, Any]) -> None:
        if self.store.pending >= _MAX_PENDING:
            self._dropped += 1
            return
        self.store.append(kind, payload, self.clock.utc(), self.clock.mono_ns())

    def on_readings(self, device: str, readings: Sequence[Observation | Event]) -> None:
        now = self.clock.utc()
        mono = self.clock.mono_ns() / 1e9
        for reading in readings:
            if isinstance(reading, Observation):
                self._append("observation", reading.payload())
                self.last_values.setdefault(device, {})[reading.channel] = {
                    "value": reading.value,
                    "unit": reading.unit,
                    "quality": reading.quality,
                    "at": format_timestamp(now),
                }
                self._alarms(self.engine.observe(device, reading.channel, reading.value, reading.quality, mono, now))
            else:
                self._append("event", reading.payload())
                self.last_events[device] = {
                    "type": reading.type,
                    "message": reading.message[:200],
                    "at": format_timestamp(now),
                }

    def on_event(self, event: Event) -> None:
        self._append("event", event.payload())

    def on_gap(self, payload: dict[str, object]) -> None:
        self._append("gap", dict(payload))

    def _alarms(self, transitions: list[AlarmTransition]) -> None:
        if transitions:
            self._alarm_pending_sync = True
        for transition in transitions:
            self._append("alarm", transition.payload())
            log = logger.warning if transition.action == "raised" else logger.info
            log("alarm %s %s: %s", transition.alarm_id, transition.action, transition.message)

    # -- background work --------------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        edge = self.config.edge
        since_checkpoint = 0.0
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), edge.flush_interval_s)
            since_checkpoint += edge.flush_interval_s
            await self._flush()
            if since_checkpoint >= edge.checkpoint_interval_s:
                since_checkpoint = 0.0
                await self._checkpoint()

    async def _flush(self) -> None:
        # streaming drivers (MQTT) acknowledge what they delivered only once it is on disk
        marks = [(d, d.poll_mark()) for d in self._ackers]
        urgent, self._alarm_pending_sync = self._alarm_pending_sync, False
        try:
            await asyncio.to_thread(self.store.flush)
        except StoreFullError as exc:
            self._alarm_pending_sync |= urgent
            self._on_disk_full(str(exc))
            return
        except StoreError as exc:
            self._alarm_pending_sync |= urgent
            logger.error("could not write the log: %s", exc)
            return
        if urgent:
            self.sync_now.set()
        if self._disk_full:
            self._on_disk_writable()
        if self._dropped:
            return  # something was dropped unwritten: let the source redeliver rather than acknowledge it
        for driver, mark in marks:
            try:
                await driver.acknowledge(through=mark)
            except Exception as exc:  # a lost connection: the broker redelivers, the driver drops duplicates
                logger.warning("could not acknowledge to %s: %s", type(driver).__name__, exc)

    async def _checkpoint(self) -> None:
        try:
            note = await asyncio.to_thread(self.store.checkpoint)
        except StoreError as exc:
            logger.error("could not sign a checkpoint: %s", exc)
            return
        if note is not None:
            self._last_checkpoint_at = self.clock.utc()

    def _on_disk_full(self, reason: str) -> None:
        """Raise the disk-full alarm once; it is queued with the held readings and written when space returns."""
        if self._disk_full:
            return
        self._disk_full = True
        logger.error("the log cannot be written: %s; readings are held in memory", reason)
        self._append("alarm", self._disk_full_alarm("raised", f"the disk refused a write: {reason}"))

    def _on_disk_writable(self) -> None:
        self._disk_full = False
        logger.info("the log is written again; the readings held in memory are on disk")
        self._append("alarm", self._disk_full_alarm("cleared", "the disk accepts writes again"))

    def _disk_full_alarm(self, action: str, message: str) -> dict[str, Any]:
        return {
            "action": action,
            "alarm_id": f"{self.config.edge.id}/disk/full",
            "rule": "disk_full",
            "severity": "critical",
            "message": message,
            "pending": self.store.pending,
        }

    async def _alarm_loop(self) -> None:
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 1.0)
            self._alarms(self.engine.tick(self.clock.mono_ns() / 1e9, self.clock.utc()))
            self._check_disk()
            await self._commands()

    async def _prune_loop(self) -> None:
        while not self.stop_event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), 600)
            cutoff = self.clock.utc() - timedelta(days=self.config.edge.retention_days)
            try:
                pruned = await asyncio.to_thread(self.store.prune, cutoff)
            except StoreError as exc:
                logger.error("could not prune the log: %s", exc)
                continue
            if pruned:
                logger.info("pruned %d entries the hub cosigned, older than %s", pruned, cutoff.isoformat())

    def _check_disk(self) -> None:
        edge = self.config.edge
        used = self.store.disk_usage()
        budget = edge.disk_budget_mb * 1024 * 1024
        warn = budget * edge.disk_warn_fraction
        if used >= warn and not self._disk_alarm:
            self._disk_alarm = True
            logger.warning("the log uses %.0f MB of its %d MB budget", used / 1e6, edge.disk_budget_mb)
            self._append(
                "alarm",
                {
                    "action": "raised",
                    "alarm_id": f"{edge.id}/disk/budget",
                    "rule": "disk_budget",
                    "severity": "warning",
                    "message": f"log buffer at {used * 100 // budget}% of its {edge.disk_budget_mb} MB budget; "
                    "nothing unsynced is deleted",
                    "used_bytes": used,
                    "budget_bytes": budget,
                },
            )
        elif used < warn * 0.95 and self._disk_alarm:
            self._disk_alarm = False
            self._append(
                "alarm",
                {
                    "action": "cleared",
                    "alarm_id": f"{edge.id}/disk/budget",
                    "rule": "disk_budget",
                    "severity": "warning",
                    "message": "log buffer back under its warning level",
                    "used_bytes": used,
                },
            )
        if self._dropped and self.store.pending < _MAX_PENDING // 2:
            self._append(
                "event",
                {
                    "type": "readings_lost",
                    "severity": "critical",
                    "count": self._dropped,
                    "message": "readings dropped while the disk refused writes",
                },
            )
            self._dropped = 0

    async def _status_loop(self) -> None:
        while not self.stop_event.is_set():
            self.write_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), self.config.edge.status_interval_s)

    def write_status(self, *, running: bool = True) -> None:
        store = self.store.status()
        now = self.clock.utc()
        devices = []
        for sup in self.supervisors:
            health = asdict(sup.health)
            for key in ("last_ok",):
                health[key] = format_timestamp(health[key]) if health[key] else None
            health["age_s"] = round((now - sup.health.last_ok).total_seconds(), 1) if sup.health.last_ok else None
            health["last_values"] = self.last_values.get(sup.config.id, {})
            health["last_event"] = self.last_events.get(sup.config.id)
            devices.append(health)
        status = {
            "edge": self.config.edge.id,
            "origin": self.config.edge.log_origin,
            "key_id": self.key.key_id.hex(),
            "pid": os.getpid(),
            "running": running,
            "updated": format_timestamp(now),
            "started": format_timestamp(self.started_at),
            "log": {
                "next_seq": store.next_seq,
                "durable_seq": store.durable_seq,
                "pending": store.pending,
                "checkpoint_size": store.checkpoint_size,
                "last_checkpoint": format_timestamp(self._last_checkpoint_at) if self._last_checkpoint_at else None,
                "db_bytes": store.db_bytes,
                "disk_alarm": self._disk_alarm or self._disk_full,
            },
            "devices": devices,
            "alarms": [
                {
                    "alarm_id": a.alarm_id,
                    "severity": a.severity,
                    "raised_at": format_timestamp(a.raised_at),
                    "value": a.value,
                    "acknowledged_by": a.acknowledged_by,
                }
                for a in self.engine.active()
            ],
        }
        path = self.config.edge.status_path
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=2), encoding="utf-8")
        tmp.replace(path)

    async def _commands(self) -> None:
        """Apply commands spooled by ``tracseq edge ack`` and friends; each is logged, then answered."""
        for path in sorted(self.config.edge.commands_dir.glob("*.json")):
            try:
                command = json.loads(path.read_text(encoding="utf-8"))
                result = self._apply(command)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, AlarmError) as exc:
                result = {"ok": False, "error": str(exc)}
            path.with_suffix(".done").write_text(json.dumps(result), encoding="utf-8")
            path.unlink(missing_ok=True)

    # -- commands from the hub (edge.uplink.CommandSink) -----------------------------------------------------

    def set_limit(self, device: str, channel: str, kind: str, limit: str) -> None:
        self.engine.set_limit(device, channel, kind, limit)  # type: ignore[arg-type]

    def ack_alarm(self, alarm_id: str, by: str, comment: str) -> None:
        self._alarms([self.engine.acknowledge(alarm_id, by, comment, self.clock.utc())])

    def log_event(self, payload: dict[str, Any]) -> None:
        self._append("event", payload)

    def rotate_key(self) -> str:
        """A new signing key: the rotation entry is signed by the old key (which signs a last checkpoint over
        it); the old key file is kept beside the new one as ``*.retired-<time>``."""
        edge = self.config.edge
        new = SigningKey.generate(edge.log_origin)
        passphrase = os.environ.get(edge.key_passphrase_env) if edge.key_passphrase_env else None
        staged = edge.key_path.with_name(edge.key_path.name + ".new")
        new.save(staged, passphrase)
        self.store.rotate_key(new, self.clock.utc(), self.clock.mono_ns())
        retired = edge.key_path.with_name(f"{edge.key_path.name}.retired-{self.clock.utc():%Y%m%dT%H%M%SZ}")
        edge.key_path.replace(retired)
        staged.replace(edge.key_path)
        Path(f"{staged}.pub").replace(Path(f"{edge.key_path}.pub"))
        self.key = new
        return f"new key {new.key_id.hex()}"

    def write_samplesheet(self, filename: str, sheet: str, sha256: str) -> str:
        return self.samplesheets.write(filename, sheet, sha256)

    def remove_samplesheet(self, filename: str) -> str:
        return self.samplesheets.remove(filename)

    def request_export(self) -> str:
        """Write an export into ``<data_dir>/exports`` for the auditor (the hub asked for it)."""
        from edge.store import export_log

        folder = self.config.edge.data_dir / "exports"
        folder.mkdir(exist_ok=True)
        out = folder / f"export-{self.clock.utc():%Y%m%dT%H%M%SZ}.jsonl.gz"
        self.store.flush()
        count = export_log(self.config.edge.db_path, out)
        return f"{count} entries to {out.name}"

    def _apply(self, command: dict[str, Any]) -> dict[str, Any]:
        name = command["command"]
        now = self.clock.utc()
        if name == "ack":
            transition = self.engine.acknowledge(command["alarm_id"], command["by"], command["comment"], now)
            self._alarms([transition])
            return {"ok": True, "alarm_id": transition.alarm_id}
        if name == "set_limit":
            self.engine.set_limit(command["device"], command["channel"], command["kind"], str(command["limit"]))
            self._append(
                "event",
                {
                    "type": "threshold_changed",
                    "severity": "info",
                    "message": "limit changed",
                    "attrs": {k: str(command[k]) for k in ("device", "channel", "kind", "limit")},
                },
            )
            return {"ok": True}
        raise ValueError(f"unknown command {name!r}")

    # -- lifecycle --------------------------------------------------------------------------------------------

    def _start_entry(self) -> None:
        last = self.store.last_entry()
        clean = last is None or b'"type":"agent_stopped"' in last
        self._append(
            "event",
            {
                "type": "agent_started",
                "severity": "info" if clean else "warning",
                "message": "agent started" if clean else "agent started after an unclean stop (crash or power loss)",
                "attrs": {"version": VERSION, "devices": len(self.supervisors), "clean_previous_stop": clean},
            },
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop_event.set)
        self._start_entry()
        await self._flush()
        await self._checkpoint()
        logger.info(
            "edge %s running with %d devices; log %s",
            self.config.edge.id,
            len(self.supervisors),
            self.config.edge.db_path,
        )
        tasks = [asyncio.create_task(s.run(self.stop_event), name=f"device:{s.config.id}") for s in self.supervisors]
        background = [
            asyncio.create_task(self._flush_loop(), name="flush"),
            asyncio.create_task(self._alarm_loop(), name="alarms"),
            asyncio.create_task(self._status_loop(), name="status"),
            asyncio.create_task(self._prune_loop(), name="prune"),
        ]
        link = HubLink.load(self.config.edge.data_dir)
        if link is not None:
            logger.info("syncing to the hub at %s as device %s", link.hub_url, link.device_id)
            uplink = run_uplink(link, self.store, self, self.stop_event, wake=self.sync_now)
            background.append(asyncio.create_task(uplink, name="uplink"))
        await self.stop_event.wait()
        logger.info("stopping: finishing in-flight polls")
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*background, return_exceptions=True)
        self._append("event", {"type": "agent_stopped", "severity": "info", "message": "agent stopped"})
        await self._flush()
        await self._checkpoint()
        self.write_status(running=False)
        self.store.close()
        logger.info("stopped; final checkpoint signed")


def spool_command(data_dir: Path, command: dict[str, Any], *, wait_s: float = 10.0) -> dict[str, Any]:
    """Hand a command to the running agent through its spool directory and wait for its answer."""
    import time
    import uuid

    folder = data_dir / "commands"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}"
    tmp = folder / f"{name}.tmp"
    tmp.write_text(json.dumps(command), encoding="utf-8")
    tmp.replace(folder / f"{name}.json")
    done = folder / f"{name}.done"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if done.exists():
            result: dict[str, Any] = json.loads(done.read_text(encoding="utf-8"))
            done.unlink(missing_ok=True)
            return result
        time.sleep(0.1)
    return {"ok": False, "error": f"no answer from the agent within {wait_s:g} s (is it running?)"}


__all__ = ["Agent", "KeyFileError", "load_or_create_key", "spool_command"]
