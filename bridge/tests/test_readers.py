"""sharehub_bridge.readers: every way an uploaded extract can be read, and every way it is refused.

Fixture files are generated here under tmp_path; none is committed. No database is needed.
"""

import codecs
import csv
import datetime as dt
import inspect
import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openpyxl.styles import Font

from sharehub_bridge.readers import ExtractFileError, ExtractLimits, Row, extract_open

# A value that stands in for personal data: no error message may ever contain it.
SECRET = "Jane Secretname"
MB = 1024 * 1024


def wall_clock(*parts: int) -> dt.datetime:
    """Excel cells hold times without a zone (openpyxl refuses aware datetimes)."""
    return dt.datetime(*parts)  # noqa: DTZ001


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return path


def read_all(path: Path, filename: str | None = None, **kwargs) -> tuple[list[str], list[Row]]:
    with extract_open(path, filename=filename or path.name, **kwargs) as reader:
        return reader.header, list(reader.rows())


def refusal(path: Path, filename: str | None = None, **kwargs) -> str:
    """The message of the whole-file error, checked to hold no cell value."""
    with pytest.raises(ExtractFileError) as caught:
        read_all(path, filename, **kwargs)
    message = str(caught.value)
    assert SECRET not in message
    assert SECRET.split()[1] not in message
    return message


