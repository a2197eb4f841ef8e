"""Normalisation of identifiers and dates: the one place that decides how values are read.

Ingest calls these before anything is sealed or hashed, so the same person written two ways in
two extracts ends up with the same normalised value. The matching issue extends this module
(names, nicknames, address lines); its functions keep these signatures.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from sharehub_bridge.identifiers import nhs_number_is_valid, upn_is_valid
from sharehub_bridge.nicknames import NICKNAMES

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

DATE_FORMATS_HELP = "YYYY-MM-DD, DD/MM/YYYY, DD-Mon-YYYY or YYYYMMDD"
_COMPACT_YEAR_FIRST = re.compile(r"(1[89]\d\d|20\d\d)(\d\d)(\d\d)")


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
        elif match := _COMPACT_YEAR_FIRST.fullmatch(text):
            # 20150301: year first is the only compact form that is not ambiguous.
            year, month, day = (int(part) for part in match.groups())
        else:
            return None
        return date(year, month, day)
    except ValueError:
        return None


# --- Dates of birth as agencies really write them ---------------------------------------------
# A date of birth is an identifier, and a damaged one still says something: the year, the month,
# the digits under an OCR slip. Ingest must never lose a record about a child for a typo in a date
# (LINKAGE.md), so dob_read keeps whatever can be used and says what it repaired; linkage then
# compares the part that survived at a lower level.

DOB_ORDER_DAY_FIRST = "dmy"
DOB_ORDER_MONTH_FIRST = "mdy"
# Why a date of birth was not read exactly as written; the words finish "Dates of birth ...".
DOB_REPAIRS = {
    "swapped": "had day and month the other way round from the rest of the file (such as "
    "06/19/1968 in a day-first file), and were read with them swapped back",
    "ocr": "had letters or marks where digits belong (O for 0, l or | for 1, Z for 2, S for 5, "
    "G for 6, B for 8), and were read as those digits",
    "impossible_day": "named a day that does not exist (31/02/1990, 00/02/1967), so only the "
    "month and year were kept",
    "year_only": "could be read only as far as the year, which was kept",
    "unreadable": "could not be read at all, so the records were loaded without a date of birth",
}
# Characters that scanners and tired eyes put in place of digits (LINKAGE.md).
_OCR_DIGITS = str.maketrans(
    {
        **dict.fromkeys("OoQD", "0"),
        **dict.fromkeys("lIi|!L", "1"),
        **dict.fromkeys("Zz", "2"),
        **dict.fromkeys("Ss", "5"),
        **dict.fromkeys("Gb", "6"),
        "B": "8",
        **dict.fromkeys("gq", "9"),
    }
)
_TIME_TAIL = re.compile(r"[T ]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?$")
_YMD = re.compile(r"(\d{4})[-/. ](\d{1,2})[-/. ](\d{1,2})")
_XXY = re.compile(r"(\d{1,2})[/.\- ](\d{1,2})[/.\- ](\d{4})")
_EIGHT = re.compile(r"\d{8}")
_OCR_CHARACTERS = "0-9OoQDlIi|!LZzSsGbBgq"
_DAY_MONTH_NAME_OCR = re.compile(
    rf"([{_OCR_CHARACTERS}]{{1,2}})[\- ]([A-Za-z]{{3,9}})[\- ,]+([{_OCR_CHARACTERS}]{{4}})"
)
_YEAR_ANYWHERE = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
_EARLIEST_BIRTH_YEAR = 1880


@dataclass(frozen=True)
class DobReading:
    """A date of birth as far as it could be read: "YYYY-MM-DD", "YYYY-MM", "YYYY" or "", and
    what was repaired on the way (keys of DOB_REPAIRS), empty when it was read as written."""

    value: str
    repairs: tuple[str, ...] = ()


def _year_ok(year: int) -> bool:
    # A year beyond next year is a slip, whatever the server's time zone says today is.
    return _EARLIEST_BIRTH_YEAR <= year <= date.today().year + 1  # noqa: DTZ011


def _dob_from_parts(year: int, first: int, second: int, order: str) -> DobReading:
    """(first, second) are day and month in the file's order; repair a swap or keep a part."""
    day, month = (first, second) if order == DOB_ORDER_DAY_FIRST else (second, first)
    if not _year_ok(year):
        return DobReading("", ("unreadable",))
    for d, m, repairs in ((day, month, ()), (month, day, ("swapped",))):
        try:
            return DobReading(date(year, m, d).isoformat(), repairs)
        except ValueError:
            continue
    if 1 <= month <= 12:
        return DobReading(f"{year:04d}-{month:02d}", ("impossible_day",))
    return DobReading(f"{year:04d}", ("year_only",))


