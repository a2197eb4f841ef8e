"""Read an uploaded extract file (CSV, Excel .xlsx or JSON Lines) as a stream of rows.

`extract_open` decides up front whether the whole file can be read at all, and if not raises one
`ExtractFileError` whose message tells the agency admin what to fix. Problems confined to one row
(a ragged CSV line, a JSON line that does not parse) are reported on that `Row` instead, so the
ingest can show them all at once.

Privacy: extracts hold personal data, so error messages name columns, line numbers, sizes and
encodings, never cell values. Values are passed through untouched (no trimming, no CSV-injection
neutralising); normalisation and output escaping each have their own module.

Memory stays flat whatever the file size: CSV and JSON Lines are read line by line with a cap on
line length, and an .xlsx is checked for zip bombs before openpyxl opens it in read-only mode.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import openpyxl

__all__ = ["ExtractFileError", "ExtractLimits", "ExtractReader", "Row", "extract_open"]

# How much of the start of a file decides its encoding and delimiter. 1 MB holds thousands of rows
# of a typical extract, enough to meet the first accented name in most cp1252 exports.
_SAMPLE_BYTES = 1024 * 1024
# A NUL byte this early means binary content (text formats never contain NUL).
_BINARY_PROBE_BYTES = 64 * 1024
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50
# One cell of a records extract is never this long; a longer one is almost always a quote that was
# opened and never closed, which would otherwise swallow the rest of the file into one cell.
_CSV_FIELD_LIMIT = 1024 * 1024
# Longest physical line read in one go. Without a cap, a file with no line breaks would be read
# into memory whole before the CSV field limit could apply.
_MAX_LINE_CHARS = 16 * 1024 * 1024
# Small XML parts compress far better than 100:1 and cannot be bombs, so the ratio check skips them.
_RATIO_CHECK_MIN_BYTES = 1024 * 1024

_EXTENSION_FORMATS = {
    "csv": "csv",
    "txt": "csv",
    "tsv": "csv",
    "xlsx": "xlsx",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "jsonl",
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OTHER_MAGICS = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
_CSV_DELIMITERS = (",", ";", "\t")
# Separators people export with that we do not read: a header containing one of these and no
# supported delimiter was almost certainly split on it.
_UNSUPPORTED_SEPARATORS = ("|", "^", "~")
_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}
# C0 controls other than tab, LF, VT, FF, CR: real cp1252 text never has them; binary data does.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_SEP_LINE = re.compile(r"sep=(.)(?:\r\n|\n|\r|$)", re.IGNORECASE)
_NUMBER_LIKE = re.compile(r"[-+]?(?:\d+(?:[.,]\d+)*|[.,]\d+)(?:[eE][-+]?\d+)?")
_DATE_LIKE = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{2,4}"
)

_HOW_TO_EXPORT = {
    "csv": "Export the extract as CSV UTF-8 and upload that.",
    "jsonl": "Export the extract as JSON Lines (UTF-8, one JSON object per line) and upload that.",
}
_SAVE_AS_UTF8 = "Save it as CSV UTF-8 (in Excel: File > Save As > CSV UTF-8) and upload it again."


class ExtractFileError(Exception):
    """The whole file cannot be read. str(error) is a user-facing message saying what to fix.

    It must never contain cell values (they may be personal data): name columns, line numbers,
    sizes, encodings only.
    """


@dataclass(frozen=True)
class ExtractLimits:
    max_bytes: int = 2 * 1024**3  # file size limit
    max_xlsx_uncompressed_bytes: int = 4 * 1024**3  # total uncompressed size of an XLSX's parts
    max_xlsx_compression_ratio: int = 100  # per zip member, uncompressed/compressed


@dataclass(frozen=True, slots=True)
class Row:
    # Row number as a person opening the file sees it: the spreadsheet row (header 1, first data
    # row 2, blank rows counted). For CSV that is the record number, which is the line number
    # unless a quoted cell contains a line break; for JSON Lines it is the line number.
    number: int
    values: dict[str, str]  # column -> cell text ("" for empty); every header column present
    problem: str | None = None  # row-level problem; values are then best-effort


class ExtractReader:
    """An open extract: its header, and its data rows as a stream (see `extract_open`)."""

    format: str  # "csv" | "xlsx" | "jsonl"
    encoding: str | None  # "utf-8", "utf-8-sig" or "cp1252" for CSV; None otherwise
    delimiter: str | None  # ",", ";" or "\t" for CSV; None otherwise
    header: list[str]  # column names as in the file, stripped of surrounding whitespace
    size_bytes: int

    def __init__(
        self,
        *,
        format: str,
        header: list[str],
        size_bytes: int,
        file: IO[bytes],
        encoding: str | None = None,
        delimiter: str | None = None,
    ) -> None:
        self.format = format
        self.encoding = encoding
        self.delimiter = delimiter
        self.header = header
        self.size_bytes = size_bytes
        self._file = file
        self._rows_taken = False
        self._finished = False
        self._closed = False
        self._position = 0

    def rows(self) -> Iterator[Row]:
        """Stream the data rows (one pass; the file is never held in memory).

        Raises ExtractFileError part-way if the file turns out to be unreadable further on
        (e.g. invalid UTF-8 after the first megabyte); the ingest treats that as a failed extract.
        """
        if self._closed:
            raise ValueError("rows() called on a closed ExtractReader")
        if self._rows_taken:
            raise RuntimeError("rows() can be called only once per ExtractReader")
        self._rows_taken = True
        return self._iter_rows()

    def bytes_read(self) -> int:
        """How far into the file the reader is, for a progress bar (approximate for xlsx)."""
        if self._finished:
            return self.size_bytes
        if not self._closed:
            try:
                self._position = self._file.tell()
            except (OSError, ValueError):
                pass
        return min(self._position, self.size_bytes)

    def close(self) -> None:
        if self._closed:
            return
        self.bytes_read()
        self._closed = True
        self._release()

    def __enter__(self) -> ExtractReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _iter_rows(self) -> Iterator[Row]:
        raise NotImplementedError

    def _release(self) -> None:
        self._file.close()


def extract_open(
    path: Path,
    *,
    filename: str,
    limits: ExtractLimits = ExtractLimits(),
) -> ExtractReader:
    """Open an uploaded extract, or raise ExtractFileError saying why the whole file is unusable.

    `filename` is the name the user uploaded; its extension picks the format, and the content is
    sniffed as well so that, say, a workbook renamed to .csv is caught rather than read as text.
    """
    path = Path(path)
    format = _format_for(filename)
    file = open(path, "rb")  # the reader owns it from here and closes it
    try:
        # The size of what was opened, checked before a byte is read.
        size = os.fstat(file.fileno()).st_size
        if size > limits.max_bytes:
            raise ExtractFileError(_too_large_message(size, limits.max_bytes))
        if size == 0:
            raise ExtractFileError(_EMPTY_MESSAGE)
        head = file.read(_SAMPLE_BYTES)
        if head.startswith(_OLE_MAGIC):
            raise ExtractFileError(_OLE_MESSAGE)
        if format == "xlsx":
            return _open_xlsx(file, head, size, limits)
        _refuse_non_text(head, format, filename)
        _refuse_blank(file, head, size)
        if format == "jsonl":
            return _open_jsonl(file, head, size)
        return _open_csv(file, head, size, path)
    except BaseException:
        file.close()
        raise


# --- Whole-file checks shared by all formats -------------------------------------------------

_EMPTY_MESSAGE = "The file is empty. Export the extract again, with its header row."
_OLE_MESSAGE = (
    "This file is password-protected or an old Excel .xls workbook, which cannot be read. "
    "Open it in Excel and save it as .xlsx without a password (or as CSV UTF-8), "
    "then upload it again."
)


def _size_text(n: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _too_large_message(size: int, limit: int) -> str:
    size_text, limit_text = _size_text(size), _size_text(limit)
    detail = "" if size_text == limit_text else f" (it is {size_text})"
    return (
        f"The file is larger than the {limit_text} limit{detail}. "
        "Export a smaller extract, with only the columns and records to be shared, "
        "and upload it again."
    )


def _format_for(filename: str) -> str:
    extension = os.path.splitext(filename)[1].lower().removeprefix(".")
    if extension in _EXTENSION_FORMATS:
        return _EXTENSION_FORMATS[extension]
    if extension == "xls":
        raise ExtractFileError(
            "Old Excel .xls files cannot be read. Open the file in Excel and save it as "
            ".xlsx (Excel Workbook) or CSV UTF-8, then upload it again."
        )
    shown = f"'.{extension[:10]}' files" if extension else "Files without an extension"
    raise ExtractFileError(
        f"{shown} cannot be read. Upload the extract as CSV (.csv), "
        "Excel (.xlsx) or JSON Lines (.jsonl)."
    )


def _refuse_non_text(head: bytes, format: str, filename: str) -> None:
    """Catch binary files given a text name before any decoding is attempted."""
    extension = os.path.splitext(filename)[1].lower()
    if head.startswith(_ZIP_MAGICS):
        raise ExtractFileError(
            f"This is not a text file: it is named {extension} but is an Excel workbook or "
            "another zip archive. If it is a workbook, upload it with its .xlsx name; "
            f"otherwise {_HOW_TO_EXPORT[format][0].lower()}{_HOW_TO_EXPORT[format][1:]}"
        )
    for magic, kind in _OTHER_MAGICS:
        if head.startswith(magic):
            raise ExtractFileError(
                f"This is not a text file: it looks like {kind}. {_HOW_TO_EXPORT[format]}"
            )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode Text" export; checked before NUL bytes, which UTF-16 is full of.
        raise ExtractFileError(f"This file is UTF-16 text, which cannot be read. {_SAVE_AS_UTF8}")
    if b"\x00" in head[:_BINARY_PROBE_BYTES]:
        raise ExtractFileError(
            f"This is not a text file: it contains binary data. {_HOW_TO_EXPORT[format]}"
        )


def _refuse_blank(file: IO[bytes], head: bytes, size: int) -> None:
    """Refuse a text file that holds nothing but whitespace and perhaps a byte-order mark."""
    if head.removeprefix(codecs.BOM_UTF8).strip():
        return
    if size > len(head):
        # Whitespace for a whole megabyte: rare, so scanning on (in chunks) costs nothing normally.
        while chunk := file.read(_SAMPLE_BYTES):
            if chunk.strip():
                file.seek(0)
                return
    raise ExtractFileError(_EMPTY_MESSAGE)


def _decode_sample(sample: bytes, encoding: str, complete: bool) -> str:
    # An incremental decoder keeps a multi-byte character cut off by the end of the sample
    # pending instead of calling it invalid; `final` only when the sample is the whole file.
    return codecs.getincrementaldecoder(encoding)().decode(sample, final=complete)


def _count_line_breaks(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _decode_error_line(path: Path, encoding: str) -> int | None:
    """Line number of the first bytes `encoding` cannot decode, found by rescanning the file.

    Only called once a decode error has happened: the text layer decodes in chunks, so where it
    noticed the error says little about which line holds it.
    """
    with open(path, "rb") as file:
        if encoding == "utf-8-sig":
            encoding = "utf-8"
            file.read(len(codecs.BOM_UTF8))
        decoder = codecs.getincrementaldecoder(encoding)()
        line, previous = 1, b""
        while True:
            chunk = file.read(_SAMPLE_BYTES)
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # Error offsets count from the pending bytes (part of one character, no line
                # breaks) followed by this chunk.
                chunk = chunk[: max(exc.start - len(pending), 0)]
                return line + _count_line_breaks(chunk) - (previous[-1:] + chunk[:1] == b"\r\n")
            if not chunk:
                return None
            line += _count_line_breaks(chunk) - (previous[-1:] + chunk[:1] == b"\r\n")
            previous = chunk


def _check_header(names: list[str], *, looks_like_data_check: bool) -> str | None:
    """Why these names cannot be a header row (None if they can)."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            return f"column {position} has no name"
        key = name.casefold()
        if key in seen:
            # Positions, not the name: if the first row is really data, the "name" could be a
            # person's surname, and messages are stored and shown.
            return f"columns {seen[key]} and {position} have the same name"
        seen[key] = position
    if looks_like_data_check:
        data_like = sum(
            1 for name in names if _NUMBER_LIKE.fullmatch(name) or _DATE_LIKE.fullmatch(name)
        )
        if data_like * 2 > len(names):
            return f"it looks like data: {data_like} of {len(names)} cells are numbers or dates"
    return None


