"""What one agency holds about a person, opened for a subject access report.

The only place in this app that opens a sealed identity or a released part. It opens only what
its caller names by agency: the requesting agency's own records (services), or the owning
agency's records for its own IG officer to review and release (release). Another agency's
records reach a requester only as its owner released them (`release_content`).
"""

import hashlib
import json

from agencies.models import SourceRecord
from consent.models import ConsentRecord, SafeguardingOverride
from matching.models import Person
from matching.pseudonymise import identity_open, release_open
from sharehub_bridge.definitions import IDENTIFIER_FIELDS
from subject_access.models import PartRelease

# Keys of what an owner may withhold, in forms and in a release's `withheld`:
# "r<record id>" a whole record, "r<record id>:i:<key>" an identifier, "r<record id>:f:<key>" a
# field, "n:<consent|override>:<id>" a note its agency wrote.


def person_records(person: Person):
    return (
        SourceRecord.objects.filter(linkage__person=person)
        .select_related("dataset__agency", "linkage")
        .order_by("dataset__agency__name", "dataset__name", "event_date", "pk")
    )


def holding_agency_ids(person: Person) -> set[int]:
    return set(person_records(person).values_list("dataset__agency_id", flat=True).distinct())


def _labels(record: SourceRecord) -> dict[str, str]:
    """Field labels from the dataset version that wrote the record: the subject should read the
    agency's own words for each field."""
    columns = record.last_extract.version.columns if record.last_extract_id else []
    return {c["column"]: c.get("label") or c["column"] for c in columns if not c.get("ignore")}


def _text(value) -> str:
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    return "" if value is None else str(value)


def agency_records_opened(*, person: Person, agency_id: int) -> list[dict]:
    """Every record `agency_id` holds about `person`, identity opened, as plain data."""
    opened = []
    records = person_records(person).filter(dataset__agency_id=agency_id)
    for record in records.select_related("last_extract__version"):
        dataset = record.dataset
        identity = identity_open(
            agency_id=dataset.agency_id,
            dataset_id=dataset.pk,
            source_id=record.source_id,
            blob=bytes(record.identity),
        )
        labels = _labels(record)
        linkage = record.linkage
        opened.append(
            {
                "record_id": record.pk,
                "dataset": dataset.name,
                "source_id": record.source_id,
                "event_date": record.event_date.isoformat() if record.event_date else "",
                "identifiers": [
                    [key, IDENTIFIER_FIELDS.get(key, key), _text(value)]
                    for key, value in identity.items()
                ],
                "fields": [
                    [key, labels.get(key, key), _text(value)]
                    for key, value in record.payload.items()
                ],
                "is_retired": record.is_retired,
                "linked_at": linkage.linked_at.isoformat() if linkage.linked_at else "",
                "link_rule": linkage.link_rule,
                "link_score": linkage.link_score,
            }
        )
    return opened


def agency_notes(*, person: Person, agency_id: int) -> list[dict]:
    """The free text an agency's staff wrote about the person here: consent notes and override
    justifications. They are that agency's data, released with its part like its records."""
    notes = [
        {"kind": "consent", "id": pk, "text": note}
        for pk, note in ConsentRecord.objects.filter(person=person, recorded_by_agency_id=agency_id)
        .exclude(note="")
        .order_by("recorded_at", "pk")
        .values_list("pk", "note")
    ]
    notes += [
        {"kind": "override", "id": pk, "text": text}
        for pk, text in SafeguardingOverride.objects.filter(person=person, agency_id=agency_id)
        .exclude(justification="")
        .order_by("started_at", "pk")
        .values_list("pk", "justification")
    ]
    return notes


def note_authoring_agency_ids(person: Person) -> set[int]:
    consent = ConsentRecord.objects.filter(person=person).exclude(note="")
    overrides = SafeguardingOverride.objects.filter(person=person).exclude(justification="")
    return {
        *consent.exclude(recorded_by_agency=None).values_list("recorded_by_agency_id", flat=True),
        *overrides.exclude(agency=None).values_list("agency_id", flat=True),
    }


def part_fingerprint(*, person: Person, agency_id: int) -> str:
    """A digest of which records and notes an agency holds about the person and when each
    record last changed; ids and times only. A release must match what its reviewer saw."""
    records = (
        person_records(person)
        .filter(dataset__agency_id=agency_id)
        .order_by("pk")
        .values_list("pk", "updated_at")
    )
    notes = [(n["kind"], n["id"]) for n in agency_notes(person=person, agency_id=agency_id)]
    state = {"records": [[pk, at.isoformat()] for pk, at in records], "notes": notes}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()


def release_content(release: PartRelease, *, requesting_agency_id: int) -> dict:
    """What the owner released, opened for the requesting agency it was sealed for."""
    return release_open(
        agency_id=requesting_agency_id,
        part_id=release.part_id,
        number=release.number,
        blob=bytes(release.content),
    )
