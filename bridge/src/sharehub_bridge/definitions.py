"""Dataset definitions: what each column of an agency's extract is, checked in one place.

The same rules serve the web form, the API and `manage.py define_dataset` (whose JSON format is
in the README), so a definition accepted by one is accepted by all.
"""

from dataclasses import dataclass, field
from typing import Any

# Canonical identifier fields. Identifiers are pseudonymised at ingest and never stored as text.
IDENTIFIER_FIELDS: dict[str, str] = {
    "forename": "Forename",
    "surname": "Surname",
    "other_names": "Other names",
    "date_of_birth": "Date of birth",
    "gender": "Gender",
    "address": "Address line",
    "postcode": "Postcode",
    "nhs_number": "NHS number",
    "upn": "Unique pupil number (UPN)",
    "pnc_id": "PNC id",
    "local_id": "Other local id",
}
# Address lines and local ids may come in several columns; the rest at most once per dataset.
REPEATABLE_IDENTIFIERS = {"address", "other_names", "local_id"}

SENSITIVE_TYPES: dict[str, str] = {
    "date": "Date",
    "category": "Category",
    "number": "Number",
    "boolean": "Yes or no",
    "text": "Free text",
}

# Who to contact at the agency about a record: its own lead worker, team, team phone and team
# email, never the person's. A contact column is a free-text field of the payload, shared only as
# a protocol shares it; sharehub_bridge.contacts decides how each is read.
CONTACT_ROLES: dict[str, str] = {
    "lead_worker": "Lead worker",
    "team": "Team",
    "team_phone": "Team phone",
    "team_email": "Team email",
}

# Cells a spreadsheet runs as a formula start with one of these (CSV injection, OWASP).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\0")

MAX_NAME_LENGTH = 200
MAX_COLUMNS = 300


def csv_cell_safe(value: Any) -> str:
    """Neutralise a cell that a spreadsheet would run as a formula (CSV injection, OWASP): every
    CSV ShareHub or the bridge writes for people to open goes through this."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def formula_start_problem(text: Any, *, what: str, fix: str) -> str:
    """The problem with a name or label a spreadsheet would run as a formula, or "".

    Dataset names and labels become the column headers of the partnership's CSV downloads;
    those are made safe when written (csv_cell_safe), but a name that only works
    with a quote in front of it is no name to give a dataset, so it is refused where it is typed.
    """
    text = text if isinstance(text, str) else ""
    starting = next((t for t in (text, text.strip()) if t.startswith(FORMULA_PREFIXES)), "")
    if not starting:
        return ""
    first = {"\t": "a tab", "\r": "a line break", "\0": "a null character"}.get(
        starting[0], starting[0]
    )
    return (
        f"{what} starts with {first}, which spreadsheets read as the start of a formula. "
        f"{fix} so that it starts with a letter or a number."
    )


class DefinitionError(ValueError):
    """A definition that cannot be used; `problems` lists every reason, each saying what to fix."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ColumnSpec:
    column: str
    identifier: str = ""
    type: str = ""
    label: str = ""
    values: tuple[str, ...] = ()
    required: bool = False
    contact: str = ""  # a key of CONTACT_ROLES, for a text column holding the agency's contact

    @property
    def ignored(self) -> bool:
        return not self.identifier and not self.type

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"column": self.column}
        if self.identifier:
            data["identifier"] = self.identifier
        elif self.type:
            data["type"] = self.type
            data["label"] = self.label
            if self.values:
                data["values"] = list(self.values)
            if self.contact:
                data["contact"] = self.contact
        else:
            data["ignore"] = True
        if self.required:
            data["required"] = True
        return data


