"""Wire faults: what happens to a line on its way out. Each fault lasts for ``count`` lines, or until cleared."""

from __future__ import annotations

import random

from instruments import CHECKSUM_SEPARATOR, TERMINATOR

LINE_FAULTS = ("silence", "garbage", "truncate", "bad_checksum")
"""In order of precedence: when several are active, a line gets the first of them."""


class Faults:
    def __init__(self, rng: random.Random, *, checksum: str) -> None:
        self._rng = rng
        self._checksum = checksum
        self.active: dict[str, int | None] = {}  # name -> lines left, None for "until cleared"

    def add(self, name: str, count: int | None = None) -> None:
        if name not in LINE_FAULTS:
            raise ValueError(f"unknown fault {name!r}")
        if name == "bad_checksum" and self._checksum == "none":
            raise ValueError("bad_checksum needs the simulator started with --checksum")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        self.active[name] = count

    def clear(self, name: str | None = None) -> None:
        if name is None:
            self.active.clear()
        else:
            self.active.pop(name, None)

    def apply(self, line: bytes) -> bytes | None:
        """The bytes actually sent for ``line``; None when nothing is sent."""
        for name in LINE_FAULTS:
            if name in self.active:
                self._consume(name)
                return self._damage(name, line)
        return line

    def _consume(self, name: str) -> None:
        left = self.active[name]
        if left is None:
            return
        if left <= 1:
            del self.active[name]
        else:
            self.active[name] = left - 1

    def _damage(self, name: str, line: bytes) -> bytes | None:
        body = line[: -len(TERMINATOR)]
        if name == "silence":
            return None
        if name == "garbage":  # line noise, as from a wrong baud rate: mostly high bytes, never a terminator
            noise = [self._rng.choice(range(0x80, 0x100))]
            noise += [self._rng.choice([b for b in range(256) if b not in TERMINATOR]) for _ in range(15)]
            return bytes(noise) + TERMINATOR
        if name == "truncate":  # the instrument stopped mid-line: no terminator follows
            return body[: self._rng.randint(1, len(body) - 1)]
        at = body.rindex(CHECKSUM_SEPARATOR.encode())
        digits = body[at + 1 :]
        wrong = (int(digits, 16) ^ 0x5A) % (16 ** len(digits))
        return body[: at + 1] + f"{wrong:0{len(digits)}X}".encode() + TERMINATOR
