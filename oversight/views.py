"""The IG officer's audit pages: verify the chain, search the trail, export it, see flags; the
reads of their agency's records by anyone, with their flags; and questions to the reader's
agency about a flagged read, with the answers."""

import csv
import io
from datetime import timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.ratelimits import rate_limited
from agencies.access import MemberRequest, role_required
from agencies.models import Agency, Role
from audit.models import AuditAction
from audit.services import audit_record, audit_verify
from oversight.flags import read_flags_store
from oversight.forms import AuditSearchForm, ReadAnswerForm, ReadQuestionForm, ReadsSearchForm
from oversight.questions import (
    NotFound,
    QuestionError,
    flag_to_ask_about,
    question_for,
    questions_for,
    read_question_answer,
    read_question_ask,
)
from oversight.read_rows import (
    CSV_HEADER,
    flag_readers,
    flags_to_look_at,
    read_csv_lines,
    read_rows,
    told_flags,
)
from oversight.selectors import (
    AuditQuery,
    ReadsQuery,
    audit_entries,
    protocol_choices,
    record_reads,
    unusual_access,
)
from sharehub_bridge.definitions import csv_cell_safe

PAGE_ROWS = 100
EXPORT_HEADER = ["entry", "at (UTC)", "member of staff", "role", "action", "channel", "purpose",
                 "person", "protocol versions", "outcome", "detail"]  # fmt: skip


def _query(form: AuditSearchForm) -> AuditQuery:
    if not form.is_valid():
        return AuditQuery()
    data = form.cleaned_data
    return AuditQuery(
        user=data["user"] or "",
        person=data["person"] or "",
        protocol=data["protocol"],
        action=data["action"] or "",
        since=data["since"],
        until=data["until"],
    )


@role_required(Role.IG_OFFICER)
@never_cache
def audit_page(request: MemberRequest) -> HttpResponse:
    agency_id = request.membership.own_agency_id
    form = AuditSearchForm(request.GET or None, protocols=protocol_choices(agency_id=agency_id))
    entries = audit_entries(agency_id=agency_id, query=_query(form))
    verification = audit_verify() if request.GET.get("verify") else None
    return render(
        request,
        "audit/audit.html",
        {
            "form": form,
            "entries": list(entries[:PAGE_ROWS]),
            "more": entries.count() > PAGE_ROWS,
            "flags": unusual_access(agency_id=agency_id),
            "verification": verification,
            "query_string": request.GET.urlencode(),
        },
    )


@role_required(Role.IG_OFFICER)
@never_cache
@rate_limited("export")
def audit_export(request: MemberRequest) -> HttpResponse:
    agency_id = request.membership.own_agency_id
    form = AuditSearchForm(request.GET or None, protocols=protocol_choices(agency_id=agency_id))
    entries = audit_entries(agency_id=agency_id, query=_query(form))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADER)
    count = 0
    for entry in entries.iterator(chunk_size=2000):
        writer.writerow(
            [
                entry.pk,
                entry.at.isoformat(),
                csv_cell_safe(entry.actor.email if entry.actor else ""),
                entry.role,
                entry.action,
                entry.channel,
                entry.purpose,
                entry.person_reference,
                " ".join(str(v) for v in entry.protocol_versions),
                entry.outcome,
                csv_cell_safe(entry.detail),
            ]
        )
        count += 1
    return _csv_export(request, kind="audit", content=out.getvalue(), rows=count)


def _csv_export(request: MemberRequest, *, kind: str, content: str, rows: int) -> HttpResponse:
    """The CSV as a download. Exporting the trail is itself an access to record, with the rows
    and the filter it was made with."""
    audit_record(
        action=AuditAction.EXPORT,
        actor=request.user,
        membership=request.membership,
        channel="web",
        detail={"kind": kind, "rows": rows, "query": request.GET.dict()},
    )
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="sharehub-{kind}-{timezone.localdate():%Y-%m-%d}.csv"'
    )
    return response


READS_PAGE_ROWS = 50


def _reads_query(form: ReadsSearchForm) -> ReadsQuery:
    if not form.is_valid():
        return ReadsQuery()
    data = form.cleaned_data
    return ReadsQuery(
        person=data["person"] or "",
        since=data["since"],
        until=data["until"],
        reader_agency=data["reader_agency"],
        reader=data["reader"] or "",
        kind=data["kind"] or "",
        flagged_only=data["flagged_only"],
    )


