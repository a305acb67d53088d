"""What BCL Convert accepts in ``[BCLConvert_Settings]`` (v2) and ``[Settings]`` (v1), and the checks on each value.

A v2 sheet with an unknown settings key makes BCL Convert abort; in a v1 sheet it only warns. The key list follows
the BCL Convert software guide's settings table (v3.9–v4.x).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from hub.samplesheet.cycles import mask_mismatches, parse_override_cycles
from hub.samplesheet.errors import OverrideCyclesError
from hub.samplesheet.model import Entry, Findings, SampleSheet, Severity

_ADAPTER = re.compile(r"[ACGT]+(\+[ACGT]+)*")
_BOOLEAN = ("0", "1", "true", "false")


def _mismatches(value: str) -> str | None:
    return None if value in ("0", "1", "2") else "must be 0, 1 or 2"


def _adapter(value: str) -> str | None:
    return None if _ADAPTER.fullmatch(value) else "must be A, C, G, T, with + between several adapters"


def _boolean(value: str) -> str | None:
    return None if value.lower() in _BOOLEAN else "must be 0 or 1 (or true/false)"


def _count(value: str) -> str | None:
    return None if value.isascii() and value.isdigit() else "must be a whole number"


def _fraction(value: str) -> str | None:
    try:
        fine = 0.0 <= float(value) <= 1.0
    except ValueError:
        fine = False
    return None if fine else "must be a number from 0 to 1"


def _one_of(*allowed: str) -> Callable[[str], str | None]:
    def rule(value: str) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return rule


def _free(value: str) -> str | None:
    return None


RULES: dict[str, Callable[[str], str | None]] = {
    "SoftwareVersion": _free,
    "OverrideCycles": _free,  # checked against [Reads] by check_override_cycles
    "AdapterRead1": _adapter,
    "AdapterRead2": _adapter,
    "AdapterBehavior": _one_of("trim", "mask"),
    "AdapterStringency": _fraction,
    "BarcodeMismatchesIndex1": _mismatches,
    "BarcodeMismatchesIndex2": _mismatches,
    "MinimumTrimmedReadLength": _count,
    "MinimumAdapterOverlap": _one_of("1", "2", "3"),
    "MaskShortReads": _count,
    "TrimUMI": _boolean,
    "CreateFastqForIndexReads": _boolean,
    "NoLaneSplitting": _boolean,
    "FastqCompressionFormat": _one_of("gzip", "dragen", "dragen-interleaved"),
    "FindAdaptersWithIndels": _boolean,
    "IndependentIndexCollisionCheck": _boolean,
}
KNOWN_SETTINGS: tuple[str, ...] = tuple(RULES)
# bcl2fastq / IEM [Settings] keys that v1 sheets carry; BCL Convert reads some and warns about the rest.
V1_SETTINGS: tuple[str, ...] = (
    "Adapter",
    "MaskAdapter",
    "MaskAdapterRead2",
    "Read1StartFromCycle",
    "Read1EndWithCycle",
    "Read2StartFromCycle",
    "Read2EndWithCycle",
    "Read1UMILength",
    "Read2UMILength",
    "Read1UMIStartFromCycle",
    "Read2UMIStartFromCycle",
    "ReverseComplement",
    "ExcludeTiles",
)


def barcode_mismatches(sheet: SampleSheet) -> tuple[int, int]:
    """``BarcodeMismatchesIndex1`` and ``…2``; BCL Convert's default 1 when absent or not 0–2."""
    values = []
    for key in ("BarcodeMismatchesIndex1", "BarcodeMismatchesIndex2"):
        raw = sheet.setting(key)
        values.append(int(raw) if raw in ("0", "1", "2") else 1)
    return values[0], values[1]


def check_settings(sheet: SampleSheet, found: Findings) -> None:
    if sheet.settings is None:
        return
    section = sheet.settings.name
    known = {k.lower(): k for k in (*KNOWN_SETTINGS, *(V1_SETTINGS if sheet.version == 1 else ()))}
    for entry in sheet.settings.entries:
        canonical = known.get(entry.key.lower())
        if canonical is None:
            severity: Severity = "error" if sheet.version == 2 else "warning"
            effect = "BCL Convert aborts on it" if sheet.version == 2 else "ignored"
            close = difflib.get_close_matches(entry.key, KNOWN_SETTINGS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            message = f"unknown setting {entry.key!r} ({effect}); {hint}known: {', '.join(KNOWN_SETTINGS)}"
            found.add(severity, "unknown-setting", entry.line, message, section=section, field=entry.key, column=1)
            continue
        why = RULES.get(canonical, _free)(entry.value)
        if why is not None:
            message = f"{canonical} is {entry.value!r}: {why}"
            found.add("error", "bad-setting", entry.line, message, section=section, field=canonical, column=2)
    if sheet.setting("AdapterBehavior") and not (sheet.setting("AdapterRead1") or sheet.setting("AdapterRead2")):
        behavior = sheet.settings.get("AdapterBehavior")
        line = behavior.line if behavior else None
        message = "AdapterBehavior needs AdapterRead1 or AdapterRead2"
        found.add("error", "bad-setting", line, message, section=section, field="AdapterBehavior")
    override = sheet.settings.get("OverrideCycles")
    if override is not None:
        check_override_cycles(sheet, override, found, section=section)


def check_override_cycles(sheet: SampleSheet, entry: Entry, found: Findings, *, section: str) -> None:
    """Grammar, and fit against ``[Reads]`` (v2 only: a v1 sheet does not give index cycles)."""
    field = "OverrideCycles"
    try:
        masks = parse_override_cycles(entry.value)
    except OverrideCyclesError as exc:
        found.add("error", "bad-override-cycles", entry.line, exc.detail, section=section, field=field)
        return
    if entry.value != entry.value.upper():
        message = f"write OverrideCycles in upper case ({entry.value.upper()}), as BCL Convert documents it"
        found.add("warning", "override-cycles-case", entry.line, message, section=section, field=field)
    if sheet.version == 2 and sheet.reads.read1_cycles:
        for why in mask_mismatches(masks, sheet.reads):
            found.add("error", "override-cycles-mismatch", entry.line, why, section=section, field=field)
