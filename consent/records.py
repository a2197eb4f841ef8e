"""Consent records: what a person said about sharing, recorded by a practitioner, confirmed by
the agencies whose records it is about, withdrawn, and read back.

What these change is read by the disclosure engine on the next page load; nothing here decides
what anyone sees. Every function checks who is acting, and raises ConsentError with what to fix.
Free text is screened for identifiers (matching.screening) before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from agencies.models import Agency, Role
from agencies.selectors import ig_officers
from audit.models import AuditAction
from audit.services import access_log_write
from consent.checks import practitioner_view, shown_to, text_problems
from consent.errors import ConsentError, NotFound
from consent.models import (
    ConfirmationOutcome,
    ConsentConfirmation,
    ConsentGivenBy,
    ConsentMethod,
    ConsentRecord,
    ConsentState,
)
from consent.selectors import consent_awaiting, consent_awaiting_many, consent_history
from core.purpose import Purpose
from matching.models import Person
from notifications.models import NotificationKind
from notifications.services import notices_settle, notify
from protocols.engine import PersonView
from protocols.models import ProtocolVersion

# Consent given for longer than this should be sought again: circumstances change.
MAX_CONSENT_YEARS = 3


@dataclass(frozen=True)
class ConsentInput:
    state: str
    agency_ids: tuple[int, ...]
    protocol_id: int | None = None
    purpose: str = ""
    method: str = ""
    given_by: str = ""
    evidence_reference: str = ""
    expires_on: date | None = None
    note: str = ""


@dataclass
class ConsentScopes:
    """What a practitioner may record consent about for a person: the protocols they read the
    person under, the purpose, and the agencies party to those protocols."""

    view: PersonView
    purpose: str
    protocols: list[ProtocolVersion]
    agencies: list[Agency] = field(default_factory=list)

    @property
    def agency_ids(self) -> set[int]:
        return {a.pk for a in self.agencies}

    @property
    def protocol_ids(self) -> set[int]:
        return {v.protocol_id for v in self.protocols}

    def covers(self, record: ConsentRecord) -> bool:
        """Whether a statement is about something in these scopes: one of the protocols, or the
        purpose, and at least one of the agencies."""
        in_scope = (
            record.protocol_id in self.protocol_ids
            if record.protocol_id
            else record.purpose == self.purpose
        )
        return in_scope and any(a.pk in self.agency_ids for a in record.agencies.all())


def consent_scopes(
    *, user, membership, person: Person, purpose: str, channel: str = "web"
) -> ConsentScopes:
    """Raises NotFound unless the user, a practitioner, can see the person for `purpose`."""
    view = practitioner_view(
        user=user,
        membership=membership,
        person=person,
        purpose=purpose,
        attempted=AuditAction.CONSENT,
        channel=channel,
    )
    versions = list(
        ProtocolVersion.objects.filter(pk__in=view.versions)
        .select_related("protocol")
        .prefetch_related("parties")
        .order_by("name")
    )
    agencies = sorted({a for v in versions for a in v.parties.all()}, key=lambda a: (a.name, a.pk))
    return ConsentScopes(view=view, purpose=purpose, protocols=versions, agencies=agencies)


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February, in a year that has none
        return day.replace(year=day.year + years, day=28)


def consent_problems(data: ConsentInput, *, shown: dict[str, set[int]], today: date) -> dict:
    problems: dict[str, str] = {}
    if data.state not in ConsentState.values:
        problems["state"] = "Choose what the person said: given, refused, withdrawn or not sought."
    if not data.agency_ids:
        problems["agencies"] = "Choose the agencies whose records the consent is about."
    if data.state in (ConsentState.GIVEN, ConsentState.REFUSED):
        if data.method not in ConsentMethod.values:
            problems["method"] = "Choose whether it was given verbally or in writing."
        if data.given_by not in ConsentGivenBy.values:
            problems["given_by"] = (
                "Choose who answered: the person, a parent or carer for a child, or a child "
                "assessed as Gillick competent."
            )
    elif data.method and data.method not in ConsentMethod.values:
        problems["method"] = "Choose verbally or in writing."
    if data.state == ConsentState.GIVEN:
        if not data.evidence_reference.strip():
            problems["evidence_reference"] = (
                "Enter where the consent is recorded in your agency's own system, such as the "
                "case note or form number."
            )
        if data.expires_on is not None:
            if data.expires_on < today:
                problems["expires_on"] = "The expiry date must be today or later."
            elif data.expires_on > _years_later(today, MAX_CONSENT_YEARS):
                problems["expires_on"] = (
                    f"Consent given now cannot be relied on for more than {MAX_CONSENT_YEARS} "
                    "years; choose an earlier expiry date."
                )
    elif data.expires_on is not None:
        problems["expires_on"] = "Only consent that is given has an expiry date; leave it empty."
    if len(data.evidence_reference) > 100:
        problems["evidence_reference"] = "Shorten the evidence reference to 100 characters."
    elif data.evidence_reference.strip():
        text_problems(
            problems,
            "evidence_reference",
            data.evidence_reference,
            what="evidence reference",
            shown=shown,
        )
    text_problems(problems, "note", data.note, what="note", shown=shown)
    return problems


def record_write(
    *, user, membership, person: Person, data: ConsentInput, request=None, replaces=None
) -> ConsentRecord:
    record = ConsentRecord.objects.create(
        person=person,
        protocol_id=data.protocol_id,
        purpose="" if data.protocol_id else data.purpose,
        state=data.state,
        method=data.method,
        given_by=data.given_by,
        evidence_reference=data.evidence_reference.strip(),
        expires_on=data.expires_on if data.state == ConsentState.GIVEN else None,
        note=data.note.strip(),
        recorded_by=user,
        recorded_by_agency_id=membership.agency_id,
        request=request,
        replaces=replaces,
    )
    record.agencies.set(data.agency_ids)
    return record


def consent_record(
    *, user, membership, person: Person, purpose: str, data: ConsentInput, channel: str = "web"
) -> ConsentRecord:
    """A practitioner who can see the person records what the person (or their parent or carer)
    said, about a protocol they read the person under or about the purpose, for agencies party
    to those protocols.

    A statement of fact by a professional, as in a MASH: whoever spoke with the family records
    it, with its evidence. It is logged. Each agency is the controller of its own records, so
    "given" about another agency's records opens them only once that agency's IG officers
    confirm it (consent_confirm), unless the protocol chose that it counts at once
    (protocols.models.ConsentFromOthers), when they are only told. Until then a safeguarding
    override is the only way to them. The disclosure engine decides; this only records and tells.
    """
    scopes = consent_scopes(
        user=user, membership=membership, person=person, purpose=purpose, channel=channel
    )
    shown = shown_to(user=user, membership=membership, person=person, purpose=purpose)
    problems = consent_problems(data, shown=shown, today=timezone.localdate())
    if data.protocol_id is None and data.purpose != purpose:
        problems["scope"] = "Choose a protocol, or this purpose, for the consent to cover."
    elif data.protocol_id is not None and data.protocol_id not in scopes.protocol_ids:
        problems["scope"] = "Choose one of the protocols you see this person under."
    if set(data.agency_ids) - scopes.agency_ids:
        problems["agencies"] = "Choose only agencies party to your protocols for this person."
    if problems:
        raise ConsentError(problems)
    with transaction.atomic():
        record = record_write(user=user, membership=membership, person=person, data=data)
        _record_announce(record, membership=membership, purpose=purpose, channel=channel)
    return record


def _record_announce(record: ConsentRecord, *, membership, purpose: str, channel: str) -> None:
    """Log a consent statement as an access decision, and tell the IG officers of the other
    agencies whose records it is about: asked to confirm it where it waits for them, told of
    it otherwise."""
    access_log_write(
        user=record.recorded_by,
        membership=membership,
        action=AuditAction.CONSENT,
        channel=channel,
        purpose=purpose,
        person=record.person,
        fields={"consent_recorded": record.pk, "state": record.state},
    )
    awaited = {a.pk for a in consent_awaiting(record)}
    state = record.get_state_display().lower()
    for agency in record.agencies.all():
        if agency.pk == membership.agency_id:
            continue
        if agency.pk in awaited:
            notify(
                recipients=ig_officers([agency.pk]),
                kind=NotificationKind.CONSENT_TO_CONFIRM,
                message=(
                    f"{membership.agency.name} recorded consent {state} about your agency's "
                    f"records of person {record.person.reference}. Nothing of your records is "
                    "shared under it until your agency confirms it."
                ),
                link=_confirm_link(record, agency.pk),
            )
        else:
            notify(
                recipients=ig_officers([agency.pk]),
                kind=NotificationKind.CONSENT_RECORDED,
                message=(
                    f"{membership.agency.name} recorded consent {state} about your agency's "
                    f"records of person {record.person.reference}."
                ),
                link=reverse("consent:statement", args=[record.pk]),
            )


def _confirm_link(record: ConsentRecord, agency_id: int) -> str:
    # One link per agency asked, so one agency's answer settles its own officers' notices only.
    return f"{reverse('consent:statement', args=[record.pk])}?agency={agency_id}"


def consent_confirm(
    *,
    user,
    membership,
    record_id: int,
    confirmed: bool,
    note: str = "",
    channel: str = "web",
) -> ConsentConfirmation:
    """The owning agency's IG officer confirms (or declines) a "given" statement another agency
    recorded about its records: confirmed, the engine counts it for those records from the next
    page load; declined, it never does. Answered once per agency; logged and audited, the
    recorder told."""
    if membership is None or membership.role != Role.IG_OFFICER or membership.agency_id is None:
        raise NotFound()
    record = (
        ConsentRecord.objects.filter(pk=record_id, agencies=membership.agency_id)
        .select_related("person", "protocol", "recorded_by", "recorded_by_agency")
        .first()
    )
    if record is None:
        raise NotFound()
    problems: dict[str, str] = {}
    if record.recorded_by_agency_id == membership.agency_id:
        problems[""] = "Your own agency recorded this statement; it needs no confirmation."
    elif record.state != ConsentState.GIVEN:
        problems[""] = (
            "Only consent given waits for confirmation; this statement takes effect as it is."
        )
    shown = shown_to(
        user=user, membership=membership, person=record.person, purpose=_purpose_of(record)
    )
    text_problems(problems, "note", note, what="note", shown=shown)
    if problems:
        raise ConsentError(problems)
    outcome = ConfirmationOutcome.CONFIRMED if confirmed else ConfirmationOutcome.DECLINED
    try:
        with transaction.atomic():
            confirmation = ConsentConfirmation.objects.create(
                record=record,
                agency_id=membership.agency_id,
                outcome=outcome,
                by=user,
                note=note.strip(),
            )
            access_log_write(
                user=user,
                membership=membership,
                action=AuditAction.CONSENT,
                channel=channel,
                purpose=_purpose_of(record),
                person=record.person,
                fields={"consent_confirmed": record.pk, "outcome": str(outcome)},
            )
            notices_settle(
                kind=NotificationKind.CONSENT_TO_CONFIRM,
                link=_confirm_link(record, membership.agency_id),
            )
            notify(
                recipients=[record.recorded_by],
                kind=NotificationKind.CONSENT_ANSWERED,
                message=(
                    f"{membership.agency.name} {outcome.label.lower()} the consent you recorded "
                    f"for person {record.person.reference}"
                    + (
                        "; its records are shared under it from now on."
                        if confirmed
                        else "; its records stay withheld."
                    )
                ),
                link=reverse("consent:statement", args=[record.pk]),
            )
    except IntegrityError:
        raise ConsentError({"": "Your agency has already answered this statement."}) from None
    return confirmation


def _purpose_of(record: ConsentRecord) -> str:
    """The statement's purpose, or its protocol's: what the access log files it under."""
    if record.purpose or record.protocol_id is None:
        return record.purpose or Purpose.SAFEGUARDING
    version = (
        ProtocolVersion.objects.filter(protocol_id=record.protocol_id).order_by("-number").first()
    )
    return version.purpose if version is not None else Purpose.SAFEGUARDING


def consent_withdraw(
    *,
    user,
    membership,
    person: Person,
    purpose: str,
    record_id: int,
    note: str = "",
    channel: str = "web",
) -> ConsentRecord:
    """Record that consent given earlier is withdrawn, for the same scope. It takes effect on
    the next page load anywhere. Only statements within the practitioner's own scopes."""
    scopes = consent_scopes(
        user=user, membership=membership, person=person, purpose=purpose, channel=channel
    )
    given = next(
        (
            r
            for r in consent_history(person)
            if r.pk == record_id and r.state == ConsentState.GIVEN and scopes.covers(r)
        ),
        None,
    )
    if given is None:
        raise NotFound()
    problems: dict[str, str] = {}
    shown = shown_to(user=user, membership=membership, person=person, purpose=purpose)
    text_problems(problems, "note", note, what="note", shown=shown)
    if problems:
        raise ConsentError(problems)
    data = ConsentInput(
        state=ConsentState.WITHDRAWN,
        agency_ids=tuple(a.pk for a in given.agencies.all()),
        protocol_id=given.protocol_id,
        purpose=given.purpose,
        note=note,
    )
    with transaction.atomic():
        record = record_write(
            user=user, membership=membership, person=person, data=data, replaces=given
        )
        _record_announce(record, membership=membership, purpose=purpose, channel=channel)
    return record


