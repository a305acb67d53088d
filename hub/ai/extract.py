"""Documents to sections of text under their heading paths: Markdown, plain text, PDF (pypdf), DOCX (its XML,
read with the standard library) and sample sheets (CSV, XLSX via ``hub.intake``). Pure code: no I/O but the bytes.

    doc = extract(data, filename="SOP-12.pdf", content_type="application/pdf")
    doc.sections  # [Section(heading="SOP-12 > 3. Response", text="...", page=2), ...]
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NoReturn
from xml.etree import ElementTree
from xml.parsers import expat

from hub.ai.errors import DocumentTooLargeError, UnreadableDocumentError

Format = Literal["markdown", "text", "pdf", "docx", "csv", "xlsx"]

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # a DOCX's or XLSX's declared sizes, summed: refuses zip bombs unread
MAX_PAGES = 2000
HEADING_SEPARATOR = " > "

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@dataclass(frozen=True)
class Section:
    heading: str  # the heading path, outermost first, joined by HEADING_SEPARATOR ("" before the first heading)
    text: str
    page: int | None = None


@dataclass(frozen=True)
class Extracted:
    title: str
    format: Format
    sections: list[Section]

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


def detect_format(data: bytes, filename: str, content_type: str | None) -> Format:
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    name = filename.lower()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        names = _zip_names(data)
        if "word/document.xml" in names:
            return "docx"
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        raise UnreadableDocumentError(f"{filename}: a ZIP archive that is neither DOCX nor XLSX")
    if data.startswith((b"\xd0\xcf\x11\xe0", b"{\\rtf")):
        raise UnreadableDocumentError(f"{filename}: an old Word/Excel or RTF file: save it as DOCX, XLSX or PDF")
    if declared in ("text/markdown", "text/x-markdown") or name.endswith((".md", ".markdown")):
        return "markdown"
    if declared == "text/csv" or name.endswith((".csv", ".tsv")):
        return "csv"
    if declared in ("application/pdf", DOCX_TYPE, XLSX_TYPE):
        raise UnreadableDocumentError(f"{filename}: declared {declared}, but the content is not one")
    return "text"


def extract(data: bytes, *, filename: str, content_type: str | None = None) -> Extracted:
    """The document's sections; ``UnreadableDocumentError`` for what cannot be read."""
    if not data:
        raise UnreadableDocumentError("the body is empty: send the document's bytes with its Content-Type")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLargeError(f"{filename}: {len(data)} bytes; at most {MAX_DOCUMENT_BYTES}")
    kind = detect_format(data, filename, content_type)
    stem = re.sub(r"\.[A-Za-z0-9]{1,8}$", "", filename) or filename
    if kind == "pdf":
        return _titled(stem, kind, _pdf_sections(data, filename))
    if kind == "docx":
        return _titled(stem, kind, list(_outline(_docx_blocks(data, filename))))
    if kind in ("csv", "xlsx"):
        return Extracted(stem, kind, _sheet_sections(data, content_type, stem))
    text = decode_text(data, filename)
    if kind == "markdown":
        return _titled(stem, kind, list(_outline(_markdown_blocks(text))))
    return _titled(stem, kind, list(_outline(_plain_blocks(text, None))))


def decode_text(data: bytes, filename: str) -> str:
    if b"\x00" in data[:4096]:
        raise UnreadableDocumentError(f"{filename}: binary content, not text")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _titled(stem: str, kind: Format, sections: list[Section]) -> Extracted:
    title = stem
    for s in sections:
        if s.heading:
            title = s.heading.split(HEADING_SEPARATOR, 1)[0]
            break
    return Extracted(title, kind, [s for s in sections if s.text.strip()])


# -- headings ---------------------------------------------------------------------------------------------------

# a block: (heading level or None for body text, text, page)
Block = tuple[int | None, str, int | None]

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+([A-Z][^\n]{1,90})$")
_LABELLED = re.compile(r"^(?:section|chapter|appendix|part)\s+[\dA-Z]+[.:]?\s+\S.{0,90}$", re.IGNORECASE)


