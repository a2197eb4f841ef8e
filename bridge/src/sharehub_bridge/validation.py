"""Validating an extract's rows: the one set of rules the platform and the bridge both apply.

`RowValidator` turns a file row into the person's identifiers and the sensitive record, with the
row's problems; `header_check` decides whether a file has the dataset's columns at all. The
platform's ingest (agencies.ingest) and `sharehub-bridge` at an agency import these, so a row the
bridge keeps back for a problem is exactly a row the platform would have set aside.

Privacy: messages name the column and the rule, never the value: a row's content may be personal
data, and messages end up in logs, pages and downloads.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any

from sharehub_bridge import normalise
from sharehub_bridge.contacts import (
    LEAD_WORKER,
    TEAM,
    TEAM_EMAIL,
    TEAM_PHONE,
    contact_is_subject_identifier,
    contact_value_read,
)
from sharehub_bridge.definitions import (
    CONTACT_ROLES,
    FORMULA_PREFIXES,
    IDENTIFIER_FIELDS,
    REPEATABLE_IDENTIFIERS,
    ColumnSpec,
    Definition,
)
from sharehub_bridge.identifiers import pnc_id_is_valid, upn_is_valid
from sharehub_bridge.readers import ExtractFileError, ExtractReader, Row
from sharehub_bridge.redaction import PLACEHOLDERS, IdentifierRedactor

TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}


# --- Validating a row -------------------------------------------------------------------------


@dataclass
class RowOutcome:
    source_id: str
    identifiers: dict[str, str]
    payload: dict[str, Any]
    event_date: date | None
    errors: list[str]
    warnings: list[str]
    # Kinds of date of birth repair (normalise.DOB_REPAIRS) made on this row, NHS numbers failing
    # their check digit and contacts left out (CONTACT_REPAIRS), and whether it had a date of
    # birth at all: counted for the extract only if the row loads.
    repairs: list[str] = field(default_factory=list)
    has_dob: bool = False
    # The identifiers on the row whose value failed their rule (IDENTIFIER_RULES), for the
    # extract's data quality (IdentifierTally). Keys only, never a value.
    identifiers_invalid: tuple[str, ...] = ()

    @property
    def identifiers_present(self) -> tuple[str, ...]:
        """The identifiers the row had a value for: those read, and a date of birth written but
        unreadable (present, and invalid). Worked out when asked: ingest counts from
        `identifiers` directly, as it does for every row."""
        present = tuple(self.identifiers)
        if "date_of_birth" in self.identifiers_invalid and "date_of_birth" not in present:
            present += ("date_of_birth",)
        return present


class RepeatedRecordIds:
    """A record id may appear once per extract: the second and later rows carrying it get an
    error naming the row it was first on. Checked after `RowValidator.validate`, on rows with no
    other problem, by the platform and the bridge alike."""

    def __init__(self) -> None:
        self._first_row: dict[str, int] = {}

    def check(self, row_number: int, outcome: RowOutcome) -> None:
        if not outcome.source_id or outcome.errors:
            return
        first = self._first_row.setdefault(outcome.source_id, row_number)
        if first != row_number:
            outcome.errors.append(
                f"The record id is repeated: it is also on row {first}. Each record may "
                "appear once per extract."
            )


class RowValidator:
    """Turns a file row into identifiers and sensitive payload, with row-level errors.

    Messages name the column and the rule, never the value: a row's content may be personal
    data, and messages end up in logs, pages and downloads. Each column's check is chosen once,
    up front, because it then runs for every row of files with millions of rows.
    """

    def __init__(
        self,
        definition: Definition,
        header: list[str],
        *,
        dob_order: str = normalise.DOB_ORDER_DAY_FIRST,
    ):
        self.dob_order = dob_order
        # The row being read's date of birth repairs (normalise.DOB_REPAIRS) and whether it had one.
        self._row_repairs: list[str] = []
        self._row_has_dob = False
        # The row being read's identifiers whose value failed their rule (IDENTIFIER_RULES).
        self._row_invalid: list[str] = []
        by_name = {name.casefold(): name for name in header}
        # A download of rows set aside sent back: its cells lose the quote the download put
        # before formula-like values, or "-3" would come back as "'-3", not a number.
        self.unquote = set_aside_download(definition, header)
        # None when the file has no record id column: the platform derives each row's id from
        # its identifiers at ingest (agencies.ingest.validation.source_id_derive), where the key is.
        self.source_column = (
            by_name[definition.source_id_column.casefold()] if definition.has_record_id else None
        )
        self.event_column = definition.event_date_column
        # (file column, key in identifiers or payload, is identifier, repeatable, required, check)
        self.plan = [
            (
                by_name[spec.column.casefold()],
                spec.identifier or spec.column,
                bool(spec.identifier),
                spec.identifier in REPEATABLE_IDENTIFIERS,
                spec.required,
                self._check_for(spec, by_name[spec.column.casefold()]),
            )
            for spec in definition.columns
            if not spec.ignored
        ]
        # (payload key, contact role, warning) of each contact column: checked against the row's
        # own identifiers once the whole row is read.
        self.contacts = [
            (
                spec.column,
                spec.contact,
                contact_subject_warning(spec, by_name[spec.column.casefold()]),
            )
            for spec in definition.columns
            if spec.contact
        ]
        # Free-text payload columns, which people type names into: each is redacted of the
        # row's own identifiers. Contact columns are the agency's details, read by their own
        # rule above, not free text.
        self.free_text, self.typed_contacts = free_text_columns(definition)

    def validate(self, row: Row) -> RowOutcome:
        values = row.values
        if self.unquote:
            values = {column: formula_quote_remove(value) for column, value in values.items()}
        self._row_repairs = []
        self._row_has_dob = False
        self._row_invalid = []
        errors: list[str] = [row.problem] if row.problem else []
        for column, value in values.items():
            if not value.isascii() and not _storable(value) or "\x00" in value:
                # PostgreSQL's JSON refuses NUL; left in, it would fail the whole extract and
                # put the row's text into the database's error message.
                errors.append(f"Column {column} holds a control character (NUL) or broken text.")
                break
        warnings: list[str] = []
        source_id = values.get(self.source_column, "").strip() if self.source_column else ""
        if not self.source_column:
            pass  # derived at ingest from the identifiers
        elif not source_id:
            errors.append(f"The record id ({self.source_column}) is missing.")
        elif len(source_id) > 200:
            errors.append(f"The record id ({self.source_column}) is over 200 characters.")
        identifiers: dict[str, str] = {}
        payload: dict[str, Any] = {}
        event_date = None
        for file_column, key, is_identifier, repeatable, required, check in self.plan:
            text = values.get(file_column, "").strip()
            if not text:
                if required:
                    what = "identifier" if is_identifier else "field"
                    errors.append(f"Required {what} {file_column} is missing.")
                continue
            value = check(text, errors, warnings)
            if value is None:
                continue
            if is_identifier:
                if repeatable and key in identifiers:
                    value = f"{identifiers[key]}, {value}"
                identifiers[key] = value
            elif isinstance(value, date):
                payload[key] = value.isoformat()
                if key == self.event_column:
                    event_date = value
            else:
                payload[key] = value
        for key, role, warning in self.contacts:
            if key in payload and contact_is_subject_identifier(role, payload[key], identifiers):
                del payload[key]
                warnings.append(warning)
                self._row_repairs.append(CONTACT_SUBJECT)
        if (self.free_text or self.typed_contacts) and identifiers and not errors:
            # A row with errors is set aside as it was in the file, its payload unused.
            self._row_repairs.extend(
                free_text_redact(
                    payload,
                    identifiers,
                    free_text=self.free_text,
                    typed_contacts=self.typed_contacts,
                    dob_order=self.dob_order,
                )
            )
        return RowOutcome(
            source_id,
            identifiers,
            payload,
            event_date,
            errors,
            warnings,
            repairs=self._row_repairs,
            has_dob=self._row_has_dob,
            identifiers_invalid=tuple(self._row_invalid) if self._row_invalid else (),
        )

    def _check_for(self, spec: ColumnSpec, file_column: str):
        """The function that reads one non-empty cell of this column: value, or None on error."""
        field = spec.identifier
        if field == "date_of_birth":
            # A damaged date of birth is a warning, never a reason to set a record aside: what
            # can be read of it (a repaired date, the month and year, the year) is kept.
            messages = dob_repair_warnings(file_column)
            order = self.dob_order

            def date_of_birth(text, errors, warnings):
                reading = normalise.dob_read(text, order=order)
                self._row_has_dob = True
                for repair in reading.repairs:
                    self._row_repairs.append(repair)
                    warnings.append(messages[repair])
                if len(reading.value) != FULL_DATE_LENGTH:  # only a month, a year, or nothing
                    self._row_invalid.append("date_of_birth")
                return reading.value or None

            return date_of_birth
        if field == "nhs_number":
            warning = f"NHS number ({file_column}) fails its check digit."

            def nhs_number(text, errors, warnings):
                digits, valid = normalise.nhs_number_normalise(text)
                if not valid:
                    warnings.append(warning)
                    self._row_repairs.append(NHS_CHECK_DIGIT)
                    self._row_invalid.append("nhs_number")
                return digits or normalise.text_clean(text)

            return nhs_number
        if field == "postcode":

            def postcode(text, errors, warnings):
                value, valid = normalise.postcode_read(text)
                if not valid:
                    self._row_invalid.append("postcode")
                return value

            return postcode
        if field in _TEXT_IDENTIFIER_FAILS:
            # Stored as cleaned text as before (linkage normalises it); only judged here.
            fails, name, clean = _TEXT_IDENTIFIER_FAILS[field], field, normalise.text_clean

            def judged(text, errors, warnings):
                value = clean(text)
                if fails(value):
                    self._row_invalid.append(name)
                return value

            return judged
        if field:
            return lambda text, errors, warnings: normalise.text_clean(text)
        if spec.contact:
            return self._contact_check(spec, file_column)
        return _SENSITIVE_CHECKS[spec.type](spec, file_column)

    def _contact_check(self, spec: ColumnSpec, file_column: str):
        """A contact that is not what its role says (a team phone that is no phone number) is
        left out with a warning, never a reason to set the row aside: the record is still
        the agency's, only its contact is missing."""
        role = spec.contact
        repair, warning = {
            TEAM_PHONE: (
                CONTACT_NOT_PHONE,
                f"{spec.label} ({file_column}) is not a UK phone number, so it is left out of "
                "the contact details.",
            ),
            TEAM_EMAIL: (
                CONTACT_NOT_EMAIL,
                f"{spec.label} ({file_column}) is not an email address, so it is left out of "
                "the contact details.",
            ),
        }.get(role, ("", ""))

        def contact(text, errors, warnings):
            value = contact_value_read(role, text)
            if not value:
                if repair:
                    warnings.append(warning)
                    self._row_repairs.append(repair)
                return None
            return value

        return contact


