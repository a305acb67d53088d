"""Bytes as they arrive to lines. Pure, no I/O.

A line longer than ``max_bytes`` is cut: its first ``max_bytes`` come out once as an incomplete frame, and
everything up to the next terminator is dropped, so a noisy line costs one bad frame rather than a flood.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Frame:
    """One line without its terminator; ``complete`` is False for the cut-off start of an over-long line."""

    data: bytes
    complete: bool = True


class LineSplitter:
    """Splits a byte stream at ``terminator``; keeps a partial line until the rest arrives."""

    def __init__(self, terminator: bytes, max_bytes: int) -> None:
        if not terminator:
            raise ValueError("a terminator has at least one byte")
        self._terminator = terminator
        self._max_bytes = max_bytes
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no terminator start
        self._discarding = False

    @property
    def pending(self) -> bytes:
        """Bytes of a line still waiting for its terminator (empty while an over-long line is dropped)."""
        return b"" if self._discarding else bytes(self._buffer)

    def clear(self) -> None:
        self._buffer.clear()
        self._scanned = 0
        self._discarding = False

    def feed(self, data: bytes) -> list[Frame]:
        """The lines that ``data`` completes, in order."""
        buffer, terminator = self._buffer, self._terminator
        buffer += data
        frames: list[Frame] = []
        start = 0
        while (end := buffer.find(terminator, max(start, self._scanned))) >= 0:
            if self._discarding:
                self._discarding = False
            elif end - start > self._max_bytes:
                frames.append(Frame(bytes(buffer[start : start + self._max_bytes]), complete=False))
            else:
                frames.append(Frame(bytes(buffer[start:end])))
            start = end + len(terminator)
            self._scanned = start
        del buffer[:start]
        if len(buffer) > self._max_bytes and not self._discarding:
            frames.append(Frame(bytes(buffer[: self._max_bytes]), complete=False))
            self._discarding = True
        if self._discarding:  # keep only what could be the start of the terminator
            del buffer[: max(0, len(buffer) - len(terminator) + 1)]
        self._scanned = max(0, len(buffer) - len(terminator) + 1)
        return frames