@dataclass(frozen=True)
class Definition:
    name: str
    # "" when the file has no record id column: each row's record id is then derived from the
    # person's identifiers at ingest, and the dataset takes full refreshes only.
    source_id_column: str
    event_date_column: str = ""
    columns: tuple[ColumnSpec, ...] = field(default_factory=tuple)

    @property
    def has_record_id(self) -> bool:
        return bool(self.source_id_column)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source_id_column": self.source_id_column,
            "event_date_column": self.event_date_column or None,
            "columns": [column.to_json() for column in self.columns],
        }


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _column_parse(
    index: int, raw: Any, problems: list[str], *, stored: bool = False
) -> ColumnSpec | None:
    where = f"Column {index}"
    if not isinstance(raw, dict):
        problems.append(f'{where} must be an object with a "column" name.')
        return None
    name = _text(raw.get("column"))
    if not name:
        problems.append(f'{where} has no "column" name.')
        return None
    if len(name) > MAX_NAME_LENGTH:
        problems.append(f"{where}: the column name is over {MAX_NAME_LENGTH} characters.")
        return None
    where = f'Column "{name}"'
    unknown_keys = set(raw) - {
        "column",
        "identifier",
        "type",
        "label",
        "values",
        "required",
        "ignore",
        "contact",
    }
    if unknown_keys:
        problems.append(f"{where} has unknown settings: {', '.join(sorted(unknown_keys))}.")
    identifier, kind = _text(raw.get("identifier")), _text(raw.get("type"))
    ignore = raw.get("ignore") is True
    if sum(map(bool, (identifier, kind, ignore))) != 1:
        problems.append(f'{where} needs exactly one of "identifier", "type" or "ignore": true.')
        return None
    if identifier and identifier not in IDENTIFIER_FIELDS:
        problems.append(
            f'{where}: "{identifier}" is not an identifier ShareHub knows. '
            f"Use one of: {', '.join(IDENTIFIER_FIELDS)}."
        )
        return None
    if kind and kind not in SENSITIVE_TYPES:
        problems.append(
            f'{where}: type "{kind}" is not known. Use one of: {", ".join(SENSITIVE_TYPES)}.'
        )
        return None
    values: tuple[str, ...] = ()
    if kind == "category":
        raw_values = raw.get("values")
        if not isinstance(raw_values, list) or not raw_values:
            problems.append(f'{where} is a category, so it needs a list of allowed "values".')
            return None
        values = tuple(dict.fromkeys(_text(v) for v in raw_values if _text(v)))
        if not values:
            problems.append(f"{where}: the allowed values are all empty.")
            return None
    elif "values" in raw:
        problems.append(f'{where}: only category columns take allowed "values".')
    label = _text(raw.get("label")) or name
    if len(label) > MAX_NAME_LENGTH:
        problems.append(f"{where}: the label is over {MAX_NAME_LENGTH} characters.")
    elif (
        kind
        and not stored
        and (
            problem := formula_start_problem(
                raw.get("label") if _text(raw.get("label")) else name,
                what=f"{where}: the label",
                fix="Change the label" if _text(raw.get("label")) else "Give it a label",
            )
        )
    ):
        problems.append(problem)
    required = raw.get("required", False)
    if not isinstance(required, bool):
        problems.append(f'{where}: "required" must be true or false.')
        required = False
    contact = _contact_parse(where, raw, problems, identifier=identifier, kind=kind)
    return ColumnSpec(
        column=name,
        identifier=identifier,
        type=kind,
        label=label if kind else "",
        values=values,
        required=required and not ignore,
        contact=contact,
    )


def _contact_parse(
    where: str, raw: dict, problems: list[str], *, identifier: str, kind: str
) -> str:
    """The column's contact role, or "" (with the problem noted) when it cannot have one."""
    contact = raw.get("contact")
    if contact is None or contact == "":
        return ""
    if not isinstance(contact, str) or contact not in CONTACT_ROLES:
        problems.append(
            f'{where}: "contact" must be one of: {", ".join(CONTACT_ROLES)}, or left out.'
        )
        return ""
    role = CONTACT_ROLES[contact].lower()
    if identifier:
        # A contact is kept as text in the record; an identifier is the person's own and is
        # only ever sealed. One column cannot be both.
        problems.append(
            f"{where} is mapped as an identifier, so it cannot also be the {role}: contact "
            "details are your agency's own, never the person's. Map it as one or the other."
        )
        return ""
    if not kind:
        problems.append(
            f"{where} is ignored, so it cannot be the {role}. Map it as free text to keep it."
        )
        return ""
    if kind != "text":
        problems.append(
            f'{where} is the {role}, so its type must be "text" (free text), not "{kind}".'
        )
        return ""
    return contact