# --- Data quality of identifiers ----------------------------------------------------------------

FULL_DATE_LENGTH = len("YYYY-MM-DD")
# What makes a present identifier valid, in words an agency admin reads on the data quality page
# ("... of the values present were <rule>"). An identifier without an entry has no rule: any
# value counts (addresses, other names, local ids).
IDENTIFIER_RULES: dict[str, str] = {
    "forename": "a name, not a stand-in such as Baby or Unknown",
    "surname": "a name, not a stand-in such as Baby or Unknown",
    "date_of_birth": "a full date (day, month and year)",
    "gender": "male, female or another gender ShareHub recognises",
    "postcode": "shaped like a UK postcode",
    "nhs_number": "10 digits passing the NHS number check digit",
    "upn": "a unique pupil number with the right check letter",
    "pnc_id": "a PNC id with the right check character",
}
# Whether the cleaned text of an identifier kept as text fails its rule.
_TEXT_IDENTIFIER_FAILS = {
    "forename": normalise.name_is_placeholder,
    "surname": normalise.name_is_placeholder,
    "gender": lambda value: not normalise.gender_normalise(value),
    "upn": lambda value: not upn_is_valid(normalise.upn_normalise(value)),
    "pnc_id": lambda value: not pnc_id_is_valid(normalise.pnc_id_normalise(value)),
}


