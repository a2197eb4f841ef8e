"""Check rules for NHS numbers, UPNs and PNC ids (sharehub_bridge.identifiers)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharehub_bridge.identifiers import (
    PNC_CHECK_LETTERS,
    UPN_LETTERS,
    nhs_number_check_digit,
    nhs_number_is_valid,
    pnc_check_letter,
    pnc_id_is_valid,
    upn_check_letter,
    upn_is_valid,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)


# --- NHS number -----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["9434765919", "9434765870", "943 476 5919", "943-476-5870"])
def test_known_nhs_numbers_are_valid(number):
    assert nhs_number_is_valid(number)


def test_check_digit_of_a_known_number():
    # 9*10 + 4*9 + 3*8 + 4*7 + 7*6 + 6*5 + 5*4 + 9*3 + 1*2 = 299; 299 mod 11 = 2; 11 - 2 = 9.
    assert nhs_number_check_digit("943476591") == 9
    # Remainder 0 gives 11, which is written as check digit 0.
    assert nhs_number_check_digit("943476587") == 0


def test_a_prefix_whose_check_would_be_ten_is_never_an_nhs_number():
    # 4*10 + 8*2 = 56; 56 mod 11 = 1; 11 - 1 = 10: no NHS number starts 400000008.
    assert nhs_number_check_digit("400000008") is None
    assert not any(nhs_number_is_valid(f"400000008{d}") for d in "0123456789")


@pytest.mark.parametrize(
    "number",
    [
        "4934765919",  # first two digits transposed
        "9434765991",  # check digit transposed with its neighbour
        "9434765918",  # wrong check digit
        "943476591",  # too short
        "94347659190",  # too long
        "943476591O",  # letter O for zero
        "\uff19434765919",  # a full-width digit
        "",
    ],
)
def test_mistyped_or_malformed_nhs_numbers_are_invalid(number):
    assert not nhs_number_is_valid(number)


@pytest.mark.parametrize("bad", ["94347659", "9434765910", "94347659x", "９４３４７６５９１"])
def test_check_digit_refuses_anything_but_nine_digits(bad):
    with pytest.raises(ValueError):
        nhs_number_check_digit(bad)


@given(nine_digits)
def test_nhs_check_digit_makes_a_valid_number_and_catches_every_single_error(first9):
    check = nhs_number_check_digit(first9)
    if check is None:
        return
    number = f"{first9}{check}"
    assert nhs_number_is_valid(number)
    for i in range(10):
        for d in "0123456789":
            if d != number[i]:
                assert not nhs_number_is_valid(number[:i] + d + number[i + 1 :])
    for i in range(9):
        if number[i] != number[i + 1]:
            swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            assert not nhs_number_is_valid(swapped)


# --- UPN ------------------------------------------------------------------------------------------


def test_upn_check_letter_worked_example():
    # Body 383 2001 12 001: 3*2 + 8*3 + 3*4 + 2*5 + 0*6 + 0*7 + 1*8 + 1*9 + 2*10 + 0*11 + 0*12
    # + 1*13 = 102; 102 mod 23 = 10, the eleventh letter of ABCDEFGHJKLMN... = L.
    assert upn_check_letter("383200112001") == "L"
    assert upn_is_valid("L383200112001")


def test_temporary_upn_counts_its_last_letter_by_table_position():
    # As above with A (= 0) in place of the final 1: 102 - 13 = 89; 89 mod 23 = 20 = X.
    assert upn_check_letter("38320011200A") == "X"
    assert upn_is_valid("X38320011200A")


@pytest.mark.parametrize(
    "upn",
    [
        "M383200112001",  # wrong check letter
        "l383200112001",  # lower case
        "I383200112001",  # I, O and S are never check letters
        "L38320011200",  # too short
        "L3832001120O1",  # letter O inside the digits
        "X38320011200I",  # I is not a UPN letter
        "",
    ],
)
def test_bad_upns_are_invalid(upn):
    assert not upn_is_valid(upn)


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(0, 11), digits)
def test_upn_round_trip_and_single_digit_errors_caught(body, position, digit):
    upn = upn_check_letter(body) + body
    assert upn_is_valid(upn)
    assert upn[0] in UPN_LETTERS
    if body[position] != digit:
        changed = body[:position] + digit + body[position + 1 :]
        assert not upn_is_valid(upn[0] + changed)


# --- PNC id ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pnc",
    [
        # Test ids from the Ministry of Justice's open-source validator (hmpps-person-record).
        "2008/0056560Z",
        "2001/0171310W",
        "2003/0062845E",
        "1981/0154257C",
        "20030011985X",  # without the slash
        "08/56560Z",  # short form
    ],
)
def test_known_pnc_ids_are_valid(pnc):
    assert pnc_id_is_valid(pnc)


@pytest.mark.parametrize(
    "pnc",
    [
        "2001/0171310S",  # wrong check letter
        "20030011985Z",
        "1X23/1234567A",
        "1923/1234567AA",
        "2008/0056560z",  # lower case check character
        "2008/005656Z",  # six-digit serial in the long form
        "2008/0056560Z\n",
        "",
    ],
)
def test_bad_pnc_ids_are_invalid(pnc):
    assert not pnc_id_is_valid(pnc)


def test_pnc_check_letter_pads_short_serials():
    # 080056560 mod 23 = 0, the Z that starts the table.
    assert pnc_check_letter("08", "0056560") == "Z"
    assert pnc_check_letter("08", "56560") == "Z"
    with pytest.raises(ValueError):
        pnc_check_letter("2008", "0056560")
    with pytest.raises(ValueError):
        pnc_check_letter("08", "12345678")


@given(
    st.integers(1950, 2026),
    st.text(alphabet="0123456789", min_size=7, max_size=7),
    st.integers(0, 6),
    digits,
)
def test_pnc_round_trip_and_single_digit_errors_caught(year, serial, position, digit):
    check = pnc_check_letter(f"{year % 100:02d}", serial)
    assert check in PNC_CHECK_LETTERS
    assert pnc_id_is_valid(f"{year}/{serial}{check}")
    assert pnc_id_is_valid(f"{year}{serial}{check}")
    assert pnc_id_is_valid(f"{year % 100:02d}/{serial.lstrip('0') or '0'}{check}")
    if serial[position] != digit:
        changed = serial[:position] + digit + serial[position + 1 :]
        assert not pnc_id_is_valid(f"{year}/{changed}{check}")
