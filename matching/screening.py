"""Keeping identifiers out of the free text people write into ShareHub.

An override's justification, a consent request's reason or an evidence reference is stored as
typed, and ShareHub stores no plaintext identifier. So before such text is kept it is screened for
identifiers of any kind (NHS numbers, UPNs, PNC ids, postcodes, phone numbers, email addresses)
and for the surname or date of birth of the people it is about, which are recognised by keying
each word and date with the linkage key and comparing with their records' search keys: nobody's
name is ever held in plaintext to compare with. What is found is named by kind, never quoted.

A screen, not a guarantee: a forename, or a name misspelt beyond its keyed form, passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from matching import normalise
from matching.identifiers import nhs_number_is_valid, pnc_id_is_valid, upn_is_valid
from matching.models import SearchKey
from matching.pseudonymise import record_keys_compute
from matching.tokens import RECORD_DTYPE, search_signed

_NHS = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
_PHONE = re.compile(r"(?<![\d+])(?:\+44\s?|0)(?:\d[ -]?){9,10}(?!\d)")
_UPN = re.compile(r"\b[A-Z]\d{11}[A-Z0-9]\b", re.IGNORECASE)
_PNC = re.compile(r"\b\d{2,4}/\d{1,7}[A-Z]\b", re.IGNORECASE)
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_DATE = re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b")
_WORD = re.compile(r"[^\W\d_][^\W\d_'-]*[^\W\d_]", re.UNICODE)

# The most words keyed per text: a justification is a paragraph, not a case file.
MAX_WORDS = 400


def identifiers_in_text(text: str, *, person_ids: Iterable[int] = ()) -> list[str]:
    """The kinds of identifier found in `text` ("an NHS number", "a postcode", ...), in a fixed
    order and each once; with `person_ids`, also their surnames and dates of birth."""
    found: list[str] = []

    def note(kind: str) -> None:
        if kind not in found:
            found.append(kind)

    for match in _NHS.finditer(text):
        if nhs_number_is_valid(normalise.digits_only(match.group())):
            note("an NHS number")
    for match in _UPN.finditer(text):
        if upn_is_valid(normalise.upn_normalise(match.group())):
            note("a UPN")
    for match in _PNC.finditer(text):
        if pnc_id_is_valid(normalise.pnc_id_normalise(match.group())):
            note("a PNC id")
    for match in _POSTCODE.finditer(text):
        if normalise.postcode_parts(normalise.postcode_normalise(match.group())) is not None:
            note("a postcode")
    if _PHONE.search(text):
        note("a phone number")
    if _EMAIL.search(text):
        note("an email address")
    ids = list(person_ids)
    if ids:
        found.extend(kind for kind in _personal_keys_in(text, ids) if kind not in found)
    return found


def screen_problem(kinds: list[str], *, what: str) -> str:
    """The error for text that holds identifiers: what to take out, without quoting it."""
    listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
    return (
        f"Take {listed} out of the {what}: ShareHub keeps no names or identifiers in free "
        "text. Refer to the person by their ShareHub reference."
    )


def _personal_keys_in(text: str, person_ids: list[int]) -> list[str]:
    words = {normalise.text_clean(w) for w in _WORD.findall(text)}
    words = {w for w in words if len(w) >= 2}
    dates = set()
    for match in _DATE.finditer(text):
        parsed = normalise.date_parse(match.group())
        if parsed is not None:
            dates.add(parsed.isoformat())
    if not words and not dates:
        return []
    surnames = {_key("surname", w) for w in sorted(words)[:MAX_WORDS]} - {None}
    births = {_key("date_of_birth", d) for d in dates} - {None}
    held = list(
        SearchKey.objects.filter(record__person_id__in=person_ids).values_list("surname", "dob")
    )
    kinds = []
    held_surnames = {s for s, _ in held if s is not None}
    held_births = {d for _, d in held if d is not None}
    if surnames & held_surnames:
        kinds.append("the person's surname")
    if births & held_births:
        kinds.append("the person's date of birth")
    return kinds


def _key(name: str, value: str) -> int | None:
    column = "surname" if name == "surname" else "dob"
    row = np.frombuffer(record_keys_compute({name: value}), dtype=RECORD_DTYPE)[0]
    return search_signed(row[column])
