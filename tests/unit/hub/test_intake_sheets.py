"""Reading uploads built in memory, the way real ones arrive: BOMs, CRLF and CR, semicolons and decimal commas,
Latin-1 and UTF-16, title rows, merged header cells, blank rows, Excel dates and serials, formulas, control
characters, files that are not spreadsheets at all, and zip bombs."""

from __future__ import annotations

import codecs
import io
import json
import zipfile
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.intake import (
    MAX_ROWS,
    XLSX_TYPE,
    EmptyUploadError,
    FieldSpec,
    NotASpreadsheetError,
    SheetCheck,
    SheetError,
    SheetTooLargeError,
    UnreadableSheetError,
    blank_csv,
    blank_xlsx,
    check_sheet,
    read_upload,
    report_csv,
    xlsxfile,
)

FIELDS = [
    FieldSpec(key="barcode", label="Barcode", type="text", maps_to="barcode"),
    FieldSpec(key="name", label="Sample name", type="text", required=True, maps_to="name"),
    FieldSpec(
        key="sample_type",
        label="Sample type",
        type="enum",
        required=True,
        maps_to="sample_type",
        choices=["Blood", "DNA", "-80 stock"],
    ),
    FieldSpec(key="volume", label="Volume", type="number", maps_to="volume_ul"),
    FieldSpec(key="collected", label="Collected on", type="date"),
    FieldSpec(key="note", label="Note", type="text"),
]
HEADER = ["Barcode", "Sample name", "Sample type", "Volume (µL)", "Collected on", "Note"]


def xlsx(rows: Sequence[Sequence[Any]], *, merge: str | None = None, epoch_1904: bool = False) -> bytes:
    workbook = openpyxl.Workbook()
    if epoch_1904:
        workbook.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = workbook.worksheets[0]
    for row in rows:
        sheet.append(list(row))
    if merge:
        sheet.merge_cells(merge)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def patched(data: bytes, part: str, old: bytes, new: bytes) -> bytes:
    """``data`` (a zip) with ``old`` replaced by ``new`` in one part: what openpyxl will not write, Excel may."""
    source, target = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            content = source.read(info)
            out.writestr(info.filename, content.replace(old, new) if info.filename == part else content)
    return target.getvalue()


def checked(data: bytes, content_type: str | None = None) -> SheetCheck:
    return check_sheet(read_upload(data, content_type), FIELDS)


def values(check: SheetCheck, key: str) -> list[Any]:
    return [row.values[key] for row in check.rows]


def test_a_european_csv_is_read_bom_semicolons_decimal_commas_crlf_latin1() -> None:
    text = "Sample name;Barcode;SAMPLE TYPE;Volume;Collected on\r\nMüller 1;B1;blood;1.234,5;05.03.2024\r\n"
    check = checked(codecs.BOM_UTF8 + text.encode("utf-8"))
    assert check.valid, check.problems
    assert values(check, "volume") == [Decimal("1234.5")]
    assert values(check, "sample_type") == ["Blood"]
    latin = checked(text.replace("1.234,5", "12,5").encode("latin-1"))
    assert values(latin, "name") == ["Müller 1"]
    assert values(latin, "volume") == [Decimal("12.5")]
    assert "read as Windows-1252 text (not UTF-8)" in latin.notes


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_any_line_end_and_delimiter_is_found(newline: str, delimiter: str) -> None:
    rows = [HEADER, ["B1", "one", "DNA", "5", "2024-01-02", "a, b"], ["B2", "two", "DNA", "", "", ""]]
    text = newline.join(delimiter.join(f'"{c}"' if delimiter in c or "," in c else c for c in r) for r in rows)
    check = checked(text.encode())
    assert check.valid, check.problems
    assert values(check, "note") == ["a, b", None]


def test_utf16_from_excel_unicode_text_and_a_sep_line() -> None:
    text = "\t".join(HEADER) + "\r\nB1\tÅsa\tDNA\t\t\t\r\n"
    assert values(checked(text.encode("utf-16")), "name") == ["Åsa"]
    assert values(checked(text.encode("utf-16-le")), "name") == ["Åsa"]
    sep = checked(("sep=;\r\n" + ";".join(HEADER) + "\r\nB1;one;DNA;1,5;;\r\n").encode())
    assert values(sep, "volume") == [Decimal("1.5")]
    assert sep.header_row == 1


