"""One instrument line to observations, and the checksums that guard it, without I/O."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from drivers import BadFrameError
from drivers.serial import (
    BadLineError,
    LineParser,
    SerialDeviceSettings,
    crc16_ccitt,
    crc16_modbus,
    decimal_text,
    sum8,
    xor8,
)
from protocol.models import Observation

DECIMAL_TEXT = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$")  # protocol.models.DecimalText
PROBE_MAP = {"kind": "regex", "pattern": r"T=(?P<t>\S+) C", "groups": {"t": {"channel": "temp", "unit": "Cel"}}}
LN2_MAP = {
    "kind": "fields",
    "delimiter": ";",
    "fields": [
        {"index": 0, "channel": "level", "unit": "%", "prefix": "L="},
        {"index": 1, "channel": "vapour", "unit": "Cel", "prefix": "T="},
    ],
}


def parser(channels: dict[str, Any] = PROBE_MAP, **settings: Any) -> LineParser:
    request = {"request": "T?\\r"} if settings.get("mode", "request") == "request" else {}
    return LineParser(
        "probe-1", SerialDeviceSettings(port={"port": "/dev/ttyUSB0"}, channels=channels, **request, **settings)
    )


def signed(body: bytes, checksum: Any, digits: int = 2, separator: bytes = b"*") -> bytes:
    return body + separator + f"{checksum(body):0{digits}X}".encode()


def values(observations: list[Observation]) -> dict[str, tuple[str | None, str, str]]:
    return {o.channel: (o.value, o.unit, o.quality) for o in observations}


# -- checksums --------------------------------------------------------------------------------------------------


def bitwise_crc16(data: bytes, polynomial: int, *, reflected: bool) -> int:
    """The textbook shift-register CRC, to check the table-driven ones against."""
    crc = 0xFFFF
    for byte in data:
        if reflected:
            crc ^= byte
            for _ in range(8):
                crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        else:
            crc ^= byte << 8
            for _ in range(8):
                crc = ((crc << 1) ^ polynomial if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def test_checksums_give_the_catalogued_check_values_over_123456789() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37
    assert crc16_ccitt(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE
    assert xor8(b"123456789") == 0x31
    assert sum8(b"123456789") == 0xDD


def test_xor8_matches_a_real_nmea_sentence() -> None:
    assert xor8(b"GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,A") == 0x43


@given(st.binary(max_size=64))
def test_table_driven_crcs_equal_the_bitwise_definition(data: bytes) -> None:
    assert crc16_modbus(data) == bitwise_crc16(data, 0xA001, reflected=True)
    assert crc16_ccitt(data) == bitwise_crc16(data, 0x1021, reflected=False)


@pytest.mark.parametrize(
    ("kind", "function", "digits"),
    [("xor8", xor8, 2), ("sum8", sum8, 2), ("crc16_modbus", crc16_modbus, 4), ("crc16_ccitt", crc16_ccitt, 4)],
)
def test_a_line_with_a_good_checksum_of_each_kind_parses(kind: str, function: Any, digits: int) -> None:
    line = signed(b"T=-80.12 C", function, digits)
    assert values(parser(checksum={"kind": kind}).parse(line)) == {"temp": ("-80.12", "Cel", "good")}


def test_checksum_digits_may_be_lower_case() -> None:
    line = b"T=-80.12 C*" + f"{crc16_modbus(b'T=-80.12 C'):04x}".encode()
    assert values(parser(checksum={"kind": "crc16_modbus"}).parse(line))["temp"][0] == "-80.12"


def test_checksum_can_skip_a_leading_start_character_as_nmea_does() -> None:
    nmea = {
        "kind": "fields",
        "delimiter": ",",
        "fields": [{"index": 7, "channel": "speed", "unit": "kn"}, {"index": 8, "channel": "course", "unit": "deg"}],
    }
    sentence = b"$GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,A*43"
    got = parser(nmea, checksum={"kind": "xor8", "start": 1}).parse(sentence)
    assert values(got) == {"speed": ("0.02", "kn", "good"), "course": ("31.66", "deg", "good")}


def test_a_custom_separator_marks_the_checksum() -> None:
    line = signed(b"T=-80.12 C", sum8, separator=b"#CS=")
    assert values(parser(checksum={"kind": "sum8", "separator": "#CS="}).parse(line))["temp"][0] == "-80.12"


def test_the_checksum_covers_the_address() -> None:
    good = signed(b"#01T=-80.12 C", xor8)
    assert values(parser(checksum={"kind": "xor8"}, address="#01").parse(good))["temp"][0] == "-80.12"
    unsigned_address = b"#01" + signed(b"T=-80.12 C", xor8)
    with pytest.raises(BadLineError) as caught:
        parser(checksum={"kind": "xor8"}, address="#01").parse(unsigned_address)
    assert caught.value.reason == "checksum"


# -- shapes ---------------------------------------------------------------------------------------------------------


def test_regex_map_reads_each_named_group_into_its_channel() -> None:
    two = {
        "kind": "regex",
        "pattern": r"T=(?P<t>\S+) C H=(?P<h>\S+) %",
        "groups": {"t": {"channel": "temp", "unit": "Cel"}, "h": {"channel": "humidity", "unit": "%"}},
    }
    got = parser(two).parse(b"T=+4.20 C H=045.0 %")
    assert [o.channel for o in got] == ["temp", "humidity"]
    assert values(got) == {"temp": ("4.20", "Cel", "good"), "humidity": ("45.0", "%", "good")}
    assert {o.device for o in got} == {"probe-1"}


def test_field_map_reads_the_ln2_line_keeping_the_printed_resolution() -> None:
    got = parser(LN2_MAP).parse(b"L=072.5;T=-187.3")
    assert values(got) == {"level": ("72.5", "%", "good"), "vapour": ("-187.3", "Cel", "good")}


def test_field_map_strips_padding_unless_told_not_to() -> None:
    padded = b"L= 72.5 ; T=-187.3"
    assert values(parser(LN2_MAP).parse(padded))["level"][0] == "72.5"
    with pytest.raises(BadLineError) as caught:
        parser({**LN2_MAP, "strip": False}).parse(padded)
    assert caught.value.reason == "no_match"


def test_field_map_with_a_count_refuses_extra_fields() -> None:
    with pytest.raises(BadLineError) as caught:
        parser({**LN2_MAP, "count": 2}).parse(b"L=072.5;T=-187.3;X=1")
    assert caught.value.reason == "no_match"
    assert values(parser(LN2_MAP).parse(b"L=072.5;T=-187.3;X=1"))["level"][0] == "72.5"


def test_a_bad_value_the_instrument_prints_is_a_bad_quality_reading() -> None:
    with_sentinel = {**PROBE_MAP, "groups": {"t": {"channel": "temp", "unit": "Cel", "bad_values": ["----"]}}}
    assert values(parser(with_sentinel).parse(b"T=---- C")) == {"temp": (None, "Cel", "bad")}


def test_an_optional_group_that_did_not_match_gives_no_reading() -> None:
    optional = {
        "kind": "regex",
        "pattern": r"T=(?P<t>\S+) C(?: H=(?P<h>\S+))?",
        "groups": {"t": {"channel": "temp"}, "h": {"channel": "humidity"}},
    }
    assert [o.channel for o in parser(optional).parse(b"T=1.0 C")] == ["temp"]


def test_the_address_is_required_and_removed() -> None:
    assert values(parser(address="#01").parse(b"#01T=-80.12 C"))["temp"][0] == "-80.12"
    with pytest.raises(BadLineError) as caught:
        parser(address="#01").parse(b"#02T=-80.12 C")
    assert caught.value.reason == "address"


def test_observations_carry_the_time_they_were_received_when_given() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    (observation,) = parser().parse(b"T=-80.12 C", source_ts=at)
    assert observation.source_ts == at


# -- numbers --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "carried"),
    [
        ("-80.12", "-80.12"),
        ("+21.50", "21.50"),
        ("072.5", "72.5"),
        ("-007.20", "-7.20"),
        ("000", "0"),
        ("-0.0", "-0.0"),
        (".5", "0.5"),
        ("-.5", "-0.5"),
        ("5.", "5"),
        ("1.5E+03", "1.5E+03"),
        ("2e-4", "2e-4"),
        (" 12 ", "12"),
    ],
)
def test_decimal_text_keeps_the_printed_digits(printed: str, carried: str) -> None:
    assert decimal_text(printed) == carried
    assert DECIMAL_TEXT.match(carried)
    assert Decimal(carried) == Decimal(printed.strip())


@pytest.mark.parametrize(
    "printed", ["", "+", "-", ".", "1.2.3", "abc", "1e", "--1", "1,5", "١٢", "nan", "inf", "9" * 65]
)
def test_decimal_text_refuses_what_is_not_a_decimal_number(printed: str) -> None:
    with pytest.raises(ValueError, match=r"not a decimal number|longer than"):
        decimal_text(printed)


@given(st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6))
def test_any_printed_decimal_reads_back_as_the_same_number(number: Decimal) -> None:
    printed = f"{number:+09.3f}"  # sign and zero padding, as instruments print
    (observation,) = parser().parse(f"T={printed} C".encode())
    assert observation.value is not None
    assert DECIMAL_TEXT.match(observation.value)
    assert Decimal(observation.value) == number
    assert observation.value.split(".")[1] == printed.split(".")[1]  # resolution kept


# -- bad frames -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "empty"),
        (b"\x8e\x19\x17^\xd7-\xbe", "not_text"),
        (b"T=-80.12\x00 C*00", "not_text"),
        (b"T=-80.12 C\r", "not_text"),
        (b"T=-80.12 C", "checksum"),  # no checksum: cut off, or a device that does not send one
        (b"T=-80.12 C*5", "checksum"),
        (b"T=-80.12 C*ZZ", "checksum"),
        (b"T=-80.12 C*00", "checksum"),
        (signed(b"T=-80.12", xor8), "no_match"),
        (signed(b"T=-8O.12 C", xor8), "not_a_number"),
    ],
)
def test_bad_lines_are_refused_with_their_reason(line: bytes, reason: str) -> None:
    with pytest.raises(BadLineError) as caught:
        parser(checksum={"kind": "xor8"}).parse(line)
    assert caught.value.reason == reason
    assert caught.value.line == line
    assert isinstance(caught.value, BadFrameError)
    assert caught.value.retryable


def test_a_control_byte_at_the_end_hints_at_the_terminator() -> None:
    with pytest.raises(BadLineError, match="terminator"):
        parser().parse(b"T=-80.12 C\r")


@pytest.mark.parametrize(("line", "reason"), [(b"L=072.5", "truncated"), (b"L=072.5;X=-187.3", "no_match")])
def test_a_short_or_misshapen_delimited_line_is_refused(line: bytes, reason: str) -> None:
    with pytest.raises(BadLineError) as caught:
        parser(LN2_MAP).parse(line)
    assert caught.value.reason == reason


def test_the_bytes_of_a_bad_line_are_shown_as_a_short_hex_prefix() -> None:
    with pytest.raises(BadLineError) as caught:
        parser().parse(bytes(range(0x80, 0x100)))
    assert caught.value.hex_prefix == bytes(range(0x80, 0xA0)).hex()


PARSERS = {
    "regex": parser(),
    "regex+xor8": parser(checksum={"kind": "xor8"}),
    "fields": parser(LN2_MAP),
    "fields+crc+address": parser(LN2_MAP, checksum={"kind": "crc16_ccitt"}, address="#02"),
    "latin-1": parser(encoding="latin-1"),
    "utf-8": parser(encoding="utf-8"),
}


@given(st.sampled_from(sorted(PARSERS)), st.binary(max_size=200))
@example("fields", b"L=072.5;T=-187.3")
@example("regex", b"T=" + b"9" * 100 + b" C")
@example("utf-8", "T=\u0661 C".encode())
def test_any_bytes_either_parse_or_are_a_bad_frame(name: str, line: bytes) -> None:
    try:
        observations = PARSERS[name].parse(line)
    except BadFrameError:
        return
    for observation in observations:
        assert observation.value is None or DECIMAL_TEXT.match(observation.value)


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=60))
def test_any_ascii_text_either_parses_or_is_a_bad_frame(text: str) -> None:
    for name in ("regex", "fields"):
        with contextlib.suppress(BadFrameError):
            PARSERS[name].parse(text.encode())
