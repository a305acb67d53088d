"""Serial ASCII lines, fuzzed past the checks that random bytes never get through.

``tests/unit/drivers/test_serial_parse.py`` already feeds arbitrary bytes and ASCII text to each parser; nearly all of
it stops at the checksum. Here every mutated line carries a correct checksum (and the device's address), so the
mutation reaches the field split, the prefixes and the number reading; and a byte stream cut into arbitrary chunks
goes through the line splitter first, as the driver does. Either way: observations, or ``BadLineError``.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from drivers.serial import BadLineError, LineParser, LineSplitter, SerialDeviceSettings, checksum_value
from tests.fuzz.budget import fuzz_settings, typed

DECIMAL_TEXT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")  # protocol.models.DecimalText
REGEX_MAP = {"kind": "regex", "pattern": r"T=(?P<t>\S+) C", "groups": {"t": {"channel": "temp", "unit": "Cel"}}}
FIELD_MAP = {
    "kind": "fields",
    "delimiter": ";",
    "fields": [
        {"index": 0, "channel": "level", "unit": "%", "prefix": "L=", "bad_values": ["---"]},
        {"index": 1, "channel": "vapour", "unit": "Cel", "prefix": "T=", "suffix": "C"},
    ],
}
CONFIGS: dict[str, dict[str, Any]] = {
    "regex+xor8": {"channels": REGEX_MAP, "checksum": {"kind": "xor8"}},
    "regex+sum8+start": {"channels": REGEX_MAP, "checksum": {"kind": "sum8", "start": 1}},
    "fields+crc16_modbus+address": {
        "channels": FIELD_MAP,
        "checksum": {"kind": "crc16_modbus", "separator": "##"},
        "address": "#02",
    },
    "fields+crc16_ccitt+latin-1": {"channels": FIELD_MAP, "checksum": {"kind": "crc16_ccitt"}, "encoding": "latin-1"},
    "fields+utf-8": {"channels": {**FIELD_MAP, "count": 2}, "encoding": "utf-8"},
}
PARSERS = {
    name: LineParser("probe-1", SerialDeviceSettings(port={"port": "/dev/ttyUSB0"}, request="T?\\r", **config))
    for name, config in CONFIGS.items()
}
GOOD_BODIES = {"regex": "T=-80.12 C", "fields": "L=072.5;T=-187.3C"}

# Pieces a mutation splices in: what instruments print, and what breaks naive number and field handling.
_PIECES = st.sampled_from(
    ["", " ", ";", ";;", "=", "L=", "T=", "C", " C", "-", "+", ".", "..", "e", "E+", "1e999999", "0" * 70, "9" * 70,
     "\u0661", "\u00b5", "\x00", "\t", "---", "NaN", "inf", "*", "##", "#02", "\u2028", "\ufeff"]
)  # fmt: skip


@st.composite
def mutated_bodies(draw: st.DrawFn, body: str) -> str:
    """``body`` with a few pieces replaced, inserted or deleted at drawn places."""
    text = body
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        piece = draw(_PIECES | st.text(max_size=6))
        text = text[:at] + piece + text[at + cut :]
    return text


def signed_line(parser: LineParser, body: str) -> bytes | None:
    """``body`` as the device would send it: its address first, a correct checksum after (None when the body cannot
    be written in the device's encoding)."""
    settings = parser.settings
    try:
        raw = (settings.address or "").encode(settings.encoding) + body.encode(settings.encoding)
    except UnicodeEncodeError:
        return None
    checksum = settings.checksum
    if checksum.kind == "none":
        return raw
    digits = checksum_value(checksum.kind, raw[checksum.start :])
    return raw + checksum.separator.encode(settings.encoding) + f"{digits:0{checksum.digits}X}".encode()


def parsed_or_refused(parser: LineParser, line: bytes) -> None:
    observations = typed(lambda: parser.parse(line), BadLineError)
    for observation in observations or []:
        assert observation.value is None or DECIMAL_TEXT.fullmatch(observation.value), observation


@fuzz_settings(400)
@given(name=st.sampled_from(sorted(PARSERS)), data=st.data())
@example(name="fields+utf-8", data=None)
def test_a_correctly_signed_mutated_line_gives_observations_or_a_bad_line(name: str, data: Any) -> None:
    parser = PARSERS[name]
    body = GOOD_BODIES[name.split("+")[0]]
    if data is not None:
        body = data.draw(mutated_bodies(body))
    line = signed_line(parser, body)
    if line is not None:
        parsed_or_refused(parser, line)


@fuzz_settings(150)
@given(
    name=st.sampled_from(sorted(PARSERS)),
    lines=st.lists(st.one_of(st.sampled_from(list(GOOD_BODIES.values())), st.text(max_size=30)), max_size=8),
    noise=st.lists(st.binary(max_size=20), max_size=3),
    cuts=st.lists(st.integers(0, 400), max_size=10),
    terminator=st.sampled_from([b"\r\n", b"\n", b"\r", b"\x03"]),
)
def test_any_byte_stream_in_any_chunks_splits_into_lines_that_parse_or_are_bad_lines(
    name: str, lines: list[str], noise: list[bytes], cuts: list[int], terminator: bytes
) -> None:
    parser = PARSERS[name]
    stream = b"".join((signed_line(parser, line) or b"") + terminator for line in lines) + b"".join(noise)
    splitter = LineSplitter(terminator, max_bytes=64)
    edges = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for start, end in itertools.pairwise(edges):
        for frame in splitter.feed(stream[start:end]):
            assert len(frame.data) <= 64
            if frame.complete:
                parsed_or_refused(parser, frame.data)