def _dob_numeric(text: str, order: str) -> DobReading | None:
    if match := _YMD.fullmatch(text):
        year, month, day = (int(part) for part in match.groups())
        return _dob_from_parts(year, day, month, DOB_ORDER_DAY_FIRST)
    if match := _XXY.fullmatch(text):
        first, second, year = (int(part) for part in match.groups())
        return _dob_from_parts(year, first, second, order)
    if _EIGHT.fullmatch(text):
        # 19561302 is year first with a slip, 19121990 day first: the reading needing fewer
        # repairs wins, year first when they tie.
        readings = [_dob_from_parts(int(text[4:]), int(text[:2]), int(text[2:4]), order)]
        if _COMPACT_YEAR_FIRST.fullmatch(text):
            readings.insert(0, _dob_from_parts(int(text[:4]), int(text[6:]), int(text[4:6]), "dmy"))
        return min(readings, key=lambda r: (not r.value, len(r.repairs), -len(r.value)))
    return None


def dob_read(text: str, *, order: str = DOB_ORDER_DAY_FIRST) -> DobReading:
    """Read a date of birth however it was written, keeping what can be used.

    `order` is the file's order of day and month where they are written as numbers
    (date_order_detect finds it). A date keyed the other way round is swapped back when only
    that reading is a real date; OCR look-alikes are read as digits; an impossible day keeps
    the month and year; failing that, a four-digit year anywhere is kept. Never raises.
    """
    text = text.strip()
    if not text:
        return DobReading("")
    text = _TIME_TAIL.sub("", text).strip()
    if match := _DAY_MONTH_NAME.fullmatch(text):
        month = _MONTHS.get(match.group(2).lower())
        if month is not None:
            return _dob_from_parts(int(match.group(3)), int(match.group(1)), month, "dmy")
    if match := _DAY_MONTH_NAME_OCR.fullmatch(text):
        # "o4-Jun-2012", "30-Sep-20I7": look-alikes in the day and year, the month a word.
        month = _MONTHS.get(match.group(2).lower())
        day, year = (match.group(n).translate(_OCR_DIGITS) for n in (1, 3))
        if month is not None and day.isdigit() and year.isdigit():
            named = _dob_from_parts(int(year), int(day), month, "dmy")
            if named.value:
                return DobReading(named.value, ("ocr", *named.repairs))
    reading = _dob_numeric(text, order)
    if reading is not None:
        return reading
    repaired = text.translate(_OCR_DIGITS)
    if repaired != text:
        reading = _dob_numeric(repaired, order)
        if reading is not None and reading.value:
            return DobReading(reading.value, ("ocr", *reading.repairs))
    if match := _YEAR_ANYWHERE.search(repaired):
        if _year_ok(int(match.group(1))):
            return DobReading(match.group(1), ("year_only",))
    return DobReading("", ("unreadable",))


MONTH_FIRST_MIN = 5


def date_order_detect(values) -> str:
    """The order of day and month in a column of dates: month first only when the values say so.

    A value whose first number is over 12 can only be day first, and one whose second is over 12
    only month first. UK extracts are day first; a column is read month first when month-first
    values are at least five and 1 in 50 and outnumber day-first ones four to one, so a few dates
    keyed the American way in a UK file (which dob_read repairs one by one) do not turn the file.
    """
    day_first = month_first = seen = 0
    # Fewer month-first values than this say nothing of a whole file: one American date in a
    # small daily extract is repaired on its own row, not taken as the file's order.
    for value in values:
        text = value.strip()
        match = _XXY.fullmatch(text.split(" ")[0]) if text else None
        if match is None and _EIGHT.fullmatch(text) and not _COMPACT_YEAR_FIRST.fullmatch(text):
            match = re.fullmatch(r"(\d\d)(\d\d)(\d{4})", text)
        if match is None:
            continue
        seen += 1
        first, second = int(match.group(1)), int(match.group(2))
        day_first += first > 12 >= second
        month_first += second > 12 >= first
    if month_first >= max(seen / 50, MONTH_FIRST_MIN) and month_first > 4 * day_first:
        return DOB_ORDER_MONTH_FIRST
    return DOB_ORDER_DAY_FIRST


