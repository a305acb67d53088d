"""A template's fields: what each column holds (text, number with unit and range, one of a list, date), whether it is
required, and where its value goes on a sample (a sample column, or ``attributes[key]`` when it maps nowhere).

The definition is data; ``canonical`` and ``content_hash`` give the exact bytes an approval signs.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.domain.cells import has_control_characters
from hub.intake.dates import DateOrder
from hub.intake.numbers import bounded

MAX_FIELDS = 100
MAX_PATTERN_INPUT = 256  # the longest text a pattern is run on (patterns run on user-typed cells)
_MAX_UNBOUNDED = 3  # unbounded repeats in one pattern: sequential ones cost a power of the input length each


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    ENUM = "enum"
    DATE = "date"


class Target(StrEnum):
    """The sample column a field fills; a field without a target is kept in the sample's ``attributes``."""

    NAME = "name"
    BARCODE = "barcode"
    SAMPLE_TYPE = "sample_type"  # resolved by sample type name in the tenant
    PROJECT = "project"  # resolved by project code in the tenant
    VOLUME_UL = "volume_ul"
    CONCENTRATION = "concentration"
    CUSTODIAN = "custodian"


_TARGET_TYPES = {
    Target.NAME: {FieldType.TEXT},
    Target.BARCODE: {FieldType.TEXT},
    Target.SAMPLE_TYPE: {FieldType.TEXT, FieldType.ENUM},
    Target.PROJECT: {FieldType.TEXT, FieldType.ENUM},
    Target.VOLUME_UL: {FieldType.NUMBER},
    Target.CONCENTRATION: {FieldType.NUMBER},
    Target.CUSTODIAN: {FieldType.TEXT, FieldType.ENUM},
}
# what the samples table holds: longer text, or numbers past its precision, fail the field, not the database
TARGET_MAX_LENGTH = {Target.NAME: 200, Target.BARCODE: 64, Target.SAMPLE_TYPE: 64, Target.PROJECT: 64}
TARGET_RANGE = {
    Target.VOLUME_UL: (Decimal(0), Decimal("99999999999.999")),
    Target.CONCENTRATION: (Decimal(0), Decimal("9999999999.9999")),
}
TARGET_DECIMALS = {Target.VOLUME_UL: 3, Target.CONCENTRATION: 4}
DEFAULT_MAX_LENGTH = 1000
_MICRO_LITRE = {"µl", "μl", "ul"}
REQUIRED_TARGETS = (Target.NAME, Target.SAMPLE_TYPE)


def header_key(text: str) -> str:
    """A column header as matched: case, spacing, ``_``/``-``/``.``, a required mark ``*``, a unit in brackets
    (``Volume (µL)``), and the ``'`` an export puts before a formula character are all ignored."""
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = text.removeprefix("'")
    text = re.sub(r"[\(\[][^\)\]]*[\)\]]\s*$", "", text.replace("*", "").strip())
    return re.sub(r"[\s_\-./]+", " ", text).strip()


def _plain_text(value: str) -> str:
    if has_control_characters(value) or any(c in value for c in "\r\n\t"):
        raise ValueError("must not hold control characters, tabs or line breaks")
    if value != value.strip():
        raise ValueError("must not start or end with spaces")
    if value.startswith(("=", "+", "@")):
        raise ValueError("must not start with =, + or @ (a spreadsheet would run it as a formula)")
    return value


Label = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_plain_text)]
Unit = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_plain_text)]


def _quantifier(pattern: str, i: int) -> tuple[int, int | None, int] | None:
    """The repeat at ``pattern[i]``: (minimum, maximum or None, length), or None when there is none."""
    char = pattern[i] if i < len(pattern) else ""
    if char and char in "*+?":
        bounds = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        return bounds[0], bounds[1], 1
    if char == "{" and (match := re.match(r"\{(\d*)(,?)(\d*)\}", pattern[i:])):
        low = int(match[1] or 0)
        high = int(match[3]) if match[3] else (None if match[2] else low)
        return low, high, len(match[0])
    return None


def _group_prefix(pattern: str, i: int) -> int:
    """Skip ``?:``, ``?=``, ``?<name>``, ``?P<name>``, ``?i`` after an opening parenthesis."""
    if i >= len(pattern) or pattern[i] != "?":
        return i
    end = re.match(r"\?(?:[:=!]|<[=!]|P?<[^>]*>|[aiLmsux-]*:?)", pattern[i:])
    return i + (len(end[0]) if end else 1)


