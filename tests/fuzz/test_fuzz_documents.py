"""Documents for the hub's AI intake (``hub.ai.extract``): DOCX, XLSX and PDF files damaged inside their
containers, and Markdown and text of any bytes.

The intake's own CSV/XLSX reader is fuzzed with arbitrary bytes in ``tests/unit/hub/test_intake_sheets.py``; nothing
fuzzed ``extract`` yet. Here a valid DOCX or XLSX has one ZIP member rewritten (other XML, a DTD with entities, a
different or unknown compression method, the encryption flag set, a flipped byte in its compressed data), a real PDF
is cut or spliced, and text comes in any bytes. ``extract`` returns sections or raises ``UnreadableDocumentError``
or ``DocumentTooLargeError``; nothing else, and nothing slow.
"""

from __future__ import annotations

import io
import struct
import zipfile
from functools import cache

import openpyxl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hub.ai.errors import DocumentTooLargeError, UnreadableDocumentError
from hub.ai.extract import DOCX_TYPE, XLSX_TYPE, extract
from tests.fuzz.budget import fuzz_settings, typed

TYPED = (UnreadableDocumentError, DocumentTooLargeError)
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
DOCUMENT = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}"><w:body>'
    '<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Blood intake</w:t></w:r></w:p>'
    "<w:p><w:r><w:t>Store at -80 C within an hour.</w:t></w:r></w:p>"
    "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Tube</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>EDTA</w:t></w:r></w:p>"
    "</w:tc></w:tr></w:tbl></w:body></w:document>"
).encode()
ENTITY_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "' + b"x" * 1_000 + b'">]>'
    b'<w:document xmlns:w="' + W.encode() + b'"><w:body><w:p><w:r><w:t>' + b"&a;" * 7_000 + b"</w:t></w:r></w:p>"
    b"</w:body></w:document>"
)  # 7 MB of text from 21 kB: below the 8 MB where expat's amplification limit starts to apply
_XML = st.sampled_from(
    [DOCUMENT, ENTITY_BOMB, b"", b"<", b"<w:document/>", b"<a><b></a>", DOCUMENT.replace(b"Heading1", b"Heading99"),
     b'<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>', b"\xff\xfe<\x00r\x00/\x00>\x00"]
)  # fmt: skip


