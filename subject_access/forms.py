from django import forms

from protocols.forms import IdentifiersForm


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