def csv_text(rows: list[list[str]], delimiter: str = ",", lineterminator: str = "\r\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=lineterminator).writerows(rows)
    return out.getvalue()


# --- CSV: encodings ----------------------------------------------------------------------------


def test_utf8_csv_rows_keep_values_exactly(tmp_path):
    path = write(tmp_path, "x.csv", " Name ,DOB,Notes\r\nZoë Ånström,2001-02-03,  padded  \r\n")
    with extract_open(path, filename="extract.csv") as reader:
        assert (reader.format, reader.encoding, reader.delimiter) == ("csv", "utf-8", ",")
        assert reader.header == ["Name", "DOB", "Notes"]
        assert reader.size_bytes == path.stat().st_size
        rows = list(reader.rows())
    assert rows == [
        Row(2, {"Name": "Zoë Ånström", "DOB": "2001-02-03", "Notes": "  padded  "}),
    ]


def test_utf8_bom_is_stripped_from_the_first_column_name(tmp_path):
    path = write(tmp_path, "x.csv", "\ufeffnhs_number,name\n9434765919,=cmd()\n")
    with extract_open(path, filename="x.csv") as reader:
        assert reader.encoding == "utf-8-sig"
        assert reader.header == ["nhs_number", "name"]
        # Formula-looking text is stored as text; output writers neutralise it, not the reader.
        assert [row.values for row in reader.rows()] == [
            {"nhs_number": "9434765919", "name": "=cmd()"}
        ]


def test_windows_1252_csv_from_excel_is_decoded(tmp_path):
    path = write(tmp_path, "x.csv", "name;balance\r\nRenée;£12\r\n", encoding="cp1252")
    with extract_open(path, filename="x.csv") as reader:
        assert (reader.encoding, reader.delimiter) == ("cp1252", ";")
        assert [row.values for row in reader.rows()] == [{"name": "Renée", "balance": "£12"}]


def test_multibyte_character_cut_by_the_encoding_sample_is_still_utf8(tmp_path):
    # Put the two bytes of "é" either side of the 1 MB sample boundary.
    prefix = b"id,name\n"
    filler_rows = (MB - len(prefix) - 1) // 9
    body = b"".join(b"%06d,a\n" % i for i in range(filler_rows))
    data = prefix + body
    data += b"x" * (MB - 1 - len(data)) + "é,b\n".encode()
    assert data[MB - 1 : MB + 1] == "é".encode()
    path = write(tmp_path, "x.csv", data)
    with extract_open(path, filename="x.csv") as reader:
        assert reader.encoding == "utf-8"
        last = list(reader.rows())[-1]
    assert last.values == {"id": "x" * (len(last.values["id"]) - 1) + "é", "name": "b"}
    assert last.problem is None


def test_text_that_is_neither_utf8_nor_windows_1252_is_refused(tmp_path):
    # 0x81 is undefined in Windows-1252 and invalid as UTF-8.
    path = write(tmp_path, "x.csv", b"name,dob\n\x81\x81Jane Secretname,2001\n")
    assert "not UTF-8 or Windows-1252" in refusal(path)


def test_invalid_utf8_after_the_sample_fails_with_its_line_number(tmp_path):
    lines = [b"id,name\n"] + [b"%08d,%s\n" % (i, b"a" * 30) for i in range(40_000)]
    lines.append(b"99999999,Jane Secretname \xa3\n")  # cp1252 pound sign, 1.5 MB in
    path = write(tmp_path, "x.csv", b"".join(lines))
    with extract_open(path, filename="x.csv") as reader:
        assert reader.encoding == "utf-8"
        seen = 0
        with pytest.raises(ExtractFileError) as caught:
            for _ in reader.rows():
                seen += 1
    message = str(caught.value)
    assert "Line 40002 is not valid UTF-8" in message
    assert "CSV UTF-8" in message
    assert SECRET not in message
    assert seen > 30_000


def test_windows_1252_file_with_an_undefined_byte_later_fails_with_its_line_number(tmp_path):
    lines = [b"id,name\n", b"1,Ren\xe9e\n"] + [b"%08d,abc\n" % i for i in range(120_000)]
    lines.append(b"2,bad \x81\n")
    path = write(tmp_path, "x.csv", b"".join(lines))
    with extract_open(path, filename="x.csv") as reader:
        assert reader.encoding == "cp1252"
        with pytest.raises(ExtractFileError, match="Line 120003 is not valid Windows-1252"):
            list(reader.rows())


def test_bom_then_invalid_utf8_is_not_taken_for_windows_1252(tmp_path):
    path = write(tmp_path, "x.csv", codecs.BOM_UTF8 + b"name,town\nJane Secretname,\xa3\n")
    assert refusal(path).startswith("Line 2 is not valid UTF-8 text. Save it as CSV UTF-8")


def test_utf16_is_refused_with_advice_to_save_as_utf8(tmp_path):
    path = write(tmp_path, "x.txt", "name\tdob\r\nJane Secretname\t2001\r\n", encoding="utf-16")
    message = refusal(path)
    assert "UTF-16" in message
    assert "CSV UTF-8" in message


# --- CSV: delimiters ---------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_each_delimiter_is_detected_despite_the_others_in_values(tmp_path, delimiter):
    rows = [
        ["id", "address", "notes"],
        ["1", "1 High St, Leeds; LS1", "tab\there"],
        ["2", "2 Low Rd; York, YO1", "a;b,c"],
    ]
    path = write(tmp_path, "x.csv", csv_text(rows, delimiter))
    with extract_open(path, filename="x.csv") as reader:
        assert reader.delimiter == delimiter
        assert reader.header == rows[0]
        assert [list(row.values.values()) for row in reader.rows()] == rows[1:]


def test_tsv_extension_reads_tabs(tmp_path):
    path = write(tmp_path, "x.tsv", "a\tb\n1\t2\n")
    with extract_open(path, filename="Export.TSV") as reader:
        assert reader.delimiter == "\t"
        assert [row.values for row in reader.rows()] == [{"a": "1", "b": "2"}]


def test_excel_sep_line_names_the_delimiter(tmp_path):
    path = write(tmp_path, "x.csv", "sep=;\r\nname;town\r\nAnn;Leeds, West\r\n")
    with extract_open(path, filename="x.csv") as reader:
        assert reader.delimiter == ";"
        assert reader.header == ["name", "town"]
        assert list(reader.rows()) == [Row(3, {"name": "Ann", "town": "Leeds, West"})]


def test_pipe_separated_file_is_refused_naming_the_separator(tmp_path):
    path = write(tmp_path, "x.csv", "name|dob|nhs\nJane Secretname|2001-01-01|943\n")
    message = refusal(path)
    assert "commas, semicolons or tabs" in message
    assert "'|'" in message


def test_sep_line_naming_an_unsupported_separator_is_refused(tmp_path):
    path = write(tmp_path, "x.csv", "sep=|\nname|dob\nJane Secretname|2001\n")
    assert "this file seems to use '|'" in refusal(path)


def test_single_column_file_without_separators_is_allowed(tmp_path):
    path = write(tmp_path, "x.csv", "nhs_number\n9434765919\n\n4010232137\n")
    header, rows = read_all(path)
    assert header == ["nhs_number"]
    assert rows == [Row(2, {"nhs_number": "9434765919"}), Row(4, {"nhs_number": "4010232137"})]


def test_single_column_with_commas_in_its_values_is_not_split(tmp_path):
    path = write(tmp_path, "x.csv", "address\n1 High St, Leeds\n2 Low Rd, York\n")
    with extract_open(path, filename="x.csv") as reader:
        assert reader.header == ["address"]
        assert [row.values["address"] for row in reader.rows()] == [
            "1 High St, Leeds",
            "2 Low Rd, York",
        ]


def test_whole_lines_in_quotes_are_refused(tmp_path):
    path = write(tmp_path, "x.csv", '"name,dob"\n"Jane Secretname,2001-01-01"\n')
    assert "only one column" in refusal(path)


# --- CSV: header row ---------------------------------------------------------------------------


def test_header_with_an_empty_name_is_refused(tmp_path):
    path = write(tmp_path, "x.csv", "name,dob,,nhs\nJane Secretname,2001,x,943\n")
    message = refusal(path)
    assert message.startswith("The first row must be the column names")
    assert "column 3 has no name" in message


def test_trailing_empty_header_cells_are_dropped_like_in_xlsx(tmp_path):
    _, rows = read_all(write(tmp_path, "x.csv", "a,b,,\n1,2,,\n3,4,,x\n"))
    assert rows == [
        Row(2, {"a": "1", "b": "2"}),
        Row(3, {"a": "3", "b": "4"}, "Row has 4 cells but the header has 2 columns"),
    ]


def test_duplicate_header_names_are_refused_after_strip_and_casefold(tmp_path):
    path = write(tmp_path, "x.csv", "name,DOB, dob \nJane Secretname,2001,2001\n")
    assert "have the same name" in refusal(path)


def test_a_first_row_of_data_is_refused_without_quoting_it(tmp_path):
    path = write(tmp_path, "x.csv", "9434765919,Jane Secretname,01/02/2001,12.5\n")
    message = refusal(path)
    assert "looks like data: 3 of 4 cells are numbers or dates" in message
    assert "9434765919" not in message


def test_some_numeric_column_names_are_allowed(tmp_path):
    header, _ = read_all(write(tmp_path, "x.csv", "id,2023,2024,name\n1,2,3,x\n"))
    assert header == ["id", "2023", "2024", "name"]


# --- CSV: structure ----------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_quoted_newlines_delimiters_and_doubled_quotes(tmp_path, ending):
    text = ending.join(
        [
            "id,note,tail",
            '1,"line one\r\nline two, with comma",x',
            '2,"she said ""hi""",y',
            '3,"only\nLF and \rCR",z',
            "",
            "",
        ]
    )
    header, rows = read_all(write(tmp_path, "x.csv", text))
    assert header == ["id", "note", "tail"]
    assert [(row.number, row.values["note"], row.problem) for row in rows] == [
        (2, "line one\r\nline two, with comma", None),
        (3, 'she said "hi"', None),
        (4, "only\nLF and \rCR", None),
    ]


def test_blank_rows_are_skipped_but_counted_in_row_numbers(tmp_path):
    text = "a,b\n\n1,2\n,\n  ,  \n3,4\n\n\n"
    _, rows = read_all(write(tmp_path, "x.csv", text))
    assert rows == [Row(3, {"a": "1", "b": "2"}), Row(6, {"a": "3", "b": "4"})]


def test_leading_blank_lines_before_the_header_are_skipped(tmp_path):
    _, rows = read_all(write(tmp_path, "x.csv", "\n\na,b\n1,2\n"))
    assert rows == [Row(4, {"a": "1", "b": "2"})]


def test_ragged_rows_are_row_problems_with_best_effort_values(tmp_path):
    text = "a,b,c\n1,2\n1,2,3,4\n1,2,3,,\n1,2,3\n"
    _, rows = read_all(write(tmp_path, "x.csv", text))
    assert rows == [
        Row(2, {"a": "1", "b": "2", "c": ""}, "Row has 2 cells but the header has 3 columns"),
        Row(3, {"a": "1", "b": "2", "c": "3"}, "Row has 4 cells but the header has 3 columns"),
        # Trailing empty cells (a trailing separator) lose nothing, so no problem.
        Row(4, {"a": "1", "b": "2", "c": "3"}),
        Row(5, {"a": "1", "b": "2", "c": "3"}),
    ]


def test_an_unclosed_quote_swallowing_the_file_is_refused_with_its_row(tmp_path):
    lines = ["a,b", '1,"Jane Secretname'] + [f"{i},filler text" for i in range(80_000)]
    path = write(tmp_path, "x.csv", "\n".join(lines))
    message = refusal(path)
    assert message.startswith("Row 2 has a cell of more than 1,048,576 characters")
    assert "never closed" in message


def test_a_line_longer_than_the_cap_is_refused_without_reading_it_whole(tmp_path):
    path = write(tmp_path, "x.csv", b"a,b\n" + b"x," * (9 * MB))
    assert refusal(path).startswith("Line 2 is longer than 16,777,216 characters")


def test_rows_can_be_taken_once_and_closing_is_idempotent(tmp_path):
    reader = extract_open(write(tmp_path, "x.csv", "a\n1\n"), filename="x.csv")
    assert inspect.isgenerator(reader.rows())
    with pytest.raises(RuntimeError):
        reader.rows()
    reader.close()
    reader.close()


# --- Whole-file refusals: size, emptiness, binary content, type --------------------------------


def test_size_limit_is_inclusive_and_one_byte_over_is_refused(tmp_path):
    path = write(tmp_path, "x.csv", "a,b\n1,2\n")
    size = path.stat().st_size
    assert read_all(path, limits=ExtractLimits(max_bytes=size))[0] == ["a", "b"]
    message = refusal(path, limits=ExtractLimits(max_bytes=size - 1))
    assert message.startswith("The file is larger than the 7 bytes limit (it is 8 bytes).")


def test_default_limit_is_2_gb_and_checked_before_reading(tmp_path):
    # Sparse files: nothing is written, and the size is refused before any byte is read.
    at_limit, over = tmp_path / "at.csv", tmp_path / "over.csv"
    for path, size in ((at_limit, 2 * 1024**3), (over, 2 * 1024**3 + 1)):
        with open(path, "wb") as file:
            file.truncate(size)
    assert refusal(over).startswith("The file is larger than the 2 GB limit.")
    # At the limit the size is fine; what is wrong is the (all-NUL) content.
    assert refusal(at_limit).startswith("This is not a text file")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("x.csv", b""),
        ("x.csv", b"  \r\n\t\n"),
        ("x.csv", codecs.BOM_UTF8),
        ("x.csv", codecs.BOM_UTF8 + b"\r\n\r\n"),
        ("x.csv", b",,,\n , \n"),
        ("x.jsonl", b"\n\n"),
        ("x.xlsx", b""),
    ],
)
def test_empty_files_are_refused(tmp_path, name, data):
    message = refusal(write(tmp_path, name, data))
    assert message == "The file is empty. Export the extract again, with its header row."


