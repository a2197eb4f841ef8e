"""Form fields and forms that several apps' pages ask with. They check shape; rules live in
services."""

from django import forms

from sharehub_bridge import normalise


class TextDateField(forms.CharField):
    """A date as people type it (the readers' formats, sharehub_bridge.normalise); None if empty."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "help_text", f"For example, 2026-12-01 or 01/12/2026 ({normalise.DATE_FORMATS_HELP})."
        )
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        parsed = normalise.date_parse(value)
        if parsed is None:
            raise forms.ValidationError(f"Enter a real date, {normalise.DATE_FORMATS_HELP}.")
        return parsed


class IdentifiersForm(forms.Form):
    """A person's identifiers as a search asks for them: posted, never in a URL, and turned into
    keyed hashes (matching.search.SearchQuery takes these fields)."""

    forename = forms.CharField(required=False, max_length=100)
    surname = forms.CharField(required=False, max_length=100)
    date_of_birth = forms.CharField(
        label="Date of birth", required=False, max_length=30, help_text="For example, 27/03/2015."
    )
    postcode = forms.CharField(required=False, max_length=12)
    identifier = forms.CharField(label="NHS number, UPN or PNC id", required=False, max_length=30)
