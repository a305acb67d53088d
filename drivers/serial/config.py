"""Device configuration for serial ASCII instruments: the line, what to send, and how to read what comes back.

The edge embeds ``SerialDeviceSettings`` in its device configuration; a bad file fails at start-up naming the
field. Strings that hold control characters (``request``, ``terminator``, ``address``) may spell them as escapes
(``"T?\\r"``), so that single-quoted YAML and TOML literal strings work as well as real control characters; the
settings keep the text as written and decode it once, in the ``*_bytes`` properties.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from protocol.models import Identifier

SerialMode = Literal["request", "stream"]
Parity = Literal["N", "E", "O", "M", "S"]
ChecksumKind = Literal["none", "xor8", "sum8", "crc16_modbus", "crc16_ccitt"]
TextEncoding = Literal["ascii", "latin-1", "utf-8"]

CHECKSUM_DIGITS: dict[ChecksumKind, int] = {"none": 0, "xor8": 2, "sum8": 2, "crc16_modbus": 4, "crc16_ccitt": 4}
GAP_CHARACTERS = 10
DEFAULT_SILENCE_S = 10.0
MIN_FRAME_GAP_S = 0.005
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.|$)", re.DOTALL)
_SIMPLE_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "0": "\0", "\\": "\\"}


def unescape(text: str) -> str:
    """``text`` with ``\\r``, ``\\n``, ``\\t``, ``\\0``, ``\\\\`` and ``\\xHH`` decoded; ValueError on any other."""

    def decode(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) == 3 and code.startswith("x"):
            return chr(int(code[1:], 16))
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        shown = "a lone backslash at the end" if not code else f"unknown escape \\{code}"
        raise ValueError(f"{shown} in {text!r}: use \\r, \\n, \\t, \\0, \\\\ or \\xHH")

    return _ESCAPE.sub(decode, text)


def frame_gap_s(baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: float = 1) -> float:
    """Quiet time between frames on a shared line: ten character times, never under 5 ms.

    Longer than Modbus RTU's 3.5 characters because ASCII instruments are slow to turn an RS-485 line around
    after answering; a device that needs more says so in its manual and the setting takes it.
    """
    bits_per_char = 1 + bytesize + (parity != "N") + stopbits
    return max(GAP_CHARACTERS * bits_per_char / baudrate, MIN_FRAME_GAP_S)


def _gap_from_line(data: dict[str, Any]) -> float:
    return frame_gap_s(
        data.get("baudrate", 9600), data.get("bytesize", 8), data.get("parity", "N"), data.get("stopbits", 1)
    )


def _stop_bits(value: float) -> float:
    if value not in (1, 1.5, 2):
        raise ValueError(f"stop bits are 1, 1.5 or 2, not {value:g}")
    return value


StopBits = Annotated[float, AfterValidator(_stop_bits)]


def _escapes_decode(text: str) -> str:
    unescape(text)
    return text


EscapedText = Annotated[str, AfterValidator(_escapes_decode)]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SerialPortSettings(_Config):
    """A serial port and its line settings. Every device on one port must agree on them."""

    port: Annotated[str, Field(min_length=1)]
    baudrate: Annotated[int, Field(gt=0, le=4_000_000)] = 9600
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Parity = "N"
    stopbits: StopBits = 1
    timeout_s: Annotated[float, Field(gt=0, le=60, description="how long to wait for an answer")] = 1.0
    inter_frame_gap_s: Annotated[float, Field(ge=0, le=1)] = Field(default_factory=_gap_from_line)


class SerialChannel(_Config):
    """Where a parsed value goes. ``bad_values`` are texts an instrument prints instead of a number (a broken
    sensor's ``----``, ``OVER``): they read as ``value=None, quality="bad"`` rather than as a bad frame."""

    channel: Identifier
    unit: Annotated[str, Field(max_length=32)] = ""
    bad_values: tuple[Annotated[str, Field(min_length=1)], ...] = ()


class SerialField(SerialChannel):
    """One field of a delimited line: its 0-based ``index``, and literal text around the number to remove."""

    index: Annotated[int, Field(ge=0, le=255)]
    prefix: str = ""
    suffix: str = ""


def _unique_channels(channels: Iterable[SerialChannel]) -> None:
    repeated = sorted(name for name, n in Counter(c.channel for c in channels).items() if n > 1)
    if repeated:
        raise ValueError(f"channel names must be unique per device; repeated: {', '.join(repeated)}")


class SerialRegexMap(_Config):
    """A regular expression that must match the whole line (after the address and checksum are removed); each
    named group in ``groups`` is one channel. A group that did not take part in the match gives no reading."""

    kind: Literal["regex"] = "regex"
    pattern: Annotated[str, Field(min_length=1, max_length=1024)]
    groups: Annotated[dict[str, SerialChannel], Field(min_length=1)]

    @model_validator(mode="after")
    def _groups_exist(self) -> SerialRegexMap:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"pattern is not a regular expression: {exc}") from exc
        missing = sorted(set(self.groups) - set(compiled.groupindex))
        if missing:
            named = ", ".join(sorted(compiled.groupindex)) or "none"
            raise ValueError(
                f"pattern has no group named {', '.join(missing)} (its named groups: {named}); "
                "write a group as (?P<name>...)"
            )
        _unique_channels(self.groups.values())
        return self


