"""sharehub_bridge.redaction: a row's own identifiers taken out of its free text.

Each kind of identifier in the ways people type it; words that only look like one left alone;
and, over generated identifiers and notes (hypothesis), no identifier surviving in any of the
written forms it was embedded in, and notes without them unchanged.
"""

import re
from collections import Counter
from datetime import date

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sharehub_bridge import normalise
from sharehub_bridge.definitions import definition_parse
from sharehub_bridge.readers import Row
from sharehub_bridge.redaction import (
    PLACEHOLDERS,
    IdentifierRedactor,
    _digits_find,
    _digits_pattern,
    _name_find,
    _name_matcher,
)
from sharehub_bridge.validation import (
    FREE_TEXT_REDACTED_ROW,
    RowValidator,
    free_text_repairs_take,
)

PERSON = {
    "forename": "Ann",
    "surname": "Smith-Jones",
    "date_of_birth": "2010-02-01",
    "nhs_number": "9434765919",
    "postcode": "LS6 2AB",
}


def redact(text: str, identifiers: dict[str, str] = PERSON, **kwargs) -> str:
    return IdentifierRedactor(identifiers, **kwargs).redact(text)[0]


# --- Names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, expected",
    [
        ("Ann was seen", "[name] was seen"),
        ("ANN was seen", "[name] was seen"),
        ("ann was seen", "[name] was seen"),
        ("Spoke to Ann.", "Spoke to [name]."),
        ('"Ann" said no', '"[name]" said no'),
        ("(Ann) attended", "([name]) attended"),
        ("Ann's brother", "[name]'s brother"),
        ("Ann\u2019s brother", "[name]\u2019s brother"),
        ("Smith-Jones family", "[name] family"),
        ("Smith Jones family", "[name] family"),
        ("smith-jones family", "[name] family"),
        ("Mrs Smith called", "Mrs [name] called"),
        ("the Jones' house", "the [name]' house"),
        ("the Smiths were out", "the [name] were out"),
        ("Ann Smith-Jones's mother", "[name] [name]'s mother"),
        ("Ann,Smith", "[name],[name]"),
        ("Ann2 in the log", "[name]2 in the log"),
    ],
)
def test_the_persons_names_are_replaced_however_typed(written, expected):
    assert redact(written) == expected


@pytest.mark.parametrize(
    "note",
    [
        "Annual review held; planned visit announced to Joanne and Annabel.",
        "Smithson and Jonesy are not the family; blacksmiths nearby.",
        "Hannah's manner was calm.",
    ],
)
def test_a_name_inside_another_word_is_not_redacted(note):
    assert redact(note) == note


def test_accents_and_apostrophes_do_not_hide_a_name():
    person = {"forename": "Zoë", "surname": "O'Brien"}
    note = "Zoe and ZOË met O\u2019Brien, OBrien, O Brien and o'brien."
    assert redact(note, person) == "[name] and [name] met [name], [name], [name] and [name]."


def test_a_sharp_s_is_its_double_s():
    assert redact("Strauss and STRAUß", {"surname": "Strauß"}) == "[name] and [name]"
    assert redact("Strauß", {"surname": "Strauss"}) == "[name]"


def test_particles_are_kept_with_the_name_and_never_alone():
    person = {"forename": "Maria", "surname": "De Souza"}
    assert redact("De Souza and de souza; Souza; de facto", person) == (
        "[name] and [name]; [name]; de facto"
    )


def test_a_two_letter_name_that_is_a_word_is_redacted_only_as_a_name():
    person = {"forename": "Ed", "surname": "Do"}
    # "ed" is no English word, so it goes in any case; "do" is, so only "Do" and "DO" do.
    assert redact("Ed and ed said to do it. Do was there, DO too.", person) == (
        "[name] and [name] said to do it. [name] was there, [name] too."
    )


def test_initials_titles_and_placeholder_names_are_not_redacted_alone():
    person = {"forename": "J", "surname": "Unknown", "other_names": "Baby"}
    note = "J attended; unknown male; baby asleep"
    assert redact(note, person) == note


