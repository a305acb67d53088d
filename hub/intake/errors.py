"""The intake package's exception tree.

Bad *cells* are never exceptions: checking a sheet returns ``Problem`` values, so a user sees every problem at once.
Exceptions are for uploads that cannot be read as a spreadsheet at all, or that are too large to read safely. They
derive from the hub's errors, so a route that lets one escape answers with its status and a problem document.
"""

from __future__ import annotations

from hub.errors import BadRequestError, HubError, PayloadTooLargeError, ValidationFailedError


class SheetError(HubError):
    """Root of the package's errors (permanent: the same bytes fail the same way)."""


class EmptyUploadError(SheetError, BadRequestError):
    """No bytes at all."""

    status, title, type_slug = 400, "Bad request", "bad-request"


class NotASpreadsheetError(SheetError):
    """The bytes are not CSV text or an XLSX workbook (a PDF, an image, a legacy .xls, JSON, a multipart form)."""

    status, title, type_slug = 415, "Unsupported media type", "unsupported-media-type"


class UnreadableSheetError(SheetError, ValidationFailedError):
    """A CSV or XLSX file that is damaged: a broken zip, malformed XML, a quote that never closes."""

    status, title, type_slug = 422, "Validation failed", "unreadable-sheet"


class SheetTooLargeError(SheetError, PayloadTooLargeError):
    """More rows or columns than one upload may hold, or an XLSX that unpacks to more than is safe (a zip bomb)."""

    status, title, type_slug = 413, "Payload too large", "too-large"
