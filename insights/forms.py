"""Forms for the de-identified export and outcome evaluations."""

from typing import cast

from django import forms

from agencies.models import Dataset
from core.forms import TextDateField
from core.purpose import Purpose
from insights.export import EXPORT_PURPOSES, STATEMENT_MAX
from risk.models import RiskIndicator


class ExportForm(forms.Form):
    purpose = forms.ChoiceField(
        label="What is it for?",
        choices=[(p.value, p.label) for p in EXPORT_PURPOSES],
        widget=forms.RadioSelect,
        initial=Purpose.COMMISSIONING,
        error_messages={"required": "Choose commissioning or evaluation."},
    )
    statement = forms.CharField(
        label="Purpose of this export",
        max_length=STATEMENT_MAX,
        error_messages={
            "required": 'Say what the export is for, for example "Needs assessment for the '
            'domestic abuse strategy, 2027".'
        },
        help_text='Recorded with the export, for example "Needs assessment for the domestic '
        'abuse strategy, 2027".',
    )
    chosen = forms.MultipleChoiceField(
        label="Fields",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one field."},
    )
    age_bands = forms.BooleanField(
        label="Include the age at each event, as a band (0-4, 5-9, 10-15, 16-17, 18-24...)",
        required=False,
        initial=True,
        help_text="Only where your protocols share the date of birth; the date itself is never "
        "written.",
    )

    def __init__(self, *args, field_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["chosen"]).choices = field_choices


class EvaluationForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    cohort = forms.ChoiceField(label="Cohort: people with a record or finding of")
    period_start = TextDateField(label="Cohort period from")
    period_end = TextDateField(label="Cohort period to")
    outcome = forms.ChoiceField(label="Outcome counted before and after")
    months = forms.IntegerField(
        label="Months before and after",
        min_value=1,
        max_value=36,
        initial=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "govuk-input--width-3"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = (
            [("", "")]
            + [
                (f"dataset:{d.pk}", f"Dataset: {d.agency.name}, {d.name}")
                for d in Dataset.objects.select_related("agency").order_by("agency__name", "name")
            ]
            + [(f"indicator:{i.pk}", f"Indicator: {i.name}") for i in RiskIndicator.objects.all()]
        )
        cast(forms.ChoiceField, self.fields["cohort"]).choices = choices
        cast(forms.ChoiceField, self.fields["outcome"]).choices = choices

    def clean(self):
        super().clean()
        data = self.cleaned_data
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", "The end of the period must be after its start.")
        return data
