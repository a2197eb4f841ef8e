"""Normalisation rules, checked over many generated values (hypothesis)."""

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharehub_bridge.identifiers import pnc_id_is_valid, upn_check_letter, upn_is_valid
from sharehub_bridge.nicknames import NICKNAMES
from sharehub_bridge.normalise import (
    DOB_AGE_OVER_115,
    DOB_BEFORE_1900,
    DOB_IN_FUTURE,
    DOB_ORDER_DAY_FIRST,
    DOB_ORDER_MONTH_FIRST,
    DOB_PLACEHOLDER,
    DOB_REPAIRS,
    AddressParts,
    DobReading,
    address_normalise,
    address_parts,
    date_order_detect,
    date_parse,
    dob_plausibility,
    dob_read,
    forename_canonical,
    forename_variants,
    gender_normalise,
    name_is_placeholder,
    name_normalise,
    pnc_id_normalise,
    postcode_normalise,
    postcode_parts,
    soundex,
    surname_parts,
    text_clean,
    upn_normalise,
)

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@given(dates)
def test_every_usual_date_format_reads_back_the_same_date(day):
    written = [
        day.isoformat(),
        f"{day:%d/%m/%Y}",
        f"{day.day}/{day.month}/{day.year}",
        f"{day:%d-%b-%Y}",
        f"{day:%d %B %Y}",
        f"{day:%d.%m.%Y}",
        f"{day:%Y-%m-%d} 00:00:00",
        f"{day:%Y/%m/%d}",
    ]
    assert {text: date_parse(text) for text in written} == {text: day for text in written}


@given(st.text(max_size=12))
def test_date_parse_never_raises_and_returns_a_date_or_none(text):
    assert date_parse(text) is None or isinstance(date_parse(text), date)


def test_impossible_dates_are_not_dates():
    for text in ["31/02/2015", "2015-02-29", "00/01/2015", "2020-13-01", "13/13/2013", "x"]:
        assert date_parse(text) is None, text


@given(st.text(alphabet=" \tabcÉé-'", max_size=20))
def test_text_clean_is_idempotent_and_trimmed(value):
    cleaned = text_clean(value)
    assert text_clean(cleaned) == cleaned
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned


def test_postcodes_are_written_one_way():
    for written in ["ls6 2ab", "LS62AB", " Ls6  2aB ", "LS6 2AB"]:
        assert postcode_normalise(written) == "LS6 2AB"
    assert postcode_normalise("not a postcode") == "NOTAPOSTCODE"


# --- Names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, expected",
    [
        ("Zoë", "zoe"),
        ("ZOE", "zoe"),
        ("Zoe\u0308", "zoe"),  # decomposed diaeresis
        ("O'Brien", "obrien"),
        ("O\u2019Brien", "obrien"),
        ("OBrien", "obrien"),
        ("Smith-Jones", "smith jones"),
        ("Smith Jones", "smith jones"),
        ("Smith\u2013Jones", "smith jones"),
        ("  smith   -  jones ", "smith jones"),
        ("Mr John Smith", "john smith"),
        ("Dr. Ann Lee", "ann lee"),
        ("Mrs Mr Lee", "lee"),
        ("Miss", ""),  # a lone title names nobody: a placeholder, like "Patient"
        ("Sir", ""),
        ("John Smith Jr.", "john smith"),
        ("John Smith III", "john smith"),
        ("Straße", "strasse"),
        ("Ærøskøbing", "aeroskobing"),
        ("Łukasz", "lukasz"),
        ("Jos\u00e9 Mar\u00eda", "jose maria"),
        ("J0hn", "jhn"),
        ("Smith (nee Jones)", "smith nee jones"),
        ("", ""),
        ("   ", ""),
        ("Na", "na"),  # a real surname, not N/A
    ],
)
def test_name_normalise(written, expected):
    assert name_normalise(written) == expected


@pytest.mark.parametrize(
    "written",
    [
        "Baby",
        "BABY",
        "Unknown",
        "Not Known",
        "NK",
        "N/K",
        "n.k.",
        "N/A",
        "Infant",
        "Unborn",
        "Baby of Jane Smith",
        "Infant of Smith",
        "Twin 1",
        "Twin 2",
        "Baby Boy",
        "Baby Girl 2",
        "Newborn",
        "Male",
        "Not Stated",
        "XXX",
    ],
)
def test_placeholder_names_are_blank(written):
    assert name_is_placeholder(written)
    assert name_normalise(written) == ""
    assert forename_variants(written) == set()
    assert surname_parts(written) == []
    assert soundex(written) == ""


