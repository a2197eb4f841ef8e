"""Subject access reports (UK GDPR Art 15): everything held about one person, for the IG officer
who compiles the response.

A subject access report is the data subject's own right, so it is the whole record, decrypted,
and not the protocol-filtered view the disclosure engine gives practitioners.  That is why this
module, and not protocols.engine, opens identities: the engine decides what staff may see of a
person; nothing here is shown to staff but the IG officer answering the request.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from agencies.definitions import IDENTIFIER_FIELDS
from agencies.models import Agency, Membership, Role, SourceRecord
from audit.models import AuditAction, AuditEntry
from consent.models import ConsentRecord, SafeguardingOverride
from matching.models import LinkageRecord, Person
from matching.pseudonymise import identity_open
from protocols.models import AccessLog

# The audit action a report writes. It is an IG officer's compilation for the subject, not a
# practitioner's view, so it is never listed in the report's access log as a view of their data
# (see `_access_entries`), but it is in the audit trail like every other read.
AUDIT_ACTION = AuditAction.SUBJECT_ACCESS


class SubjectAccessDenied(Exception):
    """The IG officer may not report on this person; answered as "not found" (404)."""


@dataclass(frozen=True)
class ReportField:
    label: str
    value: str


@dataclass
class ReportRecord:
    record_id: int
    source_id: str
    event_date: str
    identifiers: list[ReportField]
    fields: list[ReportField]
    is_retired: bool
    linked_at: datetime | None
    link_rule: str
    link_score: float | None


@dataclass
class ReportDataset:
    name: str
    records: list[ReportRecord] = field(default_factory=list)


@dataclass
class ReportAgency:
    name: str
    datasets: list[ReportDataset] = field(default_factory=list)


@dataclass(frozen=True)
class AccessEntry:
    at: datetime
    who: str
    action: str
    purpose: str
    outcome: str


@dataclass(frozen=True)
class ConsentEntry:
    recorded_at: datetime
    state: str
    scope: str
    who: str
    expires_on: str
    note: str


@dataclass(frozen=True)
class OverrideEntry:
    started_at: datetime
    expires_at: datetime
    category: str
    justification: str
    who: str
    review: str


@dataclass
class SubjectAccessReport:
    reference: str
    made_at: datetime
    staff_names_shown: bool
    agencies: list[ReportAgency]
    consents: list["ConsentEntry"]
    overrides: list["OverrideEntry"]
    access_log: list[AccessEntry]

    @property
    def record_count(self) -> int:
        return sum(len(d.records) for a in self.agencies for d in a.datasets)


def _person_records(person: Person):
    return (
        SourceRecord.objects.filter(linkage__person=person)
        .select_related("dataset__agency", "linkage")
        .order_by("dataset__agency__name", "dataset__name", "event_date", "pk")
    )


def subject_access_allowed(*, membership: Membership | None, person: Person) -> bool:
    """The one rule for who may compile a subject access report: an IG officer acting for an
    agency that holds a record about the person. That agency is a controller of the data and
    answers the request; an IG officer of an agency holding nothing about the person has no
    controller's reason to see it."""
    if membership is None or membership.role != Role.IG_OFFICER or membership.agency_id is None:
        return False
    return _person_records(person).filter(dataset__agency_id=membership.agency_id).exists()


def _labels(record: SourceRecord) -> dict[str, str]:
    """Field labels from the dataset version that wrote the record, falling back to the
    current one: the subject should read the agency's own words for each field."""
    columns = record.last_extract.version.columns if record.last_extract_id else []
    return {c["column"]: c.get("label") or c["column"] for c in columns if not c.get("ignore")}


def _text(value) -> str:
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    return "" if value is None else str(value)


def _staff(*, user, role: str, agency: Agency | None, names: bool) -> str:
    if names and user is not None:
        return user.get_full_name() or user.get_username()
    role_label = Role(role).label if role in Role.values else "A member of staff"
    where = agency.name if agency is not None else "the partnership"
    return f"{role_label}, {where}"


def _access_entries(person: Person, *, names: bool) -> list[AccessEntry]:
    """Every logged read of the person's data. Subject access reports themselves are audit
    entries, not access-log rows, so compiling this report never shows up here as if a
    practitioner had looked at the person."""
    entries = []
    for row in (
        AccessLog.objects.filter(person=person)
        .select_related("user", "agency")
        .order_by("at", "pk")
    ):
        entries.append(
            AccessEntry(
                at=row.at,
                who=_staff(user=row.user, role=row.role, agency=row.agency, names=names),
                action=row.get_action_display(),
                purpose=row.get_purpose_display() or row.purpose,
                outcome="Shown" if row.found else "Refused (no protocol covered them)",
            )
        )
    return entries


