"""Recording consent, asking an agency to seek it, and safeguarding overrides.

What these change is read by the disclosure engine on the next page load; nothing here decides
what anyone sees. Every function checks who is acting, and raises ConsentError with what to fix.
Free text is screened for identifiers (matching.screening) before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agencies.models import Agency, Membership, Role
from agencies.selectors import ig_officers
from consent.models import (
    ConfirmationOutcome,
    ConsentConfirmation,
    ConsentGivenBy,
    ConsentMethod,
    ConsentRecord,
    ConsentRequest,
    ConsentState,
    OverrideCategory,
    RequestStatus,
    ReviewOutcome,
    SafeguardingOverride,
)
from consent.selectors import consent_request_open, overrides_in_force
from matching.models import Person
from matching.persons import persons_merged_into
from matching.screening import identifiers_in_text, screen_problem
from notifications.models import NotificationKind
from notifications.services import notices_settle, notify
from protocols.engine import (
    PersonView,
    Withheld,
    Withholding,
    agencies_visible,
    disclose_view,
    identifiers_shown,
)
from protocols.models import (
    DEFAULT_OVERRIDE_LENGTH_HOURS,
    AccessLog,
    ConsentFromOthers,
    Protocol,
    ProtocolVersion,
    Purpose,
    VersionStatus,
)
from protocols.summary import access_log_write, person_by_reference

MIN_REQUEST_REASON = 20
MIN_JUSTIFICATION = 50
MIN_REVIEW_NOTE = 10
MAX_TEXT = 2000
# Consent given for longer than this should be sought again: circumstances change.
MAX_CONSENT_YEARS = 3


class ConsentError(ValueError):
    """Input that cannot be recorded; `problems` maps each input to what to fix."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


class NotFound(ConsentError):
    """The person, request or override is not one the user may act on: answer 404."""

    def __init__(self):
        super().__init__({"": "Not found."})


class AlreadyRequested(ConsentError):
    """The practitioner's agency has already asked the agency holding the records, and the
    request is open: `existing` is it, for the page to link to."""

    def __init__(self, existing: ConsentRequest, *, user):
        self.existing = existing
        who = (
            "You"
            if existing.requested_by_id == user.pk
            else f"{existing.requested_by.full_name}, of your agency,"
        )
        asked_on = timezone.localdate(existing.created_at)
        super().__init__(
            {
                "": f"{who} already asked {existing.owner_agency.name} to seek consent for "
                f"this person on {asked_on.day} {asked_on:%B %Y}; the request is waiting for "
                "an answer. Asking again would send them the same question twice."
            }
        )


def _text_problems(
    problems: dict[str, str],
    name: str,
    text: str,
    *,
    what: str,
    shown: dict[str, set[int]],
    minimum: int = 0,
    required_message: str = "",
) -> None:
    text = text.strip()
    if minimum and len(text) < minimum:
        problems[name] = required_message or f"Write at least {minimum} characters in the {what}."
        return
    if len(text) > MAX_TEXT:
        problems[name] = f"Shorten the {what} to {MAX_TEXT} characters or fewer."
        return
    if text:
        kinds = identifiers_in_text(text, shown=shown)
        if kinds:
            problems[name] = screen_problem(kinds, what=what)


def _household_ids(person: Person) -> list[int]:
    """The person and the members of their household: whose identifiers the screen looks for,
    of those the writer is shown (_shown_to)."""
    if person.household_id is None:
        return [person.pk]
    return list(
        Person.objects.filter(Q(pk=person.pk) | Q(household_id=person.household_id)).values_list(
            "pk", flat=True
        )
    )


def _shown_to(*, user, membership, person: Person, purpose: str) -> dict[str, set[int]]:
    """The surnames, dates of birth and postcodes of the person's household that the writer is
    shown, as the disclosure engine decides: all a note of theirs is judged against. Judged
    against more, a refusal would tell them a withheld identifier."""
    return identifiers_shown(
        user=user,
        membership=membership,
        person_ids=_household_ids(person),
        purpose=purpose,
        now=timezone.now(),
    )


# --- Consent records --------------------------------------------------------------------------


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


def practitioner_view(
    *, user, membership, person: Person, purpose: str, attempted: str, channel: str
) -> PersonView:
    """The engine's view of the person for a practitioner about to act on it. Raises NotFound
    for anyone else, and for a person their protocols do not cover, which is logged as a
    denial of what they `attempted` (an AccessLog action), as a summary's is."""
    if membership is None or membership.role != Role.PRACTITIONER:
        raise NotFound()
    view = disclose_view(
        user=user, membership=membership, person=person, purpose=purpose, now=timezone.now()
    )
    if view is None:
        access_log_write(
            user=user,
            membership=membership,
            action=attempted,
            channel=channel,
            purpose=purpose,
            person=person,
            found=False,
        )
        raise NotFound()
    return view