@pytest.mark.parametrize("written", ["Babs", "Knowles", "Nkechi", "Na", "Twinkle", "", "Ng"])
def test_names_that_only_look_like_placeholders_are_not(written):
    assert not name_is_placeholder(written)


@pytest.mark.parametrize(
    "written, parts",
    [
        ("Smith-Jones", ["smith jones", "smith", "jones"]),
        ("Smith Jones", ["smith jones", "smith", "jones"]),
        ("Smith", ["smith"]),
        ("Ferreira da Silva", ["ferreira da silva", "ferreira", "silva"]),
        ("van der Berg", ["van der berg", "berg", "vanderberg"]),
        ("O Brien", ["o brien", "brien", "obrien"]),
        ("De Souza", ["de souza", "souza", "desouza"]),
        ("MacDonald", ["macdonald"]),
        ("Al-Hassan", ["al hassan", "hassan", "alhassan"]),
        ("", []),
    ],
)
def test_surname_parts(written, parts):
    assert surname_parts(written) == parts


def test_double_barrelled_surname_shares_a_part_with_each_half():
    assert set(surname_parts("Smith-Jones")) & set(surname_parts("Jones"))
    assert set(surname_parts("Smith-Jones")) & set(surname_parts("Smith"))
    assert set(surname_parts("O Brien")) & set(surname_parts("O'Brien"))


@pytest.mark.parametrize(
    "one, other",
    [
        ("Bob", "Robert"),
        ("Bobby", "Rob"),
        ("Katie", "Katherine"),
        ("Katie", "Catherine"),
        ("Kathryn", "Catherine"),
        ("Steven", "Stephen"),
        ("Steve", "Stephen"),
        ("Mohammed", "Muhammad"),
        ("Mohamed", "Mohammad"),
        ("Mo", "Muhammed"),
        ("Liz", "Elizabeth"),
        ("Beth", "Lizzie"),
        ("Bill", "William"),
        ("Liam", "Will"),
        ("Alex", "Alexandra"),
        ("Alex", "Alexander"),
        ("Sam", "Samantha"),
        ("Zoë", "Zoe"),
        ("Robert James", "Bob"),
    ],
)
def test_nicknames_and_spellings_share_a_forename_variant(one, other):
    assert forename_variants(one) & forename_variants(other)


@pytest.mark.parametrize("one, other", [("Robert", "Richard"), ("Alexander", "Alexandra")])
def test_different_forenames_share_no_variant(one, other):
    assert not forename_variants(one) & forename_variants(other)


@pytest.mark.parametrize(
    "written, canonical",
    [
        ("Bob", "robert"),
        ("Robert", "robert"),
        ("Steven", "stephen"),
        ("Stephen", "stephen"),
        ("MOHAMMED", "muhammad"),
        ("Mohamed", "muhammad"),
        ("Muhammad", "muhammad"),
        ("Katie", "catherine"),
        ("Katherine", "catherine"),
        ("Catherine", "catherine"),
        ("Alex", "alexander"),
        ("Xanthe", "xanthe"),
        ("Baby", ""),
    ],
)
def test_forename_canonical(written, canonical):
    assert forename_canonical(written) == canonical


def test_nickname_table_is_sorted_normalised_and_stable():
    assert list(NICKNAMES) == sorted(NICKNAMES)
    assert len(NICKNAMES) >= 150
    for nickname, canonicals in NICKNAMES.items():
        assert name_normalise(nickname) == nickname
        assert canonicals and list(canonicals) == sorted(set(canonicals)), nickname
        assert all(name_normalise(name) == name for name in canonicals), nickname
    everything = set(NICKNAMES) | {name for names in NICKNAMES.values() for name in names}
    for name in everything:
        canonical = forename_canonical(name)
        assert forename_canonical(canonical) == canonical, name
        assert canonical in forename_variants(name), name


@pytest.mark.parametrize(
    "name, code",
    [
        ("Robert", "R163"),
        ("Rupert", "R163"),
        ("Rubin", "R150"),
        ("Ashcraft", "A261"),
        ("Ashcroft", "A261"),
        ("Tymczak", "T522"),
        ("Pfister", "P236"),
        ("Honeyman", "H555"),
        ("Lee", "L000"),
        ("Gutierrez", "G362"),
        ("Jackson", "J250"),
        ("O'Brien", "O165"),
        ("", ""),
    ],
)
def test_soundex_known_vectors(name, code):
    assert soundex(name) == code


def test_soundex_brings_phonetic_spellings_together():
    assert soundex("Stephen") == soundex("Steven")
    assert soundex("Smith") == soundex("Smyth")