def text_clean(value: str) -> str:
    """Trim and collapse whitespace, and compose accents into one form (NFC)."""
    if value.isascii() and "  " not in value and value == value.strip() and value.isprintable():
        return value  # nothing to do, and most names are like this
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def postcode_normalise(value: str) -> str:
    """A UK postcode as 'OUTWARD INWARD' in capitals when it has that shape, else cleaned text."""
    return postcode_read(value)[0]


def postcode_read(value: str) -> tuple[str, bool]:
    """The postcode as postcode_normalise writes it, and whether it has a UK postcode's shape."""
    compact = _SPACES.sub("", value).upper()
    if match := _POSTCODE.match(compact):
        return f"{match.group(1)} {match.group(2)}", True
    return compact, False


_NOT_DIGITS = re.compile(r"[^0-9]+")


def digits_only(value: str) -> str:
    return _NOT_DIGITS.sub("", value)


def phone_digits(value: str) -> str:
    """A phone number's digits as dialled in the UK: +44 (and a "(0)" after it) read as 0."""
    value = value.strip()
    if value.startswith("+44"):
        value = "0" + value[3:].replace("(0)", "", 1)
    return digits_only(value)


def phone_is_uk(digits: str) -> bool:
    """A UK number as dialled: 0 then a non-zero digit, 10 or 11 digits in all."""
    return len(digits) in (10, 11) and digits[0] == "0" and digits[1] != "0"


def nhs_number_normalise(value: str) -> tuple[str, bool]:
    """The NHS number's ten digits, and whether its check digit is right."""
    digits = digits_only(value)
    return digits, nhs_number_is_valid(digits)


# --- Names ----------------------------------------------------------------------------------------
# Matching compares names written by different agencies' systems and staff, so everything that is
# spelling rather than identity goes: case, accents, titles, apostrophes, punctuation. The output is
# lower-case a-z words separated by single spaces, which is also what the keyed hashes are built on.

# Letters that NFKD does not decompose into a base letter plus combining marks.
_FOLD_SPECIAL = str.maketrans(
    {
        "æ": "ae",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "œ": "oe",
        "ı": "i",
        "ħ": "h",
        # Typographic apostrophes join like the ASCII one (O’Brien == O'Brien == OBrien).
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u02bb": "'",
        "\u00b4": "'",
        "\u2032": "'",
        # Unicode dashes and non-breaking spaces separate words like an ASCII hyphen or space.
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
    }
)
# ASCII after folding: letters stay, apostrophes and digits go, anything else separates words.
_NAME_TABLE = str.maketrans(
    {
        **{chr(i): " " for i in range(128) if not ("a" <= chr(i) <= "z")},
        **{ch: None for ch in "'`0123456789"},
    }
)

NAME_TITLES = frozenset(
    "mr mrs ms miss mx master mstr mister dr doctor rev revd reverend sir dame lady lord "
    "prof professor".split()
)
NAME_SUFFIXES = frozenset("jr jnr junior sr snr senior ii iii iv".split())
# A name made only of these words (digits already dropped: "Twin 1", "Baby 2") is a placeholder
# that a system or a busy practitioner keyed while the real name was not known.
_PLACEHOLDER_WORDS = frozenset(
    "baby babyboy babygirl infant unborn newborn twin triplet boy girl male female child unknown "
    "unk nk not known stated given recorded applicable provided none null unnamed anon anonymous "
    "tbc tba xx xxx zz zzz "
    # What a form or a busy call handler puts where the name should be: the person's role
    # ("Patient", "Occupier", "Respondent"), their relation to someone named elsewhere
    # ("Mother", "Grandchild"), a refusal ("Don't know", "Declined"), a test record.
    "adult minor juvenile person patient client resident occupier occupant householder "
    "respondent applicant claimant caller victim witness suspect offender mother father "
    "brother sister sibling grandchild grandson granddaughter grandmother grandfather "
    "grandparent husband wife spouse parent guardian carer relative dont know refused "
    "declined withheld test dummy noname nameless name no the".split()
)
# A title or salutation alone ("Mr", "Senor", "Madam") names nobody: the name was not taken.
_SALUTATIONS = NAME_TITLES | frozenset(
    "madam madame gentleman gentlemen ladies senor senora senorita monsieur mademoiselle herr "
    "frau".split()
)
# "Baby of Jane Smith", "Infant of ...": the name is the mother's, not the child's.
_PLACEHOLDER_OF = frozenset(
    "baby infant unborn child newborn twin son daughter mother father sister brother".split()
)
# "N/K" and "N/A" only become placeholders written as two letters; "Na" alone is a real surname.
_PLACEHOLDER_PHRASES = frozenset({"n k", "n a"})
# Surname particles: not a name on their own, so not a surname part worth matching on.
SURNAME_PARTICLES = frozenset(
    "da das de del della der des di do dos du la le lo van von den ten ter al el bin ibn bint "
    "ben y e".split()
)
# Written joined or apart ("O Brien" / "OBrien", "De Souza" / "DeSouza"): offer the joined form too.
_SURNAME_PREFIXES = frozenset("o d mac mc fitz st san santa".split()) | SURNAME_PARTICLES