@role_required(Role.IG_OFFICER)
@never_cache
def reads_page(request: MemberRequest) -> HttpResponse:
    """Who read this agency's records, whichever agency they act for: what the trail holds
    (who, their agency and role, when, purpose, protocols, person reference, which of our
    datasets and field keys, and what stood behind the read), never a value of the records."""
    agency_id = request.membership.own_agency_id
    # Stored before the reads are looked up, so the flagged-only filter, the "Flagged" tags and
    # the flags table agree with the flags listed, and each can be asked about now rather than
    # after the beat task's next run (which still does the telling).
    found = read_flags_store(agency_id=agency_id)
    form = ReadsSearchForm(request.GET or None, agencies=Agency.objects.order_by("name"))
    reads = record_reads(agency_id=agency_id, query=_reads_query(form))
    paginator = Paginator(reads, READS_PAGE_ROWS)
    page = paginator.get_page(request.GET.get("page"))
    shown = read_rows(list(page.object_list))
    filters = request.GET.copy()
    filters.pop("page", None)
    since = timezone.now() - timedelta(days=30)
    return render(
        request,
        "audit/reads.html",
        {
            "form": form,
            "reads": shown,
            "page": page,
            "page_range": paginator.get_elided_page_range(page.number),
            "total": paginator.count,
            "filters": filters.urlencode(),
            "flags": flags_to_look_at(found),
            "told": told_flags(agency_id=agency_id, since=since, limit=PAGE_ROWS),
            "questions": list(questions_for(agency_id=agency_id)[:PAGE_ROWS]),
            "agency_id": agency_id,
        },
    )


@role_required(Role.IG_OFFICER)
@never_cache
def question_ask(request: MemberRequest, flag_id: int) -> HttpResponse:
    """Ask the reader's agency to explain a flagged read of this agency's records."""
    try:
        flag = flag_to_ask_about(membership=request.membership, flag_id=flag_id)
    except NotFound:
        raise Http404() from None
    if (
        flag.reader_agency_id is None
    ):  # flag_to_ask_about admits no other; said for the type checker
        raise Http404()
    reader_agency = Agency.objects.get(pk=flag.reader_agency_id)
    form = ReadQuestionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            thread = read_question_ask(
                user=request.user,
                membership=request.membership,
                flag_id=flag.pk,
                question=form.cleaned_data["question"],
            )
        except QuestionError as error:
            for field, message in error.problems.items():
                form.add_error(field, message)
        else:
            messages.success(request, f"Your question was sent to {reader_agency.name}.")
            return redirect("audit:question", pk=thread.pk)
    return render(
        request,
        "audit/question_ask.html",
        {
            "form": form,
            "flag": flag,
            "reader_agency": reader_agency,
            "reader": flag_readers([flag])[flag.pk],
        },
    )


@role_required(Role.IG_OFFICER)
@never_cache
def question_page(request: MemberRequest, pk: int) -> HttpResponse:
    """One question about a flagged read and its answer; the asked agency answers here."""
    try:
        thread = question_for(membership=request.membership, question_id=pk)
    except NotFound:
        raise Http404() from None
    answering = (
        thread.reader_agency_id == request.membership.agency_id and thread.answered_at is None
    )
    form = ReadAnswerForm(request.POST or None) if answering else None
    if request.method == "POST":
        if form is None:
            raise Http404()
        if form.is_valid():
            try:
                read_question_answer(
                    user=request.user,
                    membership=request.membership,
                    question_id=thread.pk,
                    answer=form.cleaned_data["answer"],
                )
            except QuestionError as error:
                for field, message in error.problems.items():
                    form.add_error(field, message)
            else:
                messages.success(request, "Your answer was sent.")
                return redirect("audit:question", pk=thread.pk)
    names = dict(
        Agency.objects.filter(pk__in=[thread.owner_agency_id, thread.reader_agency_id]).values_list(
            "pk", "name"
        )
    )
    return render(
        request,
        "audit/question.html",
        {
            "thread": thread,
            "form": form,
            "owner_agency": names.get(thread.owner_agency_id, ""),
            "reader_agency": names.get(thread.reader_agency_id, ""),
            "asking": thread.owner_agency_id == request.membership.agency_id,
            "reader": flag_readers([thread.flag])[thread.flag_id],
        },
    )


@role_required(Role.IG_OFFICER)
@never_cache
@rate_limited("export")
def reads_export(request: MemberRequest) -> HttpResponse:
    """The reads the page's filters find, all of them, as CSV; the download is audited."""
    agency_id = request.membership.own_agency_id
    form = ReadsSearchForm(request.GET or None, agencies=Agency.objects.order_by("name"))
    reads = record_reads(agency_id=agency_id, query=_reads_query(form))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for line in read_csv_lines(reads):
        writer.writerow([csv_cell_safe(cell) if isinstance(cell, str) else cell for cell in line])
        count += 1
    return _csv_export(request, kind="reads", content=out.getvalue(), rows=count)
