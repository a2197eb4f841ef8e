"""Pages for IG officers (protocols) and for practitioners (search and case summaries).

A case summary shows the disclosure engine's view and nothing else; a person the user's
protocols do not cover answers 404, exactly like a person that does not exist.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.models import Group
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import User
from accounts.ratelimits import rate_limited
from agencies.access import MemberRequest, role_required
from agencies.models import Role
from consent.selectors import consent_requests_pending
from core.purpose import Purpose, page_purpose
from matching.challenges import open_challenges_for, records_reportable
from matching.search import SearchError, SearchQuery
from protocols.approvals import approval_standing
from protocols.diff import comparison_base, rule_changes, seal_changes, version_diff
from protocols.forms import (
    AssignForm,
    NoteForm,
    PreviewForm,
    ProtocolForm,
    ReasonForm,
    ResumeForm,
    SearchForm,
    UnlockForm,
    rule_rows,
    rules_from_post,
    seal_choices,
    seal_rows,
    seals_from_post,
)
from protocols.models import Protocol, ProtocolVersion, VersionStatus
from protocols.preview import protocol_preview
from protocols.search import person_search
from protocols.selectors import protocol_overview, protocols_for_ig, version_approvable
from protocols.services import (
    ProtocolError,
    approvals_missing,
    protocol_approve,
    protocol_assign,
    protocol_draft_create,
    protocol_draft_update,
    protocol_latest,
    protocol_resume,
    protocol_return,
    protocol_revise,
    protocol_submit,
    protocol_suspend,
    protocol_unassign,
    protocol_withdraw,
    version_input,
)
from protocols.summary import (
    ASSESSMENT_STEPS,
    PersonHidden,
    UnlockError,
    case_summary,
    case_unlock,
    merged_person_visible,
    person_by_reference,
)
from protocols.summary_page import summary_page
from protocols.suspension import resumption_of, suspension_impact, suspension_of

# Roles that find a named person and read their case summary through protocols. Analysts are
# not among them: they get counts, pseudonymous drill-downs and de-identified exports (insights/),
# never an identifying search or a summary with names and dates of birth.
READERS = (Role.PRACTITIONER,)


# --- IG officers: protocols -------------------------------------------------------------------


@role_required(Role.IG_OFFICER)
def protocol_list(request: MemberRequest) -> HttpResponse:
    return render(
        request,
        "protocols/protocol_list.html",
        {
            "protocols": protocols_for_ig(request.membership.own_agency),
            "today": timezone.localdate(),
        },
    )


def _form_page(request, *, form, rows, version=None, errors=None, seals=None):
    """The protocol form; a service's problems with a form field show at that field (and in the
    summary), the rest (the rules) in the summary, linked to the rules table."""
    others = {}
    for name, problems in (errors or {}).items():
        if name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
        else:
            others[name] = problems
    errors = others
    return render(
        request,
        "protocols/protocol_form.html",
        {
            "form": form,
            "rows": rows,
            "version": version,
            "service_errors": errors or {},
            "seal_rows": seal_rows() if seals is None else seals,
            "seal_errors": any(row.error for row in seals or ()),
            "seal_choices": seal_choices(),
        },
    )


@role_required(Role.IG_OFFICER)
def protocol_new(request: MemberRequest) -> HttpResponse:
    if request.method != "POST":
        form = ProtocolForm(
            initial={
                "valid_from": timezone.localdate().isoformat(),
                "parties": [str(request.membership.agency_id)],
                "roles": [Role.PRACTITIONER],
                "purpose": Purpose.SAFEGUARDING,
            }
        )
        return _form_page(request, form=form, rows=rule_rows())
    form = ProtocolForm(request.POST)
    rows = rule_rows()
    rules, rules_ok = rules_from_post(request.POST, rows)
    seals, seal_lines, seals_ok = seals_from_post(request.POST)
    if form.is_valid() and rules_ok and seals_ok:
        try:
            version = protocol_draft_create(
                membership=request.membership, data=form.protocol_input(rules, seals)
            )
        except ProtocolError as error:
            return _form_page(
                request, form=form, rows=rows, errors=error.problems, seals=seal_lines
            )
        messages.success(request, "Draft saved. Submit it for approval when it is ready.")
        return redirect("protocols:protocol_detail", reference=version.protocol.reference)
    return _form_page(request, form=form, rows=rows, seals=seal_lines)


def _protocol(reference: str) -> Protocol:
    return get_object_or_404(Protocol, reference=reference)


def _version(reference: str, number: int) -> ProtocolVersion:
    return get_object_or_404(
        ProtocolVersion.objects.select_related("protocol", "author"),
        protocol__reference=reference,
        number=number,
    )


@role_required(Role.IG_OFFICER)
def protocol_detail(request: MemberRequest, reference: str) -> HttpResponse:
    protocol = _protocol(reference)
    overview = protocol_overview(protocol, request.membership)
    return render(
        request,
        "protocols/protocol_detail.html",
        {
            **overview,
            **approval_and_suspension(overview, request.membership),
            "assign_form": AssignForm(),
            "note_form": NoteForm(),
            "today": timezone.localdate(),
        },
    )


@role_required(Role.IG_OFFICER)
def version_detail(request: MemberRequest, reference: str, number: int) -> HttpResponse:
    version = _version(reference, number)
    base = comparison_base(version, chosen=request.GET.get("compare"))
    previous = base.version if base else None
    return render(
        request,
        "protocols/version_detail.html",
        {
            "version": version,
            "protocol": version.protocol,
            "rules": version.rules.select_related("dataset__agency"),
            "previous": previous,
            "previous_in_force": base.in_force if base else False,
            "changes": version_diff(previous, version, rules=False) if previous else [],
            "rule_changes": rule_changes(previous, version) if previous else [],
            "seal_changes": seal_changes(previous, version) if previous else [],
            "approvals": version.approvals.select_related("agency", "approved_by"),
            "missing": approvals_missing(version)
            if version.status == VersionStatus.AWAITING_APPROVAL
            else [],
            "standing": approval_standing(version, request.membership)
            if version.status == VersionStatus.AWAITING_APPROVAL
            else None,
            "today": timezone.localdate(),
            # Issue 22: the preview link and Approve / Send back on the changes page too.
            "is_party": version.parties.filter(pk=request.membership.own_agency_id).exists(),
            "can_approve": version_approvable(version, request.membership),
            "note_form": NoteForm(),
        },
    )


@role_required(Role.IG_OFFICER)
def version_edit(request: MemberRequest, reference: str, number: int) -> HttpResponse:
    version = _version(reference, number)
    if version.status != VersionStatus.DRAFT:
        messages.error(request, "Only a draft can be edited. Start a new version to change it.")
        return redirect("protocols:protocol_detail", reference=reference)
    current = version_input(version)
    if request.method != "POST":
        form = ProtocolForm(initial=ProtocolForm.initial_from(current))
        return _form_page(
            request,
            form=form,
            rows=rule_rows(current.rules),
            version=version,
            seals=seal_rows(current.seals),
        )
    form = ProtocolForm(request.POST)
    rows = rule_rows()
    rules, rules_ok = rules_from_post(request.POST, rows)
    seals, seal_lines, seals_ok = seals_from_post(request.POST)
    if form.is_valid() and rules_ok and seals_ok:
        try:
            protocol_draft_update(
                membership=request.membership,
                version=version,
                data=form.protocol_input(rules, seals),
            )
        except ProtocolError as error:
            return _form_page(
                request,
                form=form,
                rows=rows,
                version=version,
                errors=error.problems,
                seals=seal_lines,
            )
        messages.success(request, "Draft saved.")
        return redirect("protocols:protocol_detail", reference=reference)
    return _form_page(request, form=form, rows=rows, version=version, seals=seal_lines)


VERSION_ACTIONS: dict[str, tuple[Callable[..., ProtocolVersion], str]] = {
    "submit": (protocol_submit, "Submitted for approval by the parties."),
    "approve": (protocol_approve, "Approved for your agency."),
    "return": (protocol_return, "Sent back as a new draft."),
    "withdraw": (protocol_withdraw, "Withdrawn."),
}


def version_action_run(membership, version, action: str, note: str = ""):
    function, done = VERSION_ACTIONS[action]
    kwargs = {"membership": membership, "version": version}
    if action in ("approve", "return"):
        kwargs["note"] = note
    return function(**kwargs), done


@role_required(Role.IG_OFFICER)
@require_POST
def version_action(
    request: MemberRequest, reference: str, number: int, action: str
) -> HttpResponse:
    version = _version(reference, number)
    if action not in VERSION_ACTIONS:
        raise Http404("No such action.")
    try:
        _, done = version_action_run(
            request.membership, version, action, request.POST.get("note", "")
        )
    except ProtocolError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect("protocols:protocol_detail", reference=reference)


@role_required(Role.IG_OFFICER)
@require_POST
def protocol_action(request: MemberRequest, reference: str, action: str) -> HttpResponse:
    protocol = _protocol(reference)
    membership = request.membership
    try:
        # Suspending and resuming have pages of their own (protocol_suspend_confirm,
        # protocol_resume_confirm), matched before this one.
        if action == "revise":
            version = protocol_revise(membership=membership, protocol=protocol)
            messages.success(request, f"Version {version.number} started as a draft.")
            return redirect("protocols:version_edit", reference=reference, number=version.number)
        else:
            raise Http404("No such action.")
    except ProtocolError as error:
        messages.error(request, str(error))
    return redirect("protocols:protocol_detail", reference=reference)


def _holder(form: AssignForm):
    email, group_name = form.cleaned_data["email"], form.cleaned_data["group"]
    if email:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise ProtocolError("Nobody with that email address uses ShareHub.")
        return {"user": user}
    group = Group.objects.filter(name=group_name).first()
    if group is None:
        raise ProtocolError("There is no group with that name.")
    return {"group": group}


@role_required(Role.IG_OFFICER)
@require_POST
def protocol_holders(request: MemberRequest, reference: str) -> HttpResponse:
    protocol = _protocol(reference)
    form = AssignForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("protocols:protocol_detail", reference=reference)
    try:
        holder = _holder(form)
        if request.POST.get("remove"):
            if protocol_unassign(membership=request.membership, protocol=protocol, **holder):
                messages.success(request, "Protocol taken away.")
            else:
                messages.success(request, "Your agency had not given it to them.")
        elif protocol_assign(membership=request.membership, protocol=protocol, **holder):
            messages.success(request, "Protocol given.")
        else:
            messages.success(request, "Your agency already gave them this protocol.")
    except ProtocolError as error:
        if set(error.problems) & set(form.fields):
            # A problem with the holder asked for (a group with members outside the agency):
            # shown at the field and in an error summary, with what was typed kept.
            for name, problems in error.problems.items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
            overview = protocol_overview(protocol, request.membership)
            context = {
                **overview,
                **approval_and_suspension(overview, request.membership),
                "assign_form": form,
                "note_form": NoteForm(),
                "today": timezone.localdate(),
            }
            return render(request, "protocols/protocol_detail.html", context, status=400)
        messages.error(request, str(error))
    return redirect("protocols:protocol_detail", reference=reference)


# --- Practitioners: search and case summaries -------------------------------------------------


@role_required(*READERS)
@never_cache
@rate_limited("search", methods=("POST",))
def search(request: MemberRequest) -> HttpResponse:
    """Search by POST only: names, dates of birth and identifiers never travel in a URL."""
    form = SearchForm(request.POST or None)
    results, problems = None, {}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        query = SearchQuery(
            forename=data["forename"],
            surname=data["surname"],
            date_of_birth=data["date_of_birth"],
            postcode=data["postcode"],
            identifier=data["identifier"],
        )
        try:
            results, _ = person_search(
                user=request.user,
                membership=request.membership,
                query=query,
                purpose=data["purpose"],
                now=timezone.now(),
                channel="web",
            )
        except SearchError as error:
            problems = error.problems
    for name, message in problems.items():
        form.add_error(name or None, message)
    return render(
        request,
        "protocols/search.html",
        {
            "form": form,
            "results": results,
            "purpose": form.data.get("purpose", Purpose.SAFEGUARDING),
        },
    )


@role_required(*READERS)
@never_cache
def summary(request: MemberRequest, reference: str) -> HttpResponse:
    return _summary_page(request, reference, printable=False)


@role_required(*READERS)
@never_cache
def summary_print(request: MemberRequest, reference: str) -> HttpResponse:
    """The same summary without the service's navigation, laid out for paper."""
    return _summary_page(request, reference, printable=True)