def _ascii_fold(value: str) -> str:
    """Lower case with accents removed; letters outside Latin scripts become spaces."""
    folded = value.casefold()
    if folded.isascii():
        return folded
    folded = unicodedata.normalize("NFKD", folded.translate(_FOLD_SPECIAL))
    # Lowered again: some letters have no case of their own but decompose to a capital
    # ("ℭ" is "C"), which hypothesis found.
    return "".join(
        ch.lower() if ch.isascii() else ("" if unicodedata.combining(ch) else " ") for ch in folded
    )


def _name_tokens(value: str) -> list[str]:
    tokens = _ascii_fold(value).translate(_NAME_TABLE).split()
    # Titles and suffixes go only when they are separate tokens and something else remains, so a
    # lone "Miss" stays what it is (and a second pass finds nothing more to strip).
    while len(tokens) > 1 and tokens[0] in NAME_TITLES:
        del tokens[0]
    while len(tokens) > 1 and tokens[-1] in NAME_SUFFIXES:
        del tokens[-1]
    return tokens


def _tokens_are_placeholder(tokens: list[str]) -> bool:
    if not tokens:
        return False
    if all(token in _PLACEHOLDER_WORDS or token in _SALUTATIONS for token in tokens):
        return True
    if len(tokens) >= 2 and tokens[0] in _PLACEHOLDER_OF and tokens[1] == "of":
        return True
    return " ".join(tokens) in _PLACEHOLDER_PHRASES


def name_is_placeholder(value: str) -> bool:
    """True if the name is a stand-in ("Baby", "Unknown", "Not Known", "N/K", "Baby of ...").

    A placeholder must never count as agreement: two unnamed babies are not the same child.
    A blank name is missing, not a placeholder, and gives False.
    """
    if value.isascii() and value.isalpha():
        # One plain word, as most names are: the same answer without tokenising (ingest judges
        # every row's names for the extract's data quality).
        return value.casefold() in _ONE_WORD_PLACEHOLDERS
    return _tokens_are_placeholder(_name_tokens(value))


_ONE_WORD_PLACEHOLDERS = _PLACEHOLDER_WORDS | _SALUTATIONS


def name_normalise(value: str) -> str:
    """A forename or surname as matching compares it: a-z words, single spaces, "" if unusable.

    Case, accents (Zoë/Zoe), titles (Mr, Dr), suffixes (Jr, III), apostrophes (O'Brien, O’Brien,
    OBrien) and punctuation differ between agencies' systems without saying anything about the
    person; hyphens and spaces both keep a word boundary (Smith-Jones == Smith Jones).
    Placeholders give "" so that they count as missing, never as a match.
    """
    if _PLAIN_NAME.fullmatch(value):
        # Already in the normalised form (linkage normalises a name once and derives its sound,
        # canonical form and parts from that): the same answer without folding it again.
        tokens = value.split(" ")
    else:
        tokens = _name_tokens(value)
    if _tokens_are_placeholder(tokens):
        return ""
    if len(tokens) > 1 and (tokens[0] in NAME_TITLES or tokens[-1] in NAME_SUFFIXES):
        tokens = _name_tokens(value)
    return " ".join(tokens)


_PLAIN_NAME = re.compile(r"[a-z]+(?: [a-z]+)*")


