"""Store-and-forward sync between edge and hub, storage-agnostic: the wire messages, the hub's chain check
and the edge's sender."""

from sync.errors import BadBatchError, BatchTooLargeError, ChainError, ForkError, GapError, SyncError, TransportError
from sync.messages import (
    MAX_BATCH_BYTES,
    MAX_ENTRIES,
    MEDIA_TYPE,
    BatchHeader,
    Beacon,
    Command,
    SyncAck,
    decode_batch,
    encode_batch,
)
from sync.receiver import Accepted, BatchPlan, DeviceChain, IngestedEntry, check_batch, cosign_note, plan

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_ENTRIES",
    "MEDIA_TYPE",
    "Accepted",
    "BadBatchError",
    "BatchHeader",
    "BatchPlan",
    "BatchTooLargeError",
    "Beacon",
    "ChainError",
    "Command",
    "DeviceChain",
    "ForkError",
    "GapError",
    "IngestedEntry",
    "SyncAck",
    "SyncError",
    "TransportError",
    "check_batch",
    "cosign_note",
    "decode_batch",
    "encode_batch",
    "plan",
]
