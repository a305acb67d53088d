"""``tracseq edge …``: run the agent, show its status, export its log, acknowledge alarms."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from edge.config import Config, load_config
from edge.errors import EdgeError, StoreCorruptError
from protocol.errors import KeyFileError, ProtocolError

app = typer.Typer(help="The edge agent on a freezer host or sequencer PC.", no_args_is_help=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="The agent's configuration file (TOML or YAML)")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _config(path: Path) -> Config:
    try:
        return load_config(path)
    except EdgeError as exc:
        raise _fail(str(exc)) from exc


@app.command("run")
def run_command(config: ConfigOption, log_level: Annotated[str, typer.Option(help="Log level")] = "INFO") -> None:
    """Run the agent until SIGTERM or Ctrl-C; a final checkpoint is signed on the way out."""
    from edge import logs
    from edge.agent import Agent
    from edge.clock import SystemClock
    from edge.clockfaults import clock_from_environment

    cfg = _config(config)
    logs.configure(cfg.edge.id, log_level)

    def stop_during_start_up(signum: int, _frame: object) -> None:
        # before the event loop takes over SIGTERM/SIGINT: leave at once, nothing is half-written (transactions)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_during_start_up)
    try:
        agent = Agent(cfg, clock=clock_from_environment(SystemClock(), os.environ))  # a script only in tests
    except StoreCorruptError as exc:
        raise _fail(f"{exc}\nrecovery: {exc.recovery}", 3) from exc
    except (EdgeError, KeyFileError) as exc:
        raise _fail(str(exc)) from exc
    asyncio.run(agent.run())


def _read_status(cfg: Config) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(cfg.edge.status_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@app.command("status")
def status_command(
    config: ConfigOption, as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False
) -> None:
    """Devices, availability, last readings and their age, buffer depth, last checkpoint, active alarms."""
    cfg = _config(config)
    status = _read_status(cfg)
    if status is None:
        raise _fail(f"no status at {cfg.edge.status_path}: the agent has not run with this data directory", 1)
    updated = datetime.fromisoformat(status["updated"].replace("Z", "+00:00"))
    age = (datetime.now(UTC) - updated).total_seconds()
    status["running"] = bool(status.get("running")) and _alive(int(status["pid"])) and age < 30
    if as_json:
        typer.echo(json.dumps(status, indent=2))
        return
    log = status["log"]
    state = "running" if status["running"] else "not running"
    typer.echo(f"edge {status['edge']} ({state}; status {age:.0f} s old), key {status['key_id']}")
    typer.echo(
        f"log: {log['next_seq']:,} entries, {log['pending']:,} pending, "
        f"last checkpoint at size {log['checkpoint_size']:,} ({log['last_checkpoint'] or 'never'}), "
        f"{log['db_bytes'] / 1e6:.1f} MB{'  DISK ALARM' if log['disk_alarm'] else ''}"
    )
    for device in status["devices"]:
        age_text = f"{device['age_s']:.0f} s ago" if device["age_s"] is not None else "never"
        typer.echo(
            f"device {device['device']}: {device['availability']}, last good poll {age_text}, "
            f"missed polls {device['missed_polls']}, bad frames {device['bad_frames']}"
            + (f", last error: {device['last_error']}" if device["last_error"] else "")
        )
        for channel, value in sorted(device["last_values"].items()):
            typer.echo(f"  {channel:<14} {value['value'] or '-':>10} {value['unit']:<6} {value['quality']}")
    alarms = status["alarms"]
    typer.echo(f"alarms active: {len(alarms)}")
    for alarm in alarms:
        ack = f", acknowledged by {alarm['acknowledged_by']}" if alarm["acknowledged_by"] else ""
        typer.echo(f"  {alarm['alarm_id']} ({alarm['severity']}) since {alarm['raised_at']}{ack}")


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="Export file (.gz to compress)")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="The agent's configuration file")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="The agent's data directory, instead of --config")] = None,
    from_seq: Annotated[int, typer.Option("--from", min=0, help="First seq to export")] = 0,
    salvage: Annotated[
        bool,
        typer.Option(
            "--salvage",
            help="From a damaged log: export every entry that can still be read (works on a copy; exit 3 if some "
            "could not be)",
        ),
    ] = False,
) -> None:
    """Export the log for an auditor (works while the agent runs); check it with 'tracseq verify'."""
    from edge.salvage import salvage_export
    from edge.store import export_log

    if (config is None) == (data_dir is None):
        raise _fail("give either --config or --data-dir")
    db = (_config(config).edge.db_path) if config is not None else (data_dir / "log.db")  # type: ignore[operator]
    if salvage:
        if from_seq:
            raise _fail("--salvage exports the whole log; leave out --from")
        try:
            report = salvage_export(db, out)
        except (EdgeError, ProtocolError, OSError) as exc:
            raise _fail(str(exc), 3) from exc
        for note in report.notes:
            typer.echo(f"note: {note}", err=True)
        span = f"seqs {report.first_seq}-{report.next_seq - 1}" if report.first_seq is not None else "no entries"
        typer.echo(f"salvaged {report.entries:,} entries ({span}) to {out}")
        problems = [f"{report.lost():,} entries could not be read: seqs {report.ranges()}"] if report.unreadable else []
        if report.unreadable_tail_from is not None:
            problems.append(
                f"the rows from seq {report.unreadable_tail_from} on could not be read (how many there were is not "
                "known): the log may have run further than the export shows"
            )
        if problems:
            raise _fail("; ".join(problems), 3)
        return
    try:
        count = export_log(db, out, from_seq)
    except StoreCorruptError as exc:
        raise _fail(f"{exc}\nrecovery: {exc.recovery}", 3) from exc
    except (EdgeError, ProtocolError, OSError) as exc:
        raise _fail(str(exc), 3) from exc
    typer.echo(f"exported {count:,} entries to {out}")


@app.command("trust")
def trust_command(
    config: ConfigOption,
    out: Annotated[Path, typer.Option("--out", help="Trust file to write")],
) -> None:
    """Write a trust file naming this edge's signing keys, for 'tracseq verify --trust'."""
    import sqlite3

    from protocol import Trust, VerifierKey

    cfg = _config(config)
    db = sqlite3.connect(f"file:{cfg.edge.db_path}?mode=ro", uri=True)
    try:
        keys = tuple(VerifierKey.parse(str(v)) for (v,) in db.execute("SELECT vkey FROM keys ORDER BY first_seq"))
    except sqlite3.DatabaseError as exc:
        raise _fail(f"cannot read {cfg.edge.db_path}: {exc}") from exc
    finally:
        db.close()
    from edge.uplink import HubLink

    link = HubLink.load(cfg.edge.data_dir)
    witnesses = (VerifierKey.parse(link.witness_key),) if link else ()
    out.write_text(Trust(log_keys=keys[:1], witness_keys=witnesses).to_json() + "\n", encoding="utf-8")
    typer.echo(f"wrote {out} (key {keys[0].key_id.hex()}; later keys are trusted through their rotation entries)")