def _markdown_blocks(text: str) -> Iterator[Block]:
    lines = text.splitlines()
    body: list[str] = []
    fenced = False
    for i, line in enumerate(lines):
        if line.strip().startswith("```"):
            fenced = not fenced
        match = None if fenced else _MD_HEADING.match(line)
        underline = not fenced and i + 1 < len(lines) and re.fullmatch(r"\s*(=+|-+)\s*", lines[i + 1] or "x")
        if match:
            yield None, "\n".join(body), None
            body = []
            yield len(match[1]), _clean_heading(match[2]), None
        elif underline and line.strip() and not re.fullmatch(r"\s*[-=]+\s*", line):
            yield None, "\n".join(body), None
            body = []
            yield (1 if lines[i + 1].strip().startswith("=") else 2), _clean_heading(line), None
        elif re.fullmatch(r"\s*(=+|-+)\s*", line) and i > 0 and body == [] and lines[i - 1].strip():
            continue  # the underline of a setext heading
        else:
            body.append(line)
    yield None, "\n".join(body), None


def _clean_heading(text: str) -> str:
    return re.sub(r"[*_`]+", "", text).strip()


def heading_level(line: str) -> int | None:
    """The level of a plain-text heading line (``3.2 Thawing``, ``SECTION 4: SAFETY``, ``PURPOSE``), or None."""
    stripped = line.strip()
    if not stripped or len(stripped) > 100 or stripped.endswith((".", ",", ";")):
        return None
    if match := _NUMBERED.match(stripped):
        return 2 + match[1].count(".")  # below a document title in capitals
    if _LABELLED.match(stripped):
        return 1
    letters = [c for c in stripped if c.isalpha()]
    if len(letters) >= 4 and all(c.isupper() for c in letters) and len(stripped.split()) <= 8:
        return 1
    return None


def _plain_blocks(text: str, page: int | None) -> Iterator[Block]:
    body: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        previous_blank = i == 0 or not lines[i - 1].strip() or heading_level(lines[i - 1]) is not None
        level = heading_level(line) if previous_blank or _NUMBERED.match(line.strip()) else None
        if level is not None:
            yield None, "\n".join(body), page
            body = []
            yield level, line.strip().rstrip(":"), page
        else:
            body.append(line)
    yield None, "\n".join(body), page


def _outline(blocks: Iterable[Block]) -> Iterator[Section]:
    """Sections from blocks: each body under the path of headings above it."""
    path: list[tuple[int, str]] = []
    body: list[str] = []
    body_page: int | None = None

    def section() -> Iterator[Section]:
        cleaned = _tidy("\n\n".join(body))
        if cleaned:
            yield Section(HEADING_SEPARATOR.join(h for _, h in path), cleaned, body_page)

    for level, text, page in blocks:
        if level is None:
            if text.strip() and not body:
                body_page = page
            body.append(text)
            continue
        yield from section()
        body = []
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, text[:160]))
    yield from section()


