"""Forms for consent, consent requests and overrides: they read input; the services
(consent.records, consent.requests, consent.overrides) check it against who is acting and what
the engine shows, and say what to fix."""

from typing import cast

from django import forms

from consent.models import (
    ConsentGivenBy,
    ConsentMethod,
    ConsentState,
    OverrideCategory,
    RequestStatus,
    ReviewOutcome,
)
from consent.overrides import MIN_JUSTIFICATION, OverrideOption
from consent.records import ConsentScopes
from consent.requests import ANSWER_STATES, MIN_REQUEST_REASON
from core.forms import TextDateField

PURPOSE_SCOPE = "purpose"


class _HowFields(forms.Form):
    """How consent was given or refused, and its evidence: shared by recording and answering."""

    method = forms.ChoiceField(
        label="How was it given or refused?",
        choices=ConsentMethod.choices,
        required=False,
        widget=forms.RadioSelect,
    )
    given_by = forms.ChoiceField(
        label="Who answered?",
        choices=ConsentGivenBy.choices,
        required=False,
        widget=forms.RadioSelect,
        help_text="For a child: a parent or carer, or the child if assessed as Gillick "
        "competent to decide.",
    )
    evidence_reference = forms.CharField(
        label="Evidence reference",
        required=False,
        max_length=100,
        help_text="Where your agency keeps the signed form or case note, such as its document "
        "number. Not a name or an identifier.",
    )
    expires_on = TextDateField(
        label="Consent expires on (optional)",
        required=False,
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Do not write names or identifiers; refer to the person by their reference.",
    )

    def how(self) -> dict:
        """These fields' cleaned values, as ConsentInput and consent_request_answer take them."""
        return {name: self.cleaned_data[name] for name in _HowFields.base_fields}


class ConsentForm(_HowFields):
    state = forms.ChoiceField(
        label="What did the person say?",
        choices=ConsentState.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose what the person said."},
    )
    scope = forms.ChoiceField(
        label="What does it cover?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a protocol, or this purpose."},
    )
    agencies = forms.MultipleChoiceField(
        label="Whose records?",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose the agencies whose records it is about."},
    )

    field_order = [
        "state",
        "scope",
        "agencies",
        "method",
        "given_by",
        "evidence_reference",
        "expires_on",
        "note",
    ]

    def __init__(self, *args, scopes: ConsentScopes, purpose_label: str, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["scope"]).choices = [
            *(
                (str(v.protocol_id), f"{v.label} (protocol {v.protocol.reference})")
                for v in scopes.protocols
            ),
            (PURPOSE_SCOPE, f"Every protocol for this purpose: {purpose_label}"),
        ]
        agencies = cast(forms.MultipleChoiceField, self.fields["agencies"])
        agencies.choices = [(str(a.pk), a.name) for a in scopes.agencies]

    def scope_value(self) -> tuple[int | None, bool]:
        """(protocol id, or None) and whether the purpose was chosen."""
        scope = self.cleaned_data["scope"]
        if scope == PURPOSE_SCOPE:
            return None, True
        return int(scope), False


class WithdrawForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For example, how the withdrawal was received. No names or identifiers.",
    )


class RequestForm(forms.Form):
    dataset = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Why do you need to see the record?",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"At least {MIN_REQUEST_REASON} characters. The agency reads this when it "
        "decides whether and how to ask. No names or identifiers.",
        error_messages={"required": "Say why you need to see the record."},
    )


class AnswerForm(_HowFields):
    outcome = forms.ChoiceField(
        label="Outcome",
        choices=[(s, RequestStatus(s).label) for s in ANSWER_STATES],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the outcome."},
    )

    field_order = ["outcome", "method", "given_by", "evidence_reference", "expires_on", "note"]


class OverrideForm(forms.Form):
    protocol = forms.ChoiceField(
        label="Under which protocol?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the protocol."},
    )
    category = forms.ChoiceField(
        label="Why can consent not be sought?",
        choices=OverrideCategory.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose why consent cannot be sought."},
    )
    justification = forms.CharField(
        label="Justification",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=f"At least {MIN_JUSTIFICATION} characters: the risk, and why seeking consent "
        "would increase it or cannot wait. An IG officer reviews every override. No names or "
        "identifiers.",
        error_messages={"required": "Write the justification."},
    )
    hours = forms.IntegerField(
        label="For how many hours?",
        min_value=1,
        # GOV.UK asks for a text input with a numeric keyboard, not type=number.
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
        error_messages={
            "required": "Enter how many hours you need.",
            "invalid": "Enter the hours as a whole number, like 24.",
            "min_value": "Enter at least 1 hour.",
        },
    )

    def __init__(self, *args, options: list[OverrideOption], **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["protocol"]).choices = [
            (str(o.protocol.pk), f"{o.label}: usually {o.default_hours}, up to {o.max_hours} hours")
            for o in options
        ]
        if not options:
            return
        # The protocol's usual length, not its most; with several protocols, the shortest usual
        # length, which each of them allows.
        usual = min(o.default_hours for o in options)
        if not self.is_bound:
            self.initial.setdefault("hours", usual)
            if len(options) == 1:
                self.initial.setdefault("protocol", str(options[0].protocol.pk))
        most = max(o.max_hours for o in options)
        self.fields["hours"].help_text = (
            f"Usually {usual}; your protocol allows up to {most}. Choose no longer than you need: "
            "access ends by itself when the time is up, and you can end it sooner."
        )


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Was the override justified?",
        choices=[
            (o, ReviewOutcome(o).label)
            for o in (ReviewOutcome.JUSTIFIED, ReviewOutcome.NOT_JUSTIFIED)
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose justified or not justified."},
    )
    note = forms.CharField(
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Your reasons, for the practitioner and the audit. Not justified ends the "
        "override at once if it is still running.",
        error_messages={"required": "Write a note saying why."},
    )


class ConfirmForm(forms.Form):
    """The owning agency's answer to consent another agency recorded about its records."""

    outcome = forms.ChoiceField(
        label="Does this match what your agency knows of the person's consent?",
        choices=[
            ("confirmed", "Confirm: share our records under it"),
            ("declined", "Decline: our records stay withheld"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose confirm or decline."},
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example, where your agency's own record of the consent is. Do not write "
        "names or other identifiers.",
    )