def surname_parts(value: str) -> list[str]:
    """The normalised surname, then each meaningful part of a double-barrelled or compound one.

    People drop or reorder one half of a double-barrelled name between agencies, or change it on
    marriage ("Smith-Jones" is known to another agency as "Jones"). Particles (da, van, al) are not
    parts on their own; a name written with a prefix apart ("O Brien", "De Souza") also gives its
    joined spelling. [] for a blank or placeholder surname.
    """
    whole = name_normalise(value)
    if not whole:
        return []
    tokens = whole.split(" ")
    parts = [whole]
    if len(tokens) == 1:
        return parts
    for token in tokens:
        if len(token) > 1 and token not in _SURNAME_PREFIXES and token not in parts:
            parts.append(token)
    if tokens[0] in _SURNAME_PREFIXES:
        joined = "".join(tokens)
        if joined not in parts:
            parts.append(joined)
    return parts


def forename_variants(value: str) -> set[str]:
    """The normalised forename and the full names it can be short for (Bob: bob, robert).

    Two records agree on forename when their variant sets intersect: Bob and Robert share
    "robert", Katie and Katherine share "katherine". When a forename field carries middle names
    too ("Robert James"), the first name's variants are included. Empty for blank/placeholder.
    """
    name = name_normalise(value)
    if not name:
        return set()
    variants = {name, *NICKNAMES.get(name, ())}
    first, _, rest = name.partition(" ")
    if rest:
        variants.add(first)
        variants.update(NICKNAMES.get(first, ()))
    return variants


def forename_canonical(value: str) -> str:
    """One deterministic key per forename, for exact-match tokens: Bob, Rob and Robert -> robert.

    Where a nickname stands for several names the alphabetically first is taken (Alex ->
    alexander), so the key is stable across runs; forename_variants keeps the alternatives.
    """
    name = name_normalise(value)
    canonicals = NICKNAMES.get(name)
    return min(canonicals) if canonicals else name


# American Soundex letter codes; vowels (and y) are absent, h and w are "transparent".
_SOUNDEX_CODES = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
    "h": "",
    "w": "",
}


def soundex(value: str) -> str:
    """American Soundex of a name (Robert and Rupert: R163), "" for a blank or placeholder.

    Blocking on a keyed hash of the Soundex code lets misspellings (Steven/Stephen, Smith/
    Smyth) meet in one block without comparing plaintext. The standard rules apply: the first
    letter is kept, adjacent letters with the same code count once, also across h and w (Ashcraft:
    A261), but not across a vowel (Tymczak: T522). Double-barrelled names are read as one word.
    """
    letters = name_normalise(value).replace(" ", "")
    if not letters:
        return ""
    first = letters[0]
    code = [first.upper()]
    previous = _SOUNDEX_CODES.get(first)
    for ch in letters[1:]:
        digit = _SOUNDEX_CODES.get(ch)
        if digit is None:  # a vowel separates two letters with the same code
            previous = None
        elif digit and digit != previous:
            code.append(digit)
            if len(code) == 4:
                break
            previous = digit
        elif digit:
            previous = digit
    return "".join(code).ljust(4, "0")


# --- Addresses ------------------------------------------------------------------------------------

_ADDRESS_TABLE = str.maketrans(
    {
        **{chr(i): " " for i in range(128) if not chr(i).isalnum()},
        ",": " , ",
        "'": None,
        "`": None,
    }
)
# Abbreviations expanded wherever they are whole tokens. "st" is not here: see address_normalise.
ADDRESS_ABBREVIATIONS = {
    "apartment": "flat",
    "apt": "flat",
    "av": "avenue",
    "ave": "avenue",
    "cl": "close",
    "cres": "crescent",
    "ct": "court",
    "dr": "drive",
    "flt": "flat",
    "gdns": "gardens",
    "gr": "grove",
    "ln": "lane",
    "mt": "mount",
    "pl": "place",
    "rd": "road",
    "sq": "square",
    "tce": "terrace",
    "terr": "terrace",
    # As American and Australian extracts write them.
    "blvd": "boulevard",
    "cir": "circle",
    "crt": "court",
    "hwy": "highway",
    "pkwy": "parkway",
    "prk": "park",
    "trl": "trail",
}
_POSTCODE_TOKEN = re.compile(r"[a-z]{1,2}\d[a-z\d]?\d[a-z]{2}")
_OUTWARD_TOKEN = re.compile(r"[a-z]{1,2}\d[a-z\d]?")
_INWARD_TOKEN = re.compile(r"\d[a-z]{2}")
_HOUSE_NUMBER = re.compile(r"\d+[a-z]?")
_FLAT_NUMBER = re.compile(r"\d+[a-z]?|[a-z]")


