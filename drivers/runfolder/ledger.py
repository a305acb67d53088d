"""What the watcher has already reported per run, optionally kept in a small JSON file across restarts.

With a state file, a restarted watcher carries on exactly: no milestone is reported twice, and one that happened
while it was down (a run that completed overnight) is reported when it comes back. Without one, it can only
say what it finds (``run_seen``); see the package README. The file is replaced atomically.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

VERSION = 1


@dataclass(slots=True)
class Reported:
    """Milestones reported for one run. ``problems`` (bad files) are not kept across restarts."""

    started: bool = False
    cycles: int = 0
    reads: set[int] = field(default_factory=set)
    terminal: str | None = None
    stalled: bool = False
    problems: set[tuple[str, str]] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "cycles": self.cycles,
            "reads": sorted(self.reads),
            "terminal": self.terminal,
            "stalled": self.stalled,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reported:
        terminal = data.get("terminal")
        return cls(
            started=data.get("started") is True,
            cycles=int(data.get("cycles", 0)),
            reads={int(read) for read in data.get("reads", [])},
            terminal=terminal if terminal in ("completed", "failed") else None,
            stalled=data.get("stalled") is True,
        )


class RunLedger:
    """Reported milestones by run folder name; ``existed`` tells a first start from a restart."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.runs: dict[str, Reported] = {}
        self.existed = False
        self._saved = ""
        self._failing = False

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
            self.runs = {str(name): Reported.from_json(entry) for name, entry in data["runs"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Starting as if for the first time only repeats what is found (run_seen); refusing to start would
            # stop the watching altogether.
            logger.error("%s: unreadable watcher state (%s); starting as on a first start", self.path, exc)
            self.runs = {}
            return
        self.existed = True
        self._saved = self._encode()

    def save(self) -> None:
        if self.path is None:
            return
        text = self._encode()
        if text == self._saved:
            return
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            if not self._failing:
                logger.error("%s: cannot save watcher state: %s", self.path, exc)
                self._failing = True
            return
        if self._failing:
            logger.info("%s: watcher state saved again", self.path)
            self._failing = False
        self._saved = text

    def keep_only(self, names: set[str]) -> None:
        for name in set(self.runs) - names:
            del self.runs[name]

    def _encode(self) -> str:
        runs = {name: reported.to_json() for name, reported in sorted(self.runs.items())}
        return json.dumps({"version": VERSION, "runs": runs}, indent=1)
