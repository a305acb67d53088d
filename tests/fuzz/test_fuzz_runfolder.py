"""Run-folder files, fuzzed as XML trees, as attacks on the XML parser, as InterOp binaries and as whole folders.

``tests/unit/drivers/test_runfolder_parse.py`` already feeds random bytes and byte-spliced real files to each parser
and checks four DTD/entity inputs. Here: the real files' element trees with values, attributes and elements
replaced, dropped or repeated (well-formed XML that reaches the field readers); DTD, entity and nesting attacks of
drawn sizes, each refused within a second; the InterOp extraction metrics as drawn records; and a copy of a real
run folder with one file mutated, read as ``tracseq runfolder inspect`` reads it. A parser returns its value or
raises a ``RunFolderError``; nothing else escapes, nothing hangs.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from functools import cache
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st

from drivers.runfolder import (
    RunFolderError,
    UnsafeXmlError,
    parse_completion_status,
    parse_run_info,
    parse_run_parameters,
    read_extraction_progress,
    read_run_folder,
)
from tests.fuzz.budget import fuzz_settings, typed

DATA = Path(os.environ.get("TRACSEQ_ILLUMINA_DATA", "/work/shared/data/illumina"))
FOLDERS = ["130417_M00146_0021_000000000-A2WDF", "170609_NB551051_0017_AHLFFJBGX2", "20230418_LH00130_0003_B223YTFLT3"]
PARSERS: dict[str, Callable[[bytes], object]] = {
    "runinfo.xml": parse_run_info,
    "runparameters.xml": parse_run_parameters,
    "runcompletionstatus.xml": parse_completion_status,
}
REAL = sorted(
    (folder, path.name) for folder in FOLDERS for path in (DATA / folder).glob("*.xml") if path.name.lower() in PARSERS
)


@cache
def real_bytes(folder: str, name: str) -> bytes:
    return (DATA / folder / name).read_bytes()


_VALUES = st.one_of(
    st.sampled_from(
        ["", " ", "0", "-1", "00", "4294967296", "999999999", "1" * 40, "Y", "N", "true", "maybe", "151,8,8,151",
         "2023-04-18T15:26:54.8607517-04:00", "9999-12-31T23:59:59.9999999+14:00", "0001-01-01", "230418", "999999",
         "1/1/0001 00:00:00", "RunErrored", "CompletedAsPlanned", "\u0661\u0662", "\ufeff", "&amp;", "x" * 5000]
    ),
    st.text(max_size=30),
)  # fmt: skip


@st.composite
def mutated_trees(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real file's tree with one to four edits: text, an attribute, a removed, repeated or emptied element."""
    folder, name = draw(st.sampled_from(REAL))
    root = ET.fromstring(real_bytes(folder, name))  # noqa: S314 - the shared data set's own files
    for _ in range(draw(st.integers(1, 4))):
        elements = list(root.iter())
        element = draw(st.sampled_from(elements))
        edit = draw(st.sampled_from(["text", "attribute", "remove", "repeat", "empty"]))
        if edit == "text":
            element.text = draw(_VALUES)
        elif edit == "attribute":
            names = [*element.attrib, "Number", "NumCycles", "IsIndexedRead", "LaneCount", "TileCount", "Id"]
            element.set(draw(st.sampled_from(names)), draw(_VALUES))
        else:
            parent = next((p for p in elements if element in list(p)), None)
            if parent is None:
                continue
            if edit == "remove":
                parent.remove(element)
            elif edit == "repeat":
                parent.append(element)
            else:
                element.clear()
    data = ET.tostring(root, encoding="utf-8", xml_declaration=draw(st.booleans()))
    return name.lower(), data


def parsed_or_refused(name: str, data: bytes) -> None:
    typed(lambda: PARSERS[name](data), RunFolderError)


@fuzz_settings(250)
@given(mutated_trees())
def test_a_real_file_with_edited_elements_gives_a_value_or_a_run_folder_error(name_and_data: tuple[str, bytes]) -> None:
    parsed_or_refused(*name_and_data)


# -- attacks on the XML parser -------------------------------------------------------------------------------------

ATTACKS: dict[str, Callable[[int], bytes]] = {
    "billion laughs": lambda n: (
        b'<?xml version="1.0"?><!DOCTYPE RunInfo [<!ENTITY l0 "lol">'
        + b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, n % 12 + 2))
        + b"]><RunInfo>&l%d;</RunInfo>" % (n % 12 + 1)
    ),
    "quadratic blowup": lambda n: (
        b'<!DOCTYPE r [<!ENTITY a "' + b"x" * (n * 50) + b'">]><RunInfo>' + b"&a;" * n + b"</RunInfo>"
    ),
    "external entity": lambda n: b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///dev/zero">]><RunInfo>&e;</RunInfo>',
    "external parameter entity": lambda n: (
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd">%p;]><RunInfo/>'
    ),
    "external dtd": lambda n: b'<!DOCTYPE RunInfo SYSTEM "file:///dev/zero"><RunInfo/>',
    "xinclude": lambda n: (
        b'<RunInfo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///dev/zero"/></RunInfo>'
    ),
    "undeclared entity": lambda n: b"<RunInfo>&e;</RunInfo>",
    "deep nesting": lambda n: b"<RunInfo>" + b"<Run>" * (n * 100) + b"</Run>" * (n * 100) + b"</RunInfo>",
    "many attributes": lambda n: b"<RunInfo " + b" ".join(b'a%d="%d"' % (i, i) for i in range(n * 10)) + b"/>",
    "utf-16 doctype": lambda n: (
        '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>'.encode("utf-16")
    ),
    "unknown encoding": lambda n: b'<?xml version="1.0" encoding="x-no-such"?><RunInfo/>',
}


