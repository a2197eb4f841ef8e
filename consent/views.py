"""Pages for consent, consent requests and safeguarding overrides.

Pages about one person answer 404 to anyone whose protocols do not cover them, like the case
summary; requests and overrides answer 404 to anyone who is not party to them.
"""

from datetime import timedelta

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from agencies.access import MemberRequest, role_required
from agencies.models import Role
from consent.errors import AlreadyRequested, ConsentError, NotFound
from consent.forms import (
    AnswerForm,
    ConfirmForm,
    ConsentForm,
    OverrideForm,
    RequestForm,
    ReviewForm,
    WithdrawForm,
)
from consent.models import RequestStatus, ReviewOutcome
from consent.overrides import override_end, override_options, override_review, override_start
from consent.records import (
    ConsentInput,
    consent_confirm,
    consent_history_read,
    consent_record,
    consent_withdraw,
)
from consent.requests import (
    consent_request_answer,
    consent_request_cancel,
    consent_request_create,
    withheld_for_consent,
)
from consent.selectors import (
    can_answer,
    consent_awaiting,
    consent_can_confirm,
    consent_request_for,
    consent_request_open,
    override_for_user,
    override_history,
    overrides_for_ig,
    overrides_in_force,
    overrides_per_user,
    owner_references,
    person_or_not_found,
    request_is_party,
    requests_received,
    requests_sent,
    statement_for,
)
from core.purpose import Purpose, page_purpose

# How far back the per-user override counts look.
OVERVIEW_DAYS = 90
# Sent with "End it and start a new override": override_stop then opens the override form.
START_AGAIN = "new"


def _person(reference: str):
    try:
        return person_or_not_found(reference)
    except NotFound:
        raise Http404("No such person.") from None


def _summary_url(reference: str, purpose: str) -> str:
    return f"{reverse('protocols:summary', args=[reference])}?purpose={purpose}"


def _add_problems(form, error: ConsentError) -> None:
    for name, message in error.problems.items():
        # A hidden input's error would show nowhere: it goes at the top of the form instead.
        shown = name in form.fields and not form.fields[name].widget.is_hidden
        form.add_error(name if shown else None, message)


@role_required(Role.PRACTITIONER)
@never_cache
def person_consent(request: MemberRequest, reference: str) -> HttpResponse:
    """The person's consent history, and recording what they said."""
    purpose = page_purpose(request)
    person = _person(reference)
    try:
        scopes, history = consent_history_read(
            user=request.user, membership=request.membership, person=person, purpose=purpose
        )
    except NotFound:
        raise Http404("No such person.") from None
    purpose_label = Purpose(purpose).label
    form = ConsentForm(request.POST or None, scopes=scopes, purpose_label=purpose_label)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        protocol_id, whole_purpose = form.scope_value()
        try:
            record = consent_record(
                user=request.user,
                membership=request.membership,
                person=person,
                purpose=purpose,
                data=ConsentInput(
                    state=data["state"],
                    agency_ids=tuple(int(a) for a in data["agencies"]),
                    protocol_id=protocol_id,
                    purpose=purpose if whole_purpose else "",
                    **form.how(),
                ),
            )
        except NotFound:
            raise Http404("No such person.") from None
        except ConsentError as error:
            _add_problems(form, error)
        else:
            awaited = consent_awaiting(record)
            if awaited:
                names = ", ".join(a.name for a in awaited)
                messages.success(
                    request,
                    f"Consent recorded. Records of {names} stay withheld until {names} "
                    "confirms it; its IG officers have been asked.",
                )
            else:
                messages.success(request, "Consent recorded. The case summary reflects it now.")
            return redirect(f"{request.path}?purpose={purpose}")
    return render(
        request,
        "consent/person_consent.html",
        {
            "person": person,
            "purpose": purpose,
            "purpose_label": purpose_label,
            "form": form,
            "history": history,
            "withdraw_form": WithdrawForm(),
        },
    )


@role_required(Role.PRACTITIONER)
@require_POST
def person_consent_withdraw(request: MemberRequest, reference: str, record_id: int) -> HttpResponse:
    purpose = page_purpose(request)
    person = _person(reference)
    form = WithdrawForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        consent_withdraw(
            user=request.user,
            membership=request.membership,
            person=person,
            purpose=purpose,
            record_id=record_id,
            note=note,
        )
    except NotFound:
        raise Http404("No such person.") from None
    except ConsentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Withdrawal recorded. The records are withheld again now.")
    return redirect(f"{reverse('consent:person_consent', args=[reference])}?purpose={purpose}")