def test_title_rows_other_column_order_extra_columns_and_blank_rows() -> None:
    rows = [
        ["Lab intake form", None, None],
        [],
        ["Freezer", "sample type", "SAMPLE NAME *", "Barcode"],
        ["F1", "DNA", "one", "B1"],
        [None, None, None, None],
        ["F2", "Blood", "two", "B2"],
        [None, "  ", None, None],
        [None, None, None, None],
    ]
    check = checked(xlsx(rows))
    assert check.header_row == 3
    assert check.valid, check.problems
    assert [r.number for r in check.rows] == [4, 6]
    assert "columns the template does not name were ignored: Freezer" in check.notes
    assert "1 blank rows skipped" in check.notes
    assert check.cell("barcode", 6) == "D6"


def test_a_header_merged_over_two_rows_and_a_merged_title() -> None:
    rows = [["Intake", None, "Sample", None], ["Barcode", None, "name", "Sample type"], ["B1", None, "one", "DNA"]]
    check = checked(xlsx(rows, merge="A1:B1"))
    assert check.valid, check.problems
    merged = [["Barcode", "Sample", "Sample type"], [None, "name", None], ["B1", "one", "DNA"]]
    # "Barcode" and "Sample type" merged down over rows 1-2: the header row (2) takes their text from above
    check = check_sheet(
        read_upload(xlsx(merged, merge="A1:A2")),
        [*FIELDS[:1], FIELDS[2], FieldSpec(key="name", label="name", type="text", required=True, maps_to="name")],
    )
    assert check.header_row == 2
    assert check.columns == {"barcode": 0, "name": 1, "sample_type": 2}
    assert check.valid, check.problems
    # labels over a row of units
    units = [["Barcode", "Sample name", "Sample type", "Volume"], [None, None, None, "(µL)"], ["B1", "a", "DNA", "5"]]
    check = checked(xlsx(units))
    assert check.header_row == 2
    assert values(check, "volume") == [Decimal(5)]
    assert check.valid, check.problems
    # a group label merged across two columns over its sub-headers: "Sample" over "name" and "type"
    grouped = [["Sample", None, "Barcode"], ["name", "type", None], ["one", "DNA", "B1"]]
    check = checked(xlsx(grouped, merge="A1:B1"))
    assert check.header_row == 2
    assert check.columns == {"name": 0, "sample_type": 1, "barcode": 2}
    assert check.headers == {"name": "name", "sample_type": "Sample type", "barcode": "Barcode"}  # name: its key
    assert check.valid, check.problems


def test_excel_dates_serials_text_dates_and_the_1904_system() -> None:
    rows = [
        HEADER,
        ["B1", "a", "DNA", 1.5, datetime.combine(date(2024, 3, 5), time()), None],
        ["B2", "b", "DNA", 2, 45356, None],
        ["B3", "c", "DNA", "1,000.5", "2024-03-05", None],
    ]
    check = checked(xlsx(rows))
    assert values(check, "collected") == [date(2024, 3, 5)] * 3
    assert values(check, "volume") == [Decimal("1.5"), Decimal(2), Decimal("1000.5")]
    mac = checked(xlsx([HEADER, ["B1", "a", "DNA", None, 43894, None]], epoch_1904=True))
    assert values(mac, "collected") == [date(2024, 3, 5)]


def test_formulas_are_read_as_their_computed_values_or_reported_when_never_computed() -> None:
    data = xlsx([HEADER, ["B1", '=CONCAT("a","b")', "DNA", "=1+1", None, None]])
    check = checked(data)
    assert any("formulas no spreadsheet has computed" in n for n in check.notes)
    computed = patched(data, "xl/worksheets/sheet1.xml", b"<f>1+1</f><v />", b"<f>1+1</f><v>2</v>")
    assert values(checked(computed), "volume") == [Decimal(2)]


