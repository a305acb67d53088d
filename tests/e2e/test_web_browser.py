"""The web pages in headless Chromium against the hub as a process (SQLite): a lab seeded through the HTTP API, a
freezer bound to an enrolled edge's channel and readings arriving through real sync batches. A person signs in,
sees the freezer's temperature change live when the edge sends a new reading, and acknowledges the alert the hub
raised with a comment.

Uses the system's Chromium (``/usr/bin/chromium``, or ``TRACSEQ_CHROMIUM``); without it the test is skipped, and
under ``CI=true`` it fails. ``TRACSEQ_WEB_SCREENSHOT=PATH`` saves a screenshot of the board.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol import ChainWriter, CheckpointBody, sign_checkpoint
from sync import MEDIA_TYPE, BatchHeader, encode_batch
from tests.e2e.hub_harness import PASSWORD, Hub, enroll_device, wait_until

pytestmark = pytest.mark.e2e

# ``tracseq hub serve`` with the pages mounted (idempotent once create_app mounts them itself)
LAUNCH = """
import sys, uvicorn
from hub.api.app import create_app
from hub.settings import HubSettings
from hub.web import mount_pages
app = create_app(HubSettings())
mount_pages(app, app.state.hub)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def chromium() -> str:
    path = os.environ.get("TRACSEQ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if path is None:
        problem = "Chromium is not installed (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem is None and path is not None:
        return path
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem} (CI=true: the browser test must run)")
    pytest.skip(f"BROWSER MISSING: {problem}")


@dataclass
class SqliteDb:
    path: Path

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"


@dataclass
class Edge:
    hub: Hub
    device_id: str
    token: str
    writer: ChainWriter
    key: Any

    def send(self, *values: str) -> None:
        first = self.writer.next_seq
        now = datetime.now(UTC)
        raws = [
            self.writer.append(
                "observation",
                {"device": "freezer-01", "channel": "temp", "value": v, "unit": "Cel", "quality": "good"},
                now + timedelta(milliseconds=i),
                first + i,
            ).raw
            for i, v in enumerate(values)
        ]
        note = sign_checkpoint(
            CheckpointBody(self.writer.origin, self.writer.next_seq, self.writer.head), [self.key]
        ).render()
        header = BatchHeader(origin=self.writer.origin, first_seq=first, count=len(raws), checkpoint=note)
        response = httpx.post(
            f"{self.hub.url}/v1/sync/batches",
            content=encode_batch(header, raws),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": MEDIA_TYPE,
                "Content-Encoding": "gzip",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    chromium()
    folder = tmp_path_factory.mktemp("web-hub")
    server = Hub(SqliteDb(folder / "hub.db"), folder)  # type: ignore[arg-type]
    try:
        server.migrate()
        server.seed({"cold-lab": "ana"})
        log = (folder / "hub-0.log").open("wb")
        server.proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(server.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **server.env, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        wait_until(lambda: _healthy(server), 60, "the hub to answer /healthz")
        yield server
    finally:
        server.stop()


def _healthy(hub: Hub) -> bool:
    if hub.proc is not None and hub.proc.poll() is not None:
        raise AssertionError(f"the hub exited: {hub.log_tail()}")
    try:
        return httpx.get(f"{hub.url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _api(hub: Hub, token: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method, f"{hub.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()


def _seed_lab(hub: Hub) -> tuple[Edge, str]:
    """A facilities person, a -80 °C freezer bound to an enrolled edge's channel, a limit rule at -70 °C, and a
    firing alert raised by readings the edge synced. Returns the edge and the alert id."""
    admin = hub.login("cold-lab", "ana")
    _api(
        hub,
        admin,
        "POST",
        "/v1/users",
        {"username": "fran", "display_name": "Fran Facilities", "password": PASSWORD, "role": "facilities"},
    )
    enrolled = enroll_device(hub, admin, "freezer-gw")
    site = _api(hub, admin, "POST", "/v1/storage/containers", {"kind": "site", "name": "Main site"})
    room = _api(
        hub, admin, "POST", "/v1/storage/containers", {"kind": "room", "name": "B-104", "parent_id": site["id"]}
    )
    freezer = _api(
        hub,
        admin,
        "POST",
        "/v1/storage/containers",
        {"kind": "freezer", "name": "Freezer Minus-80 A", "parent_id": room["id"], "zone": "-80"},
    )
    binding = [{"device_id": enrolled["device_id"], "channel": "temp", "source": "freezer-01"}]
    _api(hub, admin, "PUT", f"/v1/storage/units/{freezer['id']}/bindings", binding)
    rule = {
        "name": "freezer too warm",
        "kind": "limit",
        "severity": "critical",
        "device_id": enrolled["device_id"],
        "channel": "temp",
        "params": {"direction": "high", "limit": "-70", "delay_s": 0, "hysteresis": "2"},
    }
    _api(hub, admin, "POST", "/v1/alerts/rules", rule)
    edge = Edge(hub, enrolled["device_id"], enrolled["device_token"], ChainWriter(enrolled["origin"]), enrolled["key"])
    edge.send("-80.1", "-79.8", "-65.5")
    firing = wait_until(
        lambda: _api(hub, admin, "GET", "/v1/alerts?state=firing"), 30, "the hub to raise the freezer's alert"
    )
    return edge, str(firing[0]["id"])


def test_sign_in_see_a_live_reading_change_and_acknowledge_the_alert(hub: Hub) -> None:
    from playwright.sync_api import expect, sync_playwright

    started = time.monotonic()
    edge, alert_id = _seed_lab(hub)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 768, "height": 1024})
            page.goto(f"{hub.url}/ui/")
            expect(page).to_have_url(f"{hub.url}/ui/login?next=%2Fui%2F")
            page.get_by_label("Lab").fill("cold-lab")
            page.get_by_label("User name").fill("fran")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()

            expect(page.get_by_role("heading", name="Facilities", level=1)).to_be_visible()
            unit = page.get_by_role("article", name="Freezer Minus-80 A")
            value = unit.locator("[data-value]")
            expect(value).to_have_text("-65.5")
            expect(page.locator("#live-status")).to_contain_text("Live", timeout=10_000)

            edge.send("-64.2")
            expect(value).to_have_text("-64.2", timeout=10_000)
            shot = os.environ.get("TRACSEQ_WEB_SCREENSHOT")
            if shot:
                page.screenshot(path=shot, full_page=True)

            alert = page.locator(f"#alert-{alert_id}")
            expect(alert.locator("[data-alert-state]")).to_have_text("firing")
            alert.get_by_role("button", name="Acknowledge").click()
            expect(alert.get_by_label("Comment (required: what you found or did)")).to_be_visible()  # required: stays
            alert.get_by_label("Comment (required: what you found or did)").fill("compressor tripped; moved racks to B")
            alert.get_by_role("button", name="Acknowledge").click()
            expect(page.get_by_role("status").filter(has_text="Alert acknowledged")).to_be_visible()
            acknowledged = page.locator(f"#alert-{alert_id}")
            expect(acknowledged.locator("[data-alert-state]")).to_have_text("acknowledged")
            expect(acknowledged).to_contain_text("Acknowledged by user:fran")
            expect(acknowledged).to_contain_text("compressor tripped; moved racks to B")
        finally:
            browser.close()
    assert time.monotonic() - started < 60
