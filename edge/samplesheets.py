"""Sample sheets the hub sends to a sequencer PC (``write_samplesheet`` / ``remove_samplesheet`` commands).

A sheet is written atomically (temporary file, fsync, rename, fsync of the folder) into the configured
``samplesheet_dir``, only under a plain file name, only if its SHA-256 matches what the hub says it sent. Writing
the same sheet again is a no-op (commands are retried); a different file already under that name is never
overwritten. The agent remembers the hash of each sheet it wrote (``<data_dir>/samplesheets.json``), and removes
a sheet only while the file is still exactly what it wrote: a sheet someone edited on the instrument PC stays.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from edge.errors import EdgeError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.csv$")
MAX_SHEET_BYTES = 4 << 20


class SampleSheetCommandError(EdgeError):
    """A sample-sheet command the agent refuses (the reason goes to the log as ``command_applied``)."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SampleSheetFolder:
    def __init__(self, folder: Path | None, ledger: Path) -> None:
        self.folder = folder
        self.ledger = ledger

    def _target(self, filename: str) -> Path:
        if self.folder is None:
            raise SampleSheetCommandError("this agent has no samplesheet_dir configured (edge section)")
        if not _NAME.fullmatch(filename):
            raise SampleSheetCommandError(f"{filename!r} is not a plain .csv file name")
        return self.folder / filename

    def _written(self) -> dict[str, str]:
        try:
            loaded = json.loads(self.ledger.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SampleSheetCommandError(f"cannot read {self.ledger.name}: {exc}") from exc
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    def _remember(self, written: dict[str, str]) -> None:
        staged = self.ledger.with_name(self.ledger.name + ".tmp")
        staged.write_text(json.dumps(written, sort_keys=True), encoding="utf-8")
        os.replace(staged, self.ledger)

    def write(self, filename: str, sheet: str, sha256: str) -> str:
        target = self._target(filename)
        data = sheet.encode("utf-8")
        if len(data) > MAX_SHEET_BYTES:
            raise SampleSheetCommandError(f"the sheet is {len(data)} bytes; at most {MAX_SHEET_BYTES}")
        if _digest(data) != sha256.lower():
            raise SampleSheetCommandError("the sheet does not match its SHA-256: not written")
        if target.exists():
            if _digest(target.read_bytes()) == sha256.lower():
                return f"{filename} already written"
            raise SampleSheetCommandError(f"{filename} exists with other content: not overwritten")
        folder = target.parent
        folder.mkdir(parents=True, exist_ok=True)
        staged = folder / f".{filename}.tmp"
        with open(staged, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, target)
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        written = self._written()
        written[filename] = sha256.lower()
        self._remember(written)
        return f"{filename} written ({len(data)} bytes)"

    def remove(self, filename: str) -> str:
        target = self._target(filename)
        written = self._written()
        expected = written.get(filename)
        if not target.exists():
            written.pop(filename, None)
            self._remember(written)
            return f"{filename} is not there"
        if expected is None or _digest(target.read_bytes()) != expected:
            raise SampleSheetCommandError(f"{filename} is not the sheet this agent wrote: left in place")
        target.unlink()
        written.pop(filename)
        self._remember(written)
        return f"{filename} removed"
