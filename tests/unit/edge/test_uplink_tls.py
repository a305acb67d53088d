"""The edge's link to the hub: which hub addresses it accepts, TLS verification always on, the device credential's
file kept to its owner and out of reprs, and an untrusted hub certificate named as such."""

from __future__ import annotations

import asyncio
import logging
import ssl
import stat
from pathlib import Path

import httpx
import pytest

from edge.errors import EdgeError
from edge.uplink import HubLink, check_hub_url, enroll, tls_context
from protocol import SigningKey
from sync.errors import TransportError
from sync.transport import HttpTransport


@pytest.mark.parametrize(
    "url",
    [
        "https://hub.lab.example",
        "https://10.0.0.5:8443/",
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://[::1]",
    ],
)
def test_https_anywhere_and_plain_http_on_this_host_are_accepted(url: str) -> None:
    check_hub_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://hub.lab.example",
        "http://10.0.0.5:8000",
        "http://127.0.0.1.attacker.example",  # passed the old prefix check
        "http://localhost.attacker.example",
        "http://localhost@attacker.example",
        "ftp://hub.lab.example",
        "hub.lab.example",
        "https://",
    ],
)
def test_plain_http_to_a_remote_hub_or_no_url_is_refused(url: str) -> None:
    with pytest.raises(EdgeError, match=r"refusing plain HTTP|must be an https"):
        check_hub_url(url)


def test_plain_http_to_a_remote_hub_is_allowed_only_when_asked_for() -> None:
    check_hub_url("http://hub.dev.example:8000", allow_insecure_http=True)


def test_enrolment_over_plain_http_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    key = SigningKey.generate("tracseq.test/edge/plain")
    with pytest.raises(EdgeError, match="refusing plain HTTP"):
        enroll("http://hub.lab.example", "tse_x", name="plain", origin=key.name, key=key, data_dir=tmp_path)
    assert not (tmp_path / "hub.json").exists()


def test_verification_is_always_on_and_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    context = tls_context(None)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(EdgeError, match=r"no-such-ca\.pem"):
        tls_context(str(missing))


def link() -> HubLink:
    return HubLink("https://hub.lab.example", "dev-1", "tsd_dev-1.s3cret-credential", "witness vkey")


def test_the_device_credential_stays_out_of_the_links_repr() -> None:
    assert "s3cret-credential" not in repr(link())
    assert "s3cret-credential" not in str(link())


def test_saving_tightens_a_looser_existing_file_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "hub.json"
    path.write_text("{}")
    path.chmod(0o644)
    link().save(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_loading_a_group_readable_file_tightens_it_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    link().save(tmp_path)
    (tmp_path / "hub.json").chmod(0o640)
    with caplog.at_level(logging.WARNING, "edge.uplink"):
        assert HubLink.load(tmp_path) == link()
    assert stat.S_IMODE((tmp_path / "hub.json").stat().st_mode) == 0o600
    assert "re-enrol" in caplog.text
    assert "s3cret-credential" not in caplog.text


def test_an_untrusted_hub_certificate_is_named_as_such() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
        except ssl.SSLCertVerificationError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc

    async def send() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
        transport = HttpTransport("https://hub.lab.example", "tsd_x.y", client=client)
        try:
            await transport.send(b"")
        finally:
            await transport.close()

    with pytest.raises(TransportError, match="TLS certificate is not trusted"):
        asyncio.run(send())
