"""Check rules for the identifiers that agencies' extracts carry: NHS number, UPN and PNC id.

This is the one place ShareHub keeps these rules (STYLE.md 5): the synthetic population generator
builds identifiers with them and the matcher's normaliser judges incoming identifiers with them,
so a fix here reaches both. Each check only says whether a string *can* be the identifier; a valid
NHS number may still belong to someone else (a mother's number keyed on her baby's record passes).

The functions accept the canonical written forms (plus the display separators each format allows,
noted per function) and nothing looser: case folding, stripping stray punctuation or repairing OCR
confusions is normalisation, which belongs to the matcher.
"""

from __future__ import annotations

import re

# --- NHS number -----------------------------------------------------------------------------------
# NHS Data Dictionary, "NHS Number": ten digits, the tenth a modulus 11 check digit. Multiply the
# first nine digits by 10, 9, ..., 2, sum, take the remainder mod 11 and subtract it from 11; a
# result of 11 gives check digit 0 and a result of 10 means the nine digits are never issued.
# Equivalently, weights 10..1 over all ten digits sum to a multiple of 11, which is why every single
# wrong digit and every transposition of two different adjacent digits is caught.


def nhs_number_check_digit(first9: str) -> int | None:
    """The check digit for the first nine digits of an NHS number, or None if none exists.

    None means the modulus 11 remainder gives 10, so no NHS number starts with these nine digits.
    Raises ValueError unless `first9` is exactly nine ASCII digits.
    """
    if len(first9) != 9 or not (first9.isascii() and first9.isdigit()):
        raise ValueError(f"expected nine digits, got {first9!r}")
    # Written out rather than summed over a generator: ingest checks every row's NHS number.
    d = [ord(ch) - 48 for ch in first9]
    total = 10 * d[0] + 9 * d[1] + 8 * d[2] + 7 * d[3] + 6 * d[4] + 5 * d[5] + 4 * d[6] + 3 * d[7]
    total += 2 * d[8]
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def nhs_number_is_valid(s: str) -> bool:
    """True if `s` is ten digits whose last is the modulus 11 check digit of the other nine.

    Spaces and hyphens are allowed between digits because the NHS display format is "943 476 5919".
    """
    digits = s.replace(" ", "").replace("-", "")
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()):
        return False
    check = nhs_number_check_digit(digits[:9])
    return check is not None and check == int(digits[9])


# --- Unique Pupil Number --------------------------------------------------------------------------
# DfE, "Unique pupil numbers (UPNs): guidance for schools and local authorities" (UPN guide 1.2):
# 13 characters = check letter, 3-digit LA number, 4-digit DfE establishment number, 2-digit year of
# allocation, 3-digit serial. A temporary UPN has a letter in place of the last serial digit. The
# check letter: multiply characters 2..13 by weights 2..13 (a letter in position 13 counts as its
# index in the table below), sum, take mod 23, and look the remainder up in the table; the letters
# I, O and S are left out because they are misread as 1, 0 and 5.
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters that follow it in a UPN.

    `body` is LA number + establishment number + year + serial, the last character being a letter
    from UPN_LETTERS for a temporary UPN. Raises ValueError for anything else.
    """
    if (
        len(body) != 12
        or not (body[:11].isascii() and body[:11].isdigit())
        or not (body[11] in "0123456789" or body[11] in UPN_LETTERS)
    ):
        raise ValueError(f"expected 11 digits and a digit or UPN letter, got {body!r}")
    total = 0
    for weight, char in enumerate(body, start=2):
        value = int(char) if char.isdigit() else UPN_LETTERS.index(char)
        total += weight * value
    return UPN_LETTERS[total % 23]


def upn_is_valid(s: str) -> bool:
    """True if `s` is a 13-character UPN (permanent or temporary) with the right check letter."""
    if len(s) != 13 or s[0] not in UPN_LETTERS:
        return False
    try:
        return upn_check_letter(s[1:]) == s[0]
    except ValueError:
        return False


# --- Police National Computer id ------------------------------------------------------------------
# The PNC id is YYYY/NNNNNNNX: the year the record was created, a 7-digit serial and a check
# character. The check character is (two-digit year followed by the 7-digit serial, read as one
# number) mod 23, looked up in "ZABCDEFGHJKLMNPQRTUVWXY". The rule is not published by the Home
# Office; this follows the Ministry of Justice's open-source validator (ministryofjustice
# hmpps-person-record, PNCIdValidator), whose test ids such as 2008/0056560Z pass here. The short
# form YY/NNNNNNX drops the century and the serial's leading zeros.
PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
_PNC_RE = re.compile(r"(?:(\d{4})/?(\d{7})|(\d{2})/(\d{1,7}))([A-Z])", re.ASCII)


def pnc_check_letter(year2: str, serial: str) -> str:
    """The check character for a PNC id from its two-digit year and its serial (up to 7 digits)."""
    if len(year2) != 2 or not (year2.isascii() and year2.isdigit()):
        raise ValueError(f"expected a two-digit year, got {year2!r}")
    if not 1 <= len(serial) <= 7 or not (serial.isascii() and serial.isdigit()):
        raise ValueError(f"expected a serial of up to seven digits, got {serial!r}")
    return PNC_CHECK_LETTERS[int(year2 + serial.zfill(7)) % 23]


def pnc_id_is_valid(s: str) -> bool:
    """True if `s` is a PNC id with the right check character.

    Accepts the long form with or without its slash (2008/0056560Z, 20080056560Z) and the short form
    with its slash (08/56560Z).
    """
    match = _PNC_RE.fullmatch(s)
    if match is None:
        return False
    long_year, long_serial, short_year, short_serial, check = match.groups()
    if long_year is not None:
        return pnc_check_letter(long_year[2:], long_serial) == check
    return pnc_check_letter(short_year, short_serial) == check