# --- Addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, expected",
    [
        ("12 High St, Leeds", "12 high street leeds"),
        ("12 High St", "12 high street"),
        ("12 High Street, Leeds", "12 high street leeds"),
        ("St Mary's Road, Leeds", "st marys road leeds"),
        ("4 St John's Cl.", "4 st johns close"),
        ("59 Mount Rd.", "59 mount road"),
        ("1 Oak Ave", "1 oak avenue"),
        ("1 Oak Av", "1 oak avenue"),
        ("2 Elm Ln", "2 elm lane"),
        ("3 Park Cres", "3 park crescent"),
        ("4 Kings Ct", "4 kings court"),
        ("5 Hill Dr", "5 hill drive"),
        ("6 Rose Gdns", "6 rose gardens"),
        ("7 Ash Gr", "7 ash grove"),
        ("8 Bell Pl", "8 bell place"),
        ("9 Mill Sq", "9 mill square"),
        ("10 Mt Pleasant", "10 mount pleasant"),
        ("11 Oak Tce", "11 oak terrace"),
        ("11 Oak Terr.", "11 oak terrace"),
        ("Apt 4, 59 Mount Way", "flat 4 59 mount way"),
        ("Apartment 4, 59 Mount Way", "flat 4 59 mount way"),
        ("Flat 4, 59 Mount Way, Leeds LS6 2AB", "flat 4 59 mount way leeds"),
        ("59 Mount Way, Leeds, ls62ab", "59 mount way leeds"),
        ("59 Mount Way Leeds LS6 2AB", "59 mount way leeds"),
        ("1 Rue Éclair", "1 rue eclair"),
        ("", ""),
    ],
)
def test_address_normalise(written, expected):
    assert address_normalise(written) == expected


@pytest.mark.parametrize(
    "written, house",
    [
        ("Flat 4, 59 Mount Way", "4/59"),
        ("flat 4 59 mount way", "4/59"),
        ("Apt. 4, 59 Mount Way", "4/59"),
        ("Flat B, 59 Mount Way", "b/59"),
        ("59a Mount Way", "59a"),
        ("59A Mount Way, Leeds LS6 2AB", "59a"),
        ("59 Mount Way Flat 4", "4/59"),
        ("Flat 4, Mount House", "4/"),
        ("Mount House, Mount Way", ""),
        ("", ""),
    ],
)
def test_address_parts_house(written, house):
    assert address_parts(written).house == house


@pytest.mark.parametrize(
    "written, parts",
    [
        ("LS6 2AB", ("LS6 2AB", "LS6", "LS")),
        ("ls62ab", ("LS6 2AB", "LS6", "LS")),
        (" ls6  2Ab ", ("LS6 2AB", "LS6", "LS")),
        ("M1 1AE", ("M1 1AE", "M1", "M")),
        ("EC1A 1BB", ("EC1A 1BB", "EC1A", "EC")),
        ("W1A0AX", ("W1A 0AX", "W1A", "W")),
        ("not a postcode", None),
        ("LS6", None),
        ("", None),
    ],
)
def test_postcode_parts(written, parts):
    assert postcode_parts(written) == parts


# --- Dates of birth ------------------------------------------------------------------------------

TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    "dob, reason",
    [
        (date(2010, 3, 4), None),
        (TODAY, None),
        (date(1911, 1, 1), None),
        (date(2025, 6, 2), DOB_IN_FUTURE),
        (date(1899, 12, 31), DOB_BEFORE_1900),
        (date(1850, 5, 5), DOB_BEFORE_1900),
        (date(1900, 1, 1), DOB_PLACEHOLDER),
        (date(1901, 1, 1), DOB_PLACEHOLDER),
        (date(1905, 3, 3), DOB_AGE_OVER_115),
    ],
)
def test_dob_plausibility(dob, reason):
    assert dob_plausibility(dob, on=TODAY) == reason


def test_dob_plausibility_age_boundary():
    assert dob_plausibility(date(1910, 6, 1), on=TODAY) is None  # 115 today
    assert dob_plausibility(date(1910, 6, 2), on=TODAY) is None  # 114
    assert dob_plausibility(date(1910, 5, 31), on=TODAY) is None  # 115
    assert dob_plausibility(date(1909, 6, 2), on=TODAY) is None  # 115, 116 tomorrow
    assert dob_plausibility(date(1909, 6, 1), on=TODAY) == DOB_AGE_OVER_115  # 116 today


# --- Other identifiers ---------------------------------------------------------------------------

VALID_UPN = upn_check_letter("820200112001") + "820200112001"


