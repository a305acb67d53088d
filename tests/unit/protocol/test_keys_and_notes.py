"""Keys, signed notes, checkpoints and cosignatures follow the C2SP shapes and fail closed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protocol import (
    COSIGNER_TYPE,
    CheckpointBody,
    KeyFileError,
    NoteError,
    SignatureError,
    SigningKey,
    VerifierKey,
    cosign,
    parse_checkpoint,
    parse_note,
    sign_note,
    verify_cosignatures,
    verify_note,
)


def keymap(*keys: VerifierKey) -> dict[tuple[str, bytes], VerifierKey]:
    return {(k.name, k.key_id): k for k in keys}


def test_key_file_round_trip_with_passphrase_and_mode_0600(tmp_path: Path) -> None:
    key = SigningKey.generate("edge-1")
    path = tmp_path / "keys" / "edge.key"
    key.save(path, passphrase="correct horse")
    assert (path.stat().st_mode & 0o777) == 0o600
    loaded = SigningKey.load(path, "edge-1", passphrase="correct horse")
    assert loaded.public == key.public
    assert Path(f"{path}.pub").read_text().strip() == key.verifier.vkey
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        SigningKey.load(path, "edge-1", passphrase="wrong")


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edge.key"
    SigningKey.generate("edge-1").save(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        SigningKey.load(path, "edge-1")


def test_a_missing_key_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        SigningKey.load(tmp_path / "absent.key", "edge-1")


def test_verifier_key_with_a_wrong_id_is_refused() -> None:
    vkey = SigningKey.generate("edge-1").verifier.vkey
    name, _, rest = vkey.split("+", 2)
    with pytest.raises(NoteError, match="does not match"):
        VerifierKey.parse(f"{name}+00000000+{rest}")


def test_unknown_signers_are_ignored_and_a_failing_known_one_rejects_the_note() -> None:
    a, b = SigningKey.generate("a"), SigningKey.generate("b")
    note = sign_note("hello\n", [a, b])
    assert verify_note(note, keymap(a.verifier)) == [a.verifier]
    assert verify_note(note, {}) == []
    forged = parse_note(note.render().replace("hello", "jello"))
    with pytest.raises(SignatureError, match="does not verify"):
        verify_note(forged, keymap(a.verifier))


@pytest.mark.parametrize(
    "text",
    ["no signatures\n\n", "text without blank line\n— a AAAA\n", "x\n\nnot a dash line\n", "x\n\n— a !!!!\n"],
)
def test_malformed_notes_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        parse_note(text)


def test_checkpoint_text_round_trips_and_cosignature_verifies() -> None:
    body = CheckpointBody("tracseq.example/edge/x", 42, bytes(range(32)))
    log_key = SigningKey.generate("tracseq.example/edge/x")
    witness = SigningKey.generate("witness", COSIGNER_TYPE)
    cosig = cosign(body, witness, 1_800_000_000)
    note = sign_note(body.text(), [log_key]).with_signatures([cosig.line()])
    parsed, parsed_body = parse_checkpoint(note.render())
    assert parsed_body == body
    found = verify_cosignatures(parsed, keymap(witness.verifier))
    assert [(c.witness, c.timestamp) for c in found] == [("witness", 1_800_000_000)]
    tampered = parse_note(note.render().replace("\n42\n", "\n43\n"))
    with pytest.raises(SignatureError, match="witness"):
        verify_cosignatures(tampered, keymap(witness.verifier))


@pytest.mark.parametrize(
    "text",
    [
        "origin\n01\nAAAA\n",
        "origin\nx\nAAAA\n",
        "origin\n1\nnot base64\n",
        "origin\n1\n",
        "origin\n1\nAAAA\n",
    ],
)
def test_bad_checkpoint_bodies_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        CheckpointBody.parse(text)
