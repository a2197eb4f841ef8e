"""The de-identified linked dataset, for commissioning and evaluation.

One row per record the analyst's protocols disclose for the purpose: a pseudonym of the person
made for this export only (HMAC-SHA256 of their reference under a random key that is dropped
when the export ends), the agencies involved with them, and the sensitive fields the analyst
chose, with every date cut to its month and the age at the event given as a band. No identifier
is written, and no free-text field can be chosen: notes name people. What is disclosed comes from
the disclosure engine, person by person, exactly as a case summary would show it to the analyst
under that purpose. Each export is logged with its purpose and the protocol versions used.

Persons come in the order of their pseudonym, keyed for the one export: two exports in one
order would line up row by row, and every pseudonym in one would map to the other.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from core.purpose import Purpose
from insights.models import DeidentifiedExport
from matching.models import Person
from matching.persons import persons_holding_records_in
from matching.screening import identifiers_in_text, screen_problem
from protocols.engine import disclose, grants_for
from protocols.fields import dataset_catalogues, identity_key
from sharehub_bridge.definitions import csv_cell_safe

EXPORT_PURPOSES = (Purpose.COMMISSIONING, Purpose.EVALUATION)
EXPORTABLE_TYPES = {"date", "category", "number", "boolean"}
PERSONS_PER_BATCH = 500
AGE_BANDS = ((0, 4), (5, 9), (10, 15), (16, 17), (18, 24), (25, 34), (35, 49), (50, 64))
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-\d{2}")
STATEMENT_MAX = 300


class ExportError(ValueError):
    def __init__(self, problems: dict[str, list[str]]):
        super().__init__("; ".join(p for ps in problems.values() for p in ps))
        self.problems = problems


@dataclass(frozen=True)
class ExportField:
    dataset_id: int
    dataset_name: str
    key: str
    label: str
    type: str

    @property
    def choice(self) -> str:
        return f"{self.dataset_id}|{self.key}"


def exportable_fields(*, user, membership, purpose: str) -> list[ExportField]:
    """The fields the analyst may choose: non-identifying, not free text, and disclosed by one of
    their protocols for `purpose` (whether a record's field is written is still decided by the
    engine, record by record)."""
    grants = grants_for(
        user=user, membership=membership, purpose=purpose, today=timezone.localdate()
    )
    dataset_ids = sorted({g.dataset_id for g in grants})
    catalogues = dataset_catalogues(dataset_ids)
    from agencies.models import Dataset

    names = dict(Dataset.objects.filter(pk__in=dataset_ids).values_list("pk", "name"))
    granted: dict[int, set[str]] = {}
    for grant in grants:
        keys = frozenset(f.key for f in catalogues.get(grant.dataset_id, []))
        granted.setdefault(grant.dataset_id, set()).update(grant.detail_fields(keys))
    return [
        ExportField(dataset_id, names[dataset_id], info.key, info.label, info.type)
        for dataset_id in dataset_ids
        for info in catalogues.get(dataset_id, [])
        if not info.is_identity
        and info.type in EXPORTABLE_TYPES
        and info.key in granted.get(dataset_id, set())
    ]


def age_band(born: date, on: date) -> str:
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    if age < 0:
        return ""
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}-{high}"
    return "65+"


def month_of(value) -> str:
    """A date cut to its month; anything that is not a date is returned as it is."""
    if isinstance(value, date):
        return f"{value:%Y-%m}"
    if isinstance(value, str):
        match = _ISO_DATE.match(value)
        if match:
            return f"{match.group(1)}-{match.group(2)}"
    return "" if value is None else str(value)


def _date_of(text) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10])
    except (TypeError, ValueError):
        return None


def export_start(
    *,
    user,
    membership,
    purpose: str,
    statement: str,
    choices: list[str],
    age_bands: bool,
) -> tuple[DeidentifiedExport, list[str], Iterator[str]]:
    """Check the request, log the export, and return it with its header and CSV chunks."""
    problems: dict[str, list[str]] = {}
    if purpose not in EXPORT_PURPOSES:
        problems["purpose"] = ["Choose commissioning or evaluation."]
    statement = (statement or "").strip()
    if not statement:
        problems["statement"] = [
            'Say what the export is for, for example "Needs assessment for the domestic abuse '
            'strategy, 2027".'
        ]
    elif len(statement) > STATEMENT_MAX:
        problems["statement"] = [f"Shorten the purpose to {STATEMENT_MAX} characters or fewer."]
    elif kinds := identifiers_in_text(statement):
        problems["statement"] = [screen_problem(kinds, what="purpose")]
    available = (
        {f.choice: f for f in exportable_fields(user=user, membership=membership, purpose=purpose)}
        if purpose in EXPORT_PURPOSES
        else {}
    )
    chosen = [available[c] for c in dict.fromkeys(choices) if c in available]
    if purpose in EXPORT_PURPOSES and not available:
        problems["fields"] = [
            "None of your protocols shares records for this purpose, so there is nothing to "
            "export. Ask your IG officer."
        ]
    elif purpose in EXPORT_PURPOSES and (not chosen or len(chosen) != len(set(choices))):
        problems["fields"] = ["Choose at least one field, from the list shown."]
    if problems:
        raise ExportError(problems)
    export = DeidentifiedExport.objects.create(
        made_by=user,
        agency_id=membership.agency_id,
        purpose=purpose,
        purpose_statement=statement,
        fields=[c.choice for c in chosen],
        age_bands=age_bands,
    )
    audit_record(
        action=AuditAction.EXPORT,
        actor=user,
        membership=membership,
        channel="web",
        purpose=purpose,
        detail={
            "kind": "deidentified",
            "export": export.pk,
            "statement": statement,
            "fields": export.fields,
        },
    )
    header = ["person_pseudonym", "agencies_involved", "agency", "dataset", "event_month"]
    if age_bands:
        header.append("age_band_at_event")
    header += [f"{f.dataset_name}: {f.label}" for f in chosen]
    # Dataset names and labels are typed by agency admins: a header cell is as able to run as a
    # formula in a spreadsheet as any other cell.
    header = [csv_cell_safe(cell) for cell in header]
    return export, header, _chunks(export, user, membership, purpose, chosen, age_bands, header)


def _export_key() -> bytes:
    """The export's own key: its pseudonyms and its row order, dropped when the export ends."""
    return secrets.token_bytes(32)


