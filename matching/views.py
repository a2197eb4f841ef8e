"""Pages for link reviewers (the review queue), for practitioners reporting a wrong or missed
link, for explaining a person, and the linked export."""

from collections.abc import Iterator

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.ratelimits import rate_limited
from agencies.access import MemberRequest, permission_required, role_required
from agencies.models import Role
from core.purpose import page_purpose
from matching.challenges import (
    ChallengeError,
    ChallengeNotFound,
    challenge_of_reporter,
    item_reports,
    link_report,
    outcome_text,
    report_target,
    reported_record_id,
)
from matching.explain import person_explain
from matching.export import ExportError, export_purposes_available, linkage_export_start
from matching.forms import LinkageExportForm, LinkChallengeForm, ReviewDecisionForm
from matching.models import LinkageRun, LinkChallenge, Person, ReviewItem
from matching.relink import (
    RelinkRefused,
    linkage_overview,
    relink_request,
    run_progress_data,
)
from matching.review import (
    REVIEW_PERMISSION,
    ReviewError,
    explain_read_audit,
    identifier_comparison,
    review_decide,
    review_history,
    review_item_get,
    review_item_readable,
    review_item_sides,
    review_next_open,
    review_queue,
    review_read_audit,
    review_reasons,
)

QUEUE_PAGE_SIZE = 50


@permission_required(REVIEW_PERMISSION)
def review_queue_view(request: MemberRequest) -> HttpResponse:
    paginator = Paginator(review_queue(getattr(request, "membership", None)), QUEUE_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    page_range = paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1)
    return render(
        request, "matching/review_queue.html", {"page": page, "page_range": list(page_range)}
    )


@permission_required(REVIEW_PERMISSION)
@never_cache
def review_item_view(request: MemberRequest, pk: int) -> HttpResponse:
    item = review_item_get(pk)
    if item is None:
        raise Http404("No such review item.")
    if not review_item_readable(request.user, request.membership, item):
        # As for an item that does not exist: a decided pair is its deciders' and IG's.
        review_read_audit(
            user=request.user,
            membership=request.membership,
            item=item,
            channel="web",
            outcome="denied",
        )
        raise Http404("No such review item.")
    form = ReviewDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            review_decide(
                item=item,
                user=request.user,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
                channel="web",
            )
        except ReviewError as error:
            if error.code == "withdrawn":
                messages.error(request, error.message)
                return redirect("matching:review_item", pk=item.pk)
            form.add_error(error.field, error.message)
        else:
            answer = ReviewItem.Status(form.cleaned_data["decision"]).label.lower()
            messages.success(
                request,
                f"Pair {item.pk} saved as {answer}. The people it affects are being linked "
                "again with your decision.",
            )
            following = review_next_open(after=item, membership=request.membership)
            if following is None:
                return redirect("matching:review_queue")
            return redirect("matching:review_item", pk=following.pk)
        item = review_item_get(pk) or item
    review_read_audit(user=request.user, membership=request.membership, item=item, channel="web")
    identifiers = identifier_comparison(request.user, item)
    reports = item_reports(item)
    sides = review_item_sides(item)
    reported = reported_record_id(item, reports)
    return render(
        request,
        "matching/review_item.html",
        {
            "item": item,
            "sides": sides,
            "identifiers": identifiers or [],
            "with_identifiers": identifiers is not None,
            "reasons": review_reasons(item),
            "history": review_history(item),
            "reports": reports,
            # "first" or "second": the record reported as not the person it is linked to.
            "reported_record": (
                "first" if reported == sides[0].record_id else "second" if reported else ""
            ),
            "form": form,
            "can_decide": item.status != ReviewItem.Status.WITHDRAWN,
        },
        status=400 if form.errors else 200,
    )


# --- Practitioners: reporting a wrong or missed link ----------------------------------------------


# Practitioners read case summaries (protocols.views.READERS), and report from them. A person,
# record or household member the engine does not show the reporter answers 404, as on the summary.
@role_required(Role.PRACTITIONER)
@rate_limited("link_report", methods=("POST",))
@never_cache
def challenge_wrong_view(request: MemberRequest, reference: str, record: int) -> HttpResponse:
    """Report that a record on a person's case summary is not about them."""
    return _challenge_page(request, reference, record_id=record)


@role_required(Role.PRACTITIONER)
@rate_limited("link_report", methods=("POST",))
@never_cache
def challenge_missed_view(request: MemberRequest, reference: str, other: str) -> HttpResponse:
    """Report that a member of a person's household is the same person."""
    member = Person.objects.filter(reference=other).first()
    if member is None:
        raise Http404("No such person.")
    return _challenge_page(request, reference, other=member)


