"""Per-request context carried through the call stack without threading it through every signature."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("tracseq_request_id", default=None)
