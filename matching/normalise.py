"""Normalisation of identifiers and dates: the one place that decides how values are read.

Ingest calls these before anything is sealed or hashed, so the same person written two ways in
two extracts ends up with the same normalised value. The matching issue extends this module
(names, nicknames, address lines); its functions keep these signatures.
"""

import re
import unicodedata
from datetime import date

from matching.identifiers import nhs_number_is_valid

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_ISO = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ][\d:.]+(?:Z|[+-]\d\d:?\d\d)?)?")
# UK order: day first. An American month-first date is read as day-first or rejected, never guessed.
_DAY_FIRST = re.compile(r"(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})(?: [\d:.]+)?")
_DAY_MONTH_NAME = re.compile(r"(\d{1,2})[\- ]([A-Za-z]{3,9})[\- ,]+(\d{4})")
_SPACES = re.compile(r"\s+")
_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?)(\d[A-Z]{2})$")

DATE_FORMATS_HELP = "YYYY-MM-DD, DD/MM/YYYY or DD-Mon-YYYY"


def date_parse(text: str) -> date | None:
    """Read a date written in any of the usual UK extract formats; None if it is not a date."""
    text = text.strip()
    if not text:
        return None
    try:
        # The two shapes most extracts use, read without a regular expression.
        if len(text) == 10 and text.isascii():
            if text[4] == "-" == text[7] and text[:4].isdigit():
                return date(int(text[:4]), int(text[5:7]), int(text[8:10]))
            if text[2] == "/" == text[5] and text[6:].isdigit():
                return date(int(text[6:]), int(text[3:5]), int(text[:2]))
        if match := _ISO.fullmatch(text):
            year, month, day = (int(part) for part in match.groups())
        elif match := _DAY_FIRST.fullmatch(text):
            day, month, year = (int(part) for part in match.groups())
        elif match := _DAY_MONTH_NAME.fullmatch(text):
            month_number = _MONTHS.get(match.group(2).lower())
            if month_number is None:
                return None
            day, month, year = int(match.group(1)), month_number, int(match.group(3))
        else:
            return None
        return date(year, month, day)
    except ValueError:
        return None


def text_clean(value: str) -> str:
    """Trim and collapse whitespace, and compose accents into one form (NFC)."""
    if value.isascii() and "  " not in value and value == value.strip() and value.isprintable():
        return value  # nothing to do, and most names are like this
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def postcode_normalise(value: str) -> str:
    """A UK postcode as 'OUTWARD INWARD' in capitals when it has that shape, else cleaned text."""
    compact = _SPACES.sub("", value).upper()
    if match := _POSTCODE.match(compact):
        return f"{match.group(1)} {match.group(2)}"
    return compact


_NOT_DIGITS = re.compile(r"[^0-9]+")


def digits_only(value: str) -> str:
    return _NOT_DIGITS.sub("", value)


def nhs_number_normalise(value: str) -> tuple[str, bool]:
    """The NHS number's ten digits, and whether its check digit is right."""
    digits = digits_only(value)
    return digits, nhs_number_is_valid(digits)