@role_required(*READERS)
@never_cache
def summary_pdf(request: MemberRequest, reference: str) -> HttpResponse:
    """The printable summary as a tagged PDF, for a case file or a conference pack."""
    return _summary_page(request, reference, printable=True, pdf=True)


def _summary_page(
    request: MemberRequest, reference: str, *, printable: bool, pdf: bool = False
) -> HttpResponse:
    purpose = page_purpose(request)
    person = person_by_reference(reference)
    if person is None:
        raise Http404("No such person.")
    if person.reference != reference:
        # A merged person's old reference: say where it went only to a reader the engine lets
        # see the person; anyone else gets the answer a reference that never existed gets.
        if not merged_person_visible(
            user=request.user,
            membership=request.membership,
            person=person,
            purpose=purpose,
            channel="web",
        ):
            raise Http404("No such person.")
        target = request.resolver_match.view_name if request.resolver_match else "protocols:summary"
        return redirect(f"{redirect(target, reference=person.reference).url}?purpose={purpose}")
    found = case_summary(
        user=request.user,
        membership=request.membership,
        person=person,
        purpose=purpose,
        channel="web",
    )
    if found is None:
        raise Http404("No such person.")
    context = {
        "summary": found,
        "view": found.view,
        "page": summary_page(
            found.view,
            household=found.household_members,
            agency_code=request.GET.get("agency", ""),
            consent_pending=consent_requests_pending(
                membership=request.membership,
                person=person,
                purpose=purpose,
                dataset_ids=[w.dataset_id for w in found.view.withheld if w.reason == "consent"],
            ),
        ),
        "purpose": purpose,
        "purpose_label": Purpose(purpose).label,
        "unlock_form": UnlockForm(),
        "generated_at": timezone.now(),
        "can_seek_consent": request.membership is not None
        and request.membership.role == Role.PRACTITIONER,
        "printable": printable,
        # Reports of a wrong or missed link waiting for a reviewer, on what the page shows.
        "challenges": open_challenges_for(
            person_ids=[found.view.person.pk, *(m.person.pk for m in found.household_members)],
            record_ids=[r.record_id for r in found.view.records],
            user=request.user,
        ),
        "can_report_records": records_reportable(found.view),
    }
    if pdf:
        return _pdf_response(request, context, reference=person.reference)
    return render(
        request,
        "protocols/summary_print.html" if printable else "protocols/summary.html",
        context,
    )