def test_whitespace_beyond_the_first_megabyte_still_counts_as_empty(tmp_path):
    path = write(tmp_path, "x.csv", b" \r\n" * MB)
    assert refusal(path).startswith("The file is empty")
    _, rows = read_all(write(tmp_path, "y.csv", b" \r\n" * MB + b"a\n1\n"))
    assert rows == [Row(MB + 2, {"a": "1"})]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"name,dob\nJane Secretname\x00\x01,2001\n", "it contains binary data"),
        (b"%PDF-1.7\nJane Secretname", "it looks like a PDF document"),
        (b"\x89PNG\r\n\x1a\nJane Secretname", "it looks like a PNG image"),
        (b"\xff\xd8\xff\xe0Jane Secretname", "it looks like a JPEG image"),
    ],
)
def test_binary_content_with_a_text_name_is_refused(tmp_path, data, expected):
    message = refusal(write(tmp_path, "x.csv", data))
    assert message.startswith("This is not a text file")
    assert expected in message


def test_workbook_renamed_to_csv_is_refused(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["name"])
    workbook.active.append([SECRET])
    workbook.save(tmp_path / "book.xlsx")
    (tmp_path / "book.xlsx").rename(tmp_path / "book.csv")
    message = refusal(tmp_path / "book.csv")
    assert "named .csv but is an Excel workbook" in message
    assert ".xlsx name" in message


