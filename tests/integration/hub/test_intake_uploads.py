"""Uploads nobody should send, over HTTP on both databases: each gets a 4xx problem document (never a 500), and
none leaves an upload record or a sample behind. A commit that fails in a later batch registers nothing."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.db.intake_models import IntakeUpload
from hub.db.sample_models import Sample
from hub.domain import intake
from hub.domain.permissions import Role
from hub.errors import ValidationFailedError
from tests.integration.hub.test_intake_lab import XLSX_TYPE, IntakeLab, lab, xlsx

__all__ = ["lab"]
pytestmark = pytest.mark.anyio

HEADER = "Sample name,Sample type,Collected on,Consent\r\n"


def zip_bomb() -> bytes:
    """70 MB of zeros in a workbook-shaped zip of about 70 kB."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", bytes(70 * 1024 * 1024))
    return buffer.getvalue()


async def _counts(lab: IntakeLab) -> tuple[int, int]:
    async with lab.hub.state.db.read() as session:
        uploads = (await session.execute(select(func.count()).select_from(IntakeUpload))).scalar_one()
        samples = (await session.execute(select(func.count()).select_from(Sample))).scalar_one()
    return uploads, samples


async def test_hostile_and_broken_uploads_get_a_problem_document_and_leave_nothing(lab: IntakeLab) -> None:
    template_id = await lab.approved()
    broken = xlsx([["Sample name", "Sample type"], ["a", "Blood"]])
    cases: list[tuple[bytes, str, int, str]] = [
        (b"", "text/csv", 400, "empty"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "application/pdf", 415, "PDF"),
        (bytes(range(256)) * 16, "application/octet-stream", 415, "binary"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "application/vnd.ms-excel", 415, ".xls"),
        (b'{"rows": []}', "application/json", 415, "JSON"),
        (
            b"--b\r\nContent-Disposition: form-data; name=file\r\n\r\na,b\r\n--b--",
            "multipart/form-data; boundary=b",
            415,
            "multipart",
        ),
        (broken[: len(broken) // 2], XLSX_TYPE, 422, "damaged"),
        (zip_bomb(), XLSX_TYPE, 413, "zip bomb"),
        ((HEADER + "s,Blood,2024-01-01,yes\r\n" * 5001).encode(), "text/csv", 413, "5000"),
        # a file upload may be larger than a JSON body, up to max_upload_bytes
        (HEADER.encode() + b"x" * lab.hub.state.settings.max_upload_bytes, "text/csv", 413, "larger than"),
    ]
    for dry_run in (True, False):
        for data, content_type, status, words in cases:
            response = await lab.upload(template_id, data, dry_run=dry_run, content_type=content_type)
            assert response.status_code == status, (content_type, words, response.text[:300])
            assert response.headers["content-type"] == "application/problem+json"
            problem: dict[str, Any] = response.json()
            assert problem["status"] == status
            assert words in problem["detail"], problem["detail"]
    assert await _counts(lab) == (0, 0)


async def test_a_sheet_whose_later_batch_fails_registers_nothing(
    lab: IntakeLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sheets above ``Samples.register_many``'s batch size go in several batches, in one transaction."""
    template_id = await lab.approved()
    monkeypatch.setattr(intake, "MAX_BATCH", 2)  # five rows: three batches, as 5000 rows would be five
    sheet = (HEADER + "".join(f"s{i},Blood,2024-01-01,yes\r\n" for i in range(5))).encode()
    register = lab.hub.state.samples.register_many
    calls = 0

    async def fails_the_third_time(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ValidationFailedError("the third batch fails")
        return await register(*args, **kwargs)

    monkeypatch.setattr(lab.hub.state.samples, "register_many", fails_the_third_time)
    response = await lab.upload(template_id, sheet, dry_run=False)
    assert response.status_code == 422, response.text
    assert calls == 3
    assert await _counts(lab) == (0, 0)
    monkeypatch.setattr(lab.hub.state.samples, "register_many", register)
    done = await lab.upload(template_id, sheet, dry_run=False, role=Role.LAB_MANAGER)
    assert done.status_code == 201, done.text
    assert [s["row"] for s in done.json()["samples"]] == [2, 3, 4, 5, 6]
    assert await _counts(lab) == (1, 5)