class IdentifierTally:
    """Counts, over the rows an extract loads, how many had each identifier the dataset maps
    and how many of those failed its rule: the extract's data quality. Counts only.

    `add` runs for every loaded row of files with millions of rows, and ingest must not slow
    down for it: it adds to counters already in place and allocates nothing (a new object per
    row would also make the garbage collector run more often over the rows being staged).
    """

    def __init__(self, definition: Definition):
        self.mapped = [
            name for name in dict.fromkeys(spec.identifier for spec in definition.columns) if name
        ]
        self.rows = 0
        # Every identifier a row can hold, so that `add` never has to ask whether one is there.
        self._present = dict.fromkeys(IDENTIFIER_FIELDS, 0)
        self._invalid = dict.fromkeys(IDENTIFIER_FIELDS, 0)

    def add(self, outcome: RowOutcome) -> None:
        self.rows += 1
        present = self._present
        for name in outcome.identifiers:
            present[name] += 1
        if invalid := outcome.identifiers_invalid:
            for name in invalid:
                self._invalid[name] += 1
            if "date_of_birth" in invalid and "date_of_birth" not in outcome.identifiers:
                present["date_of_birth"] += 1  # written, but unreadable

    def as_json(self) -> dict[str, Any]:
        """{"rows": rows counted, "identifiers": {name: {"present": n, "invalid": n}}} for each
        identifier the dataset maps, with "invalid" only for those that have a rule."""
        identifiers: dict[str, dict[str, int]] = {}
        for name in self.mapped:
            counts = {"present": self._present[name]}
            if name in IDENTIFIER_RULES:
                counts["invalid"] = self._invalid[name]
            identifiers[name] = counts
        return {"rows": self.rows, "identifiers": identifiers}


