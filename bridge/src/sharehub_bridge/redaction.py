"""A row's own identifiers taken out of its free text, each replaced with a placeholder.

People type names into police summaries and case notes ("Jane Smith's mother called"). ShareHub
keeps identifiers only sealed, so a note naming the person would put the name in the record as
plain text, readable by everyone the record is shared with. RowValidator passes each free-text
column of a row through `IdentifierRedactor` built from that row's identifiers, so the bridge
(before anything leaves the agency) and the platform's ingest (for web and API uploads) store the
same redacted text.

Only the row's own identifiers are known here: another person named in a note (a parent, a
neighbour) is not an identifier of the row and stays as written.

Cost: this runs for every free-text value of every row of files with millions of rows, and most
notes hold none of the row's identifiers. So each identifier first has a plain substring test
that every written form of it passes (its letters, lower case and without accents, or its digits
in the note's digits); only a note that passes is searched with a regular expression, built once
per name or value and cached. The substring test only ever rules a note out when no written form
can be in it: nothing is left unredacted to save time.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache, partial
from typing import Any

from sharehub_bridge import normalise
from sharehub_bridge.nicknames import NICKNAMES

# The kinds of identifier found in free text, with the placeholder each is replaced by.
PLACEHOLDERS: dict[str, str] = {
    "name": "[name]",
    "date_of_birth": "[date of birth]",
    "nhs_number": "[NHS number]",
    "postcode": "[postcode]",
    "phone": "[phone]",
    "email": "[email]",
    "address": "[address]",
    "upn": "[UPN]",
    "pnc_id": "[PNC id]",
    "local_id": "[local id]",
}
# Every identifier field of definitions.IDENTIFIER_FIELDS is looked for, each as its own kind
# (the three name fields as "name"), and phone and email should a dataset map them; except
# gender: "male" in a note names nobody.
_NAME_FIELDS = ("forename", "surname", "other_names")
_LITERAL_ID_FIELDS = ("upn", "pnc_id", "local_id")

Span = tuple[int, int, str]
# Where a matcher's keys are looked for: in the note's folded letters, in its digits, or in
# the note as it is (a year is always written as one run of digits).
LETTERS, DIGITS, AS_WRITTEN = 0, 1, 2


# A matcher: its kind, where its keys are looked for (LETTERS, DIGITS, AS_WRITTEN), the keys
# (one of which is in every written form of the value), and find(value, text), the spans of the
# value's written forms in the text, with the value it is given. Patterns are built and
# compiled only in find, once a note has passed the substring test: most values (an NHS
# number, a date of birth) are one row's own, and compiling them for every row would cost more
# than all the rest. A plain tuple: one is made for each identifier of each row.
_Matcher = tuple[str, int, tuple[str, ...], Callable[[Any, str], Iterator[tuple[int, int]]], Any]


# --- Folding: the form the substring tests compare ---------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents: every written form of a name folds to contain its key."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _letter_classes() -> dict[str, str]:
    """Each ASCII letter as a regular expression class with its accented forms: "Zoe" typed for
    "Zoë", or the other way round, is the same name."""
    variants: dict[str, list[str]] = {c: [c] for c in string.ascii_lowercase}
    for code in range(0xC0, 0x250):
        character = chr(code).lower()
        base = unicodedata.normalize("NFD", character)[0]
        # len: "İ" lowers to "i" and a combining dot, which a class of characters cannot hold.
        if len(character) == 1 and base in variants and character not in variants[base]:
            variants[base].append(character)
    return {
        base: f"[{''.join(forms)}]" if len(forms) > 1 else base for base, forms in variants.items()
    }


_LETTER_CLASS = _letter_classes()
_APOSTROPHES = "'\u2019\u2018`\u00b4\u02bc\u2032"
_APOSTROPHE_TABLE = str.maketrans(dict.fromkeys(_APOSTROPHES[1:], "'"))
# O'Brien is also typed O’Brien, OBrien and O Brien.
_APOSTROPHE_PATTERN = rf"(?:[{_APOSTROPHES}]\s?|\s)?"
_NOT_LETTER_BEFORE = r"(?<![^\W\d_])"
_NOT_LETTER_AFTER = r"(?![^\W\d_])"
_LETTER_RUNS = re.compile(r"[^\W\d_]+")
_NOT_DIGITS = re.compile(r"\D+")


_NOT_DIGIT_BYTES = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)


def _digits(text: str) -> str:
    """The note's digits run together, so a number typed with spaces or dashes is found."""
    if text.isascii():
        return text.encode("ascii").translate(None, _NOT_DIGIT_BYTES).decode("ascii")
    return _NOT_DIGITS.sub("", text)