@pytest.mark.parametrize("name", ["x.xlsx", "x.csv", "x.xls"])
def test_ole_files_are_password_protected_or_old_xls(tmp_path, name):
    data = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + SECRET.encode()
    message = refusal(write(tmp_path, name, data))
    assert "password-protected" in message or "Old Excel .xls" in message
    assert "save it as" in message


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("extract.docx", "'.docx' files cannot be read"),
        ("extract", "Files without an extension cannot be read"),
    ],
)
def test_unsupported_file_types_are_refused(tmp_path, filename, expected):
    message = refusal(write(tmp_path, "x.bin", "a,b\n1,2\n"), filename)
    assert expected in message
    assert ".csv" in message and ".xlsx" in message and ".jsonl" in message


# --- XLSX --------------------------------------------------------------------------------------


def test_xlsx_values_come_out_as_the_text_a_person_sees(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append([" NHS number ", "Name", "DOB", "Seen at", "Score", "Flag", "Empty"])
    sheet.append(
        [
            9434765919,
            SECRET,
            dt.date(2001, 2, 3),
            wall_clock(2024, 5, 6, 14, 30),
            0.1 + 0.2,
            True,
            None,
        ]
    )
    sheet.append(
        [9434765919.0, "  kept  ", wall_clock(2001, 2, 3), wall_clock(2024, 5, 6), 2.5, False, ""]
    )
    sheet.append([None, None, None])
    sheet.append([4010232137, "short row"])
    for row in range(6, 10):  # formatted but empty trailing rows, as Excel leaves them
        sheet.cell(row=row, column=1).font = Font(bold=True)
    sheet.cell(row=9, column=2).value = "   "
    path = tmp_path / "x.xlsx"
    workbook.save(path)

    with extract_open(path, filename="x.xlsx") as reader:
        assert (reader.format, reader.encoding, reader.delimiter) == ("xlsx", None, None)
        assert reader.header == ["NHS number", "Name", "DOB", "Seen at", "Score", "Flag", "Empty"]
        rows = list(reader.rows())
        assert reader.bytes_read() == reader.size_bytes == path.stat().st_size
    assert [row.number for row in rows] == [2, 3, 5]
    assert [list(row.values.values()) for row in rows] == [
        ["9434765919", SECRET, "2001-02-03", "2024-05-06T14:30:00", "0.3", "true", ""],
        ["9434765919", "  kept  ", "2001-02-03", "2024-05-06", "2.5", "false", ""],
        ["4010232137", "short row", "", "", "", "", ""],
    ]
    assert all(row.problem is None for row in rows)


def test_xlsx_values_beyond_the_header_are_a_row_problem(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["a", "b", None])
    workbook.active.append([1, 2, None, "stray"])
    workbook.active.append([3, 4, None, None])
    path = tmp_path / "x.xlsx"
    workbook.save(path)
    header, rows = read_all(path)
    assert header == ["a", "b"]
    assert rows == [
        Row(2, {"a": "1", "b": "2"}, "Row has 4 cells but the header has 2 columns"),
        Row(3, {"a": "3", "b": "4"}),
    ]


def test_xlsx_header_rules_match_csv(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append([9434765919, SECRET, dt.date(2001, 2, 3)])
    path = tmp_path / "x.xlsx"
    workbook.save(path)
    assert "looks like data: 2 of 3 cells" in refusal(path)


def test_xlsx_with_an_empty_first_sheet_is_refused(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.create_sheet("Second").append(["a"])
    path = tmp_path / "x.xlsx"
    workbook.save(path)
    assert refusal(path).startswith("The first worksheet is empty")


def test_text_named_xlsx_is_not_a_valid_workbook(tmp_path):
    message = refusal(write(tmp_path, "x.xlsx", f"name,dob\n{SECRET},2001\n"))
    assert message.startswith("This is not a valid Excel .xlsx file")
    assert "if it is CSV, upload it with a .csv name" in message


def test_zip_that_is_not_a_workbook_is_refused(tmp_path):
    path = tmp_path / "x.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", SECRET)
    assert refusal(path).startswith("This is not a valid Excel .xlsx file")
    write(tmp_path, "cut.xlsx", b"PK\x03\x04" + b"\x01" * 100)
    assert refusal(tmp_path / "cut.xlsx").startswith("This is not a valid Excel .xlsx file")


def _workbook_with_extra_member(path: Path, member: str, zeros: int) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["a"])
    workbook.active.append([1])
    workbook.save(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(member, "w", force_zip64=True) as out:
            chunk = bytes(MB)
            for _ in range(zeros // MB):
                out.write(chunk)


def test_zip_bomb_is_refused_before_openpyxl_opens_it(tmp_path, monkeypatch):
    path = tmp_path / "bomb.xlsx"
    _workbook_with_extra_member(path, "xl/media/image1.png", 200 * MB)
    assert path.stat().st_size < 2 * MB

    def must_not_open(*args, **kwargs):
        raise AssertionError("openpyxl was given a zip bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", must_not_open)
    message = refusal(path)
    assert "compressed far more tightly than a real workbook" in message
    assert "100 times" in message


def test_xlsx_uncompressed_total_limit(tmp_path):
    path = tmp_path / "big.xlsx"
    _workbook_with_extra_member(path, "xl/media/image1.png", 2 * MB)
    limits = ExtractLimits(max_xlsx_uncompressed_bytes=MB, max_xlsx_compression_ratio=10**9)
    message = refusal(path, limits=limits)
    assert message.startswith("This .xlsx file unpacks to 2 MB, over the 1 MB limit.")
    # With the default limits the same workbook is only refused for its compression ratio,
    # and a generous ratio lets it through.
    assert read_all(path, limits=ExtractLimits(max_xlsx_compression_ratio=10**9))[0] == ["a"]


def test_xlsx_progress_reaches_the_file_size(tmp_path):
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["id", "name"])
    for i in range(5000):
        sheet.append([i, f"person {i}"])
    path = tmp_path / "x.xlsx"
    workbook.save(path)
    with extract_open(path, filename="x.xlsx") as reader:
        seen = []
        for row in reader.rows():
            if row.number % 500 == 0:
                seen.append(reader.bytes_read())
        assert seen == sorted(seen)
        assert 0 < seen[0] <= reader.size_bytes
        assert reader.bytes_read() == reader.size_bytes
    assert row.values == {"id": "4999", "name": "person 4999"}


# --- JSON Lines --------------------------------------------------------------------------------


def test_jsonl_rows_follow_the_first_objects_keys(tmp_path):
    lines = [
        {"nhs": 9434765919, " name ": SECRET, "score": 2.0, "ratio": 0.25, "ok": True, "gp": None},
        {"nhs": "4010232137", " name ": "B", "ok": False},
        {"nhs": 1, " name ": "C", "score": 1.5, "extra": 1, "more": 2},
        {"nhs": 2, " name ": {"first": SECRET}, "ratio": [1, 2]},
    ]
    text = "\n".join(json.dumps(line) for line in lines[:2]) + "\n\n"
    text += "\n".join(json.dumps(line) for line in lines[2:]) + "\n"
    with extract_open(write(tmp_path, "x.jsonl", text), filename="x.jsonl") as reader:
        assert (reader.format, reader.encoding, reader.delimiter) == ("jsonl", None, None)
        assert reader.header == ["nhs", "name", "score", "ratio", "ok", "gp"]
        rows = list(reader.rows())
    assert rows[0] == Row(
        1,
        {
            "nhs": "9434765919",
            "name": SECRET,
            "score": "2",
            "ratio": "0.25",
            "ok": "true",
            "gp": "",
        },
    )
    assert rows[1] == Row(
        2, {"nhs": "4010232137", "name": "B", "score": "", "ratio": "", "ok": "false", "gp": ""}
    )
    assert rows[2].number == 4
    assert rows[2].problem == "2 key(s) not in the first line's keys"
    assert rows[2].values["score"] == "1.5"
    assert rows[3].number == 5
    assert rows[3].problem == "nested objects or lists in 'name', 'ratio'"
    assert SECRET not in rows[3].problem


def test_jsonl_bad_lines_are_row_problems_with_line_numbers(tmp_path):
    text = '{"a": "x", "b": 1}\n{"a": "Jane Secretname", b}\n[1, 2]\nnull\n{"a": NaN}\n{"a": "y"}\n'
    _, rows = read_all(write(tmp_path, "x.ndjson", text))
    blank = {"a": "", "b": ""}
    assert rows == [
        Row(1, {"a": "x", "b": "1"}),
        Row(
            2,
            blank,
            "Line is not valid JSON "
            "(Expecting property name enclosed in double quotes at column 26)",
        ),
        Row(3, blank, "Line is an array, not a JSON object"),
        Row(4, blank, "Line is null, not a JSON object"),
        Row(5, blank, "Line is not valid JSON"),
        Row(6, {"a": "y", "b": ""}),
    ]


def test_json_file_holding_json_lines_is_read(tmp_path):
    path = write(tmp_path, "x.json", '\ufeff{"a": 1}\r\n{"a": 2}\r\n')
    _, rows = read_all(path)
    assert [row.values for row in rows] == [{"a": "1"}, {"a": "2"}]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("x.json", '  [{"name": "Jane Secretname"}]', "This is a JSON array, not JSON Lines."),
        ("x.jsonl", '{\n  "name": "Jane Secretname"\n}\n', "This is not JSON Lines: line 1 is"),
        ("x.jsonl", '\n"Jane Secretname"\n', "This is not JSON Lines: line 2 is"),
        ("x.jsonl", "{}\n", "The first object (line 1) has no keys"),
        ("x.jsonl", '{"a": 1, "A ": 2}\n', "columns 1 and 2 have the same name"),
        ("x.jsonl", '{"": "Jane Secretname"}\n', "column 1 has no name"),
    ],
)
def test_files_that_are_not_json_lines_are_refused(tmp_path, name, text, expected):
    assert expected in refusal(write(tmp_path, name, text))