# Kinds of contact left out at loading, counted with the identifier repairs and reported apart.
CONTACT_NOT_PHONE = "contact_not_phone"
CONTACT_NOT_EMAIL = "contact_not_email"
CONTACT_SUBJECT = "contact_subject"
CONTACT_REPAIRS = {
    CONTACT_NOT_PHONE: "not_phone",
    CONTACT_NOT_EMAIL: "not_email",
    CONTACT_SUBJECT: "subject_identifier",
}


# Identifiers taken out of free text (sharehub_bridge.redaction), one repair for each, and one
# for each row redacted; the extract's result counts them apart (ingest: "free_text").
REDACTED = {kind: f"redacted_{kind}" for kind in PLACEHOLDERS}
FREE_TEXT_REDACTED_ROW = "redacted_row"
FREE_TEXT_REPAIRS = {
    **{repair: kind for kind, repair in REDACTED.items()},
    FREE_TEXT_REDACTED_ROW: "rows",
}


def free_text_repairs_take(repairs: Counter[str]) -> dict[str, int]:
    """Take the free-text redactions out of an extract's count of row repairs: how many of each
    kind of identifier were replaced ("name": 12, ...) and in how many rows ("rows": 9)."""
    return {
        name: count
        for repair, name in FREE_TEXT_REPAIRS.items()
        if (count := repairs.pop(repair, 0))
    }


def contact_subject_warning(spec: ColumnSpec, file_column: str) -> str:
    role = CONTACT_ROLES[spec.contact].lower()
    return (
        f"{spec.label} ({file_column}), the {role}, is the same as the person's own name or "
        "another of their identifiers on this row, so it is not kept: contact columns hold "
        "your agency's details, never the person's."
    )


def dob_repair_warnings(file_column: str) -> dict[str, str]:
    """The row warning for each kind of date of birth repair; names the column, never a value."""
    return {
        "swapped": f"Date of birth ({file_column}) has day and month the other way round from "
        "the rest of the file; it was read with them swapped back.",
        "ocr": f"Date of birth ({file_column}) has letters or marks where digits belong; they "
        "were read as the digits they look like.",
        "impossible_day": f"Date of birth ({file_column}) is not a real day; only the month and "
        "year were kept.",
        "year_only": f"Date of birth ({file_column}) could be read only as far as the year; the "
        "year was kept.",
        "unreadable": f"Date of birth ({file_column}) could not be read as a date, so it is left "
        f"out. Use {normalise.DATE_FORMATS_HELP}.",
    }