def _header_message(reason: str) -> str:
    return (
        f"The first row must be the column names, but {reason}. "
        "Add a header row with a unique name for every column and upload the file again."
    )


# --- CSV ---------------------------------------------------------------------------------------


class _LineTooLong(Exception):
    pass


def _bounded_lines(readline: Callable[[int], str]) -> Iterator[str]:
    """Physical lines (endings kept, as csv wants with newline="") no longer than the cap."""
    while line := readline(_MAX_LINE_CHARS):
        if len(line) == _MAX_LINE_CHARS and line[-1] not in "\r\n":
            raise _LineTooLong
        yield line


def _detect_csv_encoding(head: bytes, complete: bool) -> tuple[str, str]:
    """(encoding, decoded sample) from the first megabyte, or ExtractFileError."""
    if head.startswith(codecs.BOM_UTF8):
        body = head[len(codecs.BOM_UTF8) :]
        try:
            return "utf-8-sig", _decode_sample(body, "utf-8", complete)
        except UnicodeDecodeError as exc:
            # A BOM says the writer meant UTF-8, so do not fall back to cp1252.
            line = 1 + _count_line_breaks(body[: exc.start])
            raise ExtractFileError(_mid_file_encoding_message(line, "utf-8")) from None
    try:
        return "utf-8", _decode_sample(head, "utf-8", complete)
    except UnicodeDecodeError:
        pass
    try:
        text = head.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is None or _CONTROL_CHARS.search(text):
        raise ExtractFileError(f"This file is not UTF-8 or Windows-1252 text. {_SAVE_AS_UTF8}")
    return "cp1252", text


_ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}


def _mid_file_encoding_message(line: int | None, encoding: str) -> str:
    where = f"Line {line}" if line else "Part of the file"
    return f"{where} is not valid {_ENCODING_LABELS[encoding]} text. {_SAVE_AS_UTF8}"


def _sniff_delimiter(text: str, truncated: bool) -> str:
    """Pick the delimiter that splits the first records most consistently.

    Each candidate parses the sample with the csv module itself, so separators inside quotes
    are ignored. A candidate that splits the header into several columns beats one that does
    not; then the share of data records with the header's cell count decides, then the column
    count. With no multi-column candidate the file is one column, and the delimiter that keeps
    every record in one cell is the one that parses it as the writer meant.
    """
    best: tuple[bool, float, int] | None = None
    chosen = ","
    for delimiter in _CSV_DELIMITERS:
        try:
            records = list(islice(csv.reader(io.StringIO(text), delimiter=delimiter), 500))
        except csv.Error:
            continue
        if truncated and len(records) > 1:
            records.pop()  # may be cut off by the end of the sample
        # The reader skips rows that are blank under its delimiter before taking the header.
        first = next((i for i, cells in enumerate(records) if "".join(cells).strip()), None)
        if first is None:
            return delimiter  # blank under this delimiter: the reader will call it empty
        width = len(records[first])
        # Whitespace-only lines say nothing, but a line of separators does (",," is two empty
        # cells to a comma and one cell of text to a semicolon).
        data = [
            cells
            for cells in records[first + 1 :]
            if len(cells) > 1 or (cells and cells[0].strip())
        ][:_SNIFF_RECORDS]
        consistency = sum(len(cells) == width for cells in data) / len(data) if data else 1.0
        score = (width > 1, consistency, width)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def _open_csv(file: IO[bytes], head: bytes, size: int, path: Path) -> ExtractReader:
    complete = size <= len(head)
    encoding, sample = _detect_csv_encoding(head, complete)
    truncated = not complete or len(sample) > _SNIFF_CHARS
    sniff_text = sample[:_SNIFF_CHARS]
    if truncated:
        cut = max(sniff_text.rfind("\n"), sniff_text.rfind("\r"))
        if cut > 0:
            sniff_text = sniff_text[: cut + 1]

    # Excel writes and honours a first line "sep=;" naming the delimiter.
    sep_line = _SEP_LINE.match(sniff_text)
    if sep_line:
        delimiter = sep_line.group(1)
        if delimiter not in _CSV_DELIMITERS:
            raise ExtractFileError(_separator_message(delimiter))
    else:
        delimiter = _sniff_delimiter(sniff_text, truncated)

    file.seek(0)
    text = io.TextIOWrapper(file, encoding=encoding, newline="")
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        # Process-wide in the csv module; only ever raised here, so other readers are unaffected.
        csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = _CsvReader(
        text=text,
        binary=file,
        path=path,
        encoding=encoding,
        delimiter=delimiter,
        size_bytes=size,
        skip_lines=1 if sep_line else 0,
    )
    try:
        reader.read_header()
    except BaseException:
        reader.close()
        raise
    return reader


