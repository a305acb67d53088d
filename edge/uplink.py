"""The edge's link to the hub: enrolment, the sync task, and applying the commands the hub sends back.

Enrolment writes ``<data_dir>/hub.json`` (mode 0600): the hub's address, this device's credential and the hub's
witness key. With it, the agent syncs in the background; without it, the agent works alone, as before.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import ssl
import stat
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from edge.errors import EdgeError
from protocol import SigningKey
from sync import Command
from sync.sender import SyncReport, SyncSender
from sync.transport import HttpTransport

logger = logging.getLogger(__name__)
HUB_FILE = "hub.json"
BEACON_EVERY_S = 600.0


def check_hub_url(hub_url: str, *, allow_insecure_http: bool = False) -> None:
    """https:// always; plain http:// only to this host (loopback never leaves it) or when explicitly allowed for
    development, because the device credential and the log travel in every request."""
    parts = urlsplit(hub_url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme != "http" or not parts.hostname:
        raise EdgeError(f"the hub's address must be an https:// URL, not {hub_url!r}")
    if allow_insecure_http or _is_loopback(parts.hostname):
        return
    raise EdgeError(
        f"refusing plain HTTP to the remote hub {parts.hostname}: use https:// (plain HTTP is for development only, "
        "with allow_insecure_http)"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name like 127.0.0.1.example.org is not this host


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verification on, always: against ``ca_file`` (a private CA) when given, else the system's trust store."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise EdgeError(f"cannot load the hub's CA certificate {ca_file}: {exc}") from exc


@dataclass(frozen=True)
class HubLink:
    hub_url: str
    device_id: str
    device_token: str
    witness_key: str
    ca_file: str | None = None
    allow_insecure_http: bool = False

    def __repr__(self) -> str:  # the device credential stays out of logs and tracebacks
        return f"HubLink(hub_url={self.hub_url!r}, device_id={self.device_id!r}, ca_file={self.ca_file!r})"

    def verify(self) -> ssl.SSLContext:
        return tls_context(self.ca_file)

    @classmethod
    def load(cls, data_dir: Path) -> HubLink | None:
        path = data_dir / HUB_FILE
        if not path.exists():
            return None
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            # the agent's first duty is local monitoring: tighten and say so rather than refuse to start
            os.chmod(path, 0o600)
            logger.warning(
                "%s held the device credential with mode %o (group or others could read it); set to 600 - "
                "re-enrol the edge if others may have read it",
                path,
                mode,
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**data)

    def save(self, data_dir: Path) -> Path:
        path = data_dir / HUB_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode applies only to a new file: an older, looser one is tightened too
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.__dict__, handle, indent=2)
        return path


def enroll(
    hub_url: str,
    token: str,
    *,
    name: str,
    origin: str,
    key: SigningKey,
    data_dir: Path,
    ca_file: str | None = None,
    allow_insecure_http: bool = False,
) -> HubLink:
    """Register this edge's key with the hub (one-time token) and keep the credentials it returns."""
    check_hub_url(hub_url, allow_insecure_http=allow_insecure_http)
    try:
        response = httpx.post(
            hub_url.rstrip("/") + "/v1/sync/enroll",
            json={"token": token, "name": name, "origin": origin, "public_key": key.verifier.vkey},
            timeout=30,
            verify=tls_context(ca_file),
        )
    except httpx.HTTPError as exc:
        raise EdgeError(f"the hub at {hub_url} could not be reached: {exc}") from exc
    if response.status_code != 201:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise EdgeError(f"the hub refused the enrolment ({response.status_code}): {detail}")
    data = response.json()
    link = HubLink(
        hub_url.rstrip("/"), data["device_id"], data["device_token"], data["witness_key"], ca_file, allow_insecure_http
    )
    link.save(data_dir)
    return link


class CommandSink(Protocol):
    """What applying a command needs of the agent (kept narrow so this module does not import the agent)."""

    def set_limit(self, device: str, channel: str, kind: str, limit: str) -> None: ...

    def ack_alarm(self, alarm_id: str, by: str, comment: str) -> None: ...

    def log_event(self, payload: dict[str, Any]) -> None: ...

    def rotate_key(self) -> str: ...

    def request_export(self) -> str: ...

    def write_samplesheet(self, filename: str, sheet: str, sha256: str) -> str: ...

    def remove_samplesheet(self, filename: str) -> str: ...


def apply_command(sink: CommandSink, command: Command) -> dict[str, Any]:
    """Apply one command; every outcome is logged as ``command_applied`` (ok or refused, with why)."""
    args = command.args
    detail = ""
    try:
        if command.type == "set_limit":
            Decimal(args["limit"])
            sink.set_limit(args["device"], args["channel"], args["kind"], args["limit"])
        elif command.type == "ack_alarm":
            sink.ack_alarm(args["alarm_id"], args.get("by", "hub"), args.get("comment", "acknowledged at the hub"))
        elif command.type == "rotate_key":
            detail = sink.rotate_key()
        elif command.type == "request_export":
            detail = sink.request_export()
        elif command.type == "write_samplesheet":
            detail = sink.write_samplesheet(args["filename"], args["sheet"], args["sha256"])
        elif command.type == "remove_samplesheet":
            detail = sink.remove_samplesheet(args["filename"])
        else:
            raise ValueError(f"command {command.type!r} is not supported by this agent")
        outcome: dict[str, Any] = {"ok": True}
    except (KeyError, ValueError, InvalidOperation, EdgeError) as exc:
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    except Exception as exc:  # an alarm-engine error: refused, logged, never fatal
        outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    sink.log_event(
        {
            "type": "command_applied",
            "severity": "info" if outcome["ok"] else "warning",
            "message": f"{command.type}: {('applied ' + detail).strip() if outcome['ok'] else outcome['error']}",
            "attrs": {"command_id": command.id, "command": command.type, "ok": bool(outcome["ok"])},
        }
    )
    return outcome


async def run_uplink(
    link: HubLink,
    sender_store: Any,
    sink: CommandSink,
    stop: asyncio.Event,
    *,
    idle_s: float = 2.0,
    wake: asyncio.Event | None = None,
) -> None:
    try:  # hub.json is checked again at every start: it may have been edited since the enrolment
        check_hub_url(link.hub_url, allow_insecure_http=link.allow_insecure_http)
        verify = link.verify()
    except EdgeError as exc:
        logger.error("not syncing: %s; the agent goes on offline (fix %s and restart)", exc, HUB_FILE)
        return
    transport = HttpTransport(link.hub_url, link.device_token, verify=verify)
    sender = SyncSender(sender_store, transport)
    applied: set[str] = set()
    last_beacon = -BEACON_EVERY_S

    def on_report(report: SyncReport) -> None:
        nonlocal last_beacon
        for command in report.commands:
            if command.id not in applied:  # the hub resends until it sees command_applied in our log
                applied.add(command.id)
                apply_command(sink, command)
        now = time.monotonic()
        if report.beacons and now - last_beacon >= BEACON_EVERY_S:
            last_beacon = now
            beacon = report.beacons[-1].beacon
            sink.log_event(
                {
                    "type": "beacon",
                    "severity": "info",
                    "message": "the hub's time and the head of its own log",
                    "attrs": {"hub_time": beacon.hub_time, "hub_size": beacon.hub_size, "hub_head": beacon.hub_head},
                }
            )

    try:
        await sender.run(stop, idle_s=idle_s, on_report=on_report, wake=wake)
    finally:
        await transport.close()