DOB_ORDER_SAMPLE_ROWS = 10_000
NHS_CHECK_DIGIT = "nhs_check_digit"


def dob_order_detect(definition: Definition, reader: ExtractReader) -> str:
    """Whether the file writes dates of birth day first (UK) or month first, from its first
    rows: a whole file keyed the American way is read that way, not repaired row by row.
    `reader` is a fresh reader of the file; its rows are read only as far as the sample."""
    columns = [
        spec.column.casefold() for spec in definition.columns if spec.identifier == "date_of_birth"
    ]
    if not columns:
        return normalise.DOB_ORDER_DAY_FIRST
    by_name = {name.casefold(): name for name in reader.header}
    names = [by_name[c] for c in columns if c in by_name]
    values = (
        row.values.get(name, "")
        for row in islice(reader.rows(), DOB_ORDER_SAMPLE_ROWS)
        for name in names
    )
    return normalise.date_order_detect(values)


def _text_check(spec, file_column):
    return lambda text, errors, warnings: text


def _date_check(spec, file_column):
    problem = f"{spec.label} ({file_column}) is not a date; use {normalise.DATE_FORMATS_HELP}."

    def check(text, errors, warnings):
        parsed = normalise.date_parse(text)
        if parsed is None:
            errors.append(problem)
        return parsed

    return check


def _category_check(spec, file_column):
    allowed = {value.casefold(): value for value in spec.values}
    problem = (
        f"{spec.label} ({file_column}) is not one of the allowed values: {', '.join(spec.values)}."
    )

    def check(text, errors, warnings):
        value = allowed.get(text.casefold())
        if value is None:
            errors.append(problem)
        return value

    return check


def _number_check(spec, file_column):
    problem = f"{spec.label} ({file_column}) is not a number."

    def check(text, errors, warnings):
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            errors.append(problem)
            return None
        if not math.isfinite(number):
            errors.append(problem)
            return None
        return int(number) if number.is_integer() else number

    return check


def _boolean_check(spec, file_column):
    problem = f"{spec.label} ({file_column}) must be yes or no."

    def check(text, errors, warnings):
        lowered = text.casefold()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        errors.append(problem)
        return None

    return check


_SENSITIVE_CHECKS = {
    "text": _text_check,
    "date": _date_check,
    "category": _category_check,
    "number": _number_check,
    "boolean": _boolean_check,
}


def _storable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, which JSON input can carry
        return False
    return True


# The two columns the download of rows set aside puts first
# (agencies.ingest.quarantine.quarantine_csv_rows): the row's place in the file it came from, and
# why it was set aside.
SET_ASIDE_COLUMNS = ("row_in_file", "reasons")


def set_aside_download(definition: Definition, header: list[str]) -> bool:
    """Whether the file is a download of rows set aside, sent back as it is: it starts with
    exactly the two columns the download writes, which the dataset does not define itself."""
    defined = {spec.column.casefold() for spec in definition.columns}
    defined.add(definition.source_id_column.casefold())
    return tuple(header[: len(SET_ASIDE_COLUMNS)]) == SET_ASIDE_COLUMNS and not any(
        name in defined for name in SET_ASIDE_COLUMNS
    )


def formula_quote_remove(value: str) -> str:
    """A cell of a set-aside download as it was in the file: the quote the download writes
    before a cell that starts like a formula (definitions.csv_cell_safe: "'-3") is taken
    off again ("-3")."""
    if value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


