"""Field paths into a decoded JSON payload: ``$`` is the whole payload, ``$.data.temp`` (or ``data.temp``) a
member, ``$.probes[0].value`` an array element. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Final

PathStep = str | int
"""A member name or an array index."""

MISSING: Final = object()
"""What ``resolve`` returns when the payload has nothing at the path."""

_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[([0-9]{1,6})\]")
_FIRST_MEMBER = re.compile(r"[A-Za-z0-9_-]+")


def parse_path(text: str) -> tuple[PathStep, ...]:
    """Split a path into steps, or raise ``ValueError`` naming the first character that does not fit."""
    if text == "$":
        return ()
    if text.startswith("$"):
        rest = text[1:]
    else:
        first = _FIRST_MEMBER.match(text)
        if first is None:
            raise ValueError(f"a path starts with '$' or a member name: {text!r}")
        rest = "." + text
    steps: list[PathStep] = []
    position = 0
    while position < len(rest):
        step = _STEP.match(rest, position)
        if step is None:
            raise ValueError(
                f"bad path {text!r} at {rest[position:]!r}: expected '.name' (letters, digits, '_', '-') or '[index]'"
            )
        member, index = step.groups()
        steps.append(member if member is not None else int(index))
        position = step.end()
    return tuple(steps)


def check_path(text: str) -> str:
    """Return ``text`` if it is a valid path (for use as a pydantic validator)."""
    parse_path(text)
    return text


def resolve(document: object, steps: tuple[PathStep, ...]) -> object:
    """The value at ``steps`` inside ``document``, or ``MISSING``."""
    value = document
    for step in steps:
        if isinstance(step, str):
            if not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
        else:
            if not isinstance(value, list) or step >= len(value):
                return MISSING
            value = value[step]
    return value


def format_path(steps: tuple[PathStep, ...]) -> str:
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in steps)
