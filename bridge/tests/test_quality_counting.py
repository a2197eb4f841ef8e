"""Data quality counting: which identifiers each row had and which failed their rule
(RowValidator), and the extract's counts per identifier (IdentifierTally). No Django."""

import string

from hypothesis import given
from hypothesis import strategies as st

from sharehub_bridge import normalise
from sharehub_bridge.definitions import ColumnSpec, Definition
from sharehub_bridge.readers import Row
from sharehub_bridge.validation import IDENTIFIER_RULES, IdentifierTally, RowValidator

# Built directly: the bridge's tests run without Django, and definition_parse still reaches
# into the platform (definitions.formula_start_problem).
DEFINITION = Definition(
    name="Education - attendance",
    source_id_column="pupil_ref",
    columns=(
        ColumnSpec("pupil_ref"),
        ColumnSpec("forename", identifier="forename"),
        ColumnSpec("surname", identifier="surname"),
        ColumnSpec("dob", identifier="date_of_birth"),
        ColumnSpec("sex", identifier="gender"),
        ColumnSpec("nhs", identifier="nhs_number"),
        ColumnSpec("postcode", identifier="postcode"),
        ColumnSpec("upn", identifier="upn"),
        ColumnSpec("pnc", identifier="pnc_id"),
        ColumnSpec("address_1", identifier="address"),
        ColumnSpec("address_2", identifier="address"),
        ColumnSpec("school", type="text", label="School"),
    ),
)
HEADER = [column.column for column in DEFINITION.columns]
VALID = {
    "pupil_ref": "P1",
    "forename": "Amara",
    "surname": "Okafor",
    "dob": "04/06/2012",
    "sex": "F",
    "nhs": "943 476 5919",
    "postcode": "ls62ab",
    "upn": "Q801200110001",
    "pnc": "2008/0056560Z",
    "address_1": "1 High Street",
    "address_2": "Leeds",
    "school": "Park Primary",
}


def outcome(number: int = 2, **changes):
    validator = RowValidator(DEFINITION, HEADER)
    return validator.validate(Row(number, {**VALID, **changes}))


def test_a_complete_valid_row_has_every_identifier_and_none_invalid():
    row = outcome()
    assert row.errors == []
    assert set(row.identifiers_present) == {
        "forename",
        "surname",
        "date_of_birth",
        "gender",
        "nhs_number",
        "postcode",
        "upn",
        "pnc_id",
        "address",
    }
    assert row.identifiers_invalid == ()


def test_blank_identifiers_are_missing_not_invalid():
    row = outcome(nhs="", postcode="  ", dob="", address_1="", address_2="")
    assert not {"nhs_number", "postcode", "date_of_birth", "address"} & set(row.identifiers_present)
    assert row.identifiers_invalid == ()


def test_each_rule_marks_its_identifier_invalid_and_the_value_is_still_loaded():
    row = outcome(
        forename="Baby",
        surname="Unknown",
        dob="31/02/2012",  # no such day: only the month and year are kept
        sex="not a gender",
        nhs="9434765918",  # wrong check digit
        postcode="Leeds",
        upn="A801200110001",  # wrong check letter (Q is right)
        pnc="2008/0056560A",  # wrong check character
    )
    assert row.errors == []
    assert set(row.identifiers_invalid) == {
        "forename",
        "surname",
        "date_of_birth",
        "gender",
        "nhs_number",
        "postcode",
        "upn",
        "pnc_id",
    }
    assert row.identifiers["date_of_birth"] == "2012-02"
    assert row.identifiers["nhs_number"] == "9434765918"
    # Every identifier with a rule is one the page explains in words.
    assert set(row.identifiers_invalid) <= set(IDENTIFIER_RULES)


def test_a_repaired_date_of_birth_is_valid_and_an_unreadable_one_present_but_invalid():
    swapped = outcome(dob="06/19/2012")  # month first in a day-first file: swapped back
    assert "swapped" in swapped.repairs
    assert "date_of_birth" not in swapped.identifiers_invalid
    unreadable = outcome(dob="sometime in spring")
    assert "date_of_birth" in unreadable.identifiers_present
    assert "date_of_birth" in unreadable.identifiers_invalid
    assert "date_of_birth" not in unreadable.identifiers


def test_the_tally_counts_present_and_invalid_per_identifier_over_rows():
    tally = IdentifierTally(DEFINITION)
    rows = [
        outcome(2),
        outcome(3, nhs="", postcode="LS6 2AB"),
        outcome(4, nhs="1234567890", postcode="nowhere", address_1=""),
        outcome(5, forename="Unknown", dob="", address_1="", address_2=""),
    ]
    for row in rows:
        tally.add(row)
    quality = tally.as_json()
    assert quality["rows"] == 4
    identifiers = quality["identifiers"]
    assert identifiers["nhs_number"] == {"present": 3, "invalid": 1}
    assert identifiers["postcode"] == {"present": 4, "invalid": 1}
    assert identifiers["forename"] == {"present": 4, "invalid": 1}
    assert identifiers["date_of_birth"] == {"present": 3, "invalid": 0}
    # Two address columns on one row are one address present; no rule, so no "invalid".
    assert identifiers["address"] == {"present": 3}
    assert list(identifiers) == [
        "forename",
        "surname",
        "date_of_birth",
        "gender",
        "nhs_number",
        "postcode",
        "upn",
        "pnc_id",
        "address",
    ]


def test_an_identifier_mapped_but_never_given_counts_zero_and_values_never_appear():
    tally = IdentifierTally(DEFINITION)
    for number in range(2, 5):
        tally.add(outcome(number, upn=""))
    quality = tally.as_json()
    assert quality["identifiers"]["upn"] == {"present": 0, "invalid": 0}
    text = repr(quality)
    for value in VALID.values():
        assert value not in text


@given(
    st.one_of(
        st.sampled_from(sorted(normalise._ONE_WORD_PLACEHOLDERS)).map(str.title),
        st.text(alphabet=string.ascii_letters, min_size=1, max_size=12),
    )
)
def test_a_one_word_name_is_judged_as_the_tokeniser_would(name):
    """The short cut for plain one-word names gives the tokeniser's answer, word for word."""
    slow = normalise._tokens_are_placeholder(normalise._name_tokens(name))
    assert normalise.name_is_placeholder(name) is slow