def header_check(definition: Definition, header: list[str]) -> None:
    """Whole-file check: the file has exactly the columns the definition names (a download of
    rows set aside may add the two columns it writes first; they are ignored)."""
    if set_aside_download(definition, header):
        header = header[len(SET_ASIDE_COLUMNS) :]
    in_file = {name.casefold(): name for name in header}
    defined = {spec.column.casefold() for spec in definition.columns}
    record_id = definition.source_id_column
    if record_id:
        defined.add(record_id.casefold())
    missing = [spec.column for spec in definition.columns if spec.column.casefold() not in in_file]
    if record_id and record_id.casefold() not in in_file:
        missing.insert(0, record_id)
    unknown = [name for key, name in in_file.items() if key not in defined]
    # Without even the record id column (or, with none defined, any defined column), the first
    # row is probably data, not names: its cells may be identifiers, so they are not repeated.
    if unknown and record_id and record_id.casefold() not in in_file:
        raise ExtractFileError(
            f"The file has no {record_id} column, so its first row may be "
            "data rather than the column names. Export the extract with its header row, using "
            "the column names of the dataset definition."
        )
    if unknown and not record_id and not defined & set(in_file):
        raise ExtractFileError(
            "The file has none of the dataset's columns, so its first row may be data rather "
            "than the column names. Export the extract with its header row, using the column "
            "names of the dataset definition."
        )
    problems = []
    if missing:
        problems.append(f"it lacks the columns {', '.join(missing)}")
    if unknown:
        problems.append(f"it has columns the dataset does not define: {', '.join(unknown)}")
    if problems:
        raise ExtractFileError(
            f"The file's columns do not match the dataset definition: {'; and '.join(problems)}. "
            "Export the extract with the defined columns, or change the definition (mark columns "
            "you do not need as ignored)."
        )


# Every kind of repair a RowValidator can note on a row: what the platform accepts in a sealed
# extract's rows from the bridge.
ROW_REPAIRS = frozenset(
    {*normalise.DOB_REPAIRS, NHS_CHECK_DIGIT, *CONTACT_REPAIRS, *FREE_TEXT_REPAIRS}
)


