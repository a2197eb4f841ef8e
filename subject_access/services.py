"""Subject access reports (UK GDPR Art 15), for the IG officer who compiles the response.

Each agency is the controller of its own records and answers for them. So the report an IG
officer compiles holds their own agency's records in full, the partnership's own data about the
person (which agencies hold records and how they were linked, consent and overrides, who viewed
the person's data), and, for each other agency holding records, its part as that agency's own IG
officer released it (subject_access.release), or a line saying it is still pending. Nothing of
another agency's records is opened here: only its released part, sealed for the requesting
agency (subject_access.records).
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from agencies.models import Agency, Membership, Role
from audit.models import AuditAction, AuditEntry
from consent.models import ConsentRecord, SafeguardingOverride
from core.purpose import Purpose
from matching.models import Person
from subject_access.models import PartRelease, ReleasePart, SubjectAccessRequest
from subject_access.records import (
    agency_records_opened,
    holding_agency_ids,
    note_authoring_agency_ids,
    person_records,
    release_content,
)

# The audit action a report writes. It is an IG officer's compilation for the subject, not a
# practitioner's view, so it is never listed in the report's access log as a view of their data
# (it is not one of the trail's reads: see `_access_entries`), but it is in the audit trail
# like every other read.
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


@dataclass(frozen=True)
class LinkFact:
    """The partnership's own data about a record it has not released: that it is linked to the
    person, when and how. Nothing the record holds."""

    linked_at: datetime | None
    link_rule: str
    link_score: float | None


class PartStatus:
    OWN = "own"  # the requesting agency's own records
    NOT_ASKED = "not_asked"  # another agency's, its release not yet asked for
    PENDING = "pending"  # asked for, not yet released
    RELEASED = "released"


@dataclass
class ReportAgency:
    name: str
    datasets: list[ReportDataset] = field(default_factory=list)
    status: str = PartStatus.OWN
    # Records the agency holds about the person now (linkage's count, not their content).
    record_count: int = 0
    links: list[LinkFact] = field(default_factory=list)
    asked_at: datetime | None = None
    released_at: datetime | None = None
    released_by: str = ""
    withheld_count: int = 0
    # The agency's records changed after its release: the report shows the release as made.
    changed_since_release: bool = False

    @property
    def is_pending(self) -> bool:
        return self.status in (PartStatus.NOT_ASKED, PartStatus.PENDING)


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
    # The note is another agency's words, not released (yet): say whose, not what.
    note_held_by: str = ""


@dataclass(frozen=True)
class OverrideEntry:
    started_at: datetime
    expires_at: datetime
    category: str
    justification: str
    who: str
    review: str
    justification_held_by: str = ""


@dataclass
class SubjectAccessReport:
    reference: str
    made_at: datetime
    staff_names_shown: bool
    agencies: list[ReportAgency]
    consents: list["ConsentEntry"]
    overrides: list["OverrideEntry"]
    access_log: list[AccessEntry]
    request_id: int | None = None
    # Other agencies holding records or notes that have no part on the request yet.
    can_ask: bool = False

    @property
    def record_count(self) -> int:
        return sum(len(d.records) for a in self.agencies for d in a.datasets)

    @property
    def pending(self) -> list[ReportAgency]:
        return [a for a in self.agencies if a.is_pending]


def subject_access_allowed(*, membership: Membership | None, person: Person) -> bool:
    """The one rule for who may compile a subject access report: an IG officer acting for an
    agency that holds a record about the person. That agency is a controller of the data and
    answers the request; an IG officer of an agency holding nothing about the person has no
    controller's reason to see it."""
    if membership is None or membership.role != Role.IG_OFFICER or membership.agency_id is None:
        return False
    return person_records(person).filter(dataset__agency_id=membership.agency_id).exists()


def _staff(*, user, role: str, agency: Agency | None, names: bool) -> str:
    if names and user is not None:
        return user.get_full_name() or user.get_username()
    role_label = Role(role).label if role in Role.values else "A member of staff"
    where = agency.name if agency is not None else "the partnership"
    return f"{role_label}, {where}"


