"""Commands from the hub applied by a real agent (no devices): each is applied and logged, or refused and logged."""

from __future__ import annotations

import json
from pathlib import Path

from edge.agent import Agent
from edge.config import load_config
from edge.store import LogStore, export_log
from edge.uplink import apply_command
from protocol import SigningKey, Trust, Verifier, VerifierKey
from sync import Command


def agent(tmp_path: Path) -> Agent:
    config = tmp_path / "edge.toml"
    config.write_text('[edge]\nid = "cmd-host"\ndata_dir = "data"\n', encoding="utf-8")
    return Agent(load_config(config))


def logged(a: Agent) -> list[dict[str, object]]:
    a.store.flush()
    return [json.loads(raw)["payload"] for _, raw in a.store.entries() if b'"command_applied"' in raw]


def test_rotate_key_and_request_export_are_applied_and_the_log_still_verifies(tmp_path: Path) -> None:
    a = agent(tmp_path)
    first = a.key.verifier
    assert apply_command(a, Command(id="c1", type="rotate_key"))["ok"]
    assert a.key.verifier != first
    assert apply_command(a, Command(id="c2", type="request_export"))["ok"]
    exports = list((tmp_path / "data" / "exports").glob("export-*.jsonl.gz"))
    assert len(exports) == 1
    entries = logged(a)
    assert [e["attrs"]["command_id"] for e in entries] == ["c1", "c2"]  # type: ignore[index]
    a.store.checkpoint()
    a.store.close()
    out = tmp_path / "after.jsonl"
    export_log(tmp_path / "data" / "log.db", out)
    with out.open("rb") as lines:
        report = Verifier(Trust(log_keys=(first,))).run(lines)  # trust only the first key: the rotation carries it
    assert report.ok, report.failure
    assert report.rotations == 1
    loaded = SigningKey.load(tmp_path / "data" / "edge.key", "tracseq.local/edge/cmd-host")
    assert loaded.public == a.key.public  # the new key file is in place, the old one kept as retired
    assert list((tmp_path / "data").glob("edge.key.retired-*"))
    LogStore(tmp_path / "data" / "log.db", "tracseq.local/edge/cmd-host", loaded).close()
    assert VerifierKey.parse((tmp_path / "data" / "edge.key.pub").read_text().strip()).public == a.key.public


def test_a_bad_or_unknown_command_is_refused_and_logged_not_fatal(tmp_path: Path) -> None:
    a = agent(tmp_path)
    assert not apply_command(a, Command(id="c3", type="set_limit", args={"device": "nope"}))["ok"]
    assert not apply_command(a, Command(id="c4", type="ack_alarm", args={"alarm_id": "x/y/high"}))["ok"]
    entries = logged(a)
    assert [(e["attrs"]["command_id"], e["attrs"]["ok"]) for e in entries] == [("c3", False), ("c4", False)]  # type: ignore[index]
    a.store.close()