def consent_scopes(
    *, user, membership, person: Person, purpose: str, channel: str = "web"
) -> ConsentScopes:
    """Raises NotFound unless the user, a practitioner, can see the person for `purpose`."""
    view = practitioner_view(
        user=user,
        membership=membership,
        person=person,
        purpose=purpose,
        attempted=AccessLog.Action.CONSENT,
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


def _consent_problems(data: ConsentInput, *, shown: dict[str, set[int]], today: date) -> dict:
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
        _text_problems(
            problems,
            "evidence_reference",
            data.evidence_reference,
            what="evidence reference",
            shown=shown,
        )
    _text_problems(problems, "note", data.note, what="note", shown=shown)
    return problems


def _record_write(
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
    shown = _shown_to(user=user, membership=membership, person=person, purpose=purpose)
    problems = _consent_problems(data, shown=shown, today=timezone.localdate())
    if data.protocol_id is None and data.purpose != purpose:
        problems["scope"] = "Choose a protocol, or this purpose, for the consent to cover."
    elif data.protocol_id is not None and data.protocol_id not in scopes.protocol_ids:
        problems["scope"] = "Choose one of the protocols you see this person under."
    if set(data.agency_ids) - scopes.agency_ids:
        problems["agencies"] = "Choose only agencies party to your protocols for this person."
    if problems:
        raise ConsentError(problems)
    with transaction.atomic():
        record = _record_write(user=user, membership=membership, person=person, data=data)
        _record_announce(record, membership=membership, purpose=purpose, channel=channel)
    return record


def _record_announce(record: ConsentRecord, *, membership, purpose: str, channel: str) -> None:
    """Log a consent statement as an access decision, and tell the IG officers of the other
    agencies whose records it is about: asked to confirm it where it waits for them, told of
    it otherwise."""
    access_log_write(
        user=record.recorded_by,
        membership=membership,
        action=AccessLog.Action.CONSENT,
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


def consent_awaiting_many(records: list[ConsentRecord]) -> dict[int, list[Agency]]:
    """{statement id: the agencies whose confirmation it awaits} (see consent_awaiting), for
    many statements in two queries, or none when `records` came with their agencies and
    confirmations prefetched."""
    given = [r for r in records if r.state == ConsentState.GIVEN]
    if not given:
        return {}
    today = timezone.localdate()
    # Versions in force that wait for the owner: a statement's protocol's, or, for a
    # purpose-wide statement, those of its purpose the recording agency is party to.
    waiting = (
        ProtocolVersion.objects.filter(status=VersionStatus.ACTIVE, valid_from__lte=today)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=today))
        .exclude(consent_from_others=ConsentFromOthers.AT_ONCE)
        .values_list("protocol_id", "purpose", "parties")
    )
    protocols, purposes = set(), set()
    for protocol_id, purpose, party in waiting:
        protocols.add(protocol_id)
        purposes.add((purpose, party))
    found = {}
    for record in given:
        waits = (
            record.protocol_id in protocols
            if record.protocol_id is not None
            else (record.purpose, record.recorded_by_agency_id) in purposes
        )
        if not waits:
            continue
        answered = {c.agency_id for c in record.confirmations.all()}
        found[record.pk] = sorted(
            (
                a
                for a in record.agencies.all()
                if a.pk != record.recorded_by_agency_id and a.pk not in answered
            ),
            key=lambda a: a.name,
        )
    return found


def consent_awaiting(record: ConsentRecord) -> list[Agency]:
    """The agencies named by a "given" statement recorded by another agency that have not yet
    answered it, where a protocol it covers waits for the owner's confirmation. For telling
    people; the engine reads the confirmations itself (protocols.engine.consent_standings)."""
    return consent_awaiting_many([record]).get(record.pk, [])


def consent_can_confirm(membership: Membership | None, record: ConsentRecord) -> bool:
    """Whether an IG officer's agency is asked to confirm the statement and has not answered."""
    return (
        membership is not None
        and membership.role == Role.IG_OFFICER
        and any(a.pk == membership.agency_id for a in consent_awaiting(record))
    )


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
    shown = _shown_to(
        user=user, membership=membership, person=record.person, purpose=_purpose_of(record)
    )
    _text_problems(problems, "note", note, what="note", shown=shown)
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
                action=AccessLog.Action.CONSENT,
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
    shown = _shown_to(user=user, membership=membership, person=person, purpose=purpose)
    _text_problems(problems, "note", note, what="note", shown=shown)
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
        record = _record_write(
            user=user, membership=membership, person=person, data=data, replaces=given
        )
        _record_announce(record, membership=membership, purpose=purpose, channel=channel)
    return record


def consent_history(person: Person):
    """Every statement about the person's consent, newest first, including those recorded for
    persons since merged into them."""
    return (
        ConsentRecord.objects.filter(person_id__in=[person.pk, *persons_merged_into([person.pk])])
        .select_related("protocol", "recorded_by", "recorded_by_agency")
        .prefetch_related("agencies", "confirmations")
        .order_by("-recorded_at", "-pk")
    )


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
        action=AccessLog.Action.CONSENT,
        channel=channel,
        purpose=purpose,
        person=person,
        fields={"consent_read": [s.record.pk for s in shown]},
    )
    return scopes, shown


