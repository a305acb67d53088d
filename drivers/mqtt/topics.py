"""MQTT topic filters: what a valid filter is, and whether a topic matches one (MQTT 3.1.1 §4.7, 5.0 §4.7).

Pure functions, no I/O. The broker does the matching that decides what we receive; we match again only to pick
the subscription whose mapping applies to a message.
"""

from __future__ import annotations

from functools import lru_cache

MAX_TOPIC_BYTES = 65535


def check_filter(text: str) -> str:
    """Return ``text`` if it is a valid topic filter, else raise ``ValueError`` saying what is wrong."""
    if not text:
        raise ValueError("a topic filter must not be empty")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TOPIC_BYTES:
        raise ValueError(f"a topic filter is at most {MAX_TOPIC_BYTES} bytes")
    if "\x00" in text:
        raise ValueError("a topic filter must not contain NUL")
    if text.startswith("$share/"):
        raise ValueError("shared subscriptions ($share/...) split messages between clients: not supported")
    levels = text.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"'#' must be a whole level and the last one: {text!r}")
        if "+" in level and level != "+":
            raise ValueError(f"'+' must be a whole level: {text!r}")
    return text


def check_topic(text: str) -> str:
    """Return ``text`` if it is a topic a message can be published to (no wildcards), else raise ``ValueError``."""
    if not text or "+" in text or "#" in text or "\x00" in text:
        raise ValueError(f"not a publishable topic: {text!r}")
    return text


@lru_cache(maxsize=256)
def _levels(topic_filter: str) -> tuple[str, ...]:
    return tuple(topic_filter.split("/"))


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches ``topic_filter``; wildcards in the first level never match a ``$`` topic."""
    pattern = _levels(topic_filter)
    if topic.startswith("$") and pattern[0] in ("+", "#"):
        return False
    levels = topic.split("/")
    for index, wanted in enumerate(pattern):
        if wanted == "#":
            return True
        if index >= len(levels):
            return False
        if wanted not in ("+", levels[index]):
            return False
    return len(levels) == len(pattern)


def filters_overlap(first: str, second: str) -> bool:
    """Whether some topic matches both filters (the broker may then deliver it once for each)."""
    a, b = _levels(first), _levels(second)
    if (a[0] in ("+", "#") and b[0].startswith("$")) or (b[0] in ("+", "#") and a[0].startswith("$")):
        return False
    for index in range(max(len(a), len(b))):
        x = a[index] if index < len(a) else None
        y = b[index] if index < len(b) else None
        if x == "#" or y == "#":
            return True
        if x is None or y is None:
            return False
        if x != y and "+" not in (x, y):
            return False
    return True
