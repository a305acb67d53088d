"""The export bundle: one JSON Lines stream (gzip when the name ends in ``.gz``) that an auditor can read with
ordinary tools and ``tracseq verify`` checks in one pass.

Layout, one record a line (see ``ENCODING.md``)::

    {"type":"header", "format":"tracseq-export", "version":1, "origin":…, "log_keys":[…], "witness_keys":[…], …}
    {"type":"checkpoint","note":…}      newest witnessed checkpoint, repeated up front so a cut tail shows
    {"v":1,"seq":0,…}                   entry lines: the stored bytes, exactly
    {"type":"checkpoint","note":…}      each checkpoint right after the entry that completes its size
    {"type":"end","entries":N,"next_seq":M}
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

from protocol.encoding import format_timestamp
from protocol.errors import MalformedError, NoteError
from protocol.keys import COSIGNER_TYPE, SIGNER_TYPE, VerifierKey

EXPORT_FORMAT = "tracseq-export"
EXPORT_VERSION = 1
TRUST_FORMAT = "tracseq-trust"
_GZIP_MAGIC = b"\x1f\x8b"


def open_export_for_reading(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """Return (line stream, raw file); the raw file's position drives progress. Detects gzip by its magic."""
    raw = path.open("rb")
    magic = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    if magic == _GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    return raw, raw


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def header_line(
    *,
    origin: str,
    log_keys: Iterable[VerifierKey],
    witness_keys: Iterable[VerifierKey] = (),
    start_seq: int = 0,
    start_prev: bytes | None = None,
    created: datetime | None = None,
) -> bytes:
    return _line(
        {
            "type": "header",
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "origin": origin,
            "created": format_timestamp(created or datetime.now(UTC)),
            "log_keys": [k.vkey for k in log_keys],
            "witness_keys": [k.vkey for k in witness_keys],
            "start": {"seq": start_seq, "prev": start_prev.hex() if start_prev is not None else None},
        }
    )


def checkpoint_line(note: str) -> bytes:
    return _line({"type": "checkpoint", "note": note})


def end_line(entries: int, next_seq: int) -> bytes:
    return _line({"type": "end", "entries": entries, "next_seq": next_seq})


class ExportWriter:
    """Writes an export stream. Entries must be written in ``seq`` order, checkpoints after their last entry."""

    def __init__(
        self,
        path: Path,
        *,
        origin: str,
        log_keys: Iterable[VerifierKey],
        witness_keys: Iterable[VerifierKey] = (),
        start_seq: int = 0,
        start_prev: bytes | None = None,
        created: datetime | None = None,
    ) -> None:
        self.path = path
        self._raw: IO[bytes] = path.open("wb")
        self._out: IO[bytes] = (
            cast(IO[bytes], gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0))
            if path.name.endswith(".gz")
            else self._raw
        )
        self.entries = 0
        self.next_seq = start_seq
        self._out.write(
            header_line(
                origin=origin,
                log_keys=log_keys,
                witness_keys=witness_keys,
                start_seq=start_seq,
                start_prev=start_prev,
                created=created,
            )
        )

    def write_entry(self, raw: bytes) -> None:
        self._out.write(raw)
        self._out.write(b"\n")
        self.entries += 1
        self.next_seq += 1

    def write_entries(self, raws: Iterable[bytes]) -> None:
        for raw in raws:
            self.write_entry(raw)

    def write_checkpoint(self, note: str) -> None:
        self._out.write(checkpoint_line(note))

    def close(self, *, complete: bool = True) -> None:
        """Finish the file; ``complete=False`` (an error cut the export short) leaves the end line out, so that
        ``tracseq verify`` reports the file as cut short instead of taking it for a whole export."""
        if self._out.closed:
            return
        if complete:
            self._out.write(end_line(self.entries, self.next_seq))
        if self._out is not self._raw:
            self._out.close()
        self._raw.flush()
        self._raw.close()

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(complete=exc_type is None)


@dataclass(frozen=True)
class Trust:
    """What an auditor trusts: log signer keys, witness keys, and witnessed checkpoints obtained independently."""

    log_keys: tuple[VerifierKey, ...] = ()
    witness_keys: tuple[VerifierKey, ...] = ()
    checkpoints: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": TRUST_FORMAT,
                "version": 1,
                "log_keys": [k.vkey for k in self.log_keys],
                "witness_keys": [k.vkey for k in self.witness_keys],
                "checkpoints": list(self.checkpoints),
            },
            indent=2,
        )

    @classmethod
    def load(cls, path: Path) -> Trust:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise MalformedError(f"cannot read trust file {path}: {exc.strerror}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedError(f"trust file {path} is not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != TRUST_FORMAT:
            raise MalformedError(f"trust file {path} is not a {TRUST_FORMAT} document")
        try:
            log_keys = tuple(VerifierKey.parse(v) for v in data.get("log_keys", []))
            witness_keys = tuple(VerifierKey.parse(v) for v in data.get("witness_keys", []))
        except (NoteError, AttributeError, TypeError) as exc:
            raise MalformedError(f"trust file {path}: {exc}") from exc
        if any(k.key_type != SIGNER_TYPE for k in log_keys):
            raise MalformedError(f"trust file {path}: log_keys must be signer keys (type 0x01)")
        if any(k.key_type != COSIGNER_TYPE for k in witness_keys):
            raise MalformedError(f"trust file {path}: witness_keys must be cosigner keys (type 0x04)")
        checkpoints = data.get("checkpoints", [])
        if not isinstance(checkpoints, list) or not all(isinstance(c, str) for c in checkpoints):
            raise MalformedError(f"trust file {path}: checkpoints must be a list of signed notes")
        return cls(log_keys=log_keys, witness_keys=witness_keys, checkpoints=tuple(checkpoints))