def _access_entries(person: Person, *, names: bool) -> list[AccessEntry]:
    """Every logged read of the person's data: the audit trail's reads that name them (by
    reference, which outlives the person's records). Subject access reports themselves are
    audit entries but not reads, so compiling this report never shows up here as if a
    practitioner had looked at the person."""
    entries = []
    # A search and the alert inbox log the persons they listed in `results`, not as the person
    # read: the text match narrows, the membership test below decides (a reference is never a
    # part of another).
    listed = Q(person_reference="", action__in=[AuditAction.SEARCH, AuditAction.ALERT]) & Q(
        detail__results__icontains=f'"{person.reference}"'
    )
    rows = list(
        AuditEntry.objects.reads()
        .filter(Q(person_reference=person.reference) | listed)
        .select_related("actor")
        .order_by("at", "pk")
    )
    agencies = Agency.objects.in_bulk({row.agency_id for row in rows if row.agency_id})
    purposes = dict(Purpose.choices)
    for row in rows:
        if not row.person_reference and person.reference not in row.detail.get("results", []):
            continue
        entries.append(
            AccessEntry(
                at=row.at,
                who=_staff(
                    user=row.actor,
                    role=row.role,
                    agency=agencies.get(row.agency_id or 0),
                    names=names,
                ),
                action=row.get_action_display(),
                purpose=purposes.get(row.purpose, row.purpose),
                outcome="Refused (no protocol covered them)"
                if row.outcome == "not_found"
                else "Shown",
            )
        )
    return entries


def _datasets(records: list[dict]) -> list[ReportDataset]:
    datasets: dict[str, ReportDataset] = {}
    for r in records:
        dataset = datasets.setdefault(r["dataset"], ReportDataset(name=r["dataset"]))
        dataset.records.append(
            ReportRecord(
                record_id=r["record_id"],
                source_id=r["source_id"],
                event_date=r["event_date"],
                identifiers=[ReportField(label, value) for _, label, value in r["identifiers"]],
                fields=[ReportField(label, value) for _, label, value in r["fields"]],
                is_retired=r["is_retired"],
                linked_at=parse_datetime(r["linked_at"]) if r["linked_at"] else None,
                link_rule=r["link_rule"],
                link_score=r["link_score"],
            )
        )
    return list(datasets.values())


def latest_request(*, person: Person, agency_id: int) -> SubjectAccessRequest | None:
    return SubjectAccessRequest.objects.filter(person=person, agency_id=agency_id).first()


def _other_parts(*, person: Person, agency_id: int) -> set[int]:
    """The agencies whose part a report by `agency_id` needs: every other agency holding
    records about the person or having written a note about them."""
    return (holding_agency_ids(person) | note_authoring_agency_ids(person)) - {agency_id}


def subject_access_report(
    *, user, membership: Membership | None, person: Person, show_staff_names: bool, channel: str
) -> SubjectAccessReport:
    """The report on `person` for the IG officer's agency: its own records, the partnership's
    data, and each other agency's part as released, or pending. Writes one audit entry, with
    ids and statuses, no content. Raises SubjectAccessDenied (shown as 404)."""
    if (
        membership is None
        or membership.agency_id is None
        or not subject_access_allowed(membership=membership, person=person)
    ):
        _audit(user, membership, person, channel, "not_found", {"staff_names_shown": False})
        raise SubjectAccessDenied()
    own_id: int = membership.agency_id
    request = latest_request(person=person, agency_id=own_id)
    parts = {}
    if request is not None:
        parts = {
            p.agency_id: p
            for p in request.parts.select_related("agency").prefetch_related("releases")
        }
    others = _other_parts(person=person, agency_id=own_id)
    agency_names = dict(Agency.objects.filter(pk__in=others | {own_id}).values_list("pk", "name"))
    agencies = [
        ReportAgency(
            name=agency_names[own_id],
            datasets=_datasets(agency_records_opened(person=person, agency_id=own_id)),
        )
    ]
    agencies[0].record_count = sum(len(d.records) for d in agencies[0].datasets)
    released_notes: dict[tuple[str, int], str] = {}
    statuses: dict[str, str] = {}
    links: dict[int, list[LinkFact]] = {}
    for record in person_records(person).exclude(dataset__agency_id=own_id):
        linkage = record.linkage
        links.setdefault(record.dataset.agency_id, []).append(
            LinkFact(linkage.linked_at, linkage.link_rule, linkage.link_score)
        )
    for agency_id in sorted(others, key=lambda pk: agency_names[pk]):
        part = parts.get(agency_id)
        entry = ReportAgency(
            name=agency_names[agency_id],
            status=PartStatus.NOT_ASKED,
            record_count=len(links.get(agency_id, [])),
            links=links.get(agency_id, []),
        )
        release: PartRelease | None = None
        if part is not None:
            entry.asked_at = part.asked_at
            entry.status = PartStatus.PENDING
            release = max(part.releases.all(), key=lambda r: r.number, default=None)
        if part is not None and release is not None:
            content = release_content(release, requesting_agency_id=own_id)
            entry.status = PartStatus.RELEASED
            entry.datasets = _datasets(content["records"])
            entry.released_at = release.released_at
            entry.released_by = _staff(
                user=release.released_by,
                role=Role.IG_OFFICER,
                agency=part.agency,
                names=show_staff_names,
            )
            entry.withheld_count = len(release.withheld.get("keys", []))
            current = set(
                person_records(person)
                .filter(dataset__agency_id=agency_id)
                .values_list("pk", flat=True)
            )
            entry.changed_since_release = not current <= set(release.record_ids) | {
                int(k[1:]) for k in release.withheld.get("keys", []) if ":" not in k
            }
            for note in content["notes"]:
                released_notes[note["kind"], note["id"]] = note["text"]
            statuses[str(agency_id)] = f"released:{release.pk}"
        else:
            statuses[str(agency_id)] = entry.status
        agencies.append(entry)

    def note_of(kind: str, pk: int, text: str, agency: Agency | None) -> tuple[str, str]:
        """The note as written, if it is the requester's own or was released; else whose."""
        if not text or agency is None or agency.pk == own_id:
            return text, ""
        if (kind, pk) in released_notes:
            return released_notes[kind, pk], ""
        return "", agency.name

    consents = []
    for c in (
        ConsentRecord.objects.filter(person=person)
        .select_related("recorded_by", "recorded_by_agency", "protocol")
        .order_by("recorded_at", "pk")
    ):
        note, held_by = note_of("consent", c.pk, c.note, c.recorded_by_agency)
        consents.append(
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
                note=note,
                note_held_by=held_by,
            )
        )
    overrides = []
    for o in (
        SafeguardingOverride.objects.filter(person=person)
        .select_related("user", "agency")
        .order_by("started_at", "pk")
    ):
        text, held_by = note_of("override", o.pk, o.justification, o.agency)
        overrides.append(
            OverrideEntry(
                started_at=o.started_at,
                expires_at=o.ends_at,
                category=o.get_category_display(),
                justification=text,
                who=_staff(user=o.user, role=o.role, agency=o.agency, names=show_staff_names),
                review=o.get_review_display(),
                justification_held_by=held_by,
            )
        )
    report = SubjectAccessReport(
        reference=person.reference,
        made_at=timezone.now(),
        staff_names_shown=show_staff_names,
        agencies=agencies,
        consents=consents,
        overrides=overrides,
        access_log=_access_entries(person, names=show_staff_names),
        request_id=request.pk if request is not None else None,
        can_ask=bool(others - set(parts)),
    )
    _audit(
        user,
        membership,
        person,
        channel,
        "ok",
        {
            "staff_names_shown": show_staff_names,
            "records": report.record_count,
            "request": report.request_id,
            "parts": statuses,
        },
    )
    return report


