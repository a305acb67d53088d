"""Secrets at rest and in logs: the edge's and the hub's key files are written 0600 and refused when group or others
can read them, the edge's data directory is 0700, and a hub and an edge going through sign-in, refresh, logout,
enrolment and sync with every logger at DEBUG write no password, token, credential or private key to the logs
(as rendered by the hub's and the edge's JSON formatters)."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path

import pytest

from edge.agent import Agent, load_or_create_key
from edge.config import load_config
from edge.logs import JsonFormatter as EdgeJsonFormatter
from hub.audit.trail import load_or_create_key as load_or_create_hub_key
from hub.domain.permissions import Role
from hub.logs import JsonFormatter as HubJsonFormatter
from hub.migrations import upgrade
from protocol.errors import KeyFileError
from sync.errors import BadBatchError
from sync.transport import HttpTransport
from tests.e2e.harness import freezer_config
from tests.integration.hub.harness import JWT_SECRET, PASSWORD, hub_settings, running_hub, seed
from tests.integration.hub.test_sync_ingest import Edge, reading

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_edges_key_and_data_directory_are_its_owners_alone(tmp_path: Path) -> None:
    config = load_config(freezer_config(tmp_path, []))
    agent = Agent(config)
    agent.store.close()
    assert mode(config.edge.data_dir) == 0o700
    assert mode(config.edge.key_path) == 0o600
    config.edge.key_path.chmod(0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_key(config)


@pytest.mark.parametrize("name", ["audit", "witness"])
def test_the_hubs_keys_are_written_0600_and_refused_when_others_can_read_them(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.key"
    load_or_create_hub_key(path, "hub")
    assert mode(path) == 0o600
    path.chmod(0o604)
    with pytest.raises(KeyFileError, match="group or others"):
        load_or_create_hub_key(path, "hub")


def test_no_secret_reaches_the_logs_at_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secrets: dict[str, str] = {"password": PASSWORD, "jwt secret": JWT_SECRET}
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    upgrade(database_url)

    async def main() -> None:
        settings = hub_settings(database_url, tmp_path, log_level="DEBUG")
        async with running_hub(settings) as hub:
            tenants = await seed(hub.state, slugs=("alpha-lab",), roles=(Role.ADMIN,))
            admin = tenants["alpha-lab"].users[Role.ADMIN]
            signed_in = (await hub.login(admin)).json()
            secrets["access token"] = signed_in["access_token"]
            secrets["refresh token"] = signed_in["refresh_token"]
            await hub.login(admin, PASSWORD + "-wrong")
            rotated = await hub.client.post("/v1/auth/refresh", json={"refresh_token": signed_in["refresh_token"]})
            secrets["rotated refresh token"] = rotated.json()["refresh_token"]
            await hub.client.post("/v1/auth/refresh", json={"refresh_token": signed_in["refresh_token"]})  # reuse
            headers = {"Authorization": f"Bearer {hub.token_for(admin)}"}
            created = await hub.client.post("/v1/devices/enrollment-tokens", headers=headers)
            secrets["enrolment token"] = created.json()["token"]

            edge = Edge(hub, "tracseq.test/edge/quiet")
            await edge.enroll(headers, "quiet")
            secrets["device credential"] = edge.token
            secrets["edge private key"] = edge.key.private.private_bytes_raw().hex()
            for i in range(3):
                edge.append("observation", reading(i))
            transport = HttpTransport("http://hub", edge.token, client=hub.client)
            with pytest.raises(BadBatchError):  # refused: its error path logs too
                await transport.send(b"not a batch")
            assert (await edge.send(0, 3, edge.checkpoint(3))).status_code == 200
            await hub.client.post("/v1/sync/batches", headers={"Authorization": f"Bearer {edge.token}x"})

    with caplog.at_level(logging.DEBUG):
        asyncio.run(main())
    assert len(caplog.records) > 10, "DEBUG logging was captured"
    hub_format, edge_format = HubJsonFormatter("hub"), EdgeJsonFormatter("edge")
    rendered = "\n".join(hub_format.format(r) + edge_format.format(r) for r in caplog.records)
    for what, secret in secrets.items():
        assert secret not in rendered, f"the {what} appears in the logs"
    assert "BEGIN PRIVATE KEY" not in rendered