def statement_for(*, user, membership, record_id: int) -> ConsentRecord:
    """A consent statement for the IG officers of the agencies it names (told of it when another
    agency records it) and for whoever recorded it; anyone else: not found."""
    found = (
        ConsentRecord.objects.filter(pk=record_id)
        .select_related("person", "protocol", "recorded_by", "recorded_by_agency")
        .prefetch_related("agencies")
        .first()
    )
    if found is None:
        raise NotFound()
    named_ig = (
        membership is not None
        and membership.role == Role.IG_OFFICER
        and any(a.pk == membership.agency_id for a in found.agencies.all())
    )
    if not named_ig and found.recorded_by_id != user.pk:
        raise NotFound()
    return found


def person_or_not_found(reference: str) -> Person:
    """The person with this reference as it stands (an old reference of a merged person is not
    followed here: the pages that act on a person act on its current reference)."""
    person = person_by_reference(reference)
    if person is None or person.reference != reference:
        raise NotFound()
    return person


# --- Consent requests -------------------------------------------------------------------------


def _consent_withheld(view: PersonView, dataset_id: int) -> Withheld | None:
    for entry in view.withheld:
        if entry.dataset_id == dataset_id and entry.reason == Withholding.CONSENT:
            return entry
    return None


def _responders(agency_id: int):
    """The owning agency's practitioners and IG officers, who answer consent requests."""
    return User.objects.filter(
        is_active=True,
        memberships__agency_id=agency_id,
        memberships__is_active=True,
        memberships__role__in=(Role.PRACTITIONER, Role.IG_OFFICER),
    ).distinct()


def withheld_for_consent(
    *,
    user,
    membership,
    person: Person,
    purpose: str,
    dataset_id: int | None,
    channel: str = "web",
) -> Withheld | None:
    """What of the dataset is withheld from the practitioner for want of consent, if anything.
    Raises NotFound unless they can see the person."""
    view = practitioner_view(
        user=user,
        membership=membership,
        person=person,
        purpose=purpose,
        attempted=AccessLog.Action.CONSENT_REQUEST,
        channel=channel,
    )
    return _consent_withheld(view, dataset_id) if dataset_id is not None else None


