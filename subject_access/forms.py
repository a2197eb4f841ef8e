from django import forms


class FindForm(forms.Form):
    """The requester's details, posted so that they never travel in a URL."""

    forename = forms.CharField(required=False, max_length=100)
    surname = forms.CharField(required=False, max_length=100)
    date_of_birth = forms.CharField(
        label="Date of birth", required=False, max_length=30, help_text="For example, 27/03/2015."
    )
    postcode = forms.CharField(required=False, max_length=12)
    identifier = forms.CharField(label="NHS number, UPN or PNC id", required=False, max_length=30)


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
