"""The errors real extracts carry, as small pure functions and a table of rates.

DOMAIN.md lists what makes linkage hard roughly in order of harm; each error here is one of those,
at a rate that can be set per run. Rates split in two kinds because real errors do:

- persistent errors belong to an agency's registration of a person and repeat on every row of it
  (a nickname typed once at registration, a wrong NHS number in the patient index, a parent's date
  of birth copied onto a child's record), and a second registration of the same person is how
  duplicates inside one agency arise;
- transient errors are keying slips on a single row (a typo, a blank, a postcode typed without its
  space).

Every function takes the random source explicitly so that a seed reproduces the same errors.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from functools import lru_cache

from synthetic import names


@dataclass(frozen=True)
class NoiseRates:
    """How often each kind of error occurs; 0 switches it off.

    Persistent rates are per agency registration of a person, transient rates per field per row.
    Defaults are plausible for case-management and hospital extracts, not measured from any.
    """

    # persistent, per registration
    nickname: float = 0.07
    phonetic: float = 0.03
    middle_name_as_forename: float = 0.02
    name_order_swapped: float = 0.004  # forename and surname keyed the wrong way round
    surname_variant: float = 0.04  # hyphen or space, one half of a double barrel, apostrophe
    dob_day_month_swap: float = 0.015  # only possible when the day is 12 or less
    dob_wrong: float = 0.01  # off by a day or a year, or two digits transposed
    parent_dob_on_child: float = 0.01
    nhs_wrong: float = 0.02  # mostly a keying slip (fails mod 11), some a relative's number
    nhs_missing: float = 0.05
    duplicate_record: float = 0.03  # a second registration of the same person in one agency
    # transient, per row or per field
    typo: float = 0.015
    ocr: float = 0.004
    blank: float = 0.01
    postcode_format: float = 0.12  # no space, lower case or both
    address_format: float = 0.15  # abbreviated street type, locality left out
    newborn_placeholder: float = 0.6  # "Baby" in the first six weeks, in health records
    unknown_placeholder: float = 0.003  # "Unknown" / "Not Known" for an unidentified patient
    dob_missing_police: float = 0.10  # intelligence records without a date of birth
    alternate_date_format: float = 0.02  # a row from another system with another date format

    @classmethod
    def none(cls) -> NoiseRates:
        """No errors at all: every row carries the truth (useful to test the truth itself)."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def scaled(self, factor: float) -> NoiseRates:
        """Every rate multiplied by `factor` (capped at 1), for cleaner or dirtier runs."""
        return replace(
            self, **{f.name: min(1.0, getattr(self, f.name) * factor) for f in fields(self)}
        )


_LOWER = "abcdefghijklmnopqrstuvwxyz"
# Neighbouring keys on a UK QWERTY keyboard: a substitution typo is usually an adjacent key.
_KEY_NEIGHBOURS = {
    "q": "wa",
    "w": "qes",
    "e": "wrd",
    "r": "etf",
    "t": "ryg",
    "y": "tuh",
    "u": "yij",
    "i": "uok",
    "o": "ipl",
    "p": "ol",
    "a": "qsz",
    "s": "awdz",
    "d": "sefx",
    "f": "drgc",
    "g": "fthv",
    "h": "gyjb",
    "j": "hukn",
    "k": "jilm",
    "l": "kop",
    "z": "asx",
    "x": "zsdc",
    "c": "xdfv",
    "v": "cfgb",
    "b": "vghn",
    "n": "bhjm",
    "m": "njk",
}


def typo(rng: random.Random, s: str) -> str:
    """One keying slip: a letter inserted, dropped, hit next to, or two letters swapped."""
    n = len(s)
    if n < 2:
        return s
    kind = rng.random()
    i = rng.randrange(n)
    if kind < 0.25:
        return s[:i] + rng.choice(_LOWER) + s[i:]
    if kind < 0.5:
        return s[:i] + s[i + 1 :]
    if kind < 0.75:
        char = s[i]
        neighbours = _KEY_NEIGHBOURS.get(char.lower())
        if not neighbours:
            return s[:i] + s[i + 1 :]
        new = rng.choice(neighbours)
        return s[:i] + (new.upper() if char.isupper() else new) + s[i + 1 :]
    i = min(i, n - 2)
    if s[i] == s[i + 1]:
        return s[:i] + s[i + 1 :]
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


# What a scanner or a tired eye reads instead: digits for letters and letters for digits.
_OCR_CONFUSIONS = (
    ("rn", "m"),
    ("m", "rn"),
    ("cl", "d"),
    ("0", "O"),
    ("O", "0"),
    ("o", "0"),
    ("1", "l"),
    ("l", "1"),
    ("I", "1"),
    ("5", "S"),
    ("S", "5"),
    ("8", "B"),
    ("B", "8"),
    ("2", "Z"),
    ("6", "G"),
)


