"""TracSeq's protocol: wire models, the signed hash-chained log, checkpoints, cosignatures and verification.

Imports nothing else of TracSeq; everything else imports it.
"""

from protocol.chain import ChainedEntry, ChainWriter, rotation_payload
from protocol.checkpoint import (
    CheckpointBody,
    Cosignature,
    cosign,
    parse_checkpoint,
    sign_checkpoint,
    verify_cosignatures,
)
from protocol.encoding import (
    ENTRY_DOMAIN,
    canonical_json,
    encode_entry,
    entry_hash,
    format_timestamp,
    genesis_hash,
    parse_timestamp,
)
from protocol.errors import (
    EncodingError,
    ForkedError,
    KeyFileError,
    MalformedError,
    NoteError,
    ProtocolError,
    SignatureError,
    TamperedError,
    TruncatedError,
    UntrustedError,
    VerificationError,
)
from protocol.export import ExportWriter, Trust, open_export_for_reading
from protocol.keys import COSIGNER_TYPE, SIGNER_TYPE, SigningKey, VerifierKey
from protocol.models import Checkpoint, Event, KeyRotation, LogEntry, Observation
from protocol.note import Note, SignatureLine, parse_note, sign_note, verify_note
from protocol.verify import Report, Verifier

__all__ = [
    "COSIGNER_TYPE",
    "ENTRY_DOMAIN",
    "SIGNER_TYPE",
    "ChainWriter",
    "ChainedEntry",
    "Checkpoint",
    "CheckpointBody",
    "Cosignature",
    "EncodingError",
    "Event",
    "ExportWriter",
    "ForkedError",
    "KeyFileError",
    "KeyRotation",
    "LogEntry",
    "MalformedError",
    "Note",
    "NoteError",
    "Observation",
    "ProtocolError",
    "Report",
    "SignatureError",
    "SignatureLine",
    "SigningKey",
    "TamperedError",
    "TruncatedError",
    "Trust",
    "UntrustedError",
    "VerificationError",
    "Verifier",
    "VerifierKey",
    "canonical_json",
    "cosign",
    "encode_entry",
    "entry_hash",
    "format_timestamp",
    "genesis_hash",
    "open_export_for_reading",
    "parse_checkpoint",
    "parse_note",
    "parse_timestamp",
    "rotation_payload",
    "sign_checkpoint",
    "sign_note",
    "verify_cosignatures",
    "verify_note",
]