def consent_request_create(
    *,
    user,
    membership,
    person: Person,
    purpose: str,
    dataset_id: int,
    reason: str,
    channel: str = "web",
) -> ConsentRequest:
    """Ask the agency that holds a dataset withheld for want of consent to seek it.

    Refused (AlreadyRequested) while the practitioner's agency has an open request to that
    agency about the person for the purpose (consent.selectors.consent_request_open)."""
    entry = withheld_for_consent(
        user=user,
        membership=membership,
        person=person,
        purpose=purpose,
        dataset_id=dataset_id,
        channel=channel,
    )
    problems: dict[str, str] = {}
    if entry is None:
        problems["dataset"] = "Nothing of that dataset is withheld from you for want of consent."
    else:
        _refuse_a_second_request(
            user=user, membership=membership, person=person, purpose=purpose, entry=entry
        )
    _text_problems(
        problems,
        "reason",
        reason,
        what="reason",
        shown=_shown_to(user=user, membership=membership, person=person, purpose=purpose),
        minimum=MIN_REQUEST_REASON,
        required_message=(
            f"Say why you need to see the record, in at least {MIN_REQUEST_REASON} characters, "
            "so the agency can explain it when they ask."
        ),
    )
    if problems or entry is None:
        raise ConsentError(problems)
    protocol_id = entry.protocol_ids[0]
    try:
        with transaction.atomic():
            # Two colleagues asking at once: the second waits for the first's transaction on
            # the person's row, then finds its request.
            list(Person.objects.select_for_update().filter(pk=person.pk).values_list("pk"))
            _refuse_a_second_request(
                user=user, membership=membership, person=person, purpose=purpose, entry=entry
            )
            request = ConsentRequest.objects.create(
                person=person,
                protocol_id=protocol_id,
                purpose=purpose,
                owner_agency_id=entry.agency.pk,
                dataset_id=dataset_id,
                requested_by=user,
                requester_agency_id=membership.agency_id,
                reason=reason.strip(),
            )
            notify(
                recipients=_responders(entry.agency.pk),
                kind=NotificationKind.CONSENT_REQUESTED,
                message=(
                    f"{membership.agency.name} asks you to seek consent to share your records "
                    f"of person {person.reference}."
                ),
                link=reverse("consent:request_detail", args=[request.pk]),
            )
    except IntegrityError:
        # The same practitioner, agency asked and protocol under another purpose: still a
        # second copy of their own open question (consentrequest_one_open).
        existing = (
            ConsentRequest.objects.filter(
                person=person,
                requested_by=user,
                owner_agency_id=entry.agency.pk,
                protocol_id=protocol_id,
                status=RequestStatus.OPEN,
            )
            .select_related("requested_by", "owner_agency")
            .first()
        )
        if existing is not None:
            raise AlreadyRequested(existing, user=user) from None
        raise
    return request


def _refuse_a_second_request(
    *, user, membership, person: Person, purpose: str, entry: Withheld
) -> None:
    existing = consent_request_open(
        membership=membership, person=person, purpose=purpose, owner_agency_id=entry.agency.pk
    )
    if existing is not None:
        raise AlreadyRequested(existing, user=user)


def requests_received(membership: Membership | None):
    """Requests to the user's agency, for its practitioners and IG officers; else none."""
    if membership is None or membership.role not in (Role.PRACTITIONER, Role.IG_OFFICER):
        return ConsentRequest.objects.none()
    return ConsentRequest.objects.filter(owner_agency_id=membership.agency_id).select_related(
        "person", "requester_agency", "requested_by", "dataset", "protocol"
    )


def work_waiting(membership: Membership | None) -> dict[str, int]:
    """What waits for the user's agency: open consent requests to answer, and (for IG
    officers) overrides to review. For the home pages."""
    waiting = {"requests": requests_received(membership).filter(status=RequestStatus.OPEN).count()}
    if membership is not None and membership.role == Role.IG_OFFICER:
        waiting["overrides"] = (
            overrides_for_ig(membership).filter(review=ReviewOutcome.AWAITING).count()
        )
    return waiting


def requests_sent(user):
    return ConsentRequest.objects.filter(requested_by=user).select_related(
        "person", "owner_agency", "dataset", "protocol"
    )


def consent_request_for(*, user, membership, request_id: int) -> ConsentRequest:
    """A request the user sent or whose agency it was sent to, or one a colleague sent that
    they may know of (request_of_colleague); anything else is not found."""
    received = requests_received(membership).filter(pk=request_id).first()
    if received is not None:
        return received
    sent = requests_sent(user).filter(pk=request_id).first()
    if sent is not None:
        return sent
    colleagues = request_of_colleague(user=user, membership=membership, request_id=request_id)
    if colleagues is None:
        raise NotFound()
    return colleagues


def request_of_colleague(*, user, membership, request_id: int) -> ConsentRequest | None:
    """A request another practitioner of the user's agency sent, for a practitioner the
    disclosure engine shows that the agency asked is involved with the person: where a second
    request is refused, its page says what is already asked and how it stands.

    Only what the request is (who asked whom, when, its status): its reason and the answer's
    note were written for the agency asked and the requester, from what each of them is shown,
    so they are not shown to colleagues (request_is_party)."""
    if membership is None or membership.role != Role.PRACTITIONER or membership.agency_id is None:
        return None
    found = (
        ConsentRequest.objects.filter(pk=request_id, requester_agency_id=membership.agency_id)
        .exclude(requested_by=user)
        .select_related("person", "requester_agency", "requested_by", "owner_agency", "dataset")
        .select_related("protocol")
        .first()
    )
    if found is None:
        return None
    person = person_by_reference(found.person.reference)
    if person is None:
        return None
    visible = agencies_visible(
        user=user,
        membership=membership,
        person_ids=[person.pk],
        purpose=found.purpose,
        now=timezone.now(),
    )
    return found if found.owner_agency_id in visible.get(person.pk, set()) else None


