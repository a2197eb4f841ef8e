"""Pages for analysts: the dashboard (from the latest snapshot), its tables as CSV, drill-downs,
outcome evaluations and the de-identified export."""

import csv
import io

from django.contrib import messages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.ratelimits import rate_limited
from agencies.access import MemberRequest, role_required
from agencies.models import Role
from core.purpose import Purpose
from insights.drilldown import CellError, CellSuppressed, drilldown
from insights.evaluation import evaluation_figures
from insights.export import ExportError, export_start, exportable_fields
from insights.forms import EvaluationForm, ExportForm
from insights.models import Evaluation
from insights.services import snapshot_latest
from matching.screening import identifiers_in_text, screen_problem
from sharehub_bridge.definitions import csv_cell_safe

DASHBOARD_ROLES = (Role.ANALYST, Role.PLATFORM_ADMIN)


def _figures():
    snapshot = snapshot_latest()
    return snapshot, (snapshot.figures if snapshot else None)


@role_required(*DASHBOARD_ROLES)
@never_cache
def dashboard(request: MemberRequest) -> HttpResponse:
    snapshot, figures = _figures()
    return render(
        request,
        "insights/dashboard.html",
        {
            "snapshot": snapshot,
            "figures": figures,
            "can_drill": request.membership.role == Role.ANALYST,
        },
    )


def _table(figures: dict, name: str) -> tuple[list[str], list[list[str]]]:
    """A dashboard table as (header, rows) of the published strings; 404 for unknown names."""
    people = figures["people"]
    if name == "caseload":
        return ["Agency", "People"], [[c["label"], c["shown"]] for c in people["caseload"]] + [
            ["Total people", people["total"]["shown"]]
        ]
    if name == "overlap":
        header = ["Agency", *people["matrix_labels"]]
        return header, [
            [row["label"], *[c["shown"] for c in row["cells"]]] for row in people["matrix"]
        ]
    if name == "intersections":
        return ["Known to exactly", "Number of agencies", "People"], [
            [c["label"], str(c["agencies"]), c["shown"]] for c in people["intersections"]
        ]
    if name == "by-count":
        return ["Known to", "People"], [[c["label"], c["shown"]] for c in people["by_count"]]
    if name == "households":
        rows = figures["households"]
        return ["Agencies involved", "Households"], [
            [c["label"], c["shown"]] for c in rows["rows"]
        ] + [["Total households", rows["total"]["shown"]]]
    if name == "risk-bands":
        risk = figures["risk"]
        return ["Risk band", "People"], [[c["label"], c["shown"]] for c in risk["bands"]] + [
            ["Total people with a score", risk["total"]["shown"]]
        ]
    if name == "risk-trend":
        risk = figures["risk"]
        return ["Week", *risk["band_labels"], "Total"], [
            [row["label"], *[c["shown"] for c in row["cells"]], row["total"]["shown"]]
            for row in risk["trend"]
        ]
    if name == "alerts-raised":
        alerts = figures["alerts"]
        return ["Month", "Alerts raised"], [[c["label"], c["shown"]] for c in alerts["months"]] + [
            ["Total", alerts["months_total"]["shown"]]
        ]
    if name == "alert-outcomes":
        alerts = figures["alerts"]
        return ["Outcome", "Alerts"], [[c["label"], c["shown"]] for c in alerts["outcomes"]] + [
            ["Total", alerts["outcomes_total"]["shown"]]
        ]
    if name.startswith("evaluation-"):
        for evaluation in figures["evaluations"]:
            if f"evaluation-{evaluation['id']}" == name:
                return [
                    "Period",
                    "People with the outcome",
                    "Outcome events",
                    "Events per person",
                ], [
                    [
                        p["label"],
                        p["people_with"],
                        p["events"],
                        "" if p["rate"] is None else str(p["rate"]),
                    ]
                    for p in evaluation["periods"]
                ]
    raise Http404("No such table.")