def definition_parse(data: Any, *, stored: bool = False) -> Definition:
    """Check a definition given as JSON-like data; raise DefinitionError naming every problem.

    `stored`: a version saved before a rule was added still loads (its extracts keep coming);
    names that look like formulas are refused only when a definition is given, and written
    safely wherever they are written."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise DefinitionError(["The definition must be a JSON object."])
    name = _text(data.get("name"))
    if not name:
        problems.append('Give the dataset a "name", e.g. "Police - domestic abuse incidents".')
    elif len(name) > MAX_NAME_LENGTH:
        problems.append(f"The dataset name is over {MAX_NAME_LENGTH} characters.")
    elif not stored and (
        problem := formula_start_problem(
            data.get("name"), what="The dataset name", fix="Change the name"
        )
    ):
        problems.append(problem)
    raw_columns = data.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        problems.append('List the file\'s "columns", each with its role.')
        raw_columns = []
    elif len(raw_columns) > MAX_COLUMNS:
        problems.append(
            f"The file has {len(raw_columns)} columns; ShareHub takes at most {MAX_COLUMNS}. "
            "Leave out the columns the partnership does not need."
        )
        raw_columns = []
    columns = [
        spec
        for index, raw in enumerate(raw_columns, start=1)
        if (spec := _column_parse(index, raw, problems, stored=stored)) is not None
    ]

    seen: dict[str, str] = {}
    for spec in columns:
        key = spec.column.casefold()
        if key in seen:
            problems.append(f'Column "{spec.column}" is listed twice.')
        seen[key] = spec.column
    identifier_uses: dict[str, int] = {}
    for spec in columns:
        if spec.identifier:
            identifier_uses[spec.identifier] = identifier_uses.get(spec.identifier, 0) + 1
    for identifier, uses in identifier_uses.items():
        if uses > 1 and identifier not in REPEATABLE_IDENTIFIERS:
            problems.append(
                f"{IDENTIFIER_FIELDS[identifier]} is mapped from {uses} columns; map it from one."
            )
    contact_uses: dict[str, list[str]] = {}
    for spec in columns:
        if spec.contact:
            contact_uses.setdefault(spec.contact, []).append(spec.column)
    for contact, used_by in contact_uses.items():
        if len(used_by) > 1:
            problems.append(
                f"The {CONTACT_ROLES[contact].lower()} is mapped from {len(used_by)} columns "
                f"({', '.join(used_by)}); map it from one."
            )
    if columns and not identifier_uses:
        problems.append(
            "Map at least one column to an identifier (such as surname or NHS number), "
            "or ShareHub cannot match the records to anyone."
        )

    source_id_column = _text(data.get("source_id_column"))
    if "source_id_column" not in data:
        problems.append(
            'Name the "source_id_column": the column with each record\'s own id, or "" if the '
            "file has none (the dataset then takes full refreshes only)."
        )
    elif data["source_id_column"] is not None and not isinstance(data["source_id_column"], str):
        problems.append('The "source_id_column" must be a column name, or "" for none.')
    elif not source_id_column:
        pass  # no record id column: ids are derived from each row's identifiers at ingest
    elif columns and source_id_column.casefold() not in seen:
        problems.append(f'The source id column "{source_id_column}" is not among the columns.')
    else:
        source_id_column = seen.get(source_id_column.casefold(), source_id_column)
        as_identifier = next(
            (c.identifier for c in columns if c.column == source_id_column and c.identifier), ""
        )
        as_contact = next(
            (c.contact for c in columns if c.column == source_id_column and c.contact), ""
        )
        if as_contact:
            problems.append(
                f'The record id column "{source_id_column}" cannot also be the '
                f"{CONTACT_ROLES[as_contact].lower()}."
            )
        if as_identifier and as_identifier != "local_id":
            # The record id is stored as it is, to match later extracts; a national identifier
            # there would be a plaintext identifier in the database.
            problems.append(
                f'The record id column "{source_id_column}" is mapped as '
                f"{IDENTIFIER_FIELDS[as_identifier]}. Use your system's own record id instead: "
                "national identifiers are never stored as they are."
            )

    event_date_column = _text(data.get("event_date_column"))
    if event_date_column:
        match = next(
            (c for c in columns if c.column.casefold() == event_date_column.casefold()), None
        )
        if match is None:
            problems.append(
                f'The event date column "{event_date_column}" is not among the columns.'
            )
        elif match.type != "date":
            problems.append(f'The event date column "{event_date_column}" must have type "date".')
        else:
            event_date_column = match.column

    if problems:
        raise DefinitionError(problems)
    return Definition(
        name=name,
        source_id_column=source_id_column,
        event_date_column=event_date_column,
        columns=tuple(columns),
    )


def definition_from_version(version) -> Definition:
    """The Definition stored in a DatasetVersion (validated when it was saved)."""
    return definition_parse(
        {
            "name": version.dataset.name,
            "source_id_column": version.source_id_column,
            "event_date_column": version.event_date_column,
            "columns": version.columns,
        },
        stored=True,
    )
