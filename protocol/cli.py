"""The ``tracseq`` command: a root that gathers each installed package's sub-commands, and protocol's own.

Packages contribute sub-commands through the ``tracseq.commands`` entry point group (``register(app)``), so an
instrument PC that installed only the edge extra never imports the hub. A group whose optional dependencies are
missing still appears, and says which extra to install.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Annotated

import typer

from protocol.errors import MalformedError, VerificationError
from protocol.export import Trust, open_export_for_reading
from protocol.synth import synthesize
from protocol.verify import Report, Verifier

EXIT_HELP = (
    "Exit codes: 0 verified; 1 tampered (altered, inserted, deleted or reordered entry, bad signature); "
    "2 truncated or forked; 3 malformed input; 4 nothing trusted."
)


def _missing_extra(name: str, extra: str, error: ImportError) -> typer.Typer:
    stub = typer.Typer(help=f"(needs the '{extra}' extra: pip install 'tracseq[{extra}]')")

    @stub.callback(invoke_without_command=True)
    def _explain() -> None:
        typer.echo(
            f"tracseq {name}: this command needs the '{extra}' extra ({error.name or error}); "
            f"install it with: pip install 'tracseq[{extra}]'",
            err=True,
        )
        raise typer.Exit(2)

    return stub


def _load(app: typer.Typer, ep: EntryPoint) -> None:
    try:
        register = ep.load()
    except ImportError as exc:
        extra = ep.extras[0] if ep.extras else ep.name
        app.add_typer(_missing_extra(ep.name, extra, exc), name=ep.name)
        return
    register(app)


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="tracseq",
        help="TracSeq: signed, hash-chained lab data from edge to hub.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for ep in sorted(entry_points(group="tracseq.commands"), key=lambda e: e.name):
        _load(app, ep)
    return app


def main() -> None:
    build_app()()


# -- protocol's own commands ------------------------------------------------------------------------------------


def verify_export(path: Path, trust: Trust | None, *, show_progress: bool = False, strict: bool = False) -> Report:
    """Run the verifier over an export file, with a progress bar on a terminal."""
    verifier = Verifier(trust, strict=strict)
    try:
        stream, raw = open_export_for_reading(path)
    except OSError as exc:
        verifier.report.exit_code = MalformedError.exit_code
        verifier.report.failure = f"cannot read {path}: {exc.strerror}"
        verifier.report.failure_kind = "malformed"
        return verifier.report
    total = path.stat().st_size
    with stream, raw:
        if not show_progress or total < 8 << 20:
            return _guarded(verifier, stream, None)
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%  {task.fields[entries]:,} entries"),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("verify", total=total, entries=0)

            def tick(count: int) -> None:
                bar.update(task, completed=raw.tell(), entries=count)

            return _guarded(verifier, stream, tick)


def _guarded(verifier: Verifier, stream: object, tick: object) -> Report:
    import gzip
    import zlib

    try:
        return verifier.run(stream, tick)  # type: ignore[arg-type]
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        verifier.report.exit_code = 2 if isinstance(exc, EOFError) else 3
        verifier.report.failure_kind = "truncated" if isinstance(exc, EOFError) else "malformed"
        verifier.report.failure = (
            "the compressed export ends early: the file was cut"
            if isinstance(exc, EOFError)
            else f"the compressed export is corrupt: {exc}"
        )
        return verifier.report


def _print_report(report: Report, path: Path) -> None:
    echo = typer.echo
    if report.ok:
        echo(f"OK: {path} verified")
    else:
        echo(f"FAIL: {path}: {report.failure_kind}: {report.failure}")
        if report.first_bad_seq is not None:
            echo(f"  first bad seq     {report.first_bad_seq}")
    echo(f"  origin            {report.origin or '-'}")
    if report.first_seq is not None and report.last_seq is not None:
        proven = "" if report.ok else " (read before the failure)"
        echo(f"  entries           {report.first_seq}–{report.last_seq} ({report.entries:,} entries){proven}")
        echo(f"  time range        {report.first_ts} → {report.last_ts}")
    else:
        echo("  entries           none")
    keys = ", ".join(report.key_ids) or "none"
    rotations = f" ({report.rotations} key rotation{'s' if report.rotations != 1 else ''})" if report.rotations else ""
    echo(f"  signing keys      {keys}{rotations}")
    echo(f"  checkpoints       {report.checkpoints_verified:,} verified; signed up to size {report.signed_size or 0:,}")
    if report.witnessed_size is not None:
        echo(
            f"  last witnessed    size {report.witnessed_size:,} at {report.witnessed_time} "
            f"by {', '.join(report.witnesses)}"
        )
    else:
        echo("  last witnessed    never (no trusted witness cosignature)")
    if report.ok:
        echo(f"  unsigned tail     {report.unsigned_tail:,} entries after the last signed checkpoint")
        echo(f"  unwitnessed tail  {report.unwitnessed_tail:,} entries after the last cosigned checkpoint")
    for warning in report.warnings:
        echo(f"  warning           {warning}")
    if not report.ok:
        echo(f"  what to do        {_advice(report.exit_code)}")


def _advice(code: int) -> str:
    return {
        1: "treat the records from the first bad seq on as untrustworthy; obtain the hub's copy and compare",
        2: "ask the hub (the witness) for its copy of the log; the export is missing entries it has seen",
        3: "check that the file is a TracSeq export (tracseq edge export) and was copied completely",
        4: "pass --trust with the edge's public key and the hub's witness key (from the hub or the edge's key.pub)",
    }.get(code, "")


def verify_command(
    export: Annotated[Path, typer.Argument(help="Export file (.jsonl or .jsonl.gz)")],
    trust: Annotated[
        Path | None, typer.Option("--trust", help="Trust file: log keys, witness keys, witnessed checkpoints")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Decode every entry in full: payload syntax, time order, future dates"),
    ] = False,
) -> None:
    """Verify an exported log end to end in one streaming pass."""
    try:
        trusted = Trust.load(trust) if trust else None
    except VerificationError as exc:
        typer.echo(f"FAIL: {exc.reason}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    report = verify_export(export, trusted, show_progress=sys.stderr.isatty() and not as_json, strict=strict)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report, export)
    raise typer.Exit(report.exit_code)


verify_command.__doc__ = f"Verify an exported log end to end in one streaming pass. {EXIT_HELP}"

log_app = typer.Typer(help="Generate and inspect logs.", no_args_is_help=True)


@log_app.command("synth")
def synth_command(
    entries: Annotated[int, typer.Option("--entries", min=0, help="How many entries to write")],
    out: Annotated[Path, typer.Option("--out", help="Export file to write (.gz to compress)")],
    witness: Annotated[bool, typer.Option("--witness", help="Cosign checkpoints with a fresh witness key")] = False,
    trust_out: Annotated[Path | None, typer.Option("--trust-out", help="Where to write the trust file")] = None,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Entries between checkpoints")] = 1000,
    rotate_at: Annotated[int | None, typer.Option(help="Rotate the signing key at this entry")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the synthetic values")] = 0,
) -> None:
    """Write a valid export of synthetic freezer readings and events, and the trust file that goes with it."""
    result = synthesize(
        entries,
        out,
        trust_out=trust_out,
        witness=witness,
        checkpoint_every=checkpoint_every,
        rotate_at=rotate_at,
        seed=seed,
    )
    typer.echo(f"wrote {result.entries:,} entries and {result.checkpoints:,} checkpoints to {result.export}")
    typer.echo(f"trust file: {result.trust} (log key {result.log_key.key_id.hex()}", nl=False)
    typer.echo(f", witness {result.witness_key.key_id.hex()})" if result.witness_key else ")")


def register(app: typer.Typer) -> None:
    """Entry point: add ``verify`` and ``log`` to the root command."""
    app.command("verify", help=verify_command.__doc__)(verify_command)
    app.add_typer(log_app, name="log")
