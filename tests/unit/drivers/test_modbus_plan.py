"""Read planning: as few requests per poll as the protocol's limits allow."""

from __future__ import annotations

from drivers.modbus import ModbusChannel, ReadBlock, plan_reads
from drivers.modbus.config import DataType, Table
from drivers.modbus.plan import split_block


def ch(name: str, address: int, data_type: DataType = "uint16", table: Table = "holding") -> ModbusChannel:
    return ModbusChannel(name=name, table=table, address=address, data_type=data_type)


def spans(blocks: tuple[ReadBlock, ...]) -> list[tuple[str, int, int]]:
    return [(b.table, b.address, b.count) for b in blocks]


def test_contiguous_channels_are_one_request() -> None:
    plan = plan_reads([ch("a", 0), ch("b", 1, "float32"), ch("c", 3, "float64")])
    assert spans(plan) == [("holding", 0, 7)]
    assert [c.name for c in plan[0].channels] == ["a", "b", "c"]


def test_gaps_up_to_eight_registers_are_read_through() -> None:
    assert spans(plan_reads([ch("a", 0), ch("b", 9)])) == [("holding", 0, 10)]
    assert spans(plan_reads([ch("a", 0), ch("b", 10)])) == [("holding", 0, 1), ("holding", 10, 1)]


def test_each_table_is_read_separately_in_a_fixed_order() -> None:
    plan = plan_reads(
        [
            ch("d", 0, "bool", "discrete"),
            ch("c", 0, "bool", "coil"),
            ch("i", 0, table="input"),
            ch("h", 0),
        ]
    )
    assert spans(plan) == [("holding", 0, 1), ("input", 0, 1), ("coil", 0, 1), ("discrete", 0, 1)]


def test_a_request_never_exceeds_125_registers() -> None:
    channels = [ch(f"r{i}", i * 2, "float32") for i in range(100)]  # 200 registers
    plan = plan_reads(channels)
    assert spans(plan) == [("holding", 0, 124), ("holding", 124, 76)]
    assert sum(len(b.channels) for b in plan) == 100


def test_a_request_never_exceeds_2000_bits() -> None:
    channels = [ch(f"b{i}", i * 10, "bool", "coil") for i in range(300)]  # bits 0..2990
    plan = plan_reads(channels)
    assert all(b.count <= 2000 for b in plan)
    assert spans(plan)[0] == ("coil", 0, 1991)
    assert sum(len(b.channels) for b in plan) == 300


def test_bit_gaps_up_to_128_bits_are_read_through() -> None:
    assert spans(plan_reads([ch("a", 0, "bool", "coil"), ch("b", 129, "bool", "coil")])) == [("coil", 0, 130)]
    assert len(plan_reads([ch("a", 0, "bool", "coil"), ch("b", 130, "bool", "coil")])) == 2


def test_overlapping_channels_share_their_registers() -> None:
    plan = plan_reads([ch("whole", 10, "uint32"), ch("high", 10), ch("low", 11)])
    assert spans(plan) == [("holding", 10, 2)]


def test_channel_order_does_not_matter() -> None:
    assert spans(plan_reads([ch("b", 5), ch("a", 0)])) == [("holding", 0, 6)]


def test_split_block_reads_around_unused_addresses() -> None:
    (block,) = plan_reads([ch("a", 0), ch("b", 1), ch("c", 5, "int32")])
    assert spans(split_block(block)) == [("holding", 0, 2), ("holding", 5, 2)]
