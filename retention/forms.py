from django import forms

from agencies.models import MAX_RETENTION_DAYS


class RetentionForm(forms.Form):
    days = forms.IntegerField(
        label="Keep each record for (days)",
        help_text=(
            "Counted from the last extract that included the record, in days: a year is 365 "
            "days and a month 30 or 31, so 6 years is 2190 and 13 months is 395. The page says "
            "the period in years and months once saved. Records already older than a shorter "
            "period are erased tonight."
        ),
        min_value=1,
        max_value=MAX_RETENTION_DAYS,
        error_messages={
            "required": "Enter how many days to keep each record for.",
            "invalid": "Enter the period as a whole number of days, for example 2190.",
            "min_value": "Keep records for at least 1 day.",
            "max_value": f"Enter a period of at most {MAX_RETENTION_DAYS:,} days (100 years).",
        },
        widget=forms.TextInput(attrs={"inputmode": "numeric", "spellcheck": "false"}),
    )
    # Asked for only when the new period would erase records tonight (retention.views).
    confirm = forms.BooleanField(
        required=False,
        label="I understand that these records will be erased tonight, with everything made "
        "from them, and that this cannot be undone",
    )


class WithdrawalForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand that the records and everything made from them will be erased, "
        "and that this cannot be undone",
        error_messages={"required": "Confirm that you understand the records will be erased."},
    )
