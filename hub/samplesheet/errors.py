"""The sample sheet package's exception tree.

Bad *content* is never an exception: parsing and checking return ``Problem`` values, so a user sees every problem at
once. Exceptions are for input that cannot be read at all and for callers that hand the generator or the lane packer
values it must refuse. They derive from the hub's ``ValidationFailedError``, so an API route that lets one escape
answers 422 with the message as the problem document's detail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hub.errors import ValidationFailedError

if TYPE_CHECKING:
    from hub.samplesheet.model import Problem


class SampleSheetError(ValidationFailedError):
    """Root of the package's errors (permanent: the same input fails the same way)."""


class UnreadableSheetError(SampleSheetError):
    """The bytes or text are not a sample sheet at all: not text, NUL characters, no ``[Section]`` line."""


class InvalidValueError(SampleSheetError):
    """A value given to the generator, the lane packer or ``reverse_complement`` that a sheet cannot hold."""


class UnknownInstrumentError(SampleSheetError):
    """An instrument platform whose i5 orientation is not in the table (``orientation.PLATFORMS``)."""


class OverrideCyclesError(SampleSheetError):
    """An ``OverrideCycles`` value that does not follow the ``Y151;I8;I8;Y151`` grammar."""


class LibraryTooLargeError(SampleSheetError):
    """A library that asks for more reads than one lane holds."""


class LanesExhaustedError(SampleSheetError):
    """The libraries need more lanes than the flow cell has."""


class RejectedSheetError(SampleSheetError):
    """The generator refused its input; ``problems`` lists every reason, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "; ".join(p.describe() for p in self.problems)
        super().__init__(f"the sample sheet cannot be generated: {lines}")
