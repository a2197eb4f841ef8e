"""Staging the rows of a sealed extract, the IG bridge's channel (bridge/PROTOCOL.md).

The bridge validated the rows at the agency with the same rules as the web path
(sharehub_bridge.validation), but what arrives is not trusted blindly: each row's record and
identities are checked against the dataset's definition here, and a row that does not fit is
set aside with a reason naming the column, never the value. The identities are opened with the
ingest private key here, inside the ingest task only, and each row then goes through the same
staging as a web row: a RowOutcome handed to the StagingWriter's load.

`sealed_extract_stage` is what agencies.ingest.process calls for an extract from the bridge.
"""

import ast
import functools
import inspect
import math
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from agencies.ingest.staging import BATCH_ROWS, StagingWriter, extract_progress_save
from agencies.ingest.validation import source_id_derive
from agencies.models import (
    Extract,
    QuarantinedRow,
)
from core.keys import IngestKeyMissing, ingest_private_key
from matching.screening import shapes_problem
from sharehub_bridge import normalise, readers, validation
from sharehub_bridge.definitions import (
    ColumnSpec,
    Definition,
)
from sharehub_bridge.envelope import EnvelopeError, IdentityOpener
from sharehub_bridge.readers import ExtractFileError
from sharehub_bridge.sealed_file import (
    SealedExtractReader,
    SealedFileError,
    SealedHeader,
    SetAsideRow,
)
from sharehub_bridge.validation import (
    FREE_TEXT_REDACTED_ROW,
    IDENTIFIER_RULES,
    ROW_REPAIRS,
    RepeatedRecordIds,
    RowOutcome,
    contacts_read_again,
    free_text_columns,
    free_text_redact,
)

MAX_SOURCE_ID = 200
MAX_TEXT_CHARS = 1_000_000
MAX_IDENTIFIER_CHARS = 2_000
MAX_REASONS = 20
MAX_REASON_CHARS = 1_000
BRIDGE_KEPT = "Kept at the agency by the IG bridge: "


def _text_fits(value: Any) -> bool:
    if type(value) is not str or len(value) > MAX_TEXT_CHARS or "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")  # lone surrogates, which JSON input can carry
    except UnicodeEncodeError:
        return False
    return True


