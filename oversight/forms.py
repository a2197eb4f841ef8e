"""The IG officer's audit search, the search of reads of their agency's records, and the
questions about flagged reads and their answers."""

from typing import cast

from django import forms

from audit.models import MAX_QUESTION, MIN_QUESTION, AuditAction
from core.forms import TextDateField
from oversight.selectors import READ_KINDS


class AuditSearchForm(forms.Form):
    user = forms.CharField(label="Member of staff (name or email)", required=False, max_length=200)
    person = forms.CharField(
        label="Person (ShareHub reference)",
        required=False,
        max_length=12,
        help_text="The 10-character reference, never a name.",
    )
    # Chosen by name: no IG officer knows a version's database id. Choices are the protocols
    # their agency is party to (oversight.selectors.protocol_choices), set by the view.
    protocol = forms.TypedChoiceField(
        label="Protocol", required=False, coerce=int, empty_value=None
    )
    action = forms.ChoiceField(
        label="What was done",
        required=False,
        choices=[("", "Anything")] + list(AuditAction.choices),
    )
    since = TextDateField(label="From", required=False)
    until = TextDateField(label="To", required=False)

    def __init__(self, *args, protocols=(), **kwargs):
        super().__init__(*args, **kwargs)
        protocol = cast(forms.TypedChoiceField, self.fields["protocol"])
        protocol.choices = [("", "Any protocol"), *protocols]
        protocol.error_messages["invalid_choice"] = (
            "Choose a protocol your agency is party to from the list."
        )


class ReadsSearchForm(forms.Form):
    person = forms.CharField(
        label="Person (ShareHub reference)",
        required=False,
        max_length=12,
        help_text="The 10-character reference, never a name.",
    )
    since = TextDateField(label="From", required=False)
    until = TextDateField(label="To", required=False)
    reader_agency = forms.TypedChoiceField(
        label="Reader's agency", required=False, coerce=int, empty_value=None
    )
    reader = forms.CharField(label="Reader (name or email)", required=False, max_length=200)
    kind = forms.ChoiceField(label="Kind of read", required=False)
    flagged_only = forms.BooleanField(
        label="Only reads flagged to your agency",
        required=False,
        help_text="Bursts, out-of-hours reads and reads with nothing recorded behind them.",
    )

    def __init__(self, *args, agencies=(), **kwargs):
        super().__init__(*args, **kwargs)
        reader_agency = cast(forms.TypedChoiceField, self.fields["reader_agency"])
        reader_agency.choices = [("", "Any agency")] + [(a.pk, a.name) for a in agencies]
        cast(forms.ChoiceField, self.fields["kind"]).choices = [("", "Any kind")] + [
            (kind.value, kind.label) for kind in READ_KINDS
        ]


class ReadQuestionForm(forms.Form):
    question = forms.CharField(
        label="Your question",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=(
            f"At least {MIN_QUESTION} characters. Say what you want explained. Refer to the "
            "person by their ShareHub reference, never by name or another identifier."
        ),
        max_length=MAX_QUESTION,
        error_messages={
            "required": f"Write your question: at least {MIN_QUESTION} characters.",
            "max_length": f"Shorten your question to {MAX_QUESTION} characters or fewer.",
        },
    )


class ReadAnswerForm(forms.Form):
    answer = forms.CharField(
        label="Your answer",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=(
            f"At least {MIN_QUESTION} characters: why the reading happened. Refer to the person "
            "by their ShareHub reference, never by name or another identifier."
        ),
        max_length=MAX_QUESTION,
        error_messages={
            "required": f"Write your answer: at least {MIN_QUESTION} characters.",
            "max_length": f"Shorten your answer to {MAX_QUESTION} characters or fewer.",
        },
    )
