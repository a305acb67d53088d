"""The committed test vectors pin the encoding, hashes, key ids, notes and signatures byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocol import (
    ChainWriter,
    CheckpointBody,
    Note,
    SigningKey,
    Trust,
    Verifier,
    VerifierKey,
    entry_hash,
    genesis_hash,
    parse_checkpoint,
    verify_cosignatures,
    verify_note,
)
from protocol.export import ExportWriter
from tests.unit.protocol import vectors

VECTORS = json.loads((Path(__file__).parents[3] / "protocol" / "vectors" / "v1.json").read_text(encoding="utf-8"))


def test_committed_vectors_match_what_the_code_produces_now() -> None:
    assert vectors.build() == VECTORS


def test_entry_hash_is_sha256_over_domain_and_exact_bytes() -> None:
    import hashlib

    raw = VECTORS["entries"][0]["bytes"].encode("utf-8")
    assert entry_hash(raw).hex() == hashlib.sha256(b"tracseq/entry/v1\x00" + raw).hexdigest()
    assert VECTORS["entries"][0]["hash"] == entry_hash(raw).hex()


def test_each_entry_links_to_the_hash_of_the_one_before() -> None:
    prev = VECTORS["genesis"]
    for entry in VECTORS["entries"]:
        decoded = json.loads(entry["bytes"])
        assert decoded["prev"] == prev
        prev = entry["hash"]
    assert genesis_hash(VECTORS["origin"]).hex() == VECTORS["genesis"]


def test_non_ascii_text_is_stored_as_utf8_not_escaped() -> None:
    raw = VECTORS["entries"][1]["bytes"].encode("utf-8")
    assert "Tür offen — ".encode() in raw


def test_vector_checkpoint_and_cosignature_verify_with_the_published_keys() -> None:
    log_key = VerifierKey.parse(VECTORS["keys"]["log_vkey"])
    witness = VerifierKey.parse(VECTORS["keys"]["witness_vkey"])
    note, body = parse_checkpoint(VECTORS["checkpoint"]["note"] + VECTORS["cosignature"]["line"])
    assert body.size == len(VECTORS["entries"])
    assert body.head.hex() == VECTORS["entries"][-1]["hash"]
    assert verify_note(note, {(log_key.name, log_key.key_id): log_key}) == [log_key]
    cosigs = verify_cosignatures(note, {(witness.name, witness.key_id): witness})
    assert [c.timestamp for c in cosigs] == [VECTORS["cosignature"]["timestamp"]]


def test_seeded_keys_give_the_published_verifier_keys() -> None:
    key = SigningKey.from_seed(vectors.ORIGIN, bytes.fromhex(VECTORS["keys"]["log_seed"]))
    assert key.verifier.vkey == VECTORS["keys"]["log_vkey"]
    assert VerifierKey.parse(key.verifier.vkey) == key.verifier


def test_a_vector_export_verifies_end_to_end(tmp_path: Path) -> None:
    log_key = SigningKey.from_seed(vectors.ORIGIN, bytes.fromhex(VECTORS["keys"]["log_seed"]))
    witness = VerifierKey.parse(VECTORS["keys"]["witness_vkey"])
    path = tmp_path / "vectors.jsonl"
    with ExportWriter(path, origin=vectors.ORIGIN, log_keys=[log_key.verifier]) as writer:
        for entry in VECTORS["entries"]:
            writer.write_entry(entry["bytes"].encode("utf-8"))
        writer.write_checkpoint(VECTORS["checkpoint"]["note"] + VECTORS["cosignature"]["line"])
    trust = Trust(log_keys=(log_key.verifier,), witness_keys=(witness,))
    with path.open("rb") as lines:
        report = Verifier(trust).run(lines)
    assert report.ok, report.failure
    assert report.rotations == 1
    assert report.witnessed_size == len(VECTORS["entries"])


@pytest.mark.parametrize("index", range(len(VECTORS["entries"])))
def test_re_encoding_the_decoded_entry_gives_the_same_bytes(index: int) -> None:
    from protocol import LogEntry

    raw = VECTORS["entries"][index]["bytes"].encode("utf-8")
    assert LogEntry.from_bytes(raw).encode() == raw


def test_chain_writer_resumes_from_a_stored_head() -> None:
    first = ChainWriter("o")
    a = first.append("event", {"type": "x"}, vectors.T0, 1)
    resumed = ChainWriter("o", next_seq=1, head=a.hash)
    b = resumed.append("event", {"type": "y"}, vectors.T0, 2)
    assert b.seq == 1
    assert json.loads(b.raw)["prev"] == a.hash.hex()
    assert CheckpointBody("o", 2, b.hash) == resumed.checkpoint_body()
    assert isinstance(resumed.checkpoint([SigningKey.generate("o")]), Note)