def _longest_run(folded: str) -> str:
    return max(_LETTER_RUNS.findall(folded), key=len, default="")


# --- Names --------------------------------------------------------------------------------------

# Two-letter names that are also English words ("Do", "Le", "An", "Oh" are surnames) are
# redacted only when written with a capital: redacting every "do" or "an" would leave a note
# unreadable, and "Do" in lower case is the word, not the person.
_TWO_LETTER_WORDS = frozenset(
    "ad ah al am an as at aw ax be by da do eh em en er ex go ha he hi ho id if in is it la lo "
    "ma me mo my no of oh ok on or ow ox pa pi re so to uh um up us we ye yo".split()
)
_NAME_SPLIT = re.compile(r"[\s\-\u2010-\u2015\u2212/]+")
_NAME_EDGES = "".join(c for c in string.punctuation if c not in "'") + "\u201c\u201d"


def _name_words(name: str) -> list[str]:
    """The words of a name as typed, folded, with their edging punctuation (quotes, brackets,
    full stops) gone and apostrophes made ASCII."""
    words = []
    for raw in _NAME_SPLIT.split(_fold(name.translate(_APOSTROPHE_TABLE))):
        word = raw.strip(_NAME_EDGES).strip("'")
        if any(c.isalpha() for c in word):
            words.append(word)
    return words


def _word_pattern(word: str, *, capitalised: bool = False) -> str:
    """A folded word as a pattern matching the ways it is typed: any case, with or without its
    accents and apostrophes. `capitalised`: only with its first letter in capitals."""
    parts = []
    index = 0
    while index < len(word):
        character = word[index]
        index += 1
        if character == "s" and word[index : index + 1] == "s" and index > 1:
            # Folding wrote "ß" as "ss" (Strauß, Strauss); a note may have either.
            parts.append("(?:ss|\u00df)")
            index += 1
        elif character == "'":
            parts.append(_APOSTROPHE_PATTERN)
        elif capitalised and index == 1 and character in _LETTER_CLASS:
            forms = _LETTER_CLASS[character].strip("[]")
            parts.append(f"(?-i:[{forms.upper()}])")
        elif character in _LETTER_CLASS:
            parts.append(_LETTER_CLASS[character])
        else:
            parts.append(re.escape(character))
    return "".join(parts)


def _meaningful(word: str, *, alone: bool) -> bool:
    """Whether a word of a name is redacted on its own: not a title ("Mr"), a suffix ("Jr"), a
    placeholder ("Baby", "Unknown") or a lone initial, which in a note are words of the
    language or name nobody; nor a particle ("de", "van") beside other words, though one that
    is the whole name (the surname "Do") is the name."""
    bare = word.replace("'", "")
    return (
        len(bare) > 1
        and bare not in normalise.NAME_TITLES
        and bare not in normalise.NAME_SUFFIXES
        and (alone or bare not in normalise.SURNAME_PARTICLES)
        and not normalise.name_is_placeholder(bare)
    )


def _nicknames_of() -> dict[str, set[str]]:
    """Each full forename with the nicknames it goes by (Robert: Bob, Rob, Bobby...)."""
    known: dict[str, set[str]] = {}
    for nickname, full_names in NICKNAMES.items():
        for full in full_names:
            known.setdefault(full, set()).add(nickname)
    return known


_NICKNAMES_OF = _nicknames_of()


