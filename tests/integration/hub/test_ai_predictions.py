"""Forms, models, questions and freezer risk through the API on both databases: a submission form read into a
manifest for tenant A's template (B cannot name it); a QC model trained on A's synthetic history, versioned with
its data range and held-out report, predicting with its drivers (B sees no model, cannot predict A's jobs, and is
refused with too little history of its own); questions in plain words run as filters on A's records alone; A's
freezers ranked by risk from their readings, none of them shown to B."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from hub.ai.freezer_risk import FreezerRisk
from hub.db.base import new_id, utcnow
from hub.db.ingest_models import Reading
from hub.db.models import Device
from hub.db.sample_models import QcResult, Sample, SampleType
from hub.db.sequencing_models import SequencingJob, SequencingLibrary
from hub.domain.identity import Principal
from hub.domain.lifecycle import SampleState
from hub.domain.permissions import Role
from hub.domain.samples import NewSample
from hub.domain.storage.bindings import Binding
from hub.domain.storage.containers import NewContainer
from hub.domain.storage.placement import Placement
from hub.web import mount_pages
from tests.integration.hub.harness import RunningHub, SeededTenant, hub_settings, running_hub, seed
from tests.integration.hub.test_web_pages import sign_in
from tests.unit.hub.test_ai_freezer_risk import week
from tests.unit.hub.test_ai_qc_model import synthetic_history

pytestmark = pytest.mark.anyio


@pytest.fixture
async def hub(db_url: str, tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with running_hub(hub_settings(db_url, tmp_path, alerts_in_process=False)) as running:
        yield running


async def call(hub: RunningHub, tenant: SeededTenant, method: str, url: str, role: Role, **kwargs: Any) -> Any:
    headers = {**hub.auth(tenant.users[role]), **kwargs.pop("headers", {})}
    return await hub.client.request(method, url, headers=headers, **kwargs)


FIELDS = [
    {"key": "name", "label": "Sample name", "type": "text", "required": True, "maps_to": "name"},
    {
        "key": "sample_type",
        "label": "Sample type",
        "type": "enum",
        "required": True,
        "maps_to": "sample_type",
        "choices": ["Plasma", "DNA"],
    },
    {"key": "volume", "label": "Volume", "type": "number", "unit": "µL", "maps_to": "volume_ul"},
]


async def test_a_submission_form_becomes_a_manifest_for_the_tenants_template_only(hub: RunningHub) -> None:
    tenants = await seed(hub.state)
    a, b = tenants["alpha-lab"], tenants["beta-lab"]
    created = await call(
        hub, a, "POST", "/v1/intake/templates", Role.LAB_MANAGER, json={"name": "Forms", "fields": FIELDS}
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    form = b"Project: P-1\n\n| Sample name | Type | Vol |\n|---|---|---|\n| S-1 | plasma | 10 |\n| S-2 | Serum | 5 |\n"
    params = {"template_id": template_id, "filename": "form.md", "version": "1"}
    response = await call(
        hub,
        a,
        "POST",
        "/v1/ai/intake-forms",
        Role.TECHNICIAN,
        params=params,
        content=form,
        headers={"content-type": "text/markdown"},
    )
    assert response.status_code == 200, response.text
    manifest = response.json()
    assert manifest["template_version"] == 1
    assert len(manifest["rows"]) == 2
    first = {f["key"]: f for f in manifest["rows"][0]["fields"]}
    assert first["sample_type"]["value"] == "Plasma"
    assert first["name"]["source"]["line"] == 5
    second = {f["key"]: f for f in manifest["rows"][1]["fields"]}
    assert second["sample_type"]["needs_review"] is True
    assert second["sample_type"]["value"] is None
    assert second["sample_type"]["suggestion"] == "Serum"
    assert manifest["flagged"] == 1
    # nothing registered; the approved-version default is a 409 while none is approved
    params_default = {"template_id": template_id, "filename": "form.md"}
    refused = await call(hub, a, "POST", "/v1/ai/intake-forms", Role.TECHNICIAN, params=params_default, content=form)
    assert refused.status_code == 409
    for role, tenant, status in ((Role.ADMIN, b, 404), (Role.SCIENTIST, a, 403)):
        other = await call(hub, tenant, "POST", "/v1/ai/intake-forms", role, params=params, content=form)
        assert other.status_code == status, other.text


async def seed_history(hub: RunningHub, tenant: SeededTenant, jobs: int) -> list[str]:
    """``jobs`` finished jobs from the synthetic history (known drivers), written as rows; returns the job ids."""
    history = synthetic_history(jobs, seed=11, start=utcnow() - timedelta(days=jobs))
    ids: list[str] = []
    later: list[Any] = []  # libraries and results, written once their jobs and samples are
    async with hub.state.db.transaction() as session:
        kinds = {}
        for name in ("DNA", "RNA"):
            kind = SampleType(tenant_id=tenant.id, name=f"{name} (qc history)", zone="-80")
            session.add(kind)
            kinds[name] = kind
        await session.flush()
        for n, facts in enumerate(history):
            job = SequencingJob(
                id=new_id(),
                tenant_id=tenant.id,
                name=f"history {n}",
                platform=facts.platform,
                priority="normal",
                state="completed" if facts.passed else "failed",
                requested_reads=facts.requested_reads,
                queued_at=facts.at,
                created_by="seed",
                created_at=facts.at,
                updated_at=facts.at,
            )
            session.add(job)
            ids.append(job.id)
            for position, s in enumerate(facts.samples, start=1):
                sample = Sample(
                    id=new_id(),
                    tenant_id=tenant.id,
                    barcode=f"QCH-{n}-{position}",
                    name=f"history {n}.{position}",
                    sample_type_id=kinds[s.sample_type].id,
                    state="in_preparation",
                    concentration=Decimal(str(s.concentration)) if s.concentration is not None else None,
                    volume_ul=Decimal(str(s.volume_ul)) if s.volume_ul is not None else None,
                    custodian="lab",
                    created_by="seed",
                    created_at=facts.at - timedelta(days=s.age_days),
                    updated_at=facts.at,
                )
                session.add(sample)
                later.append(
                    SequencingLibrary(
                        tenant_id=tenant.id,
                        job_id=job.id,
                        sample_id=sample.id,
                        position=position,
                        i7="ACGT" * 2,
                        requested_reads=facts.requested_reads,
                    )
                )
                for _ in range(s.failed_qc):
                    later.append(
                        QcResult(
                            tenant_id=tenant.id,
                            sample_id=sample.id,
                            assay="Qubit",
                            passed=False,
                            reason="low",
                            recorded_by="seed",
                            recorded_at=facts.at - timedelta(hours=1),
                        )
                    )
        await session.flush()
        session.add_all(later)
    return ids


async def test_a_qc_model_is_trained_versioned_reported_and_predicts_within_its_tenant(hub: RunningHub) -> None:
    tenants = await seed(hub.state)
    a, b = tenants["alpha-lab"], tenants["beta-lab"]
    job_ids = await seed_history(hub, a, 400)
    await seed_history(hub, b, 10)

    too_few = await call(hub, b, "POST", "/v1/ai/models/qc/train", Role.LAB_MANAGER)
    assert too_few.status_code == 409
    assert "needs at least 40 finished jobs" in too_few.json()["detail"]
    assert (await call(hub, a, "POST", "/v1/ai/models/qc/train", Role.AUDITOR)).status_code == 403
    no_model = await call(hub, a, "GET", f"/v1/sequencing/jobs/{job_ids[-1]}/qc-prediction", Role.SCIENTIST)
    assert no_model.status_code == 409

    trained = await call(hub, a, "POST", "/v1/ai/models/qc/train", Role.LAB_MANAGER, params={"reason": "first"})
    assert trained.status_code == 201, trained.text
    model = trained.json()
    assert (model["kind"], model["version"], model["rows"]) == ("sequencing_qc", 1, 400)
    assert model["data_from"] < model["data_to"]
    metrics = model["metrics"]
    assert metrics["brier"] < 0.22
    assert metrics["roc_auc"] > 0.7
    assert len(metrics["reliability"]) == 10
    assert metrics["class_balance"]["held_out"]["jobs"] == 80
    again = await call(hub, a, "POST", "/v1/ai/models/qc/train", Role.LAB_MANAGER)
    assert again.json()["version"] == 2

    listed = await call(hub, a, "GET", "/v1/ai/models", Role.SCIENTIST)
    assert [m["version"] for m in listed.json()] == [2, 1]
    report = await call(hub, a, "GET", f"/v1/ai/models/{model['id']}", Role.SCIENTIST)
    assert report.json()["metrics"]["brier"] == metrics["brier"]

    prediction = await call(hub, a, "GET", f"/v1/sequencing/jobs/{job_ids[-1]}/qc-prediction", Role.SCIENTIST)
    assert prediction.status_code == 200, prediction.text
    body = prediction.json()
    assert 0.0 <= body["probability"] <= 1.0
    assert body["model_version"] == 2
    assert body["features"]
    assert {"feature", "meaning", "value", "contribution"} <= set(body["features"][0])

    # tenant B: no models listed, A's model and A's job are not found
    assert (await call(hub, b, "GET", "/v1/ai/models", Role.LAB_MANAGER)).json() == []
    assert (await call(hub, b, "GET", f"/v1/ai/models/{model['id']}", Role.LAB_MANAGER)).status_code == 404
    theirs = await call(hub, b, "GET", f"/v1/sequencing/jobs/{job_ids[-1]}/qc-prediction", Role.LAB_MANAGER)
    assert theirs.status_code in (404, 409)
    assert (await call(hub, a, "GET", "/v1/ai/models", Role.FACILITIES)).status_code == 403


def _admin(tenant: SeededTenant) -> Principal:
    user = tenant.users[Role.ADMIN]
    return Principal("user", user.id, tenant.id, user.username, Role.ADMIN)


async def test_questions_become_filters_run_on_the_askers_records_only(hub: RunningHub) -> None:
    tenants = await seed(hub.state)
    a, b = tenants["alpha-lab"], tenants["beta-lab"]
    state, admin = hub.state, _admin(a)
    async with state.db.transaction() as session:
        project = await state.samples.create_project(session, admin, "P-17", "Seventeen")
        other = await state.samples.create_project(session, admin, "P-18", "Eighteen")
        plasma = await state.samples.create_sample_type(session, admin, name="Plasma", zone="-80")
        specs = [
            NewSample(name=f"q{i}", sample_type_id=plasma.id, project_id=(project if i < 3 else other).id)
            for i in range(5)
        ]
        samples = await state.samples.register_many(session, admin, specs)
        ids = [s.id for s in samples]
        await state.samples.transition_many(session, admin, ids, SampleState.RECEIVED, reason="test")

        async def make(kind: str, name: str, parent: str | None, **extra: Any) -> str:
            spec = NewContainer(kind=kind, name=name, parent_id=parent, **extra)
            return str((await state.storage.create_container(session, admin, spec)).id)

        freezer = await make("freezer", "F3", None, zone="-80")
        box = await make("box", "Q box", await make("shelf", "Q shelf", freezer), rows=9, cols=9)
        await state.storage.place(
            session, admin, [Placement(ids[0], box, "A1"), Placement(ids[1], box, "A2"), Placement(ids[3], box, "A3")]
        )

    asked = await call(
        hub,
        a,
        "POST",
        "/v1/ai/query",
        Role.SCIENTIST,
        json={"question": "Which samples from project P-17 are in freezer F3?"},
    )
    assert asked.status_code == 200, asked.text
    answer = asked.json()
    assert answer["resource"] == "storage_contents"
    assert answer["filters"] == {"container": "F3", "project": "P-17"}
    assert sorted(r["id"] for r in answer["results"]) == sorted(ids[:2])
    assert answer["api_path"] == f"/v1/storage/containers/{freezer}/contents"

    listed = await call(hub, a, "POST", "/v1/ai/query", Role.SCIENTIST, json={"question": "plasma samples of P-18"})
    assert listed.status_code == 200, listed.text
    assert {r["id"] for r in listed.json()["results"]} == set(ids[3:])
    path = listed.json()["api_path"]
    assert path.startswith("/v1/samples?")
    same = await call(hub, a, "GET", path, Role.SCIENTIST)
    assert {s["id"] for s in same.json()["samples"]} == set(ids[3:])

    unknown = await call(hub, a, "POST", "/v1/ai/query", Role.SCIENTIST, json={"question": "samples in freezer F99"})
    assert unknown.status_code == 422
    assert unknown.json()["examples"]
    vague = await call(hub, a, "POST", "/v1/ai/query", Role.SCIENTIST, json={"question": "what is up"})
    assert vague.status_code == 422
    assert "understood" in vague.json()
    # facilities may read storage but not samples; tenant B knows neither A's freezer nor A's project
    refused = await call(hub, a, "POST", "/v1/ai/query", Role.FACILITIES, json={"question": "samples in F3"})
    assert refused.status_code == 403
    for question in ("which samples from project P-17 are in freezer F3?", "plasma samples"):
        theirs = await call(hub, b, "POST", "/v1/ai/query", Role.LAB_MANAGER, json={"question": question})
        assert theirs.status_code == 422
        assert not any(i in theirs.text for i in [*ids, freezer])


async def test_freezers_are_ranked_by_risk_from_their_own_readings(hub: RunningHub) -> None:
    tenants = await seed(hub.state)
    a, b = tenants["alpha-lab"], tenants["beta-lab"]
    state, admin = hub.state, _admin(a)
    risk = FreezerRisk(clock=utcnow)
    start, end = risk.period()
    hub.app.state.freezer_risk = FreezerRisk(clock=lambda: end)
    async with state.db.transaction() as session:
        device = Device(id=new_id(), tenant_id=a.id, name="risk-gw")
        session.add(device)
        units = {}
        for name in ("Wearing", "Steady", "Unbound"):
            spec = NewContainer(kind="freezer", name=name, parent_id=None, zone="-80")
            units[name] = (await state.storage.create_container(session, admin, spec)).id
        await session.flush()
        seq = 0
        for name, wearing in (("Wearing", True), ("Steady", False)):
            await state.storage.set_bindings(
                session,
                admin,
                units[name],
                [Binding(device.id, "temp", name.lower()), Binding(device.id, "compressor", name.lower())],
            )
            readings = week(wearing=wearing)
            shift = start.timestamp() - float(readings.temperature.t[0])
            rows = []
            for channel, series in (("temp", readings.temperature), ("compressor", readings.compressor)):
                assert series is not None
                for t, v in zip(series.t[::2].tolist(), series.v[::2].tolist(), strict=True):
                    seq += 1
                    at = datetime.fromtimestamp(t + shift, UTC)
                    rows.append(
                        {
                            "device_id": device.id,
                            "seq": seq,
                            "tenant_id": a.id,
                            "source": name.lower(),
                            "channel": channel,
                            "value": f"{v:.3f}",
                            "unit": "Cel",
                            "quality": "good",
                            "ts": at,
                        }
                    )
            await session.execute(insert(Reading), rows)

    ranked = await call(hub, a, "GET", "/v1/ai/freezer-risk", Role.FACILITIES)
    assert ranked.status_code == 200, ranked.text
    body = ranked.json()
    assert [u["name"] for u in body] == ["Wearing", "Steady", "Unbound"]
    wearing, steady, unbound = body
    assert wearing["score"] > 0.7 > 0.2 > steady["score"]
    assert any("compressor duty rising" in r for r in wearing["reasons"])
    assert unbound["score"] is None
    assert "no bound temperature channel" in unbound["reasons"][0]
    assert wearing["data_to"].startswith(end.isoformat()[:13])
    one = await call(hub, a, "GET", "/v1/ai/freezer-risk", Role.FACILITIES, params={"unit_id": units["Steady"]})
    assert [u["name"] for u in one.json()] == ["Steady"]
    assert (await call(hub, b, "GET", "/v1/ai/freezer-risk", Role.FACILITIES)).json() == []
    mine = await call(hub, b, "GET", "/v1/ai/freezer-risk", Role.FACILITIES, params={"unit_id": units["Wearing"]})
    assert mine.json() == []
    assert (await call(hub, a, "GET", "/v1/ai/freezer-risk", Role.SCIENTIST)).status_code in (200, 403)

    # the facilities board shows each unit's risk beside it, from the same hourly ranking
    mount_pages(hub.app, hub.state)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=hub.app), base_url="http://hub") as client:
        signed = await sign_in(client, a.users[Role.FACILITIES])
        assert signed.status_code == 303, signed.text
        page = await client.get("/ui/")
    assert page.status_code == 200, page.text
    risks = {
        m.group(1): m.group(2)
        for m in re.finditer(r'<h3 id="unit-([^"]+)">[^<]*</h3>.*?<p class="risk">(.*?)</p>', page.text, re.S)
    }
    assert f"{round(wearing['score'] * 100)} %</strong> (rank 1 of 3)" in risks[units["Wearing"]]
    assert "compressor duty rising" in risks[units["Wearing"]]
    assert "(rank 2 of 3)" in risks[units["Steady"]]
    assert "not judged" in risks[units["Unbound"]]
    assert "no bound temperature channel" in risks[units["Unbound"]]
