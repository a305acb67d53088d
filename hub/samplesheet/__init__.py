"""Illumina sample sheets: parse v1 (IEM) and v2 (BCL Convert) sheets, check them as BCL Convert would, generate v2
sheets from typed inputs, and pack libraries into lanes. Pure domain code: no web framework, no database.

    report = check_text(open("SampleSheet.csv").read())      # every problem, with line and field
    sheet = build_sheet(SheetRequest(...))                    # a checked v2 sheet; render_sheet(sheet) is the CSV
    plan = pack_lanes(libraries, lane_capacity=800_000_000)   # first-fit decreasing, collisions per lane
"""

from hub.samplesheet.barcodes import Barcoded, Collision, collision, find_collisions, hamming, reverse_complement
from hub.samplesheet.check import SheetReport, check, check_bytes, check_text
from hub.samplesheet.convert import Conversion, convert_to_v2
from hub.samplesheet.cycles import ReadMask, Segment, parse_override_cycles
from hub.samplesheet.errors import (
    InvalidValueError,
    LanesExhaustedError,
    LibraryTooLargeError,
    OverrideCyclesError,
    RejectedSheetError,
    SampleSheetError,
    UnknownInstrumentError,
    UnreadableSheetError,
)
from hub.samplesheet.generate import Library, SheetRequest, build_sheet
from hub.samplesheet.lanes import LanePlan, PackedLane, pack_lanes
from hub.samplesheet.model import DataRow, DataTable, Entry, KeyValues, Problem, RawSection, Reads, SampleSheet
from hub.samplesheet.orientation import PLATFORMS, I5Orientation, Platform, find_platform, i5_orientation
from hub.samplesheet.parse import ParseResult, parse_bytes, parse_text
from hub.samplesheet.render import render_sheet
from hub.samplesheet.settings import KNOWN_SETTINGS

__all__ = [
    "KNOWN_SETTINGS",
    "PLATFORMS",
    "Barcoded",
    "Collision",
    "Conversion",
    "DataRow",
    "DataTable",
    "Entry",
    "I5Orientation",
    "InvalidValueError",
    "KeyValues",
    "LanePlan",
    "LanesExhaustedError",
    "Library",
    "LibraryTooLargeError",
    "OverrideCyclesError",
    "PackedLane",
    "ParseResult",
    "Platform",
    "Problem",
    "RawSection",
    "ReadMask",
    "Reads",
    "RejectedSheetError",
    "SampleSheet",
    "SampleSheetError",
    "Segment",
    "SheetReport",
    "SheetRequest",
    "UnknownInstrumentError",
    "UnreadableSheetError",
    "build_sheet",
    "check",
    "check_bytes",
    "check_text",
    "collision",
    "convert_to_v2",
    "find_collisions",
    "find_platform",
    "hamming",
    "i5_orientation",
    "pack_lanes",
    "parse_bytes",
    "parse_override_cycles",
    "parse_text",
    "render_sheet",
    "reverse_complement",
]
