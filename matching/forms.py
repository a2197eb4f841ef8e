from django import forms

from matching.export import EXPORT_PURPOSES, PURPOSE_MAX_LENGTH
from matching.models import ReviewItem
from matching.review import NOTE_MAX_LENGTH
from protocols.models import Purpose


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