@lru_cache(maxsize=16_384)
def _name_matcher(
    name: str, *, forename: bool, surname: bool
) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(keys, pattern, starts) for one name field's value; ((), "", ()) when nothing in it is
    redacted. `starts`: the letters each way of writing it starts with (_name_find).

    The whole name is matched as one phrase first ("De Souza", "Smith-Jones", "Smith Jones"),
    then each meaningful word of it on its own ("Smith", "Jones"), as a whole word in any case:
    "Ann" is not redacted in "Annual". A surname also in its plural ("the Smiths"). A forename
    also by its nicknames and full forms (Robert: Bob; Bob: Robert), but only written with a
    capital, since many nicknames are words too (Will, Bill, Pat). Cached: names repeat from
    row to row, and most rows pay only for the cache look-up.
    """
    alternatives: dict[str, str] = {}  # pattern -> key
    starts: set[str] = set()
    other_forms: set[str] = set()
    for alias in name.split(","):
        words = _name_words(alias)
        alone = len(words) == 1
        if not alone and any(_meaningful(w, alone=False) for w in words):
            phrase = r"[\s\-\u2010-\u2015]+".join(_word_pattern(w) for w in words)
            alternatives[phrase] = _longest_run(" ".join(words))
            starts.add(_first_run(words[0]))
        for word in words:
            if not _meaningful(word, alone=alone):
                continue
            starts.add(_first_run(word))
            if len(word) == 2 and word in _TWO_LETTER_WORDS:
                alternatives[_word_pattern(word, capitalised=True)] = word
            else:
                plural = "(?:e?s)?" if surname else ""
                alternatives[_word_pattern(word) + plural] = _longest_run(word)
        if forename and words:
            plain = normalise.name_normalise(words[0])
            other_forms |= _NICKNAMES_OF.get(plain, set()) | set(NICKNAMES.get(plain, ()))
    for form in sorted(other_forms):
        if len(form) > 1:
            alternatives.setdefault(_word_pattern(form, capitalised=True), form)
            starts.add(form)
    if not alternatives:
        return (), "", ()
    # Longest first, so "Smith-Jones" is one placeholder rather than two.
    ordered = sorted(alternatives, key=len, reverse=True)
    pattern = f"{_NOT_LETTER_BEFORE}(?:{'|'.join(ordered)}){_NOT_LETTER_AFTER}"
    keys = tuple(dict.fromkeys(key for key in alternatives.values() if key))
    return keys, pattern, tuple(sorted(start for start in starts if start))


def _first_run(word: str) -> str:
    match = _LETTER_RUNS.match(word)
    return match.group() if match else ""


def _name_find(value: tuple[str, tuple[str, ...]], text: str) -> Iterator[tuple[int, int]]:
    """The spans of a name's written forms. A short name passes the substring test inside
    other words ("Ed" in "attended"), so in a note in ASCII (where lower case keeps every
    letter where it was) the search runs only if some form's first letters start a word."""
    pattern, starts = value
    if text.isascii():
        lowered = text.lower()
        if not any(_starts_a_word(lowered, start) for start in starts):
            return iter(())
    return _spans(pattern, text)


def _starts_a_word(lowered: str, start: str) -> bool:
    at = lowered.find(start)
    while at != -1:
        if at == 0 or not lowered[at - 1].isalpha():
            return True
        at = lowered.find(start, at + 1)
    return False


@lru_cache(maxsize=16_384)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _spans(pattern: str, text: str) -> Iterator[tuple[int, int]]:
    return (match.span() for match in _compiled(pattern).finditer(text))


# --- Dates of birth -----------------------------------------------------------------------------

_MONTH = (
    r"(?<![^\W\d_])(?P<{}>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|"
    r"aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![^\W\d_])\.?"
)
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?P<{}>\d{{4}}|'?\d{{2}})"
# Every common way of writing a date, found once in a note and then compared with the date of
# birth: 01/02/2010, 1/2/10, 01.02.2010, 01-02-2010, 01 02 2010, 2010-02-01, 1 Feb 2010,
# 1st of February 2010, 1-Feb-10, February 1st, 2010, Feb 1 2010, 01022010 and 20100201.
_DATES = re.compile(
    r"(?<!\d)(?:"
    r"(?P<a>\d{1,4})\s*(?P<sep>[/.\-\u2010-\u2015_|\\])\s*(?P<b>\d{1,2})\s*(?P=sep)\s*"
    r"(?P<c>\d{4}|\d{2})"
    r"|(?P<sa>\d{1,2})\s(?P<sb>\d{1,2})\s(?P<sc>\d{4}|\d{2})"
    rf"|(?P<nd>\d{{1,2}}){_ORDINAL}(?:\s+of)?[\s\-./,]*{_MONTH.format('nm')}[\s\-./,]*"
    + _YEAR.format("ny")
    + rf"|{_MONTH.format('mn')}[\s\-./,]*(?P<md>\d{{1,2}}){_ORDINAL},?[\s\-./,]*"
    + _YEAR.format("my")
    + r"|(?P<compact>\d{8})"
    r")(?!\d)",
    re.IGNORECASE,
)
_MONTH_NUMBERS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}


def _year_is(written: str, year: int) -> bool:
    written = written.lstrip("'")
    return int(written) == (year if len(written) == 4 else year % 100)


