"""Which way round an instrument needs the i5 index (``Index2``) in a sample sheet for standalone BCL Convert.

Index kits list i5 in the forward-strand orientation. Instruments read i5 either forward (MiSeq, HiSeq 2000/2500,
NovaSeq 6000 with v1.0 reagents) or as its reverse complement (iSeq 100, MiniSeq, NextSeq, HiSeq 3000/4000/X,
NovaSeq 6000 with v1.5 reagents, NovaSeq X). What the *sheet* needs is not always what the instrument reads: on
NextSeq 1000/2000, NovaSeq X and MiSeq i100 the run's ``RunInfo.xml`` flags the i5 read ``IsReverseComplement="Y"``
(see the NovaSeq X run folder in the shared data) and BCL Convert reverse-complements the sheet's ``Index2`` itself,
so those sheets take i5 forward.

Source: Illumina's "i5 Index Orientation Table" / knowledge article 000001800 ("Guidelines for reverse complementing
i5 sequences for demultiplexing"), column "Standalone BCL Convert"; and knowledge article 000007945 on the
``IsReverseComplement`` flag. Rows the table does not list (HiSeq, NovaSeq 6000 v1.0) follow the instrument's read
orientation, as they did for bcl2fastq.

============================  ===================  ==============================
platform                      i5 read on board     Index2 in a BCL Convert sheet
============================  ===================  ==============================
MiSeq                         forward              forward
MiSeq i100                    either (flagged)     forward
MiniSeq (Rapid kits)          forward              forward
HiSeq 2000/2500               forward              forward
NovaSeq 6000 (v1.0 reagents)  forward              forward
MiniSeq                       reverse complement   reverse complement
iSeq 100                      reverse complement   reverse complement
NextSeq 500/550               reverse complement   reverse complement
HiSeq 3000/4000               reverse complement   reverse complement
HiSeq X                       reverse complement   reverse complement
NovaSeq 6000 (v1.5 reagents)  reverse complement   reverse complement
NextSeq 1000/2000             reverse (flagged)    forward
NovaSeq X / X Plus            reverse (flagged)    forward
============================  ===================  ==============================

A bare "NovaSeq 6000" means v1.5 reagents: Illumina has sold only v1.5 kits since 2021; name "NovaSeq 6000 v1.0" for
older runs. Collisions do not depend on any of this: reverse-complementing every i5 in a lane keeps every distance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hub.samplesheet.barcodes import reverse_complement
from hub.samplesheet.errors import UnknownInstrumentError

I5Orientation = Literal["forward", "reverse_complement"]
FORWARD: I5Orientation = "forward"
REVERSE: I5Orientation = "reverse_complement"


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    read_on_board: I5Orientation | None  # None: depends on the run (MiSeq i100 index-first or read-first)
    sheet: I5Orientation
    header_value: str  # InstrumentPlatform in a v2 [Header]
    aliases: tuple[str, ...]


PLATFORMS: tuple[Platform, ...] = (
    Platform("MiSeq", FORWARD, FORWARD, "MiSeq", ("miseq",)),
    Platform("MiSeq i100", None, FORWARD, "MiSeq i100", ("miseqi100", "miseqi100plus")),
    Platform("MiniSeq (Rapid kits)", FORWARD, FORWARD, "MiniSeq", ("miniseqrapid", "miniseqrapidkits")),
    Platform("HiSeq 2000/2500", FORWARD, FORWARD, "HiSeq 2500", ("hiseq2000", "hiseq2500", "hiseq20002500")),
    Platform("NovaSeq 6000 (v1.0 reagents)", FORWARD, FORWARD, "NovaSeq 6000", ("novaseq6000v1", "novaseq6000v10")),
    Platform("MiniSeq", REVERSE, REVERSE, "MiniSeq", ("miniseq",)),
    Platform("iSeq 100", REVERSE, REVERSE, "iSeq 100", ("iseq", "iseq100")),
    Platform("NextSeq 500/550", REVERSE, REVERSE, "NextSeq 550", ("nextseq500", "nextseq550", "nextseq500550")),
    Platform("HiSeq 3000/4000", REVERSE, REVERSE, "HiSeq 4000", ("hiseq3000", "hiseq4000", "hiseq30004000")),
    Platform("HiSeq X", REVERSE, REVERSE, "HiSeq X", ("hiseqx", "hiseqxten", "hiseqxfive")),
    Platform(
        "NovaSeq 6000 (v1.5 reagents)",
        REVERSE,
        REVERSE,
        "NovaSeq 6000",
        ("novaseq6000", "novaseq6000v15", "novaseq6000dx"),
    ),
    Platform("NextSeq 1000/2000", REVERSE, FORWARD, "NextSeq1k2k", ("nextseq1000", "nextseq2000", "nextseq1k2k")),
    Platform("NovaSeq X / X Plus", REVERSE, FORWARD, "NovaSeqXSeries", ("novaseqx", "novaseqxplus", "novaseqxxplus")),
)
_BY_ALIAS = {alias: platform for platform in PLATFORMS for alias in platform.aliases}
_SUFFIXES = ("series", "system", "reagents", "reagent", "kits")


def _key(name: str) -> str:
    key = re.sub(r"[^a-z0-9]", "", name.lower()).removeprefix("illumina")
    for suffix in _SUFFIXES:
        key = key.removesuffix(suffix)
    return {"nextseq10002000": "nextseq1000"}.get(key, key)


def find_platform(instrument_platform: str) -> Platform:
    """``"NovaSeq X Plus"``, ``"NovaSeqXSeries"``, ``"NextSeq 550"``, ``"HiSeq 3000/4000"``… (case, spaces and
    punctuation do not matter). Raises ``UnknownInstrumentError`` listing the known platforms."""
    platform = _BY_ALIAS.get(_key(instrument_platform))
    if platform is None:
        known = "; ".join(p.name for p in PLATFORMS)
        raise UnknownInstrumentError(f"no i5 orientation known for instrument {instrument_platform!r}; known: {known}")
    return platform


def i5_orientation(instrument_platform: str) -> I5Orientation:
    """How ``Index2`` must be written in a sheet BCL Convert reads for this instrument (see the module's table)."""
    return find_platform(instrument_platform).sheet


def sheet_index2(i5: str, instrument_platform: str) -> str:
    """A kit's forward-strand i5 as the sheet for ``instrument_platform`` needs it."""
    return reverse_complement(i5) if i5_orientation(instrument_platform) == REVERSE else i5
