"""The demo lab, set up over the hub's HTTP API as its people would after the hub is up: the users of each role,
a webhook pager everyone subscribes to, sample types and projects, a site with two -80 °C freezers and an LN2
tank (racks or a tower, 8 × 12 boxes), each unit bound to the edge channels its simulator feeds, ~200 samples
registered, received and placed by auto-allocation, a sequencing job with indexed libraries and a run planned
for the flow cell the MiSeq replay loads, and an escalation policy: facilities on call first, then the lab
manager.

Standard library only (``urllib``): the demo runs before anything but the project is installed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TENANT = "demo-lab"
PASSWORD = "Demo-Lab-2026!"  # noqa: S105 - printed for demo users on this machine
PEOPLE = {  # username: (role, printed name)
    "admin": ("admin", "Ada Admin"),
    "lab-manager": ("lab_manager", "Lee Manager"),
    "technician": ("technician", "Tess Technician"),
    "scientist": ("scientist", "Sam Scientist"),
    "auditor": ("auditor", "Audrey Auditor"),
    "facilities": ("facilities", "Felix Facilities"),
}
# i7/i5 pairs of a common 8-base UD set: distinct in both reads
I7 = ["CCGCGGTT", "TTATAACC", "GGACTTGG", "AAGTCCAA", "ATCCACTG", "GCTTGTCA", "CAAGCTAG", "TGGATCGA"]
I5 = ["AGCGCTAG", "GATATCGA", "CGCAGACG", "TATGAGTA", "AGGTGCGT", "GAACATAC", "ACATAGCG", "GTGCGATA"]


class DemoError(Exception):
    """A step of the demo that the hub refused or that did not happen in time."""


def _call(url: str, method: str, path: str, body: object, token: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - our own loopback hub
        url + path, method=method, data=json.dumps(body).encode() if body is not None else None, headers=headers
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


class Person:
    """One demo user's session: signs in again when the short-lived access token has expired."""

    def __init__(self, url: str, username: str) -> None:
        self.url, self.username = url, username
        self._token: str | None = None

    def _login(self) -> str:
        body = {"tenant": TENANT, "username": self.username, "password": PASSWORD}
        self._token = str(_call(self.url, "POST", "/v1/auth/login", body, None)["access_token"])
        return self._token

    def call(self, method: str, path: str, body: object = None) -> Any:
        for attempt in (1, 2):
            try:
                return _call(self.url, method, path, body, self._token or self._login())
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 1:
                    self._token = None
                    continue
                detail = exc.read().decode(errors="replace")[:500]
                raise DemoError(f"{self.username}: {method} {path} answered {exc.code}: {detail}") from exc
        raise AssertionError("unreachable")

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: object = None) -> Any:
        return self.call("POST", path, body)

    def download(self, path: str) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - our own loopback hub
            self.url + path, headers={"Authorization": f"Bearer {self._token or self._login()}"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            data: bytes = response.read()
            return data


@dataclass
class Unit:
    id: str
    name: str
    samples: list[str] = field(default_factory=list)


@dataclass
class Lab:
    """What the seed made: who is who, the units, the job and its run."""

    url: str
    people: dict[str, Person]
    user_ids: dict[str, str]
    device_id: str
    units: dict[str, Unit]
    job_id: str = ""
    run_id: str = ""
    run_name: str = ""
    flow_cell: str = ""
    policy_id: str = ""
    rota_id: str = ""
    libraries: list[str] = field(default_factory=list)

    def __getitem__(self, username: str) -> Person:
        return self.people[username]

    def name_of(self, user_id: str) -> str:
        found = next((u for u, i in self.user_ids.items() if i == user_id), user_id)
        return f"{PEOPLE[found][1]} ({found})" if found in PEOPLE else found


def create_people(url: str) -> dict[str, Person]:
    """The other five roles, created by the admin the CLI made; each signs in once."""
    admin = Person(url, "admin")
    for username, (role, name) in PEOPLE.items():
        if username != "admin":
            admin.post("/v1/users", {"username": username, "display_name": name, "password": PASSWORD, "role": role})
    return {username: (admin if username == "admin" else Person(url, username)) for username in PEOPLE}


def flow_cell_of(run_folder: Path) -> tuple[str, str]:
    """(run name, flow cell id) from the run folder's RunInfo.xml."""
    run = ET.parse(run_folder / "RunInfo.xml").getroot().find("Run")  # noqa: S314 - a local, trusted file
    if run is None or not run.findtext("Flowcell"):
        raise DemoError(f"{run_folder / 'RunInfo.xml'} names no flow cell")
    return run.get("Id") or run_folder.name, str(run.findtext("Flowcell"))


def seed(
    url: str,
    people: dict[str, Person],
    device_id: str,
    pager_url: str,
    run_folder: Path | None,
    tiers_s: tuple[int, int],
) -> Lab:
    """Everything above, in the order a lab would do it; ``tiers_s`` are the escalation delays (first tier after
    firing, second after the first)."""
    user_ids = {u["username"]: u["id"] for u in people["admin"].get("/v1/users")}
    lab = Lab(url, people, user_ids, device_id, {})
    _pager(lab, pager_url)
    kinds, projects = _catalogue(lab)
    _storage(lab)
    _samples(lab, kinds, projects)
    if run_folder is not None:
        _sequencing(lab, run_folder)
    _escalation(lab, tiers_s)
    return lab


def _pager(lab: Lab, pager_url: str) -> None:
    """A webhook channel to the demo's pager; everyone chooses it, with their user name as the address."""
    channel = {"name": "Demo pager", "config": {"kind": "webhook", "url": pager_url}}
    channel_id = lab["admin"].post("/v1/notification-channels", channel)["id"]
    for username, person in lab.people.items():
        prefs = {"channels": [{"channel_id": channel_id, "address": username}]}
        person.call("PUT", "/v1/me/notification-preferences", prefs)


def _catalogue(lab: Lab) -> tuple[dict[str, str], dict[str, str]]:
    manager = lab["lab-manager"]
    kinds = {
        name: manager.post("/v1/sample-types", {"name": name, "zone": zone})["id"]
        for name, zone in [
            ("DNA extract", "-80"),
            ("RNA extract", "-80"),
            ("Sequencing library", "-20"),
            ("Viable cells", "ln2_vapour"),
        ]
    }
    projects = {
        code: manager.post("/v1/projects", {"code": code, "name": name})["id"]
        for code, name in [("ONC-2026", "Tumour/normal cohort 2026"), ("GUT-07", "Gut microbiome time series")]
    }
    return kinds, projects


def _storage(lab: Lab) -> None:
    """Site, room, two -80 °C freezers and an LN2 tank, two 8 × 12 boxes in a rack (a tower in the tank) each, and
    the edge channels that watch each unit."""
    admin = lab["admin"]
    containers = "/v1/storage/containers"
    site = admin.post(containers, {"kind": "site", "name": "Demo campus"})["id"]
    room = admin.post(containers, {"kind": "room", "name": "B12 cold room", "parent_id": site})["id"]
    watched = {  # unit: (kind, zone, holder, [(instrument, channel)])
        "ULT-01": ("freezer", "-80", "rack", [("freezer-01", "temp")]),
        "ULT-02": ("freezer", "-80", "rack", [("probe-01", "temp")]),
        "LN2-01": ("ln2_tank", "ln2_vapour", "tower", [("ln2-01", "level"), ("ln2-01", "vapour_temp")]),
    }
    for name, (kind, zone, holder, channels) in watched.items():
        unit_id = admin.post(containers, {"kind": kind, "name": name, "zone": zone, "parent_id": room})["id"]
        inner = admin.post(containers, {"kind": holder, "name": f"{name} {holder} 1", "parent_id": unit_id})["id"]
        for box in (1, 2):
            admin.post(
                containers, {"kind": "box", "name": f"{name} box {box}", "parent_id": inner, "rows": 8, "cols": 12}
            )
        bindings = [{"device_id": lab.device_id, "source": source, "channel": ch} for source, ch in channels]
        admin.call("PUT", f"/v1/storage/units/{unit_id}/bindings", bindings)
        lab.units[name] = Unit(unit_id, name)


def _samples(lab: Lab, kinds: dict[str, str], projects: dict[str, str]) -> None:
    """200 samples, registered and received by the technician and put away by auto-allocation: 120 in ULT-01,
    36 in ULT-02 (12 of them sequencing libraries), 44 in the LN2 tank."""
    tech = lab["technician"]
    batches = {
        "ULT-01": [("DNA extract", "ONC-2026", "tumour DNA", 72), ("RNA extract", "ONC-2026", "tumour RNA", 48)],
        "ULT-02": [("DNA extract", "GUT-07", "stool DNA", 24), ("Sequencing library", "GUT-07", "library", 12)],
        "LN2-01": [("Viable cells", "ONC-2026", "PBMC", 44)],
    }
    for unit_name, parts in batches.items():
        specs = [
            {"name": f"{project} {label} {n:03d}", "sample_type_id": kinds[kind], "project_id": projects[project]}
            for kind, project, label, count in parts
            for n in range(1, count + 1)
        ]
        registered = tech.post("/v1/samples", {"samples": specs, "reason": "demo intake"})
        ids = [s["id"] for s in registered]
        tech.post("/v1/samples/transitions", {"sample_ids": ids, "to": "received", "reason": "checked in at intake"})
        unit = lab.units[unit_name]
        tech.post("/v1/storage/allocations", {"sample_ids": ids, "container_id": unit.id, "reason": "put away"})
        unit.samples = ids
        if unit_name == "ULT-02":
            lab.libraries = [s["id"] for s in registered if s["sample_type_id"] == kinds["Sequencing library"]]


def _sequencing(lab: Lab, run_folder: Path) -> None:
    """A MiSeq job of the 12 libraries (dual 8-base indexes) and its run, planned for the flow cell the replayed
    run folder names: the hub matches the instrument's run to it by that flow cell."""
    manager = lab["lab-manager"]
    libraries = [
        {"sample_id": s, "index": I7[n % 8], "index2": I5[(n + n // 8) % 8]} for n, s in enumerate(lab.libraries)
    ]
    job = {
        "name": "GUT-07 shallow shotgun, batch 1",
        "platform": "miseq",
        "read_lengths": "2x121",
        "requested_reads": 12_000_000,
        "libraries": libraries,
    }
    lab.job_id = manager.post("/v1/sequencing/jobs", job)["id"]
    lab.run_name, lab.flow_cell = flow_cell_of(run_folder)
    run = {
        "name": lab.run_name,
        "platform": "miseq",
        "flowcell_type": "v2",
        "lanes": 1,
        "job_ids": [lab.job_id],
        "flow_cell": lab.flow_cell,
    }
    lab.run_id = manager.post("/v1/sequencing/runs", run)["id"]


def _escalation(lab: Lab, tiers_s: tuple[int, int]) -> None:
    """A round-the-clock facilities rota as tier 1, the lab manager as tier 2, for every edge alarm."""
    manager = lab["lab-manager"]
    shift = {
        "name": "around the clock",
        "weekdays": list(range(7)),
        "start": "00:00",
        "end": "00:00",
        "holidays": "any",
        "users": [lab.user_ids["facilities"]],
    }
    rota = {"name": "Facilities on call", "time_zone": "UTC", "shifts": [shift]}
    lab.rota_id = manager.post("/v1/alerts/rotas", rota)["id"]
    policy = {
        "name": "Cold storage",
        "matcher": {"origin": "edge", "min_severity": "alarm"},
        "tiers": [
            {"delay_s": tiers_s[0], "rotas": [lab.rota_id]},
            {"delay_s": tiers_s[1], "users": [lab.user_ids["lab-manager"]]},
        ],
    }
    lab.policy_id = manager.post("/v1/alerts/policies", policy)["id"]


def describe(lab: Lab) -> list[str]:
    """What the seed made, a line each."""
    placed = sum(len(u.samples) for u in lab.units.values())
    lines = [
        "storage: Demo campus / B12 cold room: "
        + ", ".join(f"{u.name} ({len(u.samples)} samples)" for u in lab.units.values())
        + "; 8 × 12 boxes",
        f"samples: {placed} registered, received and placed by auto-allocation",
        "bindings: ULT-01 ← freezer-01/temp (Modbus), ULT-02 ← probe-01/temp (serial), "
        "LN2-01 ← ln2-01/level and vapour_temp (serial)",
        "alerts: policy 'Cold storage': tier 1 the facilities on-call rota, tier 2 the lab manager; "
        "pages go to the demo pager (a local webhook)",
    ]
    if lab.job_id:
        lines.insert(
            3,
            f"sequencing: job of {len(lab.libraries)} indexed libraries on run {lab.run_name} "
            f"(flow cell {lab.flow_cell}), planned",
        )
    return lines
