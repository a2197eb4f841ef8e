"""Forms for alert rules and for acting on an alert; alerts.rules and alerts.inbox check what
they read."""

from typing import cast

from django import forms

from agencies.models import Agency
from alerts.models import AlertOutcome, AlertStatus, RuleKind
from risk.models import RiskIndicator


def _number(label, help_text="", integer=False):
    field = forms.IntegerField if integer else forms.FloatField
    return field(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric" if integer else "decimal",
                "class": "govuk-input--width-4",
            }
        ),
        error_messages={"invalid": "Enter a number."},
    )


class RuleForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    description = forms.CharField(
        label="Description (optional)", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    kind = forms.ChoiceField(
        label="What raises the alert?",
        choices=RuleKind.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what kind of rule it is."},
    )
    threshold = _number(
        "Score threshold",
        "Score above: raised when the score goes above it. "
        "Step-down: the score it was at or above.",
    )
    lower_threshold = _number("Step-down: score it has fallen below")
    rise = _number("Rising: rise of at least")
    window_days = _number(
        "Over how many days",
        "Rising and step-down compare with the score this many days before.",
        integer=True,
    )
    indicator = forms.ModelChoiceField(
        label="New event: indicator",
        queryset=RiskIndicator.objects.all(),
        required=False,
        empty_label="",
    )
    open_agency = forms.ModelChoiceField(
        label="New event: open to agency",
        queryset=Agency.objects.all(),
        required=False,
        empty_label="",
    )
    open_within_days = _number("New event: other agency's record within (days)", integer=True)
    new_within_days = _number(
        "New event: event within (days)",
        "Events older than this when they reach ShareHub do not count as new.",
        integer=True,
    )
    is_active = forms.BooleanField(label="In use", required=False, initial=True)


class InboxFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Not closed")] + list(AlertStatus.choices),
    )
    rule = forms.TypedChoiceField(label="Rule", required=False, coerce=int, empty_value=None)
    mine = forms.BooleanField(label="Only alerts assigned to me", required=False)

    def __init__(self, *args, rules=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["rule"]).choices = [("", "Any rule")] + [
            (r.pk, r.name) for r in rules
        ]


class AssignForm(forms.Form):
    assign_to = forms.TypedChoiceField(
        label="Assign to", coerce=int, empty_value=None, required=False
    )

    def __init__(self, *args, recipients=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["assign_to"]).choices = [("", "Nobody")] + [
            (m.pk, f"{m.user.full_name}, {m.agency.name}") for m in recipients
        ]


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Outcome",
        choices=AlertOutcome.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the outcome."},
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Do not write names or identifiers; refer to the person by their reference.",
    )
