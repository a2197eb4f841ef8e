"""The agency admin's retention and withdrawal pages, and the erasure log with its progress."""

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render

from agencies.access import MemberRequest, role_required
from agencies.models import Dataset, Extract, Role
from agencies.periods import period_in_words
from agencies.views import own_dataset, own_extract
from retention.forms import RetentionForm, WithdrawalForm
from retention.models import ErasureKind, ErasureRun
from retention.services import (
    ErasureRefused,
    erasure_figures,
    retention_newly_expired,
    retention_period_set,
    withdrawal_preview,
    withdrawal_request,
)

# Who reads the erasure log: agency admins and IG officers (retention is theirs to answer for)
# see the nightly runs and their own agency's withdrawals; platform admins see every one.
# Counts only, never content.
ERASURE_READERS = (Role.AGENCY_ADMIN, Role.IG_OFFICER, Role.PLATFORM_ADMIN)


def _visible_erasures(request):
    runs = ErasureRun.objects.select_related("dataset", "extract", "agency", "requested_by")
    if request.membership.role != Role.PLATFORM_ADMIN:
        runs = runs.filter(Q(kind=ErasureKind.RETENTION) | Q(agency=request.membership.agency))
    return runs


def _retention_datasets(request):
    """The platform admin runs retention for the partnership (ARCHITECTURE.md) and sets any
    dataset's period; an agency admin sets their own agency's."""
    datasets = Dataset.objects.select_related("agency").filter(withdrawn_at__isnull=True)
    if request.membership.role != Role.PLATFORM_ADMIN:
        datasets = datasets.filter(agency=request.membership.agency)
    return datasets


@role_required(Role.AGENCY_ADMIN, Role.PLATFORM_ADMIN)
def retention_list(request: MemberRequest) -> HttpResponse:
    datasets = _retention_datasets(request).annotate(
        live=Count("records", filter=Q(records__is_retired=False)),
        retired=Count("records", filter=Q(records__is_retired=True)),
    )
    return render(request, "retention/retention_list.html", {"datasets": datasets})


@role_required(Role.AGENCY_ADMIN, Role.PLATFORM_ADMIN)
def retention_period(request: MemberRequest, pk: int) -> HttpResponse:
    dataset = get_object_or_404(_retention_datasets(request), pk=pk)
    # Bound on any POST, an empty one too, so that it is told what to fill in.
    form = RetentionForm(
        request.POST if request.method == "POST" else None,
        initial={"days": dataset.retention_days},
    )
    to_erase = 0
    if request.method == "POST" and form.is_valid():
        days = form.cleaned_data["days"]
        to_erase = retention_newly_expired(dataset=dataset, days=days)
        if to_erase and not form.cleaned_data["confirm"]:
            # A shorter period erases records tonight: say how many, and ask once more.
            if request.POST.get("asked"):
                form.add_error("confirm", "Confirm that you understand the records will be erased.")
        else:
            retention_period_set(
                user=request.user, membership=request.membership, dataset=dataset, days=days
            )
            messages.success(
                request, f"Records of {dataset.name} are now kept for {period_in_words(days)}."
            )
            if request.membership.role == Role.PLATFORM_ADMIN:
                return redirect("retention:retention_list")
            return redirect("agencies:dataset_detail", pk=dataset.pk)
    return render(
        request,
        "retention/retention_period.html",
        {
            "dataset": dataset,
            "form": form,
            "to_erase": to_erase,
            "new_period": period_in_words(form.cleaned_data["days"]) if to_erase else "",
        },
        status=400 if form.errors else 200,
    )


def _withdraw(request, dataset: Dataset, extract: Extract | None) -> HttpResponse:
    form = WithdrawalForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            run = withdrawal_request(
                user=request.user, membership=request.membership, dataset=dataset, extract=extract
            )
        except ErasureRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return redirect("retention:erasure_detail", pk=run.pk)
    return render(
        request,
        "retention/withdraw.html",
        {
            "dataset": dataset,
            "extract": extract,
            "form": form,
            "preview": withdrawal_preview(dataset=dataset, extract=extract),
        },
        status=400 if form.errors else 200,
    )


@role_required(Role.AGENCY_ADMIN)
def dataset_withdraw(request: MemberRequest, pk: int) -> HttpResponse:
    return _withdraw(request, own_dataset(request, pk), None)


@role_required(Role.AGENCY_ADMIN)
def extract_withdraw(request: MemberRequest, pk: int) -> HttpResponse:
    extract = own_extract(request, pk)
    return _withdraw(request, extract.dataset, extract)


@role_required(*ERASURE_READERS)
def erasure_list(request: MemberRequest) -> HttpResponse:
    runs = list(_visible_erasures(request)[:100])
    for run in runs:
        run.records_shown = _records_shown(request, run)
    return render(
        request,
        "retention/erasure_list.html",
        {"runs": runs, "own_share": request.membership.role != Role.PLATFORM_ADMIN},
    )


def _partnership_figures(request, run: ErasureRun) -> bool:
    """A nightly run covers every agency: its figures (small numbers among them) are the
    platform admin's; anyone else sees how many of their own agency's records went."""
    return run.kind != ErasureKind.RETENTION or request.membership.role == Role.PLATFORM_ADMIN


@role_required(*ERASURE_READERS)
def erasure_detail(request: MemberRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(_visible_erasures(request), pk=pk)
    whole = _partnership_figures(request, run)
    return render(
        request,
        "retention/erasure_detail.html",
        {
            "run": run,
            "figures": erasure_figures(run) if whole else [],
            "whole": whole,
            "records_shown": _records_shown(request, run),
        },
    )


def _records_shown(request, run: ErasureRun) -> int:
    if _partnership_figures(request, run):
        return run.figures.get("records", 0)
    return run.records_by_agency.get(str(request.membership.agency_id), 0)


@role_required(*ERASURE_READERS)
def erasure_progress(request: MemberRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(_visible_erasures(request), pk=pk)
    return JsonResponse(
        {
            "id": run.pk,
            "status": run.status,
            "stage": run.stage,
            "stage_label": run.get_stage_display(),
            "finished": run.is_finished,
            "percent": run.progress_percent,
            "records_found": run.figures.get("records_found", 0),
        }
    )