def _separator_message(separator: str) -> str:
    shown = "tab" if separator == "\t" else repr(separator)
    return (
        "Columns must be separated by commas, semicolons or tabs; this file seems to use "
        f"{shown}. Export it again with commas between columns and upload it again."
    )


class _CsvReader(ExtractReader):
    def __init__(
        self,
        *,
        text: io.TextIOWrapper,
        binary: IO[bytes],
        path: Path,
        encoding: str,
        delimiter: str,
        size_bytes: int,
        skip_lines: int,
    ) -> None:
        super().__init__(
            format="csv",
            header=[],
            size_bytes=size_bytes,
            file=binary,
            encoding=encoding,
            delimiter=delimiter,
        )
        self._text = text
        self._path = path
        for _ in range(skip_lines):
            text.readline()
        self._skipped_lines = skip_lines
        self._records = csv.reader(_bounded_lines(text.readline), delimiter=delimiter)
        self._number = skip_lines  # records (spreadsheet rows) consumed so far

    def read_header(self) -> None:
        header_cells = None
        try:
            for cells in self._records:
                self._number += 1
                if "".join(cells).strip():
                    header_cells = cells
                    break
        except (UnicodeDecodeError, csv.Error, _LineTooLong) as exc:
            raise self._failure(exc) from None
        if header_cells is None:
            raise ExtractFileError(_EMPTY_MESSAGE)
        if len(header_cells) == 1:
            only = header_cells[0]
            for separator in _UNSUPPORTED_SEPARATORS:
                if separator in only:
                    raise ExtractFileError(_separator_message(separator))
            if any(delimiter in only for delimiter in _CSV_DELIMITERS):
                raise ExtractFileError(
                    "The first row has only one column, but it contains a separator inside "
                    "quotes, as if each whole line were quoted. Export the file again as plain "
                    "CSV, without quotes around whole lines, and upload it again."
                )
        names = [cell.strip() for cell in header_cells]
        # A second BOM (some tools add one to a file that already has one) is not part of a name.
        names[0] = names[0].lstrip("\ufeff").strip()
        while not names[-1]:
            # Excel exports formatted-but-empty columns as trailing separators on every line,
            # as it does in .xlsx; the rows' matching empty cells are then ignored too.
            names.pop()
        problem = _check_header(names, looks_like_data_check=True)
        if problem:
            raise ExtractFileError(_header_message(problem))
        self.header = names

    def _iter_rows(self) -> Iterator[Row]:
        header = self.header
        width = len(header)
        number = self._number
        try:
            for cells in self._records:
                number += 1
                if len(cells) == width:
                    # Fast path. cells[0].strip() returns cells[0] itself when there is nothing
                    # to strip, so the blank-row test is nearly free for ordinary rows.
                    if cells[0].strip() or "".join(cells).strip():
                        yield Row(number, dict(zip(header, cells, strict=False)))
                    continue
                if not "".join(cells).strip():
                    continue  # blank line, or only separators and spaces
                values = dict(zip(header, cells, strict=False))
                if len(cells) > width and not any(cells[width:]):
                    # A trailing separator on data lines (common in exports) loses nothing.
                    yield Row(number, values)
                    continue
                for name in header[len(cells) :]:
                    values[name] = ""
                yield Row(
                    number,
                    values,
                    f"Row has {len(cells)} cells but the header has {width} columns",
                )
        except (UnicodeDecodeError, csv.Error, _LineTooLong) as exc:
            self._number = number
            raise self._failure(exc) from None
        self._finished = True

    def _failure(self, exc: Exception) -> ExtractFileError:
        """Turn a low-level read error into a message naming where, never what, went wrong."""
        line = self._records.line_num + self._skipped_lines
        if isinstance(exc, UnicodeDecodeError):
            encoding = self.encoding or "utf-8"
            return ExtractFileError(
                _mid_file_encoding_message(_decode_error_line(self._path, encoding), encoding)
            )
        if isinstance(exc, _LineTooLong):
            return ExtractFileError(
                f"Line {line + 1} is longer than {_MAX_LINE_CHARS:,} characters. "
                "Check that the file is a CSV extract with one record per line."
            )
        if "field limit" in str(exc):
            return ExtractFileError(
                f"Row {self._number + 1} has a cell of more than {csv.field_size_limit():,} "
                f'characters (ending on line {line}). This usually means a quote (") opened '
                "in that row is never closed. Fix the quoting and upload the file again."
            )
        return ExtractFileError(
            f"Line {line} could not be read as CSV. Export the file again as CSV UTF-8 "
            "and upload it again."
        )

    def _release(self) -> None:
        self._text.close()  # closes the binary file under it too


