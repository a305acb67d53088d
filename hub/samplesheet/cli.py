"""``tracseq samplesheet check FILE [--json]`` and ``tracseq samplesheet convert FILE --to v2``.

``check`` validates a v1 or v2 sheet on its own — structure, required sections and fields, Sample_ID duplicates per
lane, index characters, lengths and collisions, OverrideCycles against [Reads], unknown settings — and lists every
problem as ``line N, field F: message``. Exit codes: 0 no errors (warnings allowed); 1 errors; 3 unreadable (not a
file, not text, not a sample sheet).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from hub.samplesheet.check import SheetReport, check, check_bytes, ordered
from hub.samplesheet.convert import convert_to_v2
from hub.samplesheet.errors import SampleSheetError
from hub.samplesheet.parse import parse_bytes
from hub.samplesheet.render import render_sheet

EXIT_ERRORS = 1
EXIT_UNREADABLE = 3


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="Illumina sample sheets (v1 IEM, v2 BCL Convert): check and convert.", no_args_is_help=True
    )
    group.command("check")(check_file)
    group.command("convert")(convert_file)
    app.add_typer(group, name="samplesheet")


def check_file(
    file: Annotated[Path, typer.Argument(help="a SampleSheet.csv, v1 or v2")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of text")] = False,
) -> None:
    """Check FILE the way BCL Convert would and list every problem. Exit 0 clean, 1 errors, 3 unreadable."""
    try:
        report = check_bytes(_read(file))
    except SampleSheetError as exc:
        _unreadable(file, exc.detail, as_json)
    if as_json:
        typer.echo(json.dumps({"file": str(file), **report.to_dict()}))
    else:
        for problem in report.problems:
            typer.echo(f"{problem.severity}: {problem.describe()}")
        typer.echo(_summary(file, report))
    if not report.ok:
        raise typer.Exit(EXIT_ERRORS)


def convert_file(
    file: Annotated[Path, typer.Argument(help="a v1 (IEM) SampleSheet.csv")],
    to: Annotated[str, typer.Option("--to", help="the version to write; only v2")] = "v2",
    instrument: Annotated[
        str | None, typer.Option("--instrument", help="e.g. 'NovaSeq X': turns Index2 round where BCL Convert needs it")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write here instead of stdout")] = None,
) -> None:
    """Write FILE as a v2 sheet, list what changed on stderr, and check the result (exit 1 if it has errors)."""
    if to.lower() not in ("v2", "2"):
        typer.echo(f"error: --to {to}: only v2 can be written", err=True)
        raise typer.Exit(2)
    try:
        conversion = convert_to_v2(parse_bytes(_read(file)).sheet, instrument_platform=instrument)
    except SampleSheetError as exc:
        _unreadable(file, exc.detail, False)
    text = render_sheet(conversion.sheet)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    for note in conversion.notes:
        typer.echo(f"note: {note}", err=True)
    problems = ordered(check(conversion.sheet))
    for problem in problems:
        typer.echo(f"{problem.severity}: {problem.describe()}", err=True)
    if any(p.is_error for p in problems):
        raise typer.Exit(EXIT_ERRORS)


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise SampleSheetError(f"cannot read it: {exc.strerror or exc}") from exc


def _unreadable(file: Path, reason: str, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"file": str(file), "ok": False, "error": reason, "problems": []}))
    else:
        typer.echo(f"FAIL: {file}: {reason}", err=True)
    raise typer.Exit(EXIT_UNREADABLE)


def _summary(file: Path, report: SheetReport) -> str:
    errors, warnings = len(report.errors), len(report.warnings)
    counts = [f"{errors} error{'s' if errors != 1 else ''}"] if errors else []
    if warnings:
        counts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    samples = len(report.sheet.rows)
    lanes = report.sheet.lanes()
    where = f", lanes {', '.join(map(str, lanes))}" if lanes else ""
    what = f"v{report.sheet.version} sheet, {samples} sample{'s' if samples != 1 else ''}{where}"
    return f"{'OK' if report.ok else 'FAIL'}: {file}: {', '.join(counts) or 'no problems'} ({what})"
