"""Which instrument wrote a run folder, from its serial number's prefix (or what RunParameters says it is)."""

from __future__ import annotations

from drivers.runfolder.runparameters import RunParameters

# Longest prefix first. Serial prefixes as Illumina assigns them.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("NB55", "NextSeq 550"),
    ("NS55", "NextSeq 550"),
    ("NB50", "NextSeq 500"),
    ("NS50", "NextSeq 500"),
    ("LH", "NovaSeq X"),
    ("VH", "NextSeq 1000/2000"),
    ("VL", "NextSeq 1000/2000"),
    ("SH", "MiSeq i100"),
    ("MN", "MiniSeq"),
    ("FS", "iSeq 100"),
    ("NB", "NextSeq 500/550"),
    ("NS", "NextSeq 500/550"),
    ("ST", "HiSeq X"),
    ("M", "MiSeq"),
    ("A", "NovaSeq 6000"),
    ("K", "HiSeq 3000/4000"),
    ("J", "HiSeq 3000"),
    ("D", "HiSeq 2500"),
    ("E", "HiSeq X"),
)
_TYPES = {"NovaSeqXPlus": "NovaSeq X Plus", "NovaSeqX": "NovaSeq X", "NovaSeq": "NovaSeq 6000"}


def platform_name(instrument: str, parameters: RunParameters | None = None) -> str:
    """``NovaSeq X Plus``, ``NextSeq 550``, ``MiSeq``…; ``Illumina`` when the serial is of no known family."""
    if parameters is not None and parameters.instrument_type:
        return _TYPES.get(parameters.instrument_type, parameters.instrument_type)
    for prefix, name in _PREFIXES:
        if instrument.upper().startswith(prefix) and instrument[len(prefix) : len(prefix) + 1].isdigit():
            return name
    return "Illumina"