# --- Excel .xlsx -------------------------------------------------------------------------------

_NOT_XLSX = (
    "This is not a valid Excel .xlsx file. Open it in Excel and save it as Excel Workbook "
    "(.xlsx), or export the extract as CSV UTF-8, and upload it again."
)


def _open_xlsx(file: IO[bytes], head: bytes, size: int, limits: ExtractLimits) -> ExtractReader:
    if not head.startswith(_ZIP_MAGICS):
        hint = ""
        if b"\x00" not in head[:_BINARY_PROBE_BYTES]:
            hint = " It looks like a text file: if it is CSV, upload it with a .csv name."
        raise ExtractFileError(_NOT_XLSX + hint)
    _refuse_zip_bomb(file, limits)

    file.seek(0)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; irrelevant for values.
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:
        # A damaged or non-Excel zip fails in many ways (KeyError, XML errors, ...), all of which
        # mean the same thing to the person uploading it.
        raise ExtractFileError(_NOT_XLSX) from exc

    reader = _XlsxReader(workbook=workbook, file=file, size_bytes=size)
    try:
        reader.read_header()
    except BaseException:
        reader.close()
        raise
    return reader


def _refuse_zip_bomb(file: IO[bytes], limits: ExtractLimits) -> None:
    """Check declared sizes before anything decompresses.

    zipfile never inflates a member past the size its central directory declares, so these
    declared sizes bound what openpyxl can later unpack.
    """
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise ExtractFileError(_NOT_XLSX) from None
    total = sum(member.file_size for member in members)
    if total > limits.max_xlsx_uncompressed_bytes:
        raise ExtractFileError(
            f"This .xlsx file unpacks to {_size_text(total)}, over the "
            f"{_size_text(limits.max_xlsx_uncompressed_bytes)} limit. Remove images and "
            "unused sheets, or export the extract as CSV UTF-8, and upload it again."
        )
    for member in members:
        if (
            member.file_size >= _RATIO_CHECK_MIN_BYTES
            and member.file_size > limits.max_xlsx_compression_ratio * max(member.compress_size, 1)
        ):
            raise ExtractFileError(
                "This .xlsx file is compressed far more tightly than a real workbook "
                f"(one part unpacks to over {limits.max_xlsx_compression_ratio} times its "
                "size), so it is refused for safety. Open it in Excel and save it again, or "
                "export the extract as CSV UTF-8, and upload it again."
            )


