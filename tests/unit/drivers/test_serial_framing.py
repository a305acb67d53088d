"""Splitting a serial byte stream into lines, however the bytes happen to arrive."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drivers.serial import Frame, LineSplitter


def feed_all(splitter: LineSplitter, chunks: list[bytes]) -> list[Frame]:
    return [frame for chunk in chunks for frame in splitter.feed(chunk)]


def test_lines_split_at_the_terminator_and_a_partial_line_waits() -> None:
    splitter = LineSplitter(b"\r\n", 64)
    assert splitter.feed(b"T=1 C\r\nT=2") == [Frame(b"T=1 C")]
    assert splitter.pending == b"T=2"
    assert splitter.feed(b" C\r\n\r\n") == [Frame(b"T=2 C"), Frame(b"")]
    assert splitter.pending == b""


def test_a_terminator_split_across_chunks_is_found() -> None:
    splitter = LineSplitter(b"\r\n", 64)
    assert feed_all(splitter, [b"T=1 C\r", b"\nT=2 C\r", b"\n"]) == [Frame(b"T=1 C"), Frame(b"T=2 C")]


def test_an_over_long_line_is_one_incomplete_frame_then_the_stream_resynchronises() -> None:
    splitter = LineSplitter(b"\n", 8)
    frames = feed_all(splitter, [b"0123456789", b"abcdefghij" * 20, b"xyz\nok\n"])
    assert frames == [Frame(b"01234567", complete=False), Frame(b"ok")]
    assert LineSplitter(b"\n", 4).feed(b"123456\nok\n") == [Frame(b"1234", complete=False), Frame(b"ok")]


def test_clear_forgets_a_partial_line() -> None:
    splitter = LineSplitter(b"\n", 8)
    splitter.feed(b"half")
    splitter.clear()
    assert splitter.feed(b"whole\n") == [Frame(b"whole")]


lines = st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=12)


@given(lines, st.data())
def test_any_chunking_of_a_stream_gives_the_same_lines(expected: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(line + b"\r\n" for line in expected)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert feed_all(LineSplitter(b"\r\n", 16), chunks) == [Frame(line) for line in expected]