_FLAT_SLASH = re.compile(r"(?<![\w/])(\d+[a-z]?)\s*/\s*(\d+[a-z]?)(?![\w/])")


def _address_words(value: str) -> tuple[list[str], list[int]]:
    """The address's words as address_normalise gives them, and the part (between commas) each
    word is in: the street is told from the town by which part it is in."""
    words: list[str] = []
    parts: list[int] = []
    part_ends: list[bool] = []
    part = 0
    # "3/31 Mount Way" is flat 3 of number 31, as "Flat 3, 31 Mount Way" writes it.
    folded = _FLAT_SLASH.sub(r"flat \1 , \2", _ascii_fold(value))
    for word in folded.translate(_ADDRESS_TABLE).split():
        if word == ",":
            if part_ends:
                part_ends[-1] = True
                part += 1
            continue
        words.append(word)
        parts.append(part)
        part_ends.append(False)
    if part_ends:
        part_ends[-1] = True
    while words:
        if _POSTCODE_TOKEN.fullmatch(words[-1]):
            del words[-1:], part_ends[-1:], parts[-1:]
        elif (
            len(words) > 1
            and _INWARD_TOKEN.fullmatch(words[-1])
            and _OUTWARD_TOKEN.fullmatch(words[-2])
        ):
            del words[-2:], part_ends[-2:], parts[-2:]
        else:
            break
        if part_ends:
            part_ends[-1] = True
    for index, word in enumerate(words):
        if word == "st":
            if index > 0 and part_ends[index]:
                words[index] = "street"
        elif word in ADDRESS_ABBREVIATIONS:
            words[index] = ADDRESS_ABBREVIATIONS[word]
    return words, parts


def address_normalise(value: str) -> str:
    """An address line as matching compares it: lower case a-z0-9 words, abbreviations expanded.

    "12 High St., Leeds LS6 2AB" and "12 high street leeds" are one address. The postcode is
    compared on its own (postcode_parts), so a trailing one is dropped here. "St" is a street only
    at the end of a part of the address ("High St, Leeds"); elsewhere it is usually Saint
    ("St Mary's Road") and is left alone rather than guessed.
    """
    return " ".join(_address_words(value)[0])


@dataclass(frozen=True)
class AddressParts:
    """The parts of an address that say which dwelling it is, without a postcode: the house
    number (with the flat before a slash, "4/59") and the street ("mount way"); "" if unknown.

    The number is the part of an address that most often tells two households apart, so
    blocking and agreement use it. "59a" stays "59a"; a flat without a building number is "4/".
    """

    house: str
    street: str


def address_parts(value: str) -> AddressParts:
    """House number and street of an address, however its lines were split.

    "Flat 4, 59 Mount Way, Leeds" and "59, Mount Way, Leeds" (number and street in separate
    columns) both give street "mount way". The street is the words after the house number in its
    part of the address, or the next part when the number stands alone; without a number, no
    street is guessed (a building or town name could be taken for one).
    """
    words, parts = _address_words(value)
    flat = house = street = ""
    index = 0
    while index < len(words):
        word = words[index]
        if (
            word == "flat"
            and not flat
            and index + 1 < len(words)
            and _FLAT_NUMBER.fullmatch(words[index + 1])
        ):
            flat = words[index + 1]
            index += 2
            continue
        if not house and _HOUSE_NUMBER.fullmatch(word):
            house = word
            same_part = parts[index]
            rest = list(zip(words[index + 1 :], parts[index + 1 :], strict=True))
            after = [w for w, p in rest if p == same_part]
            if not after:
                after = [w for w, p in rest if p == same_part + 1]
            # "59 Mount Way Flat 4": the flat is not part of the street's name.
            if "flat" in after:
                after = after[: after.index("flat")]
            street = " ".join(w for w in after if not _HOUSE_NUMBER.fullmatch(w))
        index += 1
    return AddressParts(f"{flat}/{house}" if flat else house, street)


_POSTCODE_SPACED = re.compile(r"([A-Z]{1,2})\d[A-Z\d]? \d[A-Z]{2}")


def postcode_parts(value: str) -> tuple[str, str, str] | None:
    """(full, outward, area) of a UK postcode, e.g. ("LS6 2AB", "LS6", "LS"); None if not one.

    Matching gives partial credit for the same outward code or area when people move nearby, and
    blocks on the outward code; both need the postcode written one way first (postcode_normalise).
    """
    full = postcode_normalise(value)
    match = _POSTCODE_SPACED.fullmatch(full)
    if match is None:
        return None
    return full, full.partition(" ")[0], match.group(1)