def _pdf_response(request: HttpRequest, context: dict, *, reference: str) -> HttpResponse:
    from django.contrib.staticfiles import finders
    from weasyprint import CSS, HTML

    html = render_to_string("protocols/summary_print.html", {**context, "for_pdf": True}, request)
    # Tagged (pdf/ua-1) so a screen reader can read it; no base URL, so nothing is fetched.
    document = HTML(string=html).write_pdf(
        stylesheets=[CSS(filename=finders.find("protocols/summary_pdf.css"))],
        pdf_variant="pdf/ua-1",
    )
    response = HttpResponse(document, content_type="application/pdf")
    # The pseudonymous reference only: a name in a file name travels wherever the file does.
    response["Content-Disposition"] = f'attachment; filename="case-summary-{reference}.pdf"'
    return response


@role_required(*READERS)
@require_POST
def unlock(request: MemberRequest, reference: str) -> HttpResponse:
    purpose = page_purpose(request)
    person = person_by_reference(reference)
    if person is None or person.reference != reference:
        raise Http404("No such person.")
    form = UnlockForm(request.POST)
    # case_unlock asks the engine whether the person is covered before it reads the step, so a
    # person not covered answers 404 whatever was posted.
    step = form.cleaned_data["step"] if form.is_valid() else ""
    try:
        case_unlock(
            user=request.user,
            membership=request.membership,
            person=person,
            step=step,
            purpose=purpose,
            channel="web",
        )
    except PersonHidden:
        raise Http404("No such person.") from None
    except UnlockError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Recorded: {ASSESSMENT_STEPS[step]}. The detail is now shown.")
    return redirect(f"{redirect('protocols:summary', reference=reference).url}?purpose={purpose}")