def _date_is(match: re.Match[str], dob: tuple[int, int, int], order: str) -> bool:
    """Whether a date found in a note is the date of birth, read as the file reads dates."""
    year, month, day = dob
    groups = match.groupdict()
    if groups["a"] is not None:
        first, second, last = groups["a"], groups["b"], groups["c"]
        if len(first) == 4:
            return len(last) <= 2 and (int(first), int(second), int(last)) == dob
        if len(first) == 3:
            return False
        return _year_is(last, year) and (day, month) in _day_month(int(first), int(second), order)
    if groups["sa"] is not None:
        pair = _day_month(int(groups["sa"]), int(groups["sb"]), order)
        return _year_is(groups["sc"], year) and (day, month) in pair
    if groups["nd"] is not None:
        named = _MONTH_NUMBERS[groups["nm"][:3].lower()]
        return _year_is(groups["ny"], year) and (int(groups["nd"]), named) == (day, month)
    if groups["mn"] is not None:
        named = _MONTH_NUMBERS[groups["mn"][:3].lower()]
        return _year_is(groups["my"], year) and (int(groups["md"]), named) == (day, month)
    compact = groups["compact"]
    written = {
        (int(compact[:4]), int(compact[4:6]), int(compact[6:])),
        *(
            (int(compact[4:]), m, d)
            for d, m in _day_month(int(compact[:2]), int(compact[2:4]), order)
        ),
    }
    return dob in written


def _day_month(first: int, second: int, order: str) -> tuple[tuple[int, int], ...]:
    """(day, month) readings of two numbers in the file's order; also the other way round when
    the file's reading is no date (06/19/2010 in a day-first file), as dob_read repairs it."""
    day, month = (first, second) if order == normalise.DOB_ORDER_DAY_FIRST else (second, first)
    if month > 12:
        return ((day, month), (month, day))
    return ((day, month),)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _dob_matcher(value: str, order: str) -> _Matcher | None:
    if not _ISO_DATE.fullmatch(value):
        # Only a whole date is looked for: a year, or a month and year, kept from a damaged
        # date of birth would redact every other date of that year or month in the note.
        return None
    return ("date_of_birth", AS_WRITTEN, (value[2:4],), _dob_find, (value, order))


def _dob_find(value: tuple[str, str], text: str) -> Iterator[tuple[int, int]]:
    written, order = value
    dob = (int(written[:4]), int(written[5:7]), int(written[8:]))
    return (m.span() for m in _DATES.finditer(text) if _date_is(m, dob, order))


# --- Numbers: NHS number, phone -----------------------------------------------------------------

# Between digits: spaces, the dashes word processors type (en, em, non-breaking, soft hyphen),
# dots, slashes, brackets, underscores and commas, up to five of them ("943  -  476  -  5919").
_SEPARATOR_CHARACTERS = r"\s\-\u2010-\u2015\u00ad./()_,"
_DIGIT_SEPARATOR = rf"[{_SEPARATOR_CHARACTERS}]{{0,5}}"


def _digits_pattern(digits: str) -> str:
    """The digits with any spacing, dashes or dots between them: 943 476 5919, 943-476-5919."""
    return _DIGIT_SEPARATOR.join(digits)


def _nhs_matcher(value: str, order: str) -> _Matcher | None:
    digits = value if value.isdigit() else normalise.digits_only(value)
    if len(digits) < 6:
        return None
    return ("nhs_number", DIGITS, (digits,), _digits_find, digits)


_DIGIT = re.compile(r"\d")
_SEPARATOR = re.compile(_DIGIT_SEPARATOR)


def _digits_find(digits: str, text: str) -> Iterator[tuple[int, int]]:
    """The spans of `digits` in the text with up to three spaces, dashes, dots or brackets
    between any two of them, as _digits_pattern would match them. Found among the note's digits
    rather than with a pattern of the number's own: an NHS number is one row's, and compiling a
    pattern for it would cost more than the rest of the row."""
    positions = [match.start() for match in _DIGIT.finditer(text)]
    run = "".join(text[position] for position in positions)
    last = -1
    start = run.find(digits)
    while start != -1:
        chosen = positions[start : start + len(digits)]
        if chosen[0] >= last and all(
            _SEPARATOR.fullmatch(text, before + 1, after)
            for before, after in zip(chosen, chosen[1:], strict=False)
        ):
            last = chosen[-1] + 1
            yield chosen[0], last
        start = run.find(digits, start + 1)


def _phone_matcher(value: str, order: str) -> _Matcher | None:
    digits = normalise.phone_digits(value)
    if len(digits) < 6:
        return None
    if digits.startswith("0"):
        return ("phone", DIGITS, (digits[1:],), _uk_phone_find, digits[1:])
    return ("phone", DIGITS, (digits,), _digits_find, digits)


