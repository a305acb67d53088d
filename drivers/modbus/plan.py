"""Which requests read a device's channels: as few as the protocol's limits allow. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drivers.modbus.config import BIT_TABLES, ModbusChannel, Table

MAX_REGISTERS = 125  # per read request, Modbus Application Protocol 6.3
MAX_BITS = 2000  # per read request, 6.1
REGISTER_GAP = 8  # unused registers a merged read may cover; cheaper than another round trip
BIT_GAP = 128  # the same sixteen bytes on the wire
_TABLE_ORDER: tuple[Table, ...] = ("holding", "input", "coil", "discrete")


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers (or bits) of ``table`` from ``address``, and its channels."""

    table: Table
    address: int
    count: int
    channels: tuple[ModbusChannel, ...]

    @property
    def end(self) -> int:
        return self.address + self.count


def plan_reads(
    channels: Iterable[ModbusChannel],
    *,
    register_gap: int = REGISTER_GAP,
    bit_gap: int = BIT_GAP,
) -> tuple[ReadBlock, ...]:
    """Group channels into read blocks: one table per block, within the per-request limit, merging gaps up to
    ``register_gap`` registers (``bit_gap`` bits). Channels may overlap (two views of one register)."""
    by_table: dict[Table, list[ModbusChannel]] = {}
    for channel in channels:
        by_table.setdefault(channel.table, []).append(channel)
    blocks: list[ReadBlock] = []
    for table in _TABLE_ORDER:
        members = sorted(by_table.get(table, ()), key=lambda c: (c.address, c.end))
        if table in BIT_TABLES:
            blocks.extend(_group(table, members, limit=MAX_BITS, gap=bit_gap))
        else:
            blocks.extend(_group(table, members, limit=MAX_REGISTERS, gap=register_gap))
    return tuple(blocks)


def split_block(block: ReadBlock) -> tuple[ReadBlock, ...]:
    """The same channels read without crossing any unused address, for devices that refuse such reads."""
    return plan_reads(block.channels, register_gap=0, bit_gap=0)


def _group(table: Table, channels: list[ModbusChannel], *, limit: int, gap: int) -> list[ReadBlock]:
    blocks: list[ReadBlock] = []
    start = end = 0
    members: list[ModbusChannel] = []
    for channel in channels:
        if members and channel.address - end <= gap and max(end, channel.end) - start <= limit:
            members.append(channel)
            end = max(end, channel.end)
            continue
        if members:
            blocks.append(ReadBlock(table, start, end - start, tuple(members)))
        start, end, members = channel.address, channel.end, [channel]
    if members:
        blocks.append(ReadBlock(table, start, end - start, tuple(members)))
    return blocks
