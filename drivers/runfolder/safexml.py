"""XML from an instrument share, parsed without trusting it.

A run folder is written by another machine (often over SMB), so its XML is untrusted input. The standard
library's ElementTree expands internal entities (billion laughs) and offers no hook to refuse a DTD; this module
drives expat itself and refuses any DOCTYPE, entity or external reference before it is expanded, which is what
``defusedxml`` does, without the dependency. No Illumina file declares a DTD.

Tag and attribute names are matched case-insensitively by the lookups below, because instruments disagree
(``FlowcellRFIDTag`` on a MiSeq, ``FlowCellRfidTag`` on a NextSeq).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import lru_cache
from typing import NoReturn
from xml.parsers import expat

from drivers.runfolder.errors import MalformedRunFileError, UnsafeXmlError

MAX_XML_BYTES = 16 << 20
"""Far above any real RunInfo.xml (a NovaSeq X one with 3,000 tiles is ~120 kB)."""

_INTEGER = re.compile(r"[0-9]{1,9}")


def parse_xml(data: bytes, file: str) -> ET.Element:
    """The document's root element. Raises ``UnsafeXmlError`` for DTDs/entities, ``MalformedRunFileError`` else."""
    if len(data) > MAX_XML_BYTES:
        raise MalformedRunFileError(file, f"{len(data)} bytes is larger than the {MAX_XML_BYTES} accepted")
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True

    def refuse(*_: object) -> NoReturn:
        raise UnsafeXmlError(file, "declares a DTD or entities, which run-folder files never do; refused unparsed")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        where = f"line {exc.lineno}, column {exc.offset}"
        raise MalformedRunFileError(file, f"not well-formed XML ({expat.ErrorString(exc.code)}, {where})") from exc
    except (ValueError, UnicodeError, LookupError) as exc:  # LookupError: an unknown declared encoding
        raise MalformedRunFileError(file, f"not readable as XML: {exc}") from exc
    root = builder.close()
    if root is None:  # pragma: no cover - expat refuses a document without an element first
        raise MalformedRunFileError(file, "holds no XML element")
    return root


@lru_cache(maxsize=4096)
def local_name(tag: str) -> str:
    """``{ns}Tag`` or ``ns:Tag`` → ``tag``, lower-cased."""
    return tag.rpartition("}")[2].rpartition(":")[2].lower()


def children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    lowered = name.lower()
    return (child for child in element if local_name(child.tag) == lowered)


def child(element: ET.Element, name: str) -> ET.Element | None:
    return next(children(element, name), None)


class Document:
    """Lookups over one parsed document, by lower-cased local name (indexed once: RunParameters can list
    thousands of tiles, and a dozen fields are looked up in it)."""

    def __init__(self, root: ET.Element) -> None:
        self.root = root
        self._by_name: dict[str, list[ET.Element]] = {}
        for element in root.iter():
            self._by_name.setdefault(local_name(element.tag), []).append(element)

    def descendants(self, path: str) -> list[ET.Element]:
        """Elements matching ``a/b/c`` anywhere in the document (XPath ``//a/b/c``), case-insensitively."""
        first, *rest = path.lower().split("/")
        found = self._by_name.get(first, [])
        for step in rest:
            found = [grandchild for parent in found for grandchild in children(parent, step)]
        return found

    def find_text(self, *paths: str) -> str | None:
        """Stripped text of the first non-empty element found by any of ``paths``, tried in order."""
        for path in paths:
            for element in self.descendants(path):
                text = (element.text or "").strip()
                if text:
                    return text
        return None


def attribute(element: ET.Element, name: str) -> str | None:
    lowered = name.lower()
    for key, value in element.attrib.items():
        if local_name(key) == lowered:
            return value.strip()
    return None


def parse_count(text: str | None, file: str, what: str) -> int | None:
    """A non-negative whole number as instruments write them, or ``None`` when absent."""
    if text is None or text == "":
        return None
    if not _INTEGER.fullmatch(text):
        raise MalformedRunFileError(file, f"{what} is {text[:40]!r}, not a whole number")
    return int(text)
