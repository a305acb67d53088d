"""Index barcodes: Hamming distance, reverse complement, and BCL Convert's collision rule.

With ``BarcodeMismatchesIndexN = m`` BCL Convert assigns a read to a sample when its index is within ``m`` mismatches,
so two samples' barcodes must differ by at least ``2m + 1`` for no read to match both (default ``m = 1``: 3). A pair
of dual-indexed samples collides only when *every* index read is too close: one well-separated index is enough to
tell them apart. ``N`` in a sheet is not a wildcard (Illumina: "Ns are not considered as wildcard characters"), so it
counts like any other letter.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hub.samplesheet.errors import InvalidValueError

BASES = frozenset("ACGTN")
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def reverse_complement(sequence: str) -> str:
    """``"AACCGGTN"`` → ``"NACCGGTT"``; keeps case. Raises ``InvalidValueError`` for a letter other than ACGTN."""
    bad = sorted(set(sequence.upper()) - BASES)
    if bad:
        raise InvalidValueError(f"{sequence!r} is not a DNA sequence: {', '.join(map(repr, bad))} not in ACGTN")
    return sequence.translate(_COMPLEMENT)[::-1]


def hamming(first: str, second: str) -> int:
    """Positions at which two barcodes differ, over the shorter one's length (the cycles both are read in)."""
    return sum(a != b for a, b in zip(first, second, strict=False))


def minimum_distance(mismatches: int) -> int:
    """The distance two barcodes need so that no read is within ``mismatches`` of both."""
    return 2 * mismatches + 1


@dataclass(frozen=True, slots=True)
class Barcoded:
    """One sample's barcodes in the orientation the sheet holds them; ``index2`` "" for a single-indexed sample."""

    name: str
    index: str
    index2: str = ""
    line: int | None = None

    def label(self) -> str:
        return self.name if self.line is None else f"{self.name} (line {self.line})"


@dataclass(frozen=True, slots=True)
class Collision:
    """Two samples a read could be assigned to both of. ``distance2`` is ``None`` when Index2 was not compared."""

    first: Barcoded
    second: Barcoded
    distance1: int
    distance2: int | None
    mismatches: tuple[int, int]

    def describe(self) -> str:
        m1, m2 = self.mismatches
        found = f"Index distance {self.distance1}"
        need = f"BarcodeMismatchesIndex1={m1} needs Index to differ at {minimum_distance(m1)} or more positions"
        if self.distance2 is None:
            found += " (Index2 not compared: one of them has none)"
        else:
            found += f", Index2 distance {self.distance2}"
            need += f", or BarcodeMismatchesIndex2={m2} needs Index2 to differ at {minimum_distance(m2)} or more"
        return (
            f"{self.first.label()} and {self.second.label()} collide: {found}; {need} — "
            "choose other indexes, split them across lanes or lower the allowed mismatches"
        )


def collision(first: Barcoded, second: Barcoded, mismatches: tuple[int, int] = (1, 1)) -> Collision | None:
    """The collision between two samples, or ``None`` when at least one index read tells them apart."""
    m1, m2 = mismatches
    distance1 = hamming(first.index, second.index)
    if distance1 >= minimum_distance(m1):
        return None
    distance2 = None
    if first.index2 and second.index2:
        distance2 = hamming(first.index2, second.index2)
        if distance2 >= minimum_distance(m2):
            return None
    return Collision(first, second, distance1, distance2, mismatches)


def find_collisions(samples: Sequence[Barcoded], mismatches: tuple[int, int] = (1, 1)) -> list[Collision]:
    """Every colliding pair among ``samples`` (one lane), in sheet order."""
    found = []
    for i, j in sorted(_candidates(samples, mismatches[0])):
        hit = collision(samples[i], samples[j], mismatches)
        if hit is not None:
            found.append(hit)
    return found


def _candidates(samples: Sequence[Barcoded], mismatches: int) -> set[tuple[int, int]]:
    """Pairs whose Index may be within ``2m``. Two equal-length indexes are within ``2m`` exactly when some sequence
    lies within ``m`` of both, so each index is filed under every sequence within ``m`` of it and only indexes filed
    together are paired: the work grows with the collisions found, not with the square of the lane (a 1,536-sample
    lane takes a fraction of a second). Indexes of unequal length are paired with each other outright."""
    by_length: dict[int, list[int]] = {}
    for number, sample in enumerate(samples):
        by_length.setdefault(len(sample.index), []).append(number)
    pairs: set[tuple[int, int]] = set()
    for members in by_length.values():
        filed: dict[str, list[int]] = {}
        for number in members:
            for near in _within(samples[number].index, mismatches):
                filed.setdefault(near, []).append(number)
        for together in filed.values():
            pairs.update((a, b) for n, a in enumerate(together) for b in together[n + 1 :])
    lengths = sorted(by_length)
    for n, short in enumerate(lengths):
        for long in lengths[n + 1 :]:
            pairs.update((min(a, b), max(a, b)) for a in by_length[short] for b in by_length[long])
    return pairs


def _within(index: str, radius: int) -> Iterator[str]:
    """Every sequence (over ACGTN and the index's own letters) at most ``radius`` substitutions from ``index``."""
    letters = sorted(BASES | set(index))
    yield index
    for count in range(1, min(radius, len(index)) + 1):
        for positions in itertools.combinations(range(len(index)), count):
            choices = [[c for c in letters if c != index[at]] for at in positions]
            for replacement in itertools.product(*choices):
                near = list(index)
                for at, letter in zip(positions, replacement, strict=True):
                    near[at] = letter
                yield "".join(near)
