"""The streaming verifier behind ``tracseq verify``: one pass, constant memory, fail closed.

Every entry line is hashed exactly as read; its ``seq`` and ``prev`` are checked against the running chain;
every checkpoint's signatures are checked against trusted keys and its head against the chain at its size; every
cosignature against trusted witnesses. The first failure stops the pass and names the first bad ``seq``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from protocol.checkpoint import CheckpointBody, parse_checkpoint, verify_cosignatures
from protocol.encoding import ENTRY_DOMAIN, genesis_hash
from protocol.errors import (
    ForkedError,
    MalformedError,
    NoteError,
    SignatureError,
    TamperedError,
    TruncatedError,
    UntrustedError,
    VerificationError,
)
from protocol.export import EXPORT_FORMAT, EXPORT_VERSION, Trust
from protocol.keys import VerifierKey
from protocol.models import KeyRotation
from protocol.note import Note, verify_note

_MAX_PENDING = 4096
_RECENT_CHECKPOINTS = 1024
_FUTURE_SKEW = timedelta(minutes=5)
_PROGRESS_EVERY = 65536


class _Entry(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    v: int
    seq: int
    prev: str
    ts: str
    mono: int
    kind: str
    payload: msgspec.Raw


@dataclass
class Report:
    """What the pass proved, or where it stopped."""

    origin: str | None = None
    exit_code: int = 0
    failure: str | None = None
    failure_kind: str | None = None
    first_bad_seq: int | None = None
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    first_ts: str | None = None
    last_ts: str | None = None
    key_ids: list[str] = field(default_factory=list)
    rotations: int = 0
    checkpoints_verified: int = 0
    signed_size: int | None = None
    witnessed_size: int | None = None
    witnessed_time: str | None = None
    witnesses: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def next_seq(self) -> int | None:
        return None if self.last_seq is None else self.last_seq + 1

    @property
    def unsigned_tail(self) -> int:
        end = self.next_seq or 0
        return max(0, end - (self.signed_size if self.signed_size is not None else (self.first_seq or 0)))

    @property
    def unwitnessed_tail(self) -> int:
        end = self.next_seq or 0
        return max(0, end - (self.witnessed_size if self.witnessed_size is not None else (self.first_seq or 0)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "failure": self.failure,
            "failure_kind": self.failure_kind,
            "first_bad_seq": self.first_bad_seq,
            "origin": self.origin,
            "entries": self.entries,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "key_ids": self.key_ids,
            "key_rotations": self.rotations,
            "checkpoints_verified": self.checkpoints_verified,
            "signed_size": self.signed_size,
            "unsigned_tail": self.unsigned_tail,
            "witnessed_size": self.witnessed_size,
            "witnessed_time": self.witnessed_time,
            "witnesses": self.witnesses,
            "unwitnessed_tail": self.unwitnessed_tail,
            "warnings": self.warnings,
        }


@dataclass
class _Pending:
    body: CheckpointBody
    signers: list[str]
    witnesses: list[str]
    witnessed_time: int | None
    trusted: bool


def _keymap(keys: Iterable[VerifierKey]) -> dict[tuple[str, bytes], VerifierKey]:
    return {(k.name, k.key_id): k for k in keys}


class Verifier:
    """Feed it the lines of an export (each ending in ``\\n`` except perhaps the last), then call ``finish``."""

    def __init__(self, trust: Trust | None, *, now: datetime | None = None, strict: bool = False) -> None:
        """``strict`` decodes every entry in full (payload syntax, time order and future dates included);
        the default decodes only the entries that leave the fast path (see ``_run``)."""
        self.trust = trust
        self._strict = strict
        self.report = Report()
        self._now = now or datetime.now(UTC)
        self._future_limit = (self._now + _FUTURE_SKEW).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._trusted = _keymap(trust.log_keys) if trust else {}
        self._witnesses = _keymap(trust.witness_keys) if trust else {}
        self._known: dict[tuple[str, bytes], VerifierKey] = dict(self._trusted)
        # signer keys in force: (first seq, key); a rotation appends, later entries need the newest key
        self._rotations: list[tuple[int, VerifierKey]] = []
        self._header_seen = False
        self._anchored = True
        self._ended = False
        self._origin = ""
        self._expected = 0
        self._head_hex = ""
        self._last_raw = b""
        self._last_ts = ""
        self._pending: dict[int, list[_Pending]] = {}
        self._recent: OrderedDict[int, bytes] = OrderedDict()
        self._suspect: tuple[str, int, str] | None = None  # ("undecodable"|"link", position, hash)
        self._backwards = 0
        self._future = 0
        self._trusted_signature_seen = False
        self._end_record: dict[str, Any] | None = None
        self._decoder = msgspec.json.Decoder(_Entry)

    # -- the pass -------------------------------------------------------------------------------------------------

    def run(self, lines: Iterable[bytes], progress: Callable[[int], None] | None = None) -> Report:
        try:
            self._run(lines, progress)
            self.finish()
        except VerificationError as exc:
            self._fail(exc)
        return self.report

    def _run(self, lines: Iterable[bytes], progress: Callable[[int], None] | None) -> None:
        # The fast path takes an entry that continues the chain: its fixed-layout head (version, seq, prev, start
        # of the time) must be byte for byte what the specification's encoder writes for the expected seq and the
        # running head, which proves order and link without decoding; the hash covers the rest. Anything else
        # (records, mismatches, key rotations, checkpoints waiting for this size, and every entry in strict mode)
        # goes through the methods below, which decode and diagnose, with state synced to self.
        sha256 = hashlib.sha256
        domain = ENTRY_DOMAIN
        pending = self._pending
        fast = not self._strict
        count = 0
        expected = self._expected
        head = self._head_hex.encode()
        last_line = self._last_raw
        for line in lines:
            if (
                fast
                and line.startswith(b'{"v":1,"seq":%d,"prev":"%s","ts":"' % (expected, head))
                and line[-2:] == b"}\n"
                and line.find(b'"key_rotation"', 90, 180) < 0
                and count
                and self._suspect is None
            ):
                expected += 1
                head = sha256(domain + line[:-1]).hexdigest().encode()
                last_line = line
                count += 1
                if pending and expected in pending:
                    self._sync(expected, head, last_line)
                    self._reach_pending()
                if progress is not None and count % _PROGRESS_EVERY == 0:
                    progress(count)
                continue
            self._sync(expected, head, last_line)
            if self._slow_line(line):
                count += 1
            expected, head, last_line = self._expected, self._head_hex.encode(), self._last_raw
        self._sync(expected, head, last_line)

    def _sync(self, expected: int, head: bytes, last_line: bytes) -> None:
        if expected != self._expected:
            self.report.last_seq = expected - 1
            start = last_line.find(b'"ts":"') + 6
            self._last_ts = self.report.last_ts = last_line[start : start + 27].decode("ascii", "replace")
        self._expected = expected
        self._head_hex = head.decode("ascii")
        self._last_raw = last_line

    def _slow_line(self, line: bytes) -> bool:
        """Handle one line off the fast path; True when it was an entry."""
        if not self._header_seen:
            self._header(line)
            return False
        if self._ended:
            raise MalformedError("records follow the end record")
        if line.startswith(b'{"type":'):
            self._record(line)
            return False
        complete = line.endswith(b"\n")
        raw = line[:-1] if complete else line  # no newline: the last line of a file that may have been cut
        digest = hashlib.sha256(ENTRY_DOMAIN + raw).hexdigest()
        try:
            entry: _Entry | None = self._decoder.decode(line)
        except msgspec.DecodeError:
            entry = None
        self._slow_entry(line, entry, digest, complete=complete)
        return True

    def _slow_entry(self, line: bytes, entry: _Entry | None, digest: str, *, complete: bool = True) -> None:
        if self._ended:
            raise MalformedError("records follow the end record")
        if entry is None:
            self._undecodable(line, digest, complete=complete)
            return
        if self._suspect is not None:
            self._resolve_suspect(entry.prev)
        if entry.seq != self._expected or entry.prev != self._head_hex or entry.v != 1:
            self._entry_mismatch(entry, line, digest)
        else:
            self._accept(entry, line, digest)
        if self._pending and self._expected in self._pending:
            self._reach_pending()

    def _accept(self, entry: _Entry, raw: bytes, digest: str) -> None:
        report = self.report
        if report.first_seq is None:
            report.first_seq = entry.seq
            report.first_ts = entry.ts
        if entry.ts < self._last_ts:
            self._backwards += 1
            if self._backwards == 1:
                report.warnings.append(f"the clock went backwards at seq {entry.seq} (order is by seq)")
        if entry.ts > self._future_limit:
            self._future += 1
            if self._future == 1:
                report.warnings.append(f"seq {entry.seq} is stamped in the future ({entry.ts})")
        if entry.kind == "key_rotation":
            self._rotation(entry)
        self._last_ts = entry.ts
        self._last_raw = raw
        self._expected = entry.seq + 1
        self._head_hex = digest
        report.last_seq = entry.seq
        report.last_ts = entry.ts

    # -- records -------------------------------------------------------------------------------------------------

    def _header(self, line: bytes) -> None:
        try:
            header = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedError("the first line is not a JSON export header") from exc
        if not isinstance(header, dict) or header.get("type") != "header" or header.get("format") != EXPORT_FORMAT:
            raise MalformedError(f"not a {EXPORT_FORMAT} stream: the first line is not its header")
        if header.get("version") != EXPORT_VERSION:
            raise MalformedError(f"export version {header.get('version')!r} is not supported (expected 1)")
        origin = header.get("origin")
        start = header.get("start") or {}
        if not isinstance(origin, str) or not origin or not isinstance(start, dict):
            raise MalformedError("the export header has no origin")
        start_seq = start.get("seq", 0)
        start_prev = start.get("prev")
        if not isinstance(start_seq, int) or start_seq < 0:
            raise MalformedError("the export header's start seq is not a non-negative integer")
        try:
            header_keys = [VerifierKey.parse(v) for v in header.get("log_keys", [])]
            head = bytes.fromhex(start_prev) if isinstance(start_prev, str) else None
        except (NoteError, ValueError, TypeError, AttributeError) as exc:
            raise MalformedError(f"the export header is malformed: {exc}") from exc
        self._origin = origin
        self.report.origin = origin
        self._expected = start_seq
        if head is None:
            if start_seq != 0:
                self.report.warnings.append(
                    f"partial export from seq {start_seq} without an anchor: the first link is not checked"
                )
            head = genesis_hash(origin)
        self._head_hex = head.hex()
        self._anchored = start_seq == 0 or isinstance(start_prev, str)
        if not self._trusted:
            # nothing trusted: still check every signature against the keys the export names, then say so
            self._known = _keymap(header_keys)
        self._header_seen = True
        if self.trust:
            for note in self.trust.checkpoints:
                self._checkpoint(note, from_trust=True)

    def _record(self, line: bytes) -> None:
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if not line.endswith(b"\n"):
                raise TruncatedError(
                    "the export ends in the middle of a record: the file was cut", seq=self._expected
                ) from exc
            raise MalformedError(f"a record after seq {self._expected - 1} is not valid JSON") from exc
        kind = record.get("type") if isinstance(record, dict) else None
        if kind == "checkpoint":
            note = record.get("note")
            if not isinstance(note, str):
                raise MalformedError("a checkpoint record has no note")
            self._checkpoint(note, from_trust=False)
        elif kind == "end":
            self._ended = True
            self._end_record = record
        else:
            raise MalformedError(f"unknown record type {kind!r} after seq {self._expected - 1}")

    def _checkpoint(self, text: str, *, from_trust: bool) -> None:
        where = "the trust file" if from_trust else "the export"
        try:
            note, body = parse_checkpoint(text)
        except NoteError as exc:
            raise MalformedError(f"a checkpoint in {where} is malformed: {exc}") from exc
        if body.origin != self._origin:
            raise MalformedError(f"a checkpoint in {where} is for origin {body.origin!r}, not {self._origin!r}")
        try:
            signers = self._signers(note, body)
            cosigs = verify_cosignatures(note, self._witnesses)
        except SignatureError as exc:
            raise TamperedError(f"checkpoint at size {body.size}: {exc}", seq=max(body.size - 1, 0)) from exc
        if not signers and not cosigs:
            return  # no known key speaks for it: ignored, as the signed-note specification says
        pending = _Pending(
            body=body,
            signers=[k.key_id.hex() for k in signers],
            witnesses=sorted({c.witness for c in cosigs}),
            witnessed_time=max((c.timestamp for c in cosigs), default=None),
            trusted=any((k.name, k.key_id) in self._trusted for k in signers) or bool(cosigs),
        )
        if self._suspect is not None and body.size == self._expected:
            self._resolve_suspect(body.head.hex())
        previous = self._recent.get(body.size)
        if previous is not None and previous != body.head:
            raise ForkedError(
                f"two checkpoints are signed for size {body.size} with different heads: the log was forked",
                seq=max(body.size - 1, 0),
            )
        if body.size == self._expected or previous is not None:
            self._settle(pending)
        elif body.size > self._expected:
            queue = self._pending.setdefault(body.size, [])
            queue.append(pending)
            if sum(len(q) for q in self._pending.values()) > _MAX_PENDING:
                raise MalformedError("too many checkpoints ahead of their entries")
        elif self.report.first_seq is None or body.size > self.report.first_seq:
            raise MalformedError(
                f"the checkpoint for size {body.size} comes after entry {self._expected - 1}; "
                "exports list checkpoints right after their last entry"
            )

    def _signers(self, note: Note, body: CheckpointBody) -> list[VerifierKey]:
        signers = verify_note(note, self._known)
        if not signers:
            return []
        required = self._key_for(body.size - 1)
        if required is not None and all(k.key_id != required.key_id for k in signers):
            raise SignatureError(
                f"signed by the retired key {signers[0].key_id.hex()}; from seq {self._rotations[-1][0]} "
                f"the log signs with {required.key_id.hex()}"
            )
        for key in signers:
            if key.key_id.hex() not in self.report.key_ids:
                self.report.key_ids.append(key.key_id.hex())
        return signers

    def _key_for(self, seq: int) -> VerifierKey | None:
        required = None
        for first, key in self._rotations:
            if seq >= first:
                required = key
        return required

    def _settle(self, pending: _Pending) -> None:
        body = pending.body
        if body.head.hex() != self._head_hex:
            raise TamperedError(
                f"the entries up to size {body.size} do not hash to the head its checkpoint signs: "
                f"entry {body.size - 1} was altered",
                seq=max(body.size - 1, 0),
            )
        report = self.report
        if body.size not in self._recent:
            report.checkpoints_verified += 1
        self._recent[body.size] = body.head
        if len(self._recent) > _RECENT_CHECKPOINTS:
            self._recent.popitem(last=False)
        if pending.trusted:
            self._trusted_signature_seen = True
        if pending.signers:
            report.signed_size = max(report.signed_size or 0, body.size)
        if pending.witnesses and (report.witnessed_size is None or body.size >= report.witnessed_size):
            report.witnessed_size = body.size
            if pending.witnessed_time is not None:
                report.witnessed_time = datetime.fromtimestamp(pending.witnessed_time, UTC).isoformat()
            report.witnesses = pending.witnesses

    # -- entry failures -----------------------------------------------------------------------------------------

    def _reach_pending(self) -> None:
        waiting = self._pending.pop(self._expected)
        if self._suspect is not None:
            self._resolve_suspect(waiting[0].body.head.hex())
        for pending in waiting:
            self._settle(pending)

    def _undecodable(self, raw: bytes, digest: str, *, complete: bool) -> None:
        position = self._expected
        if not complete:
            raise TruncatedError("the export ends in the middle of an entry: the file was cut", seq=position)
        if self._suspect is not None:
            raise TamperedError(f"entry {position} is not a valid entry and breaks the chain", seq=position)
        self._suspect = ("undecodable", position, digest)
        self._expected = position + 1
        self._head_hex = digest
        self._last_raw = raw
        if self._pending and self._expected in self._pending:
            self._reach_pending()

    def _resolve_suspect(self, recorded: str) -> None:
        if self._suspect is None:
            return
        kind, position, digest = self._suspect
        self._suspect = None
        matches = recorded == digest
        if kind == "undecodable":
            if matches:
                raise MalformedError(
                    f"entry {position} hashes into the chain but is not a valid entry: the writer produced it",
                    seq=position,
                )
            raise TamperedError(f"entry {position} was altered: it is no longer a valid entry", seq=position)
        if matches:
            raise TamperedError(
                f"entry {position - 1} was altered: it does not hash to the value entry {position} records",
                seq=position - 1,
            )
        raise TamperedError(f"entry {position} was altered: its link to entry {position - 1} was changed", seq=position)

    def _entry_mismatch(self, entry: _Entry, raw: bytes, digest: str) -> None:
        expected = self._expected
        if entry.v != 1:
            raise TamperedError(f"entry {expected} has version {entry.v}, not 1", seq=expected)
        if entry.seq != expected:
            if entry.seq == expected - 1 and raw == self._last_raw:
                raise TamperedError(f"entry {entry.seq} appears twice: a copy was inserted", seq=expected)
            if entry.seq == expected - 1:
                raise TamperedError(f"two different entries claim seq {entry.seq}: one was inserted", seq=entry.seq)
            if entry.seq > expected:
                raise TamperedError(
                    f"entry {expected} is missing (the next entry is {entry.seq}): entries were deleted or moved",
                    seq=expected,
                )
            raise TamperedError(
                f"entry {entry.seq} appears where entry {expected} belongs: entries were reordered or inserted",
                seq=expected,
            )
        if self.report.first_seq is None:
            if not self._anchored:
                self._accept(entry, raw, digest)
                return
            raise TamperedError(f"entry {expected} does not continue from the log's start", seq=expected)
        # the link is broken: entry expected-1 was altered, or this entry's link was; the next record decides
        self._suspect = ("link", expected, digest)
        self._accept(entry, raw, digest)

    def _rotation(self, entry: _Entry) -> None:
        try:
            rotation = KeyRotation.model_validate_json(bytes(entry.payload))
            old = VerifierKey.parse(rotation.old_key)
            new = VerifierKey.parse(rotation.new_key)
        except (ValueError, NoteError) as exc:
            raise TamperedError(f"the key rotation at seq {entry.seq} is malformed: {exc}", seq=entry.seq) from exc
        if rotation.from_seq <= entry.seq:
            raise TamperedError(
                f"the key rotation at seq {entry.seq} takes effect at {rotation.from_seq}, not after itself",
                seq=entry.seq,
            )
        current = self._key_for(entry.seq)
        if current is not None and current.key_id != old.key_id:
            raise TamperedError(
                f"the key rotation at seq {entry.seq} is signed by {old.key_id.hex()}, "
                f"but the log signs with {current.key_id.hex()}",
                seq=entry.seq,
            )
        known = self._known.get((old.name, old.key_id))
        statement = KeyRotation.statement(self._origin, rotation.old_key, rotation.new_key, rotation.from_seq)
        if known is None or not known.verify(base64.b64decode(rotation.signature), statement):
            raise TamperedError(
                f"the key rotation at seq {entry.seq} is not signed by a known key ({old.key_id.hex()})",
                seq=entry.seq,
            )
        if (old.name, old.key_id) in self._trusted:
            self._trusted[(new.name, new.key_id)] = new
        self._known[(new.name, new.key_id)] = new
        self._rotations.append((rotation.from_seq, new))
        self.report.rotations += 1

    # -- the end --------------------------------------------------------------------------------------------------

    def finish(self) -> None:
        if not self._header_seen:
            raise MalformedError("the export is empty")
        self._count()
        if self._suspect is not None:
            kind, position, _ = self._suspect
            if kind == "undecodable":
                raise MalformedError(f"entry {position} is not a valid entry", seq=position)
            raise TamperedError(
                f"entry {position - 1} was altered: it does not hash to the value entry {position} records",
                seq=position - 1,
            )
        beyond = sorted(size for size in self._pending if size > self._expected)
        if beyond:
            size = beyond[-1]
            evidence = self._pending[size][0]
            who = (
                f"cosigned by {', '.join(evidence.witnesses)}"
                if evidence.witnesses
                else f"signed by key {', '.join(evidence.signers)}"
            )
            raise TruncatedError(
                f"a checkpoint {who} covers {size} entries, but the export ends at {self._expected}: "
                f"entries {self._expected}–{size - 1} were removed",
                seq=self._expected,
            )
        if self._end_record is None:
            raise TruncatedError(
                f"the export ends after entry {self._expected - 1} without its end record: the file is incomplete",
                seq=self._expected,
            )
        if self._end_record.get("next_seq") != self._expected:
            raise TruncatedError(
                f"the end record says the log continues to {self._end_record.get('next_seq')}, "
                f"but the entries stop at {self._expected}",
                seq=self._expected,
            )
        if self._backwards > 1:
            self.report.warnings.append(f"the clock went backwards {self._backwards} times in all")
        if self._future > 1:
            self.report.warnings.append(f"{self._future} entries are stamped in the future")
        if self.trust is None or not (self.trust.log_keys or self.trust.witness_keys):
            raise UntrustedError(
                "no trusted key was given (--trust): the chain is consistent with the keys the export names, "
                "but nothing proves who wrote it"
            )
        if not self._trusted_signature_seen:
            trusted = ", ".join(k.key_id.hex() for k in self.trust.log_keys + self.trust.witness_keys)
            raise UntrustedError(
                f"no checkpoint is signed by a trusted key or cosigned by a trusted witness (trusted: {trusted})"
            )

    def _fail(self, exc: VerificationError) -> None:
        self.report.exit_code = exc.exit_code
        self.report.failure = exc.reason
        self.report.failure_kind = type(exc).__name__.removesuffix("Error").lower()
        self.report.first_bad_seq = exc.seq
        self._count()

    def _count(self) -> None:
        first = self.report.first_seq
        self.report.entries = 0 if first is None else max(0, self._expected - first)