_UK_PREFIX = r"(?:(?:\+|00)\s?44\s?(?:\(0\)\s?)?|\(?0\)?\s?)?"


def _uk_phone_find(core: str, text: str) -> Iterator[tuple[int, int]]:
    # 07700 900123, +44 7700 900123, +44 (0)7700 900123, 0044 7700 900123, (01632) 960001
    return _spans(_UK_PREFIX + _digits_pattern(core), text)


# --- Postcode, email, address, other ids -------------------------------------------------------

_ALNUM_RUNS = re.compile(r"[^\W_]+")
_NOT_ALNUM_BEFORE = r"(?<![^\W_])"
_NOT_ALNUM_AFTER = r"(?![^\W_])"


def _postcode_matcher(value: str, order: str) -> _Matcher | None:
    # Only a postcode in shape (postcode_normalise writes it "LS6 2AB"): what else a postcode
    # column holds ("NFA", "UNKNOWN") is no postcode, and those words are left in notes.
    if len(value) < 6 or value[-4] != " ":
        return None
    outward, inward = value[:-4].lower(), value[-3:].lower()
    return ("postcode", LETTERS, (inward,), _postcode_find, (outward, inward))


def _postcode_find(halves: tuple[str, str], text: str) -> Iterator[tuple[int, int]]:
    # LS1 4AB, ls14ab, LS1  4AB: any case, any spacing between its two halves.
    outward, inward = halves
    pattern = rf"{re.escape(outward)}[\s\-\u2010-\u2015\u00ad_/.:]*{re.escape(inward)}"
    return _spans(f"{_NOT_ALNUM_BEFORE}{pattern}{_NOT_ALNUM_AFTER}", text)


def _email_matcher(value: str, order: str) -> _Matcher | None:
    email = value.strip()
    if "@" not in email:
        return None
    return ("email", LETTERS, (_fold(email),), _escaped_find, email)


def _escaped_find(literal: str, text: str) -> Iterator[tuple[int, int]]:
    return _spans(re.escape(literal), text)


# Street types as they are written in full and abbreviated: "12 High St" is "12 High Street".
_STREET_TYPES = [
    ("street", "st", "str"),
    ("road", "rd"),
    ("avenue", "ave", "av"),
    ("lane", "ln"),
    ("drive", "dr", "drv"),
    ("close", "cl"),
    ("court", "ct"),
    ("crescent", "cres", "cresc"),
    ("place", "pl"),
    ("gardens", "gdns", "gdn"),
    ("terrace", "terr", "tce"),
    ("square", "sq"),
    ("grove", "gr", "gro"),
    ("park", "pk"),
    ("mount", "mt"),
    ("house", "ho"),
    ("flat", "flt"),
    ("apartment", "apt"),
]
_STREET_FORMS = {form: group for group in _STREET_TYPES for form in group}


@lru_cache(maxsize=4096)
def _address_matcher(line: str) -> tuple[tuple[str, ...], str]:
    """(keys, pattern) of an address line: its words in order, whatever the punctuation between
    them, street types in full or abbreviated. A line that is only a number is left alone."""
    words = _ALNUM_RUNS.findall(_fold(line))
    if not words or all(w.isdigit() for w in words) or len("".join(words)) < 3:
        return (), ""
    parts = []
    for word in words:
        forms = _STREET_FORMS.get(word)
        if forms:
            parts.append(f"(?:{'|'.join(sorted(forms, key=len, reverse=True))})")
        else:
            parts.append(_word_pattern(word))
    pattern = rf"[\s,.\-/{_APOSTROPHES}]*".join(parts)
    keys_from = [w for w in words if w not in _STREET_FORMS] or [
        min(forms, key=len) for forms in (_STREET_FORMS[w] for w in words)
    ]
    return (max(keys_from, key=len),), f"{_NOT_ALNUM_BEFORE}{pattern}{_NOT_ALNUM_AFTER}"


def _literal_id_matcher(kind: str, value: str, order: str) -> _Matcher | None:
    """A UPN, PNC id or local id as typed, in any case, with or without its separators."""
    runs = _ALNUM_RUNS.findall(_fold(value))
    joined = "".join(runs)
    if len(joined) < 3 or not any(c.isdigit() for c in joined):
        # One or two characters identify nobody and are in every note; an id with no digit
        # ("UNKNOWN", "NONE") is a word a system put there, not an id.
        return None
    key = max(runs, key=len)
    space = DIGITS if key.isdigit() else LETTERS
    return (kind, space, (key,), _id_find, tuple(runs))


