"""A damaged ``log.db`` at start-up, through the real commands: ``tracseq edge run`` refuses it with exit code 3, a
message naming the file and the recovery path, and writes nothing; the recovery path then works as the README says
(salvage the old directory, verify what was saved, start afresh under a new id)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from protocol import Trust, VerifierKey
from tests.e2e.harness import entries, freezer_config, start_agent, start_simulator, stop_agent, tracseq, wait_for

pytestmark = pytest.mark.e2e


def damage(db: Path, how: str) -> None:
    data = bytearray(db.read_bytes())
    if how == "bad page":
        page = 4096 * (len(data) // 4096 // 2)  # a leaf in the middle of the entries
        data[page + 600 : page + 3400] = bytes(range(256)) * 10 + b"\x00" * 240
    else:  # cut short mid-page, as a copy that stopped or a disk that filled would leave it
        data = data[: len(data) * 2 // 3 // 4096 * 4096 + 777]
    db.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real agent's data directory: 4,000+ entries from 20 simulated freezers, stopped cleanly."""
    folder = tmp_path_factory.mktemp("recorded")
    sim = start_simulator(speed=5)
    try:
        config = freezer_config(folder, [(f"freezer-{i}", sim.tcp_port) for i in range(20)], poll_interval_s=0.05)
        agent = start_agent(config)
        wait_for(lambda: len(entries(folder / "data" / "log.db")) > 4000, 60, "4,000 entries")
        assert stop_agent(agent) is not None
        assert agent.returncode == 0
    finally:
        sim.stop()
    with sqlite3.connect(folder / "data" / "log.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return folder


@pytest.mark.parametrize("how", ["bad page", "cut short"])
def test_a_damaged_log_stops_the_agent_and_the_documented_recovery_works(
    recorded: Path, tmp_path: Path, how: str
) -> None:
    sim = start_simulator(speed=5)
    try:
        shutil.copytree(recorded / "data", tmp_path / "data")
        config = freezer_config(tmp_path, [(f"freezer-{i}", sim.tcp_port) for i in range(20)], poll_interval_s=0.05)
        data = tmp_path / "data"
        db = data / "log.db"
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            original = {int(s): bytes(r) for s, r in conn.execute("SELECT seq, raw FROM entries")}
        damage(db, how)
        evidence = hashlib.sha256(db.read_bytes()).hexdigest()

        # the agent refuses to start, says why and what to do, and writes nothing
        refused = tracseq("edge", "run", "--config", config)
        assert refused.returncode == 3, refused.stderr
        for said in (str(db), "recovery:", "--salvage", "new [edge] id"):
            assert said in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert hashlib.sha256(db.read_bytes()).hexdigest() == evidence

        # recovery, as the message says: move the directory aside and salvage what is left
        old = tmp_path / "data.evidence"
        data.rename(old)
        plain = tracseq("edge", "export", "--data-dir", old, "--out", tmp_path / "plain.jsonl")
        assert plain.returncode == 3, plain.stderr
        assert "--salvage" in plain.stderr, plain.stderr
        assert not (tmp_path / "plain.jsonl").exists()
        out = tmp_path / "salvaged.jsonl"
        salvaged = tracseq("edge", "export", "--data-dir", old, "--out", out, "--salvage")
        assert salvaged.returncode == 3, salvaged.stderr  # some entries are gone, and it says so
        assert "could not be read" in salvaged.stderr, salvaged.stderr
        assert "Traceback" not in salvaged.stderr
        lines = [line for line in out.read_bytes().splitlines() if line.startswith(b'{"v":')]
        kept = {int(line.split(b'"seq":', 1)[1].split(b",", 1)[0]): line for line in lines}
        assert kept
        assert all(kept[s] == original[s] for s in kept), "every salvaged entry is the original's bytes"
        assert len(kept) < len(original)
        first_missing = min(set(original) - set(kept))
        assert f"salvaged {len(kept):,} entries" in salvaged.stdout
        assert str(first_missing) in salvaged.stderr
        assert hashlib.sha256((old / "log.db").read_bytes()).hexdigest() == evidence

        print(
            f"\nDAMAGE FIGURES {how}: {len(original):,} entries, {len(kept):,} salvaged byte for byte,"
            f" {len(original) - len(kept):,} lost, first missing seq {first_missing}"
        )

        # the auditor's check stops at the first entry that could not be saved
        key = VerifierKey.parse((old / "edge.key.pub").read_text(encoding="utf-8"))
        trust = tmp_path / "trust.json"
        trust.write_text(Trust(log_keys=(key,)).to_json(), encoding="utf-8")
        checked = tracseq("verify", out, "--trust", trust)
        said = checked.stdout + checked.stderr
        assert checked.returncode in (1, 2), said  # tampered (a gap inside) or truncated (the tail is gone)
        assert f"entry {first_missing} is missing" in said or f"entries stop at {first_missing}" in said, said

        # and the edge starts afresh under a new id on an empty directory
        config.write_text(config.read_text().replace('id = "e2e-host"', 'id = "e2e-host-2"', 1), encoding="utf-8")
        fresh = start_agent(config)
        wait_for(lambda: len(entries(db)) > 20, 30, "the fresh log to fill")
        assert stop_agent(fresh) is not None
        assert fresh.returncode == 0
        assert entries(db)[0]["seq"] == 0
    finally:
        sim.stop()
        shutil.rmtree(tmp_path / "data.evidence", ignore_errors=True)