def test_injections_and_control_characters_in_a_workbook() -> None:
    data = xlsx([HEADER, ["CTRLMARK", "cmd", "DNA", None, None, "NOTEMARK"]])
    data = patched(data, "xl/worksheets/sheet1.xml", b"CTRLMARK", b"B_x0007_1")
    data = patched(data, "xl/worksheets/sheet1.xml", b"NOTEMARK", b"ok_x0001_ fine")
    check = checked(data)
    assert [(p.cell, p.value) for p in check.problems] == [("A2", "B<U+0007>1")]
    assert values(check, "note") == ["ok fine"]
    assert check.cleaned_cells == 1
    odd = xlsx([[*HEADER, "HEADMARK"], ["B1", "NAMEMARK", "DNA"]])
    odd = patched(odd, "xl/worksheets/sheet1.xml", b"HEADMARK", b"Freezer_x0000_")
    odd = patched(odd, "xl/worksheets/sheet1.xml", b"NAMEMARK", b"a_xD800_b _x005F_x0041_")
    check = checked(odd)
    assert check.ignored == ["Freezer"]  # stored in the report: no NUL (PostgreSQL's JSON refuses it)
    assert values(check, "name") == ["a\ufffdb _x0041_"]  # no lone surrogate; _x005F_ is a literal underscore
    injected = checked((",".join(HEADER) + "\r\nB1,=cmd|' /C calc'!A0,DNA,,,@SUM(1+1)*cmd|' /C calc'!A0\r\n").encode())
    assert {p.column for p in injected.problems} == {"Sample name", "Note"}


def test_sheet_level_problems_missing_and_repeated_columns_no_header_no_rows() -> None:
    missing = checked(b"Barcode,Note\r\nB1,x\r\n")
    assert [(p.row, p.column, p.reason) for p in missing.problems] == [
        (1, "Sample name", "a required column is missing: add a column headed 'Sample name'"),
        (1, "Sample type", "a required column is missing: add a column headed 'Sample type'"),
    ]
    twice = checked(b"Sample name,Sample type,sample_name\r\na,DNA,b\r\n")
    assert [p.reason for p in twice.problems] == ["the column appears twice (A and C); keep one"]
    assert next(p.reason for p in checked(b"foo,bar\r\n1,2\r\n").problems).startswith("no header row")
    assert [p.reason for p in checked(b"Sample name,Sample type\r\n").problems] == [
        "no sample rows below the header (row 1)"
    ]
    repeated = checked(b"Barcode,Sample name,Sample type\r\nB1,a,DNA\r\nB2,b,DNA\r\nB1,c,DNA\r\n")
    assert [(p.row, p.reason) for p in repeated.problems] == [(4, "barcode B1 is also in row 2")]


