from typing import cast

from django import forms

from core.forms import IdentifiersForm


class FindForm(IdentifiersForm):
    """The requester's details, posted so that they never travel in a URL."""


class ReportOptionsForm(forms.Form):
    staff_names = forms.TypedChoiceField(
        label="How should staff who viewed the person's data be shown?",
        choices=[
            ("0", "By role and agency only, for example 'Safeguarding practitioner, Police'"),
            ("1", "By name"),
        ],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
        initial="0",
        error_messages={"required": "Choose how staff should be shown in the report."},
    )


class AskForm(forms.Form):
    fresh = forms.TypedChoiceField(
        choices=[("0", "Add the parts not yet asked for"), ("1", "Start a new request")],
        coerce=lambda value: value == "1",
        initial="0",
        required=False,
        widget=forms.HiddenInput,
    )


class ReleaseForm(forms.Form):
    """What the owning agency's IG officer withholds; everything else shown is released."""

    withhold = forms.MultipleChoiceField(
        label="What to withhold",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Choose only details shown on this page to withhold."},
    )
    fingerprint = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, keys: set[str], **kwargs):
        super().__init__(*args, **kwargs)
        withhold = cast(forms.MultipleChoiceField, self.fields["withhold"])
        withhold.choices = [(key, key) for key in sorted(keys)]
