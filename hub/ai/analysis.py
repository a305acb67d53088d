"""Words for lexical ranking: lower-cased tokens, English stop words dropped, a light suffix stemmer (so
"thawing", "thawed" and "thaws" meet at "thaw"), and sentence splitting for extractive answers."""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "may",
        "might",
        "must",
        "shall",
        "us",
        "per",
        "via",
        "e.g",
        "i.e",
        "etc",
        "please",
        "tell",
        "know",
        "find",
        "give",
        "get",
        "one",
        "ok",
        "do",
        "does",
        "done",
        "lab",
        "our",
    ]
)
# words that shape a question but carry none of its subject: left out of what the documents must cover
QUESTION_WORDS = frozenset(
    [
        "many",
        "much",
        "long",
        "often",
        "happen",
        "happens",
        "happened",
        "kind",
        "sort",
        "way",
        "ways",
        "thing",
        "things",
        "something",
        "anyone",
        "someone",
        "explain",
        "describe",
        "mean",
        "means",
        "exactly",
        "usually",
        "typically",
        "normally",
        "need",
        "needs",
        "supposed",
        "allowed",
        "ok",
        "okay",
    ]
)
_IRREGULAR = {"kept": "keep", "held": "hold", "thawn": "thaw", "frozen": "freez", "froze": "freez", "ran": "run"}


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately small stemmer: plural and common verb endings only; longer rules cost more than they gain
    on lab vocabulary (reagent names, instrument models)."""
    if len(word) <= 3 or word[0].isdigit():
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    stemmed = _strip_suffix(word)
    return stemmed[:-1] if len(stemmed) > 4 and stemmed.endswith("e") else stemmed  # cause, causes, caused


def _strip_suffix(word: str) -> str:
    for suffix, replacement, keep in (
        ("ies", "y", 4),
        ("sses", "ss", 4),
        ("ing", "", 5),
        ("edly", "", 6),
        ("ed", "", 5),
        ("ers", "er", 5),
        ("es", "e", 5),
        ("s", "", 4),
    ):
        if word.endswith(suffix) and len(word) >= keep + len(suffix) - 1:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            stemmed = word[: -len(suffix)] + replacement
            if suffix in ("ing", "ed") and len(stemmed) > 3 and stemmed[-1] == stemmed[-2] and stemmed[-1] not in "lsz":
                stemmed = stemmed[:-1]  # "stopped" -> "stop"
            return stemmed
    return word


def terms(text: str) -> list[str]:
    """The indexed terms of ``text``, in order (repeats kept: term frequency counts them)."""
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS]


def question_terms(text: str) -> list[str]:
    """The terms of a question that its answer must be about (``terms`` without the question's own words)."""
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS and t not in QUESTION_WORDS]


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences. Hard-wrapped lines are joined first (PDFs and plain text wrap mid-sentence);
    list items and table rows stay on their own."""
    found = []
    for line in _unwrap(text):
        for part in _SENTENCE.split(line):
            cleaned = " ".join(part.split())
            if len(cleaned) >= 3:
                found.append(cleaned)
    return found


_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)]|[a-z][.)]|Row \d+:)\s+|.*\s\|\s")


def _unwrap(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.splitlines():
        if not raw.strip():
            lines.append("")
        elif lines and lines[-1] and not _ITEM.match(raw) and not lines[-1].rstrip().endswith(":"):
            lines[-1] = lines[-1].rstrip() + " " + raw.strip()
        else:
            lines.append(raw.strip())
    return [line for line in lines if line]