def request_is_party(membership: Membership | None, user, request: ConsentRequest) -> bool:
    """Whether the user sent the request or works in the agency asked: who reads its reason
    and the answer's note."""
    return request.requested_by_id == user.pk or (
        membership is not None and membership.agency_id == request.owner_agency_id
    )


def can_answer(membership: Membership | None, request: ConsentRequest) -> bool:
    return (
        membership is not None
        and membership.role in (Role.PRACTITIONER, Role.IG_OFFICER)
        and membership.agency_id == request.owner_agency_id
        and request.is_open
    )


ANSWER_STATES: dict[str, str] = {
    RequestStatus.CONSENT_GIVEN: ConsentState.GIVEN,
    RequestStatus.REFUSED: ConsentState.REFUSED,
    RequestStatus.NOT_APPROPRIATE: ConsentState.NOT_SOUGHT,
}


def consent_request_answer(
    *,
    user,
    membership,
    request_id: int,
    outcome: str,
    method: str = "",
    given_by: str = "",
    evidence_reference: str = "",
    expires_on: date | None = None,
    note: str = "",
) -> ConsentRequest:
    """The owning agency records the outcome; consent obtained or refused is recorded for the
    person, for the request's protocol and the owning agency's records, and the requester is
    told."""
    request = consent_request_for(user=user, membership=membership, request_id=request_id)
    if membership is None or membership.agency_id != request.owner_agency_id:
        raise NotFound()
    if not can_answer(membership, request):
        raise ConsentError({"": "This request has already been answered or cancelled."})
    if outcome not in ANSWER_STATES:
        raise ConsentError(
            {"outcome": "Choose consent obtained, refused, or not appropriate to seek."}
        )
    data = ConsentInput(
        state=ANSWER_STATES[outcome],
        agency_ids=(request.owner_agency_id,),
        protocol_id=request.protocol_id,
        method=method,
        given_by=given_by,
        evidence_reference=evidence_reference,
        expires_on=expires_on,
        note=note,
    )
    shown = _shown_to(
        user=user, membership=membership, person=request.person, purpose=request.purpose
    )
    problems = _consent_problems(data, shown=shown, today=timezone.localdate())
    if outcome == RequestStatus.NOT_APPROPRIATE and not note.strip():
        problems["note"] = "Say why it is not appropriate to seek consent."
    if problems:
        raise ConsentError(problems)
    with transaction.atomic():
        updated = ConsentRequest.objects.filter(pk=request.pk, status=RequestStatus.OPEN).update(
            status=outcome,
            answered_by=user,
            answered_at=timezone.now(),
            answer_note=note.strip(),
        )
        if not updated:
            raise ConsentError({"": "This request has already been answered or cancelled."})
        _record_write(
            user=user, membership=membership, person=request.person, data=data, request=request
        )
        notices_settle(
            kind=NotificationKind.CONSENT_REQUESTED,
            link=reverse("consent:request_detail", args=[request.pk]),
        )
        request.refresh_from_db()
        notify(
            recipients=[request.requested_by],
            kind=NotificationKind.CONSENT_ANSWERED,
            message=(
                f"{request.owner_agency.name} answered your consent request for person "
                f"{request.person.reference}: {request.get_status_display().lower()}."
            ),
            link=reverse("consent:request_detail", args=[request.pk]),
        )
    return request


def consent_request_cancel(*, user, request_id: int) -> ConsentRequest:
    request = requests_sent(user).filter(pk=request_id).first()
    if request is None:
        raise NotFound()
    with transaction.atomic():
        updated = ConsentRequest.objects.filter(pk=request.pk, status=RequestStatus.OPEN).update(
            status=RequestStatus.CANCELLED, answered_at=timezone.now()
        )
        if not updated:
            raise ConsentError({"": "This request has already been answered or cancelled."})
        notices_settle(
            kind=NotificationKind.CONSENT_REQUESTED,
            link=reverse("consent:request_detail", args=[request.pk]),
        )
    request.refresh_from_db()
    return request