@role_required(Role.PRACTITIONER)
@never_cache
def request_new(request: MemberRequest, reference: str) -> HttpResponse:
    """Ask the agency holding a withheld record to seek consent; or, where the practitioner's
    agency already asked it and waits for the answer, say so and link to that request."""
    purpose = page_purpose(request)
    person = _person(reference)
    dataset = request.POST.get("dataset") or request.GET.get("dataset") or ""
    form = RequestForm(request.POST or None, initial={"dataset": dataset})
    try:
        entry = withheld_for_consent(
            user=request.user,
            membership=request.membership,
            person=person,
            purpose=purpose,
            dataset_id=int(dataset) if dataset.isdigit() else None,
        )
    except NotFound:
        raise Http404("No such person.") from None
    existing = (
        consent_request_open(
            membership=request.membership,
            person=person,
            purpose=purpose,
            owner_agency_id=entry.agency.pk,
        )
        if entry is not None
        else None
    )
    # A form sent from a page opened before the first request went is still refused (by the
    # service), with the same link.
    if request.method == "POST" and form.is_valid():
        try:
            consent_request_create(
                user=request.user,
                membership=request.membership,
                person=person,
                purpose=purpose,
                dataset_id=form.cleaned_data["dataset"],
                reason=form.cleaned_data["reason"],
            )
        except NotFound:
            raise Http404("No such person.") from None
        except AlreadyRequested as error:
            existing = error.existing
            _add_problems(form, error)
        except ConsentError as error:
            _add_problems(form, error)
        else:
            messages.success(
                request,
                "Request sent. You will get a notification when the agency answers.",
            )
            return redirect(_summary_url(reference, purpose))
    elif request.method == "POST" and existing is not None:
        # A page with a request waiting has no form on it, so the form's own errors (an empty
        # reason) would show nowhere: the answer is the request already sent, as the service
        # and the API give it.
        _add_problems(form, AlreadyRequested(existing, user=request.user))
    return render(
        request,
        "consent/request_new.html",
        {
            "person": person,
            "purpose": purpose,
            "form": form,
            "entry": entry,
            "existing": existing,
        },
    )


@role_required(Role.PRACTITIONER, Role.IG_OFFICER)
@never_cache
def request_list(request: MemberRequest) -> HttpResponse:
    received = requests_received(request.membership)
    return render(
        request,
        "consent/request_list.html",
        {
            # Oldest first: the longest waiting is answered first. All of them, however many.
            "received_open": list(
                received.filter(status=RequestStatus.OPEN).order_by("created_at", "pk")
            ),
            "received_done": list(received.exclude(status=RequestStatus.OPEN)[:50]),
            "sent": list(requests_sent(request.user)[:100]),
        },
    )


@role_required(Role.PRACTITIONER, Role.IG_OFFICER)
@never_cache
def request_detail(request: MemberRequest, pk: int) -> HttpResponse:
    try:
        consent_request = consent_request_for(
            user=request.user, membership=request.membership, request_id=pk
        )
    except NotFound:
        raise Http404("No such request.") from None
    answering = can_answer(request.membership, consent_request)
    form = AnswerForm(request.POST or None) if answering else None
    if request.method == "POST":
        if form is None:
            messages.error(request, "This request has already been answered or cancelled.")
            return redirect(request.path)
        if form.is_valid():
            data = form.cleaned_data
            try:
                consent_request_answer(
                    user=request.user,
                    membership=request.membership,
                    request_id=pk,
                    outcome=data["outcome"],
                    **form.how(),
                )
            except NotFound:
                raise Http404("No such request.") from None
            except ConsentError as error:
                _add_problems(form, error)
            else:
                messages.success(request, "Answer recorded; the requester has been told.")
                return redirect(request.path)
    return render(
        request,
        "consent/request_detail.html",
        {
            "consent_request": consent_request,
            "form": form,
            "references": owner_references(membership=request.membership, request=consent_request)
            if answering
            else [],
            "mine": consent_request.requested_by_id == request.user.pk,
            "party": request_is_party(request.membership, request.user, consent_request),
        },
    )


@role_required(Role.PRACTITIONER)
@require_POST
def request_cancel(request: MemberRequest, pk: int) -> HttpResponse:
    try:
        consent_request_cancel(user=request.user, request_id=pk)
    except NotFound:
        raise Http404("No such request.") from None
    except ConsentError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Request cancelled.")
    return redirect("consent:request_detail", pk=pk)


@role_required(Role.PRACTITIONER)
@never_cache
def override_new(request: MemberRequest, reference: str) -> HttpResponse:
    """Break glass: see withheld records without consent, with a reason, for a limited time."""
    person = _person(reference)
    try:
        _, options = override_options(
            user=request.user, membership=request.membership, person=person
        )
    except NotFound:
        raise Http404("No such person.") from None
    form = OverrideForm(request.POST or None, options=options)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            override = override_start(
                user=request.user,
                membership=request.membership,
                person=person,
                protocol_id=int(data["protocol"]),
                category=data["category"],
                justification=data["justification"],
                hours=data["hours"],
            )
        except NotFound:
            raise Http404("No such person.") from None
        except ConsentError as error:
            _add_problems(form, error)
        else:
            messages.success(
                request,
                f"Safeguarding override in force until "
                f"{timezone.localtime(override.expires_at):%H:%M on %-d %B %Y}. "
                "An IG officer will review it.",
            )
            return redirect(_summary_url(reference, Purpose.SAFEGUARDING))
    return render(
        request,
        "consent/override_new.html",
        {
            "person": person,
            "form": form,
            "options": options,
            # Those the engine honours: one replaced without carrying over is no obstacle.
            "active": overrides_in_force(
                user=request.user, membership=request.membership, person=person
            ),
            "start_again": START_AGAIN,
        },
    )