def test_upn_variants_validate_after_normalising():
    assert upn_is_valid(VALID_UPN)
    lower_spaced = " ".join([VALID_UPN[:4], VALID_UPN[4:8], VALID_UPN[8:]]).lower()
    for written in [VALID_UPN, lower_spaced, VALID_UPN[:5] + "-" + VALID_UPN[5:]]:
        assert upn_normalise(written) == VALID_UPN, written
    ocr = VALID_UPN.replace("0", "O")
    assert upn_normalise(ocr) == VALID_UPN
    assert upn_normalise("not a upn") == "NOTAUPN"


@pytest.mark.parametrize(
    "written, canonical",
    [
        ("2008/0056560Z", "2008/0056560Z"),
        ("2008/0056560z", "2008/0056560Z"),
        ("20080056560Z", "2008/0056560Z"),
        ("2008/56560Z", "2008/0056560Z"),
        (" 2008 / 0056560 Z ", "2008/0056560Z"),
        ("2008-0056560Z", "2008/0056560Z"),
        ("08/56560Z", "08/56560Z"),
        ("08/0056560z", "08/56560Z"),
        ("0856560Z", "08/56560Z"),
    ],
)
def test_pnc_variants_validate_after_normalising(written, canonical):
    assert pnc_id_normalise(written) == canonical
    assert pnc_id_is_valid(canonical)


def test_pnc_nonsense_is_only_compacted():
    assert pnc_id_normalise("no id") == "NOID"
    assert pnc_id_normalise("2008/0056560") == "2008/0056560"


@pytest.mark.parametrize(
    "written, gender",
    [
        ("M", "m"),
        ("male", "m"),
        (" Boy ", "m"),
        ("MAN", "m"),
        ("1", "m"),
        ("F", "f"),
        ("Female", "f"),
        ("girl", "f"),
        ("woman", "f"),
        ("2", "f"),
        ("Non-binary", "x"),
        ("Other", "x"),
        ("X", "x"),
        ("Indeterminate", "x"),
        ("", ""),
        ("Unknown", ""),
        ("Not Known", ""),
        ("N/K", ""),
        ("9", ""),
        ("0", ""),
        ("banana", ""),
    ],
)
def test_gender_normalise(written, gender):
    assert gender_normalise(written) == gender


# --- Properties ----------------------------------------------------------------------------------

NAME_ALPHABET = st.sampled_from(
    list("abcdeknorsyzABKMNORSZ -'.,0123456789ßæøłÆØŁéëÉ’‘–\u0308\u00a0\tİ") + ["Mr ", "Jr", "Baby"]
)
name_texts = st.one_of(st.text(max_size=30), st.lists(NAME_ALPHABET, max_size=20).map("".join))
address_texts = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            ["st", "St", "rd", ",", " ", "flat", "Apt", "4", "59a", "LS6", "2AB", "ls62ab", "é"]
        ),
        max_size=12,
    ).map(" ".join),
)
_NAME_SHAPE = re.compile(r"(?:[a-z]+(?: [a-z]+)*)?")


@given(name_texts)
def test_name_normalise_is_idempotent_and_plain(value):
    normalised = name_normalise(value)
    assert _NAME_SHAPE.fullmatch(normalised), normalised
    assert name_normalise(normalised) == normalised
    assert not name_is_placeholder(normalised)


@given(name_texts)
def test_name_functions_never_raise_and_agree(value):
    normalised = name_normalise(value)
    variants = forename_variants(value)
    parts = surname_parts(value)
    code = soundex(value)
    if normalised:
        assert normalised in variants
        assert parts[0] == normalised
        assert forename_canonical(value) in variants
        assert re.fullmatch(r"[A-Z]\d{3}", code)
    else:
        assert variants == set() and parts == [] and code == ""
    assert forename_canonical(forename_canonical(value)) == forename_canonical(value)


@given(address_texts)
def test_address_normalise_is_idempotent_and_plain(value):
    normalised = address_normalise(value)
    assert re.fullmatch(r"(?:[a-z0-9]+(?: [a-z0-9]+)*)?", normalised), normalised
    assert address_normalise(normalised) == normalised
    assert address_parts(normalised).house == address_parts(value).house


@given(st.text(max_size=20))
def test_identifier_functions_never_raise(value):
    parts = postcode_parts(value)
    assert parts is None or parts[0] == postcode_normalise(parts[0])
    assert upn_normalise(upn_normalise(value)) == upn_normalise(value)
    assert pnc_id_normalise(pnc_id_normalise(value)) == pnc_id_normalise(value)
    assert gender_normalise(value) in {"m", "f", "x", ""}


