"""One line of an ASCII instrument to observations. Pure, no I/O: every refusal is a ``BadLineError``.

The checks run in the order a person would read the line: is it text, is the checksum right, is it from our
address, does it have the configured shape, are the fields numbers. Values stay the decimal text the instrument
printed; only what ``protocol.models.DecimalText`` cannot carry is rewritten (a leading ``+``, leading zeros,
a bare ``.5`` or ``5.``), and nothing passes through a float.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import partial

from drivers.serial.checksum import checksum_value
from drivers.serial.config import SerialChannel, SerialDeviceSettings, SerialFieldMap, SerialRegexMap
from drivers.serial.errors import BadLineError
from protocol.models import Observation

MAX_DECIMAL_TEXT = 64  # protocol.models.DecimalText
_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?((?:[eE][+-]?[0-9]+)?)")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_SHOWN = 40


def decimal_text(raw: str) -> str:
    """``raw`` as ``DecimalText``: surrounding spaces, a leading ``+`` and leading zeros removed, ``.5`` read as
    ``0.5`` and ``5.`` as ``5``; the digits and exponent otherwise as printed. ValueError when not a number."""
    match = _NUMBER.fullmatch(raw.strip())
    if match is None or not (match.group(2) or match.group(3)):
        raise ValueError(f"{raw!r} is not a decimal number")
    sign, whole, fraction, exponent = match.groups()
    text = ("-" if sign == "-" else "") + (whole.lstrip("0") or "0") + (f".{fraction}" if fraction else "") + exponent
    if len(text) > MAX_DECIMAL_TEXT:
        raise ValueError(f"a number of {len(text)} characters is longer than {MAX_DECIMAL_TEXT}")
    return text


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


class LineParser:
    """Parses the lines of one device, as its settings describe them."""

    def __init__(self, device_id: str, settings: SerialDeviceSettings) -> None:
        self.device_id = device_id
        self.settings = settings
        self._encoding = settings.encoding
        self._address = settings.address_bytes.decode(settings.encoding)
        self._checksum = settings.checksum
        self._separator = settings.checksum.separator.encode(settings.encoding)
        channel_map = settings.channels
        self._extract: Callable[[str, bytes], list[tuple[SerialChannel, str]]]
        if isinstance(channel_map, SerialFieldMap):
            self._extract = partial(_fields, channel_map)
        else:
            self._extract = partial(_groups, channel_map, re.compile(channel_map.pattern))

    def parse(self, line: bytes, *, source_ts: datetime | None = None) -> list[Observation]:
        """The observations in ``line`` (its terminator already removed), in the order the map lists them."""
        if not line:
            raise BadLineError("empty", "empty line", line)
        text = self._text(line)
        if self._checksum.kind != "none":
            text = self._verified(line).decode(self._encoding)
        if self._address:
            if not text.startswith(self._address):
                raise BadLineError("address", f"{_shown(text)} does not start with address {self._address!r}", line)
            text = text[len(self._address) :]
        return [self._observation(channel, raw, line, source_ts) for channel, raw in self._extract(text, line)]

    def _text(self, line: bytes) -> str:
        try:
            text = line.decode(self._encoding)
        except UnicodeDecodeError as exc:
            raise BadLineError(
                "not_text", f"byte 0x{line[exc.start]:02x} at offset {exc.start} is not {self._encoding}", line
            ) from exc
        control = _CONTROL.search(text)
        if control is not None:
            hint = " (is the terminator right?)" if control.group() in "\r\n" else ""
            raise BadLineError(
                "not_text", f"control byte 0x{ord(control.group()):02x} at offset {control.start()}{hint}", line
            )
        return text

    def _verified(self, line: bytes) -> bytes:
        """The line without its checksum, once the checksum is found to match."""
        checksum = self._checksum
        at = line.rfind(self._separator)
        if at < 0:
            raise BadLineError("checksum", f"no checksum: no {checksum.separator!r} in the line", line)
        digits = line[at + len(self._separator) :]
        if len(digits) != checksum.digits or not _HEX_DIGITS.issuperset(digits):
            shown = digits.decode("ascii", "replace")
            raise BadLineError("checksum", f"checksum {shown!r} is not {checksum.digits} hex digits", line)
        expected = checksum_value(checksum.kind, line[checksum.start : at])
        if int(digits, 16) != expected:
            raise BadLineError(
                "checksum",
                f"checksum {digits.decode('ascii')} does not match {expected:0{checksum.digits}X} ({checksum.kind})",
                line,
            )
        return line[:at]

    def _observation(self, channel: SerialChannel, raw: str, line: bytes, source_ts: datetime | None) -> Observation:
        stripped = raw.strip()
        if stripped in channel.bad_values:
            value = None
        else:
            try:
                value = decimal_text(stripped)
            except ValueError as exc:
                raise BadLineError("not_a_number", f"channel {channel.channel}: {exc}", line) from exc
        return Observation(
            device=self.device_id,
            channel=channel.channel,
            value=value,
            unit=channel.unit,
            quality="good" if value is not None else "bad",
            source_ts=source_ts,
        )


def _groups(
    regex_map: SerialRegexMap, pattern: re.Pattern[str], text: str, line: bytes
) -> list[tuple[SerialChannel, str]]:
    match = pattern.fullmatch(text)
    if match is None:
        raise BadLineError("no_match", f"{_shown(text)} does not match the pattern", line)
    found = [(channel, match.group(group)) for group, channel in regex_map.groups.items()]
    return [(channel, raw) for channel, raw in found if raw is not None]


def _fields(field_map: SerialFieldMap, text: str, line: bytes) -> list[tuple[SerialChannel, str]]:
    parts = text.split(field_map.delimiter)
    expected = field_map.count
    if len(parts) < (expected or field_map.needed):
        wanted = expected or f"at least {field_map.needed}"
        raise BadLineError("truncated", f"{len(parts)} fields, expected {wanted}", line)
    if expected is not None and len(parts) != expected:
        raise BadLineError("no_match", f"{len(parts)} fields, expected {expected}", line)
    values: list[tuple[SerialChannel, str]] = []
    for field in field_map.fields:
        part = parts[field.index].strip() if field_map.strip else parts[field.index]
        end = len(part) - len(field.suffix)
        if end < len(field.prefix) or not part.startswith(field.prefix) or not part.endswith(field.suffix):
            shape = f"{field.prefix}<number>{field.suffix}"
            raise BadLineError("no_match", f"field {field.index} {_shown(part)} is not {shape}", line)
        values.append((field, part[len(field.prefix) : end]))
    return values
