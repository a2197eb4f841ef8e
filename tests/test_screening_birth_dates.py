"""Dates written as birth dates, and ShareHub references, in free text (issue 22, outside
reviews): a birth date is caught by the words around it, in any of the ways people write it,
with no one's records needed; a person's ShareHub reference, which the forms ask people to
write instead of identifiers, is never read as a postcode hidden in it."""

import pytest

from matching.screening import identifiers_in_text

BIRTH_DATES = [
    "Phoebe Atkinson, born 1 August 2010, had her record shown",
    "born 8th June 2020", "born 8 Jun '20", "born 2020-06-08T00:00", "b0rn 8 June 2020",
    "born 8\u200bJune 2020", "8 June 2020 is when he was born",
    "DOB: 01/08/2010", "D.O.B. 08-06-2020", "d-o-b 08/06/2020", "DOB08062020",
    "dob 08062020", "DOB: 8 June", "b. 08/06/2020", "b 8/6/2020",
    "date of birth: June 2020", "date-of-birth 8/6/2020", "birthdate 8.6.2020",
]  # fmt: skip

NOT_BIRTH_DATES = [
    "The protocol was suspended on 1 August 2026 after a breach report",
    "born again agreement review needed by the partnership board",
    "Plan b for the board, reviewed 3 May 2026",
    "A child born abroad is not covered by this protocol version",
    "Please explain why person N92QT948R4 was opened by your practitioner",
    "Reviewed person 2MKFTVUP87 on 3 May 2026 at the MASH meeting",
]


@pytest.mark.parametrize("text", BIRTH_DATES)
def test_a_date_written_as_a_birth_date_is_found_by_its_words(text):
    assert "a date of birth" in identifiers_in_text(text)


@pytest.mark.parametrize("text", NOT_BIRTH_DATES)
def test_other_dates_and_sharehub_references_pass(text):
    assert identifiers_in_text(text) == []


def test_a_reference_hides_no_identifier_written_beside_it():
    """Only the reference itself is set aside: a postcode or NHS number next to it is found."""
    found = identifiers_in_text("Person N92QT948R4 lives at LS6 2AB, NHS 943 476 5919")
    assert found == ["an NHS number", "a postcode"]
