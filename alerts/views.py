"""Pages: the practitioner's alert inbox and one alert; rules for platform admins."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from agencies.access import MemberRequest, role_required
from agencies.models import Role
from alerts.errors import AlertError, AlertNotFound
from alerts.forms import AssignForm, CloseForm, InboxFilterForm, RuleForm
from alerts.inbox import (
    InboxFilter,
    alert_acknowledge,
    alert_assign,
    alert_close,
    alert_for,
    alert_inbox_read,
    alert_read,
    alert_recipients,
    inbox_rules,
)
from alerts.models import AlertRule
from alerts.rules import RuleInput, rule_save, subscribed_rule_ids, subscription_set


@role_required(Role.PRACTITIONER)
@never_cache
def inbox(request: MemberRequest) -> HttpResponse:
    form = InboxFilterForm(request.GET or None, rules=inbox_rules(request.membership))
    filters = InboxFilter()
    if form.is_valid():
        filters = InboxFilter(
            status=form.cleaned_data["status"] or "",
            rule_id=form.cleaned_data["rule"],
            mine=form.cleaned_data["mine"],
        )
    found = alert_inbox_read(membership=request.membership, filters=filters, channel="web")
    return render(
        request,
        "alerts/inbox.html",
        {"inbox": found, "form": form, "filtered": bool(request.GET)},
    )


def _page(request, alert_id, *, assign_form=None, close_form=None, status=200):
    try:
        page = alert_read(membership=request.membership, alert_id=alert_id)
    except AlertNotFound:
        raise Http404("No such alert.") from None
    return render(
        request,
        "alerts/alert_detail.html",
        {
            "page": page,
            "alert": page.alert,
            "assign_form": assign_form
            or AssignForm(
                recipients=page.recipients,
                initial={"assign_to": page.alert.assigned_to_id},
            ),
            "close_form": close_form or CloseForm(),
        },
        status=status,
    )


@role_required(Role.PRACTITIONER)
@never_cache
def alert_detail(request: MemberRequest, pk: int) -> HttpResponse:
    return _page(request, pk)


def _problems(form, error: AlertError) -> None:
    for name, problems in error.problems.items():
        for problem in problems:
            form.add_error(name if name in form.fields else None, problem)


@role_required(Role.PRACTITIONER)
@require_POST
def alert_acknowledge_view(request: MemberRequest, pk: int) -> HttpResponse:
    try:
        alert_acknowledge(membership=request.membership, alert_id=pk)
    except AlertNotFound:
        raise Http404("No such alert.") from None
    except AlertError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Alert acknowledged.")
    return redirect("alerts:alert_detail", pk=pk)


@role_required(Role.PRACTITIONER)
@require_POST
def alert_assign_view(request: MemberRequest, pk: int) -> HttpResponse:
    try:
        alert = alert_for(membership=request.membership, alert_id=pk)
    except AlertNotFound:
        raise Http404("No such alert.") from None
    form = AssignForm(request.POST, recipients=alert_recipients(alert))
    if form.is_valid():
        try:
            alert_assign(
                membership=request.membership,
                alert_id=pk,
                to_membership_id=form.cleaned_data["assign_to"],
            )
        except AlertError as error:
            _problems(form, error)
        else:
            messages.success(request, "Alert assigned.")
            return redirect("alerts:alert_detail", pk=pk)
    return _page(request, pk, assign_form=form, status=400)


@role_required(Role.PRACTITIONER)
@require_POST
def alert_close_view(request: MemberRequest, pk: int) -> HttpResponse:
    try:
        alert_for(membership=request.membership, alert_id=pk)
    except AlertNotFound:
        raise Http404("No such alert.") from None
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            alert_close(
                membership=request.membership,
                alert_id=pk,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
            )
        except AlertError as error:
            _problems(form, error)
        else:
            messages.success(request, "Alert closed.")
            return redirect("alerts:inbox")
    return _page(request, pk, close_form=form, status=400)


@role_required(Role.PRACTITIONER)
def subscriptions(request: MemberRequest) -> HttpResponse:
    rules = list(AlertRule.objects.filter(is_active=True))
    if request.method == "POST":
        wanted = {int(v) for v in request.POST.getlist("rules") if v.isdigit()}
        for rule in rules:
            subscription_set(membership=request.membership, rule=rule, subscribed=rule.pk in wanted)
        messages.success(request, "Your alert subscriptions are saved.")
        return redirect("alerts:subscriptions")
    return render(
        request,
        "alerts/subscriptions.html",
        {"rules": rules, "subscribed": subscribed_rule_ids(request.membership)},
    )


# --- platform admins: rules ----------------------------------------------------------------------


@role_required(Role.PLATFORM_ADMIN)
def rule_list(request: MemberRequest) -> HttpResponse:
    return render(
        request,
        "alerts/rule_list.html",
        {"rules": AlertRule.objects.select_related("indicator", "open_agency")},
    )


def _rule_form(request, rule=None):
    initial = {"is_active": True, "window_days": 30, "new_within_days": 14, "open_within_days": 365}
    if rule is not None:
        initial = {
            name: getattr(rule, name)
            for name in RuleForm.base_fields
            if name not in ("indicator", "open_agency")
        } | {"indicator": rule.indicator_id, "open_agency": rule.open_agency_id}
    form = RuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            rule_save(by=request.user, rule=rule, data=RuleInput(**data))
        except AlertError as error:
            _problems(form, error)
        else:
            messages.success(request, "Alert rule saved. It applies from the next scoring run.")
            return redirect("alerts:rule_list")
    return render(request, "alerts/rule_form.html", {"form": form, "rule": rule})


@role_required(Role.PLATFORM_ADMIN)
def rule_new(request: MemberRequest) -> HttpResponse:
    return _rule_form(request)


@role_required(Role.PLATFORM_ADMIN)
def rule_edit(request: MemberRequest, pk: int) -> HttpResponse:
    return _rule_form(request, get_object_or_404(AlertRule, pk=pk))
