"""Keeping identifiers out of the free text people write into ShareHub.

An override's justification, a consent request's reason or an evidence reference is stored as
typed, and ShareHub stores no plaintext identifier. So before such text is kept it is screened for
identifiers by their shape, which needs no one's data (NHS numbers and UPNs with a valid check
digit, PNC ids with a valid check letter, full postcodes, phone numbers, email addresses), and
for the surname, date of birth or postcode of the people it is about, recognised by keying each
word and date with the linkage key and comparing with their records' search keys: nobody's name
is ever held in plaintext to compare with. What is found is named by kind, never quoted.

Only identifiers the writer is shown are compared (`shown`, from the disclosure engine's
protocols.engine.identifiers_shown): a refusal for a withheld date of birth would tell the writer
it is one, and a note of a hundred dates is a fast way to ask.

A screen, not a guarantee: a forename, or a name misspelt beyond its keyed form, passes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import numpy as np

from matching import normalise
from matching.identifiers import nhs_number_is_valid, pnc_id_is_valid, upn_is_valid
from matching.models import SearchKey
from matching.pseudonymise import record_keys_compute
from matching.tokens import RECORD_DTYPE, search_signed

# Runs of digits however they are grouped or separated (spaces, dots, slashes, hyphens):
# 943 476 5919, 943.476.5919, 9434 765 919, 07700-900-123.
_DIGIT_RUN = re.compile(r"(?<![\w])(?:\+44\s*(?:\(0\)\s*)?)?\d(?:[\s./-]{0,2}\d)+(?![\w])")
_UPN = re.compile(r"\b[A-Z]\d{11}[A-Z0-9]\b", re.IGNORECASE)
_PNC = re.compile(r"\b\d{2,4}/\d{1,7}[A-Z]\b", re.IGNORECASE)
_POSTCODE = re.compile(r"\b([A-Z]{1,2}\d[A-Z\d]?)[\s-]*(\d[A-Z]{2})\b", re.IGNORECASE)
# Inward codes shaped like an ordinal: "s47 2nd strategy meeting" is social work, not a
# postcode. Such a match counts only when it is the household's own postcode.
_ORDINAL = re.compile(r"^(1ST|2ND|3RD|\dTH)$", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_DATE_NUMERIC = re.compile(r"\b\d{1,4}[/.\- ]\d{1,2}[/.\- ]\d{1,4}\b")
_DATE_NAMED = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?[\- ]+([A-Za-z]{3,9})[\- ,]+(\d{4})\b", re.IGNORECASE
)
_WORD = re.compile(r"[^\W\d_][^\W\d_'-]*[^\W\d_]", re.UNICODE)


def identifiers_in_text(
    text: str, *, shown: Mapping[str, Collection[int]] | None = None
) -> list[str]:
    """The kinds of identifier found in `text` ("an NHS number", "a postcode", ...), in a fixed
    order and each once. With `shown`, {"surname" | "date_of_birth" | "postcode": ids of the
    records whose value of it the writer is shown}, also those values; never any other."""
    found: list[str] = []

    def note(kind: str) -> None:
        if kind not in found:
            found.append(kind)

    numbers = [_digits_of(match.group()) for match in _DIGIT_RUN.finditer(text)]
    if any(len(d) == 10 and nhs_number_is_valid(d) for d in numbers):
        note("an NHS number")
    for match in _UPN.finditer(text):
        if upn_is_valid(normalise.upn_normalise(match.group())):
            note("a UPN")
    for match in _PNC.finditer(text):
        if pnc_id_is_valid(normalise.pnc_id_normalise(match.group())):
            note("a PNC id")
    ordinal_shaped = []
    for match in _POSTCODE.finditer(text):
        postcode = normalise.postcode_normalise(match.group(1) + match.group(2))
        if normalise.postcode_parts(postcode) is None:
            continue
        if _ORDINAL.match(match.group(2)):
            ordinal_shaped.append(postcode)
        else:
            note("a postcode")
    if any(_is_phone(d) for d in numbers):
        note("a phone number")
    if _EMAIL.search(text):
        note("an email address")
    if shown and any(shown.values()):
        kinds = _personal_keys_in(text, shown, numbers=numbers, postcodes=ordinal_shaped)
        found.extend(kind for kind in kinds if kind not in found)
    return found


def _digits_of(run: str) -> str:
    if run.startswith("+44"):
        run = "0" + run[3:].replace("(0)", "", 1)
    return normalise.digits_only(run)


def _is_phone(digits: str) -> bool:
    """A UK number as dialled: 0 then a non-zero digit, 10 or 11 digits in all."""
    return len(digits) in (10, 11) and digits[0] == "0" and digits[1] != "0"


def screen_problem(kinds: list[str], *, what: str) -> str:
    """The error for text that holds identifiers: what to take out, without quoting it."""
    listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
    return (
        f"Take {listed} out of the {what}: ShareHub keeps no names or identifiers in free "
        "text. Refer to the person by their ShareHub reference."
    )


def _personal_keys_in(
    text: str, shown: Mapping[str, Collection[int]], *, numbers: list[str], postcodes: list[str]
) -> list[str]:
    """The surnames, dates of birth and postcodes `shown` to the writer, found by keying every
    word, date and ordinal-shaped postcode in the text and comparing with the search keys of
    the records shown. Every word: text is capped in length, so there is no need to sample."""
    words = {normalise.text_clean(w) for w in _WORD.findall(text)}
    words = {w for w in words if len(w) >= 2}
    dates = {d.isoformat() for d in _dates_in(text, numbers)}
    if not words and not dates and not postcodes:
        return []
    surnames = {_key("surname", w) for w in words} - {None}
    births = {_key("date_of_birth", d) for d in dates} - {None}
    places = {_key("postcode", p) for p in postcodes} - {None}
    surname_ids = set(shown.get("surname", ()))
    birth_ids = set(shown.get("date_of_birth", ()))
    place_ids = set(shown.get("postcode", ()))
    held = list(
        SearchKey.objects.filter(record_id__in=surname_ids | birth_ids | place_ids).values_list(
            "record_id", "surname", "dob", "postcode"
        )
    )
    # Each column only from the records whose value of it is shown: a record may show the
    # surname and withhold the date of birth.
    kinds = []
    if surnames & {s for r, s, _, _ in held if r in surname_ids and s is not None}:
        kinds.append("the person's surname")
    if births & {d for r, _, d, _ in held if r in birth_ids and d is not None}:
        kinds.append("the person's date of birth")
    if places & {p for r, _, _, p in held if r in place_ids and p is not None}:
        kinds.append("the person's postcode")
    return kinds


def _dates_in(text: str, numbers: list[str]):
    for match in _DATE_NUMERIC.finditer(text):
        parsed = normalise.date_parse(match.group())
        if parsed is not None:
            yield parsed
    for match in _DATE_NAMED.finditer(text):
        day, month, year = match.groups()
        parsed = normalise.date_parse(f"{day} {month} {year}")
        if parsed is not None:
            yield parsed
    # Eight digits run together: 01032015, or 20150301.
    for digits in numbers:
        if len(digits) == 8:
            for candidate in (
                f"{digits[:2]}/{digits[2:4]}/{digits[4:]}",
                f"{digits[:4]}-{digits[4:6]}-{digits[6:]}",
            ):
                parsed = normalise.date_parse(candidate)
                if parsed is not None:
                    yield parsed


_KEY_COLUMNS = {"surname": "surname", "date_of_birth": "dob", "postcode": "postcode"}


def _key(name: str, value: str) -> int | None:
    row = np.frombuffer(record_keys_compute({name: value}), dtype=RECORD_DTYPE)[0]
    return search_signed(row[_KEY_COLUMNS[name]])
