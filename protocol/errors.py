"""The exception tree of ``protocol``.

Every check raises a precise subclass naming what was expected and what was found; callers that need to tell
outcomes apart (the verify CLI's exit codes) switch on the class, never on the message.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Root of every error raised by the protocol package."""


class EncodingError(ProtocolError, ValueError):
    """A value cannot be put into a log entry (a float, a bad kind, a non-UTF-8 string, ...)."""


class KeyFileError(ProtocolError):
    """A key file is missing, unreadable, has unsafe permissions, or the passphrase is wrong."""


class NoteError(ProtocolError, ValueError):
    """A signed note or checkpoint is not in the expected shape."""


class SignatureError(ProtocolError):
    """A signature from a known key does not verify."""


class VerificationError(ProtocolError):
    """Base of the verifier's findings. ``exit_code`` is what ``tracseq verify`` exits with."""

    exit_code = 1

    def __init__(self, reason: str, *, seq: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seq = seq


class TamperedError(VerificationError):
    """An entry was altered, inserted, deleted or reordered, or a signature fails."""

    exit_code = 1


class TruncatedError(VerificationError):
    """Fewer entries than a trusted checkpoint or cosignature covers."""

    exit_code = 2


class ForkedError(VerificationError):
    """Two validly signed checkpoints of one size with different heads."""

    exit_code = 2


class MalformedError(VerificationError):
    """The input is not an export this tool can read."""

    exit_code = 3


class UntrustedError(VerificationError):
    """Nothing in the export is signed by a trusted key or cosigned by a trusted witness."""

    exit_code = 4
