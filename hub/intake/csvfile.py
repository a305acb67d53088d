"""CSV as spreadsheets and people write it: any of UTF-8 (with or without a BOM), UTF-16 ("Unicode text" from
Excel), Windows-1252/Latin-1; CRLF, LF or CR line ends; comma, semicolon, tab or pipe between cells, and Excel's
``sep=;`` first line. A semicolon-delimited file is one from a European Excel: its decimal mark is the comma."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter

from hub.intake.errors import NotASpreadsheetError, SheetTooLargeError, UnreadableSheetError
from hub.intake.sheets import MAX_COLUMNS, SheetBuilder, SheetFile
from hub.intake.values import Reading

DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_LINES = 50
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_SEP_LINE = re.compile(r"^\"?sep=(.)\"?[,;\t|]*\r?\n?$", re.IGNORECASE)


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name); ``NotASpreadsheetError`` for bytes that are not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding.upper()
            except UnicodeDecodeError as exc:
                raise UnreadableSheetError(
                    f"the file starts with a {encoding} mark but is not {encoding} text"
                ) from exc
    head = data[:4096]
    if b"\x00" in head:
        odd, even = head[1::2].count(0), head[0::2].count(0)  # UTF-16 without a BOM: every other byte of ASCII
        if odd > len(head) // 4 and even <= odd // 10:
            encoding = "utf-16-le"
        elif even > len(head) // 4 and odd <= even // 10:
            encoding = "utf-16-be"
        else:
            raise NotASpreadsheetError("binary data, not a CSV or XLSX spreadsheet")
        try:
            return data.decode(encoding), encoding.upper()
        except UnicodeDecodeError as exc:
            raise NotASpreadsheetError("binary data, not a CSV or XLSX spreadsheet") from exc
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1"


def _looks_binary(text: str) -> bool:
    sample = text[:8192]
    return bool(sample) and len(_BINARY.findall(sample)) > max(8, len(sample) // 100)


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the first lines into the most rows of the same width (more than one cell)."""
    best, best_score = ",", (False, 0, 0)
    for delimiter in DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(lines, delimiter=delimiter) if any(c.strip() for c in row)]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        score = (width > 1, count, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_csv(data: bytes) -> SheetFile:
    text, encoding = decode(data)
    if _looks_binary(text):
        raise NotASpreadsheetError("binary data, not a CSV or XLSX spreadsheet")
    notes = [] if encoding == "UTF-8" else [f"read as {encoding} text (not UTF-8)"]
    first, _, rest = text.partition("\n")
    if match := _SEP_LINE.match(first + "\n"):
        delimiter, text = match[1], rest
        notes.append(f"the sep={delimiter} line names the delimiter")
    else:
        delimiter = sniff_delimiter(re.split(r"\r\n|\r|\n", text[:65536], maxsplit=_SNIFF_LINES)[:_SNIFF_LINES])
    decimal_comma = delimiter == ";"
    notes.append(
        f"cells separated by {_NAMES.get(delimiter, repr(delimiter))}"
        + (", decimal comma (12,5 is twelve and a half)" if decimal_comma else "")
    )
    builder = SheetBuilder("CSV")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    number = 0
    try:
        for number, row in enumerate(reader, start=1):
            if len(row) > MAX_COLUMNS and any(c.strip() for c in row[MAX_COLUMNS:]):
                raise SheetTooLargeError(f"row {number} has more than {MAX_COLUMNS} columns")
            if not builder.add(number, [c or None for c in row[:MAX_COLUMNS]]):
                break
    except csv.Error as exc:
        raise UnreadableSheetError(
            f"row {number + 1}: the CSV cannot be read ({exc}); a quote that never closes is the usual cause"
        ) from exc
    return SheetFile("csv", [builder.build()], Reading(decimal_comma=decimal_comma), notes)
