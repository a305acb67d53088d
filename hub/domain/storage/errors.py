"""The storage refusals a caller can tell apart: each is a conflict (409) with its own problem type."""

from __future__ import annotations

from hub.errors import ConflictError


class ZoneMismatchError(ConflictError):
    title, type_slug = "Wrong temperature zone", "zone-mismatch"


class NoRoomError(ConflictError):
    title, type_slug = "Not enough room", "no-room"


class PositionTakenError(ConflictError):
    title, type_slug = "Position taken", "position-taken"
