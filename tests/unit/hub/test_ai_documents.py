"""Documents to sections and chunks: heading paths from Markdown, plain text, PDF pages and DOCX styles; damaged
or unsupported files refused with a reason."""

from __future__ import annotations

import io
import zipfile

import pytest

from hub.ai import UnreadableDocumentError, extract
from hub.ai.chunking import MAX_WORDS, chunk_sections
from hub.ai.extract import heading_level
from tests.data.ai.corpus import DOCX_TYPE, docx_bytes, pdf_bytes


def test_markdown_sections_carry_their_heading_path() -> None:
    doc = extract(b"# SOP 9\n\n## Thawing\n\n### Water bath\n\nThaw at 37 C.\n", filename="sop.md")
    assert doc.format == "markdown"
    assert doc.title == "SOP 9"
    assert [(s.heading, s.text) for s in doc.sections] == [("SOP 9 > Thawing > Water bath", "Thaw at 37 C.")]


def test_plain_text_numbered_and_capital_headings_nest_under_the_title() -> None:
    text = b"RUN GUIDE\n\n1. LOADING\n\nLoad 150 pM.\n\n1.1 Dilution\n\nDilute in RSB.\n"
    doc = extract(text, filename="guide.txt", content_type="text/plain")
    assert [s.heading for s in doc.sections] == ["RUN GUIDE > 1. LOADING", "RUN GUIDE > 1. LOADING > 1.1 Dilution"]


def test_sentences_are_not_headings() -> None:
    assert heading_level("Thaw the cartridge overnight.") is None
    assert heading_level("3.2 Thawing") == 3


def test_pdf_text_is_read_page_by_page() -> None:
    data = pdf_bytes([["MANUAL", "", "1. SAFETY", "", "Wear gloves."], ["2. CLEANING", "", "Use 70% ethanol."]])
    doc = extract(data, filename="manual.pdf", content_type="application/pdf")
    assert doc.format == "pdf"
    assert [(s.heading, s.page) for s in doc.sections] == [("MANUAL > 1. SAFETY", 1), ("MANUAL > 2. CLEANING", 2)]
    assert "70% ethanol" in doc.sections[1].text


def test_docx_headings_and_tables_are_kept() -> None:
    data = docx_bytes("#1 Work instruction\n#2 Storage\nSample type | Destination\nPlasma | F3\n")
    doc = extract(data, filename="wi.docx", content_type=DOCX_TYPE)
    assert doc.format == "docx"
    assert doc.sections[0].heading == "Work instruction > Storage"
    assert "Plasma | F3" in doc.sections[0].text


def test_csv_sample_sheets_become_rows_of_named_values() -> None:
    doc = extract(b"Barcode,Volume\r\nS-1,20\r\n", filename="sheet.csv", content_type="text/csv")
    assert doc.sections[0].text == "Row 2: Barcode: S-1; Volume: 20"


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", "empty.md", "empty"),
        (b"%PDF-1.4 not really", "broken.pdf", "not a readable PDF"),
        (b"\xd0\xcf\x11\xe0rest", "old.doc", "old Word"),
        (b"\x00\x01\x02binary", "blob.txt", "binary"),
    ],
)
def test_unreadable_documents_are_refused_with_a_reason(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(UnreadableDocumentError, match=reason):
        extract(data, filename=name)


def test_a_zip_that_is_not_office_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(UnreadableDocumentError, match="neither DOCX nor XLSX"):
        extract(out.getvalue(), filename="x.zip")


def test_long_sections_are_cut_into_passages_that_keep_the_heading() -> None:
    sentence = "Check the gasket for ice and record the temperature. "
    doc = extract(("# SOP\n\n## Checks\n\n" + sentence * 80).encode(), filename="long.md")
    chunks = chunk_sections(doc.sections)
    assert len(chunks) > 2
    assert all(c.section == "SOP > Checks" and len(c.text.split()) <= MAX_WORDS for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