@dataclass
class ShownStatement:
    """A consent statement as one practitioner reads it: only the agencies in their scopes."""

    record: ConsentRecord
    agencies: list[Agency]
    # Agencies (of those shown) whose confirmation a "given" statement still waits for.
    awaiting: list[Agency] = field(default_factory=list)


def consent_history_read(
    *, user, membership, person: Person, purpose: str, channel: str = "web"
) -> tuple[ConsentScopes, list[ShownStatement]]:
    """The statements a practitioner may read: those within their own scopes (their protocols
    or purpose, and their protocols' agencies), each showing only those agencies. Logged."""
    scopes = consent_scopes(
        user=user, membership=membership, person=person, purpose=purpose, channel=channel
    )
    records = [r for r in consent_history(person) if scopes.covers(r)]
    awaiting = consent_awaiting_many(records)
    shown = [
        ShownStatement(
            record,
            [a for a in record.agencies.all() if a.pk in scopes.agency_ids],
            [a for a in awaiting.get(record.pk, []) if a.pk in scopes.agency_ids],
        )
        for record in records
    ]
    access_log_write(
        user=user,
        membership=membership,
        action=AuditAction.CONSENT,
        channel=channel,
        purpose=purpose,
        person=person,
        fields={"consent_read": [s.record.pk for s in shown]},
    )
    return scopes, shown
