"""Synthetic logs: a valid export of freezer readings and events with fresh keys, and the trust file to check it.

Tests, benchmarks and auditors' training use it, so it writes exactly what a real edge would: the same entry
encoding, checkpoints every ``checkpoint_every`` entries and at the end, cosignatures when a witness is asked for.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from protocol.chain import ChainWriter, rotation_payload
from protocol.checkpoint import cosign
from protocol.export import ExportWriter, Trust
from protocol.keys import COSIGNER_TYPE, SigningKey

DEFAULT_ORIGIN = "tracseq.example/edge/synthetic-freezer-host"
DEFAULT_WITNESS = "tracseq.example/hub/witness"


@dataclass(frozen=True)
class SynthResult:
    export: Path
    trust: Path
    entries: int
    checkpoints: int
    log_key: SigningKey  # the key in force at the end
    witness_key: SigningKey | None
    retired_keys: tuple[SigningKey, ...] = ()


def _payload(rng: random.Random, i: int, base: datetime) -> tuple[str, dict[str, object]]:
    if i % 997 == 500:
        return "event", {
            "type": "door_open",
            "severity": "info",
            "device": "freezer-01",
            "channel": "door",
            "message": "door opened",
        }
    if i % 4999 == 2500:
        return "alarm", {
            "type": "alarm_raised",
            "severity": "alarm",
            "device": "freezer-02",
            "channel": "temp",
            "message": "high temperature for 300 s",
            "attrs": {"limit": "-70.0", "value": "-68.4", "rule": "high"},
        }
    device = "freezer-01" if i % 2 == 0 else "freezer-02"
    centi = -8000 + rng.randint(-150, 150)
    value = f"{centi / 100:.2f}"  # formatted once here, like an instrument's display
    return "observation", {
        "device": device,
        "channel": "temp",
        "value": value,
        "unit": "Cel",
        "quality": "good",
    }


def synthesize(
    entries: int,
    out: Path,
    *,
    trust_out: Path | None = None,
    witness: bool = False,
    checkpoint_every: int = 1000,
    rotate_at: int | None = None,
    origin: str = DEFAULT_ORIGIN,
    seed: int = 0,
    start: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> SynthResult:
    if entries < 0:
        raise ValueError("entries must not be negative")
    rng = random.Random(seed)
    log_key = SigningKey.generate(origin)
    first_key = log_key
    witness_key = SigningKey.generate(DEFAULT_WITNESS, COSIGNER_TYPE) if witness else None
    chain = ChainWriter(origin)
    base = start or (datetime.now(UTC) - timedelta(seconds=entries + 60))
    base = base.replace(microsecond=0)
    mono0 = 1_000_000_000
    checkpoints = 0
    witnessed_notes: list[str] = []
    new_key: SigningKey | None = None
    trust_path = trust_out or out.with_name(out.name.split(".")[0] + ".trust.json")

    def checkpoint(writer: ExportWriter) -> None:
        nonlocal checkpoints
        note = chain.checkpoint([log_key])
        if witness_key is not None:
            stamp = int((base + timedelta(seconds=chain.next_seq)).timestamp())
            note = note.with_signatures([cosign(chain.checkpoint_body(), witness_key, stamp).line()])
            witnessed_notes[:] = [note.render()]
        writer.write_checkpoint(note.render())
        checkpoints += 1

    with ExportWriter(
        out,
        origin=origin,
        log_keys=[first_key.verifier],
        witness_keys=[witness_key.verifier] if witness_key else [],
    ) as writer:
        for i in range(entries):
            ts = base + timedelta(seconds=i)
            mono = mono0 + i * 1_000_000_000
            if rotate_at is not None and i == rotate_at:
                new_key = SigningKey.generate(origin)
                payload = rotation_payload(origin, log_key, new_key.verifier.vkey, i + 1)
                writer.write_entry(chain.append("key_rotation", payload, ts, mono).raw)
            else:
                kind, payload = _payload(rng, i, base)
                writer.write_entry(chain.append(kind, payload, ts, mono).raw)
            if new_key is not None and rotate_at is not None and chain.next_seq > rotate_at + 1:
                log_key = new_key
            if chain.next_seq % checkpoint_every == 0:
                checkpoint(writer)
            if progress is not None and i % 65536 == 0:
                progress(i)
        if chain.next_seq % checkpoint_every != 0 or entries == 0:
            checkpoint(writer)
    # the auditor's own copy of the newest witnessed checkpoint, as a hub would hand it out: a cut export shows
    trust = Trust(
        log_keys=(first_key.verifier,),
        witness_keys=(witness_key.verifier,) if witness_key else (),
        checkpoints=tuple(witnessed_notes),
    )
    trust_path.write_text(trust.to_json() + "\n", encoding="utf-8")
    retired = (first_key,) if log_key is not first_key else ()
    return SynthResult(out, trust_path, entries, checkpoints, log_key, witness_key, retired)
