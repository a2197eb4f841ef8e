"""The IG officer's audit pages: verify the chain, search the trail, export it, see flags; and
the reads of their agency's records by anyone, with their flags."""

import csv
import io
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.ratelimits import rate_limited
from agencies.access import role_required
from agencies.ingest import csv_cell_safe
from agencies.models import Agency, Role
from audit.forms import AuditSearchForm, ReadsSearchForm
from audit.models import AuditAction, ReadFlag
from audit.selectors import AuditQuery, audit_entries, record_reads, unusual_access, unusual_reads
from audit.services import audit_record, audit_verify

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
        protocol_version=data["protocol_version"],
        action=data["action"] or "",
        since=data["since"],
        until=data["until"],
    )


@role_required(Role.IG_OFFICER)
@never_cache
def audit_page(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.GET or None)
    agency_id = request.membership.agency_id
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
def audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.GET or None)
    entries = audit_entries(agency_id=request.membership.agency_id, query=_query(form))
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
    # Exporting the trail is itself an access to record.
    audit_record(
        action=AuditAction.EXPORT,
        actor=request.user,
        membership=request.membership,
        channel="web",
        detail={"kind": "audit", "rows": count, "query": request.GET.dict()},
    )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="sharehub-audit-{timezone.localdate():%Y-%m-%d}.csv"'
    )
    return response


@role_required(Role.IG_OFFICER)
@never_cache
def reads_page(request: HttpRequest) -> HttpResponse:
    """Who read this agency's records, whichever agency they act for: what the trail holds
    (role, agency, when, purpose, person reference, field keys), never more."""
    agency_id = request.membership.agency_id
    form = ReadsSearchForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    reads = record_reads(
        agency_id=agency_id,
        person=data.get("person") or "",
        since=data.get("since"),
        until=data.get("until"),
    )
    shown = list(reads[:PAGE_ROWS])
    names = dict(
        Agency.objects.filter(pk__in={r.entry.agency_id for r in shown}).values_list("pk", "name")
    )
    roles = dict(Role.choices)
    for read in shown:
        read.reader_agency = names.get(read.entry.agency_id, "No agency")
        read.reader_role = roles.get(read.entry.role, read.entry.role)
    since = timezone.now() - timedelta(days=30)
    return render(
        request,
        "audit/reads.html",
        {
            "form": form,
            "reads": shown,
            "more": reads.count() > PAGE_ROWS,
            "flags": unusual_reads(agency_id=agency_id),
            "told": list(ReadFlag.objects.filter(agency_id=agency_id, at__gte=since)[:PAGE_ROWS]),
        },
    )