def _xlsx_text(value: Any) -> str:
    """Cell value as the text a person sees in Excel, in a form the normaliser can parse."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is int:
        return str(value)
    if kind is float:
        if value.is_integer():
            return str(int(value))  # a number-typed NHS number must not gain ".0"
        # Excel shows at most 15 significant digits; beyond that are binary-float artefacts
        # (0.1 + 0.2 is stored as 0.30000000000000004).
        return f"{value:.15g}"
    if kind is dt.datetime:
        if not (value.hour or value.minute or value.second or value.microsecond):
            return value.date().isoformat()
        return value.isoformat()
    if kind is bool:
        return "true" if value else "false"
    if kind is dt.date or kind is dt.time:
        return value.isoformat()
    return str(value)


def _is_blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


class _XlsxReader(ExtractReader):
    def __init__(self, *, workbook: Any, file: IO[bytes], size_bytes: int) -> None:
        super().__init__(format="xlsx", header=[], size_bytes=size_bytes, file=file)
        self._workbook = workbook
        self._sheet_rows: Iterator[tuple[Any, ...]] = iter(())
        self._number = 0

    def _next_raw(self) -> tuple[Any, ...] | None:
        try:
            return next(self._sheet_rows)
        except StopIteration:
            return None
        except Exception as exc:
            # Damage deep in the sheet XML (or a CRC error) surfaces only when reached.
            raise ExtractFileError(
                f"The workbook could not be read after row {self._number}. Open it in Excel, "
                "save it again as .xlsx and upload it again."
            ) from exc

    def read_header(self) -> None:
        worksheets = self._workbook.worksheets
        if not worksheets:
            raise ExtractFileError(_NOT_XLSX)
        sheet = worksheets[0]
        # Some writers record a wrong sheet size, and openpyxl would then cut rows or columns.
        sheet.reset_dimensions()
        self._sheet_rows = sheet.iter_rows(values_only=True)
        while (raw := self._next_raw()) is not None:
            self._number += 1
            if not all(_is_blank(value) for value in raw):
                break
        else:
            raise ExtractFileError(
                "The first worksheet is empty. Put the extract on the first worksheet, "
                "starting with its header row, and upload it again."
            )
        cells = list(raw)
        while cells and _is_blank(cells[-1]):
            cells.pop()  # formatted but empty cells to the right of the header
        names = [_xlsx_text(value).strip() for value in cells]
        problem = _check_header(names, looks_like_data_check=True)
        if problem:
            raise ExtractFileError(_header_message(problem))
        self.header = names

    def _iter_rows(self) -> Iterator[Row]:
        header = self.header
        width = len(header)
        convert = _xlsx_text
        while (raw := self._next_raw()) is not None:
            self._number += 1
            problem = None
            if len(raw) > width:
                extra = raw[width:]
                raw = raw[:width]
                filled = [i for i, value in enumerate(extra) if not _is_blank(value)]
                if filled:
                    problem = (
                        f"Row has {width + filled[-1] + 1} cells but the header has {width} columns"
                    )
            cells = [convert(value) for value in raw]
            if len(cells) < width:
                # Excel does not store empty trailing cells, so short rows are normal here.
                cells.extend([""] * (width - len(cells)))
            if problem is None and not "".join(cells).strip():
                continue
            yield Row(self._number, dict(zip(header, cells, strict=False)), problem)
        self._finished = True

    def _release(self) -> None:
        try:
            self._workbook.close()
        finally:
            self._file.close()


# --- JSON Lines --------------------------------------------------------------------------------

_MAX_JSON_LINE_BYTES = _MAX_LINE_CHARS
_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number"}


def _refuse_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")  # NaN/Infinity: Python accepts, JSON does not


def _json_kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return _JSON_KINDS.get(type(value), "not an object")


def _open_jsonl(file: IO[bytes], head: bytes, size: int) -> ExtractReader:
    start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    if head[start:].lstrip().startswith(b"["):
        raise ExtractFileError(
            "This is a JSON array, not JSON Lines. Export one JSON object per line "
            "(JSON Lines, .jsonl) and upload that."
        )
    try:
        _decode_sample(head[start:], "utf-8", size <= len(head))
    except UnicodeDecodeError as exc:
        line = 1 + _count_line_breaks(head[start : start + exc.start])
        raise ExtractFileError(_json_encoding_message(line)) from None
    file.seek(start)
    reader = _JsonlReader(file=file, size_bytes=size)
    try:
        reader.read_header()
    except BaseException:
        reader.close()
        raise
    return reader


def _json_encoding_message(line: int) -> str:
    return (
        f"Line {line} is not valid UTF-8 text. JSON Lines files must be UTF-8; "
        "export the extract again as UTF-8 and upload it again."
    )


def _float_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


class _JsonlReader(ExtractReader):
    def __init__(self, *, file: IO[bytes], size_bytes: int) -> None:
        super().__init__(format="jsonl", header=[], size_bytes=size_bytes, file=file)
        self._number = 0
        self._keys: list[str] = []
        self._key_set: frozenset[str] = frozenset()
        self._first: tuple[int, dict[str, Any]] | None = None

    def _next_line(self) -> bytes:
        line = self._file.readline(_MAX_JSON_LINE_BYTES)
        if len(line) == _MAX_JSON_LINE_BYTES and not line.endswith(b"\n"):
            raise ExtractFileError(
                f"Line {self._number + 1} is longer than {_MAX_JSON_LINE_BYTES:,} bytes. "
                "Check that the file has one JSON object per line."
            )
        return line

    def _decode(self, line: bytes) -> str:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError:
            raise ExtractFileError(_json_encoding_message(self._number)) from None

    def read_header(self) -> None:
        while line := self._next_line():
            self._number += 1
            if line.strip():
                break
        else:
            raise ExtractFileError(_EMPTY_MESSAGE)
        try:
            first = json.loads(self._decode(line), parse_constant=_refuse_json_constant)
        except ValueError:
            first = None
        if not isinstance(first, dict):
            raise ExtractFileError(
                f"This is not JSON Lines: line {self._number} is not a JSON object. Each line "
                "must be one JSON object, with the same keys on every line."
            )
        if not first:
            raise ExtractFileError(
                f"The first object (line {self._number}) has no keys, so there are no column "
                "names. Each line must be one JSON object, with the same keys on every line."
            )
        self._keys = list(first)
        self._key_set = frozenset(first)
        names = [key.strip() for key in self._keys]
        problem = _check_header(names, looks_like_data_check=False)
        if problem:
            raise ExtractFileError(
                f"The keys of the first object (line {self._number}) are the column names, but "
                f"{problem}. Give every key a unique name and upload the file again."
            )
        self.header = names
        self._first = (self._number, first)

    def _iter_rows(self) -> Iterator[Row]:
        if self._first is not None:
            number, first = self._first
            self._first = None
            yield self._row(number, first)
        blank = dict.fromkeys(self.header, "")
        while line := self._next_line():
            self._number += 1
            if not line.strip():
                continue
            try:
                value = json.loads(self._decode(line), parse_constant=_refuse_json_constant)
            except ValueError as exc:
                where = (
                    f" ({exc.msg} at column {exc.colno})"
                    if isinstance(exc, json.JSONDecodeError)
                    else ""
                )
                yield Row(self._number, dict(blank), f"Line is not valid JSON{where}")
                continue
            if type(value) is not dict:
                yield Row(
                    self._number,
                    dict(blank),
                    f"Line is {_json_kind(value)}, not a JSON object",
                )
                continue
            yield self._row(self._number, value)
        self._finished = True

    def _row(self, number: int, item: dict[str, Any]) -> Row:
        values: dict[str, str] = {}
        nested: list[str] = []
        for key, name in zip(self._keys, self.header, strict=True):
            value = item.get(key)
            kind = type(value)
            if isinstance(value, str):
                values[name] = value
            elif value is None:
                values[name] = ""
            elif kind is bool:
                values[name] = "true" if value else "false"
            elif kind is int:
                values[name] = str(value)
            elif kind is float:
                values[name] = _float_text(value)
            else:
                values[name] = json.dumps(value, ensure_ascii=False)
                nested.append(name)
        problems = []
        if nested:
            problems.append(
                "nested objects or lists in " + ", ".join(f"'{name}'" for name in nested)
            )
        if not self._key_set.issuperset(item):
            # How many, not which: in some exports the keys themselves are names or ids.
            extra = sum(1 for key in item if key not in self._key_set)
            problems.append(f"{extra} key(s) not in the first line's keys")
        return Row(number, values, "; ".join(problems) or None)