def owner_references(*, membership, request: ConsentRequest) -> list[tuple[str, str]]:
    """(dataset name, the agency's own record reference) of the owning agency's records of the
    person, so the person answering can find them in their own system. Only the agency's own
    records, only to its own staff, only while the request is theirs to answer."""
    from matching.models import LinkageRecord

    if membership is None or membership.agency_id != request.owner_agency_id:
        return []
    rows = (
        LinkageRecord.objects.filter(
            Q(person_id=request.person_id) | Q(person__merged_into_id=request.person_id),
            agency_id=request.owner_agency_id,
            record__is_retired=False,
        )
        .order_by("record__dataset__name", "record__source_id")
        .values_list("record__dataset__name", "record__source_id")
    )
    return list(rows)


# --- Safeguarding overrides -------------------------------------------------------------------


@dataclass
class OverrideOption:
    """A protocol whose withheld data an override would open, and what it would open."""

    protocol: Protocol
    version_id: int
    label: str
    max_hours: int
    opens: list[Withheld]
    # The version's usual length (ProtocolVersion.override_default_hours): what the form offers
    # first. Never more than max_hours, whatever a version written by hand says.
    default_hours: int = DEFAULT_OVERRIDE_LENGTH_HOURS

    def __post_init__(self) -> None:
        self.default_hours = max(1, min(self.default_hours, self.max_hours))


def override_options(
    *, user, membership, person: Person, channel: str = "web"
) -> tuple[PersonView, list[OverrideOption]]:
    """The protocols under which the practitioner could override for this person now.

    Raises NotFound unless they can see the person for safeguarding."""
    view = practitioner_view(
        user=user,
        membership=membership,
        person=person,
        purpose=Purpose.SAFEGUARDING,
        attempted=AccessLog.Action.OVERRIDE,
        channel=channel,
    )
    by_protocol: dict[int, OverrideOption] = {}
    protocols = Protocol.objects.in_bulk(
        {pid for entry in view.withheld for pid in entry.overridable}
    )
    usual = dict(
        ProtocolVersion.objects.filter(
            pk__in={v for entry in view.withheld for v in entry.override_versions.values()}
        ).values_list("pk", "override_default_hours")
    )
    for entry in view.withheld:
        for protocol_id, hours in entry.overridable.items():
            option = by_protocol.get(protocol_id)
            if option is None:
                version_id = entry.override_versions[protocol_id]
                option = by_protocol[protocol_id] = OverrideOption(
                    protocol=protocols[protocol_id],
                    version_id=version_id,
                    label=entry.protocol_labels[protocol_id],
                    max_hours=hours,
                    opens=[],
                    default_hours=usual.get(version_id, DEFAULT_OVERRIDE_LENGTH_HOURS),
                )
            option.opens.append(entry)
    return view, sorted(by_protocol.values(), key=lambda o: (o.label, o.protocol.pk))


def _reviewers(override: SafeguardingOverride):
    """IG officers of the overriding user's agency and of the agencies whose records it opened,
    never the user who overrode."""
    agency_ids = {override.agency_id, *override.agencies.values_list("pk", flat=True)}
    return ig_officers(agency_ids).exclude(pk=override.user_id)


