"""The shape of storage, without a database: which kind of container goes where, what each kind may carry, box
grid labels, the container path, and which temperature zones suit a sample type."""

from __future__ import annotations

import re
from typing import Any

from hub.db.sample_models import ZONES
from hub.db.storage_models import CONTAINER_KINDS, MAX_GRID_COLS, MAX_GRID_ROWS
from hub.errors import ValidationFailedError

ABOVE_UNIT_KINDS = frozenset({"site", "room"})
UNIT_KINDS = frozenset({"freezer", "fridge", "ln2_tank", "cabinet"})
INNER_KINDS = frozenset({"shelf", "rack", "drawer", "tower"})
BOX = "box"
BOX_KINDS = frozenset({BOX})
MAX_DEPTH = 12  # levels from a root to a box; the path column holds 12 ids
SEGMENT = 37  # one id (36 characters) and its slash in ``path``
ZONE_NAMES = {"ln2_vapour": "LN2 vapour", "-80": "-80 °C", "-20": "-20 °C", "4": "4 °C", "room": "room temperature"}


def check_structure(kind: str, parent_kind: str | None) -> None:
    """Nothing, or ``ValidationFailedError`` saying where a ``kind`` may go: sites and rooms above units, shelves,
    racks, drawers and towers inside units, boxes inside units or those, nothing inside a box."""
    if kind not in CONTAINER_KINDS:
        raise ValidationFailedError(f"unknown container kind {kind!r}; one of {', '.join(CONTAINER_KINDS)}")
    if kind == "site":
        allowed: frozenset[str | None] = frozenset({None})
    elif kind == "room":
        allowed = frozenset({None, "site"})
    elif kind in UNIT_KINDS:
        allowed = frozenset({None, "site", "room"})
    else:  # inner kinds and boxes live inside a unit
        allowed = frozenset(UNIT_KINDS | INNER_KINDS)
    if parent_kind in allowed:
        return
    where = " or ".join(sorted("the top level" if k is None else f"a {k}" for k in allowed))
    inside = "the top level" if parent_kind is None else f"a {parent_kind}"
    raise ValidationFailedError(f"a {kind} cannot go in {inside}; it goes in {where}")


def check_fields(kind: str, *, zone: str | None, capacity: int | None, rows: int | None, cols: int | None) -> None:
    """Nothing, or ``ValidationFailedError`` naming what a ``kind`` cannot carry: a unit needs its zone and nothing
    else sets one, only a box has a grid and a box has no capacity."""
    if kind in UNIT_KINDS:
        if zone is None:
            raise ValidationFailedError(f"a {kind} needs its temperature zone: one of {', '.join(ZONES)}")
    elif zone is not None:
        raise ValidationFailedError(f"a {kind} takes the zone of the unit it is in; set the zone on the unit")
    if zone is not None and zone not in ZONES:
        raise ValidationFailedError(f"unknown zone {zone!r}; one of {', '.join(ZONES)}")
    if kind == BOX:
        check_grid(rows, cols)
        if capacity is not None:
            raise ValidationFailedError("a box holds samples in its grid, not containers: no capacity")
    elif rows is not None or cols is not None:
        raise ValidationFailedError(f"only a box has a grid; a {kind} has a capacity (containers it holds)")
    if capacity is not None and capacity < 0:
        raise ValidationFailedError("capacity cannot be negative")


def row_label(row: int) -> str:
    return chr(ord("A") + row - 1)


def position_label(row: int, col: int) -> str:
    """``A1`` for row 1, column 1: rows are letters, columns numbers (an SBS 96 box runs A1 to H12)."""
    return f"{row_label(row)}{col}"


def position_index(row: int, col: int, cols: int) -> int:
    """The 1-based row-major number of a position (A1 = 1, A2 = 2 … on a 9×9 box I9 = 81)."""
    return (row - 1) * cols + col


def grid_positions(rows: int, cols: int) -> list[tuple[int, int]]:
    """Every (row, column) of a grid in row-major order: A1, A2 … A<cols>, B1 …"""
    return [(r, c) for r in range(1, rows + 1) for c in range(1, cols + 1)]


def check_grid(rows: int | None, cols: int | None) -> tuple[int, int]:
    if rows is None or cols is None:
        raise ValidationFailedError("a box needs its grid: rows and cols (a 96 box is 8 rows × 12 cols)")
    if not (1 <= rows <= MAX_GRID_ROWS and 1 <= cols <= MAX_GRID_COLS):
        raise ValidationFailedError(
            f"a box grid is 1 to {MAX_GRID_ROWS} rows × 1 to {MAX_GRID_COLS} columns; got {rows} × {cols}"
        )
    return rows, cols


_LABEL = re.compile(r"([A-Za-z])\s*0*([0-9]{1,3})")


def parse_position(text: str, rows: int, cols: int) -> tuple[int, int]:
    """(row, column) of ``A1``, ``a01``, ``H12``, or of a row-major number (``1`` … ``rows*cols``); a position
    outside the grid is refused naming the grid."""
    stripped = text.strip()
    last = position_label(rows, cols)
    if stripped.isascii() and stripped.isdigit():
        number = int(stripped)
        if 1 <= number <= rows * cols:
            return (number - 1) // cols + 1, (number - 1) % cols + 1
    else:
        match = _LABEL.fullmatch(stripped)
        if match is not None:
            row, col = ord(match[1].upper()) - ord("A") + 1, int(match[2])
            if 1 <= row <= rows and 1 <= col <= cols:
                return row, col
    raise ValidationFailedError(
        f"position {text!r} is not in a {rows} × {cols} box: A1 to {last}, or 1 to {rows * cols}"
    )


def zone_fits(needs: str, colder_ok: bool, unit_zone: str) -> bool:
    """A sample that needs ``needs`` fits a unit of the same zone, or a colder one when ``colder_ok``."""
    wanted, offered = ZONES.index(needs), ZONES.index(unit_zone)
    return offered == wanted or (colder_ok and offered < wanted)


def zone_need(needs: str, colder_ok: bool) -> str:
    return ZONE_NAMES[needs] + (" (or colder)" if colder_ok and needs != ZONES[0] else "")


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort ``Box 2`` before ``Box 10``."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def over_threshold(used: int, total: int, pct: int) -> bool:
    return total > 0 and used * 100 >= pct * total


def depth_of(path: str) -> int:
    return (len(path) - 1) // SEGMENT


def path_ids(path: str) -> list[str]:
    return [part for part in path.split("/") if part]
