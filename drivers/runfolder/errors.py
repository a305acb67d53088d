"""What can be wrong with a run folder, as ``DriverError`` subclasses that name the file and the reason.

``MalformedRunFileError`` is also a ``BadFrameError``: an instrument may still be writing the file, so the next
poll may read it whole (``retryable``). ``UnsafeXmlError`` is never retried: a DOCTYPE does not go away.
"""

from __future__ import annotations

from drivers.base import BadFrameError, DriverError


class RunFolderError(DriverError):
    """Root of the run-folder errors: ``file`` is the path inside the run folder (or the folder itself)."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


class NotARunFolderError(RunFolderError):
    """The directory holds no ``RunInfo.xml``: it is not (yet) an Illumina run folder."""


class MalformedRunFileError(RunFolderError, BadFrameError):
    """A file the instrument writes cannot be used: not well-formed, truncated, or missing what it must hold."""

    retryable = True


class UnsafeXmlError(MalformedRunFileError):
    """The XML declares a DTD or entities; instruments never write them, and they are refused unparsed."""

    retryable = False