def test_nicknames_of_the_forename_are_redacted_when_capitalised():
    person = {"forename": "Robert", "surname": "Hale"}
    assert redact("Bob, Rob and Bobby; he will rob no one; bob up and down", person) == (
        "[name], [name] and [name]; he will rob no one; bob up and down"
    )
    assert redact("Robert said", {"forename": "Bob"}) == "[name] said"


def test_other_names_each_alias_and_word():
    person = {"forename": "Kieran", "other_names": "Kez, Jay Dee"}
    assert redact("Kez and Jay Dee; Dee alone", person) == "[name] and [name]; [name] alone"


def test_another_persons_name_is_left_as_written():
    # A known limit: only the row's own identifiers are known, not a parent's or a neighbour's.
    assert redact("Mother Sarah Patel called about Ann") == "Mother Sarah Patel called about [name]"


# --- Dates of birth ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "01/02/2010",
        "1/2/2010",
        "1/2/10",
        "01-02-2010",
        "01.02.2010",
        "1.2.10",
        "01 02 2010",
        "2010-02-01",
        "2010/02/01",
        "1 Feb 2010",
        "1 February 2010",
        "1st February 2010",
        "1st of February 2010",
        "01-Feb-2010",
        "1-feb-10",
        "1 FEB 2010",
        "February 1st 2010",
        "February 1st, 2010",
        "Feb 1, 2010",
        "Feb. 1 2010",
        "1 Feb '10",
        "01022010",
        "20100201",
    ],
)
def test_the_date_of_birth_is_replaced_in_any_common_form(written):
    assert redact(f"DOB {written}, seen today") == "DOB [date of birth], seen today"


def test_month_first_files_read_dates_month_first():
    assert redact("dob 02/01/2010", dob_order=normalise.DOB_ORDER_MONTH_FIRST) == (
        "dob [date of birth]"
    )
    # In a day-first file 02/01/2010 is the 2nd of January: another day, left alone.
    assert redact("seen 02/01/2010") == "seen 02/01/2010"


def test_a_date_of_birth_keyed_the_other_way_round_is_still_found():
    person = {"date_of_birth": "2010-02-19"}
    assert redact("dob 02/19/2010", person) == "dob [date of birth]"


@pytest.mark.parametrize(
    "note",
    [
        "Incident on 02/02/2010 at 10:00",
        "Born 2010, referred 01/03/2010",
        "Case 2010-02-11 closed",
        "Phone 0101 2010 ext 2",
        "On 1 Feb 2011 and Feb 2 2010",
    ],
)
def test_other_dates_are_left_alone(note):
    assert redact(note) == note


def test_a_partial_date_of_birth_does_not_redact_the_whole_year():
    # A damaged date of birth kept as a year (or month and year) would otherwise take every
    # date of that year out of the note.
    assert redact("Referred 03/04/2010", {"date_of_birth": "2010"}) == "Referred 03/04/2010"


# --- Numbers, postcodes, email, address, ids ---------------------------------------------------


@pytest.mark.parametrize(
    "written", ["9434765919", "943 476 5919", "943-476-5919", "943 - 476 - 5919", "94 3476 5919"]
)
def test_the_nhs_number_with_or_without_separators(written):
    assert redact(f"NHS no: {written}.") == "NHS no: [NHS number]."


def test_other_numbers_are_left_alone():
    note = "Crime ref 9434765918, tel 943 476 591, 10 officers"
    assert redact(note) == note


@pytest.mark.parametrize("written", ["LS6 2AB", "ls6 2ab", "LS62AB", "Ls6  2aB"])
def test_the_postcode_in_any_case_with_or_without_its_space(written):
    assert redact(f"lives at {written}, Leeds") == "lives at [postcode], Leeds"


def test_a_postcode_inside_other_text_is_not_redacted():
    note = "Ref XLS62ABC; 2AB room"
    assert redact(note) == note


def test_what_is_no_postcode_or_id_is_not_looked_for():
    person = {"postcode": "NFA", "local_id": "UNKNOWN", "upn": "N/K"}
    note = "NFA at present; address unknown; n/k"
    assert redact(note, person) == note


