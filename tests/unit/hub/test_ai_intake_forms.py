"""Submission forms to manifests: labels matched exactly and fuzzily, a sample table to one row per sample with its
cell or line and offsets, form-level values shared, and anything unsure or invalid flagged as a suggestion."""

from __future__ import annotations

import io

import openpyxl
import pytest

from hub.ai.errors import UnreadableDocumentError
from hub.ai.intake_forms import FieldValue, Manifest, label_score, manifest_dict, read_form
from hub.intake import FieldSpec
from tests.data.ai.corpus import DOCX_TYPE, docx_bytes, pdf_bytes

FIELDS = [
    FieldSpec(key="name", label="Sample name", type="text", required=True, maps_to="name"),
    FieldSpec(
        key="sample_type",
        label="Sample type",
        type="enum",
        required=True,
        maps_to="sample_type",
        choices=["Plasma", "DNA"],
    ),
    FieldSpec(key="volume", label="Volume", type="number", unit="µL", maps_to="volume_ul", maximum=5000),
    FieldSpec(key="project", label="Project", type="text", maps_to="project"),
    FieldSpec(key="collected", label="Collection date", type="date"),
]


def _field(manifest: Manifest, row: int, key: str) -> FieldValue:
    return next(f for f in manifest.rows[row].fields if f.key == key)


def test_label_lines_fill_fields_with_their_line_and_offsets() -> None:
    text = b"Submission form\nSample name: S-001\nSample type: plasma\nVolume: 250 uL\nProject: P-17\n"
    manifest = read_form(text, filename="form.txt", content_type="text/plain", fields=FIELDS)
    assert len(manifest.rows) == 1
    name = _field(manifest, 0, "name")
    assert (name.value, name.confidence, name.needs_review) == ("S-001", 0.95, False)
    assert name.source is not None
    assert (name.source.line, name.source.start, name.source.end) == (2, 13, 18)
    assert "Sample name: S-001"[name.source.start : name.source.end] == "S-001"
    assert _field(manifest, 0, "sample_type").value == "Plasma"  # the template's own spelling of the choice
    assert _field(manifest, 0, "volume").value == "250"


def test_a_sample_table_gives_one_row_per_sample_and_shares_form_level_values() -> None:
    text = (
        b"Project: P-17\n\n"
        b"| Sample name | Type | Vol (uL) |\n|---|---|---|\n| S-1 | Plasma | 100 |\n| S-2 | DNA | 50 |\n"
    )
    manifest = read_form(text, filename="form.md", content_type="text/markdown", fields=FIELDS)
    assert [_field(manifest, i, "name").value for i in range(2)] == ["S-1", "S-2"]
    assert [_field(manifest, i, "sample_type").value for i in range(2)] == ["Plasma", "DNA"]
    assert _field(manifest, 1, "project").value == "P-17"
    shared = _field(manifest, 1, "project")
    assert shared.confidence < 0.95
    assert _field(manifest, 0, "sample_type").confidence == 0.9  # "Type" is a synonym, not the label


def test_a_fuzzy_label_below_the_threshold_is_a_suggestion_never_a_value() -> None:
    text = b"Sampel nam: S-009\nSample type: DNA\n"
    manifest = read_form(text, filename="form.txt", content_type="text/plain", fields=FIELDS, threshold=0.95)
    name = _field(manifest, 0, "name")
    assert name.value is None
    assert name.suggestion == "S-009"
    assert name.needs_review
    assert 0 < name.confidence < 0.95


def test_a_value_the_templates_validator_refuses_is_flagged() -> None:
    text = b"Sample name: S-1\nSample type: Serum\nVolume: 9000 uL\nCollection date: 03/04/2024\n"
    manifest = read_form(text, filename="form.txt", content_type="text/plain", fields=FIELDS)
    for key, reason in (("sample_type", "not one of the choices"), ("volume", "above the maximum")):
        flagged = _field(manifest, 0, key)
        assert flagged.needs_review
        assert flagged.value is None
        assert flagged.confidence == 0.0
        assert reason in flagged.reasons[0]
    assert _field(manifest, 0, "collected").needs_review  # ambiguous day/month, no order configured


def test_a_required_field_missing_from_the_form_is_flagged_and_empty() -> None:
    manifest = read_form(b"Sample name: S-1\n", filename="f.txt", content_type="text/plain", fields=FIELDS)
    missing = _field(manifest, 0, "sample_type")
    assert missing.needs_review
    assert missing.value is None
    assert missing.source is None
    assert manifest.flagged == 1


def test_xlsx_with_a_title_block_and_a_table_names_each_cell() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Form"
    for row in (["Sample submission"], ["Project", "P-17"], [], ["Sample Name", "Sample type", "Volume (µL)"]):
        sheet.append(row)
    sheet.append(["S-1", "Plasma", 10])
    sheet.append(["S-2", "DNA", 20.5])
    out = io.BytesIO()
    workbook.save(out)
    manifest = read_form(out.getvalue(), filename="form.xlsx", content_type=None, fields=FIELDS)
    assert len(manifest.rows) == 2
    volume = _field(manifest, 1, "volume")
    assert volume.value == "20.5"
    assert volume.source is not None
    assert (volume.source.sheet, volume.source.cell) == ("Form", "C6")
    project = _field(manifest, 0, "project")
    assert project.value == "P-17"
    assert project.source is not None
    assert project.source.cell == "B2"


def test_csv_forms_read_through_the_intake_sheet_reader() -> None:
    data = b"Sample name,Sample type,Volume\nS-1,Plasma,5\n"
    manifest = read_form(data, filename="f.csv", content_type="text/csv", fields=FIELDS)
    assert _field(manifest, 0, "name").value == "S-1"
    assert _field(manifest, 0, "name").source is not None


def test_pdf_and_docx_forms_are_read_with_pages() -> None:
    pdf = pdf_bytes([["SUBMISSION", "", "Sample name: S-7", "Sample type: DNA"]])
    manifest = read_form(pdf, filename="f.pdf", content_type="application/pdf", fields=FIELDS)
    name = _field(manifest, 0, "name")
    assert name.value == "S-7"
    assert name.source is not None
    assert name.source.page == 1
    docx = docx_bytes("#1 Submission\nSample name | Sample type\nS-8 | Plasma\nS-9 | DNA\n")
    manifest = read_form(docx, filename="f.docx", content_type=DOCX_TYPE, fields=FIELDS)
    assert [_field(manifest, i, "name").value for i in range(len(manifest.rows))] == ["S-8", "S-9"]


def test_label_score_is_exact_synonym_or_fuzzy() -> None:
    spec = FIELDS[2]
    assert label_score(spec, "Volume (µL)") == 1.0
    assert label_score(spec, "vol") == 0.9
    assert 0.75 <= label_score(spec, "Volumen") < 1
    assert label_score(spec, "Barcode") == 0.0


def test_empty_or_unreadable_forms_are_refused_and_manifests_serialise() -> None:
    with pytest.raises(UnreadableDocumentError):
        read_form(b"", filename="f.txt", content_type="text/plain", fields=FIELDS)
    manifest = read_form(b"nothing here\n", filename="f.txt", content_type="text/plain", fields=FIELDS)
    assert manifest.notes == ["no field of the template was recognised in the form"]
    data = manifest_dict(manifest)
    assert data["rows"][0]["fields"][0]["source"] is None
