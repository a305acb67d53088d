"""Salvage: export every entry that can still be read from a damaged edge log, with the gaps named.

The store refuses to start on a damaged database (``StoreCorruptError``) and the recovery path is to move the data
directory aside and start afresh. What is left in the old one is evidence: an auditor needs every entry that can
still be read, and to be told exactly which seqs could not. SQLite has no such reader in Python (the shell's
``.recover`` is not in the standard library), so this one works row by row over a copy:

- the evidence is never opened for writing: ``log.db`` (and its ``-wal``, which holds committed transactions) are
  copied to a temporary directory beside the output first;
- a file cut short (a copy that stopped, a disk that filled) is padded back to the length its header records, so
  the pages before the cut can be read and only the rows on missing pages are lost;
- entries are read in seq ranges; a range that raises is halved down to single rows, so one bad page costs only
  the rows it held. A row that is absent (its cell overwritten) is a gap too.

The export it writes is the normal format: ``tracseq verify`` checks the chain up to the first gap, names it
("entry N is missing"), and exits non-zero. The report lists every unreadable range.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from edge.errors import StoreCorruptError, StoreError
from protocol import ExportWriter, KeyFileError, NoteError, VerifierKey

_HEADER = b"SQLite format 3\x00"
_CHUNK = 1024  # seqs per range read
_EMPTY_CHUNKS_PAST_END = 16  # clean, empty ranges after the highest known seq before the scan stops

T = TypeVar("T")


@dataclass
class SalvageReport:
    """What a salvage found: entries exported, the seqs it could not read, and the parts it had to do without."""

    entries: int = 0
    first_seq: int | None = None
    next_seq: int = 0
    unreadable: list[tuple[int, int]] = field(default_factory=list)  # inclusive seq ranges
    notes: list[str] = field(default_factory=list)
    padded_bytes: int = 0
    unreadable_tail_from: int | None = None  # rows from here on raised, and how many there were is not known

    @property
    def complete(self) -> bool:
        return not self.unreadable and self.unreadable_tail_from is None

    def lost(self) -> int:
        return sum(b - a + 1 for a, b in self.unreadable)

    def ranges(self) -> str:
        return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in self.unreadable)


def salvage_export(db_path: Path, out: Path) -> SalvageReport:
    """Export what can be read of the log at ``db_path`` (a damaged ``log.db``) to ``out``; see the module's notes.

    Raises ``StoreError`` when there is no log there and ``StoreCorruptError`` when nothing can be salvaged (no
    SQLite header, or neither the database nor the key file beside it names the log's origin)."""
    if not db_path.is_file():
        raise StoreError(f"there is no log at {db_path}")
    with tempfile.TemporaryDirectory(prefix=".tracseq-salvage-", dir=out.parent) as tmp:
        copy = Path(tmp) / "log.db"
        shutil.copyfile(db_path, copy)
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, copy.with_name("log.db-wal"))
        report = SalvageReport()
        report.padded_bytes = _pad_to_header_length(copy)
        if report.padded_bytes:
            report.notes.append(f"the file is {report.padded_bytes:,} bytes shorter than its header says (cut short)")
        db = sqlite3.connect(copy, isolation_level=None)
        try:
            _export(db, db_path, out, report)
        finally:
            db.close()
    return report


def _pad_to_header_length(path: Path) -> int:
    """Extend a file cut short to the size its header records (page size × page count); the bytes added."""
    with path.open("rb") as f:
        header = f.read(100)
    if len(header) < 100 or not header.startswith(_HEADER):
        raise StoreCorruptError(f"{path.name} has no SQLite header: nothing can be salvaged", "")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    recorded = page_size * int.from_bytes(header[28:32], "big")
    size = path.stat().st_size
    if recorded <= size:
        return 0
    with path.open("r+b") as f:
        f.truncate(recorded)  # zero pages: SQLite reports rows that point there as malformed, others read fine
    return recorded - size


