"""The edge and the hub over TLS, as processes: a test CA made at test time (nothing committed), ``tracseq hub serve
--ssl-certfile/--ssl-keyfile`` in the production environment, an edge enrolled with ``--ca`` whose log reaches the
hub over verified HTTPS, a hub certificate from another CA refused (logged, retried, nothing accepted), and plain
HTTP refused: by the hub in production unless a TLS-terminating proxy is declared, by the edge to a remote hub."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.harness import freezer_config, start_agent, stop_agent, tracseq, wait_for
from tests.e2e.hub_harness import JWT_SECRET, PASSWORD, free_port

pytestmark = pytest.mark.e2e


# -- a test CA --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    pem: Path

    @classmethod
    def create(cls, folder: Path, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )  # keyCertSign, cRLSign
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        pem = folder / f"{name}.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key, cert, pem)

    def issue_server(self, folder: Path, ip: str = "127.0.0.1") -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tracseq hub")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = folder / "hub.crt", folder / "hub.key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
        return cert_file, key_file

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pem))


# -- the hub, on SQLite, in production with TLS -----------------------------------------------------------------


def hub_env(folder: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TRACSEQ_HUB_ENVIRONMENT": "production",
        "TRACSEQ_HUB_JWT_SECRET": JWT_SECRET,
        "TRACSEQ_HUB_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'hub.db'}",
        "TRACSEQ_HUB_AUDIT_KEY_FILE": str(folder / "audit.key"),
        "TRACSEQ_HUB_WITNESS_KEY_FILE": str(folder / "witness.key"),
        "TRACSEQ_HUB_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def seed(folder: Path) -> None:
    from hub.api.app import build_state
    from hub.domain.permissions import Role
    from hub.settings import HubSettings

    env = hub_env(folder)
    settings = HubSettings(
        environment="production",
        jwt_secret=JWT_SECRET,
        database_url=env["TRACSEQ_HUB_DATABASE_URL"],
        audit_key_file=folder / "audit.key",
        witness_key_file=folder / "witness.key",
    )

    async def run() -> None:
        state = build_state(settings)
        try:
            async with state.db.transaction() as session:
                tenant = await state.identity.create_tenant(session, "tls-lab", "TLS lab", actor="e2e")
                await state.identity.create_user(
                    session,
                    tenant_id=tenant.id,
                    username="ana",
                    display_name="Ana",
                    password=PASSWORD,
                    role=Role.ADMIN,
                    actor="e2e",
                )
        finally:
            await state.db.dispose()

    asyncio.run(run())


def serve(folder: Path, port: int, *args: str, **env: str) -> subprocess.Popen[bytes]:
    log = (folder / f"hub-{port}.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "protocol", "hub", "serve", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=hub_env(folder, **env),
        )
    finally:
        log.close()


def wait_healthy(proc: subprocess.Popen[bytes], url: str, verify: ssl.SSLContext | bool, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the hub exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the hub did not answer /healthz: {log.read_text(errors='replace')[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class TlsHub:
    folder: Path
    url: str
    ca: Authority
    stranger: Authority  # a CA the hub's certificate does not come from

    def admin(self) -> dict[str, str]:
        response = httpx.post(
            f"{self.url}/v1/auth/login",
            json={"tenant": "tls-lab", "username": "ana", "password": PASSWORD},
            verify=self.ca.context(),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def enrollment_token(self) -> str:
        response = httpx.post(
            f"{self.url}/v1/devices/enrollment-tokens", headers=self.admin(), verify=self.ca.context(), timeout=30
        )
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def next_seq(self, device_id: str) -> int:
        response = httpx.get(f"{self.url}/v1/devices", headers=self.admin(), verify=self.ca.context(), timeout=30)
        assert response.status_code == 200, response.text
        return next(int(d["next_seq"]) for d in response.json() if d["id"] == device_id)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsHub]:
    folder = tmp_path_factory.mktemp("tls-hub")
    ca, stranger = Authority.create(folder, "test-ca"), Authority.create(folder, "stranger-ca")
    cert, key = ca.issue_server(folder)
    done = subprocess.run(
        [sys.executable, "-m", "protocol", "hub", "migrate"],
        capture_output=True,
        text=True,
        env=hub_env(folder),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seed(folder)
    port = free_port()
    proc = serve(folder, port, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    try:
        url = f"https://127.0.0.1:{port}"
        wait_healthy(proc, url, ca.context(), folder / f"hub-{port}.log")
        yield TlsHub(folder, url, ca, stranger)
    finally:
        stop(proc)


def quiet_edge(folder: Path, edge_id: str) -> Path:
    """An edge with no devices: its own start, stop and checkpoint entries are what it syncs."""
    folder.mkdir(parents=True, exist_ok=True)
    config = freezer_config(folder, [], checkpoint_interval_s=0.5)
    config.write_text(config.read_text().replace('id = "e2e-host"', f'id = "{edge_id}"', 1), encoding="utf-8")
    return config


def enroll(hub: TlsHub, config: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    return tracseq("edge", "enroll", "-c", config, "--hub", hub.url, "--token", hub.enrollment_token(), "--ca", ca)


# -- the tests --------------------------------------------------------------------------------------------------


def test_an_edge_enrolls_and_syncs_over_verified_https(hub: TlsHub, tmp_path: Path) -> None:
    config = quiet_edge(tmp_path, "tls-edge")
    done = enroll(hub, config, hub.ca.pem)
    assert done.returncode == 0, done.stderr
    device_id = json.loads((tmp_path / "data" / "hub.json").read_text())["device_id"]
    agent = start_agent(config)
    try:
        wait_for(lambda: hub.next_seq(device_id) > 0, 60, "the edge's log at the hub over HTTPS")
    finally:
        log = stop_agent(agent)
    assert "CERTIFICATE_VERIFY_FAILED" not in log


def test_a_hub_certificate_from_another_ca_is_refused(hub: TlsHub, tmp_path: Path) -> None:
    config = quiet_edge(tmp_path / "enrol", "stranger-enrol")
    done = enroll(hub, config, hub.stranger.pem)
    assert done.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr, done.stderr
    assert not (tmp_path / "enrol" / "data" / "hub.json").exists()

    # enrolled properly, then told to trust another CA: the agent logs a clear error, retries, and sends nothing
    config = quiet_edge(tmp_path / "run", "stranger-run")
    assert enroll(hub, config, hub.ca.pem).returncode == 0
    link_file = tmp_path / "run" / "data" / "hub.json"
    link = json.loads(link_file.read_text())
    link_file.write_text(json.dumps({**link, "ca_file": str(hub.stranger.pem)}), encoding="utf-8")
    agent = start_agent(config)
    try:
        wait_for(lambda: (tmp_path / "run" / "data" / "status.json").exists(), 60, "the agent to run")
        time.sleep(4)  # several sync rounds' worth (the first retry comes after 1-2 s)
        assert agent.poll() is None, "a refused certificate must not stop the agent"
    finally:
        log = stop_agent(agent)
    assert "TLS certificate is not trusted" in log, log[-2000:]
    assert log.count("TLS certificate is not trusted") == 1, "logged once, not on every retry"
    assert hub.next_seq(link["device_id"]) == 0


def test_the_edge_refuses_plain_http_to_a_remote_hub(tmp_path: Path) -> None:
    config = quiet_edge(tmp_path, "plain")
    done = tracseq("edge", "enroll", "-c", config, "--hub", "http://127.0.0.1.nip.example:8000", "--token", "tse_x")
    assert done.returncode == 1
    assert "refusing plain HTTP" in done.stderr, done.stderr


def test_the_hub_refuses_plain_http_in_production_unless_behind_a_tls_proxy(hub: TlsHub) -> None:
    port = free_port()
    refused = serve(hub.folder, port)
    try:
        assert refused.wait(60) == 2
    finally:
        stop(refused)
    said = (hub.folder / f"hub-{port}.log").read_text()
    assert "refusing to serve plain HTTP in production" in said, said

    port = free_port()
    proxied = serve(hub.folder, port, TRACSEQ_HUB_BEHIND_PROXY="true")
    try:
        wait_healthy(proxied, f"http://127.0.0.1:{port}", False, hub.folder / f"hub-{port}.log")
    finally:
        stop(proxied)