def docx(member: bytes = DOCUMENT, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("word/document.xml", member, compress_type=method)
    return buffer.getvalue()


@cache
def xlsx() -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Barcode", "Volume (uL)", "Collected"])
    sheet.append(["B1", 250, "2024-01-02"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _member_header(data: bytes) -> int:
    """Where word/document.xml's local header starts."""
    return data.rfind(b"PK\x03\x04", 0, data.find(b"word/document.xml"))


def flipped(data: bytes, offset: int) -> bytes:
    """``data`` with a byte of word/document.xml's compressed data flipped ``offset`` bytes past its header."""
    changed = bytearray(data)
    changed[_member_header(data) + offset] ^= 0x55
    return bytes(changed)


def flagged(data: bytes, edit: str, value: int) -> bytes:
    """word/document.xml's local and central headers with the encryption bit set or another compression method."""
    changed = bytearray(data)
    for header, flags, method in ((_member_header(data), 6, 8), (data.rfind(b"PK\x01\x02"), 8, 10)):
        if edit == "encrypted":
            changed[header + flags] |= value
        else:
            struct.pack_into("<H", changed, header + method, value)
    return bytes(changed)


def needs_version(data: bytes, version: int) -> bytes:
    """The central directory saying word/document.xml needs ZIP version ``version`` / 10 to extract."""
    changed = bytearray(data)
    struct.pack_into("<H", changed, data.rfind(b"PK\x01\x02") + 6, version)
    return bytes(changed)


def directory_moved(data: bytes, delta: int) -> bytes:
    """The end record pointing ``delta`` bytes past where the central directory starts."""
    changed = bytearray(data)
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", changed, end + 16, struct.unpack_from("<I", data, end + 16)[0] + delta)
    return bytes(changed)


def _local_headers(data: bytes) -> list[int]:
    found, at = [], data.find(b"PK\x03\x04")
    while at >= 0:
        found.append(at)
        at = data.find(b"PK\x03\x04", at + 4)
    return found


@st.composite
def damaged_archives(draw: st.DrawFn) -> bytes:
    """A DOCX or XLSX with one container-level edit."""
    if draw(st.booleans()):
        data = bytearray(docx(draw(_XML), draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))))
    else:
        data = bytearray(xlsx())
    headers = [*_local_headers(bytes(data)), data.find(b"PK\x01\x02")]
    header = draw(st.sampled_from([h for h in headers if h >= 0]))
    central = data[header : header + 4] == b"PK\x01\x02"
    flags, method = (8, 10) if central else (6, 8)
    edit = draw(st.sampled_from(["encrypted", "method", "flip", "cut", "none"]))
    if edit == "encrypted":
        data[header + flags] |= 1
    elif edit == "method":
        struct.pack_into("<H", data, header + method, draw(st.sampled_from([1, 6, 9, 12, 14, 99, 0xFFFF])))
    elif edit == "flip":
        at = draw(st.integers(header, len(data) - 1))
        data[at] ^= draw(st.integers(1, 255))
    elif edit == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def extracted(data: bytes, filename: str, content_type: str | None) -> None:
    result = typed(lambda: extract(data, filename=filename, content_type=content_type), *TYPED)
    if result is not None:
        assert all(isinstance(section.text, str) for section in result.sections)


@fuzz_settings(200)
@given(data=damaged_archives(), content_type=st.sampled_from([None, DOCX_TYPE, XLSX_TYPE]))
@example(data=docx(ENTITY_BOMB), content_type=DOCX_TYPE)  # found: expanded to 7 MB of text, now refused unread
@example(data=docx(method=zipfile.ZIP_BZIP2), content_type=DOCX_TYPE)
@example(data=flipped(docx(), 80), content_type=None)  # found: a flipped byte in deflate data -> zlib.error
@example(data=flagged(docx(), "method", 99), content_type=None)  # found: unknown method -> NotImplementedError
@example(data=flagged(docx(), "encrypted", 1), content_type=None)  # found: encrypted member -> RuntimeError
@example(data=needs_version(docx(), 84), content_type=None)  # found: "zip file version 8.4" -> NotImplementedError
@example(data=directory_moved(docx(), 58), content_type=None)  # found: "negative seek value -1" -> ValueError
def test_a_damaged_docx_or_xlsx_gives_sections_or_the_typed_error(data: bytes, content_type: str | None) -> None:
    extracted(data, "protocol.docx", content_type)


def test_a_docx_that_declares_entities_is_refused_unexpanded() -> None:
    with pytest.raises(UnreadableDocumentError, match="DTD"):
        extract(docx(ENTITY_BOMB), filename="bomb.docx")


@cache
def pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@fuzz_settings(120)
@given(at=st.integers(0, 2000), cut=st.integers(0, 50), junk=st.binary(max_size=30))
def test_a_damaged_pdf_gives_sections_or_the_typed_error(at: int, cut: int, junk: bytes) -> None:
    original = pdf()
    position = at % (len(original) + 1)
    extracted(original[:position] + junk + original[position + cut :], "protocol.pdf", "application/pdf")


@fuzz_settings(150)
@given(
    data=st.binary(min_size=1, max_size=400)
    | st.text(st.sampled_from(list("#  \n\r\t*-=|`>[]()x1\u00e9\u2028\ufeff")), min_size=1, max_size=300).map(
        str.encode
    ),
    name=st.sampled_from(["notes.md", "notes.txt", "sheet.csv", "scan.pdf", "form.docx", "x"]),
    content_type=st.sampled_from([None, "text/markdown", "text/plain", "text/csv", "application/pdf"]),
)
def test_any_bytes_named_anything_give_sections_or_the_typed_error(
    data: bytes, name: str, content_type: str | None
) -> None:
    extracted(data, name, content_type)