@app.command("ack")
def ack_command(
    config: ConfigOption,
    alarm_id: Annotated[str, typer.Argument(help="Alarm id, e.g. freezer-01/temp/high")],
    by: Annotated[str, typer.Option("--by", help="Who takes responsibility")],
    comment: Annotated[str, typer.Option("--comment", help="Why, or what is being done")],
) -> None:
    """Acknowledge an active alarm on the running agent; the acknowledgement is a log entry."""
    from edge.agent import spool_command

    if not comment.strip():
        raise _fail("an acknowledgement needs a comment")
    result = spool_command(
        _config(config).edge.data_dir, {"command": "ack", "alarm_id": alarm_id, "by": by, "comment": comment}
    )
    if not result.get("ok"):
        raise _fail(str(result.get("error")), 1)
    typer.echo(f"acknowledged {alarm_id}")


@app.command("enroll")
def enroll_command(
    config: ConfigOption,
    hub: Annotated[str, typer.Option("--hub", help="The hub's address, e.g. https://hub.lab.example")],
    token: Annotated[str, typer.Option("--token", help="The one-time enrolment token from the hub's admin")],
    name: Annotated[str | None, typer.Option(help="Device name at the hub (default: the edge id)")] = None,
    ca: Annotated[Path | None, typer.Option(help="CA certificate to verify the hub's TLS certificate")] = None,
) -> None:
    """Register this edge's public key with the hub and store its device credentials (data_dir/hub.json)."""
    from edge.agent import load_or_create_key
    from edge.uplink import enroll

    cfg = _config(config)
    cfg.edge.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        key = load_or_create_key(cfg)
        link = enroll(
            hub,
            token,
            name=name or cfg.edge.id,
            origin=cfg.edge.log_origin,
            key=key,
            data_dir=cfg.edge.data_dir,
            ca_file=str(ca) if ca else None,
        )
    except (EdgeError, KeyFileError) as exc:
        raise _fail(str(exc), 1) from exc
    typer.echo(f"enrolled as device {link.device_id} at {link.hub_url}; the agent syncs when it runs")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="edge")
