"""What a checked sheet becomes: the report an upload keeps (and a dry run answers with), and the samples a clean
sheet registers, one per row, with every field that fills no sample column kept in ``attributes``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hub.domain.samples import NewSample
from hub.intake import SheetCheck, SheetFile, Target, Value, decimal_text


def attribute_text(value: Value | None) -> str | None:
    """A value as ``attributes`` hold it: numbers as decimal text (no float rounding), dates as ISO dates."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def report_of(upload: SheetFile, check: SheetCheck, max_problems: int) -> dict[str, Any]:
    """The report of one check: every problem by row, column and reason (the first ``max_problems`` of them;
    the count is exact), how the columns were matched, and what was read how."""
    problems = check.ordered_problems()
    sheet_wide = any(p.row is None for p in problems)
    return {
        "format": upload.format,
        "sheet": check.sheet,
        "header_row": check.header_row,
        "columns": [
            {
                "field": spec.key,
                "label": spec.label,
                "header": check.headers[spec.key],
                "column": check.letter(spec.key),
            }
            for spec in check.fields
            if spec.key in check.columns
        ],
        "ignored_columns": check.ignored[:50],
        "rows": len(check.rows),
        "valid_rows": 0 if sheet_wide else sum(1 for r in check.rows if r.ok),
        "problem_count": len(problems),
        "problems": [p.to_dict() for p in problems[:max_problems]],
        "problems_truncated": len(problems) > max_problems,
        "notes": check.notes,
        "cleaned_cells": check.cleaned_cells,
    }


def sample_specs(check: SheetCheck, upload_id: str) -> list[NewSample]:
    """One sample per row of a sheet without problems (sample types and projects resolved in ``check``)."""
    targets = {spec.maps_to: spec.key for spec in check.fields if spec.maps_to is not None}
    attribute_keys = [spec.key for spec in check.fields if spec.maps_to is None]

    def value(values: dict[str, Value | None], target: Target) -> Any:
        key = targets.get(target)
        return None if key is None else values.get(key)

    specs = []
    for row in check.rows:
        references = check.references.get(row.number, {})
        specs.append(
            NewSample(
                name=str(value(row.values, Target.NAME)),
                sample_type_id=references.get(Target.SAMPLE_TYPE, ""),
                barcode=value(row.values, Target.BARCODE),
                project_id=references.get(Target.PROJECT),
                volume_ul=value(row.values, Target.VOLUME_UL),
                concentration=value(row.values, Target.CONCENTRATION),
                custodian=value(row.values, Target.CUSTODIAN),
                attributes={k: attribute_text(row.values[k]) for k in attribute_keys if row.values.get(k) is not None},
                intake_upload_id=upload_id,
            )
        )
    return specs
