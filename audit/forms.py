"""The IG officer's audit search."""

from django import forms

from audit.models import AuditAction
from protocols.forms import TextDateField


class AuditSearchForm(forms.Form):
    user = forms.CharField(label="Member of staff (name or email)", required=False, max_length=200)
    person = forms.CharField(
        label="Person (ShareHub reference)",
        required=False,
        max_length=12,
        help_text="The 10-character reference, never a name.",
    )
    protocol_version = forms.IntegerField(
        label="Protocol version id",
        required=False,
        min_value=1,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "class": "govuk-input--width-5"}),
    )
    action = forms.ChoiceField(
        label="What was done",
        required=False,
        choices=[("", "Anything")] + list(AuditAction.choices),
    )
    since = TextDateField(label="From", required=False)
    until = TextDateField(label="To", required=False)


class ReadsSearchForm(forms.Form):
    person = forms.CharField(
        label="Person (ShareHub reference)",
        required=False,
        max_length=12,
        help_text="The 10-character reference, never a name.",
    )
    since = TextDateField(label="From", required=False)
    until = TextDateField(label="To", required=False)
