"""The IG officer's subject access pages: find the requester by POST, then the report as a
page and as a PDF of the same template; ask the other agencies holding records for their parts;
and, for those other agencies' IG officers, the parts they are asked to review and release."""

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from agencies.access import MemberRequest, role_required
from agencies.models import Role
from matching.search import SearchError, SearchQuery
from protocols.summary import person_by_reference
from subject_access.forms import AskForm, FindForm, ReleaseForm, ReportOptionsForm
from subject_access.release import (
    PartNotFound,
    ReleaseRefused,
    part_release,
    part_review,
    parts_to_release,
    withhold_keys,
)
from subject_access.services import (
    SubjectAccessDenied,
    SubjectAccessReport,
    subject_access_ask,
    subject_access_find,
    subject_access_report,
)


@role_required(Role.IG_OFFICER)
@never_cache
def find(request: MemberRequest) -> HttpResponse:
    # Bound on any POST, an empty one too, so that it is told what to fill in.
    form = FindForm(request.POST if request.method == "POST" else None)
    results = None
    if request.method == "POST" and form.is_valid():
        try:
            results = subject_access_find(
                user=request.user,
                membership=request.membership,
                query=SearchQuery(**form.cleaned_data),
                channel="web",
            )
        except SearchError as error:
            for name, message in error.problems.items():
                form.add_error(name or None, message)
    return render(request, "subject_access/find.html", {"form": form, "results": results})


def _report(
    request: MemberRequest, reference: str
) -> tuple[ReportOptionsForm, SubjectAccessReport]:
    person = person_by_reference(reference)
    if person is None:
        raise Http404("No such person.")
    options = ReportOptionsForm(request.GET or {"staff_names": "0"})
    names = options.is_valid() and options.cleaned_data["staff_names"]
    try:
        report = subject_access_report(
            user=request.user,
            membership=request.membership,
            person=person,
            show_staff_names=bool(names),
            channel="web",
        )
    except SubjectAccessDenied:
        # The same answer as a person who does not exist (SECURITY.md row 5).
        raise Http404("No such person.") from None
    return options, report


@role_required(Role.IG_OFFICER)
@never_cache
def report(request: MemberRequest, reference: str) -> HttpResponse:
    options, sar = _report(request, reference)
    return render(request, "subject_access/report.html", {"options": options, "report": sar})


@role_required(Role.IG_OFFICER)
@require_POST
def ask(request: MemberRequest, reference: str) -> HttpResponse:
    person = person_by_reference(reference)
    if person is None:
        raise Http404("No such person.")
    form = AskForm(request.POST)
    fresh = bool(form.is_valid() and form.cleaned_data["fresh"])
    try:
        subject_access_ask(
            user=request.user,
            membership=request.membership,
            person=person,
            fresh=fresh,
            channel="web",
        )
    except SubjectAccessDenied:
        raise Http404("No such person.") from None
    return redirect("subject_access:report", reference=person.reference)


@role_required(Role.IG_OFFICER)
@never_cache
def parts(request: MemberRequest) -> HttpResponse:
    return render(
        request, "subject_access/parts.html", {"parts": parts_to_release(request.membership)}
    )


@role_required(Role.IG_OFFICER)
@never_cache
def part(request: MemberRequest, pk: int) -> HttpResponse:
    try:
        review = part_review(
            user=request.user, membership=request.membership, part_id=pk, channel="web"
        )
    except PartNotFound:
        raise Http404("No such part.") from None
    keys = withhold_keys(review.records, review.notes)
    if request.method == "POST":
        form = ReleaseForm(request.POST, keys=keys)
        if form.is_valid():
            try:
                part_release(
                    user=request.user,
                    membership=request.membership,
                    part_id=pk,
                    withheld=set(form.cleaned_data["withhold"]),
                    fingerprint=form.cleaned_data["fingerprint"],
                    channel="web",
                )
            except ReleaseRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                return redirect("subject_access:parts")
    else:
        form = ReleaseForm(
            initial={"withhold": sorted(review.withheld_before), "fingerprint": review.fingerprint},
            keys=keys,
        )
    withheld = set(form["withhold"].value() or [])
    return render(
        request,
        "subject_access/part.html",
        {"review": review, "form": form, "withheld": withheld, "fingerprint": review.fingerprint},
    )


@role_required(Role.IG_OFFICER)
@never_cache
def report_pdf(request: MemberRequest, reference: str) -> HttpResponse:
    from django.contrib.staticfiles import finders
    from weasyprint import CSS, HTML

    _, sar = _report(request, reference)
    html = render_to_string(
        "subject_access/report_pdf.html", {"report": sar, "for_pdf": True}, request=request
    )
    # pdf/ua-1 makes WeasyPrint write a tagged PDF (structure tree, language, title), which
    # screen readers need; the requester may be the one who reads it with one.
    # No base URL: the PDF fetches nothing over the network; its stylesheet is read from disk.
    pdf = HTML(string=html).write_pdf(
        stylesheets=[CSS(filename=finders.find("subject_access/report_pdf.css"))],
        pdf_variant="pdf/ua-1",
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    # The person's pseudonymous reference only: no name or date of birth in a filename.
    response["Content-Disposition"] = f'attachment; filename="subject-access-{sar.reference}.pdf"'
    return response
