"""The ai package's errors: each is a ``HubError`` subclass, so the API's one handler turns it into a problem."""

from __future__ import annotations

from hub.errors import BadRequestError, ConflictError, PayloadTooLargeError, UnavailableError


class UnreadableDocumentError(BadRequestError):
    """The bytes are not a document the hub reads (or a damaged one): permanent for this file."""

    type_slug = "unreadable-document"


class DocumentTooLargeError(PayloadTooLargeError):
    type_slug = "document-too-large"


class NotEnoughDataError(ConflictError):
    """A model cannot be trained or used yet: too little history, or no model trained."""

    type_slug = "not-enough-data"


class ProviderUnavailableError(UnavailableError):
    """A language-model provider failed, timed out or is switched off; retry later (the answer falls back to
    extractive)."""

    type_slug = "provider-unavailable"


class OptionalDependencyError(UnavailableError):
    """An optional install is missing; the detail names the extra."""

    type_slug = "optional-dependency"
