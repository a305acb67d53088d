"""Checks on the sample rows: each row's Sample_ID, Lane and indexes, then each lane's duplicates, missing indexes and
index collisions.

Rows without a Lane column apply to every lane, so the whole table is one group. The index length a row must have
comes from its own ``OverrideCycles`` cell (BCL Convert 4.1+), else the sheet's ``OverrideCycles``, else
``Index1Cycles``/``Index2Cycles``; a v1 sheet gives none of these, so there the indexes of a lane must agree in length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hub.samplesheet.barcodes import BASES, Barcoded, find_collisions
from hub.samplesheet.cycles import index_lengths, mask_mismatches, parse_override_cycles
from hub.samplesheet.errors import OverrideCyclesError
from hub.samplesheet.model import (
    INDEX,
    INDEX2,
    LANE,
    OVERRIDE_CYCLES,
    SAMPLE_ID,
    SAMPLE_PROJECT,
    DataRow,
    DataTable,
    Findings,
    SampleSheet,
)
from hub.samplesheet.settings import barcode_mismatches

NAME = re.compile(r"[A-Za-z0-9_-]+")
Lengths = tuple[int | None, int | None]


def check_rows(sheet: SampleSheet, found: Findings) -> None:
    data = sheet.data
    if data is None:
        return
    if data.columns and not data.has(SAMPLE_ID):
        message = f"[{data.name}] has no Sample_ID column (columns: {', '.join(data.columns)})"
        found.add("error", "missing-column", data.columns_line, message, section=data.name, field=SAMPLE_ID)
    if not data.rows:
        found.add("error", "no-samples", data.line, f"[{data.name}] lists no samples", section=data.name)
    expected = {row.line: _expected_lengths(sheet, data, row, found) for row in data.rows}
    for row in data.rows:
        _check_row(data, row, expected[row.line], found)
    mismatches = barcode_mismatches(sheet)
    for lane, rows in _lane_groups(data, found).items():
        _check_lane(data, lane, rows, expected, mismatches, found)


def _expected_lengths(sheet: SampleSheet, data: DataTable, row: DataRow, found: Findings) -> Lengths:
    own = row.text(OVERRIDE_CYCLES)
    text = own or sheet.setting(OVERRIDE_CYCLES) or ""
    reads_known = sheet.version == 2 and bool(sheet.reads.read1_cycles)
    if text:
        try:
            masks = parse_override_cycles(text)
        except OverrideCyclesError as exc:
            if own:
                _add(found, data, row, OVERRIDE_CYCLES, "bad-override-cycles", exc.detail)
            masks = None
        if masks is not None and reads_known:
            if own:
                for why in mask_mismatches(masks, sheet.reads):
                    _add(found, data, row, OVERRIDE_CYCLES, "override-cycles-mismatch", why)
            lengths = index_lengths(masks, sheet.reads)
            if lengths is not None:
                return lengths
    if not reads_known:
        return None, None
    return sheet.reads.index1_cycles or 0, sheet.reads.index2_cycles or 0


def _add(found: Findings, data: DataTable, row: DataRow, column: str, code: str, message: str) -> None:
    number = data.column_number(column)
    found.add("error", code, row.line, message, section=data.name, field=column, column=number)


def _check_row(data: DataTable, row: DataRow, expected: Lengths, found: Findings) -> None:
    if data.has(SAMPLE_ID):
        if not row.sample_id:
            _add(found, data, row, SAMPLE_ID, "missing-sample-id", "Sample_ID is empty")
        elif not NAME.fullmatch(row.sample_id):
            why = f"Sample_ID {row.sample_id!r} may hold only letters, digits, - and _ (BCL Convert's rule)"
            _add(found, data, row, SAMPLE_ID, "bad-sample-id", why)
    if row.sample_project and not NAME.fullmatch(row.sample_project):
        why = f"Sample_Project {row.sample_project!r} may hold only letters, digits, - and _"
        _add(found, data, row, SAMPLE_PROJECT, "bad-sample-project", why)
    for column, value, length in ((INDEX, row.index, expected[0]), (INDEX2, row.index2, expected[1])):
        if value:
            _check_index(data, row, column, value, length, found)


def _check_index(data: DataTable, row: DataRow, column: str, value: str, expected: int | None, found: Findings) -> None:
    bad = sorted(set(value.upper()) - BASES)
    if bad:
        why = f"{column} {value!r} holds {', '.join(map(repr, bad))}; an index is A, C, G, T or N"
        _add(found, data, row, column, "bad-index", why)
        return
    if value != value.upper():
        number = data.column_number(column)
        message = f"write {column} in upper case ({value.upper()})"
        found.add("warning", "index-case", row.line, message, section=data.name, field=column, column=number)
    if expected is None or len(value) == expected:
        return
    cycles = "Index1Cycles" if column == INDEX else "Index2Cycles"
    if expected == 0:
        why = f"{column} {value} is given but the run reads no {column} cycles ({cycles} or OverrideCycles)"
    else:
        why = f"{column} {value} has {len(value)} bases but {expected} index cycles are read"
        why += (
            " — add OverrideCycles (e.g. I8N2) to skip the extra cycles"
            if len(value) < expected
            else " — shorten the index or read more cycles"
        )
    _add(found, data, row, column, "index-length", why)


def _lane_groups(data: DataTable, found: Findings) -> dict[int | None, list[DataRow]]:
    if not data.has(LANE):
        return {None: list(data.rows)}
    groups: dict[int | None, list[DataRow]] = {}
    for row in data.rows:
        if row.lane is None:
            raw = row.text(LANE)
            why = "Lane is empty" if not raw else f"Lane {raw!r} is not a lane number (1, 2, …)"
            _add(found, data, row, LANE, "bad-lane", why)
        else:
            groups.setdefault(row.lane, []).append(row)
    return dict(sorted(groups.items(), key=lambda item: item[0] or 0))


def _check_lane(
    data: DataTable,
    lane: int | None,
    rows: Sequence[DataRow],
    expected: dict[int, Lengths],
    mismatches: tuple[int, int],
    found: Findings,
) -> None:
    where = "the sheet (no Lane column: every lane)" if lane is None else f"lane {lane}"
    seen: dict[str, DataRow] = {}
    for row in rows:
        first = seen.setdefault(row.sample_id, row)
        if first is not row and row.sample_id:
            why = f"Sample_ID {row.sample_id} is already in {where} (line {first.line})"
            _add(found, data, row, SAMPLE_ID, "duplicate-sample", why)
    if len(rows) < 2:
        return
    any_index2 = any(row.index2 for row in rows)
    for row in rows:
        if not row.index:
            _add(
                found, data, row, INDEX, "index-required", f"{where} holds {len(rows)} samples, so each needs an Index"
            )
        need2 = expected[row.line][1]
        if not row.index2 and (need2 > 0 if need2 is not None else any_index2):
            why = f"{where} holds {len(rows)} dual-indexed samples, so each needs an Index2"
            _add(found, data, row, INDEX2, "index2-required", why)
    if any(expected[row.line][0] is None for row in rows):
        _check_lengths_agree(data, where, rows, found)
    samples = [
        Barcoded(row.sample_id, row.index.upper(), row.index2.upper() if _valid(row.index2) else "", row.line)
        for row in rows
        if _valid(row.index)
    ]
    for hit in find_collisions(samples, mismatches):
        number = data.column_number(INDEX)
        message = f"index collision in {where}: {hit.describe()}"
        found.add("error", "index-collision", hit.second.line, message, section=data.name, field=INDEX, column=number)


def _valid(index: str) -> bool:
    return bool(index) and not set(index.upper()) - BASES


def _check_lengths_agree(data: DataTable, where: str, rows: Sequence[DataRow], found: Findings) -> None:
    for column in (INDEX, INDEX2):
        values = [(row, row.text(column)) for row in rows if _valid(row.text(column))]
        if not values:
            continue
        first_row, first = values[0]
        for row, value in values[1:]:
            if len(value) != len(first):
                why = (
                    f"{column} {value} has {len(value)} bases but {first} (line {first_row.line}) has {len(first)}; "
                    f"the indexes in {where} must be the same length"
                )
                _add(found, data, row, column, "index-length", why)
