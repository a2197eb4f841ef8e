"""Propose a dataset definition from a sample file's header and first rows, for an admin to check.

Only column names and the shape of values are looked at; no value is kept, and only the values of
columns proposed as categories (such as risk grades) are offered back, as the allowed values.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agencies.labels import readable_label
from sharehub_bridge.normalise import date_parse
from sharehub_bridge.readers import Row

SAMPLE_ROWS = 500
MAX_CATEGORY_VALUES = 15

_IDENTIFIER_NAMES = {
    "forename": {"forename", "firstname", "givenname", "first", "fname", "christianname"},
    "surname": {"surname", "lastname", "familyname", "last", "lname"},
    "other_names": {"middlename", "middlenames", "othernames", "othername", "alias", "aliases"},
    "date_of_birth": {"dob", "dateofbirth", "birthdate", "birthdt", "dobdate"},
    "gender": {"gender", "sex"},
    "postcode": {"postcode", "postalcode", "pcode", "zip"},
    "nhs_number": {"nhsnumber", "nhsno", "nhs", "nhsnum"},
    "upn": {"upn", "uniquepupilnumber", "pupilnumber"},
    "pnc_id": {"pncid", "pnc", "pncnumber", "pncno"},
}
# The agency's own contact details, proposed by the column's name alone: a phone column's digits
# would otherwise be proposed as a number, and lose its leading 0.
_CONTACT_NAMES = {
    "lead_worker": {
        "leadworker",
        "leadprofessional",
        "allocatedworker",
        "allocatedsocialworker",
        "socialworker",
        "keyworker",
        "caseworker",
        "caseowner",
        "officerincase",
        "oic",
        "worker",
    },
    "team": {"team", "teamname", "allocatedteam", "owningteam", "workerteam"},
    "team_phone": {"teamphone", "teamtelephone", "teamtel", "teamphonenumber"},
    "team_email": {"teamemail", "teamemailaddress", "teammail", "teammailbox"},
}
_ADDRESS = re.compile(r"^(address|addr|street|town|city|line)\w*$")
_SOURCE_ID = re.compile(r"^(id|ref|urn|recordid|recordref|\w+id|\w+ref|\w+reference|\w+number)$")
_NOT_SOURCE_ID = {"nhsnumber", "upn", "pncid", "pnc", "nhsno"}
TRUE_FALSE = {"true", "false", "yes", "no", "y", "n", "1", "0", "t", "f"}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class _ColumnStats:
    """What the proposal needs to know about a column, in bounded memory whatever the file."""

    count: int = 0
    dates: int = 0
    numbers: int = 0
    total_length: int = 0
    lowered: set[str] = field(default_factory=set)  # capped: only small sets matter
    distinct: set[str] = field(default_factory=set)  # capped likewise
    unique_so_far: bool = True
    seen_for_uniqueness: set[str] = field(default_factory=set)

    def add(self, value: str, *, check_unique: bool) -> None:
        self.count += 1
        self.total_length += len(value)
        self.dates += date_parse(value) is not None
        self.numbers += _is_number(value)
        if len(self.lowered) <= len(TRUE_FALSE):
            self.lowered.add(value.lower())
        if len(self.distinct) <= MAX_CATEGORY_VALUES:
            self.distinct.add(value)
        if check_unique and self.unique_so_far:
            if value in self.seen_for_uniqueness:
                self.unique_so_far = False
                self.seen_for_uniqueness.clear()
            else:
                self.seen_for_uniqueness.add(value)


def mapping_propose(
    header: list[str], rows: Iterable[Row], *, sample_rows: int | None = SAMPLE_ROWS
) -> dict:
    """A definition dict (sharehub_bridge.definitions format) with a role proposed for every column.

    `sample_rows=None` reads every row, so categories list every value the file holds; memory
    stays bounded either way (record id uniqueness is judged on the first SAMPLE_ROWS rows).
    """
    stats = {name: _ColumnStats() for name in header}
    id_like = {name for name in header if _SOURCE_ID.match(_key(name))}
    for count, row in enumerate(rows):
        if sample_rows is not None and count >= sample_rows:
            break
        check_unique = count < SAMPLE_ROWS
        for name in header:
            value = row.values.get(name, "").strip()
            if value:
                stats[name].add(value, check_unique=check_unique and name in id_like)

    columns: list[dict[str, Any]] = []
    used_identifiers: set[str] = set()
    used_contacts: set[str] = set()
    source_id = ""
    for name in header:
        key = _key(name)
        column_stats = stats[name]
        identifier = next(
            (
                field
                for field, names in _IDENTIFIER_NAMES.items()
                if key in names and field not in used_identifiers
            ),
            "",
        )
        if not identifier and _ADDRESS.match(key):
            identifier = "address"
        contact = "" if identifier else _contact_role(key, used_contacts)
        if (
            not source_id
            and not identifier
            and not contact
            and key not in _NOT_SOURCE_ID
            and name in id_like
            and column_stats.count
            and column_stats.unique_so_far
        ):
            source_id = name
            columns.append({"column": name, "ignore": True})
            continue
        if identifier:
            used_identifiers.add(identifier)
            columns.append({"column": name, "identifier": identifier})
            continue
        if contact:
            used_contacts.add(contact)
            columns.append(
                {"column": name, "type": "text", "label": readable_label(name), "contact": contact}
            )
            continue
        columns.append({"column": name, **_sensitive_guess(name, column_stats)})

    event_date = next(
        (c["column"] for c in columns if c.get("type") == "date" and "date" in _key(c["column"])),
        "",
    )
    return {
        "name": "",
        "source_id_column": source_id,
        "event_date_column": event_date,
        "columns": columns,
    }


def _contact_role(key: str, used: set[str]) -> str:
    return next(
        (role for role, names in _CONTACT_NAMES.items() if key in names and role not in used), ""
    )


def _sensitive_guess(name: str, stats: _ColumnStats) -> dict:
    label = readable_label(name)
    if not stats.count:
        return {"type": "text", "label": label}
    if stats.dates >= 0.8 * stats.count:
        return {"type": "date", "label": label}
    # Only 0s and 1s may be a count that has not reached 2 yet in the sample: a number is safer.
    if stats.lowered <= TRUE_FALSE and not stats.lowered <= {"0", "1"}:
        return {"type": "boolean", "label": label}
    if stats.numbers == stats.count:
        return {"type": "number", "label": label}
    distinct = sorted(stats.distinct)
    average_length = stats.total_length / stats.count
    if (
        len(distinct) <= MAX_CATEGORY_VALUES
        and stats.count >= 2 * len(distinct)
        and average_length < 40
    ):
        return {"type": "category", "label": label, "values": distinct}
    return {"type": "text", "label": label}


def _is_number(value: str) -> bool:
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True