@fuzz_settings(120)
@given(attack=st.sampled_from(sorted(ATTACKS)), size=st.integers(1, 1000), name=st.sampled_from(sorted(PARSERS)))
@example(attack="billion laughs", size=10, name="runinfo.xml")
@example(attack="deep nesting", size=1000, name="runparameters.xml")  # 100,000 levels, 1.1 MB
def test_dtd_entity_and_nesting_attacks_are_refused_within_a_second(attack: str, size: int, name: str) -> None:
    """Up to about 1 MB of input; reading is linear (about 0.5 s per MB of nesting on a loaded two-core machine),
    an expansion would not be."""
    data = ATTACKS[attack](size)
    started = time.monotonic()
    parsed_or_refused(name, data)
    took = time.monotonic() - started
    assert took < 1.5, f"{attack} of size {size} ({len(data)} bytes) took {took:.2f} s"
    if b"<!DOCTYPE" in data and not attack.startswith("utf-16"):
        try:
            PARSERS[name](data)
        except UnsafeXmlError:
            return
        raise AssertionError(f"{attack}: a DOCTYPE was not refused as unsafe")


# -- InterOp ------------------------------------------------------------------------------------------------------

_V2_RECORD = struct.Struct("<HHH4f4HQ")


@st.composite
def extraction_metrics(draw: st.DrawFn) -> bytes:
    """A version byte, a record-size byte, then records that fit it or not, perhaps cut mid-record."""
    version = draw(st.sampled_from([2, 3, 1, 0, 255]))
    size = draw(st.sampled_from([_V2_RECORD.size, 0, 1, 255, 14]))
    records = [
        _V2_RECORD.pack(
            draw(st.integers(0, 0xFFFF)),
            draw(st.integers(0, 0xFFFF)),
            draw(st.integers(0, 0xFFFF)),
            *[draw(st.floats(width=32)) for _ in range(4)],
            *[draw(st.integers(0, 0xFFFF)) for _ in range(4)],
            draw(st.integers(0, 2**64 - 1)),
        )
        for _ in range(draw(st.integers(0, 5)))
    ]
    data = bytes([version, size]) + b"".join(records)
    return data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data + draw(st.binary(max_size=30))


@fuzz_settings(150)
@given(extraction_metrics() | st.binary(max_size=200))
@example(bytes([2, 38]) + _V2_RECORD.pack(1, 1101, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xFFFFFFFFFFFFFFFF))
def test_any_extraction_metrics_give_progress_or_a_run_folder_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="tracseq-fuzz-") as folder:
        path = Path(folder) / "ExtractionMetricsOut.bin"
        path.write_bytes(data)
        typed(lambda: read_extraction_progress(path), RunFolderError)


# -- whole folders ------------------------------------------------------------------------------------------------

SMALL_FILES = 200_000  # large InterOp files add nothing the reader looks at but time


@cache
def folder_copy(folder: str) -> Path:
    """A copy of a real run folder (its small files) that the examples may overwrite, restored after each."""
    target = Path(tempfile.mkdtemp(prefix="tracseq-fuzz-runfolder-")) / folder
    shutil.copytree(DATA / folder, target, ignore=lambda d, names: [n for n in names if _large(Path(d) / n)])
    return target


def _large(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > SMALL_FILES


def _files(folder: str) -> list[str]:
    root = folder_copy(folder)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix != ".json")


@st.composite
def damaged_folders(draw: st.DrawFn) -> tuple[str, str, bytes | None]:
    """(folder, file inside it, new content: None deletes the file)."""
    folder = draw(st.sampled_from(FOLDERS))
    file = draw(st.sampled_from(_files(folder)))
    original = (folder_copy(folder) / file).read_bytes()
    content = draw(
        st.one_of(
            st.none(),
            st.just(b""),
            st.binary(max_size=100),
            st.integers(0, len(original)).map(lambda n: original[:n]),
            st.tuples(st.integers(0, len(original)), st.binary(max_size=20)).map(
                lambda t: original[: t[0]] + t[1] + original[t[0] :]
            ),
        )
    )
    return folder, file, content


@fuzz_settings(60)
@given(damaged_folders())
def test_a_run_folder_with_one_damaged_file_reads_or_raises_a_run_folder_error(
    damage: tuple[str, str, bytes | None],
) -> None:
    folder, file, content = damage
    root = folder_copy(folder)
    path = root / file
    original = path.read_bytes()
    try:
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        snapshot = typed(lambda: read_run_folder(root, stall_after_s=60), RunFolderError)
        if snapshot is not None:
            json.dumps(snapshot.to_dict())  # what `tracseq runfolder inspect --json` prints
    finally:
        path.write_bytes(original)
