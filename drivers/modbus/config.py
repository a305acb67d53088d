"""Device configuration for Modbus: how to reach a device and what each channel means.

The edge embeds these models in its device configuration; a bad file fails at start-up naming the field.
Scale and offset are decimal strings, never floats, so that a reading is computed exactly and hashes the same
on every machine.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from protocol.models import DecimalText, Identifier

Table = Literal["holding", "input", "coil", "discrete"]
DataType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64", "bool"]
Order = Literal["big", "little"]

BIT_TABLES: frozenset[Table] = frozenset({"coil", "discrete"})
FLOAT_TYPES: frozenset[DataType] = frozenset({"float32", "float64"})
REGISTER_WIDTH: dict[DataType, int] = {
    "bool": 1,
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
}
MIN_FRAME_GAP_S = 0.002


def _refuse_floats(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected a decimal string such as '0.1'")
    if isinstance(value, float):
        raise ValueError(f"write {value!r} as a quoted decimal string such as '0.1': floats are inexact")
    if isinstance(value, int):
        return str(value)
    return value


def _nonzero(value: str) -> str:
    if Decimal(value).is_zero():
        raise ValueError("scale must not be zero")
    return value


DecimalString = Annotated[DecimalText, BeforeValidator(_refuse_floats)]
ScaleString = Annotated[DecimalString, AfterValidator(_nonzero)]


def frame_gap_s(baudrate: int, bytesize: int = 8, parity: str = "N", stopbits: int = 1) -> float:
    """The RTU silent interval: 3.5 character times, never under 2 ms (the spec fixes 1.75 ms above 19200)."""
    bits_per_char = 1 + bytesize + (parity != "N") + stopbits
    return max(3.5 * bits_per_char / baudrate, MIN_FRAME_GAP_S)


def _gap_from_line(data: dict[str, Any]) -> float:
    return frame_gap_s(
        data.get("baudrate", 9600), data.get("bytesize", 8), data.get("parity", "N"), data.get("stopbits", 1)
    )


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModbusTcpConnection(_Config):
    """A device (or a TCP-to-RTU gateway) on the network."""

    transport: Literal["tcp"] = "tcp"
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 502
    unit: Annotated[int, Field(ge=0, le=255)] = 1
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0


class ModbusRtuConnection(_Config):
    """A device on an RS-485 line. Every device on one port must agree on the line settings."""

    transport: Literal["rtu"] = "rtu"
    port: Annotated[str, Field(min_length=1)]
    baudrate: Annotated[int, Field(gt=0, le=4_000_000)] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    unit: Annotated[int, Field(ge=1, le=247)] = 1
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    inter_frame_gap_s: Annotated[float, Field(ge=0, le=1)] = Field(default_factory=_gap_from_line)


ModbusConnection = Annotated[ModbusTcpConnection | ModbusRtuConnection, Field(discriminator="transport")]


class ModbusChannel(_Config):
    """One value on the device: where it lives, how its registers encode it, and how to scale it.

    ``value = decoded * scale + offset``. ``precision`` (floats only) keeps that many decimals of the decoded
    float before scaling. ``writable`` must be set before the edge may write the channel.
    """

    name: Identifier
    table: Table
    address: Annotated[int, Field(ge=0, le=65535)]
    data_type: DataType
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: ScaleString = "1"
    offset: DecimalString = "0"
    unit: Annotated[str, Field(max_length=32)] = ""
    precision: Annotated[int, Field(ge=0, le=15)] | None = None
    writable: bool = False

    @property
    def width(self) -> int:
        """Registers (or, in a bit table, bits) the channel spans."""
        return 1 if self.table in BIT_TABLES else REGISTER_WIDTH[self.data_type]

    @property
    def end(self) -> int:
        """The first address after the channel."""
        return self.address + self.width

    @property
    def scale_value(self) -> Decimal:
        return Decimal(self.scale)

    @property
    def offset_value(self) -> Decimal:
        return Decimal(self.offset)

    @model_validator(mode="after")
    def _consistent(self) -> ModbusChannel:
        if self.table in BIT_TABLES and self.data_type != "bool":
            raise ValueError(f"a {self.table} holds single bits: data_type must be 'bool', not {self.data_type!r}")
        if self.data_type == "bool" and (self.scale_value != 1 or self.offset_value != 0):
            raise ValueError("a bool channel reads 0 or 1: it takes no scale or offset")
        if self.precision is not None and self.data_type not in FLOAT_TYPES:
            raise ValueError(f"precision applies to float32/float64 channels, not {self.data_type!r}")
        if self.end > 65536:
            raise ValueError(f"a {self.data_type} at address {self.address} runs past the last address 65535")
        if self.writable and self.table != "holding":
            raise ValueError(f"only holding registers can be written, not a {self.table}")
        return self


def _unique_names(channels: tuple[ModbusChannel, ...]) -> tuple[ModbusChannel, ...]:
    repeated = sorted(name for name, n in Counter(c.name for c in channels).items() if n > 1)
    if repeated:
        raise ValueError(f"channel names must be unique per device; repeated: {', '.join(repeated)}")
    return channels


ModbusChannels = Annotated[tuple[ModbusChannel, ...], Field(min_length=1), AfterValidator(_unique_names)]
