from django import forms

from core.purpose import Purpose
from matching.challenges import MAX_REASON, MIN_REASON
from matching.export import EXPORT_PURPOSES, PURPOSE_MAX_LENGTH
from matching.models import LinkChallenge, ReviewItem
from matching.review import NOTE_MAX_LENGTH


class ReviewDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label="Are these records about the same person?",
        choices=[
            (ReviewItem.Status.CONFIRMED, "Yes, the same person"),
            (ReviewItem.Status.REJECTED, "No, different people"),
        ],
        widget=forms.RadioSelect,
        error_messages={
            "required": "Select whether these records are about the same person.",
            "invalid_choice": "Select whether these records are about the same person.",
        },
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why you decided, for anyone who looks at this pair later. "
        "Do not copy names, dates of birth or numbers into the note.",
        error_messages={
            "max_length": f"Shorten the note to {NOTE_MAX_LENGTH:,} characters or fewer.",
        },
    )


class LinkageExportForm(forms.Form):
    purpose = forms.ChoiceField(
        label="Which of your purposes is the export for?",
        choices=[(p, Purpose(p).label) for p in EXPORT_PURPOSES],
        widget=forms.RadioSelect,
        help_text="Only records your protocols share with you for this purpose are exported.",
        error_messages={
            "required": "Select what the export is for.",
            "invalid_choice": "Select what the export is for.",
        },
    )
    statement = forms.CharField(
        label="What is the export for?",
        max_length=PURPOSE_MAX_LENGTH,
        help_text='Recorded with the export, for example "Evaluation of the early help offer, '
        '2026". Do not name anyone.',
        error_messages={
            "required": "Enter what the export is for.",
            "max_length": f"Shorten the purpose to {PURPOSE_MAX_LENGTH} characters or fewer.",
        },
    )


class LinkChallengeForm(forms.Form):
    """Why a practitioner reports a wrong or missed link. Its length and the identifiers in it
    are checked by matching.challenges.link_report, which says what to fix."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=f"At least {MIN_REASON} characters. Say what in your agency's records shows it, "
        "for example a different school or a different mother. A link reviewer reads this. Do "
        "not write names, dates of birth, addresses or numbers: refer to people by their "
        "ShareHub reference.",
        # Longer text is refused by the service with a message of its own; the form keeps it, so
        # the writer can shorten what they wrote rather than lose it.
        max_length=MAX_REASON * 2,
    )

    def __init__(self, *args, kind: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["reason"]
        if kind == LinkChallenge.Kind.WRONG:
            field.label = "Why is this record not about this person?"
            missing = "Enter why the record is not this person's"
        else:
            field.label = "Why are they the same person?"
            missing = "Enter why they are the same person"
        field.error_messages = {
            "required": missing,
            "max_length": f"Your reason must be {MAX_REASON:,} characters or fewer",
        }
