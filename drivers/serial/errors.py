"""The serial driver's one error of its own: a line that cannot be used, and why, in a word a machine can count."""

from __future__ import annotations

from typing import Literal

from drivers.base import BadFrameError

BadLineReason = Literal[
    "empty",  # a request was answered with a bare terminator
    "not_text",  # bytes that are not text in the configured encoding, or control characters
    "too_long",  # more than max_line_bytes before a terminator
    "truncated",  # the answer stopped before its terminator, or has fewer fields than the map needs
    "checksum",  # no checksum where one belongs, or one that does not match the line
    "address",  # the answer does not start with the device's multi-drop address
    "no_match",  # the line does not have the configured shape
    "not_a_number",  # a mapped field holds something other than a decimal number or a known bad value
]
PREFIX_BYTES = 32


class BadLineError(BadFrameError):
    """A line that cannot be turned into readings. ``reason`` says which check refused it; ``line`` holds the
    bytes as received (without the terminator)."""

    def __init__(self, reason: BadLineReason, message: str, line: bytes) -> None:
        super().__init__(message)
        self.reason: BadLineReason = reason
        self.line = line

    @property
    def hex_prefix(self) -> str:
        """The first bytes of the line in hex, for logs and events; enough to recognise noise, never a flood."""
        return self.line[:PREFIX_BYTES].hex()