@role_required(Role.PRACTITIONER)
@require_POST
def override_stop(request: MemberRequest, pk: int) -> HttpResponse:
    try:
        override = override_end(user=request.user, override_id=pk)
    except NotFound:
        raise Http404("No such override.") from None
    except ConsentError as error:
        messages.error(request, str(error))
        return redirect("consent:override_detail", pk=pk)
    if request.POST.get("then") == START_AGAIN:
        messages.success(
            request,
            "Override ended; the records are withheld again. Start a new override below if "
            "you still need one.",
        )
        return redirect("consent:override_new", reference=override.person.reference)
    messages.success(request, "Override ended. The records are withheld again.")
    return redirect(_summary_url(override.person.reference, Purpose.SAFEGUARDING))


@role_required(Role.IG_OFFICER)
@never_cache
def override_list(request: MemberRequest) -> HttpResponse:
    """The IG review queue, the overrides already reviewed, and overrides per member of staff."""
    found = overrides_for_ig(request.membership)
    since = timezone.now() - timedelta(days=OVERVIEW_DAYS)
    return render(
        request,
        "consent/override_list.html",
        {
            "awaiting": list(
                found.filter(review=ReviewOutcome.AWAITING).order_by("started_at")[:200]
            ),
            "reviewed": list(
                found.exclude(review=ReviewOutcome.AWAITING).order_by("-reviewed_at")[:50]
            ),
            "per_user": overrides_per_user(request.membership, since=since),
            "overview_days": OVERVIEW_DAYS,
            "now": timezone.now(),
        },
    )


@role_required(Role.PRACTITIONER, Role.IG_OFFICER)
@never_cache
def override_detail(request: MemberRequest, pk: int) -> HttpResponse:
    membership = request.membership
    try:
        override = override_for_user(user=request.user, membership=membership, override_id=pk)
    except NotFound:
        raise Http404("No such override.") from None
    reviewing = (
        membership is not None
        and membership.role == Role.IG_OFFICER
        and override.review == ReviewOutcome.AWAITING
        and override.user_id != request.user.pk
    )
    form = ReviewForm(request.POST or None) if reviewing else None
    if request.method == "POST":
        if form is None:
            messages.error(request, "You cannot review this override.")
            return redirect(request.path)
        if form.is_valid():
            try:
                override_review(
                    user=request.user,
                    membership=membership,
                    override_id=pk,
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                )
            except NotFound:
                raise Http404("No such override.") from None
            except ConsentError as error:
                _add_problems(form, error)
            else:
                messages.success(request, "Review recorded; the practitioner has been told.")
                return redirect("consent:override_list")
    return render(
        request,
        "consent/override_detail.html",
        {
            "override": override,
            "form": form,
            "mine": override.user_id == request.user.pk,
            "now": timezone.now(),
            "carry_overs": override_history(override),
            "start_again": START_AGAIN,
        },
    )


@role_required(Role.PRACTITIONER, Role.IG_OFFICER)
@never_cache
def statement_detail(request: MemberRequest, pk: int) -> HttpResponse:
    """One consent statement, for the IG officers of the agencies it names and its recorder;
    where it waits for the IG officer's agency to confirm it, the confirm or decline step."""
    try:
        statement = statement_for(user=request.user, membership=request.membership, record_id=pk)
    except NotFound:
        raise Http404("No such consent record.") from None
    confirming = consent_can_confirm(request.membership, statement)
    form = ConfirmForm(request.POST if request.method == "POST" else None) if confirming else None
    if request.method == "POST":
        if form is None:
            messages.error(request, "Your agency has nothing to confirm on this statement.")
            return redirect(request.path)
        if form.is_valid():
            try:
                consent_confirm(
                    user=request.user,
                    membership=request.membership,
                    record_id=pk,
                    confirmed=form.cleaned_data["outcome"] == "confirmed",
                    note=form.cleaned_data["note"],
                )
            except NotFound:
                raise Http404("No such consent record.") from None
            except ConsentError as error:
                _add_problems(form, error)
            else:
                messages.success(request, "Answer recorded; the practitioner has been told.")
                return redirect(request.path)
    return render(
        request,
        "consent/statement.html",
        {
            "record": statement,
            "form": form,
            "confirmations": statement.confirmations.select_related("agency", "by"),
            "awaiting": consent_awaiting(statement),
        },
        status=400 if form is not None and form.errors else 200,
    )