def test_jsonl_invalid_utf8_is_refused_with_its_line(tmp_path):
    early = write(tmp_path, "x.jsonl", b'{"a": "x"}\n{"a": "Jane Secretname \xa3"}\n')
    assert refusal(early).startswith("Line 2 is not valid UTF-8 text")
    late = b'{"a": "x"}\n' * 120_000 + b'{"a": "\xa3"}\n'
    with extract_open(write(tmp_path, "y.jsonl", late), filename="y.jsonl") as reader:
        with pytest.raises(ExtractFileError, match="Line 120001 is not valid UTF-8"):
            list(reader.rows())


# --- Streaming: progress and memory ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line"), [("x.csv", "{i},abc,def\n"), ("x.jsonl", '{{"i": {i}}}\n')]
)
def test_progress_increases_to_the_file_size(tmp_path, name, line):
    header = "i,a,b\n" if name.endswith(".csv") else ""
    path = write(tmp_path, name, header + "".join(line.format(i=i) for i in range(100_000)))
    with extract_open(path, filename=name) as reader:
        assert reader.bytes_read() < reader.size_bytes
        progress = [reader.bytes_read() for row in reader.rows() if row.number % 1000 == 0]
        assert progress == sorted(progress)
        assert progress[0] < reader.size_bytes / 2
        assert reader.bytes_read() == reader.size_bytes
    assert reader.bytes_read() == reader.size_bytes