def subject_access_ask(
    *, user, membership: Membership | None, person: Person, fresh: bool, channel: str
) -> SubjectAccessRequest:
    """Ask every other agency holding records or notes about the person to release its part
    into this IG officer's report; their IG officers are told. `fresh` starts a new request
    (a new subject access request from the person), whose parts are all asked for again;
    otherwise only the parts not yet asked for are added. Audited with the parts asked for.
    Raises SubjectAccessDenied."""
    from subject_access.release import parts_ask

    if (
        membership is None
        or membership.agency_id is None
        or not subject_access_allowed(membership=membership, person=person)
    ):
        _audit(user, membership, person, channel, "not_found", {"step": "ask"})
        raise SubjectAccessDenied()
    own_id: int = membership.agency_id
    with transaction.atomic():
        request = None if fresh else latest_request(person=person, agency_id=own_id)
        if request is None:
            request = SubjectAccessRequest.objects.create(
                person=person, agency_id=own_id, requested_by=user
            )
        made: list[ReleasePart] = parts_ask(
            request=request,
            requesting_agency=membership.agency,
            person=person,
            agency_ids=_other_parts(person=person, agency_id=own_id),
        )
        _audit(
            user,
            membership,
            person,
            channel,
            "ok",
            {
                "step": "ask",
                "request": request.pk,
                "parts": [{"part": p.pk, "agency": p.agency_id} for p in made],
            },
        )
    return request


def _audit(user, membership, person, channel, outcome, detail) -> AuditEntry:
    from audit.services import audit_record

    # No content: ids, counts and statuses, never a value.
    return audit_record(
        action=AUDIT_ACTION,
        actor=user,
        membership=membership,
        channel=channel,
        purpose="subject_access",
        person=person,
        detail=detail,
        outcome=outcome,
    )


def subject_access_find(
    *, user, membership: Membership | None, query, channel: str
) -> list[Person]:
    """People matching `query` (a matching.search.SearchQuery) on whom this IG officer may
    report, best first. Logged as a subject access search: the kinds of input and the
    references shown, never the terms. Raises matching.search.SearchError for bad input."""
    from audit.services import audit_record
    from matching.search import MAX_RESULTS, persons_matching

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
