"""Pages: indicators for platform admins; a person's risk score and reasons for readers."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache

from agencies.access import MemberRequest, role_required
from agencies.models import Role
from core.purpose import Purpose, page_purpose
from protocols.summary import person_by_reference
from protocols.views import READERS
from risk.forms import IndicatorForm
from risk.indicators import IndicatorError, IndicatorInput, indicator_summary
from risk.models import RiskIndicator, RiskRun
from risk.services import indicator_save, person_risk


@role_required(Role.PLATFORM_ADMIN)
def indicator_list(request: MemberRequest) -> HttpResponse:
    indicators = RiskIndicator.objects.prefetch_related("datasets__agency")
    rows = [
        {
            "indicator": i,
            "summary": indicator_summary(i),
            "findings": i.findings.count(),
        }
        for i in indicators
    ]
    return render(
        request,
        "risk/indicator_list.html",
        {"rows": rows, "last_run": RiskRun.objects.first()},
    )


def _indicator_form_page(request, form, indicator=None):
    return render(request, "risk/indicator_form.html", {"form": form, "indicator": indicator})


def _save(request, form, indicator=None):
    data = form.cleaned_data
    try:
        return indicator_save(
            by=request.user,
            indicator=indicator,
            data=IndicatorInput(
                name=data["name"],
                description=data["description"],
                kind=data["kind"],
                datasets=list(data["datasets"]),
                weight=data["weight"],
                conditions=form.conditions(),
                phrases=data["phrases"],
                text_columns=[c for c in (data["text_columns"] or "").split(",")],
                half_life_days=data["half_life_days"],
                lookback_days=data["lookback_days"],
                is_active=data["is_active"],
            ),
        )
    except IndicatorError as error:
        for name, problems in error.problems.items():
            for problem in problems:
                form.add_error(name if name in form.fields else None, problem)
        return None


@role_required(Role.PLATFORM_ADMIN)
def indicator_new(request: MemberRequest) -> HttpResponse:
    form = IndicatorForm(request.POST or None, initial={"half_life_days": 180, "is_active": True})
    if request.method == "POST" and form.is_valid():
        indicator = _save(request, form)
        if indicator is not None:
            messages.success(request, "Indicator saved. Every record is being scored again.")
            return redirect("risk:indicator_list")
    return _indicator_form_page(request, form)


@role_required(Role.PLATFORM_ADMIN)
def indicator_edit(request: MemberRequest, pk: int) -> HttpResponse:
    indicator = get_object_or_404(RiskIndicator, pk=pk)
    form = IndicatorForm(request.POST or None, initial=IndicatorForm.initial_for(indicator))
    if request.method == "POST" and form.is_valid():
        if _save(request, form, indicator) is not None:
            messages.success(request, "Indicator saved. Every record is being scored again.")
            return redirect("risk:indicator_list")
    return _indicator_form_page(request, form, indicator)


@role_required(*READERS)
@never_cache
def person_risk_page(request: MemberRequest, reference: str) -> HttpResponse:
    purpose = page_purpose(request)
    person = person_by_reference(reference)
    if person is None:
        raise Http404("No such person.")
    page = person_risk(
        user=request.user,
        membership=request.membership,
        person=person,
        purpose=purpose,
        channel="web",
    )
    if page is None:
        raise Http404("No such person.")
    chart = {
        "type": "line",
        "title": "Score over the last 12 months, from what is shared with you",
        "labels": [f"{day:%d %b %Y}" for day, _ in page.trajectory],
        "series": [{"label": "Score", "values": [score for _, score in page.trajectory]}],
        "suppressed": [[False for _ in page.trajectory]],
        "x_title": "Date",
        "y_title": "Score",
    }
    return render(
        request,
        "risk/person_risk.html",
        {
            "person": person,
            "page": page,
            "purpose": purpose,
            "purpose_label": Purpose(purpose).label,
            "chart": chart,
        },
    )