@pytest.mark.parametrize(
    "written",
    [
        "07700 900123",
        "07700900123",
        "07700-900-123",
        "+44 7700 900123",
        "+447700900123",
        "+44 (0)7700 900123",
        "0044 7700 900 123",
    ],
)
def test_a_phone_number_with_spaces_or_the_country_code(written):
    # Datasets map no phone column today; a row that carries one is redacted of it all the same.
    assert redact(f"call {written} now", {"phone": "07700 900123"}) == "call [phone] now"


def test_an_email_address_in_any_case():
    person = {"email": "Ann.Smith@example.org", "forename": "Ann"}
    assert redact("mail ANN.SMITH@EXAMPLE.ORG or ann.smith@example.org", person) == (
        "mail [email] or [email]"
    )


def test_address_lines_with_street_types_written_either_way():
    person = {"address": "12 High Street, Flat 3"}
    assert redact("went to 12 high st and flat 3; the high street shops", person) == (
        "went to [address] and [address]; the high street shops"
    )


def test_ids_with_or_without_separators_but_not_inside_other_ids():
    person = {"upn": "A12345678901B", "pnc_id": "12/345678A", "local_id": "SC-9981"}
    note = "UPN a12345678901b, PNC 12/345678A and 12345678a, SC 9981, sc9981; XSC-99812"
    assert redact(note, person) == (
        "UPN [UPN], PNC [PNC id] and [PNC id], [local id], [local id]; XSC-99812"
    )


def test_an_identifier_overlapping_another_is_one_placeholder_with_nothing_left():
    person = {"forename": "Ann", "email": "ann@example.org"}
    assert redact("wrote from ann@example.org", person) == "wrote from [email]"
    assert redact("wrote from ann@other.org", {"forename": "Ann"}) == "wrote from [name]@other.org"


def test_the_kinds_replaced_are_listed_one_for_each():
    text, kinds = IdentifierRedactor(PERSON).redact("Ann (1/2/10), Ann again, LS6 2AB")
    assert text == "[name] ([date of birth]), [name] again, [postcode]"
    assert Counter(kinds) == {"name": 2, "date_of_birth": 1, "postcode": 1}


def test_a_note_without_them_is_returned_as_it_is():
    note = "Officers attended at 22:15; no injuries. Advice given; referral to MASH 2010."
    text, kinds = IdentifierRedactor(PERSON).redact(note)
    assert text is note and kinds == []
    assert IdentifierRedactor({}).redact(note) == (note, [])


# --- Generated: nothing survives, nothing else changes ------------------------------------------

FILLER = (
    "officer attended address following report verbal argument between adults child upstairs "
    "did not witness incident neighbour called police no injuries reported advice given "
    "referral made annual planned joined sleep alleged early even every item edited about "
    "school nursery health visitor mother father brother sister grandmother social worker "
    "strategy meeting section assessment concern welfare check"
).split()
PLACEHOLDER_WORDS = {w for p in PLACEHOLDERS.values() for w in re.findall(r"[a-z]+", p.lower())}
TWO_LETTER_WORDS = {"al"}
REAL_NAMES = ["Ann", "Al", "Ed", "Jo", "Lee", "Kay", "Ian", "Eve", "Ray", "Tom", "Amy", "Li"]


@st.composite
def names(draw):
    name = draw(
        st.one_of(
            st.sampled_from(REAL_NAMES),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10).map(
                str.capitalize
            ),
        )
    )
    folded = name.lower()
    # Words that are never redacted alone by design (titles, particles, placeholders such as
    # "Baby") or that a placeholder itself spells, and words of the filler.
    assume(
        folded not in normalise.NAME_TITLES
        and folded not in normalise.NAME_SUFFIXES
        and folded not in normalise.SURNAME_PARTICLES
        and not normalise.name_is_placeholder(folded)
        and folded not in PLACEHOLDER_WORDS
        and folded not in FILLER
    )
    return name


dates_of_birth = st.dates(min_value=date(1930, 1, 1), max_value=date(2025, 12, 31))
nhs_numbers = st.text(alphabet="0123456789", min_size=10, max_size=10)
postcodes = st.builds(
    lambda area, district, sector, unit: f"{area}{district} {sector}{unit}",
    st.sampled_from(["LS", "M", "B", "SW", "E", "BD", "HX"]),
    st.integers(1, 29),
    st.integers(0, 9),
    st.sampled_from(["AB", "DE", "HJ", "NP", "QT", "XY"]),
)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]
MONTHS += ["September", "October", "November", "December"]


