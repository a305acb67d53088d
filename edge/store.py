"""The edge's local log store: the signed hash chain in SQLite (WAL, ``synchronous=FULL``).

Appends are assigned their ``seq`` and hash at once and queued in memory; ``flush`` commits the queue in one
transaction, and only after that commit returns (FULL: on disk) may ``checkpoint`` sign a head that covers it.
A crash loses at most the queued, never-signed tail, so an honest edge can never look as if it rewrote its log.
At start-up the store checks the database pages and recomputes the chain from the last checkpoint to the tail;
anything wrong stops the agent with a recovery path instead of being silently rewritten.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.errors import StoreCorruptError, StoreError, StoreFullError
from protocol import (
    ChainedEntry,
    ChainWriter,
    CheckpointBody,
    ExportWriter,
    SigningKey,
    VerifierKey,
    entry_hash,
    genesis_hash,
    parse_checkpoint,
    rotation_payload,
    sign_checkpoint,
)
from protocol.encoding import format_timestamp

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, head BLOB NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (first_seq INTEGER PRIMARY KEY, vkey TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cosigned (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
"""
_SALVAGE = (
    "'tracseq edge export --data-dir DIR --out FILE --salvage' exports every entry that can still be read and names "
    "the seqs that cannot; 'tracseq verify FILE' then checks the chain up to the first missing or bad seq"
)
_RECOVERY = (
    "stop the agent and move the data directory aside (keep it as evidence); give the edge a new [edge] id in its "
    "configuration, start it on an empty data directory and enrol it again (the hub keeps the old log under the old "
    f"id: a log never restarts at seq 0); {_SALVAGE}"
)


@dataclass(frozen=True, slots=True)
class StoreStatus:
    next_seq: int
    durable_seq: int  # entries below this are on disk
    pending: int
    checkpoint_size: int
    checkpoint_at: str | None
    db_bytes: int


