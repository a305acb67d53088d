"""Export bundles, fuzzed field by field and file by file, through what ``tracseq verify`` runs.

``tests/unit/protocol/test_verify.py`` proves each tampering class (altered, deleted, inserted, reordered entries,
broken signatures, cuts, forks) gets the right exit code at the right seq. Here the mutations are the ones no
attacker plans: any JSON field of any record (header, entry, payload, checkpoint, end) replaced by any JSON value
or deleted, a record given extra keys, lines of arbitrary bytes, the trust file edited, and the gzip form cut or
corrupted. ``Verifier.run`` and ``verify_export`` must always return a report with one of the documented exit codes
(0 verified, 1 tampered, 2 truncated or forked, 3 malformed, 4 untrusted), and ``Trust.load`` must raise
``VerificationError`` or return trust; nothing else may escape.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from protocol import Trust, VerificationError, Verifier
from protocol.cli import verify_export
from protocol.synth import synthesize
from tests.fuzz.budget import fuzz_settings, typed, watchdog

EXIT_CODES = {0, 1, 2, 3, 4}


@dataclass(frozen=True)
class Bundle:
    folder: Path
    lines: tuple[bytes, ...]
    trust_text: str
    trust: Trust


@cache
def bundle() -> Bundle:
    folder = Path(tempfile.mkdtemp(prefix="tracseq-fuzz-export-"))
    result = synthesize(24, folder / "log.jsonl", witness=True, checkpoint_every=6, rotate_at=13, seed=11)
    lines = tuple(result.export.read_bytes().splitlines(keepends=True))
    return Bundle(folder, lines, result.trust.read_text(), Trust.load(result.trust))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_STRINGS = st.sampled_from(
    ["", "0" * 64, "f" * 64, "g" * 64, "2024-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z", "not a time",
     "observation", "key_rotation", "checkpoint", "end", "\u0000", "\ud800", "a" * 5000, "ed25519:AAAA", "-1"]
)  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _edit(value: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    head, *rest = path
    if delete and not rest:
        del copy[head]
    else:
        copy[head] = _edit(copy[head], tuple(rest), new, delete)
    return copy


@st.composite
def edited_exports(draw: st.DrawFn) -> list[bytes]:
    """The bundle with one to three records edited as JSON (a field replaced or deleted, or a key added)."""
    lines = list(bundle().lines)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        try:
            record = json.loads(lines[at])
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("payload"), str) and draw(st.booleans()):
            payload = json.loads(record["payload"]) if record["payload"].startswith("{") else record["payload"]
            path = draw(st.sampled_from(_paths(payload)))
            new = _edit(payload, path, draw(_JSON | _STRINGS), delete=bool(path) and draw(st.booleans()))
            record["payload"] = json.dumps(new, separators=(",", ":"))
        else:
            path = draw(st.sampled_from(_paths(record)))
            if draw(st.integers(0, 5)) == 0 and isinstance(record, dict):
                record[draw(st.text(max_size=6))] = draw(_JSON)
            else:
                record = _edit(record, path, draw(_JSON | _STRINGS), delete=bool(path) and draw(st.booleans()))
        text = json.dumps(record, separators=(",", ":"), ensure_ascii=draw(st.booleans()))
        lines[at] = text.encode("utf-8", "surrogatepass") + b"\n"
    return lines


def verified(lines: list[bytes], trust: Trust | None, strict: bool) -> None:
    with watchdog():
        report = Verifier(trust, strict=strict).run(iter(lines))
    assert report.exit_code in EXIT_CODES, report
    assert (report.exit_code == 0) == (report.failure is None or report.failure == ""), report
    json.dumps(report.as_dict())


@fuzz_settings(300)
@given(lines=edited_exports(), trusted=st.booleans(), strict=st.booleans())
@example(lines=list(bundle().lines), trusted=True, strict=True)
def test_any_edited_record_gives_a_report_with_a_documented_exit_code(
    lines: list[bytes], trusted: bool, strict: bool
) -> None:
    verified(lines, bundle().trust if trusted else None, strict)


@fuzz_settings(150)
@given(
    noise=st.lists(st.binary(max_size=80).map(lambda b: b + b"\n"), min_size=1, max_size=4),
    at=st.integers(0, 60),
    strict=st.booleans(),
)
def test_lines_of_arbitrary_bytes_give_a_report_with_a_documented_exit_code(
    noise: list[bytes], at: int, strict: bool
) -> None:
    lines = list(bundle().lines)
    position = at % (len(lines) + 1)
    verified(lines[:position] + noise + lines[position:], bundle().trust, strict)


@fuzz_settings(150)
@given(data=st.data())
@example(data=None)  # found: a witnessed checkpoint "\ud800" -> UnicodeEncodeError out of Verifier.run
def test_an_edited_trust_file_loads_or_raises_a_verification_error(data: st.DataObject | None) -> None:
    document = json.loads(bundle().trust_text)
    if data is None:
        text = json.dumps({**document, "checkpoints": ["\ud800", *document["checkpoints"]]})
    else:
        path = data.draw(st.sampled_from(_paths(document)))
        edited = _edit(document, path, data.draw(_JSON | _STRINGS), delete=bool(path) and data.draw(st.booleans()))
        text = json.dumps(edited) if data.draw(st.integers(0, 4)) else data.draw(st.text(max_size=40))
    target = bundle().folder / "trust-fuzzed.json"
    target.write_text(text, encoding="utf-8", errors="surrogatepass")
    trust = typed(lambda: Trust.load(target), VerificationError)
    if trust is not None:
        verified(list(bundle().lines), trust, strict=False)


@fuzz_settings(60)
@given(cut=st.integers(0, 10_000), flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=3))
@example(cut=10_000, flips=[(12, 1)])
def test_a_cut_or_corrupted_gzip_export_gives_a_report_with_a_documented_exit_code(
    cut: int, flips: list[tuple[int, int]]
) -> None:
    packed = bytearray(gzip.compress(b"".join(bundle().lines), mtime=0))
    for at, mask in flips:
        packed[at % len(packed)] ^= mask
    target = bundle().folder / "fuzzed.jsonl.gz"
    target.write_bytes(bytes(packed[: cut % (len(packed) + 1)]))
    with watchdog():
        report = verify_export(target, bundle().trust)
    assert report.exit_code in EXIT_CODES, report