def _tidy(text: str) -> str:
    paragraphs = [re.sub(r"[ \t]+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


# -- PDF --------------------------------------------------------------------------------------------------------


def _pdf_sections(data: bytes, filename: str) -> list[Section]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError as exc:  # pragma: no cover - the ai extra installs it
        from hub.ai.errors import OptionalDependencyError

        raise OptionalDependencyError("reading PDF needs pypdf: pip install 'tracseq[ai]'") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableDocumentError(f"{filename}: an encrypted PDF; send it without a password")
        if len(reader.pages) > MAX_PAGES:
            raise DocumentTooLargeError(f"{filename}: {len(reader.pages)} pages; at most {MAX_PAGES}")
        pages = [(n, page.extract_text() or "") for n, page in enumerate(reader.pages, start=1)]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise UnreadableDocumentError(f"{filename}: not a readable PDF ({exc})") from exc
    if not any(text.strip() for _, text in pages):
        raise UnreadableDocumentError(f"{filename}: the PDF has no text layer (a scan?); OCR it first")

    def blocks() -> Iterator[Block]:
        for number, text in pages:
            yield from _plain_blocks(text, number)

    return list(_outline(blocks()))


# -- DOCX -------------------------------------------------------------------------------------------------------


def _zip_names(data: bytes) -> set[str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, NotImplementedError) as exc:  # NotImplementedError: a newer ZIP version
        raise UnreadableDocumentError(f"a damaged ZIP archive ({exc})") from exc
    if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
        raise DocumentTooLargeError(f"the archive unpacks to more than {MAX_UNPACKED_BYTES} bytes")
    return {i.filename for i in infos}


def _docx_blocks(data: bytes, filename: str) -> Iterator[Block]:
    _zip_names(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            part = archive.read("word/document.xml")
    # a damaged archive: BadZipFile (bad CRC), zlib.error, EOFError, NotImplementedError (an unknown compression
    # method), RuntimeError (an encrypted member), KeyError (no such member), ValueError (a negative seek)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, KeyError, ValueError) as exc:
        raise UnreadableDocumentError(f"{filename}: not a readable DOCX ({exc})") from exc
    root = _ooxml_part(part, filename)
    body = root.find(f"{_W}body")
    if body is None:
        return
    for element in body:
        if element.tag == f"{_W}p":
            text = "".join(t.text or "" for t in element.iter(f"{_W}t"))
            style = element.find(f"{_W}pPr/{_W}pStyle")
            name = (style.get(f"{_W}val") or "") if style is not None else ""
            level = _docx_level(name)
            yield (level, text.strip(), None) if level is not None and text.strip() else (None, text + "\n\n", None)
        elif element.tag == f"{_W}tbl":
            for row in element.iter(f"{_W}tr"):
                cells = ["".join(t.text or "" for t in cell.iter(f"{_W}t")).strip() for cell in row.iter(f"{_W}tc")]
                yield None, " | ".join(c for c in cells if c) + "\n", None
            yield None, "\n", None


def _ooxml_part(data: bytes, filename: str) -> ElementTree.Element:
    """An OOXML part's root element. OOXML parts never declare a DTD; one that does is refused before any entity
    is expanded (expat's amplification limit still lets a 1 MB part grow a hundredfold)."""
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True

    def refuse(*_: object) -> NoReturn:
        raise UnreadableDocumentError(f"{filename}: the DOCX declares a DTD or entities, which Word never writes")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = lambda tag, attrs: builder.start(_clark(tag), {_clark(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda tag: builder.end(_clark(tag))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        root = builder.close()
    except (expat.ExpatError, ValueError, LookupError) as exc:  # LookupError: an unknown declared encoding
        raise UnreadableDocumentError(f"{filename}: not a readable DOCX ({exc})") from exc
    return root


def _clark(name: str) -> str:
    """expat's ``uri}local`` as ElementTree's ``{uri}local``."""
    return "{" + name if "}" in name else name


def _docx_level(style: str) -> int | None:
    lowered = style.lower().replace(" ", "")
    if lowered == "title":
        return 1
    if match := re.fullmatch(r"heading(\d)", lowered):
        return int(match[1])
    return None


# -- sample sheets ----------------------------------------------------------------------------------------------


def _sheet_sections(data: bytes, content_type: str | None, stem: str) -> list[Section]:
    from hub.intake import SheetError, read_upload, shown

    try:
        sheets = read_upload(data, content_type).sheets
    except SheetError as exc:
        raise UnreadableDocumentError(f"{stem}: {exc}") from exc
    sections: list[Section] = []
    for sheet in sheets:
        if not sheet.rows:
            continue
        header = [shown(c) for c in sheet.rows[0][1]]
        lines = []
        for number, cells in sheet.rows[1:]:
            pairs = [f"{h}: {shown(c)}" for h, c in zip(header, cells, strict=False) if h and shown(c)]
            lines.append(f"Row {number}: " + "; ".join(pairs))
        heading = stem if len(sheets) == 1 else f"{stem}{HEADING_SEPARATOR}{sheet.title}"
        for start in range(0, max(len(lines), 1), 20):
            sections.append(Section(heading, "\n".join(lines[start : start + 20]) or " | ".join(header)))
    return sections