# --- Dates of birth -------------------------------------------------------------------------------

DOB_IN_FUTURE = "in the future"
DOB_BEFORE_1900 = "before 1900"
DOB_PLACEHOLDER = "placeholder date"
DOB_AGE_OVER_115 = "age over 115"
# Dates that systems fill in when the real date is not known.
_PLACEHOLDER_DOBS = frozenset({date(1900, 1, 1), date(1901, 1, 1)})


def dob_plausibility(dob: date, *, on: date) -> str | None:
    """None if `dob` is a plausible date of birth as of `on`, else why not (DOB_* constants).

    Implausible dates are kept but down-weighted by matching: a default date agreeing on two
    records is evidence of the same system, not of the same person.
    """
    if dob > on:
        return DOB_IN_FUTURE
    if dob.year < 1900:
        return DOB_BEFORE_1900
    if dob in _PLACEHOLDER_DOBS:
        return DOB_PLACEHOLDER
    age = on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))
    if age > 115:
        return DOB_AGE_OVER_115
    return None


# --- Other identifiers ----------------------------------------------------------------------------

_UPN_SEPARATORS = re.compile(r"[\s\-]+")
# Characters 2-12 of a UPN are digits; a letter there is a keying or scanning confusion.
_UPN_OCR_DIGITS = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "S": "5"})


def upn_normalise(value: str) -> str:
    """A UPN in capitals without spaces or hyphens; validity is identifiers.upn_is_valid.

    Where that is not a valid UPN but reading letters in its all-digit positions as the digits
    they are confused with (O/0, I/1, S/5) gives one, the repaired UPN is returned.
    """
    upn = _UPN_SEPARATORS.sub("", value).upper()
    if len(upn) == 13 and not upn_is_valid(upn):
        repaired = upn[0] + upn[1:12].translate(_UPN_OCR_DIGITS) + upn[12]
        if upn_is_valid(repaired):
            return repaired
    return upn


_PNC_WITH_SEPARATOR = re.compile(r"(\d{2}|\d{4})[/\\\-](\d{1,7})([A-Z])", re.ASCII)
_PNC_COMPACT = re.compile(r"(\d{2,11})([A-Z])", re.ASCII)


def pnc_id_normalise(value: str) -> str:
    """A PNC id in the written form sharehub_bridge.identifiers.pnc_id_is_valid reads.

    Long form YYYY/NNNNNNNX (slash restored, serial padded to seven digits), short form YY/NX
    (serial without leading zeros), capital check letter. The century of a short form is not
    known, so it is not made long. Anything else comes back in capitals without spaces.
    """
    compact = _SPACES.sub("", value).upper()
    if match := _PNC_WITH_SEPARATOR.fullmatch(compact):
        year, serial, check = match.groups()
    elif match := _PNC_COMPACT.fullmatch(compact):
        digits, check = match.groups()
        if len(digits) == 11:
            year, serial = digits[:4], digits[4:]
        elif len(digits) <= 9:
            year, serial = digits[:2], digits[2:]
        else:
            return compact
        if not serial:
            return compact
    else:
        return compact
    if len(year) == 4:
        return f"{year}/{serial.zfill(7)}{check}"
    return f"{year}/{serial.lstrip('0') or '0'}{check}"


_GENDER_SEPARATORS = re.compile(r"[^a-z0-9]+")
_GENDERS = {
    **dict.fromkeys(["m", "male", "boy", "man", "1"], "m"),
    **dict.fromkeys(["f", "female", "girl", "woman", "2"], "f"),
    **dict.fromkeys(
        ["x", "other", "nonbinary", "nb", "indeterminate", "intersex", "i", "o", "agender"], "x"
    ),
}


def gender_normalise(value: str) -> str:
    """ "m", "f" or "x" (another recorded gender), "" when blank, not known or not recognised.

    Twins differ in forename and often sex (DOMAIN.md), so sex is a strong disagreement signal, and
    an unrecognised code must read as missing, not as a third value that disagrees with both.
    NHS codes 1 and 2 are male and female; 0 and 9 (not known/not specified) give "".
    """
    return _GENDERS.get(_GENDER_SEPARATORS.sub("", value.casefold()), "")