def test_reading_does_not_hold_rows_in_memory(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as file:
        file.write("id,name,dob,postcode\n")
        file.writelines(f"{i},Person {i},2001-02-03,LS{i % 30} 1AB\n" for i in range(200_000))
    assert path.stat().st_size > 7 * MB
    with extract_open(path, filename="big.csv") as reader:
        rows = reader.rows()
        assert inspect.isgenerator(rows)
        tracemalloc.start()
        try:
            count = sum(1 for _ in rows)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 200_000
    assert peak < 20 * MB


# --- Property: anything csv.writer writes comes back exactly -----------------------------------

_SPECIALS = st.sampled_from([",", ";", "\t", '"', "\n", "\r", " ", "|", "'", "="])
_HEADER_NAME = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz_ éßÅ"), min_size=1, max_size=8)


def _cells(encoding: str) -> st.SearchStrategy[str]:
    if encoding == "cp1252":
        # Control characters never occur in real cp1252 text, and the reader treats them as a
        # sign of binary content.
        chars = st.characters(codec="cp1252", exclude_categories=("Cc",))
    else:
        chars = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
    return st.text(st.one_of(_SPECIALS, chars), max_size=10)


@st.composite
def _tables(draw):
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    names = draw(
        st.lists(
            _HEADER_NAME.map(str.strip).filter(bool), min_size=1, max_size=5, unique_by=str.casefold
        )
    )
    rows = draw(
        st.lists(st.lists(_cells(encoding), min_size=len(names), max_size=len(names)), max_size=8)
    )
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    return encoding, delimiter, names, rows, quoting


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(table=_tables())
def test_any_table_written_by_csv_writer_round_trips(tmp_path, table):
    encoding, delimiter, names, rows, quoting = table
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quoting=quoting).writerows([names, *rows])
    data = out.getvalue().encode(encoding)
    if encoding == "cp1252":
        # cp1252 bytes that also happen to be valid UTF-8 ("Ã©") are read as UTF-8, as any
        # detector must: real exports do not contain such sequences.
        try:
            data.decode("ascii")
        except UnicodeDecodeError:
            try:
                data.decode("utf-8")
                assume(False)
            except UnicodeDecodeError:
                pass
    path = tmp_path / "table.csv"
    path.write_bytes(data)

    with extract_open(path, filename="table.csv") as reader:
        assert reader.header == names
        got = [(row.number, list(row.values.values()), row.problem) for row in reader.rows()]
    expected = [
        (number, cells, None)
        for number, cells in enumerate(rows, start=2)
        if "".join(cells).strip()  # fully blank rows are skipped
    ]
    assert got == expected