def free_text_columns(definition: Definition) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(free-text columns, contact columns people type) of a definition: where a row's text
    can hold the person's own identifiers. The lead worker and team are typed by people too, and
    the outside review of issue 23 found "Wilma Vexley DOB 09/10/2011" in one."""
    free_text = tuple(
        spec.column
        for spec in definition.columns
        if spec.type == "text" and not spec.contact and not spec.identifier
    )
    typed_contacts = tuple(
        spec.column for spec in definition.columns if spec.contact in (LEAD_WORKER, TEAM)
    )
    return free_text, typed_contacts


# A forename alone in a contact is as likely the worker's own ("PC Ann Jones" on Ann Patel's
# record) as the person's, and without the rest it identifies no one; an address's town is as
# likely the team's ("Northbridge MASH"): contacts keep both.
_CONTACT_KEEPS = frozenset({"forename", "address"})


def free_text_redact(
    payload: dict[str, Any],
    identifiers: dict[str, str],
    *,
    free_text: tuple[str, ...],
    typed_contacts: tuple[str, ...] = (),
    dob_order: str = normalise.DOB_ORDER_DAY_FIRST,
) -> list[str]:
    """Replace the row's own identifiers in its free text (and, all but a forename or address
    alone, in the contacts people type) with placeholders, in `payload`. Returns the repairs:
    one REDACTED kind per identifier replaced, and FREE_TEXT_REDACTED_ROW once if any was. Run
    by the validator (bridge and web alike) and again by the platform on rows from the bridge,
    whose identities it opens."""
    repairs: list[str] = []
    kept = {k: v for k, v in identifiers.items() if k in _CONTACT_KEEPS}
    # The person's names as letters only, for finding them run together or spelt out.
    names = tuple(
        letters
        for key in ("forename", "surname", "other_names")
        if len(letters := "".join(c for c in identifiers.get(key, "").casefold() if c.isalpha()))
        >= 3
    )
    for columns, held, together in (
        (free_text, identifiers, None),
        (
            typed_contacts,
            {k: v for k, v in identifiers.items() if k not in _CONTACT_KEEPS},
            # A forename and an address each alone stay; both together are the person.
            kept if len(kept) == len(_CONTACT_KEEPS) else None,
        ),
    ):
        redactor = None
        for key in columns:
            text = payload.get(key)
            if not text or not isinstance(text, str):
                continue
            if redactor is None:
                redactor = IdentifierRedactor(held, dob_order=dob_order)
            redacted, kinds = _redact_folded(redactor, text, names)
            if together is not None:
                both, both_kinds = _redact_folded(
                    IdentifierRedactor(together, dob_order=dob_order), redacted, names
                )
                if {"name", "address"} <= set(both_kinds):
                    redacted, kinds = both, [*kinds, *both_kinds]
            if kinds:
                payload[key] = redacted
                repairs.extend(REDACTED[kind] for kind in kinds)
    if repairs:
        repairs.append(FREE_TEXT_REDACTED_ROW)
    return repairs


# Characters that hide an identifier from the redactor without changing how it reads: zero
# width spaces and joiners, soft hyphens, the minus and slash look-alikes NFKC leaves alone, and
# the Cyrillic letters drawn like Latin ones (second and third outside reviews of issue 23).
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_LOOK_ALIKES = str.maketrans(
    {
        "\u2212": "-",
        "\u2215": "/",
        "\u2044": "/",
        "\u29f8": "/",
        **dict(zip("аеорсухіјѕԁ", "aeopcyxijsd", strict=True)),
        **dict(zip("АВЕКМНОРСТХІЈЅ", "ABEKMHOPCTXIJS", strict=True)),
    }
)
# Names typed run together ("OttolinePrewarth") or a letter at a time ("P r e w a r t h").
_RUN_TOGETHER = re.compile(r"(?<=[a-z])(?=[A-Z])")
_SPELT_OUT = re.compile(r"\b(?:[^\W\d_][ .]){2,}[^\W\d_]\b")
_SPELT_OUT_GAPS = re.compile(r"[ .]")


def _redact_folded(
    redactor: IdentifierRedactor, text: str, names: tuple[str, ...]
) -> tuple[str, list[str]]:
    """Redact the text as written, then its folded form: NFKC (full-width letters and digits
    read as ASCII), invisible characters dropped, look-alike characters as the Latin ones,
    names run together split and names spelt out joined. The folded form is kept only when it
    reveals an identifier the text as written hid; otherwise the text keeps its characters."""
    redacted, kinds = redactor.redact(text)
    folded = redacted
    if not folded.isascii():
        folded = unicodedata.normalize("NFKC", folded).translate(_INVISIBLE).translate(_LOOK_ALIKES)
    # Names run together or spelt out are looked for only where a name's letters are in the
    # text with its spaces and dots taken out: the two patterns cost more than the redactor.
    squashed = folded.casefold().replace(" ", "").replace(".", "")
    if any(name in squashed for name in names):
        folded = _RUN_TOGETHER.sub(" ", folded)
        folded = _SPELT_OUT.sub(lambda match: _SPELT_OUT_GAPS.sub("", match.group()), folded)
    if folded == redacted:
        return redacted, kinds
    again, more = redactor.redact(folded)
    return (again, [*kinds, *more]) if more else (redacted, kinds)


def contacts_read_again(
    definition: Definition, payload: dict[str, Any], identifiers: dict[str, str]
) -> tuple[list[str], list[str]]:
    """A record's contacts that came from elsewhere (a sealed row from the bridge), read again
    by their role's rule as RowValidator reads a file's: one that is not what its role says
    (a team phone that is no phone number) or is the person's own identifier is taken out of
    `payload`. Returns (warnings, repairs), worded and counted as for a file's rows."""
    warnings: list[str] = []
    repairs: list[str] = []
    for spec in definition.columns:
        value = payload.get(spec.column)
        if not spec.contact or not isinstance(value, str):
            continue
        read = contact_value_read(spec.contact, value)
        if not read:
            del payload[spec.column]
            if spec.contact in (TEAM_PHONE, TEAM_EMAIL):
                kind = "a UK phone number" if spec.contact == TEAM_PHONE else "an email address"
                warnings.append(
                    f"{spec.label} ({spec.column}) is not {kind}, so it is left out of the "
                    "contact details."
                )
                repairs.append(
                    CONTACT_NOT_PHONE if spec.contact == TEAM_PHONE else CONTACT_NOT_EMAIL
                )
        elif contact_is_subject_identifier(spec.contact, read, identifiers):
            del payload[spec.column]
            warnings.append(contact_subject_warning(spec, spec.column))
            repairs.append(CONTACT_SUBJECT)
        else:
            payload[spec.column] = read
    return warnings, repairs