def date_forms(day: date, order: str = normalise.DOB_ORDER_DAY_FIRST) -> list[str]:
    d, m, y = day.day, day.month, day.year
    month = MONTHS[m - 1]
    suffix = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    # Numbers in the file's order of day and month.
    first, second = (d, m) if order == normalise.DOB_ORDER_DAY_FIRST else (m, d)
    return [
        f"{first:02d}/{second:02d}/{y}",
        f"{first}/{second}/{y % 100:02d}",
        f"{d} {month[:3]} {y}",
        day.isoformat(),
        f"{first:02d}.{second:02d}.{y}",
        f"{month} {d}{suffix} {y}",
        f"{d}{suffix} of {month}, {y}",
        f"{d:02d}-{month[:3].upper()}-{y}",
    ]


def name_forms(name: str) -> list[str]:
    return [name, name.upper(), name.lower(), f"{name}'s", f"({name})", f'"{name}".']


def nhs_forms(number: str) -> list[str]:
    return [
        number,
        f"{number[:3]} {number[3:6]} {number[6:]}",
        f"{number[:3]}-{number[3:6]}-{number[6:]}",
    ]


def postcode_forms(postcode: str) -> list[str]:
    return [
        postcode,
        postcode.lower(),
        postcode.replace(" ", ""),
        postcode.replace(" ", "").lower(),
    ]


@settings(max_examples=300, deadline=None)
@given(
    forename=names(),
    surname=names(),
    dob=dates_of_birth,
    nhs=nhs_numbers,
    postcode=postcodes,
    order=st.sampled_from([normalise.DOB_ORDER_DAY_FIRST, normalise.DOB_ORDER_MONTH_FIRST]),
    data=st.data(),
)
def test_no_identifier_survives_in_any_written_form(
    forename, surname, dob, nhs, postcode, order, data
):
    person = {
        "forename": forename,
        "surname": surname,
        "date_of_birth": dob.isoformat(),
        "nhs_number": nhs,
        "postcode": postcode,
    }
    forms = [
        *name_forms(forename),
        *name_forms(surname),
        f"{forename} {surname}",
        *date_forms(dob, order),
        *nhs_forms(nhs),
        *postcode_forms(postcode),
    ]
    words = data.draw(st.lists(st.sampled_from(FILLER), min_size=0, max_size=30))
    embedded = data.draw(st.lists(st.sampled_from(forms), min_size=1, max_size=8))
    positions = data.draw(st.lists(st.integers(0, len(words)), min_size=len(embedded)))
    note_words = list(words)
    for form, position in zip(embedded, positions, strict=False):
        note_words.insert(min(position, len(note_words)), form)
    note = " ".join(note_words)

    text, kinds = IdentifierRedactor(person, dob_order=order).redact(note)

    assert kinds
    folded = text.casefold()
    for name in (forename, surname):
        if name.lower() in TWO_LETTER_WORDS:
            # A name that is also a word ("Al", as in "et al") stays only in lower case.
            found = re.search(
                rf"(?<![A-Za-z]){name[0]}[{name[1:].lower()}{name[1:].upper()}](?![A-Za-z])", text
            )
        else:
            found = re.search(rf"(?<![a-z]){re.escape(name.casefold())}(?![a-z])", folded)
        assert not found, (name, note, text)
    assert nhs not in normalise.digits_only(text)
    assert postcode.replace(" ", "").casefold() not in folded.replace(" ", "")
    for form in date_forms(dob, order):
        assert form.casefold() not in folded, (form, note, text)