def subject_access_report(
    *, user, membership: Membership | None, person: Person, show_staff_names: bool, channel: str
) -> SubjectAccessReport:
    """The whole record of `person` across agencies, with linkage facts, consent, overrides and
    the access log; staff named or reduced to role and agency as the IG officer chose.
    Writes one audit entry with no content. Raises SubjectAccessDenied (shown as 404)."""
    if not subject_access_allowed(membership=membership, person=person):
        audit_outcome = "not_found"
        _audit(user, membership, person, channel, audit_outcome, show_staff_names, 0)
        raise SubjectAccessDenied()
    agencies: dict[int, ReportAgency] = {}
    datasets: dict[int, ReportDataset] = {}
    records = _person_records(person).select_related("last_extract__version")
    for record in records:
        dataset = record.dataset
        agency = agencies.setdefault(dataset.agency_id, ReportAgency(name=dataset.agency.name))
        if dataset.pk not in datasets:
            datasets[dataset.pk] = ReportDataset(name=dataset.name)
            agency.datasets.append(datasets[dataset.pk])
        identity = identity_open(
            agency_id=dataset.agency_id,
            dataset_id=dataset.pk,
            source_id=record.source_id,
            blob=bytes(record.identity),
        )
        labels = _labels(record)
        linkage: LinkageRecord = record.linkage
        datasets[dataset.pk].records.append(
            ReportRecord(
                record_id=record.pk,
                source_id=record.source_id,
                event_date=record.event_date.isoformat() if record.event_date else "",
                identifiers=[
                    ReportField(IDENTIFIER_FIELDS.get(key, key), _text(value))
                    for key, value in identity.items()
                ],
                fields=[
                    ReportField(labels.get(key, key), _text(value))
                    for key, value in record.payload.items()
                ],
                is_retired=record.is_retired,
                linked_at=linkage.linked_at,
                link_rule=linkage.link_rule,
                link_score=linkage.link_score,
            )
        )
    report = SubjectAccessReport(
        reference=person.reference,
        made_at=timezone.now(),
        staff_names_shown=show_staff_names,
        agencies=list(agencies.values()),
        consents=[
            ConsentEntry(
                recorded_at=c.recorded_at,
                state=c.get_state_display(),
                scope=c.scope_label,
                who=_staff(
                    user=c.recorded_by,
                    # A consent record keeps the agency, not the role it was recorded in.
                    role="",
                    agency=c.recorded_by_agency,
                    names=show_staff_names,
                ),
                expires_on=c.expires_on.isoformat() if c.expires_on else "",
                note=c.note,
            )
            for c in ConsentRecord.objects.filter(person=person)
            .select_related("recorded_by", "recorded_by_agency", "protocol")
            .order_by("recorded_at", "pk")
        ],
        overrides=[
            OverrideEntry(
                started_at=o.started_at,
                expires_at=o.ends_at,
                category=o.get_category_display(),
                justification=o.justification,
                who=_staff(user=o.user, role=o.role, agency=o.agency, names=show_staff_names),
                review=o.get_review_display(),
            )
            for o in SafeguardingOverride.objects.filter(person=person)
            .select_related("user", "agency")
            .order_by("started_at", "pk")
        ],
        access_log=_access_entries(person, names=show_staff_names),
    )
    _audit(user, membership, person, channel, "ok", show_staff_names, report.record_count)
    return report


def _audit(user, membership, person, channel, outcome, names, records) -> AuditEntry:
    from audit.services import audit_record

    # No content: whether names were shown and how many records, never a value.
    return audit_record(
        action=AUDIT_ACTION,
        actor=user,
        membership=membership,
        channel=channel,
        purpose="subject_access",
        person=person,
        detail={"staff_names_shown": names, "records": records},
        outcome=outcome,
    )


def subject_access_find(
    *, user, membership: Membership | None, query, channel: str
) -> list[Person]:
    """People matching `query` (a protocols.search.SearchQuery) on whom this IG officer may
    report, best first. Logged as a subject access search: the kinds of input and the
    references shown, never the terms. Raises protocols.search.SearchError for bad input."""
    from audit.services import audit_record
    from protocols.search import MAX_RESULTS, persons_matching

    _, ranked, kinds = persons_matching(query)
    persons = {p.pk: p for p in Person.objects.filter(pk__in=ranked, is_active=True)}
    found = [
        persons[pk]
        for pk in ranked
        if pk in persons and subject_access_allowed(membership=membership, person=persons[pk])
    ][:MAX_RESULTS]
    audit_record(
        action=AUDIT_ACTION,
        actor=user,
        membership=membership,
        channel=channel,
        purpose="subject_access",
        detail={"query_kinds": kinds, "results": [p.reference for p in found]},
    )
    return found
