"""Reading, checking and sealing an agency's extract at the agency, as the platform would read it.

`extract_prepare` opens the file with the platform's readers, checks its columns and rows with the
platform's rules (`header_check`, `dob_order_detect`, `RowValidator`, `RepeatedRecordIds`) and
hands every row to one of two places: a row with problems to the local set-aside CSV (never
sent), a good row to the sealed extract, its identifiers sealed to the platform's ingest key.
What it returns holds counts and value-free reasons only, so it can be printed and kept in the
push's state file.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from sharehub_bridge import __version__, normalise
from sharehub_bridge.definitions import Definition
from sharehub_bridge.envelope import IdentitySealer
from sharehub_bridge.readers import extract_open
from sharehub_bridge.sealed_file import SealedExtractWriter, SealedHeader
from sharehub_bridge.set_aside import SetAsideFile
from sharehub_bridge.validation import (
    CONTACT_REPAIRS,
    NHS_CHECK_DIGIT,
    RepeatedRecordIds,
    RowValidator,
    dob_order_detect,
    header_check,
)

# The problem rows listed one by one in the summary; the rest are in the set-aside file.
PROBLEM_ROWS_SHOWN = 10
# The repair RowValidator counts once for each row whose free text it redacted.
FREE_TEXT_REDACTED_ROW = "redacted_row"
# How often (in rows) the progress callback hears how far the reader is.
PROGRESS_EVERY_ROWS = 5000
_HASH_BLOCK = 1024 * 1024
# The record id is sent with a kept-back row's reasons only when it is one the platform can store.
MAX_RECORD_ID_CHARS = 200


@dataclass
class Sealing:
    """Where and how the good rows are sealed (push only; check seals nothing)."""

    stream: IO[bytes]
    sealer: IdentitySealer
    dataset: int
    definition_version: int
    mode: str


@dataclass
class Preparation:
    """What reading the file found: counts and value-free reasons only."""

    filename: str
    file_format: str = ""
    file_bytes: int = 0
    file_sha256: str = ""
    dob_order: str = normalise.DOB_ORDER_DAY_FIRST
    rows_read: int = 0
    rows_ready: int = 0
    rows_set_aside: int = 0
    rows_warned: int = 0
    # Repair kinds (normalise.DOB_REPAIRS, NHS_CHECK_DIGIT, CONTACT_REPAIRS) among the good rows.
    repairs: dict[str, int] = field(default_factory=dict)
    # Reason -> rows with it, among the rows set aside.
    reasons: dict[str, int] = field(default_factory=dict)
    first_problems: list[tuple[int, list[str]]] = field(default_factory=list)
    set_aside_path: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preparation:
        data = dict(data)
        data["first_problems"] = [(n, list(r)) for n, r in data.get("first_problems", [])]
        return cls(**data)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def extract_prepare(
    path: Path,
    definition: Definition,
    *,
    set_aside_path: Path,
    sealing: Sealing | None = None,
    progress: Callable[[int], None] | None = None,
    known_sha256: str = "",
) -> Preparation:
    """Read and check every row of the file at `path`; seal the good ones when `sealing` is given.

    Raises readers.ExtractFileError when the whole file cannot be used (its message says what to
    fix and quotes no value). `known_sha256`: the file's SHA-256 when the caller has it already
    (a push keys its state by it), saving a pass over a large file."""
    filename = path.name
    found = Preparation(filename=filename, file_sha256=known_sha256 or file_sha256(path))
    # The platform's order: the columns first, then the date order from a second reader.
    with extract_open(path, filename=filename) as reader:
        header_check(definition, reader.header)
        found.file_format = reader.format
        found.file_bytes = reader.size_bytes
        with extract_open(path, filename=filename) as sample:
            found.dob_order = dob_order_detect(definition, sample)
        writer = _sealed_writer(sealing, found)
        with SetAsideFile(set_aside_path, reader.header) as set_aside:
            _rows_sort(
                reader.rows(),
                RowValidator(definition, reader.header, dob_order=found.dob_order),
                writer,
                set_aside,
                found,
                progress=(lambda: progress(reader.bytes_read())) if progress else None,
            )
            if set_aside.rows:
                found.set_aside_path = str(set_aside.path)
        if writer is not None:
            writer.end()
    return found


def _sealed_writer(sealing: Sealing | None, found: Preparation) -> SealedExtractWriter | None:
    if sealing is None:
        return None
    return SealedExtractWriter(
        sealing.stream,
        SealedHeader(
            dataset=sealing.dataset,
            definition_version=sealing.definition_version,
            mode=sealing.mode,
            filename=found.filename,
            file_format=found.file_format,
            file_sha256=found.file_sha256,
            file_bytes=found.file_bytes,
            dob_order=found.dob_order,
            bridge_version=__version__,
            envelope=sealing.sealer.header,
        ),
        sealing.sealer,
    )


def _rows_sort(rows, validator, writer, set_aside, found, *, progress) -> None:
    """The loop run for every row of files with millions of rows: validate, then either seal and
    write one line, or keep the row back; nothing else per row."""
    validate = validator.validate
    repeats = RepeatedRecordIds().check
    repairs: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    read = ready = warned = 0
    for row in rows:
        read += 1
        outcome = validate(row)
        repeats(row.number, outcome)
        if outcome.errors:
            # The same reasons the platform gives a row it sets aside: errors, then warnings.
            row_reasons = outcome.errors + outcome.warnings
            set_aside.write(row.number, row_reasons, row.values)
            reasons.update(outcome.errors)
            if len(found.first_problems) < PROBLEM_ROWS_SHOWN:
                found.first_problems.append((row.number, row_reasons))
            if writer is not None:
                source_id = outcome.source_id
                writer.set_aside(
                    row.number,
                    source_id if len(source_id) <= MAX_RECORD_ID_CHARS else "",
                    row_reasons,
                )
        else:
            ready += 1
            if outcome.warnings:
                warned += 1
            if outcome.repairs:
                repairs.update(outcome.repairs)
            if writer is not None:
                writer.row(row.number, outcome)
        if progress is not None and read % PROGRESS_EVERY_ROWS == 0:
            progress()
    if progress is not None:
        progress()
    found.rows_read = read
    found.rows_ready = ready
    found.rows_set_aside = read - ready
    found.rows_warned = warned
    found.repairs = dict(repairs)
    found.reasons = dict(reasons.most_common())


def repair_lines(preparation: Preparation) -> list[str]:
    """Sentences on the identifier values repaired among the good rows, as the platform words
    them on the extract's page. Counts only, never a value."""
    lines = []
    if preparation.dob_order == normalise.DOB_ORDER_MONTH_FIRST:
        lines.append(
            "Dates of birth in this file are written month first (as 06/19/1968), so they are "
            "read that way."
        )
    repairs = preparation.repairs
    for repair, count in sorted(repairs.items(), key=lambda item: -item[1]):
        if repair in normalise.DOB_REPAIRS:
            noun = "date of birth" if count == 1 else "dates of birth"
            lines.append(f"{count:,} {noun} {normalise.DOB_REPAIRS[repair]}.")
    if failures := repairs.get(NHS_CHECK_DIGIT, 0):
        one = failures == 1
        lines.append(
            f"{failures:,} NHS number{' fails its' if one else 's fail their'} check digit: "
            f"{'its record' if one else 'their records'} will load, but "
            f"{'does' if one else 'do'} not link on the NHS number."
        )
    contacts = sum(repairs.get(kind, 0) for kind in CONTACT_REPAIRS)
    if contacts:
        lines.append(
            f"{contacts:,} contact detail{' is' if contacts == 1 else 's are'} left out: not "
            "what the column's role says, or the person's own details."
        )
    # Free text redacted of the row's own identifiers by RowValidator: one repair per identifier
    # replaced ("redacted_<kind>") and one per row ("redacted_row").
    if rows := repairs.get(FREE_TEXT_REDACTED_ROW, 0):
        replaced = sum(
            count
            for repair, count in repairs.items()
            if repair.startswith("redacted_") and repair != FREE_TEXT_REDACTED_ROW
        )
        lines.append(
            f"Free text: {replaced:,} of the person's own identifiers in {rows:,} "
            f"row{'' if rows == 1 else 's'} are replaced with placeholders before sending."
        )
    return lines
