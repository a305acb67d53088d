"""Intake over HTTP on SQLite and PostgreSQL: a template, approval of its version by a second person with an
electronic signature, a dry run that names every problem by row and column, the same problems on commit (and
nothing registered), a fixed sheet registering its samples, idempotency, a newer approved version superseding the
old, role checks and tenant isolation."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hub.db.intake_models import IntakeUpload
from hub.db.sample_models import Sample
from hub.domain.permissions import Role
from tests.integration.hub.test_intake_lab import FIELDS, XLSX_TYPE, IntakeLab, lab, problems_of, xlsx

__all__ = ["lab"]
pytestmark = pytest.mark.anyio

# A European Excel's CSV: BOM, semicolons, decimal commas, CRLF, a title row, columns in another order and
# spelled differently, an extra column, blank trailing rows, and a problem in every data row but one.
BAD_SHEET = (
    "\ufeffBlood samples, spring;;;;;;\r\n"
    "sample NAME;BARCODE;Sample Type *;Volume (ul);collected_on;Consent;Freezer\r\n"
    "S1;TS-0001;blood;1,5;05.03.2024;yes;F1\r\n"
    "S2;TS-0002;Plasma;12,5;2024-03-05;yes;F1\r\n"
    "S3;TS-0003;DNA;1.500,0;2024-03-05;yes;F1\r\n"
    "=cmd|' /C calc'!A0;TS-0004;DNA;5;03/04/2024;maybe;F2\r\n"
    "S5;TS-0001;DNA;;2024-03-05;no;F2\r\n"
    ";;;;;;\r\n\r\n"
)
FIXED_ROWS = [
    ["Barcode", "Sample name", "Sample type", "Project", "Volume (µL)", "Collected on", "Consent", "Comment"],
    ["TS-0001", "S1", "Blood", "P-100", 1.5, date(2024, 3, 5), "yes", "first"],
    ["TS-0002", "S2", "DNA", "p-100", "12,5", "05.03.2024", "No", None],
    [None, "S3", "dna", None, None, 45356, "withdrawn", "no barcode: one is generated"],
]


async def test_a_template_is_approved_by_a_second_person_then_a_sheet_is_checked_and_registered(
    lab: IntakeLab,
) -> None:
    template = await lab.template()
    template_id = template["id"]
    assert template["current_version"] is None
    assert template["latest_version"] == 1

    # no approved version: a commit (or a plain dry run) is refused; a dry run may name the draft
    assert (await lab.upload(template_id, BAD_SHEET.encode(), dry_run=False)).status_code == 409
    draft_check = await lab.upload(template_id, BAD_SHEET.encode(), version=1)
    assert draft_check.status_code == 200, draft_check.text

    # the author cannot approve; a wrong password cannot; someone else with the password can
    assert (await lab.approve(template_id, role=Role.LAB_MANAGER)).status_code == 403
    assert (await lab.approve(template_id, password="not-my-password")).status_code == 401
    approved = await lab.approve(template_id)
    assert approved.status_code == 200, approved.text
    version = approved.json()
    assert version["status"] == "approved"
    assert version["signature"]["meaning"] == "approval"
    assert version["signature"]["signer_name"] == lab.a.users[Role.TECHNICIAN].display_name
    assert version["signature"]["record_hash"] == version["content_hash"]
    assert (await lab.approve(template_id, role=Role.ADMIN)).status_code == 409  # approved versions never change
    signatures = await lab.call(
        "GET",
        "/v1/esignatures",
        Role.AUDITOR,
        params={"record_type": "intake_template_version", "record_id": version["id"]},
    )
    assert [s["id"] for s in signatures.json()] == [version["signature"]["id"]]
    by_id = await lab.call("GET", f"/v1/intake/templates/{template_id}/versions/{version['id']}", Role.SCIENTIST)
    assert by_id.json()["version"] == 1

    # the dry run names every problem by row, column and reason
    dry = await lab.upload(template_id, BAD_SHEET.encode("utf-8"))
    assert dry.status_code == 200, dry.text
    report = dry.json()["report"]
    assert dry.json()["status"] == "checked"
    assert dry.json()["version"] == 1
    assert report["header_row"] == 2
    assert report["rows"] == 5
    assert report["ignored_columns"] == ["Freezer"]
    found = problems_of(report)
    assert (3, "Volume", "more than 3 decimal places (the sample record keeps 3)") not in found  # 1,5 is 1.5
    assert (4, "Sample type", "no sample type 'Plasma' in this lab") in found
    assert (5, "Volume", "above the maximum 1000 µL") in found  # 1.500,0 is fifteen hundred
    assert (6, "Sample name", "starts like a spreadsheet formula; paste the values only") in found
    assert any(p[:2] == (6, "Collected on") and "ambiguous" in p[2] for p in found)
    assert any(p[:2] == (6, "Consent") and "not one of the choices" in p[2] for p in found)
    assert (7, "Barcode", "barcode TS-0001 is also in row 3") in found
    assert not any(p[0] == 3 for p in found)  # row 3 is right
    assert {p["cell"] for p in report["problems"] if p["row"] == 4} == {"C4"}

    # the commit re-checks the same bytes: the same problems, nothing registered, the refusal kept on record
    refused = await lab.upload(template_id, BAD_SHEET.encode("utf-8"), dry_run=False)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert problems_of(refused.json()) == found
    async with lab.hub.state.db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Sample))).scalar_one() == 0
    rejected = await lab.call("GET", f"/v1/intake/uploads/{refused.json()['upload_id']}", Role.SCIENTIST)
    assert rejected.json()["status"] == "rejected"
    assert problems_of(rejected.json()["report"]) == found

    # the report as CSV: one line per problem, formulas defused
    exported = await lab.call("GET", f"/v1/intake/uploads/{dry.json()['id']}/report.csv", Role.AUDITOR)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0] == ["row", "column", "cell", "value", "reason"]
    assert len(lines) == len(found) + 1
    assert [
        "6",
        "Sample name",
        "A6",
        "'=cmd|' /C calc'!A0",
        "starts like a spreadsheet formula; paste the values only",
    ] in lines

    # the fixed sheet, as XLSX: registered, all rows, with the version used
    fixed = xlsx(FIXED_ROWS)
    done = await lab.upload(template_id, fixed, dry_run=False, content_type=XLSX_TYPE)
    assert done.status_code == 201, done.text
    upload = done.json()
    assert upload["status"] == "registered"
    assert upload["registered_count"] == 3
    assert upload["version"] == 1
    assert [s["row"] for s in upload["samples"]] == [2, 3, 4]
    async with lab.hub.state.db.read() as session:
        samples = {
            s.name: s
            for s in (await session.execute(select(Sample).where(Sample.intake_upload_id == upload["id"]))).scalars()
        }
    assert samples["S1"].barcode == "TS-0001"
    assert samples["S1"].volume_ul == Decimal("1.5")
    assert samples["S1"].attributes == {"collected": "2024-03-05", "consent": "yes", "comment": "first"}
    assert samples["S2"].volume_ul == Decimal("12.5")
    assert samples["S2"].project_id is not None
    assert samples["S2"].attributes["consent"] == "no"
    assert samples["S3"].attributes["collected"] == "2024-03-05"
    assert samples["S3"].barcode.startswith("S-")

    # the same file again for the same version: 409 naming the earlier upload
    again = await lab.upload(template_id, fixed, dry_run=False, content_type=XLSX_TYPE)
    assert again.status_code == 409
    assert again.json()["upload_id"] == upload["id"]

    # a second version, approved by another person, supersedes the first for new uploads
    changed = [*FIELDS[:-1], {"key": "comment", "label": "Remarks", "type": "text", "aliases": ["Comment"]}]
    created = await lab.call(
        "POST",
        f"/v1/intake/templates/{template_id}/versions",
        Role.TECHNICIAN,
        json={"fields": changed, "reason": "renamed"},
    )
    assert created.status_code == 201
    assert created.json()["version"] == 2
    assert created.json()["status"] == "draft"
    assert (await lab.approve(template_id, 2, role=Role.TECHNICIAN)).status_code == 403  # its author
    assert (await lab.approve(template_id, 2, role=Role.LAB_MANAGER)).status_code == 200
    detail = (await lab.call("GET", f"/v1/intake/templates/{template_id}", Role.SCIENTIST)).json()
    assert detail["current_version"] == 2
    assert [v["status"] for v in detail["versions"]] == ["superseded", "approved"]
    second = await lab.upload(template_id, fixed)
    assert second.json()["version"] == 2
    assert {p["reason"] for p in second.json()["report"]["problems"]} == {
        "barcode TS-0001 is already registered",
        "barcode TS-0002 is already registered",
    }

    # the audit trail and the events tell the story
    entries = await lab.call("GET", "/v1/audit/entries", Role.AUDITOR, params={"record_type": "intake_upload"})
    assert {e["action"] for e in entries.json()} == {"create"}
    assert len(entries.json()) >= 4
    approvals = await lab.call(
        "GET", "/v1/audit/entries", Role.AUDITOR, params={"record_type": "intake_template_version"}
    )
    assert [e["action"] for e in approvals.json()].count("approve") == 2
    await lab.hub.published()
    events = await lab.call("GET", "/v1/events", Role.ADMIN, params={"limit": 1000})
    types = {e["type"] for e in events.json()["events"]}
    assert {"intake.template.created", "intake.template.approved", "intake.upload.registered"} <= types
    assert {"intake.upload.rejected", "intake.upload.checked", "sample.registered"} <= types


async def test_roles_and_tenants_are_enforced(lab: IntakeLab) -> None:
    template_id = await lab.approved()
    sheet = b"Sample name,Sample type,Collected on,Consent\r\nS1,Blood,2024-03-05,yes\r\n"
    # reading: samples:read; writing: samples:write; approving: esign as well
    assert (await lab.call("GET", "/v1/intake/templates", Role.SCIENTIST)).status_code == 200
    assert (await lab.call("GET", "/v1/intake/templates", Role.FACILITIES)).status_code == 403
    assert (await lab.upload(template_id, sheet, role=Role.SCIENTIST)).status_code == 403
    assert (await lab.upload(template_id, sheet, role=Role.AUDITOR)).status_code == 403
    refused = await lab.call("POST", "/v1/intake/templates", Role.SCIENTIST, json={"name": "x", "fields": FIELDS})
    assert refused.status_code == 403
    draft = await lab.call(
        "POST", f"/v1/intake/templates/{template_id}/versions", Role.ADMIN, json={"fields": FIELDS, "reason": "again"}
    )
    assert (await lab.approve(template_id, draft.json()["version"], role=Role.SCIENTIST)).status_code == 403
    assert (await lab.approve(template_id, draft.json()["version"], role=Role.AUDITOR)).status_code == 403
    # another lab sees none of it, whatever its role
    for path in (
        f"/v1/intake/templates/{template_id}",
        f"/v1/intake/templates/{template_id}/versions/1",
        f"/v1/intake/templates/{template_id}/sheet",
    ):
        assert (await lab.call("GET", path, Role.ADMIN, tenant="b")).status_code == 404, path
    assert (await lab.upload(template_id, sheet, role=Role.ADMIN, tenant="b")).status_code == 404
    assert (await lab.call("GET", "/v1/intake/templates", Role.ADMIN, tenant="b")).json() == []
    assert (await lab.approve(template_id, 2, role=Role.LAB_MANAGER)).status_code == 200
    mine = await lab.upload(template_id, sheet)
    assert mine.status_code == 200
    assert (await lab.call("GET", f"/v1/intake/uploads/{mine.json()['id']}", Role.ADMIN, tenant="b")).status_code == 404
    assert (await lab.call("GET", "/v1/intake/uploads", Role.ADMIN, tenant="b")).json() == []
    async with lab.hub.state.db.read() as session:
        assert (await session.execute(select(func.count()).select_from(IntakeUpload))).scalar_one() == 1


async def test_a_blank_sheet_filled_in_registers(lab: IntakeLab) -> None:
    template_id = await lab.approved()
    blank_csv = await lab.call("GET", f"/v1/intake/templates/{template_id}/sheet", Role.SCIENTIST)
    assert blank_csv.status_code == 200
    assert blank_csv.content.startswith(codecs.BOM_UTF8)
    assert blank_csv.content.decode("utf-8-sig").splitlines()[0] == (
        "Barcode,Sample name *,Sample type *,Project,Volume (µL),Collected on *,Consent *,Comment"
    )
    blank = await lab.call("GET", f"/v1/intake/templates/{template_id}/sheet", params={"format": "xlsx"})
    assert blank.status_code == 200
    assert blank.headers["content-type"] == XLSX_TYPE
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(blank.content))
    sheet = workbook["Samples"]
    assert any("Choices" in str(v.formula1) for v in sheet.data_validations.dataValidation)
    sheet.append(["TS-0100", "filled", "Blood", None, 250, date(2024, 1, 31), "yes", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    done = await lab.upload(template_id, buffer.getvalue(), dry_run=False, content_type=XLSX_TYPE)
    assert done.status_code == 201, done.text
    assert done.json()["samples"][0]["barcode"] == "TS-0100"
