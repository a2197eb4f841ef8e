"""The keyed linkage values of a record, as linkage reads them (matching/tokens.py, keys.py).

Every test goes through record_keys, which linkage, search, screening and key rotation call
(through matching.pseudonymise.record_keys_compute), and reads its packed row the way matching
does (keys_from_packed, candidate_pairs, scoring).
"""

import base64
import hashlib
import hmac
from datetime import date

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core import keys
from matching import scoring
from matching.candidates import candidate_pairs
from matching.tokens import (
    BLOCK_FIELDS,
    EXACT_FIELDS,
    RECORD_DTYPE,
    SEPARATOR,
    _HmacSha256,
    keys_from_packed,
    record_keys,
)

# Test-only keys, never used anywhere else.
KEY_A = "1:" + base64.urlsafe_b64encode(b"a" * 32).decode()
KEY_B = "1:" + base64.urlsafe_b64encode(b"b" * 32).decode()

VALID_NHS = "9434765919"
RECORD = {
    "forename": "Robert",
    "surname": "Smith",
    "date_of_birth": "2010-03-12",
    "gender": "m",
    "address": "12 High St, Leeds",
    "postcode": "LS6 2AB",
    "nhs_number": VALID_NHS,
}
# Function-scoped fixtures only set the key, which is the same for every example.
property_test = hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(autouse=True)
def linkage_key(monkeypatch):
    monkeypatch.delenv("SHAREHUB_LINKAGE_KEY_FILE", raising=False)
    monkeypatch.setenv("SHAREHUB_LINKAGE_KEY", KEY_A)
    keys.linkage_keys.cache_clear()
    yield
    keys.linkage_keys.cache_clear()


def use_key(monkeypatch, spec):
    monkeypatch.setenv("SHAREHUB_LINKAGE_KEY", spec)
    keys.linkage_keys.cache_clear()


def with_(**changes):
    return {**RECORD, **changes}


def keys_of(*records):
    """The records' packed keys as matching reads them: one column per field, a row per record."""
    return keys_from_packed(b"".join(record_keys(record) for record in records))


def key(record, field):
    return int(keys_of(record)[field][0])


def present(record):
    """The exact and blocking fields the record has a value for (0 means missing)."""
    row = keys_of(record)
    return {name for name in EXACT_FIELDS + BLOCK_FIELDS if row[name][0] != 0}


def bloom(record, field):
    return keys_of(record)[f"bloom_{field}"][0]


def dice(a, b, field):
    """The Dice coefficient scoring computes for the two records' encodings of `field`."""
    both = keys_of(a, b)
    coefficients, _ = scoring._dice(both[f"bloom_{field}"], np.array([0]), np.array([1]))
    return float(coefficients[0])


def compared(a, b):
    """Whether linkage would compare the two records at all (they share a blocking value)."""
    left, _ = candidate_pairs(keys_of(a, b), None)
    return len(left) == 1


# --- Keys -----------------------------------------------------------------------------------------


def test_subkeys_differ_by_purpose_and_by_linkage_key(monkeypatch):
    field, block = keys.derive_key("field"), keys.derive_key("block")
    assert len(field) == len(block) == 32
    assert field != block != keys.linkage_key()
    use_key(monkeypatch, KEY_B)
    assert keys.derive_key("field") != field


def test_the_linkage_key_can_come_from_a_file(monkeypatch, tmp_path):
    key_file = tmp_path / "linkage-key"
    key_file.write_text(KEY_B + "\n")
    monkeypatch.delenv("SHAREHUB_LINKAGE_KEY")
    monkeypatch.setenv("SHAREHUB_LINKAGE_KEY_FILE", str(key_file))
    keys.linkage_keys.cache_clear()
    assert keys.linkage_key() == b"b" * 32


def test_development_keeps_a_generated_key_in_var(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("SHAREHUB_LINKAGE_KEY")
    settings.VAR_DIR = tmp_path
    settings.PRODUCTION = False
    keys.linkage_keys.cache_clear()
    first = keys.linkage_key()
    keys.linkage_keys.cache_clear()
    assert keys.linkage_key() == first
    assert (tmp_path / "dev-linkage-key").stat().st_mode & 0o077 == 0


def test_production_without_a_linkage_key_refuses_to_run(monkeypatch, settings):
    monkeypatch.delenv("SHAREHUB_LINKAGE_KEY")
    settings.PRODUCTION = True
    keys.linkage_keys.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="SHAREHUB_LINKAGE_KEY"):
        keys.linkage_key()


def test_a_malformed_linkage_key_is_a_clear_error(monkeypatch):
    use_key(monkeypatch, "1:tooshort")
    with pytest.raises(ImproperlyConfigured, match="SHAREHUB_LINKAGE_KEY"):
        keys.linkage_key()


# --- Exact fields ---------------------------------------------------------------------------------

NAME_FIELDS = {"forename", "forename_initial", "forename_sound", "names_unordered"}
SURNAME_FIELDS = {"surname", "surname_first", "surname_last", "surname_sound", "names_unordered"}
DOB_FIELDS = {"dob", "dob_ym", "dob_y", "dob_decade", "dob_md", "dob_pair"}


