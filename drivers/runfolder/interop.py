"""Cycle progress from InterOp, read without Illumina's library.

``InterOp/ExtractionMetricsOut.bin`` grows by one record per tile as each cycle's images are extracted, so its
last records give the highest cycle extracted; in format version 2 (MiSeq, HiSeq) each record also carries the
extraction time as a .NET ``DateTime.ToBinary()`` value, which stores UTC ticks: the last one is when the run's
last cycle was imaged, an exact end time where no completion file gives one.

RTA 3 and later (NovaSeq 6000, NovaSeq X) write metrics per cycle into ``InterOp/C<n>.1/`` folders instead;
those are counted by the folder reader. QC summaries (yield, %Q30, density) are not read here: see the README.

Only the tail of the file is read (records are appended in cycle order, give or take a tile), so a poll costs
the same at cycle 300 as at cycle 3.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from drivers.runfolder.errors import MalformedRunFileError
from drivers.runfolder.timestamps import RunTime, from_dotnet_binary

EXTRACTION_METRICS = "InterOp/ExtractionMetricsOut.bin"
TAIL_RECORDS = 512

_V2 = struct.Struct("<HHH4f4HQ")  # lane, tile, cycle, FWHM per channel, intensity per channel, date-time


@dataclass(frozen=True, slots=True)
class ExtractionProgress:
    last_cycle: int
    last_time: RunTime | None


def read_extraction_progress(path: Path, file: str = EXTRACTION_METRICS) -> ExtractionProgress | None:
    """The last cycle (and, in version 2, time) extracted; ``None`` for an empty file or an unknown version."""
    with path.open("rb") as stream:
        header = stream.read(3)
        if len(header) < 2:
            return None
        version, record_size = header[0], header[1]
        if version == 2:
            header_size, layout = 2, _V2
            if record_size != _V2.size:
                raise MalformedRunFileError(
                    file, f"version 2 records are {_V2.size} bytes, the header says {record_size}"
                )
        elif version == 3:
            if len(header) < 3 or record_size != 8 + 6 * header[2]:
                raise MalformedRunFileError(file, "version 3 header does not match its record size")
            header_size, layout = 3, struct.Struct(f"<HIH{header[2]}f{header[2]}H")
        else:
            return None
        size = stream.seek(0, 2)
        records = (size - header_size) // record_size  # a record still being written is left for the next poll
        first = max(0, records - TAIL_RECORDS)
        stream.seek(header_size + first * record_size)
        tail = stream.read((records - first) * record_size)
    return _progress(tail, layout, file, version)


def _progress(tail: bytes, layout: struct.Struct, file: str, version: int) -> ExtractionProgress | None:
    last_cycle, last_stamp = 0, 0
    for record in layout.iter_unpack(tail):
        last_cycle = max(last_cycle, record[2])
        if version == 2:
            last_stamp = max(last_stamp, record[-1])
    if last_cycle == 0:
        return None
    return ExtractionProgress(last_cycle, from_dotnet_binary(last_stamp, file) if last_stamp else None)