@role_required(*DASHBOARD_ROLES)
@never_cache
def table_csv(request: MemberRequest, name: str) -> HttpResponse:
    snapshot, figures = _figures()
    if figures is None:
        raise Http404("No figures yet.")
    header, rows = _table(figures, name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in [header, *rows]:
        writer.writerow([csv_cell_safe(cell) for cell in row])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = f"{snapshot.computed_for:%Y-%m-%d}"
    response["Content-Disposition"] = f'attachment; filename="sharehub-{name}-{stamp}.csv"'
    return response


@role_required(Role.ANALYST)
@never_cache
def people(request: MemberRequest) -> HttpResponse:
    snapshot, figures = _figures()
    cell = request.GET.get("cell", "")
    try:
        page_number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        raise Http404("No such page.") from None
    if figures is None:
        raise Http404("No figures yet.")
    try:
        found = drilldown(
            user=request.user,
            membership=request.membership,
            cell=cell,
            agencies=figures["agencies"],
            people=figures["people"],
            page=page_number,
        )
    except CellSuppressed:
        return render(request, "insights/people_suppressed.html", status=403)
    except CellError:
        raise Http404("No such count.") from None
    return render(request, "insights/people.html", {"found": found, "cell": cell})


@role_required(Role.ANALYST)
@never_cache
# The form page is free to open; each export made counts.
@rate_limited("export", methods=("POST",))
def export(request: MemberRequest) -> HttpResponseBase:
    purpose = request.POST.get("purpose") or request.GET.get("purpose") or Purpose.COMMISSIONING
    if purpose not in Purpose.values:
        purpose = Purpose.COMMISSIONING
    fields = exportable_fields(user=request.user, membership=request.membership, purpose=purpose)
    choices = [(f.choice, f"{f.dataset_name}: {f.label}") for f in fields]
    form = ExportForm(request.POST or None, field_choices=choices, initial={"purpose": purpose})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            made, header, chunks = export_start(
                user=request.user,
                membership=request.membership,
                purpose=data["purpose"],
                statement=data["statement"],
                choices=data["chosen"],
                age_bands=data["age_bands"],
            )
        except ExportError as error:
            for name, problems in error.problems.items():
                for problem in problems:
                    field = "chosen" if name == "fields" else name
                    form.add_error(field if field in form.fields else None, problem)
        else:
            response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
            stamp = f"{timezone.localdate():%Y-%m-%d}"
            response["Content-Disposition"] = (
                f'attachment; filename="sharehub-deidentified-{made.pk}-{stamp}.csv"'
            )
            response["Cache-Control"] = "no-store"
            return response
    return render(
        request,
        "insights/export.html",
        {"form": form, "purpose": purpose, "purpose_label": Purpose(purpose).label},
    )


def _source(value: str) -> dict:
    kind, _, pk = value.partition(":")
    return {f"{kind}_id": int(pk)} if kind in ("dataset", "indicator") and pk.isdigit() else {}


@role_required(Role.ANALYST)
def evaluation_new(request: MemberRequest) -> HttpResponse:
    form = EvaluationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        cohort = {f"cohort_{k}": v for k, v in _source(data["cohort"]).items()}
        outcome = {f"outcome_{k}": v for k, v in _source(data["outcome"]).items()}
        kinds = identifiers_in_text(data["name"])
        if kinds:
            form.add_error("name", screen_problem(kinds, what="name"))
        elif Evaluation.objects.filter(name__iexact=data["name"]).exists():
            form.add_error("name", "Another evaluation has this name: choose another.")
        elif not cohort or not outcome:
            form.add_error(None, "Choose a cohort and an outcome.")
        else:
            evaluation = Evaluation.objects.create(
                name=data["name"],
                period_start=data["period_start"],
                period_end=data["period_end"],
                months=data["months"],
                created_by=request.user,
                **cohort,
                **outcome,
            )
            snapshot = snapshot_latest()
            if snapshot is not None:
                # Added to the newest figures at once; the next scoring run recomputes them all.
                snapshot.figures["evaluations"].append(
                    evaluation_figures(evaluation, today=timezone.localdate())
                )
                snapshot.save(update_fields=["figures"])
            messages.success(request, "Evaluation added to the dashboard.")
            return redirect("insights:dashboard")
    return render(request, "insights/evaluation_new.html", {"form": form})
