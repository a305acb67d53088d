"""Ed25519 keys for log signers and witnesses, named and identified as C2SP signed-note keys.

A key ID is the first four bytes of SHA-256(name || 0x0A || type || public key); ``type`` is 0x01 for a note
signer and 0x04 for a cosigner (witness). Public keys travel as C2SP verifier keys:
``<name>+<hex key id>+<base64(type || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.errors import KeyFileError, NoteError

SIGNER_TYPE = 0x01
COSIGNER_TYPE = 0x04
_TYPES = (SIGNER_TYPE, COSIGNER_TYPE)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def key_id(name: str, key_type: int, public: bytes) -> bytes:
    """The four-byte key ID of the C2SP signed-note specification."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + public).digest()[:4]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key with its name and role; what trust files and export headers list."""

    name: str
    key_type: int
    public: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public)

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([self.key_type]) + self.public).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def parse(cls, vkey: str) -> VerifierKey:
        """Parse ``name+hexid+base64``; the ID must match the key, or the line is refused."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError(f"verifier key {vkey!r} is not name+keyid+base64")
        name, hex_id, encoded = parts
        _check_name(name)
        try:
            raw = base64.b64decode(encoded, validate=True)
            claimed = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError) as exc:
            raise NoteError(f"verifier key {vkey!r} has bad hex or base64") from exc
        if len(raw) != 33 or raw[0] not in _TYPES:
            raise NoteError(f"verifier key {vkey!r} is not an Ed25519 signer (0x01) or cosigner (0x04) key")
        key = cls(name=name, key_type=raw[0], public=raw[1:])
        if key.key_id != claimed:
            raise NoteError(f"verifier key {vkey!r}: key id {hex_id} does not match the key ({key.key_id.hex()})")
        return key


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private Ed25519 key bound to a name (the log origin or the witness name)."""

    name: str
    key_type: int
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str, key_type: int = SIGNER_TYPE) -> SigningKey:
        _check_name(name)
        if key_type not in _TYPES:
            raise NoteError(f"unknown key type {key_type}")
        return cls(name=name, key_type=key_type, private=Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes, key_type: int = SIGNER_TYPE) -> SigningKey:
        """A deterministic key from a 32-byte seed; for test vectors only."""
        _check_name(name)
        return cls(name=name, key_type=key_type, private=Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(name=self.name, key_type=self.key_type, public=self.public)

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def save(self, path: Path, passphrase: str | None = None) -> None:
        """Write the key as PKCS#8 PEM with mode 0600, and ``<path>.pub`` with the verifier key."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
            if passphrase
            else serialization.NoEncryption()
        )
        pem = self.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.chmod(path, 0o600)
        Path(f"{path}.pub").write_text(self.verifier.vkey + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, name: str, passphrase: str | None = None, key_type: int = SIGNER_TYPE) -> SigningKey:
        """Load a key written by :meth:`save`; refuses files readable by group or others."""
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"key file {path} is accessible by group or others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
            )
        try:
            private = serialization.load_pem_private_key(
                data, password=passphrase.encode("utf-8") if passphrase else None
            )
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"key file {path} could not be loaded: wrong passphrase or not a PEM key") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(f"key file {path} does not hold an Ed25519 key")
        _check_name(name)
        return cls(name=name, key_type=key_type, private=private)