class LogStore:
    """One edge's signed log. Not thread-safe for appends: one writer (the agent's event loop) appends; ``flush``
    may run in a worker thread while appends continue."""

    def __init__(self, path: Path, origin: str, key: SigningKey) -> None:
        self.path = path
        self.origin = origin
        self._key = key
        self._lock = threading.Lock()  # one flush or checkpoint at a time
        self._queue_lock = threading.Lock()  # appends (event loop) against the swap in flush (worker thread)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"{path} is not a readable SQLite database: {exc}", _RECOVERY) from exc
        self._pending: list[ChainedEntry] = []
        self._checkpoint_at: str | None = None
        self._chain = self._open_chain()
        self._durable = self._chain.next_seq
        self._durable_head = self._chain.head

    # -- start-up ---------------------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _open_chain(self) -> ChainWriter:
        origin = self._meta("origin")
        if origin is None:
            with self._transaction():
                self._db.execute("INSERT INTO meta VALUES ('origin', ?), ('schema', ?)", (self.origin, SCHEMA_VERSION))
                self._db.execute("INSERT INTO keys VALUES (0, ?)", (self._key.verifier.vkey,))
            return ChainWriter(self.origin)
        if origin != self.origin:
            raise StoreError(f"{self.path} holds the log of {origin!r}, not {self.origin!r}")
        self._check_pages()
        try:
            current = self.keys()[-1][1]
        except (sqlite3.DatabaseError, IndexError) as exc:
            raise StoreCorruptError(f"{self.path}: the key table cannot be read: {exc}", _RECOVERY) from exc
        if current.public != self._key.public:
            raise StoreError(
                f"the key file does not match the log's current signing key {current.key_id.hex()} "
                f"(this key is {self._key.key_id.hex()}); use the key file the log was written with"
            )
        try:
            return self._check_tail()
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"{self.path} is corrupt: {exc}", _RECOVERY) from exc

    def _check_pages(self) -> None:
        try:
            rows = self._db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(f"{self.path} is corrupt: {exc}", _RECOVERY) from exc
        if rows != [("ok",)]:
            problems = "; ".join(str(r[0]) for r in rows[:3])
            raise StoreCorruptError(f"{self.path} failed its page check: {problems}", _RECOVERY)

    def _check_tail(self) -> ChainWriter:
        """Recompute the whole chain and every checkpoint head; return a writer positioned after the last entry.

        One pass at about a million entries a second: a restart is rare, and a corrupt page inside an entry's
        bytes is only visible to the hash.
        """
        marks = self._db.execute("SELECT size, head, note FROM checkpoints ORDER BY size").fetchall()
        if marks:
            self._checkpoint_at = str(marks[-1][2]).split("\n", 1)[0]
        heads = {int(size): _as_bytes(head) for size, head, _ in marks}
        first = self._db.execute("SELECT MIN(seq) FROM entries").fetchone()[0]
        seq = int(first or 0)
        prev: bytes | None = genesis_hash(self.origin) if seq == 0 else None
        pruned_head = self._meta("pruned_head")
        if seq > 0 and pruned_head is not None and self._meta("pruned_before") == str(seq):
            prev = bytes.fromhex(pruned_head)  # the first kept entry must link to the last pruned one
        for seq_value, raw in self._db.execute("SELECT seq, raw FROM entries ORDER BY seq"):
            raw_bytes = _as_bytes(raw)
            if seq_value != seq:
                raise StoreCorruptError(f"entry {seq} is missing (the next stored entry is {seq_value})", _RECOVERY)
            if prev is not None and f'"prev":"{prev.hex()}"'.encode() not in raw_bytes[:120]:
                raise StoreCorruptError(f"entry {seq} does not link to entry {seq - 1}", _RECOVERY)
            prev = entry_hash(raw_bytes)
            seq += 1
            signed = heads.get(seq)
            if signed is not None and signed != prev:
                raise StoreCorruptError(f"entry {seq - 1} no longer matches the checkpoint signed over it", _RECOVERY)
        last = max(heads, default=0)
        if last > seq:
            raise StoreCorruptError(f"entries {seq}–{last - 1}, covered by a signed checkpoint, are missing", _RECOVERY)
        return ChainWriter(self.origin, next_seq=seq, head=prev if prev is not None else genesis_hash(self.origin))

    # -- writing ----------------------------------------------------------------------------------------------

    def append(self, kind: str, payload: Mapping[str, object], ts: datetime, mono_ns: int) -> ChainedEntry:
        with self._queue_lock:
            entry = self._chain.append(kind, payload, ts, mono_ns)
            self._pending.append(entry)
        return entry

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Commit every queued entry durably; return how many. Safe to call from a worker thread."""
        with self._lock:
            with self._queue_lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                with self._transaction():
                    self._db.executemany("INSERT INTO entries (seq, raw) VALUES (?, ?)", [e[:2] for e in batch])
            except sqlite3.OperationalError as exc:
                with self._queue_lock:
                    self._pending = batch + self._pending  # keep them queued: nothing is dropped
                if "full" in str(exc).lower():
                    raise StoreFullError(f"the disk holding {self.path} is full: {exc}") from exc
                raise StoreError(f"could not write to {self.path}: {exc}") from exc
            self._durable = batch[-1].seq + 1
            self._durable_head = batch[-1].hash
            return len(batch)

    def checkpoint(self) -> str | None:
        """Flush, then sign and store a checkpoint over the durable head. None when nothing is new."""
        self.flush()
        return self._sign_durable_head()

    def _sign_durable_head(self) -> str | None:
        with self._lock:
            size = self._durable
            last = self._db.execute("SELECT MAX(size) FROM checkpoints").fetchone()[0]
            if last is not None and int(last) >= size:
                return None
            head = self._durable_head
            note = sign_checkpoint(CheckpointBody(self.origin, size, head), [self._key]).render()
            with self._transaction():
                self._db.execute("INSERT INTO checkpoints (size, head, note) VALUES (?, ?, ?)", (size, head, note))
            self._checkpoint_at = note
            return note

    def rotate_key(self, new_key: SigningKey, ts: datetime, mono_ns: int) -> ChainedEntry:
        """Append a rotation entry signed by the current key; the new key signs from the next seq on."""
        from_seq = self._chain.next_seq + 1
        payload = rotation_payload(self.origin, self._key, new_key.verifier.vkey, from_seq)
        entry = self.append("key_rotation", payload, ts, mono_ns)
        self.checkpoint()  # the old key signs over its own retirement
        with self._lock, self._transaction():
            self._db.execute("INSERT INTO keys VALUES (?, ?)", (from_seq, new_key.verifier.vkey))
        self._key = new_key
        return entry

    # -- sync (the sender's view of the store) ---------------------------------------------------------------

    def acked_seq(self) -> int:
        """The hub holds every entry below this seq (as it last told us)."""
        with self._lock:
            value = self._meta("acked_seq")
        return int(value) if value is not None else 0

    def set_acked_seq(self, seq: int) -> None:
        with self._lock, self._transaction():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('acked_seq', ?)", (str(seq),))

    def read_entries(self, from_seq: int, max_entries: int, max_bytes: int) -> list[bytes]:
        """Durable entries from ``from_seq``, at most ``max_entries`` and about ``max_bytes``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT raw FROM entries WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?",
                (from_seq, self._durable, max_entries),
            ).fetchall()
        out: list[bytes] = []
        size = 0
        for (raw,) in rows:
            size += len(raw) + 1
            if out and size > max_bytes:
                break
            out.append(bytes(raw))
        return out

    def checkpoint_upto(self, upto_size: int) -> str | None:
        """The newest checkpoint with size <= ``upto_size``; signs a fresh one when the batch ends at the durable
        head, so each sync asks the hub to witness everything it sends. (Without a flush first: a flush would move
        the head past the batch, and the fresh checkpoint could not travel with it.)"""
        if upto_size == self._durable:
            self._sign_durable_head()
        with self._lock:
            row = self._db.execute(
                "SELECT note FROM checkpoints WHERE size <= ? ORDER BY size DESC LIMIT 1", (upto_size,)
            ).fetchone()
        return None if row is None else str(row[0])

    def store_cosigned(self, note: str) -> None:
        """Keep the hub's cosignature with the log: exports carry it, and ``tracseq verify`` then detects
        truncation against the witness."""
        size = checkpoint_size(note)
        with self._lock, self._transaction():
            self._db.execute("INSERT OR REPLACE INTO cosigned VALUES (?, ?)", (size, note))

    def cosigned_size(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(size) FROM cosigned").fetchone()
        return int(row[0] or 0)

    # -- retention --------------------------------------------------------------------------------------------

    def prune(self, older_than: datetime, *, batch: int = 5000) -> int:
        """Delete entries the hub has cosigned AND that are older than ``older_than``; never anything else.

        The hash of the last deleted entry is kept, so the chain still checks from the first entry kept and
        exports from there name the link they start from.
        """
        cutoff = format_timestamp(older_than)
        limit = self.cosigned_size()
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, raw FROM entries WHERE seq < ? ORDER BY seq LIMIT ?", (limit, batch)
            ).fetchall()
            last: tuple[int, bytes] | None = None
            for seq, raw in rows:
                raw_bytes = _as_bytes(raw)
                start = raw_bytes.find(b'"ts":"') + 6
                if raw_bytes[start : start + 27].decode("ascii", "replace") >= cutoff:
                    break
                last = (int(seq), raw_bytes)
            if last is None:
                return 0
            seq, raw_bytes = last
            with self._transaction():
                deleted = self._db.execute("DELETE FROM entries WHERE seq <= ?", (seq,)).rowcount
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('pruned_before', ?), ('pruned_head', ?)",
                    (str(seq + 1), entry_hash(raw_bytes).hex()),
                )
        return int(deleted)

    # -- reading ----------------------------------------------------------------------------------------------

    def keys(self) -> list[tuple[int, VerifierKey]]:
        rows = self._db.execute("SELECT first_seq, vkey FROM keys ORDER BY first_seq").fetchall()
        return [(int(first), VerifierKey.parse(str(vkey))) for first, vkey in rows]

    def last_entry(self) -> bytes | None:
        row = self._db.execute("SELECT raw FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else bytes(row[0])

    def entries(self, from_seq: int = 0) -> Iterator[tuple[int, bytes]]:
        for seq, raw in self._db.execute("SELECT seq, raw FROM entries WHERE seq >= ? ORDER BY seq", (from_seq,)):
            yield int(seq), bytes(raw)

    def status(self) -> StoreStatus:
        size = self._db.execute("SELECT MAX(size) FROM checkpoints").fetchone()[0]
        return StoreStatus(
            next_seq=self._chain.next_seq,
            durable_seq=self._durable,
            pending=len(self._pending),
            checkpoint_size=int(size or 0),
            checkpoint_at=None,
            db_bytes=self.disk_usage(),
        )

    def disk_usage(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            candidate = Path(f"{self.path}{suffix}")
            if candidate.exists():
                total += candidate.stat().st_size
        return total

    def export(self, out: Path, from_seq: int = 0) -> int:
        """Write an export that ``tracseq verify`` accepts; flushes and checkpoints first. Returns entries written."""
        self.checkpoint()
        with self._lock:
            return write_export(self._db, out, from_seq)

    def close(self) -> None:
        self._db.close()

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def _as_bytes(value: object) -> bytes:
    """A BLOB column as bytes; a value someone rewrote as TEXT still hashes as its UTF-8 bytes."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise StoreCorruptError(f"a stored entry is a {type(value).__name__}, not bytes", _RECOVERY)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")


def checkpoint_size(note: str) -> int:
    return parse_checkpoint(note)[1].size


def write_export(db: sqlite3.Connection, out: Path, from_seq: int = 0) -> int:
    """Stream the log in ``db`` to an export file, entries from ``from_seq`` with their checkpoints."""
    db.execute("BEGIN")  # one read transaction: a consistent snapshot while an agent keeps writing
    try:
        origin_row = db.execute("SELECT value FROM meta WHERE key = 'origin'").fetchone()
        if origin_row is None:
            raise StoreError("the database holds no log (no origin recorded)")
        origin = str(origin_row[0])
        first = db.execute("SELECT MIN(seq) FROM entries").fetchone()[0]
        start = max(from_seq, int(first or 0))
        start_prev = None
        if start > 0:
            row = db.execute("SELECT raw FROM entries WHERE seq = ?", (start - 1,)).fetchone()
            start_prev = entry_hash(bytes(row[0])) if row is not None else None
            if row is None:
                pruned = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('pruned_before', 'pruned_head')"))
                if pruned.get("pruned_before") == str(start):
                    start_prev = bytes.fromhex(str(pruned["pruned_head"]))
        # a checkpoint of size == start signs the link the export starts from (start_prev): it can be checked too
        floor = start if start_prev is not None else start + 1
        checkpoints = db.execute(
            "SELECT size, note FROM checkpoints WHERE size >= ? ORDER BY size", (floor,)
        ).fetchall()
        cosigned = dict(db.execute("SELECT size, note FROM cosigned WHERE size >= ?", (floor,)).fetchall())
        # a checkpoint the hub cosigned travels with the witness's line; the newest also goes up front, so an
        # export cut short shows against it
        checkpoints = [(size, cosigned.get(size, note)) for size, note in checkpoints]
        keys = [VerifierKey.parse(str(v)) for (v,) in db.execute("SELECT vkey FROM keys ORDER BY first_seq")]
        written = 0
        with ExportWriter(out, origin=origin, log_keys=keys, start_seq=start, start_prev=start_prev) as writer:
            if cosigned:
                writer.write_checkpoint(str(cosigned[max(cosigned)]))
            marks = iter(checkpoints)
            mark = next(marks, None)
            while mark is not None and int(mark[0]) == start:  # over the link the export starts from
                writer.write_checkpoint(str(mark[1]))
                mark = next(marks, None)
            for seq, raw in db.execute("SELECT seq, raw FROM entries WHERE seq >= ? ORDER BY seq", (start,)):
                writer.write_entry(bytes(raw))
                written += 1
                while mark is not None and int(mark[0]) == int(seq) + 1:
                    writer.write_checkpoint(str(mark[1]))
                    mark = next(marks, None)
        return written
    finally:
        db.execute("COMMIT")


def export_log(db_path: Path, out: Path, from_seq: int = 0) -> int:
    """Export from a store that an agent may be writing right now, read-only, without its key."""
    if not db_path.exists():
        raise StoreError(f"there is no log at {db_path}")
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)
    try:
        return write_export(db, out, from_seq)
    except sqlite3.DatabaseError as exc:
        out.unlink(missing_ok=True)  # half an export is not one
        raise StoreCorruptError(f"{db_path} cannot be read: {exc}", _SALVAGE) from exc
    finally:
        db.close()