def _challenge_page(
    request: MemberRequest,
    reference: str,
    *,
    record_id: int | None = None,
    other: Person | None = None,
) -> HttpResponse:
    purpose = page_purpose(request)
    # The person's own reference only: a report names the person as they are now, and an old
    # reference of someone merged away is not followed to them here (the summary does that).
    person = Person.objects.filter(reference=reference).first()
    if person is None:
        raise Http404("No such person.")
    try:
        target = report_target(
            user=request.user,
            membership=request.membership,
            person=person,
            purpose=purpose,
            channel="web",
            record_id=record_id,
            other=other,
        )
    except ChallengeNotFound:
        raise Http404("No such person.") from None
    summary_url = f"{reverse('protocols:summary', args=[person.reference])}?purpose={purpose}"
    form = LinkChallengeForm(request.POST or None, kind=target.kind)
    if request.method == "POST" and form.is_valid():
        try:
            link_report(
                user=request.user,
                membership=request.membership,
                person=person,
                purpose=purpose,
                reason=form.cleaned_data["reason"],
                channel="web",
                record_id=record_id,
                other=other,
            )
        except ChallengeNotFound:
            raise Http404("No such person.") from None
        except ChallengeError as error:
            form.add_error(error.field, error.message)
        else:
            messages.success(
                request,
                "Report sent. A link reviewer will check it, and you will get a notification "
                "when they decide.",
            )
            return redirect(summary_url)
    return render(
        request,
        "matching/challenge_new.html",
        {
            "target": target,
            "person": person,
            "purpose": purpose,
            "summary_url": summary_url,
            "form": form,
            "wrong": target.kind == LinkChallenge.Kind.WRONG,
        },
        status=400 if form.errors else 200,
    )


@role_required(Role.PRACTITIONER)
@never_cache
def challenge_detail_view(request: MemberRequest, pk: int) -> HttpResponse:
    """A report and its outcome, for the practitioner who made it; 404 for anyone else."""
    challenge = challenge_of_reporter(user=request.user, pk=pk)
    if challenge is None:
        raise Http404("No such report.")
    return render(
        request,
        "matching/challenge_detail.html",
        {
            "challenge": challenge,
            "outcome": (
                outcome_text(challenge, challenge.outcome)
                if challenge.status == LinkChallenge.Status.DECIDED
                else ""
            ),
        },
    )


# How linkage built a person (which datasets' records, by which rule) is for those who check
# linkage: reviewers and platform admins. It shows no identifier and no case detail, which only
# the disclosure engine releases (protocols.views.summary). Anyone else gets 404, as for a person
# who does not exist.
@permission_required(REVIEW_PERMISSION, roles=(Role.PLATFORM_ADMIN,), hide=True)
@never_cache
def person_explain_view(request: MemberRequest, reference: str) -> HttpResponse:
    explanation = person_explain(reference=reference)
    if explanation is None:
        raise Http404("No such person.")
    explain_read_audit(
        user=request.user, membership=request.membership, person=explanation, channel="web"
    )
    return render(request, "matching/person_explain.html", {"person": explanation})


# Analysts only: what they get is what the disclosure engine shares with them for the purpose
# (matching.export). A platform admin's whole-partnership export is the command's.
@role_required(Role.ANALYST)
# The form page is free to open; each export made counts.
@rate_limited("export", methods=("POST",))
def linkage_export_view(request: MemberRequest) -> HttpResponseBase:
    form = LinkageExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            _, chunks = linkage_export_start(
                user=request.user,
                membership=request.membership,
                purpose=form.cleaned_data["purpose"],
                statement=form.cleaned_data["statement"],
                channel="web",
            )
        except ExportError as error:
            form.add_error(error.field, str(error))
        else:
            return linkage_csv_response(chunks)
    return render(
        request,
        "matching/linkage_export.html",
        {
            "form": form,
            "available": export_purposes_available(
                user=request.user, membership=request.membership
            ),
        },
        status=400 if form.errors else 200,
    )


def linkage_csv_response(chunks: Iterator[str]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="linked-records-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# The model linkage uses and the runs it made are the platform admin's to watch (keys, retention
# and the running of the platform are theirs: ARCHITECTURE.md). Figures only, no identifier.
@role_required(Role.PLATFORM_ADMIN)
def linkage_status_view(request: MemberRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm") != "yes":
            error = "Select yes to confirm that everything should be linked again."
        else:
            try:
                run = relink_request(
                    requested_by=request.user, membership=request.membership, channel="web"
                )
            except RelinkRefused as refused:
                error = str(refused)
            else:
                return redirect("matching:linkage_run", pk=run.pk)
    return render(
        request,
        "matching/linkage_status.html",
        {
            **linkage_overview(),
            "error": error,
            "can_review": request.user.has_perm(REVIEW_PERMISSION),
        },
        status=400 if error else 200,
    )


@role_required(Role.PLATFORM_ADMIN)
def linkage_run_view(request: MemberRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(LinkageRun.objects.select_related("requested_by"), pk=pk)
    return render(request, "matching/linkage_run.html", {"run": run})


@role_required(Role.PLATFORM_ADMIN)
def linkage_run_progress(request: MemberRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(LinkageRun, pk=pk)
    return JsonResponse(run_progress_data(run))