def _person_pseudonym(key: bytes, reference: str) -> str:
    return hmac.new(key, b"person:" + reference.encode(), hashlib.sha256).hexdigest()[:20]


def _chunks(export, user, membership, purpose, chosen, age_bands, header) -> Iterator[str]:
    key = _export_key()
    by_dataset: dict[int, list[ExportField]] = {}
    for item in chosen:
        by_dataset.setdefault(item.dataset_id, []).append(item)
    columns = {item.choice: n for n, item in enumerate(chosen)}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    rows = persons = 0
    versions: set[int] = set()
    now = timezone.now()
    dob_key = identity_key("date_of_birth")
    person_ids = persons_holding_records_in(
        by_dataset, order_by=lambda reference: _person_pseudonym(key, reference)
    )
    try:
        for start in range(0, len(person_ids), PERSONS_PER_BATCH):
            batch_ids = person_ids[start : start + PERSONS_PER_BATCH]
            batch = Person.objects.filter(pk__in=batch_ids)
            views = disclose(
                user=user, membership=membership, persons=batch, purpose=purpose, now=now
            )
            for person_id in batch_ids:
                view = views.get(person_id)
                if view is None:
                    continue
                written = False
                pseudonym = _person_pseudonym(key, view.person.reference)
                involved = " ".join(sorted({i.agency.code for i in view.involvements}))
                for record in view.records:
                    wanted = by_dataset.get(record.dataset_id)
                    if not wanted:
                        continue
                    shown = {f.key: f for f in record.fields if f.shown}
                    cells = [""] * len(chosen)
                    any_field = False
                    for item in wanted:
                        found = shown.get(item.key)
                        if found is None:
                            continue
                        any_field = True
                        versions.update(found.allowed_versions)
                        value = month_of(found.value) if item.type == "date" else found.value
                        if isinstance(value, bool):
                            value = "yes" if value else "no"
                        cells[columns[item.choice]] = csv_cell_safe(value)
                    if not any_field:
                        continue
                    band = ""
                    born = shown.get(dob_key)
                    if age_bands and born is not None and record.event_date is not None:
                        born_on = _date_of(born.value)
                        band = age_band(born_on, record.event_date) if born_on else ""
                    line = [
                        pseudonym,
                        involved,
                        csv_cell_safe(record.agency.code),
                        csv_cell_safe(record.dataset_name),
                        month_of(record.event_date),
                    ]
                    if age_bands:
                        line.append(band)
                    writer.writerow(line + cells)
                    rows += 1
                    written = True
                persons += written
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()
        DeidentifiedExport.objects.filter(pk=export.pk).update(finished=True)
    finally:
        DeidentifiedExport.objects.filter(pk=export.pk).update(
            rows=rows, persons=persons, versions=sorted(versions)
        )