def override_start(
    *,
    user,
    membership,
    person: Person,
    protocol_id: int,
    category: str,
    justification: str,
    hours: int | None,
    now: datetime | None = None,
    channel: str = "web",
) -> SafeguardingOverride:
    """Break glass: the practitioner sees at once, for `hours`, what the protocol shows of the
    person with consent. Logged, and sent to IG officers for review.

    One at a time per person and protocol: back-to-back overrides would stretch past the
    protocol's limit without anyone reviewing the whole. Only one the engine honours counts
    (consent.selectors.overrides_in_force); to start afresh, the practitioner ends it first.
    """
    now = now or timezone.now()
    _, options = override_options(user=user, membership=membership, person=person, channel=channel)
    option = next((o for o in options if o.protocol.pk == protocol_id), None)
    problems: dict[str, str] = {}
    running = next(
        (
            o
            for o in overrides_in_force(user=user, membership=membership, person=person, now=now)
            if o.protocol_id == protocol_id
        ),
        None,
    )
    if running is not None:
        problems[""] = (
            "You already have an override for this person under this protocol until "
            f"{timezone.localtime(running.expires_at):%H:%M on %-d %B %Y}. To start a new "
            "one, end that one first: it is shown above the form."
        )
    elif option is None:
        problems["protocol"] = (
            "Choose a protocol whose withheld data gives way to a safeguarding override."
        )
    if category not in OverrideCategory.values:
        problems["category"] = "Choose why seeking consent is not possible or safe."
    _text_problems(
        problems,
        "justification",
        justification,
        what="justification",
        shown=_shown_to(
            user=user, membership=membership, person=person, purpose=Purpose.SAFEGUARDING
        ),
        minimum=MIN_JUSTIFICATION,
        required_message=(
            f"Explain in at least {MIN_JUSTIFICATION} characters why you must see the record "
            "without consent; an IG officer will review it."
        ),
    )
    if hours is None:
        problems["hours"] = "Enter how many hours you need, like 24."
    elif option is not None and not 1 <= hours <= option.max_hours:
        problems["hours"] = (
            f"Enter from 1 to {option.max_hours} hours: the most this protocol allows."
        )
    if problems or option is None or hours is None:
        raise ConsentError(problems)
    with transaction.atomic():
        override = SafeguardingOverride.objects.create(
            person=person,
            user=user,
            agency_id=membership.agency_id,
            role=membership.role,
            protocol_id=protocol_id,
            version_id=option.version_id,
            category=category,
            justification=justification.strip(),
            hours=hours,
            started_at=now,
            expires_at=now + timedelta(hours=hours),
            opened=[
                {
                    "agency": entry.agency.name,
                    "dataset": entry.dataset_name,
                    "fields": entry.field_labels,
                }
                for entry in option.opens
            ],
            dataset_ids=sorted({entry.dataset_id for entry in option.opens}),
        )
        override.agencies.set({entry.agency.pk for entry in option.opens})
        access_log_write(
            user=user,
            membership=membership,
            action=AccessLog.Action.OVERRIDE,
            channel=channel,
            purpose=Purpose.SAFEGUARDING,
            person=person,
            versions=[option.version_id],
            # "opens": the datasets it opens, so their owners see it among the reads of
            # their records (audit.reads).
            fields={
                "override": override.pk,
                "hours": hours,
                "category": category,
                "opens": override.dataset_ids,
            },
        )
        notify(
            recipients=_reviewers(override),
            kind=NotificationKind.OVERRIDE_TO_REVIEW,
            message=(
                f"{user.full_name} ({membership.agency.name}) used a safeguarding override for "
                f"person {person.reference}; it awaits your review."
            ),
            link=reverse("consent:override_detail", args=[override.pk]),
        )
    return override