def test_keys_are_deterministic_under_one_key_and_fill_one_row():
    packed = record_keys(RECORD)
    assert packed == record_keys(dict(RECORD))
    assert len(packed) == RECORD_DTYPE.itemsize
    # Everything but the identifiers the record lacks: a UPN, a PNC id, a middle name, and a
    # forename that is a nickname of several full names.
    assert present(RECORD) == set(EXACT_FIELDS + BLOCK_FIELDS) - {
        "upn",
        "pnc",
        "middle",
        "middle_initial",
        "forename_alt",
    }


def test_another_key_gives_other_values_and_other_bloom_bits(monkeypatch):
    before = keys_of(RECORD)
    use_key(monkeypatch, KEY_B)
    after = keys_of(RECORD)
    for name in present(RECORD):
        assert before[name][0] != after[name][0], name
    for name in ("forename", "surname", "address", "dob"):
        assert (before[f"bloom_{name}"] != after[f"bloom_{name}"]).any(), name


def test_fields_are_keyed_apart_unless_they_share_a_namespace():
    # One value in several fields: the field's namespace in the HMAC input keeps them apart...
    same = {"forename": "James", "surname": "James"}
    assert key(same, "forename") != key(same, "surname")
    assert key(same, "forename_sound") == key(same, "surname_sound") != key(same, "surname")
    # ... except where comparing across fields is the point: a middle name given as the forename.
    assert key({"forename": "Robert James"}, "middle") == key({"forename": "James"}, "forename")


def test_no_output_is_an_unkeyed_hash_of_an_identifier_or_of_the_hashed_input():
    # SECURITY.md row 9: an unkeyed SHA-256 of an NHS number is found by brute force in minutes.
    candidates = [
        VALID_NHS,
        "robert",
        "smith",
        "2010-03-12",
        "LS6 2AB",
        SEPARATOR.join(["nhs", VALID_NHS]),
        SEPARATOR.join(["surname", "smith"]),
        SEPARATOR.join(["forename", "robert"]),
        SEPARATOR.join(["dob", "2010-03-12"]),
        SEPARATOR.join(["postcode", "LS6 2AB"]),
        SEPARATOR.join(["block_sy", "S530", "2010-03"]),
    ]
    unkeyed = set()
    for text in candidates:
        digest = hashlib.sha256(text.encode()).digest()
        unkeyed |= {int.from_bytes(digest[:8], order) for order in ("little", "big")}
    packed = record_keys(RECORD)
    words = set(np.frombuffer(packed, dtype="<u8").tolist())
    assert words.isdisjoint(unkeyed)
    # The same input under the field subkey is in the row: the check above is of the real thing.
    nhs = hmac.digest(
        keys.derive_key("field"), SEPARATOR.join(["nhs", VALID_NHS]).encode(), "sha256"
    )
    assert int.from_bytes(nhs[:8], "little") in words
    assert VALID_NHS.encode() not in packed
    assert b"smith" not in packed.lower()
    assert keys.linkage_key() not in packed


@pytest.mark.parametrize("size", [0, 16, 32, 64, 65, 200])
def test_the_fast_hmac_is_hmac_sha256(size):
    secret = bytes(range(256))[:size]
    for message in (b"", b"ab", SEPARATOR.join(["nhs", VALID_NHS]).encode(), b"x" * 200):
        assert _HmacSha256(secret).digest(message) == hmac.digest(secret, message, "sha256")


def test_a_nickname_gives_the_same_forename():
    assert key(with_(forename="Bob"), "forename") == key(RECORD, "forename")
    assert key(with_(forename="ROBERT  James"), "forename") == key(RECORD, "forename")
    assert key(with_(forename="ROBERT  James"), "middle") == key({"forename": "James"}, "forename")


def test_swapped_day_and_month_agree_on_the_date_pair_only():
    swapped = with_(date_of_birth="2010-12-03")
    assert key(swapped, "dob") != key(RECORD, "dob")
    assert key(swapped, "dob_pair") == key(RECORD, "dob_pair")
    # A day above 12 cannot be a month, and a day equal to the month swaps to itself: the pair
    # is then the date alone, still there to agree with the same date.
    for dob in ("2010-03-13", "2010-03-03"):
        assert key(with_(date_of_birth=dob), "dob_pair") not in {0, key(RECORD, "dob_pair")}


DATES = st.dates(min_value=date(1902, 1, 1), max_value=date(2024, 12, 31))


@property_test
@given(dob=DATES, other=DATES, swap=st.booleans())
def test_two_dates_share_a_pair_only_when_equal_or_swapped(dob, other, swap):
    swaps = {dob, date(dob.year, dob.day, dob.month)} if dob.day <= 12 else {dob}
    if swap:
        other = max(swaps)
    pair, other_pair = (key(with_(date_of_birth=d.isoformat()), "dob_pair") for d in (dob, other))
    assert (pair == other_pair) == (other in swaps)


