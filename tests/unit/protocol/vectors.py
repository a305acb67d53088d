"""Builds the committed test vectors from fixed keys and inputs.

Run ``python -m tests.unit.protocol.vectors > protocol/vectors/v1.json`` only when the encoding changes on purpose;
the tests compare every field of the committed file with what the code produces now.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from protocol import (
    COSIGNER_TYPE,
    ChainWriter,
    SigningKey,
    cosign,
    entry_hash,
    genesis_hash,
    rotation_payload,
)

ORIGIN = "tracseq.example/edge/vector-host"
LOG_SEED = bytes(range(32))
NEW_SEED = bytes(range(32, 64))
WITNESS_SEED = bytes(range(64, 96))
WITNESS = "tracseq.example/hub/witness"
T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

INPUTS: list[tuple[str, dict[str, Any]]] = [
    (
        "observation",
        {"device": "freezer-01", "channel": "temp", "value": "-80.25", "unit": "Cel", "quality": "good"},
    ),
    (
        "event",
        {"type": "door_open", "severity": "info", "device": "freezer-01", "message": 'Tür offen \u2014 "A"'},
    ),
    ("alarm", {"type": "alarm_raised", "severity": "alarm", "attrs": {"limit": "-70", "delay_s": 300}}),
    ("gap", {"device": "freezer-01", "missed_polls": 3, "reason": "timeout\n"}),
]


def build() -> dict[str, Any]:
    log_key = SigningKey.from_seed(ORIGIN, LOG_SEED)
    new_key = SigningKey.from_seed(ORIGIN, NEW_SEED)
    witness = SigningKey.from_seed(WITNESS, WITNESS_SEED, COSIGNER_TYPE)
    chain = ChainWriter(ORIGIN)
    entries = []
    for i, (kind, payload) in enumerate(INPUTS):
        entry = chain.append(kind, payload, T0.replace(second=5 + i), 1_000 + i)
        entries.append({"seq": entry.seq, "bytes": entry.raw.decode("utf-8"), "hash": entry.hash.hex()})
    rotation = rotation_payload(ORIGIN, log_key, new_key.verifier.vkey, chain.next_seq + 1)
    entry = chain.append("key_rotation", rotation, T0.replace(second=9), 2_000)
    entries.append({"seq": entry.seq, "bytes": entry.raw.decode("utf-8"), "hash": entry.hash.hex()})
    body = chain.checkpoint_body()
    note = chain.checkpoint([log_key])
    cosig = cosign(body, witness, 1_767_323_045)
    return {
        "origin": ORIGIN,
        "genesis": genesis_hash(ORIGIN).hex(),
        "keys": {
            "log_seed": LOG_SEED.hex(),
            "log_vkey": log_key.verifier.vkey,
            "new_seed": NEW_SEED.hex(),
            "new_vkey": new_key.verifier.vkey,
            "witness_seed": WITNESS_SEED.hex(),
            "witness_vkey": witness.verifier.vkey,
        },
        "entries": entries,
        "checkpoint": {"text": body.text(), "note": note.render()},
        "cosignature": {
            "timestamp": cosig.timestamp,
            "line": cosig.line().render(),
            "signature": base64.b64encode(cosig.signature).decode(),
        },
        "entry_hash_check": entry_hash(entries[0]["bytes"].encode()).hex(),
    }


if __name__ == "__main__":
    print(json.dumps(build(), indent=2, ensure_ascii=False))