@settings(max_examples=300, deadline=None)
@given(
    forename=names(),
    surname=names(),
    dob=dates_of_birth,
    nhs=nhs_numbers,
    postcode=postcodes,
    data=st.data(),
)
def test_a_note_without_the_identifiers_is_unchanged(forename, surname, dob, nhs, postcode, data):
    person = {
        "forename": forename,
        "surname": surname,
        "date_of_birth": dob.isoformat(),
        "nhs_number": nhs,
        "postcode": postcode,
    }
    other_dates = data.draw(st.lists(dates_of_birth.filter(lambda d: d != dob), max_size=3))
    pieces = data.draw(
        st.lists(
            st.one_of(
                st.sampled_from(FILLER),
                st.sampled_from(FILLER).map(str.capitalize),
                st.integers(0, 99999).map(str),
                st.sampled_from(
                    [f.rstrip(".") for d in other_dates for f in date_forms(d)] or ["x"]
                ),
                st.sampled_from(["22:15", "10.30", "£20", "3rd", "(see above)", "-", ";"]),
            ),
            max_size=40,
        )
    )
    note = " ".join(pieces)
    for name in (forename, surname):
        assume(not re.search(rf"(?<![a-z]){name.lower()}(?![a-z])", note.lower()))
    assert IdentifierRedactor(person).redact(note) == (note, [])


# --- In the row validator -----------------------------------------------------------------------

# Built as it is stored (stored=True): definition_parse's check of labels that look like
# formulas reads a constant from the platform, which this package's tests run without.
DEFINITION = definition_parse(
    {
        "name": "Police incidents",
        "source_id_column": "ref",
        "columns": [
            {"column": "ref", "ignore": True},
            {"column": "forename", "identifier": "forename"},
            {"column": "surname", "identifier": "surname"},
            {"column": "dob", "identifier": "date_of_birth"},
            {"column": "summary", "type": "text", "label": "Summary"},
            {"column": "notes", "type": "text", "label": "Notes"},
            {"column": "grade", "type": "category", "label": "Grade", "values": ["Ann", "Bo"]},
            {"column": "officer", "type": "text", "label": "Officer", "contact": "lead_worker"},
        ],
    },
    stored=True,
)
HEADER = ["ref", "forename", "surname", "dob", "summary", "notes", "grade", "officer"]


def validate(validator: RowValidator, **values: str):
    row = {"ref": "R1", "forename": "Ann", "surname": "Patel", "dob": "01/02/2010", **values}
    return validator.validate(Row(number=2, values=row))


def test_the_validator_redacts_free_text_columns_and_counts_each_kind():
    validator = RowValidator(DEFINITION, HEADER)
    outcome = validate(
        validator,
        summary="Ann Patel (dob 1/2/10) seen",
        notes="Patel's brother",
        grade="Ann",
        officer="PC Ann Jones",
    )
    assert outcome.payload["summary"] == "[name] [name] (dob [date of birth]) seen"
    assert outcome.payload["notes"] == "[name]'s brother"
    # A category value and the agency's own contact are not free text.
    assert outcome.payload["grade"] == "Ann"
    assert outcome.payload["officer"] == "PC Ann Jones"
    assert outcome.errors == [] and outcome.warnings == []
    repairs = Counter(outcome.repairs)
    assert free_text_repairs_take(repairs) == {"name": 3, "date_of_birth": 1, "rows": 1}
    assert repairs == {}


def test_a_row_without_its_identifiers_in_its_notes_has_no_repair():
    validator = RowValidator(DEFINITION, HEADER)
    outcome = validate(validator, summary="Seen at school", notes="")
    assert outcome.payload["summary"] == "Seen at school"
    assert FREE_TEXT_REDACTED_ROW not in outcome.repairs and outcome.repairs == []


def test_the_file_order_of_dates_is_used_in_notes():
    validator = RowValidator(DEFINITION, HEADER, dob_order=normalise.DOB_ORDER_MONTH_FIRST)
    outcome = validate(validator, dob="02/01/2010", summary="born 02/01/2010")
    assert outcome.payload["summary"] == "born [date of birth]"