def _attempt(report: SalvageReport, what: str, read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except sqlite3.DatabaseError as exc:
        report.notes.append(f"{what} could not be read ({exc})")
        return default


def _export(db: sqlite3.Connection, evidence: Path, out: Path, report: SalvageReport) -> None:
    meta: dict[str, str] = _attempt(
        report, "the meta table", lambda: {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}, {}
    )
    pub = _public_key_beside(evidence)
    origin = meta.get("origin") or (pub.name if pub is not None else None)
    if origin is None:
        raise StoreCorruptError(
            f"{evidence}: neither the database nor edge.key.pub beside it names the log's origin; nothing exported",
            "",
        )
    keys: list[VerifierKey] = _attempt(
        report,
        "the keys table",
        lambda: [VerifierKey.parse(str(v)) for (v,) in db.execute("SELECT vkey FROM keys ORDER BY first_seq")],
        [],
    )
    if not keys and pub is not None:
        keys = [pub]
        report.notes.append("the log's key was taken from edge.key.pub")
    checkpoints: dict[int, str] = _attempt(
        report, "the checkpoints table", lambda: dict(db.execute("SELECT size, note FROM checkpoints")), {}
    )
    cosigned: dict[int, str] = _attempt(
        report, "the cosignatures", lambda: dict(db.execute("SELECT size, note FROM cosigned")), {}
    )
    marks = {size: cosigned.get(size, note) for size, note in checkpoints.items()}
    highest = _attempt(
        report, "the highest seq", lambda: db.execute("SELECT MAX(seq) FROM entries").fetchone()[0], None
    )
    # the log reached at least: the row after the highest seq, every checkpoint's size, the hub's acknowledged count,
    # what the agent last wrote to its status file
    known_end = max(
        [0, *checkpoints, *cosigned, int(meta.get("acked_seq", "0") or 0), _status_next_seq(evidence)]
        + ([int(highest) + 1] if highest is not None else [])
    )
    pruned_before = int(meta.get("pruned_before", "0") or 0)
    start_prev = bytes.fromhex(meta["pruned_head"]) if pruned_before and "pruned_head" in meta else None
    writer: ExportWriter | None = None
    expected = pruned_before
    try:
        for seq, raw in _readable_entries(db, pruned_before, known_end, report):
            if writer is None:
                report.first_seq = seq
                prev = start_prev if seq == pruned_before else None
                writer = ExportWriter(out, origin=origin, log_keys=keys, start_seq=seq, start_prev=prev)
                if cosigned:
                    writer.write_checkpoint(cosigned[max(cosigned)])
                expected = seq
            if seq > expected:
                report.unreadable.append((expected, seq - 1))
            writer.write_entry(raw)
            writer.next_seq = seq + 1  # the end line names the seq after the last one written, across gaps
            report.entries += 1
            if seq + 1 in marks:
                writer.write_checkpoint(marks[seq + 1])
            expected = seq + 1
        if writer is None:
            writer = ExportWriter(out, origin=origin, log_keys=keys, start_seq=pruned_before, start_prev=start_prev)
            expected = pruned_before
        if expected < known_end:
            report.unreadable.append((expected, known_end - 1))
        report.next_seq = max(expected, known_end)
        # the end record names how far the log is known to have run: an export missing its tail then fails
        # 'tracseq verify' as truncated instead of passing as a shorter log
        writer.next_seq = report.next_seq
    finally:
        if writer is not None:
            writer.close()
    report.unreadable = _merge(report.unreadable)


def _readable_entries(
    db: sqlite3.Connection, start: int, known_end: int, report: SalvageReport
) -> Iterator[tuple[int, bytes]]:
    """(seq, raw) of every row that reads, in seq order, from ``start``; rows that raise or are not entries go to
    ``report.unreadable``. Past ``known_end`` (the least the log is known to have reached) the scan goes on while
    rows keep turning up and stops after a run of ranges with none; failures there count only if a readable row
    follows them (how far a log ran past what is known cannot be told from rows that cannot be read)."""
    low, barren = start, 0
    pending: list[tuple[int, int]] = []  # failures past known_end, kept once a readable row follows
    while low < known_end or barren < _EMPTY_CHUNKS_PAST_END:
        high = low + _CHUNK - 1
        rows, failed = _read_range(db, low, high)
        found = False
        for seq, raw in sorted([*rows, *((s, None) for s in failed)], key=lambda r: r[0]):
            if isinstance(raw, bytes) and _is_entry(seq, raw):
                report.unreadable.extend(pending)
                pending, found = [], True
                yield seq, raw
            elif seq < known_end:
                report.unreadable.append((seq, seq))
            else:
                pending.append((seq, seq))
        barren = 0 if found or high < known_end else barren + 1
        low = high + 1
    if pending:
        report.unreadable_tail_from = pending[0][0]


def _read_range(db: sqlite3.Connection, low: int, high: int) -> tuple[list[tuple[int, object]], list[int]]:
    """Rows with ``low <= seq <= high``; a range that raises is halved until the bad rows are single seqs."""
    try:
        rows = [
            (int(s), bytes(r) if isinstance(r, bytes | memoryview) else r)
            for s, r in db.execute("SELECT seq, raw FROM entries WHERE seq BETWEEN ? AND ? ORDER BY seq", (low, high))
        ]
        seqs = [s for s, _ in rows]
        if all(low <= s <= high for s in seqs) and len(set(seqs)) == len(seqs):
            return rows, []
        # a damaged page can hand back rows it does not hold (zeroed cells read as seq 0): the range is not to be
        # trusted, so it is read again in halves like one that raised
    except sqlite3.DatabaseError:
        pass
    if low == high:
        return [], [low]
    mid = (low + high) // 2
    rows_a, bad_a = _read_range(db, low, mid)
    rows_b, bad_b = _read_range(db, mid + 1, high)
    return rows_a + rows_b, bad_a + bad_b


def _is_entry(seq: int, raw: object) -> bool:
    """A row that still reads as this seq's entry: a damaged cell can come back as text, as another row's bytes or
    as an entry with garbage inside. Such a row is named as unreadable, not exported (``tracseq verify`` would stop
    at it anyway, and the report must not count it as saved)."""
    if not isinstance(raw, bytes) or not raw.startswith(b'{"v":'):
        return False
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(entry, dict) and entry.get("seq") == seq and isinstance(entry.get("payload"), dict)


def _status_next_seq(db_path: Path) -> int:
    try:
        status = json.loads(db_path.with_name("status.json").read_text(encoding="utf-8"))
        return int(status["log"]["next_seq"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _public_key_beside(db_path: Path) -> VerifierKey | None:
    try:
        return VerifierKey.parse(db_path.with_name("edge.key.pub").read_text(encoding="utf-8"))
    except (OSError, NoteError, KeyFileError, ValueError):
        return None


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
