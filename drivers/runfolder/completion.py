"""The files an instrument writes when reads and runs finish, each platform its own set.

- ``RTARead<N>Complete.txt`` (NextSeq 500/550, some MiSeq/HiSeq): read N is base-called, e.g.
  ``Read 1 complete 6/10/2017 5:29:35 AM`` (wall clock, no zone).
- ``RTAComplete.txt``: primary analysis is done. ``RTA 2.4.11 completed on 6/10/2017 2:09:31 PM`` (RTA 2),
  ``4/18/2013,10:50:12.345,Illumina RTA 1.17.28`` (RTA 1), or empty (RTA 3 and later). No zone in any.
- ``RunCompletionStatus.xml``: NextSeq 500/550 ``CompletionStatus`` (``CompletedAsPlanned`` or how it ended
  early) with completed cycles per read; NovaSeq X ``RunStatus`` (``RunCompleted``/``RunErrored``) with start and
  end times carrying a UTC offset.
- ``CopyComplete.txt`` (NovaSeq, NovaSeq X, newer MiSeq): the output copy is done; usually empty, so its time is
  the file's modification time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from drivers.runfolder.errors import MalformedRunFileError
from drivers.runfolder.safexml import Document, attribute, parse_count, parse_xml
from drivers.runfolder.timestamps import RunTime, parse_time, search_time

RUN_COMPLETION_STATUS = "RunCompletionStatus.xml"
RTA_COMPLETE = "RTAComplete.txt"
COPY_COMPLETE = "CopyComplete.txt"
SUCCESS_STATUSES = frozenset({"CompletedAsPlanned", "RunCompleted"})
MAX_MARKER_BYTES = 64 << 10

_RTA_VERSION = re.compile(r"RTA\s+v?(\d+(?:\.\d+)+)", re.IGNORECASE)
_READ_MARKER = re.compile(r"RTARead(\d{1,2})Complete\.txt")


@dataclass(frozen=True, slots=True)
class CompletionStatus:
    """What ``RunCompletionStatus.xml`` says; ``succeeded`` only for a run that completed as planned."""

    status: str
    succeeded: bool
    completed_cycles: int | None = None
    start_time: RunTime | None = None
    end_time: RunTime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RtaComplete:
    rta_version: str | None
    time: RunTime | None


@dataclass(frozen=True, slots=True)
class ReadComplete:
    read: int
    time: RunTime | None


def parse_completion_status(data: bytes, file: str = RUN_COMPLETION_STATUS) -> CompletionStatus:
    doc = Document(parse_xml(data, file))
    status = doc.find_text("CompletionStatus", "RunStatus")
    if status is None:
        raise MalformedRunFileError(file, "holds neither <CompletionStatus> nor <RunStatus>")
    start, end = doc.find_text("RunStartTime"), doc.find_text("RunEndTime")
    error = doc.find_text("ErrorDescription", "ErrorMessage", "Error")
    return CompletionStatus(
        status=status,
        succeeded=status in SUCCESS_STATUSES,
        completed_cycles=_completed_cycles(doc, file),
        start_time=parse_time(start, f"{file} RunStartTime") if start else None,
        end_time=parse_time(end, f"{file} RunEndTime") if end else None,
        error=None if error in (None, "None") else error,
    )


def _completed_cycles(doc: Document, file: str) -> int | None:
    counts: list[int] = []
    for element in doc.root.iter():
        tag = element.tag.rpartition("}")[2]
        if tag.startswith("Completed") and tag.endswith("Cycles"):  # NextSeq: CompletedRead1Cycles, ...
            counts.append(parse_count((element.text or "").strip(), file, tag) or 0)
    for element in doc.descendants("CompletedReads/Read"):  # NovaSeq X: <Read ReadName=... Cycles=.../>
        counts.append(parse_count(attribute(element, "Cycles"), file, "CompletedReads Cycles") or 0)
    return sum(counts) if counts else None


def parse_rta_complete(data: bytes, file: str = RTA_COMPLETE) -> RtaComplete:
    text = _marker_text(data, file)
    version = _RTA_VERSION.search(text)
    return RtaComplete(version.group(1) if version else None, search_time(text, file))


def read_marker_number(name: str) -> int | None:
    """``RTARead3Complete.txt`` → 3."""
    match = _READ_MARKER.fullmatch(name)
    return int(match.group(1)) if match else None


def read_marker_name(read: int) -> str:
    return f"RTARead{read}Complete.txt"


def parse_read_complete(data: bytes, read: int) -> ReadComplete:
    file = read_marker_name(read)
    return ReadComplete(read, search_time(_marker_text(data, file), file))


def _marker_text(data: bytes, file: str) -> str:
    if len(data) > MAX_MARKER_BYTES:
        raise MalformedRunFileError(file, f"{len(data)} bytes is too large for a completion marker")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data:
        raise MalformedRunFileError(file, "holds NUL bytes: not a text marker (a torn or corrupt write)")
    return data.decode("utf-8", errors="replace")
