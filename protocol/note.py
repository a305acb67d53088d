"""C2SP signed notes: a text, a blank line, then one signature line per signer.

A signature line is ``— <key name> <base64(key id || signature)>``. Verification follows the specification: lines
from unknown keys are ignored; a line from a known key whose signature fails rejects the whole note.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from protocol.errors import NoteError, SignatureError
from protocol.keys import SigningKey, VerifierKey

_DASH = "\u2014 "
MAX_NOTE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class SignatureLine:
    name: str
    key_id: bytes
    payload: bytes  # everything after the key id: the signature, or timestamp || signature for cosignatures

    def render(self) -> str:
        return f"{_DASH}{self.name} {base64.b64encode(self.key_id + self.payload).decode('ascii')}\n"


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    signatures: tuple[SignatureLine, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(line.render() for line in self.signatures)

    def with_signatures(self, extra: Iterable[SignatureLine]) -> Note:
        known = {line.render() for line in self.signatures}
        merged = list(self.signatures) + [line for line in extra if line.render() not in known]
        return Note(text=self.text, signatures=tuple(merged))


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise NoteError("note text must be non-empty lines, each ending in a newline, with no blank line")


def sign_note(text: str, keys: Iterable[SigningKey]) -> Note:
    _check_text(text)
    message = text.encode("utf-8")
    lines = tuple(SignatureLine(k.name, k.key_id, k.sign(message)) for k in keys)
    if not lines:
        raise NoteError("a note needs at least one signature")
    return Note(text=text, signatures=lines)


def parse_note(data: str) -> Note:
    try:
        encoded = data.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, which JSON's \ud800 escape can carry
        raise NoteError(f"note is not UTF-8 text: {exc.reason} at character {exc.start}") from exc
    if len(encoded) > MAX_NOTE_BYTES:
        raise NoteError("note is larger than 1 MiB")
    split = data.rfind("\n\n")
    if split < 0 or not data.endswith("\n"):
        raise NoteError("note has no blank line before its signatures")
    text = data[: split + 1]
    _check_text(text)
    signatures = []
    for raw in data[split + 2 :].splitlines():
        if not raw.startswith(_DASH):
            raise NoteError(f"signature line {raw[:60]!r} does not start with an em dash and a space")
        fields = raw[len(_DASH) :].split(" ")
        if len(fields) != 2 or not fields[0]:
            raise NoteError(f"signature line {raw[:60]!r} is not '— name signature'")
        try:
            blob = base64.b64decode(fields[1], validate=True)
        except binascii.Error as exc:
            raise NoteError(f"signature line for {fields[0]} is not base64") from exc
        if len(blob) < 5:
            raise NoteError(f"signature line for {fields[0]} is too short")
        signatures.append(SignatureLine(fields[0], blob[:4], blob[4:]))
    if not signatures:
        raise NoteError("note carries no signature")
    return Note(text=text, signatures=tuple(signatures))


def verify_note(note: Note, known: Mapping[tuple[str, bytes], VerifierKey]) -> list[VerifierKey]:
    """Return the known signer keys whose signatures verify; raise if any known signer's signature fails.

    ``known`` maps (name, key id) to signer keys (type 0x01). Cosigner lines are not checked here.
    """
    message = note.text.encode("utf-8")
    verified: list[VerifierKey] = []
    for line in note.signatures:
        key = known.get((line.name, line.key_id))
        if key is None:
            continue
        if not key.verify(line.payload, message):
            raise SignatureError(f"signature by {key.name} (key {key.key_id.hex()}) does not verify")
        verified.append(key)
    return verified
