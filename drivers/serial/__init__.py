"""Serial ASCII instruments (temperature probes, LN2 level sensors) over pyserial, in request or stream mode.

Configure a device with its port, what to send, and how to read a line, then drive it through the
``drivers.Driver`` shape::

    settings = SerialDeviceSettings(
        mode="request",
        port=SerialPortSettings(port="/dev/ttyUSB0", baudrate=9600),
        request="T?\\r",
        channels=SerialRegexMap(
            pattern=r"T=(?P<t>[-+0-9.]+) C", groups={"t": SerialChannel(channel="temp", unit="Cel")}
        ),
        checksum=SerialChecksum(kind="xor8"),
    )
    driver = create_driver("probe-1", settings)
    await driver.open()
    readings = await driver.poll()

Devices on one RS-485 port share one ``SerialPort`` (one handle, one lock, a quiet gap between frames):
``port_for``, or a ``PortRegistry`` of your own. Parsing is pure and usable on its own: ``LineParser``.
"""

from drivers.serial.checksum import CHECKSUMS, checksum_value, crc16_ccitt, crc16_modbus, sum8, xor8
from drivers.serial.config import (
    ChecksumKind,
    Parity,
    SerialChannel,
    SerialChannelMap,
    SerialChecksum,
    SerialDeviceSettings,
    SerialField,
    SerialFieldMap,
    SerialMode,
    SerialPortSettings,
    SerialRegexMap,
    TextEncoding,
    frame_gap_s,
    unescape,
)
from drivers.serial.driver import SerialDriver, create_driver
from drivers.serial.errors import BadLineError, BadLineReason
from drivers.serial.framing import Frame, LineSplitter
from drivers.serial.link import LinkFactory, SerialLink, open_pyserial
from drivers.serial.parse import LineParser, decimal_text
from drivers.serial.port import DEFAULT_PORTS, PortRegistry, SerialPort, port_for

__all__ = [
    "CHECKSUMS",
    "DEFAULT_PORTS",
    "BadLineError",
    "BadLineReason",
    "ChecksumKind",
    "Frame",
    "LineParser",
    "LineSplitter",
    "LinkFactory",
    "Parity",
    "PortRegistry",
    "SerialChannel",
    "SerialChannelMap",
    "SerialChecksum",
    "SerialDeviceSettings",
    "SerialDriver",
    "SerialField",
    "SerialFieldMap",
    "SerialLink",
    "SerialMode",
    "SerialPort",
    "SerialPortSettings",
    "SerialRegexMap",
    "TextEncoding",
    "checksum_value",
    "crc16_ccitt",
    "crc16_modbus",
    "create_driver",
    "decimal_text",
    "frame_gap_s",
    "open_pyserial",
    "port_for",
    "sum8",
    "unescape",
    "xor8",
]
