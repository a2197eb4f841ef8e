"""Consent requests: a practitioner asks the agency holding records withheld for want of
consent to seek it, and that agency answers (its answer is recorded as consent) or the
practitioner cancels.

Every function checks who is acting, and raises ConsentError with what to fix. Free text is
screened for identifiers (matching.screening) before it is kept.
"""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agencies.models import Role
from audit.models import AuditAction
from consent.checks import practitioner_view, shown_to, text_problems
from consent.errors import AlreadyRequested, ConsentError, NotFound
from consent.models import ConsentRequest, ConsentState, RequestStatus
from consent.records import ConsentInput, consent_problems, record_write
from consent.selectors import can_answer, consent_request_for, consent_request_open, requests_sent
from matching.models import Person
from notifications.models import NotificationKind
from notifications.services import notices_settle, notify
from protocols.engine import PersonView, Withheld, Withholding

MIN_REQUEST_REASON = 20


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
        attempted=AuditAction.CONSENT_REQUEST,
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
    text_problems(
        problems,
        "reason",
        reason,
        what="reason",
        shown=shown_to(user=user, membership=membership, person=person, purpose=purpose),
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
    shown = shown_to(
        user=user, membership=membership, person=request.person, purpose=request.purpose
    )
    problems = consent_problems(data, shown=shown, today=timezone.localdate())
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
        record_write(
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