@settings(max_examples=300, deadline=None)
@given(
    digits=st.text(alphabet="0123", min_size=3, max_size=6),
    text=st.text(alphabet="0123 -./()x", max_size=40),
)
def test_numbers_are_found_among_the_digits_as_the_pattern_would_find_them(digits, text):
    # An NHS number is looked for without compiling a pattern of its own; the spans must be
    # exactly those of the pattern it stands for.
    expected = [m.span() for m in re.finditer(_digits_pattern(digits), text)]
    assert list(_digits_find(digits, text)) == expected


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(["Ann", "Ed", "Do", "O'Brien", "Smith-Jones", "De Souza", "Robert"]),
    field=st.sampled_from(["forename", "surname"]),
    text=st.text(
        alphabet=st.sampled_from(list("annedobriensmithjoesuzaRBSDAE '-_2.(")), max_size=60
    ),
)
def test_the_quick_test_of_a_names_first_letters_loses_no_match(name, field, text):
    # In ASCII notes a name is searched for only where one of its forms' first letters start a
    # word; the spans must be those of searching every note.
    keys, pattern, starts = _name_matcher(
        name, forename=field == "forename", surname=field == "surname"
    )
    expected = [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]
    assert list(_name_find((pattern, starts), text)) == expected


def test_contacts_people_type_lose_the_persons_details_but_keep_a_forename_alone():
    # Found by the outside review of issue 23: "Wilma Vexley DOB 09/10/2011" typed as the officer.
    validator = RowValidator(DEFINITION, HEADER)
    outcome = validate(validator, officer="Patel family, DOB 01/02/2010")
    assert outcome.payload["officer"] == "[name] family, DOB [date of birth]"
    kept = validate(validator, officer="PC Ann Jones")
    assert kept.payload["officer"] == "PC Ann Jones"
    assert free_text_repairs_take(Counter(outcome.repairs)) == {
        "name": 1,
        "date_of_birth": 1,
        "rows": 1,
    }


def test_the_third_outside_reviews_forms_are_redacted():
    """Full-width letters, invisible characters, minus and slash look-alikes, and a forename
    with the address in a contact (third outside review of issue 23)."""
    from sharehub_bridge.validation import free_text_redact

    person = {
        "forename": "ottoline",
        "surname": "prewarth",
        "date_of_birth": "2010-06-21",
        "address": "5 Harrow Close",
        "nhs_number": "9434765919",
    }

    def redacted(text, *, contact=False):
        payload = {"x": text}
        columns = {"typed_contacts": ("x",)} if contact else {"free_text": ("x",)}
        free_text_redact(payload, person, **{"free_text": (), **columns})
        return payload["x"]

    assert redacted("\uff30\uff32\uff25\uff37\uff21\uff32\uff34\uff28") == "[name]"
    assert redacted("Prewar\u200bth said") == "[name] said"
    assert redacted("born 21\u221206\u22122010") == "born [date of birth]"
    assert redacted("NHS 943\u2212476\u22125919") == "NHS [NHS number]"
    assert redacted("Ottoline, 5 Harrow Close", contact=True) == "[name], [address]"
    assert redacted("PC Ottoline Jones", contact=True) == "PC Ottoline Jones"
    assert redacted("Harrow Close team", contact=True) == "Harrow Close team"
    # Text in which nothing is found keeps its own characters.
    assert redacted("Seen \u2212 at school\u200b") == "Seen \u2212 at school\u200b"


def test_names_run_together_spelt_out_or_in_look_alike_letters_are_redacted():
    """Left open by the third outside review of issue 23, then closed: names run together,
    spelt out a letter at a time, or typed with Cyrillic letters drawn like Latin ones; and
    postcodes and dates with other separators."""
    from sharehub_bridge.validation import free_text_redact

    person = {"forename": "ottoline", "surname": "prewarth", "date_of_birth": "2012-03-04"}
    person["postcode"] = "NB1 2AB"

    def redacted(text):
        payload = {"x": text}
        free_text_redact(payload, person, free_text=("x",))
        return payload["x"]

    assert redacted("OttolinePrewarth seen") == "[name] [name] seen"
    assert redacted("P r e w a r t h") == "[name]"
    assert redacted("P.R.E.W.A.R.T.H") == "[name]"
    assert redacted("Pr\u0435w\u0430rth") == "[name]"  # Cyrillic e and a
    assert redacted("NB1/2AB and NB1:2AB") == "[postcode] and [postcode]"
    assert redacted("04|03|2012") == "[date of birth]"
    # Words run together or spelt out that are no one's identifiers stay as written.
    assert redacted("McDonald and PowerPoint, a b c d") == "McDonald and PowerPoint, a b c d"