# --- IG officers: "view as" preview (issue 22) --------------------------------------------------


@role_required(Role.IG_OFFICER)
@never_cache
def version_preview(request: MemberRequest, reference: str, number: int) -> HttpResponse:
    """What a draft or submitted version would show a holder, beside the version in force.
    Only a party's IG officers preview: the example is harmless, but a real person's records
    are not for other agencies' officers; anyone else gets the answer a missing version gets."""
    membership = request.membership
    version = _version(reference, number)
    if not version.parties.filter(pk=membership.own_agency_id).exists():
        raise Http404("No such version.")
    if version.status not in (VersionStatus.DRAFT, VersionStatus.AWAITING_APPROVAL):
        messages.info(request, "Only a draft or a version awaiting approval is previewed.")
        return redirect("protocols:version_detail", reference=reference, number=number)
    data = request.GET if "role" in request.GET else None
    form = PreviewForm(
        data or PreviewForm.defaults(version=version, membership=membership),
        version=version,
        membership=membership,
    )
    preview = None
    pages = {}
    if form.is_valid():
        chosen = form.cleaned_data
        preview = protocol_preview(
            membership=membership,
            version=version,
            role=chosen["role"],
            agency=chosen["agency"],
            purpose=chosen["purpose"],
            person=chosen["person"],
        )
        pages = {
            side: summary_page(view) if view is not None else None
            for side, view in (("this", preview.this_view), ("in_force", preview.in_force_view))
        }
    return render(
        request,
        "protocols/version_preview.html",
        {
            "version": version,
            "protocol": version.protocol,
            "form": form,
            "preview": preview,
            "this_page": pages.get("this"),
            "in_force_page": pages.get("in_force"),
            "note_form": NoteForm(),
            "role_label": dict(Role.choices).get(form.cleaned_data.get("role", ""), "")
            if form.is_valid()
            else "",
            "can_approve": version_approvable(version, membership),
            "printable": True,
        },
        status=200 if form.is_valid() else 400,
    )


