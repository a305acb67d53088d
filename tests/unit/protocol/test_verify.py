"""Every mutation class is caught with the right exit code and the right first bad seq.

The export under test is written by the synthetic generator (200 entries, a checkpoint every 10, witnessed), then
mutated line by line the way an attacker or a broken copy would.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import CheckpointBody, SigningKey, Trust, Verifier, sign_note
from protocol.synth import synthesize

N = 200
EVERY = 10


@dataclass(frozen=True)
class Fixture:
    lines: tuple[bytes, ...]
    trust: Trust
    log_key: SigningKey
    entry_index: tuple[int, ...]  # line index of entry seq i


@functools.cache
def fixture(witness: bool = True) -> Fixture:
    folder = Path(tempfile.mkdtemp(prefix="tracseq-verify-"))
    result = synthesize(N, folder / "log.jsonl", witness=witness, checkpoint_every=EVERY, seed=7)
    lines = tuple(result.export.read_bytes().splitlines(keepends=True))
    index = tuple(i for i, line in enumerate(lines) if line.startswith(b'{"v":'))
    return Fixture(lines, Trust.load(result.trust), result.log_key, index)


def verify(lines: list[bytes], trust: Trust | None = None, f: Fixture | None = None) -> tuple[int, int | None, str]:
    f = f or fixture()
    report = Verifier(trust if trust is not None else f.trust).run(iter(lines))
    return report.exit_code, report.first_bad_seq, report.failure or ""


def bump(pattern: bytes, line: bytes) -> bytes:
    return re.sub(pattern + rb"(\d+)", lambda m: pattern + str(int(m.group(1)) + 1).encode(), line, count=1)


seqs = st.integers(0, N - 1)


def test_the_untouched_export_verifies() -> None:
    assert verify(list(fixture().lines)) == (0, None, "")


@given(seqs)
def test_an_altered_entry_is_tampered_at_its_seq(seq: int) -> None:
    f = fixture()
    lines = list(f.lines)
    lines[f.entry_index[seq]] = bump(b'"mono":', lines[f.entry_index[seq]])
    code, bad, _ = verify(lines)
    assert (code, bad) == (1, seq)


@given(seqs)
def test_an_altered_link_is_tampered_at_its_seq(seq: int) -> None:
    f = fixture()
    lines = list(f.lines)
    line = lines[f.entry_index[seq]]
    lines[f.entry_index[seq]] = re.sub(
        rb'"prev":"([0-9a-f])', lambda m: b'"prev":"' + (b"1" if m.group(1) == b"0" else b"0"), line
    )
    code, bad, _ = verify(lines)
    assert (code, bad) == (1, seq)


@given(seqs)
def test_an_altered_payload_that_breaks_json_is_tampered(seq: int) -> None:
    f = fixture()
    lines = list(f.lines)
    lines[f.entry_index[seq]] = lines[f.entry_index[seq]].replace(b'"payload":{', b'"payload":{{', 1)
    code, bad, _ = verify(lines)
    assert (code, bad) == (1, seq)


@given(st.integers(0, N - 2))
def test_a_deleted_entry_is_tampered_at_its_seq(seq: int) -> None:
    f = fixture()
    lines = list(f.lines)
    del lines[f.entry_index[seq]]
    code, bad, _ = verify(lines)
    assert (code, bad) == (1, seq)


@given(seqs, seqs)
def test_an_inserted_copy_is_tampered_where_it_was_inserted(position: int, source: int) -> None:
    f = fixture()
    lines = list(f.lines)
    lines.insert(f.entry_index[position], f.lines[f.entry_index[source]])
    code, bad, _ = verify(lines)
    # a copy inserted right before its own original is the same file as one inserted right after it
    assert (code, bad) == (1, position + 1 if source == position else position)


@given(st.integers(0, N - 2), st.data())
def test_reordered_entries_are_tampered_at_the_first_moved_seq(first: int, data: st.DataObject) -> None:
    second = data.draw(st.integers(first + 1, N - 1))
    f = fixture()
    lines = list(f.lines)
    a, b = f.entry_index[first], f.entry_index[second]
    lines[a], lines[b] = lines[b], lines[a]
    code, bad, _ = verify(lines)
    assert (code, bad) == (1, first)


@given(st.integers(1, N // EVERY))
def test_a_broken_checkpoint_signature_is_tampered(which: int) -> None:
    f = fixture()
    lines = list(f.lines)
    cp = [i for i, line in enumerate(lines) if line.startswith(b'{"type":"checkpoint"')][which - 1]
    record = json.loads(lines[cp])
    _text, sigs = record["note"].split("\n\n", 1)
    first_sig = sigs.split("\n")[0]
    name, blob = first_sig[2:].split(" ")
    flipped = blob[:10] + ("A" if blob[10] != "A" else "B") + blob[11:]
    record["note"] = record["note"].replace(first_sig, f"— {name} {flipped}")
    lines[cp] = json.dumps(record).encode() + b"\n"
    code, _, reason = verify(lines)
    assert code == 1
    assert "does not verify" in reason


@given(st.integers(0, N - 2))
def test_a_cut_export_is_truncated_against_the_witnessed_checkpoint(keep: int) -> None:
    f = fixture()
    lines = list(f.lines[: f.entry_index[keep] + 1])
    code, bad, reason = verify(lines)
    assert code == 2
    assert bad == keep + 1
    assert "removed" in reason or "incomplete" in reason


@given(st.integers(0, N - 2))
def test_a_cut_export_without_a_witness_is_still_truncated(keep: int) -> None:
    f = fixture(witness=False)
    lines = list(f.lines[: f.entry_index[keep] + 1])
    code, bad, _ = verify(lines, f=f)
    assert (code, bad) == (2, keep + 1)


def test_a_file_cut_mid_line_is_truncated() -> None:
    f = fixture()
    lines = list(f.lines[: f.entry_index[50] + 1])
    lines[-1] = lines[-1][:40]
    code, bad, _ = verify(lines)
    assert (code, bad) == (2, 50)


@given(st.integers(1, N // EVERY))
def test_two_signed_checkpoints_for_one_size_are_a_fork(which: int) -> None:
    f = fixture()
    lines = list(f.lines)
    size = which * EVERY
    note = sign_note(CheckpointBody(f.log_key.name, size, bytes(32)).text(), [f.log_key])
    at = f.entry_index[size - 1] + 2  # after the real checkpoint for that size
    lines.insert(at, json.dumps({"type": "checkpoint", "note": note.render()}).encode() + b"\n")
    code, bad, reason = verify(lines)
    assert (code, bad) == (2, size - 1)
    assert "forked" in reason


def test_garbage_instead_of_a_header_is_malformed() -> None:
    assert verify([b"hello\n", *fixture().lines[1:]])[0] == 3
    assert verify([])[0] == 3


def test_an_unknown_record_type_is_malformed() -> None:
    f = fixture()
    lines = list(f.lines)
    lines.insert(5, b'{"type":"surprise"}\n')
    assert verify(lines)[0] == 3


def test_a_trust_file_with_other_keys_trusts_nothing() -> None:
    f = fixture()
    other = Trust(log_keys=(SigningKey.generate(f.log_key.name).verifier,))
    code, _, reason = verify(list(f.lines), trust=other)
    assert code == 4
    assert "trusted" in reason


def test_without_a_trust_file_nothing_is_trusted_but_tampering_is_still_found() -> None:
    f = fixture()
    report = Verifier(None).run(iter(f.lines))
    assert report.exit_code == 4
    lines = list(f.lines)
    lines[f.entry_index[3]] = bump(b'"mono":', lines[f.entry_index[3]])
    assert Verifier(None).run(iter(lines)).exit_code == 1


@settings(max_examples=30)
@given(st.integers(1, N - 2))
def test_a_rotated_key_is_followed_and_the_retired_key_cannot_sign_later(rotate_at: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="tracseq-rotate-"))
    result = synthesize(N, folder / "log.jsonl", checkpoint_every=EVERY, rotate_at=rotate_at, seed=1)
    trust = Trust.load(result.trust)
    lines = result.export.read_bytes().splitlines(keepends=True)
    report = Verifier(trust).run(iter(lines))
    assert report.ok, report.failure
    assert report.rotations == 1
    # a checkpoint signed by the retired key over entries after the rotation is refused
    (retired,) = result.retired_keys
    final = json.loads(lines[-2])["note"]
    body = CheckpointBody.parse(final.split("\n\n")[0] + "\n")
    forged = sign_note(body.text(), [retired]).render()
    lines.insert(len(lines) - 1, json.dumps({"type": "checkpoint", "note": forged}).encode() + b"\n")
    report = Verifier(trust).run(iter(lines))
    assert report.exit_code == 1
    assert "retired" in (report.failure or "")
