"""Serial device settings: what a configuration file may say, and what it hears back when it is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drivers.serial import SerialDeviceSettings, SerialPortSettings, frame_gap_s, unescape

CHANNELS = {"kind": "regex", "pattern": r"T=(?P<t>\S+) C", "groups": {"t": {"channel": "temp", "unit": "Cel"}}}


def settings(**fields: Any) -> SerialDeviceSettings:
    base: dict[str, Any] = {"port": {"port": "/dev/ttyUSB0"}, "request": "T?\\r", "channels": CHANNELS}
    return SerialDeviceSettings.model_validate({**base, **fields})


def refused(message: str, **fields: Any) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**fields)


def test_escapes_in_requests_and_terminators_are_decoded_once() -> None:
    s = settings(request="T?\\r", terminator="\\r\\n", address="#01")
    assert (s.request_bytes, s.terminator_bytes) == (b"#01T?\r", b"\r\n")
    assert settings(request="T?\r").request_bytes == b"#01T?\r"[3:]
    assert unescape("\\x02T?\\x03\\\\") == "\x02T?\x03\\"
    assert SerialDeviceSettings.model_validate(s.model_dump()) == s


@pytest.mark.parametrize("bad", ["T?\\q", "T?\\", "\\x4"])
def test_an_unknown_escape_is_refused_naming_the_valid_ones(bad: str) -> None:
    refused(r"use \\r, \\n", request=bad)


def test_request_mode_needs_a_request_and_stream_mode_refuses_one() -> None:
    refused("mode 'request' needs a request", request=None)
    refused("not sent requests", mode="stream")
    assert settings(mode="stream", request=None).request_bytes == b""


def test_silence_timeout_belongs_to_stream_mode() -> None:
    refused("silence_timeout_s applies to stream mode", silence_timeout_s=5)
    assert settings(mode="stream", request=None, silence_timeout_s=5).silence_timeout_s == 5


def test_a_pattern_must_compile_and_have_every_mapped_group() -> None:
    refused("not a regular expression", channels={**CHANNELS, "pattern": "T=(?P<t>"})
    refused(r"no group named t \(its named groups: x\)", channels={**CHANNELS, "pattern": r"T=(?P<x>\S+)"})


def test_field_maps_refuse_repeated_indexes_channels_and_an_impossible_count() -> None:
    field = {"index": 0, "channel": "level"}
    base = {"kind": "fields", "delimiter": ";"}
    refused("field index may be mapped once", channels={**base, "fields": [field, {**field, "channel": "x"}]})
    refused("repeated: level", channels={**base, "fields": [field, {**field, "index": 1}]})
    refused(
        "count is 1, but a field is mapped at index 3", channels={**base, "fields": [{**field, "index": 3}], "count": 1}
    )


def test_text_that_the_encoding_cannot_carry_is_refused() -> None:
    refused("cannot be written in ascii", request="T°?\\r")
    assert settings(request="T°?\\r", encoding="latin-1").request_bytes == b"T\xb0?\r"


def test_a_checksum_separator_inside_the_terminator_is_refused() -> None:
    refused("overlaps the terminator", checksum={"kind": "xor8", "separator": "\n"})


def test_unknown_fields_and_changes_are_refused() -> None:
    refused("Extra inputs are not permitted", baudrate=9600)
    with pytest.raises(ValidationError, match="frozen"):
        settings().mode = "stream"  # type: ignore[misc]


def test_the_inter_frame_gap_defaults_to_ten_characters_at_the_line_speed() -> None:
    assert SerialPortSettings(port="p", baudrate=9600).inter_frame_gap_s == pytest.approx(10 * 10 / 9600)
    assert SerialPortSettings(port="p", baudrate=1200, parity="E", stopbits=2).inter_frame_gap_s == pytest.approx(
        10 * 12 / 1200
    )
    assert SerialPortSettings(port="p", baudrate=115200).inter_frame_gap_s == 0.005
    assert SerialPortSettings(port="p", inter_frame_gap_s=0).inter_frame_gap_s == 0
    assert frame_gap_s(19200) == pytest.approx(100 / 19200)


def test_line_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"stop bits are 1, 1\.5 or 2"):
        SerialPortSettings(port="p", stopbits=3)
    with pytest.raises(ValidationError, match="parity"):
        SerialPortSettings(port="p", parity="X")
    assert SerialPortSettings(port="p", stopbits=1.5).stopbits == 1.5