# --- IG officers: approval and suspension (issue 22) -------------------------------------------


def approval_and_suspension(overview: dict, membership) -> dict:
    """What the protocol page adds to the overview: why the viewer cannot approve the version
    awaiting approval and who else must, and who suspended the live version and why."""
    open_version = overview["open_version"]
    waiting = open_version is not None and open_version.status == VersionStatus.AWAITING_APPROVAL
    return {
        "standing": approval_standing(open_version, membership) if waiting else None,
        "suspension": suspension_of(overview["live"]),
        "resumption": resumption_of(overview["live"]),
    }


def _reason_change_made(request, form, protocol, change, done_message: str):
    """Suspend or resume (`change`) with the form's reason: the redirect to the protocol when it
    is done, or None when the form is to be shown again with the service's problems on it."""
    if not form.is_valid():
        return None
    try:
        change(membership=request.membership, protocol=protocol, reason=form.cleaned_data["reason"])
    except ProtocolError as error:
        for name, problems in error.problems.items():
            for problem in problems:
                form.add_error("reason" if name == "reason" else None, problem)
        return None
    messages.success(request, done_message)
    return redirect("protocols:protocol_detail", reference=protocol.reference)


@role_required(Role.IG_OFFICER)
def protocol_suspend_confirm(request: MemberRequest, reference: str) -> HttpResponse:
    """Suspending asks first: the page says what stops and for whom, and takes the reason that
    every party's IG officers will read. Officers of other agencies are told they cannot."""
    protocol = _protocol(reference)
    form = ReasonForm(request.POST) if request.method == "POST" else ReasonForm()
    status = 200
    if request.method == "POST":
        done = _reason_change_made(
            request,
            form,
            protocol,
            protocol_suspend,
            "Suspended: nothing is disclosed under it from now on. Every party's IG officers "
            "and everyone who holds it have been told.",
        )
        if done is not None:
            return done
        status = 400
    impact = suspension_impact(protocol)
    agency_id = request.membership.agency_id
    return render(
        request,
        "protocols/suspend_confirm.html",
        {
            "protocol": protocol,
            "latest": protocol_latest(protocol),
            "impact": impact,
            "is_party": any(a.pk == agency_id for a in impact.parties),
            "form": form,
        },
        status=status,
    )


@role_required(Role.IG_OFFICER)
def protocol_resume_confirm(request: MemberRequest, reference: str) -> HttpResponse:
    """Resuming asks first, as suspending does: the page says who suspended the protocol, when
    and why, and takes the reason every party's IG officers will read, the suspending party's
    too. Any party's officer may resume; officers of other agencies are told they cannot."""
    protocol = _protocol(reference)
    form = ResumeForm(request.POST) if request.method == "POST" else ResumeForm()
    status = 200
    if request.method == "POST":
        done = _reason_change_made(
            request,
            form,
            protocol,
            protocol_resume,
            "Resumed: it discloses again as agreed. Every party's IG officers and everyone "
            "who holds it have been told.",
        )
        if done is not None:
            return done
        status = 400
    suspended = protocol.versions.filter(status=VersionStatus.SUSPENDED).first()
    parties = list(suspended.parties.order_by("name")) if suspended else []
    agency_id = request.membership.agency_id
    return render(
        request,
        "protocols/resume_confirm.html",
        {
            "protocol": protocol,
            "latest": protocol_latest(protocol),
            "suspended": suspended,
            "suspension": suspension_of(suspended),
            "parties": parties,
            "is_party": any(a.pk == agency_id for a in parties),
            "form": form,
        },
        status=status,
    )