def test_the_choice_of_worksheet_skips_an_instructions_sheet_and_hidden_sheets() -> None:
    workbook = openpyxl.Workbook()
    notes = workbook.worksheets[0]
    notes.title = "Read me"
    notes.append(["Fill in the Samples sheet. Barcode is optional."])
    hidden = workbook.create_sheet("Old")
    hidden.append(HEADER)
    hidden.append(["X1", "old", "DNA"])
    hidden.sheet_state = "hidden"
    samples = workbook.create_sheet("Samples")
    samples.append(HEADER)
    samples.append(["B1", "new", "DNA"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    check = checked(buffer.getvalue())
    assert check.sheet == "Samples"
    assert values(check, "name") == ["new"]


@pytest.mark.parametrize(
    ("data", "content_type", "error", "message"),
    [
        (b"", "text/csv", EmptyUploadError, "empty"),
        (b"%PDF-1.7\n...", None, NotASpreadsheetError, "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", None, NotASpreadsheetError, "PNG"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), None, NotASpreadsheetError, r"\.xls"),
        (bytes(range(256)) * 20, "text/csv", NotASpreadsheetError, "binary"),
        (b"\x00\x01\x02\x03" * 500 + b"a,b", None, NotASpreadsheetError, "binary"),
        (b"<!DOCTYPE html><html><table><tr><td>a</td></tr></table>", None, NotASpreadsheetError, "HTML"),
        (b'{"samples": []}', "application/json", NotASpreadsheetError, "JSON"),
        (
            b"--x\r\nContent-Disposition: form-data",
            "multipart/form-data; boundary=x",
            NotASpreadsheetError,
            "multipart",
        ),
        (b"PK\x03\x04" + b"\x00" * 40, None, UnreadableSheetError, "damaged"),
        (b'a,b\r\n"never closed' + b"x" * 200_000, None, UnreadableSheetError, "quote"),
    ],
)
def test_what_is_not_a_spreadsheet_gets_a_clear_refusal(
    data: bytes, content_type: str | None, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        read_upload(data, content_type)


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_zip_files_that_are_not_workbooks_or_are_bombs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotASpreadsheetError, match="OpenDocument"):
        read_upload(_zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}))
    with pytest.raises(NotASpreadsheetError, match="Word"):
        read_upload(_zip({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<Types/>"}))
    monkeypatch.setattr(xlsxfile, "MAX_UNPACKED", 1_000_000)
    bomb = _zip({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": bytes(2_000_000)})
    assert len(bomb) < 10_000
    with pytest.raises(SheetTooLargeError, match="zip bomb"):
        read_upload(bomb)
    many = _zip({"xl/workbook.xml": b"<workbook/>", **{f"xl/x{i}.xml": b"<x/>" for i in range(501)}})
    with pytest.raises(SheetTooLargeError, match="entries"):
        read_upload(many)
    dtd = patched(xlsx([HEADER]), "xl/workbook.xml", b"<workbook", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><workbook')
    with pytest.raises(UnreadableSheetError, match="DTD"):
        read_upload(dtd)
    broken = patched(xlsx([HEADER]), "xl/workbook.xml", b"<sheets>", b"<sheets><broken")
    with pytest.raises(UnreadableSheetError, match="cannot be read"):
        read_upload(broken)


def test_too_many_rows_or_columns_are_refused_as_too_large() -> None:
    rows = "\r\n".join(["Sample name,Sample type", *(f"s{i},DNA" for i in range(MAX_ROWS + 1))])
    with pytest.raises(SheetTooLargeError, match="more than 5000 sample rows"):
        checked(rows.encode())
    assert len(checked("\r\n".join(rows.split("\r\n")[: MAX_ROWS + 1]).encode()).rows) == MAX_ROWS
    with pytest.raises(SheetTooLargeError, match="columns"):
        read_upload(("a," * 250 + "b\r\n").encode())


def test_blank_sheets_read_back_and_every_exported_cell_is_defused() -> None:
    fields = [*FIELDS, FieldSpec(key="stock", label="-80 position", type="text", help="=rack/box")]
    csv_sheet = blank_csv(fields)
    assert csv_sheet.startswith(codecs.BOM_UTF8)
    assert csv_sheet.decode("utf-8-sig").strip().endswith(",'-80 position")
    workbook = blank_xlsx(fields, title="=evil")
    check = check_sheet(read_upload(workbook), fields)
    assert check.columns == {f.key: i for i, f in enumerate(fields)}
    opened = openpyxl.load_workbook(io.BytesIO(workbook))
    assert opened.properties.title == "'=evil"
    assert opened["Choices"]["A3"].value == "'-80 stock"
    assert opened["Choices"].sheet_state == "hidden"
    assert opened["Samples"]["A1"].value == "Barcode"
    filled = opened["Samples"]
    filled.append(["B1", "one", "'-80 stock", 5, date(2024, 1, 2), None, None])
    buffer = io.BytesIO()
    opened.save(buffer)
    refilled = check_sheet(read_upload(buffer.getvalue()), fields)
    assert refilled.valid, refilled.problems
    assert values(refilled, "sample_type") == ["-80 stock"]
    report = report_csv([{"row": 2, "column": "Note", "cell": "F2", "value": "=cmd|' /C calc'!A0", "reason": "x"}])
    assert report.decode("utf-8-sig").splitlines()[1] == "2,Note,F2,'=cmd|' /C calc'!A0,x"


_CSV_ALPHABET = st.sampled_from(list(",;\t|\"\r\n =+-@.'_x0123456789ABCabcµé\x00\x07\u200b\ufeff"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=2000),
        st.text(_CSV_ALPHABET, max_size=400).map(lambda t: t.encode("utf-8")),
        st.text(_CSV_ALPHABET, max_size=400).map(lambda t: ",".join(HEADER).encode() + b"\r\n" + t.encode("utf-16")),
        st.binary(max_size=300).map(lambda b: xlsx([HEADER])[:200] + b),
    ),
    content_type=st.sampled_from([None, "text/csv", XLSX_TYPE, "application/octet-stream"]),
)
def test_any_bytes_are_read_or_refused_with_a_sheet_error(data: bytes, content_type: str | None) -> None:
    try:
        check = checked(data, content_type)
    except SheetError:
        return
    for problem in check.problems:
        assert problem.reason
        json.dumps(problem.to_dict(), ensure_ascii=False).encode("utf-8")  # storable and sendable as it is
    json.dumps([check.notes, check.ignored, check.headers], ensure_ascii=False).encode("utf-8")
