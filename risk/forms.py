"""The indicator form: reads input; risk.indicators checks it against the datasets."""

from django import forms

from agencies.models import Dataset
from risk.models import ConditionOp, IndicatorKind

CONDITION_ROWS = 4


class DatasetsField(forms.ModelMultipleChoiceField):
    """Datasets, each shown with its agency's name."""

    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.agency.name}: {obj.name}"


class IndicatorForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    description = forms.CharField(
        label="Why the partnership counts it (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    kind = forms.ChoiceField(
        label="What does it look at?",
        choices=IndicatorKind.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose whether it is a rule or a list of phrases."},
    )
    datasets = DatasetsField(
        label="Datasets it reads",
        queryset=Dataset.objects.select_related("agency").order_by("agency__name", "name"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one dataset."},
    )
    phrases = forms.CharField(
        label="Phrases (for a list of phrases)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One phrase per line, each a way of saying the same thing. End a word with * "
        'to match any ending ("abus*" matches abuse, abused, abusive). A phrase after "no", '
        '"denies", "no concerns about" and similar does not count.',
    )
    text_columns = forms.CharField(
        label="Free-text columns to read (optional)",
        required=False,
        help_text="Column names separated by commas; leave empty to read every free-text column.",
    )
    weight = forms.IntegerField(
        label="Weight",
        min_value=1,
        max_value=100,
        help_text="What one finding adds to a score when it is new, from 1 to 100.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "govuk-input--width-3"}),
        error_messages={
            "required": "Enter a weight from 1 to 100.",
            "invalid": "Enter a whole number.",
        },
    )
    half_life_days = forms.IntegerField(
        label="Half-life in days (optional)",
        required=False,
        min_value=1,
        help_text="After this many days a finding counts half. Leave empty for no decay.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "govuk-input--width-4"}),
    )
    lookback_days = forms.IntegerField(
        label="Look-back in days (optional)",
        required=False,
        min_value=1,
        help_text="Only records whose date is this recent count. Leave empty for any date.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "govuk-input--width-4"}),
    )
    is_active = forms.BooleanField(label="In use", required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for n in range(CONDITION_ROWS):
            self.fields[f"column_{n}"] = forms.CharField(label="Column", required=False)
            self.fields[f"op_{n}"] = forms.ChoiceField(
                label="Test", required=False, choices=[("", "")] + list(ConditionOp.choices)
            )
            self.fields[f"value_{n}"] = forms.CharField(
                label="Value",
                required=False,
                help_text="For 'is one of', separate values with commas.",
            )

    def condition_rows(self):
        return [
            (self[f"column_{n}"], self[f"op_{n}"], self[f"value_{n}"], n + 1)
            for n in range(CONDITION_ROWS)
        ]

    def conditions(self) -> list[dict]:
        data = self.cleaned_data
        rows = []
        for n in range(CONDITION_ROWS):
            column, op, value = data.get(f"column_{n}"), data.get(f"op_{n}"), data.get(f"value_{n}")
            if column or op or value:
                rows.append({"column": column or "", "op": op or "", "value": value or ""})
        return rows

    @staticmethod
    def initial_for(indicator) -> dict:
        initial = {
            "name": indicator.name,
            "description": indicator.description,
            "kind": indicator.kind,
            "datasets": list(indicator.datasets.all()),
            "phrases": "\n".join(indicator.phrases),
            "text_columns": ", ".join(indicator.text_columns),
            "weight": indicator.weight,
            "half_life_days": indicator.half_life_days,
            "lookback_days": indicator.lookback_days,
            "is_active": indicator.is_active,
        }
        for n, condition in enumerate(indicator.conditions[:CONDITION_ROWS]):
            value = condition.get("value")
            if isinstance(value, list):
                value = ", ".join(value)
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            initial |= {
                f"column_{n}": condition["column"],
                f"op_{n}": condition["op"],
                f"value_{n}": "" if value is None else value,
            }
        return initial