@pytest.mark.parametrize("name", ["Baby", "Unknown", "N/K", "Baby of Smith", ""])
def test_a_placeholder_forename_counts_as_missing(name):
    record = with_(forename=name)
    assert not present(record) & (NAME_FIELDS | {"block_dfi", "block_fd", "block_fs", "block_hf"})
    assert {"dob", "postcode", "surname"} <= present(record)
    assert not bloom(record, "forename").any()


def test_a_placeholder_surname_counts_as_missing():
    record = with_(surname="Not Known")
    assert not present(record) & (SURNAME_FIELDS | {"block_sy", "block_hs", "block_fs"})
    assert {"nhs", "dob", "postcode", "forename"} <= present(record)
    assert not bloom(record, "surname").any()


def test_a_placeholder_date_of_birth_counts_as_missing():
    record = with_(date_of_birth="1900-01-01")
    assert not present(record) & (DOB_FIELDS | {"block_sy", "block_dfi", "block_dp", "block_fd"})
    assert {"nhs", "forename", "surname", "postcode"} <= present(record)
    assert not bloom(record, "dob").any()


@pytest.mark.parametrize("number", ["9434765918", "943476591", "0000000001", "not known"])
def test_an_invalid_nhs_number_counts_as_missing(number):
    assert "nhs" not in present(with_(nhs_number=number))


def test_long_and_short_pnc_ids_give_one_value():
    assert key({"pnc_id": "2008/0056560Z"}, "pnc") == key({"pnc_id": "08/56560Z"}, "pnc") != 0
    # A wrong check character: the record has nothing, as if no PNC id had been given.
    assert record_keys({"pnc_id": "2008/0056560A"}) == record_keys({})


# --- Blocking fields ------------------------------------------------------------------------------


def test_a_record_with_only_names_is_still_in_a_block():
    # Whatever identifiers a record has, some block brings it to its other records.
    assert present({"forename": "Robert", "surname": "Smith"}) & set(BLOCK_FIELDS)
    assert compared({"forename": "Robert", "surname": "Smith"}, RECORD)


@pytest.mark.parametrize(
    "changes",
    [
        {"surname": "Smtih", "nhs_number": ""},  # surname typo that changes its sound
        {"surname": "Jones", "postcode": "M1 1AA", "nhs_number": ""},  # married and moved
        {"date_of_birth": "2010-12-03", "nhs_number": ""},  # day and month swapped
        {"forename": "Rbt", "date_of_birth": "2010-03-21", "nhs_number": ""},  # two typos
    ],
)
def test_a_record_with_errors_is_still_compared_with_the_original(changes):
    assert compared(with_(**changes), RECORD)


def test_unrelated_records_are_not_compared():
    other = {"forename": "Aisha", "surname": "Khan", "date_of_birth": "1987-07-30"}
    assert not compared(other, RECORD)


# --- Bloom encodings ------------------------------------------------------------------------------


def surname_dice(a, b, field="surname"):
    return dice({field: a}, {field: b}, field)


def test_identical_values_score_one_and_a_missing_value_is_no_evidence():
    assert surname_dice("smith", "smith") == 1.0
    both = keys_of({"surname": "smith"}, {})
    _, present_in_both = scoring._dice(both["bloom_surname"], np.array([0]), np.array([1]))
    assert not present_in_both[0]
    assert not bloom({}, "surname").any()


def test_the_same_bigrams_set_other_bits_in_another_field():
    record = {"forename": "smith", "surname": "smith"}
    assert (bloom(record, "forename") != bloom(record, "surname")).any()


@pytest.mark.parametrize(
    ("a", "b", "above"),
    [
        ("thompson", "thomson", 0.8),
        ("richardson", "richardsen", 0.8),
        ("williams", "wiliams", 0.8),
        ("katherine", "catherine", 0.75),
        # Short names lose a larger share of their bigrams to one letter.
        ("smith", "smyth", 0.65),
        ("mohammed", "muhammad", 0.55),
    ],
)
def test_spelling_variants_score_high(a, b, above):
    assert surname_dice(a, b) > above


@pytest.mark.parametrize(
    ("a", "b"), [("jack", "emily"), ("liam", "sophie"), ("oscar", "freya"), ("smith", "jones")]
)
def test_unrelated_names_score_low(a, b):
    assert surname_dice(a, b, field="forename") < 0.5


def test_a_mistyped_day_keeps_most_of_the_date():
    typo = with_(date_of_birth="2010-03-13")
    assert dice(RECORD, typo, "dob") >= scoring.DOB_DIGITS_DICE
    assert all(bloom(RECORD, name).any() for name in ("forename", "surname", "address", "dob"))


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz '-", max_size=20)


@property_test
@given(a=names, b=names)
def test_dice_is_symmetric_and_bounded(a, b):
    assert surname_dice(a, b) == surname_dice(b, a)
    assert 0.0 <= surname_dice(a, b) <= 1.0
    assert bloom({"surname": a}, "surname").tolist() == bloom({"surname": a}, "surname").tolist()
