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

Text is read as it looks, not as it is encoded, before any of this: a writer could otherwise
get an identifier past the screen in full-width digits, with a zero-width space inside it, or
spelt out a character at a time ("L S 1 0 2 Q G"). See `_cleaned` and `_squeezed`.

A screen, not a guarantee: a forename, or a name misspelt beyond its keyed form, passes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator, Mapping

import numpy as np

from matching.models import SearchKey
from matching.pseudonymise import record_keys_compute
from matching.tokens import RECORD_DTYPE, search_signed
from sharehub_bridge import normalise
from sharehub_bridge.identifiers import nhs_number_is_valid, pnc_id_is_valid, upn_is_valid

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
# A date written as someone's birth date ("born 1 August 2010", "DOB: 01/08/2010", "d-o-b
# 08062020", "b. 8 Jun '20", "8 June 2020 is when he was born"): found by its words, so it needs
# no one's records to compare with, and text about no one person (a suspension's reason, a
# question about reading) is screened for it too. A date with no such words may be any event's
# and is left alone there. The words may be spelt with a zero for the o, or with stops or
# hyphens between the letters of DOB.
_BIRTH_WORDS = re.compile(
    r"(?<![^\W\d_])(?:b[o0]rn|d[\W_]{0,2}[o0][\W_]{0,2}b|date[\W_]+[o0]f[\W_]+birth"
    r"|birth[\W_]*date|birthday|b(?=[.\s]\s*\d))(?![^\W\d_])",
    re.IGNORECASE,
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*"
_BIRTH_DATE_SHAPES = re.compile(
    r"(?<!\d)\d{1,4}[/.\- ]\d{1,2}[/.\- ]\d{1,4}(?!\d)"  # 08/06/2020, 2020-06-08T00:00
    r"|(?<!\d)\d{6}(?:\d{2})?(?!\d)"  # 080620, 08062020
    rf"|(?<!\d)\d{{1,2}}(?:st|nd|rd|th)?[\s\-.,]*{_MONTH}"  # 8 June, 8th-Jun
    rf"|{_MONTH}[\s,.'\-]*\d{{2,4}}(?!\d)",  # June 2020, Jun '20
    re.IGNORECASE,
)
# How far from the words a date is read as theirs: "born on the 8th of June 2020" after them,
# "8 June 2020 is when he was born" before.
_BIRTH_AFTER, _BIRTH_BEFORE = 40, 30
# A ShareHub person reference (matching.models._reference: ten characters without look-alikes,
# letters and digits): what the forms ask people to write instead of identifiers, so never read
# as a postcode or a number hidden in it.
_REFERENCE = re.compile(
    r"(?<![^\W_])(?=[A-Z2-9]*\d)(?=[A-Z2-9]*[A-Z])[A-HJ-NP-Z2-9]{10}(?![^\W_])", re.IGNORECASE
)
_WORD = re.compile(r"[^\W\d_][^\W\d_'-]*[^\W\d_]", re.UNICODE)
_SPACED_LETTERS = re.compile(r"\b[^\W\d_]\b(?:[\s.-]+[^\W\d_]\b){2,}")


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

    text = _REFERENCE.sub(" ", _cleaned(text))
    fenced = _fenced(text)
    squeezed = list(_squeezed(fenced))
    numbers = [normalise.phone_digits(match.group()) for match in _DIGIT_RUN.finditer(fenced)]
    if any(len(d) == 10 and nhs_number_is_valid(d) for d in numbers) or any(
        _squeezed_nhs_number(joined) for joined, _ in squeezed
    ):
        note("an NHS number")
    for match in _UPN.finditer(text):
        if upn_is_valid(normalise.upn_normalise(match.group())):
            note("a UPN")
    if any(_squeezed_upn(joined, edges) for joined, edges in squeezed):
        note("a UPN")
    for match in _PNC.finditer(text):
        if pnc_id_is_valid(normalise.pnc_id_normalise(match.group())):
            note("a PNC id")
    if any(_squeezed_pnc_id(joined, edges) for joined, edges in squeezed):
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
    for joined, edges in squeezed:
        for postcode in _squeezed_postcodes(joined, edges):
            if _ORDINAL.match(postcode.partition(" ")[2]):
                ordinal_shaped.append(postcode)
            else:
                note("a postcode")
    if any(normalise.phone_is_uk(d) for d in numbers):
        note("a phone number")
    if _EMAIL.search(text):
        note("an email address")
    if _birth_date_written(text):
        note("a date of birth")
    if shown and any(shown.values()):
        kinds = _personal_keys_in(text, shown, numbers=numbers, postcodes=ordinal_shaped)
        found.extend(kind for kind in kinds if kind not in found)
        if "the person's date of birth" in found and "a date of birth" in found:
            # One date, said once: the writer is shown it, so naming it as theirs tells nothing.
            found.remove("a date of birth")
    return found


def _birth_date_written(text: str) -> bool:
    """Whether a date follows words that make it a birth date, within a few words, or comes
    shortly before "born"."""
    for match in _BIRTH_WORDS.finditer(text):
        if _BIRTH_DATE_SHAPES.search(text[match.end() : match.end() + _BIRTH_AFTER]):
            return True
        before = text[max(0, match.start() - _BIRTH_BEFORE) : match.start()]
        if match.group().lower().startswith("b") and _BIRTH_DATE_SHAPES.search(before):
            return True
    return False


class _DecimalDigits(dict):
    """A str.translate table reading any script's decimal digit (Arabic-Indic, Devanagari...) as
    0-9, filled as characters are met rather than for all of Unicode up front."""

    def __missing__(self, codepoint: int) -> int:
        char = chr(codepoint)
        value = unicodedata.decimal(char, None) if codepoint > 127 else None
        self[codepoint] = ord(str(value)) if value is not None else codepoint
        return self[codepoint]


_DECIMAL_DIGITS = _DecimalDigits()
# Marks the edges of times and dates in `_fenced` text; never left in text by `_cleaned`.
_FENCE = "\x00"


def _cleaned(text: str) -> str:
    """`text` as a reader sees it. Format characters (Unicode category Cf: zero-width spaces and
    joiners, soft hyphens, direction marks) go; compatibility forms are folded (NFKC: full-width
    digits and letters, non-breaking and thin spaces, ligatures); every script's decimal digits
    read as 0-9. Each is invisible, or looks like the plain character, to the person reading."""
    if text.isascii() and text.isprintable():
        return text  # nothing to do, and most notes are like this
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", visible).translate(_DECIMAL_DIGITS).replace(_FENCE, " ")


_TIME = re.compile(r"(?<![\d:])(?:[01]?\d|2[0-3]):[0-5]\d(?![\d:])")


def _fenced(text: str) -> str:
    """`text` with fences round its times (10:30) and its dates with a four-digit year
    (12/03/2026), so that no run of digits is read across one. Notes are full of "seen
    04/08/2026 13:55", whose ten digits would otherwise be a phone number, and an NHS number
    one time in eleven. A date with a two-digit year is not fenced: six digits and four more
    is how a Scottish CHI number, a date of birth and a serial, is written."""

    def fence(match: re.Match[str]) -> str:
        return f"{_FENCE}{match.group()}{_FENCE}"

    def fence_date(match: re.Match[str]) -> str:
        parts = re.split(r"[/.\- ]", match.group())
        parsed = normalise.date_parse(match.group()) if 4 in map(len, parts) else None
        return fence(match) if parsed is not None and 1900 <= parsed.year < 2100 else match.group()

    return _DATE_NUMERIC.sub(fence_date, _TIME.sub(fence, text))


_ALNUM = re.compile(r"[^\W_]+")
# A comma or semicolon and a space ends a stretch, as a fence does: "days 3, 12, 281, 14" is a
# list, and joined up it makes ten-digit runs that pass a check digit one time in eleven.
_LIST_BREAK = re.compile(rf"{_FENCE}|[,;]\s+")


def _squeezed(fenced: str) -> Iterator[tuple[str, set[int]]]:
    """Each stretch of text between fences and list breaks, with everything but letters and
    digits taken out, in capitals, and its edges: the offsets where a word began or ended, or
    letters met digits.

    "L S 1 0 2 Q G", "943_476_5919" or "2008 005 6560 Z" is an identifier spelt out to get
    past the shapes above. A shape found here counts only from edge to edge, so "room 14B with"
    (ROOM14BWITH) holds no "M1 4BW", and only shapes with a check digit or letter, or the
    strict shape of a postcode, are looked for: joined-up counts ("3 12 7") are common."""
    for stretch in _LIST_BREAK.split(fenced):
        words = _ALNUM.findall(stretch)
        if len(words) < 2:
            continue  # nothing was taken out between characters: the plain shapes saw it
        joined = "".join(words).upper()
        edges = {0}
        offset = 0
        for word in words:
            offset += len(word)
            edges.add(offset)
        edges.update(
            i for i in range(1, len(joined)) if joined[i - 1].isdigit() != joined[i].isdigit()
        )
        yield joined, edges


def _squeezed_nhs_number(joined: str) -> bool:
    return any(len(run) == 10 and nhs_number_is_valid(run) for run in re.findall(r"\d+", joined))


def _from_edges(joined: str, edges: set[int], length: int) -> Iterator[str]:
    for start in sorted(edges):
        if start + length in edges:
            yield joined[start : start + length]


_SQUEEZED_PNC = re.compile(r"\d{11}[A-Z]")


def _squeezed_upn(joined: str, edges: set[int]) -> bool:
    return any(upn_is_valid(c) for c in _from_edges(joined, edges, 13))


def _squeezed_pnc_id(joined: str, edges: set[int]) -> bool:
    # The long form only: a short form (08/56560Z) with its slash taken out is any number
    # followed by a word, right one time in 23.
    return any(
        _SQUEEZED_PNC.fullmatch(c) and pnc_id_is_valid(c) for c in _from_edges(joined, edges, 12)
    )


# A postcode's last two letters are never C, I, K, M, O or V (Royal Mail): this keeps "at 10
# am" and "by 10 pm" (AT1 0AM, BY1 0PM) from reading as postcodes once spaces are gone.
_SQUEEZED_POSTCODE = re.compile(r"([A-Z]{1,2}\d[A-Z\d]?)(\d[ABD-HJLNP-UW-Z]{2})")


def _squeezed_postcodes(joined: str, edges: set[int]) -> list[str]:
    postcodes = []
    for length in (5, 6, 7):
        for candidate in _from_edges(joined, edges, length):
            if (match := _SQUEEZED_POSTCODE.fullmatch(candidate)) is None:
                continue
            postcode = f"{match.group(1)} {match.group(2)}"
            if normalise.postcode_parts(postcode) is not None:
                postcodes.append(postcode)
    return postcodes


def shapes_problem(text: str, *, what: str) -> str:
    """The error for text about no one person (a protocol's note, a question about reading)
    holding an identifier by its shape, or a date written as a birth date; "" when clean. With
    no one's records to compare with, a name passes."""
    kinds = identifiers_in_text(text) if text.strip() else []
    return screen_problem(kinds, what=what) if kinds else ""


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
    # A name spelt out a letter at a time: "S m i t h", "S.M.I.T.H".
    words |= {re.sub(r"[\s.-]+", "", m.group()) for m in _SPACED_LETTERS.finditer(text)}
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
