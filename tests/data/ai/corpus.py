"""The evaluation corpus: lab documents written for these tests, in every format the hub reads. Two are built
at load time: the sequencer guide as a PDF (a small hand-written PDF writer: one Helvetica text object per page)
and the receipt work instruction as a DOCX (its XML zipped with the standard library).

    documents()   # [(filename, content type, bytes)]
    questions()   # the evaluation set: question, expected document and section (None: not in the documents)
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).parent
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def pdf_bytes(lines_per_page: list[list[str]]) -> bytes:
    """A valid PDF 1.4 with one page per list of lines (Helvetica 10 pt), text extractable by pypdf."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(lines_per_page))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for page_id, lines in zip(page_ids, lines_per_page, strict=True):
        ops = ["BT", "/F1 10 Tf", "12 TL", "50 800 Td"]
        for line in lines:
            text = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({text}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("cp1252")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_id + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def pdf_from_text(text: str, lines_per_page: int = 60) -> bytes:
    lines = text.splitlines()
    pages = [lines[i : i + lines_per_page] for i in range(0, len(lines), lines_per_page)] or [[]]
    return pdf_bytes(pages)


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_bytes(source: str) -> bytes:
    """A minimal DOCX: ``#1 `` / ``#2 `` lines are Heading 1 / Heading 2 paragraphs, ``a | b`` lines table rows,
    other lines body paragraphs."""
    body: list[str] = []
    table: list[str] = []

    def flush_table() -> None:
        if table:
            body.append("<w:tbl>" + "".join(table) + "</w:tbl>")
            table.clear()

    for line in source.splitlines():
        if " | " in line:
            cells = "".join(
                f"<w:tc><w:p><w:r><w:t>{escape(c.strip())}</w:t></w:r></w:p></w:tc>" for c in line.split("|")
            )
            table.append(f"<w:tr>{cells}</w:tr>")
            continue
        flush_table()
        style = ""
        if line.startswith("#1 ") or line.startswith("#2 "):
            style = f'<w:pPr><w:pStyle w:val="Heading{line[1]}"/></w:pPr>'
            line = line[3:]
        body.append(f'<w:p>{style}<w:r><w:t xml:space="preserve">{escape(line)}</w:t></w:r></w:p>')
    flush_table()
    document = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{_W}"><w:body>'
    document += "".join(body) + "</w:body></w:document>"
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/'
        'document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main'
        '+xml"/></Types>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("word/document.xml", document)
    return out.getvalue()


def documents() -> list[tuple[str, str, bytes]]:
    folder = HERE / "documents"
    found: list[tuple[str, str, bytes]] = []
    for path in sorted(folder.iterdir()):
        text = path.read_text(encoding="utf-8")
        if path.name == "sequencer-manual.txt":
            found.append(("sequencer-manual.pdf", "application/pdf", pdf_from_text(text)))
        elif path.name.endswith(".docx.txt"):
            found.append((path.name.removesuffix(".txt"), DOCX_TYPE, docx_bytes(text)))
        elif path.suffix == ".md":
            found.append((path.name, "text/markdown", text.encode()))
        else:
            found.append((path.name, "text/plain", text.encode()))
    return found


@dataclass(frozen=True)
class Question:
    question: str
    document: str | None  # None: the documents do not hold the answer
    section: str | None  # a part of the expected passage's heading path
    answer: str | None  # words the right passage holds


def questions() -> list[Question]:
    data = json.loads((HERE / "eval.json").read_text(encoding="utf-8"))
    return [Question(q["question"], q.get("document"), q.get("section"), q.get("answer")) for q in data]
