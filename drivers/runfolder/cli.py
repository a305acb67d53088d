"""``tracseq runfolder inspect DIR [--json]``: what the watcher extracts from one run folder.

For people setting up an instrument PC: point it at a run folder and check that the watcher reads the run id,
instrument, flow cell, lanes, reads, cycles, times and state as expected. Exit codes: 0 read cleanly; 2 not a
run folder (no ``RunInfo.xml``, or not a directory); 3 a file in it is malformed (the rest is still shown).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from drivers.runfolder.errors import MalformedRunFileError, NotARunFolderError
from drivers.runfolder.reader import read_run_folder
from drivers.runfolder.snapshot import RunFolderSnapshot
from drivers.runfolder.timestamps import RunTime

EXIT_NOT_A_RUN_FOLDER = 2
EXIT_MALFORMED = 3


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Illumina run folders: what the run-folder watcher sees.", no_args_is_help=True)
    group.command("inspect")(inspect)
    app.add_typer(group, name="runfolder")


def inspect(
    directory: Annotated[
        Path, typer.Argument(help="a run folder, e.g. D:/Illumina/Runs/20230418_LH00130_0003_B223YTFLT3")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of text")] = False,
    stall_after: Annotated[
        float, typer.Option("--stall-after", min=0, help="call an unfinished run stalled after this many quiet seconds")
    ] = 3600.0,
) -> None:
    """Print what the watcher extracts from DIR: run id, instrument, flow cell, lanes, reads, cycles, times, state."""
    try:
        snapshot = read_run_folder(directory, stall_after_s=stall_after)
    except NotARunFolderError as exc:
        _fail(as_json, directory, exc.reason, "point it at the folder that holds RunInfo.xml", EXIT_NOT_A_RUN_FOLDER)
    except MalformedRunFileError as exc:
        _fail(as_json, directory, f"{exc.file}: {exc.reason}", _fix(exc.file), EXIT_MALFORMED)
    if as_json:
        typer.echo(json.dumps({"ok": not snapshot.problems, "folder": str(directory), "run": snapshot.to_dict()}))
    else:
        _print(snapshot, directory)
    if snapshot.problems:
        raise typer.Exit(EXIT_MALFORMED)


def _fix(file: str) -> str:
    return f"the instrument may still be writing {file}: look again when the run has moved on, or check the copy"


def _fail(as_json: bool, directory: Path, reason: str, fix: str, code: int) -> None:
    if as_json:
        typer.echo(json.dumps({"ok": False, "folder": str(directory), "error": reason, "run": None}))
    else:
        typer.echo(f"FAIL: {directory}: {reason}", err=True)
        typer.echo(f"  fix: {fix}", err=True)
    raise typer.Exit(code)


def _when(time: RunTime | None) -> str:
    return "unknown" if time is None else time.describe()


def _print(snap: RunFolderSnapshot, directory: Path) -> None:
    info, params = snap.run_info, snap.parameters
    reads = ", ".join(f"I{r.cycles}" if r.is_index else str(r.cycles) for r in info.reads)
    index = ",".join(str(n) for n in info.index_lengths) or "none"
    if info.i5_orientation:
        index += f" (i5 {info.i5_orientation.replace('_', ' ')})"
    side = f", side {params.side}" if params and params.side else ""
    model = f" (part {params.flow_cell_model})" if params and params.flow_cell_model else ""
    tiles = f" ({info.layout.tiles_per_lane} tiles per lane)" if info.layout.tiles_per_lane else ""
    rows = [
        ("run id", f"{info.run_id}" + (f" (run {info.run_number})" if info.run_number is not None else "")),
        ("instrument", f"{info.instrument} ({snap.platform}){side}"),
        ("flow cell", f"{info.flow_cell}{model}"),
        ("lanes", f"{info.layout.lanes}{tiles}"),
        ("reads", f"{reads}  ({info.bases_mask})"),
        ("index", index),
        (
            "cycles",
            f"{snap.cycles_done} of {snap.cycles_total}" + (f" ({snap.cycles_source})" if snap.cycles_source else ""),
        ),
        ("start", _when(snap.start)),
        ("end", _when(snap.end)),
        ("state", f"{snap.state} ({snap.state_reason})"),
    ]
    if snap.failure:
        rows.append(("failure", snap.failure))
    if params is not None:
        extra = [
            ("software", " ".join(p for p in (params.application, params.application_version) if p)),
            ("rta", snap.rta_version or ""),
            ("chemistry", params.chemistry or params.reagent_kit_version or ""),
            ("recipe", params.recipe or ""),
            ("experiment", params.experiment_name or ""),
        ]
        rows.extend((label, value) for label, value in extra if value)
    typer.echo(f"{'OK' if not snap.problems else 'FAIL'}: {directory}")
    for label, value in rows:
        typer.echo(f"  {label:<11}{value}")
    for problem in snap.problems:
        typer.echo(f"FAIL: {problem.file}: {problem.reason}", err=True)
        typer.echo(f"  fix: {_fix(problem.file)}", err=True)