def _class_end(pattern: str, i: int) -> int:
    """The index after the character class that opens at ``pattern[i]``."""
    i += 1
    i += 1 if pattern[i : i + 1] == "^" else 0
    i += 1 if pattern[i : i + 1] == "]" else 0
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def check_pattern(pattern: str) -> None:
    """Refuse a regular expression that does not compile, or whose backtracking can explode: a repeat of a
    group that can itself match in several ways (``(a+)+``, ``(a|b)*``), or more than three unbounded repeats."""
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # a{99999999999999999999} overflows
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    stack, unbounded, i = [False], 0, 0  # stack: does the open group match in several ways?
    while i < len(pattern):
        char, group_varies = pattern[i], False
        if char == "(":
            stack.append(False)
            i = _group_prefix(pattern, i + 1)
            continue
        if char == "|":
            stack[-1], i = True, i + 1
            continue
        if char == ")":
            group_varies = stack.pop() if len(stack) > 1 else False
            stack[-1] = stack[-1] or group_varies
            i += 1
        elif char == "[":
            i = _class_end(pattern, i)
        else:
            i += 2 if char == "\\" else 1
        repeat = _quantifier(pattern, i)
        if repeat is None:
            continue
        low, high, length = repeat
        i += length
        i += 1 if pattern[i : i + 1] in ("?", "+") else 0
        if group_varies and (high is None or high > 4):
            raise ValueError(
                "a repeated group that can match in several ways (like (a+)+ or (a|b)*) can take exponential "
                "time; use a character class such as [ab]+"
            )
        if high is None or high - low > 16:
            unbounded += 1
        if high != low:
            stack[-1] = True
    if unbounded > _MAX_UNBOUNDED:
        raise ValueError(f"at most {_MAX_UNBOUNDED} unbounded repeats (*, + or {{n,}}) in one pattern")


