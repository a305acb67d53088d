"""A full disk (ENOSPC on flush) raises one disk-full alarm and clears it once writes succeed again; the budget
alarm is not touched, and nothing queued is lost."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from edge.agent import Agent
from edge.config import load_config
from edge.store import StoreFullError


def agent(tmp_path: Path) -> Agent:
    config = tmp_path / "edge.toml"
    config.write_text('[edge]\nid = "full-host"\ndata_dir = "data"\n', encoding="utf-8")
    return Agent(load_config(config))


def test_enospc_raises_one_disk_full_alarm_and_clears_it_when_writes_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = agent(tmp_path)
    real_flush = a.store.flush
    full = [True]

    def flush() -> int:
        if full[0]:
            raise StoreFullError("database or disk is full")
        return real_flush()

    monkeypatch.setattr(a.store, "flush", flush)
    for i in range(3):
        a._append("event", {"type": "probe", "n": i})
        asyncio.run(a._flush())
        a._check_disk()  # a log far under its budget must not clear an alarm it never raised
    full[0] = False
    asyncio.run(a._flush())
    asyncio.run(a._flush())
    payloads = [json.loads(raw)["payload"] for _, raw in a.store.entries()]
    alarms = [(p["rule"], p["action"]) for p in payloads if "rule" in p]
    assert alarms == [("disk_full", "raised"), ("disk_full", "cleared")]
    assert [p["n"] for p in payloads if p.get("type") == "probe"] == [0, 1, 2]
    a.store.close()
