"""``OverrideCycles``: which cycles of each read BCL Convert treats as sequence, index, UMI or skips.

One mask per read the run has, in sequencing order (Read 1; Index 1; Index 2; Read 2), separated by ``;``. A mask is
one or more letter-count pairs: ``Y`` sequence, ``I`` index, ``U`` UMI, ``N`` skipped. Examples: ``Y151;I8;I8;Y151``,
``U8Y143;I8;I8;U8Y143``, ``Y151;I8N2;N2I8;Y151``. BCL Convert refuses ``I`` in a sequence read and ``Y`` in an index
read, and each mask must add up to the cycles ``[Reads]`` gives that read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from hub.samplesheet.errors import OverrideCyclesError
from hub.samplesheet.model import Reads

CycleKind = Literal["Y", "I", "U", "N"]
_SEGMENT = re.compile(r"([YIUN])([0-9]+)", re.IGNORECASE)
_KINDS: dict[str, CycleKind] = {"Y": "Y", "I": "I", "U": "U", "N": "N"}


@dataclass(frozen=True, slots=True)
class Segment:
    kind: CycleKind
    count: int

    def __str__(self) -> str:
        return f"{self.kind}{self.count}"


@dataclass(frozen=True, slots=True)
class ReadMask:
    segments: tuple[Segment, ...]

    @property
    def cycles(self) -> int:
        return sum(s.count for s in self.segments)

    def count(self, kind: CycleKind) -> int:
        return sum(s.count for s in self.segments if s.kind == kind)

    def __str__(self) -> str:
        return "".join(str(s) for s in self.segments)


def parse_override_cycles(text: str) -> tuple[ReadMask, ...]:
    """``"Y151;I8;I8;Y151"`` → four masks; letters in either case. ``OverrideCyclesError`` names the bad part."""
    if not text.strip():
        raise OverrideCyclesError("OverrideCycles is empty")
    masks = []
    for number, part in enumerate(text.split(";"), start=1):
        part = part.strip()
        if not part or _SEGMENT.sub("", part):
            raise OverrideCyclesError(
                f"read {number} of OverrideCycles is {part!r}: write letter-count pairs such as Y151, I8N2 or U8Y143 "
                "(Y sequence, I index, U UMI, N skip)"
            )
        segments = []
        for match in _SEGMENT.finditer(part):
            kind, count = match.group(1).upper(), int(match.group(2))
            if count == 0:
                raise OverrideCyclesError(f"read {number} of OverrideCycles has {match.group(0)}: counts start at 1")
            segments.append(Segment(_KINDS[kind], count))
        masks.append(ReadMask(tuple(segments)))
    return tuple(masks)


def mask_mismatches(masks: tuple[ReadMask, ...], reads: Reads) -> list[str]:
    """Why ``masks`` do not fit the run's ``[Reads]``; empty when they do."""
    present = reads.present()
    if len(masks) != len(present):
        names = ", ".join(f"{key} {cycles}" for key, cycles, _ in present) or "none"
        return [f"OverrideCycles has {len(masks)} reads but [Reads] has {len(present)} ({names})"]
    found = []
    for mask, (key, cycles, is_index) in zip(masks, present, strict=True):
        if mask.cycles != cycles:
            found.append(f"{mask} covers {mask.cycles} cycles but {key} is {cycles}")
        if is_index and mask.count("Y"):
            found.append(f"{mask} marks index cycles as sequence (Y) in the {key} read; use I, U or N")
        if not is_index and mask.count("I"):
            found.append(f"{mask} marks index cycles (I) in the {key} read; BCL Convert allows I only in index reads")
    return found


def index_lengths(masks: tuple[ReadMask, ...], reads: Reads) -> tuple[int, int] | None:
    """Index 1 and Index 2 lengths the masks imply (their ``I`` cycles); ``None`` when they do not fit ``reads``."""
    if mask_mismatches(masks, reads):
        return None
    lengths = {key: mask.count("I") for mask, (key, _, _) in zip(masks, reads.present(), strict=True)}
    return lengths.get("Index1Cycles", 0), lengths.get("Index2Cycles", 0)


def index_mask(length: int, cycles: int, *, pad_first: bool) -> str:
    """The mask for an index of ``length`` bases in a read of ``cycles``: ``I8``, ``I8N2``, or ``N2I8`` when the
    index is read from its far end (i5 on reverse-complement instruments); ``N10`` when there is no index."""
    if length == 0:
        return f"N{cycles}"
    pad = f"N{cycles - length}" if cycles > length else ""
    return f"{pad}I{length}" if pad_first else f"I{length}{pad}"