def _date_fits(value: Any) -> bool:
    if type(value) is not str or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _number_fits(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _value_check(spec: ColumnSpec) -> Callable[[Any], bool]:
    if spec.type == "category":
        allowed = frozenset(spec.values)
        return lambda value: type(value) is str and value in allowed
    if spec.type == "date":
        return _date_fits
    if spec.type == "number":
        return _number_fits
    if spec.type == "boolean":
        return lambda value: type(value) is bool
    return _text_fits


_PARTIAL_OR_FULL_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")


def _identifier_is_normal(field: str, value: str) -> bool:
    """Whether an identifier is in the form RowValidator leaves it in: a date of birth as
    YYYY-MM-DD (or YYYY-MM, YYYY when only part could be read), a postcode as postcode_normalise
    writes it, an NHS number's ten digits (or, failing its check, its cleaned text), and any
    other as text_clean leaves it."""
    if field == "date_of_birth":
        if not _PARTIAL_OR_FULL_DATE.fullmatch(value):
            return False
        return len(value) != len("YYYY-MM-DD") or _date_fits(value)
    if field == "postcode":
        return normalise.postcode_normalise(value) == value
    if field == "nhs_number" and value.isdigit():
        return normalise.nhs_number_normalise(value)[0] == value
    return normalise.text_clean(value) == value


class SealedRowCheck:
    """Whether a row the bridge sent fits the dataset's definition; chosen once per column, as
    it runs for every row."""

    def __init__(self, definition: Definition):
        self.definition = definition
        record_columns = [s for s in definition.columns if not s.ignored and not s.identifier]
        self.checks = {spec.column: (spec, _value_check(spec)) for spec in record_columns}
        self.required_record = {spec.column for spec in record_columns if spec.required}
        self.identifier_fields = {s.identifier for s in definition.columns if s.identifier}
        self.required_identifiers = {
            s.identifier for s in definition.columns if s.identifier and s.required
        }
        self.event_column = definition.event_date_column

    def record_problems(self, payload: dict[str, Any], event_date: str | None) -> list[str]:
        problems = []
        for key, value in payload.items():
            entry = self.checks.get(key)
            if entry is None:
                problems.append("The record holds a column the dataset's definition does not have.")
                continue
            spec, fits = entry
            if not fits(value):
                problems.append(
                    f"{spec.label or spec.column} ({spec.column}) is not a valid {spec.type} "
                    "value for the dataset's definition."
                )
        for column in sorted(self.required_record - payload.keys()):
            problems.append(f"Required field {column} is missing.")
        if event_date is not None and (
            not _date_fits(event_date)
            or (self.event_column and payload.get(self.event_column) != event_date)
        ):
            problems.append(f"The event date ({self.event_column}) does not match the record.")
        return problems

    def identity_problems(self, identifiers: dict[str, str]) -> list[str]:
        problems = []
        for key, value in identifiers.items():
            if key not in self.identifier_fields:
                problems.append("The identity holds an identifier the dataset does not map.")
            elif len(value) > MAX_IDENTIFIER_CHARS or not _text_fits(value):
                problems.append(f"Identifier {key} is too long or holds broken text.")
            elif not _identifier_is_normal(key, value):
                # The bridge writes identifiers as the validator normalises them; one written
                # otherwise would be stored, compared and redacted as it came (outside review).
                problems.append(f"Identifier {key} is not written as the bridge writes it.")
        for field in sorted(self.required_identifiers - identifiers.keys()):
            problems.append(f"Required identifier {field} is missing.")
        return problems


_WORD = re.compile(r"[^\W\d_]+")
# A number as written: digits, or digits joined by punctuation (04/03/2012, 943-476-5919).
_NUMBER = re.compile(r"\d+(?:[^\w\s]\d+)*")
# A row number: what a reason may hold that no message does ("it is also on row 34").
_ROW_NUMBER = re.compile(r"[1-9]\d{0,6}")
NOT_OUR_WORDS = (
    "A reason or warning the bridge gave that ShareHub does not keep: it was not in ShareHub's "
    "own words."
)


def _vocabulary(texts) -> set[str]:
    """The words and the numbers as written in `texts`."""
    found: set[str] = set()
    for text in texts:
        folded = str(text).casefold()
        found.update(_WORD.findall(folded))
        found.update(_NUMBER.findall(folded))
    return found


@functools.cache
def _message_words() -> frozenset[str]:
    """Every word and number ShareHub's own row messages are made of: those of each string in
    the package's reading and validation modules (f-strings too), and the date formats' help."""
    texts = [normalise.DATE_FORMATS_HELP]
    for module in (readers, validation):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.append(node.value)
    return frozenset(_vocabulary(texts))


class BridgeWording:
    """Whether a reason or warning the bridge sent is one of ShareHub's own messages, so that it
    can be kept and shown to the agency's admins: its words are those of the messages and of the
    dataset's columns, labels and allowed values, and it holds nothing shaped like an
    identifier. The bridge writes only such messages; text that is not one (a bridge changed to
    carry values out in its reasons) is replaced, never stored. The outside review of issue 23
    sent "Surname Asideleak, born 02/03/2012" as a reason."""

    def __init__(self, definition: Definition):
        words = set(_message_words())
        for spec in definition.columns:
            words |= _vocabulary([spec.column, spec.label, *spec.values])
        words |= _vocabulary([definition.source_id_column, definition.event_date_column or ""])
        self.words = frozenset(words)
        self._judged: dict[str, bool] = {}

    def fits(self, text: str, *, row: int) -> bool:
        """Whether `text`, given for row `row`, is in ShareHub's own words; a row number in it
        may name only a row before that one ("it is also on row 34")."""
        judged = self._judged.get(text)
        if judged is None:
            folded = text.casefold()
            judged = (
                len(text) <= MAX_REASON_CHARS
                and self.words.issuperset(_WORD.findall(folded))
                # Numbers only as the messages write them, or a row number: a date or a long
                # number is the very thing a value would be (outside review: "use 04/03/2012").
                and all(
                    number in self.words or _ROW_NUMBER.fullmatch(number)
                    for number in _NUMBER.findall(folded)
                )
                and not shapes_problem(text, what="reason")
            )
            if len(self._judged) < 10_000:  # the same few messages recur on many rows
                self._judged[text] = judged
        return judged and all(
            number in self.words or int(number) <= row
            for number in _NUMBER.findall(text.casefold())
        )

    def reasons(self, reasons: list[str], *, row: int) -> list[str]:
        kept = [r if self.fits(r, row=row) else NOT_OUR_WORDS for r in reasons[:MAX_REASONS]]
        return [BRIDGE_KEPT + r for r in kept] or [BRIDGE_KEPT + "no reason given."]

    def warnings(self, warnings: list[str], *, row: int) -> list[str]:
        return [w if self.fits(w, row=row) else NOT_OUR_WORDS for w in warnings]


def sealed_rows_stage(
    *,
    extract: Extract,
    reader: SealedExtractReader,
    opener: IdentityOpener,
    check: SealedRowCheck,
    writer,
    progress: Callable[[], None],
    batch_rows: int,
    dob_order: str,
    derived_id: Callable[[dict[str, str]], str] | None = None,
) -> None:
    """Check, open and hand every row of a sealed extract to the writer (agencies.ingest.staging's
    StagingWriter, which seals, counts and stages it as it does a file's rows). Raises
    SealedFileError (from the reader) or EnvelopeError (from the opener) for a file that cannot
    be trusted as a whole; the caller rejects it."""
    counts = writer.counts
    repeated = RepeatedRecordIds()
    free_text, typed_contacts = free_text_columns(check.definition)
    wording = BridgeWording(check.definition)
    last_number = 0
    for row in reader.rows():
        if row.number <= last_number:
            raise SealedFileError(
                "The sealed extract's rows are out of order: it was changed on the way. Push "
                "the file again."
            )
        last_number = row.number
        counts["read"] += 1
        source_id = row.source_id if 0 < len(row.source_id) <= MAX_SOURCE_ID else ""
        if isinstance(row, SetAsideRow):
            writer.set_aside(
                row.number, source_id, wording.reasons(row.reasons, row=row.number), None
            )
        else:
            identifiers = opener.open(
                row_number=row.number, source_id=row.source_id, sealed=row.sealed_identity
            )
            if derived_id is not None:
                source_id = derived_id(identifiers)
            problems = [] if source_id else ["The record id is missing or over 200 characters."]
            problems += check.record_problems(row.payload, row.event_date)
            if not ROW_REPAIRS.issuperset(row.repairs):
                problems.append("The bridge reported a repair this ShareHub does not know.")
            if not IDENTIFIER_RULES.keys() >= set(row.identifiers_invalid):
                problems.append("The bridge judged an identifier this ShareHub has no rule for.")
            problems += check.identity_problems(identifiers)
            repairs = row.repairs
            warnings = (
                wording.warnings(row.warnings, row=row.number) if row.warnings else row.warnings
            )
            if not problems:
                # The contacts too are read again as a file's are: one that is no phone or
                # email address, or is the person's own, is left out.
                more_warnings, more_repairs = contacts_read_again(
                    check.definition, row.payload, identifiers
                )
                if more_warnings:
                    warnings = [*warnings, *more_warnings]
                    repairs = [*repairs, *more_repairs]
                # The bridge redacted the free text; a bridge that did not (an old one, or one
                # changed) is caught here, where the identities are open anyway.
                missed = free_text_redact(
                    row.payload,
                    identifiers,
                    free_text=free_text,
                    typed_contacts=typed_contacts,
                    dob_order=dob_order,
                )
                if missed:
                    redacted_before = FREE_TEXT_REDACTED_ROW in repairs
                    repairs = repairs + [
                        r for r in missed if not (r == FREE_TEXT_REDACTED_ROW and redacted_before)
                    ]
            outcome = RowOutcome(
                source_id,
                identifiers,
                row.payload,
                None if problems or not row.event_date else date.fromisoformat(row.event_date),
                problems,
                warnings,
                repairs=repairs,
                has_dob=row.has_dob,
                identifiers_invalid=row.identifiers_invalid,
            )
            repeated.check(row.number, outcome)
            if outcome.errors:
                reasons = [
                    f"{p} Checked by ShareHub; fix the row at the agency." for p in outcome.errors
                ]
                writer.set_aside(row.number, source_id, reasons, None)
            else:
                writer.load(row.number, outcome)
        if writer.pending() >= batch_rows:
            writer.flush()
            progress()
    writer.flush()


def sealed_extract_stage(extract, definition, path, writer: "StagingWriter") -> str:
    """Stage a sealed extract from the IG bridge; returns the date of birth order it was read
    with. A file that cannot be trusted as a whole is refused with nothing of it kept."""
    with path.open("rb") as stream:
        try:
            reader = SealedExtractReader(stream)
            header = reader.header
            _sealed_header_check(extract, header)
            opener = IdentityOpener(
                private_key=_ingest_private_key(header.envelope.key_version),
                header=header.envelope,
                dataset_id=extract.dataset_id,
            )
            Extract.objects.filter(pk=extract.pk).update(file_format=header.file_format[:8])
            with writer:
                sealed_rows_stage(
                    extract=extract,
                    reader=reader,
                    opener=opener,
                    check=SealedRowCheck(definition),
                    writer=writer,
                    progress=lambda: extract_progress_save(
                        extract, reader.bytes_read(), writer.counts
                    ),
                    batch_rows=BATCH_ROWS,
                    dob_order=header.dob_order,
                    derived_id=(
                        None
                        if extract.version.source_id_column
                        else source_id_derive(extract.dataset_id)
                    ),
                )
        except (SealedFileError, EnvelopeError) as error:
            # Rows set aside before the fault was found are of a file refused whole.
            QuarantinedRow.objects.filter(extract=extract).delete()
            message = str(error)
            if isinstance(error, EnvelopeError):
                message += (
                    " The sealed extract was changed on the way or sealed to another ShareHub."
                )
            message += " Nothing was loaded."
            if "again" not in message:
                message += " Run sharehub-bridge push again."
            raise ExtractFileError(message) from error
        extract_progress_save(extract, reader.bytes_read(), writer.counts)
    return header.dob_order


def _sealed_header_check(extract: Extract, header: SealedHeader) -> None:
    if header.dataset != extract.dataset_id:
        raise ExtractFileError(
            "The sealed extract was made for another dataset. Nothing was loaded; push it to "
            "the dataset it was made for."
        )
    if header.definition_version != extract.version.number:
        raise ExtractFileError(
            "The dataset's definition changed after the bridge read it; run sharehub-bridge "
            "push again."
        )
    if header.mode != extract.mode or header.file_sha256 != extract.checksum:
        raise ExtractFileError(
            "The sealed extract does not match the upload it came with (its mode or file "
            "checksum differs). Nothing was loaded; run sharehub-bridge push again."
        )
    if header.dob_order not in (normalise.DOB_ORDER_DAY_FIRST, normalise.DOB_ORDER_MONTH_FIRST):
        raise ExtractFileError(
            "The sealed extract names a date of birth order ShareHub does not know. Nothing was "
            "loaded; update sharehub-bridge and push again."
        )


def _ingest_private_key(version: int) -> bytes:
    try:
        return ingest_private_key(version)
    except IngestKeyMissing as error:
        raise ExtractFileError(
            f"The extract was sealed under ingest key version {version}, which this ShareHub no "
            "longer holds (the key was rotated). Nothing was loaded; run sharehub-bridge push "
            "again: it seals to the current key."
        ) from error
