"""The hub's exception tree. Routes never build HTTP errors by hand: one handler turns these into RFC 9457
problem documents."""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """``keep_changes``: the write transaction commits what was done before the error instead of rolling it back
    (a failed sign-in still counts towards the lockout; a reused refresh token's family stays revoked)."""

    status = 500
    title = "Internal error"
    type_slug = "internal"

    def __init__(self, detail: str, *, keep_changes: bool = False, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.keep_changes = keep_changes
        self.extra = extra


class BadRequestError(HubError):
    status, title, type_slug = 400, "Bad request", "bad-request"


class ValidationFailedError(HubError):
    status, title, type_slug = 422, "Validation failed", "validation"


class AuthenticationError(HubError):
    status, title, type_slug = 401, "Not authenticated", "unauthenticated"


class ForbiddenError(HubError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFoundError(HubError):
    status, title, type_slug = 404, "Not found", "not-found"


class ConflictError(HubError):
    status, title, type_slug = 409, "Conflict", "conflict"


class PayloadTooLargeError(HubError):
    status, title, type_slug = 413, "Payload too large", "too-large"


class RateLimitedError(HubError):
    status, title, type_slug = 429, "Too many requests", "rate-limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class UnavailableError(HubError):
    status, title, type_slug = 503, "Service unavailable", "unavailable"
