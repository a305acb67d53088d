"""Sections to passages of about ``target_words`` words that keep their heading path, cut at paragraph and then
sentence boundaries so a cited passage reads as written."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.ai.analysis import sentences
from hub.ai.extract import Section

TARGET_WORDS = 140
MAX_WORDS = 220


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    section: str
    text: str
    page: int | None


def chunk_sections(sections: Iterable[Section], *, target_words: int = TARGET_WORDS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in sections:
        for text in _pieces(section.text, target_words):
            chunks.append(Chunk(len(chunks), section.heading[:500], text, section.page))
    return chunks


def _pieces(text: str, target: int) -> list[str]:
    units: list[str] = []
    for paragraph in text.split("\n\n"):
        if len(paragraph.split()) <= MAX_WORDS:
            units.append(paragraph)
        else:
            units.extend(_word_limited(sentences(paragraph)))
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        words = len(unit.split())
        if current and size + words > target:
            pieces.append("\n\n".join(current))
            current, size = [], 0
        current.append(unit)
        size += words
    if current:
        if pieces and size < target // 4 and len(pieces[-1].split()) + size <= MAX_WORDS:
            pieces[-1] = pieces[-1] + "\n\n" + "\n\n".join(current)  # no orphan tail of a few words
        else:
            pieces.append("\n\n".join(current))
    return pieces


def _word_limited(parts: list[str]) -> list[str]:
    """Sentences, with any single sentence longer than MAX_WORDS cut into MAX_WORDS pieces (tables as text)."""
    out: list[str] = []
    for part in parts:
        words = part.split()
        out.extend(" ".join(words[i : i + MAX_WORDS]) for i in range(0, len(words), MAX_WORDS))
    return out
