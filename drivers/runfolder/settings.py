"""A run-folder watcher as the edge configures it (one ``[[devices]]`` entry with ``driver = "runfolder"``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class RunFolderDeviceSettings(BaseModel):
    """Where the instrument writes its run folders, and how patient to be with them.

    - ``stall_after_s``: an unfinished run with no file changing for this long is reported stalled.
    - ``settle_s``: a file must keep its size and time this long before it is parsed (no half-written XML).
    - ``completion_grace_s``: with every cycle on disk but no completion file, wait this long before calling
      the run completed (the file is usually seconds away; some copies of run folders never get one).
    - ``progress_every_cycles``: at most one ``run_progress`` per this many cycles (and per poll).
    - ``max_runs``: only the newest run folders (by the date in their name) are watched.
    - ``state_file``: where the watcher remembers what it reported, so that a restart neither repeats nor
      loses a milestone; put it in the edge's data directory. Without it see ``run_seen`` in the README.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    driver: Literal["runfolder"] = "runfolder"
    watch_dir: Path
    stall_after_s: Annotated[float, Field(gt=0)] = 3600.0
    settle_s: Annotated[float, Field(ge=0, le=3600)] = 2.0
    completion_grace_s: Annotated[float, Field(ge=0)] = 600.0
    progress_every_cycles: Annotated[int, Field(ge=1, le=10_000)] = 10
    max_runs: Annotated[int, Field(ge=1, le=10_000)] = 50
    state_file: Path | None = None