class FieldSpec(BaseModel):
    """One column of a template. Options belong to one type: ``max_length`` and ``pattern`` to text, ``unit``,
    ``minimum``, ``maximum`` and ``integer`` to numbers, ``choices`` to enums, ``date_order`` to dates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="the attribute name")]
    label: Annotated[Label, Field(description="the column header")]
    type: FieldType
    required: bool = False
    maps_to: Target | None = None
    help: Annotated[str | None, Field(max_length=500)] = None
    aliases: Annotated[list[Label], Field(max_length=10, description="other headers that mean this column")] = []
    max_length: Annotated[int | None, Field(ge=1, le=10_000)] = None
    pattern: Annotated[str | None, Field(min_length=1, max_length=200, description="a regular expression")] = None
    unit: Unit | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    integer: bool = False
    choices: Annotated[list[Label] | None, Field(min_length=1, max_length=500)] = None
    date_order: Annotated[DateOrder | None, Field(description="how to read 03/04/2024; none: refuse it")] = None

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        own = {
            FieldType.TEXT: {"max_length", "pattern"},
            FieldType.NUMBER: {"unit", "minimum", "maximum", "integer"},
            FieldType.ENUM: {"choices"},
            FieldType.DATE: {"date_order"},
        }
        foreign = sorted(
            name
            for options in own.values()
            for name in options
            if name not in own[self.type] and getattr(self, name) not in (None, False)
        )
        if foreign:
            raise ValueError(f"field {self.key}: {', '.join(foreign)} do not apply to a {self.type.value} field")
        if self.type == FieldType.ENUM:
            if not self.choices:
                raise ValueError(f"field {self.key}: an enum field needs choices")
            seen = [c.casefold() for c in self.choices]
            if len(set(seen)) < len(seen):
                raise ValueError(f"field {self.key}: choices repeat (ignoring case)")
        if self.help is not None and has_control_characters(self.help):
            raise ValueError(f"field {self.key}: help must not hold control characters")
        for bound in (self.minimum, self.maximum):
            if bound is not None:
                bounded(bound)
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"field {self.key}: minimum {self.minimum} is above maximum {self.maximum}")
        if self.pattern is not None:
            if has_control_characters(self.pattern):
                raise ValueError(f"field {self.key}: the pattern holds control characters (write them as \\x07)")
            try:
                check_pattern(self.pattern)
            except ValueError as exc:
                raise ValueError(f"field {self.key}: pattern {exc}") from exc
            if self.max_length is not None and self.max_length > MAX_PATTERN_INPUT:
                raise ValueError(
                    f"field {self.key}: a field with a pattern holds at most {MAX_PATTERN_INPUT} characters"
                )
        if self.maps_to is not None:
            if self.type not in _TARGET_TYPES[self.maps_to]:
                kinds = " or ".join(sorted(t.value for t in _TARGET_TYPES[self.maps_to]))
                raise ValueError(f"field {self.key}: {self.maps_to.value} must be a {kinds} field")
            limit = TARGET_MAX_LENGTH.get(self.maps_to)
            if limit is not None and self.max_length is not None and self.max_length > limit:
                raise ValueError(f"field {self.key}: {self.maps_to.value} holds at most {limit} characters")
            if self.maps_to == Target.VOLUME_UL and self.unit is not None and self.unit.casefold() not in _MICRO_LITRE:
                raise ValueError(f"field {self.key}: volume_ul is in µL; unit {self.unit!r} is not µL")
        return self

    @property
    def headers(self) -> list[str]:
        """The header keys this field answers to: its label, its key, its aliases."""
        return list(dict.fromkeys(header_key(h) for h in (self.label, self.key, *self.aliases)))

    @property
    def effective_max_length(self) -> int:
        limit = self.max_length or (MAX_PATTERN_INPUT if self.pattern else DEFAULT_MAX_LENGTH)
        target = TARGET_MAX_LENGTH.get(self.maps_to) if self.maps_to else None
        return min(limit, target) if target else limit

    @property
    def effective_unit(self) -> str | None:
        return self.unit or ("µL" if self.maps_to == Target.VOLUME_UL else None)

    @property
    def effective_range(self) -> tuple[Decimal | None, Decimal | None]:
        low, high = TARGET_RANGE.get(self.maps_to, (None, None)) if self.maps_to else (None, None)
        if self.minimum is not None:
            low = self.minimum if low is None else max(low, self.minimum)
        if self.maximum is not None:
            high = self.maximum if high is None else min(high, self.maximum)
        return low, high

    @property
    def column_header(self) -> str:
        """The header a blank sheet shows: the label, the unit in brackets, ``*`` when required."""
        unit = self.effective_unit
        return self.label + (f" ({unit})" if unit else "") + (" *" if self.required else "")


def check_fields(fields: Sequence[FieldSpec]) -> None:
    """Refuse a set of fields that cannot make samples: keys or headers that repeat, a sample column filled twice,
    no required name or sample type. ``ValueError`` names every problem."""
    problems: list[str] = []
    if not 1 <= len(fields) <= MAX_FIELDS:
        problems.append(f"a template has 1 to {MAX_FIELDS} fields, not {len(fields)}")
    keys = [f.key for f in fields]
    problems += [f"key {k} is used twice" for k in sorted({k for k in keys if keys.count(k) > 1})]
    owners: dict[str, str] = {}
    for spec in fields:
        for header in spec.headers:
            other = owners.setdefault(header, spec.key)
            if other != spec.key:
                problems.append(f"header {header!r} would match both {other} and {spec.key}")
    targets = [f.maps_to for f in fields if f.maps_to is not None]
    problems += [f"{t.value} is filled by two fields" for t in sorted({t for t in targets if targets.count(t) > 1})]
    for target in REQUIRED_TARGETS:
        filler = next((f for f in fields if f.maps_to == target), None)
        if filler is None:
            problems.append(f"no field maps to {target.value} (every sample needs one)")
        elif not filler.required:
            problems.append(f"field {filler.key} maps to {target.value}, so it must be required")
    if problems:
        raise ValueError("; ".join(problems))


def canonical(fields: Sequence[FieldSpec]) -> list[dict[str, Any]]:
    """The fields as stored and signed: every option present, numbers as decimal text."""
    return [f.model_dump(mode="json") for f in fields]


def content_hash(template_id: str, version: int, fields: Sequence[FieldSpec]) -> str:
    """SHA-256 of the canonical definition of one version: what an approval's signature is bound to."""
    document = {"template_id": template_id, "version": version, "fields": canonical(fields)}
    data = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def load_fields(stored: Sequence[dict[str, Any]]) -> list[FieldSpec]:
    """Fields as stored; ``ValueError`` when the stored definition is no longer one (changed outside the hub)."""
    try:
        return [FieldSpec.model_validate(item) for item in stored]
    except ValidationError as exc:
        raise ValueError(f"the stored definition is not valid ({exc.error_count()} errors)") from exc
