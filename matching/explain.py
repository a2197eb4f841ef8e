"""Why a person is who they are: their records, how each joined, and what happened to them.

Everything here is linkage's own bookkeeping (agency, dataset, the agency's record id, rules,
probabilities, dates); no identifier is opened. Who may read it is decided by the views for now
(platform admins and link reviewers); the disclosure engine (issue 5) decides it later.
"""

from dataclasses import dataclass
from datetime import datetime

from matching.models import LinkageRecord, Person, PersonEvent


@dataclass
class ExplainedRecord:
    agency_code: str
    agency_name: str
    dataset_name: str
    source_id: str
    link_rule: str
    link_probability: float | None
    linked_with: dict | None  # the record it was linked with: agency, dataset, source id
    linked_at: datetime | None


@dataclass
class ExplainedEvent:
    kind: str
    description: str
    other_person: str | None
    records: int
    at: datetime
    run_kind: str


@dataclass
class PersonExplanation:
    reference: str
    is_active: bool
    created_at: datetime
    merged_into: str | None
    household: str | None
    records: list[ExplainedRecord]
    events: list[ExplainedEvent]

    def as_data(self) -> dict:
        return {
            "reference": self.reference,
            "is_active": self.is_active,
            "created_at": self.created_at,
            "merged_into": self.merged_into,
            "household": self.household,
            "records": [vars(record) for record in self.records],
            "events": [vars(event) for event in self.events],
        }


def person_explain(*, reference: str) -> PersonExplanation | None:
    """The explanation of the person with this reference, or None if there is none."""
    person = (
        Person.objects.select_related("household", "merged_into")
        .filter(reference=reference)
        .first()
    )
    if person is None:
        return None
    records = (
        LinkageRecord.objects.filter(person=person)
        .select_related("record__dataset__agency", "linked_with__dataset__agency")
        .order_by("record_id")
    )
    events = (
        PersonEvent.objects.filter(person=person)
        .select_related("other", "run")
        .order_by("at", "pk")
    )
    return PersonExplanation(
        reference=person.reference,
        is_active=person.is_active,
        created_at=person.created_at,
        merged_into=person.merged_into.reference if person.merged_into else None,
        household=person.household.reference if person.household else None,
        records=[_record(linkage) for linkage in records],
        events=[
            ExplainedEvent(
                kind=event.kind,
                description=event.get_kind_display(),
                other_person=event.other.reference if event.other else None,
                records=event.records,
                at=event.at,
                run_kind=event.run.get_kind_display(),
            )
            for event in events
        ],
    )


def _record(linkage: LinkageRecord) -> ExplainedRecord:
    record = linkage.record
    partner = linkage.linked_with
    return ExplainedRecord(
        agency_code=record.dataset.agency.code,
        agency_name=record.dataset.agency.name,
        dataset_name=record.dataset.name,
        source_id=record.source_id,
        link_rule=linkage.link_rule,
        link_probability=linkage.link_score,
        linked_with=(
            {
                "agency_code": partner.dataset.agency.code,
                "dataset_name": partner.dataset.name,
                "source_id": partner.source_id,
            }
            if partner is not None
            else None
        ),
        linked_at=linkage.linked_at,
    )
