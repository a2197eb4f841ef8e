"""A period of days as people say it: "6 years", "1 year and 6 months", never "2190 days".

Retention periods are kept in days (the nightly erasure counts days) but set from agencies'
retention schedules, which are written in years and months.
"""

DAYS_IN_YEAR = 365
DAYS_IN_MONTH = DAYS_IN_YEAR / 12


def period_in_words(days: int) -> str:
    """`days` in years and months, with the days left over only when it is not a whole number
    of months: a month is 30 or 31 days, so 395 days is "1 year and 1 month"."""
    years, rest = divmod(days, DAYS_IN_YEAR)
    months = round(rest / DAYS_IN_MONTH)
    if abs(rest - round(months * DAYS_IN_MONTH)) > 1:
        months = int(rest // DAYS_IN_MONTH)
    left = rest - round(months * DAYS_IN_MONTH)
    if months == 12:
        years, months, left = years + 1, 0, 0
    if abs(left) <= 1 and (years or months):
        left = 0
    parts = [
        f"{count} {unit if count == 1 else unit + 's'}"
        for count, unit in ((years, "year"), (months, "month"), (left, "day"))
        if count
    ]
    if not parts:
        return "0 days"
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
