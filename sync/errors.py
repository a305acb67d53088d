"""The sync package's exception tree: retryable (try again later) and permanent (a person must look)."""

from __future__ import annotations


class SyncError(Exception):
    retryable = False


class BadBatchError(SyncError):
    """The batch is malformed: not gzip, header invalid, counts wrong, too large."""


class BatchTooLargeError(BadBatchError):
    """The hub's body limit is smaller than this batch (413): the same entries fit in smaller batches."""


class GapError(SyncError):
    """The batch starts after the hub's next seq: the edge must resend from ``expected_seq``."""

    retryable = True

    def __init__(self, expected_seq: int) -> None:
        super().__init__(f"the hub holds entries up to {expected_seq - 1}; send from seq {expected_seq}")
        self.expected_seq = expected_seq


class ForkError(SyncError):
    """Different bytes for a seq the hub holds, or a second checkpoint for a cosigned size: kept as evidence."""

    def __init__(self, reason: str, *, seq: int, held: bytes, offered: bytes) -> None:
        super().__init__(reason)
        self.seq = seq
        self.held = held
        self.offered = offered


class ChainError(SyncError):
    """The batch does not continue the chain, or a signature fails: refused."""

    def __init__(self, reason: str, *, seq: int | None = None) -> None:
        super().__init__(reason)
        self.seq = seq


class TransportError(SyncError):
    """The hub could not be reached or answered 5xx/429: retry with backoff."""

    retryable = True

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