def override_for_user(*, user, membership, override_id: int) -> SafeguardingOverride:
    """An override the user may open: one their agency reviews, as an IG officer, or their own."""
    if membership is not None and membership.role == Role.IG_OFFICER:
        found = overrides_for_ig(membership).filter(pk=override_id).first()
        if found is not None:
            return found
    found = (
        SafeguardingOverride.objects.filter(pk=override_id, user=user)
        .select_related("person", "protocol", "version", "agency", "reviewed_by")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def override_end(*, user, override_id: int, now: datetime | None = None) -> SafeguardingOverride:
    """The practitioner ends their own override early, once they have what they needed."""
    now = now or timezone.now()
    override = SafeguardingOverride.objects.filter(pk=override_id, user=user).first()
    if override is None:
        raise NotFound()
    ended = SafeguardingOverride.objects.filter(
        pk=override.pk, ended_at__isnull=True, expires_at__gt=now
    ).update(ended_at=now, ended_by=user)
    if not ended:
        raise ConsentError({"": "This override has already ended."})
    override.refresh_from_db()
    return override


def overrides_for_ig(membership: Membership | None):
    """Overrides an IG officer reviews: by their agency's staff or opening their agency's
    records. None for anyone else."""
    if membership is None or membership.role != Role.IG_OFFICER or membership.agency_id is None:
        return SafeguardingOverride.objects.none()
    ids = SafeguardingOverride.objects.filter(
        Q(agency_id=membership.agency_id) | Q(agencies=membership.agency_id)
    ).values("pk")
    return SafeguardingOverride.objects.filter(pk__in=ids).select_related(
        "user", "agency", "person", "protocol", "version", "reviewed_by"
    )


def override_history(override: SafeguardingOverride) -> list:
    """Its steps from version to version of its protocol (consent.carry_over), oldest first:
    for the override's page, which says where it was carried and why it ended."""
    return list(
        override.carry_overs.select_related("from_version", "to_version").order_by("at", "pk")
    )


def override_for_ig(*, membership, override_id: int) -> SafeguardingOverride:
    override = overrides_for_ig(membership).filter(pk=override_id).first()
    if override is None:
        raise NotFound()
    return override


def override_review(
    *, user, membership, override_id: int, outcome: str, note: str, now: datetime | None = None
) -> SafeguardingOverride:
    """An IG officer marks an override justified or not, with a note. Not justified ends it at
    once if it is still running. Nobody reviews their own."""
    now = now or timezone.now()
    override = override_for_ig(membership=membership, override_id=override_id)
    problems: dict[str, str] = {}
    if override.review != ReviewOutcome.AWAITING:
        problems[""] = "This override has already been reviewed."
    elif override.user_id == user.pk:
        problems[""] = "Another IG officer must review your own override."
    if outcome not in (ReviewOutcome.JUSTIFIED, ReviewOutcome.NOT_JUSTIFIED):
        problems["outcome"] = "Choose justified or not justified."
    _text_problems(
        problems,
        "note",
        note,
        what="note",
        shown=_shown_to(
            user=user, membership=membership, person=override.person, purpose=Purpose.SAFEGUARDING
        ),
        minimum=MIN_REVIEW_NOTE,
        required_message="Write a note saying why, for the practitioner and the audit.",
    )
    if problems:
        raise ConsentError(problems)
    with transaction.atomic():
        changes = {
            "review": outcome,
            "reviewed_by": user,
            "reviewed_at": now,
            "review_note": note.strip(),
        }
        updated = SafeguardingOverride.objects.filter(
            pk=override.pk, review=ReviewOutcome.AWAITING
        ).update(**changes)
        if not updated:
            raise ConsentError({"": "This override has already been reviewed."})
        # The other reviewers' "to review" notices are settled too: the work is done.
        notices_settle(
            kind=NotificationKind.OVERRIDE_TO_REVIEW,
            link=reverse("consent:override_detail", args=[override.pk]),
        )
        if outcome == ReviewOutcome.NOT_JUSTIFIED:
            SafeguardingOverride.objects.filter(
                pk=override.pk, ended_at__isnull=True, expires_at__gt=now
            ).update(ended_at=now, ended_by=user)
        override.refresh_from_db()
        notify(
            recipients=[override.user],
            kind=NotificationKind.OVERRIDE_REVIEWED,
            message=(
                f"An IG officer reviewed your safeguarding override for person "
                f"{override.person.reference}: {override.get_review_display().lower()}."
            ),
            link=reverse("consent:override_detail", args=[override.pk]),
        )
    return override


def overrides_expire(*, now: datetime | None = None) -> int:
    """Announce each override whose time ran out, once; returns how many. For the periodic
    task: the engine already stopped honouring them at `expires_at`."""
    now = now or timezone.now()
    due = list(
        SafeguardingOverride.objects.filter(
            expires_at__lte=now, expiry_noted_at__isnull=True
        ).select_related("user", "person")
    )
    announced = 0
    for override in due:
        with transaction.atomic():
            claimed = SafeguardingOverride.objects.filter(
                pk=override.pk, expiry_noted_at__isnull=True
            ).update(expiry_noted_at=now)
            if not claimed:
                continue
            announced += 1
            if override.ended_at is not None:
                continue  # ended early; the practitioner knows
            notify(
                recipients=[override.user],
                kind=NotificationKind.OVERRIDE_ENDED,
                message=(
                    f"Your safeguarding override for person {override.person.reference} has "
                    "ended; the withheld records are withheld again."
                ),
                link=reverse("consent:override_detail", args=[override.pk]),
            )
    return announced


@dataclass
class UserOverrides:
    user: User
    total: int
    active: int
    awaiting: int
    not_justified: int
    latest: datetime


def overrides_per_user(membership: Membership | None, *, since: datetime) -> list[UserOverrides]:
    """For an IG officer: each of their agency's staff who overrode since `since`, with counts."""
    if membership is None or membership.role != Role.IG_OFFICER or membership.agency_id is None:
        return []
    now = timezone.now()
    rows: dict[int, UserOverrides] = {}
    for override in SafeguardingOverride.objects.filter(
        agency_id=membership.agency_id, started_at__gte=since
    ).select_related("user"):
        entry = rows.get(override.user_id)
        if entry is None:
            entry = rows[override.user_id] = UserOverrides(
                override.user, 0, 0, 0, 0, override.started_at
            )
        entry.total += 1
        entry.active += override.active_at(now)
        entry.awaiting += override.review == ReviewOutcome.AWAITING
        entry.not_justified += override.review == ReviewOutcome.NOT_JUSTIFIED
        entry.latest = max(entry.latest, override.started_at)
    return sorted(rows.values(), key=lambda r: (-r.total, r.user.full_name))