def ocr(rng: random.Random, s: str) -> str:
    """One optical-character confusion (0/O, 1/l, rn/m, ...) if the string offers one."""
    candidates = [
        (i, wrong, right) for wrong, right in _OCR_CONFUSIONS for i in _find_all(s, wrong)
    ]
    if not candidates:
        return s
    i, wrong, right = rng.choice(candidates)
    return s[:i] + right + s[i + len(wrong) :]


def _find_all(s: str, sub: str) -> list[int]:
    found = []
    i = s.find(sub)
    while i != -1:
        found.append(i)
        i = s.find(sub, i + 1)
    return found


def nhs_mistyped(rng: random.Random, nhs: str) -> str:
    """A keying slip in an NHS number: a wrong digit or two different neighbours swapped.

    Both always fail the modulus 11 check (sharehub_bridge.identifiers): that is what it is for.
    """
    digits = list(nhs)
    if rng.random() < 0.5:
        pairs = [i for i in range(9) if digits[i] != digits[i + 1]]
        if pairs:
            i = rng.choice(pairs)
            digits[i], digits[i + 1] = digits[i + 1], digits[i]
            return "".join(digits)
    i = rng.randrange(10)
    digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
    return "".join(digits)


def dob_day_month_swapped(dob: date) -> date | None:
    """The date with day and month exchanged, or None when that is not a different real date."""
    if dob.day > 12 or dob.day == dob.month:
        return None
    return date(dob.year, dob.day, dob.month)


def dob_wrong(rng: random.Random, dob: date) -> date:
    """A plausible wrong date of birth: a year or a few days out, or the year's digits swapped."""
    x = rng.random()
    if x < 0.45:
        year = dob.year + rng.choice((-1, 1))
    elif x < 0.65:
        swapped = dob.year - dob.year % 100 + (dob.year % 10) * 10 + (dob.year // 10) % 10
        year = swapped if swapped != dob.year and swapped <= 2026 else dob.year - 1
    else:
        return dob + timedelta(days=rng.choice((-3, -2, -1, 1, 2, 3, 10, -10)))
    try:
        return dob.replace(year=year)
    except ValueError:  # 29 February
        return dob.replace(year=year, day=28)


def postcode_formatted(rng: random.Random, postcode: str) -> str:
    """The postcode as some systems store it: without its space, in lower case, or both."""
    x = rng.random()
    if x < 0.6:
        return postcode.replace(" ", "")
    if x < 0.85:
        return postcode.lower()
    return postcode.replace(" ", "").lower()


def address_formatted(rng: random.Random, line_1: str) -> str:
    """A street line as another clerk keyed it: street type abbreviated or flat number reshaped."""
    if line_1.startswith("Flat ") and rng.random() < 0.5:
        flat, _, rest = line_1[5:].partition(", ")
        return f"{flat}/{rest}" if rng.random() < 0.5 else f"{rest} Flat {flat}"
    head, _, suffix = line_1.rpartition(" ")
    short = names.STREET_ABBREVIATIONS.get(suffix)
    if short is None:
        return line_1.lower() if rng.random() < 0.3 else line_1
    return f"{head} {short}" if rng.random() < 0.7 else f"{head} {short}."


def surname_varied(rng: random.Random, surname: str) -> str:
    """Another way the same surname gets written (O'Brien/OBrien, Smith-Jones/Jones, Reid/Read)."""
    if "-" in surname:
        first, _, second = surname.partition("-")
        return rng.choice((f"{first} {second}", first, second, f"{first}{second.lower()}"))
    if "'" in surname:
        return rng.choice(
            (surname.replace("'", ""), surname.replace("'", " "), surname.replace("'", "\u2019"))
        )
    if surname.startswith("Mc") or surname.startswith("Mac"):
        return rng.choice((surname[0] + surname[1:].lower(), surname.replace("Mc", "Mc ", 1)))
    variants = names.SURNAME_VARIANTS.get(surname)
    if variants:
        return rng.choice(variants)
    return typo(rng, surname)


def forename_familiar(rng: random.Random, forename: str) -> str | None:
    """A nickname for `forename` (Bob for Robert), or None if it has none."""
    nicknames = names.NICKNAMES.get(forename)
    return rng.choice(nicknames) if nicknames else None


def forename_phonetic(rng: random.Random, forename: str) -> str | None:
    """A same-sounding spelling of `forename` (Steven for Stephen), or None if none is listed."""
    variants = names.FORENAME_VARIANTS.get(forename)
    return rng.choice(variants) if variants else None


@lru_cache(maxsize=4096)
def ascii_folded(s: str) -> str:
    """Diacritics dropped (Łukasz -> Lukasz), as older systems limited to ASCII store names."""
    # Ł and ł have no decomposition, so NFKD alone would drop them entirely.
    s = s.replace("Ł", "L").replace("ł", "l").replace("\u2019", "'")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