class SerialFieldMap(_Config):
    """A line split at ``delimiter``; each field of ``fields`` is one channel. ``count``, when set, is the exact
    number of fields a good line has."""

    kind: Literal["fields"] = "fields"
    delimiter: Annotated[str, Field(min_length=1, max_length=8)]
    fields: Annotated[tuple[SerialField, ...], Field(min_length=1)]
    count: Annotated[int, Field(ge=1, le=256)] | None = None
    strip: bool = Field(default=True, description="remove spaces around each field before reading it")

    @model_validator(mode="after")
    def _consistent(self) -> SerialFieldMap:
        repeated = sorted(str(i) for i, n in Counter(f.index for f in self.fields).items() if n > 1)
        if repeated:
            raise ValueError(f"each field index may be mapped once; repeated: {', '.join(repeated)}")
        _unique_channels(self.fields)
        if self.count is not None and self.count <= self.needed - 1:
            raise ValueError(f"count is {self.count}, but a field is mapped at index {self.needed - 1}")
        return self

    @property
    def needed(self) -> int:
        """Fields a line must have for every mapped index to exist."""
        return max(f.index for f in self.fields) + 1


SerialChannelMap = Annotated[SerialRegexMap | SerialFieldMap, Field(discriminator="kind")]


class SerialChecksum(_Config):
    """A checksum at the end of each line, NMEA style: ``<covered text><separator><hex digits>``.

    The hex digits (two for 8-bit kinds, four for CRC-16, either case) follow the last ``separator``. The
    checksum covers the line's bytes from ``start`` up to the separator: ``start=1`` skips NMEA's ``$``.
    CRC-16/MODBUS and CRC-16/CCITT-FALSE are printed as the 16-bit value, most significant digit first.
    """

    kind: ChecksumKind = "none"
    separator: Annotated[str, Field(min_length=1, max_length=4)] = "*"
    start: Annotated[int, Field(ge=0, le=16)] = 0

    @property
    def digits(self) -> int:
        return CHECKSUM_DIGITS[self.kind]


class SerialDeviceSettings(_Config):
    """A serial ASCII instrument as the edge configures it.

    ``mode="request"``: each poll sends ``request`` and reads one line back. ``mode="stream"``: the instrument
    prints lines on its own; each poll returns what arrived since the last one, and raises
    ``DriverTimeoutError`` when nothing at all has arrived for ``silence_timeout_s`` (10 s unless set).
    ``address`` is the multi-drop prefix: sent before the request, required at the start of the answer,
    removed before parsing (the checksum covers it). A streaming device needs its port to itself.
    """

    driver: Literal["serial"] = "serial"
    mode: SerialMode = "request"
    port: SerialPortSettings
    request: EscapedText | None = None
    terminator: Annotated[EscapedText, Field(min_length=1, max_length=8)] = "\r\n"
    encoding: TextEncoding = "ascii"
    channels: SerialChannelMap
    checksum: SerialChecksum = SerialChecksum()
    address: Annotated[EscapedText, Field(min_length=1, max_length=16)] | None = None
    max_line_bytes: Annotated[int, Field(ge=8, le=65536)] = 256
    silence_timeout_s: Annotated[float, Field(gt=0, le=86400)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SerialDeviceSettings:
        if self.mode == "request" and not self.request:
            raise ValueError("mode 'request' needs a request to send, such as 'T?\\r'")
        if self.mode == "stream" and self.request is not None:
            raise ValueError("a stream-mode device is not sent requests: remove 'request' or use mode 'request'")
        if self.mode == "request" and self.silence_timeout_s is not None:
            raise ValueError("silence_timeout_s applies to stream mode; request mode waits port.timeout_s")
        for name in ("request", "terminator", "address"):
            text = getattr(self, name)
            if text is not None:
                try:
                    unescape(text).encode(self.encoding)
                except UnicodeEncodeError as exc:
                    raise ValueError(f"{name} {text!r} cannot be written in {self.encoding}") from exc
        terminator = unescape(self.terminator)
        if self.checksum.kind != "none" and any(c in terminator for c in self.checksum.separator):
            raise ValueError(f"the checksum separator {self.checksum.separator!r} overlaps the terminator")
        if self.address is not None and terminator in unescape(self.address):
            raise ValueError("the address must not contain the terminator")
        return self

    @property
    def silence_limit_s(self) -> float:
        """How long a stream may stay silent before a poll fails: ``silence_timeout_s``, 10 s if unset."""
        return DEFAULT_SILENCE_S if self.silence_timeout_s is None else self.silence_timeout_s

    @property
    def request_bytes(self) -> bytes:
        """What a poll writes: the address, then the request, escapes decoded. Empty in stream mode."""
        if self.request is None:
            return b""
        return self.address_bytes + unescape(self.request).encode(self.encoding)

    @property
    def terminator_bytes(self) -> bytes:
        return unescape(self.terminator).encode(self.encoding)

    @property
    def address_bytes(self) -> bytes:
        return b"" if self.address is None else unescape(self.address).encode(self.encoding)
