"""The batch wire format: a header line and the stored entry bytes, gzip in transit, refused when malformed or
larger than the hub accepts once inflated."""

from __future__ import annotations

import gzip

import pytest

from sync import MAX_BATCH_BYTES, MAX_ENTRIES, BadBatchError, BatchHeader, decode_batch, encode_batch

ENTRIES = [b'{"v":1,"seq":0,"payload":{"a":"1"}}', b'{"v":1,"seq":1,"payload":{"b":"\\u00e9 \xc3\xa9"}}']


def header(count: int = len(ENTRIES), **extra: object) -> BatchHeader:
    return BatchHeader.model_validate({"origin": "tracseq.test/edge", "first_seq": 0, "count": count, **extra})


@pytest.mark.parametrize("compress", [True, False])
def test_a_batch_round_trips_with_the_entry_bytes_untouched(compress: bool) -> None:
    sent = header(checkpoint="tracseq.test/edge\n2\nAAAA\n\n\u2014 k AAAA\n")
    body = encode_batch(sent, ENTRIES, compress=compress)
    received, lines = decode_batch(body, gzipped=compress)
    assert received == sent
    assert lines == ENTRIES


def test_an_empty_batch_round_trips() -> None:
    received, lines = decode_batch(encode_batch(header(0), []), gzipped=True)
    assert received.count == 0
    assert lines == []


def test_encoding_is_deterministic() -> None:
    assert encode_batch(header(), ENTRIES) == encode_batch(header(), ENTRIES)


def test_a_gzip_bomb_is_refused_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"\n" * (4 * MAX_BATCH_BYTES), compresslevel=9)
    assert len(bomb) < 64 * 1024
    with pytest.raises(BadBatchError, match="larger than"):
        decode_batch(bomb, gzipped=True)


def test_a_batch_just_over_the_limit_is_refused_and_one_at_the_limit_is_not() -> None:
    head = header(1).model_dump_json(exclude_none=True).encode() + b"\n"
    filler = MAX_BATCH_BYTES - len(head) - 1
    at_limit = head + b"x" * filler + b"\n"
    assert len(at_limit) == MAX_BATCH_BYTES
    assert decode_batch(gzip.compress(at_limit, compresslevel=1), gzipped=True)[1] == [b"x" * filler]
    assert decode_batch(at_limit, gzipped=False)[1] == [b"x" * filler]
    over = head + b"x" * (filler + 1) + b"\n"
    with pytest.raises(BadBatchError, match="larger than"):
        decode_batch(gzip.compress(over, compresslevel=1), gzipped=True)
    with pytest.raises(BadBatchError, match="larger than"):
        decode_batch(over, gzipped=False)


def test_a_count_that_does_not_match_the_body_is_refused() -> None:
    with pytest.raises(BadBatchError, match="announces 3 entries, the body holds 2"):
        decode_batch(encode_batch(header(3), ENTRIES), gzipped=True)
    with pytest.raises(BadBatchError, match="announces 1 entries, the body holds 2"):
        decode_batch(encode_batch(header(1), ENTRIES), gzipped=True)


@pytest.mark.parametrize(
    "head",
    [
        b"not json",
        b"{}",
        b'{"v":2,"origin":"o","first_seq":0,"count":0}',
        b'{"origin":"o","first_seq":-1,"count":0}',
        b'{"origin":"","first_seq":0,"count":0}',
        b'{"origin":"o","first_seq":0,"count":%d}' % (MAX_ENTRIES + 1),
        b'{"origin":"o","first_seq":0,"count":0,"extra":1}',
    ],
    ids=["garbage", "empty", "version", "negative-seq", "empty-origin", "too-many", "unknown-field"],
)
def test_a_bad_header_is_refused(head: bytes) -> None:
    with pytest.raises(BadBatchError, match="header is not valid"):
        decode_batch(gzip.compress(head + b"\n"), gzipped=True)


def test_a_body_that_is_not_gzip_is_refused() -> None:
    with pytest.raises(BadBatchError, match="not valid gzip"):
        decode_batch(b"\x1f\x8b\x08 this is not gzip", gzipped=True)
    with pytest.raises(BadBatchError, match="not valid gzip"):
        decode_batch(encode_batch(header(), ENTRIES, compress=False), gzipped=True)


def test_a_gzip_stream_cut_short_or_followed_by_more_data_is_refused() -> None:
    body = encode_batch(header(), ENTRIES)
    with pytest.raises(BadBatchError, match="not one complete gzip stream"):
        decode_batch(body[:-12], gzipped=True)  # the last entry cut mid-line, the gzip trailer gone
    with pytest.raises(BadBatchError, match="not one complete gzip stream"):
        decode_batch(body + encode_batch(header(0), []), gzipped=True)