def _id_find(runs: tuple[str, ...], text: str) -> Iterator[tuple[int, int]]:
    pattern = r"[\s/\-.]?".join(re.escape(run) for run in runs)
    return _spans(f"{_NOT_ALNUM_BEFORE}{pattern}{_NOT_ALNUM_AFTER}", text)


# --- The row ------------------------------------------------------------------------------------


@lru_cache(maxsize=16_384)
def _name_matchers(value: str, field: str) -> tuple[_Matcher, ...]:
    keys, pattern, starts = _name_matcher(
        value, forename=field == "forename", surname=field == "surname"
    )
    return (("name", LETTERS, keys, _name_find, (pattern, starts)),) if keys else ()


@lru_cache(maxsize=4096)
def _address_matchers(value: str) -> tuple[_Matcher, ...]:
    matchers = []
    for line in value.split(","):
        keys, pattern = _address_matcher(line.strip())
        if keys:
            matchers.append(("address", LETTERS, keys, _spans, pattern))
    return tuple(matchers)


_VALUE_MATCHERS: dict[str, Callable[[str, str], _Matcher | None]] = {
    "date_of_birth": _dob_matcher,
    "nhs_number": _nhs_matcher,
    "postcode": _postcode_matcher,
    "phone": _phone_matcher,
    "email": _email_matcher,
    **{field: partial(_literal_id_matcher, field) for field in _LITERAL_ID_FIELDS},
}


def _matchers(identifiers: dict[str, str], dob_order: str) -> list[_Matcher]:
    matchers: list[_Matcher] = []
    for field, value in identifiers.items():
        if not value:
            continue
        if field == "nhs_number" and len(value) == 10 and value.isdigit():
            # The usual NHS number, read as ten digits: made here without a call, as every row
            # of a health extract has one.
            matchers.append(("nhs_number", DIGITS, (value,), _digits_find, value))
        elif field in _NAME_FIELDS:
            matchers.extend(_name_matchers(value, field))
        elif field == "address":
            matchers.extend(_address_matchers(value))
        elif (build := _VALUE_MATCHERS.get(field)) is not None and (
            matcher := build(value, dob_order)
        ) is not None:
            matchers.append(matcher)
    return matchers


class IdentifierRedactor:
    """One row's identifiers, ready to be taken out of that row's free text.

    `identifiers`: the row's values as RowValidator read them (forename, surname, other names,
    date of birth as YYYY-MM-DD, NHS number, postcode, address lines, ids; phone and email
    should a dataset map them). `dob_order`: the file's order of day and month, so that
    02/01/2010 in a month-first file is read as the 1st of February.
    """

    __slots__ = ("_matchers",)

    def __init__(
        self, identifiers: dict[str, str], *, dob_order: str = normalise.DOB_ORDER_DAY_FIRST
    ):
        self._matchers = _matchers(identifiers, dob_order)

    def redact(self, text: str) -> tuple[str, list[str]]:
        """The text with each of the row's identifiers in it replaced by its placeholder, and
        the kind of each replaced (empty, with the text itself, when there were none)."""
        if not self._matchers or not text:
            return text, []
        # The note folded, its digits, and as it is: each made once, when first needed.
        haystacks: list[str | None] = [None, None, text]
        spans: list[Span] = []
        for kind, space, keys, find, value in self._matchers:
            haystack = haystacks[space]
            if haystack is None:
                haystack = haystacks[space] = _fold(text) if space == LETTERS else _digits(text)
            for key in keys:
                if key in haystack:
                    spans.extend((start, end, kind) for start, end in find(value, text))
                    break
        if not spans:
            return text, []
        return _replace(text, spans)


def _replace(text: str, spans: list[Span]) -> tuple[str, list[str]]:
    """Replace the spans, earliest and longest first; spans that overlap are joined into one
    placeholder (of the first), so no part of either identifier is left behind."""
    spans.sort(key=lambda span: (span[0], span[0] - span[1]))
    pieces: list[str] = []
    kinds: list[str] = []
    last_end = 0
    for start, end, kind in spans:
        if end <= start:
            continue
        if start < last_end:  # overlaps the placeholder before it: taken in with it
            last_end = max(last_end, end)
            continue
        pieces.append(text[last_end:start])
        pieces.append(PLACEHOLDERS[kind])
        kinds.append(kind)
        last_end = end
    pieces.append(text[last_end:])
    return "".join(pieces), kinds