@given(st.dates(), st.dates())
def test_dob_plausibility_never_raises(dob, on):
    reason = dob_plausibility(dob, on=on)
    assert reason in {None, DOB_IN_FUTURE, DOB_BEFORE_1900, DOB_PLACEHOLDER, DOB_AGE_OVER_115}
    assert (reason == DOB_IN_FUTURE) == (dob > on)


# --- Dates of birth as agencies write them ----------------------------------------------------


@pytest.mark.parametrize(
    "written, value, repairs",
    [
        ("19/06/1968", "1968-06-19", ()),
        ("1968-06-19", "1968-06-19", ()),
        ("19680619", "1968-06-19", ()),  # compact, year first
        ("19061968", "1968-06-19", ()),  # compact, day first
        ("2018-06-04 00:00:00", "2018-06-04", ()),
        ("19-Jun-1968", "1968-06-19", ()),
        # Month first in a day-first file: only the swapped reading is a date.
        ("06/19/1968", "1968-06-19", ("swapped",)),
        ("1968-19-06", "1968-06-19", ("swapped",)),
        # OCR: | and l for 1, O for 0, G for 6, Z for 2.
        ("|7/0G/1964", "1964-06-17", ("ocr",)),
        ("Z7/10/1983", "1983-10-27", ("ocr",)),
        ("0l/O2/2OO1", "2001-02-01", ("ocr",)),
        ("o4-Jun-2012", "2012-06-04", ("ocr",)),
        ("30-Sep-20I7", "2017-09-30", ("ocr",)),
        # An impossible day keeps the month and year.
        ("31/02/1990", "1990-02", ("impossible_day",)),
        ("00/02/1967", "1967-02", ("impossible_day",)),
        # Only the year can be read.
        ("1968", "1968", ("year_only",)),
        ("June 1968", "1968", ("year_only",)),
        ("31/31/1990", "1990", ("year_only",)),
        # Nothing usable: loaded without a date of birth.
        ("unknown", "", ("unreadable",)),
        ("12/3/71", "", ("unreadable",)),  # a two-digit year could be 1871 or 1971
        ("", "", ()),
    ],
)
def test_a_date_of_birth_keeps_what_can_be_read_and_says_what_was_repaired(written, value, repairs):
    assert dob_read(written) == DobReading(value, repairs)


def test_a_month_first_file_reads_month_first():
    assert dob_read("06/19/1968", order=DOB_ORDER_MONTH_FIRST) == DobReading("1968-06-19")
    assert dob_read("06/05/1968", order=DOB_ORDER_MONTH_FIRST) == DobReading("1968-06-05")
    # In such a file a day-first date is the one repaired.
    assert dob_read("19/06/1968", order=DOB_ORDER_MONTH_FIRST) == DobReading(
        "1968-06-19", ("swapped",)
    )


def test_the_order_of_a_column_is_month_first_only_when_its_values_say_so():
    american = ["06/19/1968", "12/25/1990", "01/02/2000", "03/30/2001"] * 10
    british = ["19/06/1968", "25/12/1990", "01/02/2000"] * 10
    # A few month-first slips in a day-first file do not turn the file.
    slips = british * 5 + ["06/19/1968", "07/23/1970"]
    assert date_order_detect(american) == DOB_ORDER_MONTH_FIRST
    assert date_order_detect(british) == DOB_ORDER_DAY_FIRST
    assert date_order_detect(slips) == DOB_ORDER_DAY_FIRST
    assert date_order_detect(["1968-06-19", "", "19680619"]) == DOB_ORDER_DAY_FIRST


@given(st.text(max_size=30))
def test_reading_a_date_of_birth_never_raises_and_keeps_a_valid_shape(text):
    reading = dob_read(text)
    assert reading.value == "" or re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", reading.value)
    assert set(reading.repairs) <= set(DOB_REPAIRS)
    if reading.value and len(reading.value) == 10:
        date.fromisoformat(reading.value)


@pytest.mark.parametrize(
    "written, house, street",
    [
        ("Flat 4, 59 Mount Way, Leeds LS8 9DD", "4/59", "mount way"),
        ("59 Mount Way Flat 4", "4/59", "mount way"),
        ("3/31 Mount Way, Gipton, Leeds", "3/31", "mount way"),
        ("5112, 145th st, , Anytown", "5112", "145th street"),  # number and street in columns
        ("12 High St., Leeds LS6 2AB", "12", "high street"),
        ("Brookside Hostel, 55 Dale Road, Headingley", "55", "dale road"),
        ("1501, interlake ave n, Anytown", "1501", "interlake avenue n"),
        ("Anytown", "", ""),  # no number: no street is guessed
    ],
)
def test_address_parts_find_the_house_and_street_however_the_lines_were_split(
    written, house, street
):
    assert address_parts(written) == AddressParts(house, street)
