"""Keyed match tokens, blocking tokens and Bloom encodings (matching/tokens.py, keys.py)."""

import base64
import hashlib

import pytest
from django.core.exceptions import ImproperlyConfigured
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from matching.tokens import (
    SEPARATOR,
    blocking_tokens,
    bloom_encode,
    bloom_fields,
    dice,
    match_tokens,
    record_tokens,
)
from sharehub import keys

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


# --- Keys -----------------------------------------------------------------------------------------


def test_subkeys_differ_by_purpose_and_by_linkage_key(monkeypatch):
    match, block = keys.derive_key("match"), keys.derive_key("block")
    assert len(match) == len(block) == 32
    assert match != block != keys.linkage_key()
    use_key(monkeypatch, KEY_B)
    assert keys.derive_key("match") != match


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


# --- Match tokens ---------------------------------------------------------------------------------


def test_tokens_are_deterministic_under_one_key():
    assert record_tokens(RECORD) == record_tokens(dict(RECORD))
    assert set(match_tokens(RECORD)) == {
        "nhs",
        "name_dob",
        "initial_name_dob_district",
        "name_dobswap",
        "dob_postcode",
    }


def test_another_key_gives_other_tokens_and_other_bloom_bits(monkeypatch):
    before = record_tokens(RECORD)
    use_key(monkeypatch, KEY_B)
    after = record_tokens(RECORD)
    assert set(before.match.values()).isdisjoint(after.match.values())
    assert before.blocks.isdisjoint(after.blocks)
    assert all(before.bloom[name] != after.bloom[name] for name in before.bloom)


def test_tokens_of_different_rules_never_collide():
    # One value in several rules: the rule name in the HMAC input keeps their tokens apart.
    tokens = match_tokens({"nhs_number": VALID_NHS, "upn": "L383200112001", "pnc_id": "08/56560Z"})
    assert len(tokens) == 3
    assert len(set(tokens.values())) == 3


def test_no_output_is_an_unkeyed_hash_of_an_identifier_or_of_the_hashed_input():
    # SECURITY.md row 9: an unkeyed SHA-256 of an NHS number is found by brute force in minutes.
    candidates = [
        VALID_NHS,
        "robert",
        "smith",
        "2010-03-12",
        "LS6 2AB",
        SEPARATOR.join(["nhs", VALID_NHS]),
        SEPARATOR.join(["name_dob", "smith", "robert", "2010-03-12"]),
        SEPARATOR.join(["dob_postcode", "2010-03-12", "LS6 2AB"]),
    ]
    unkeyed = {hashlib.sha256(text.encode()).hexdigest() for text in candidates}
    prefixes = {digest[:length] for digest in unkeyed for length in (16, 32)}
    tokens = record_tokens(RECORD)
    outputs = set(tokens.match.values()) | {block.partition(":")[2] for block in tokens.blocks}
    assert outputs.isdisjoint(unkeyed | prefixes)
    blob = repr(tokens).encode()
    assert VALID_NHS.encode() not in blob
    assert b"smith" not in blob.lower()
    assert keys.linkage_key() not in blob


def test_a_nickname_gives_the_same_name_dob_token():
    assert match_tokens(with_(forename="Bob"))["name_dob"] == match_tokens(RECORD)["name_dob"]
    assert (
        match_tokens(with_(forename="ROBERT  James"))["name_dob"]
        == (match_tokens(RECORD)["name_dob"])
    )


def test_swapped_day_and_month_agree_only_on_name_dobswap():
    original, swapped = match_tokens(RECORD), match_tokens(with_(date_of_birth="2010-12-03"))
    assert swapped["name_dob"] != original["name_dob"]
    assert swapped["name_dobswap"] == original["name_dobswap"]
    # A day above 12 cannot be a month, and a day equal to the month swaps to itself.
    assert "name_dobswap" not in match_tokens(with_(date_of_birth="2010-03-13"))
    assert "name_dobswap" not in match_tokens(with_(date_of_birth="2010-03-03"))


@pytest.mark.parametrize("name", ["Baby", "Unknown", "N/K", "Baby of Smith", ""])
def test_a_placeholder_forename_gives_no_name_tokens(name):
    tokens = match_tokens(with_(forename=name))
    assert not {"name_dob", "initial_name_dob_district", "name_dobswap"} & set(tokens)
    assert "dob_postcode" in tokens
    assert "forename" not in bloom_fields(with_(forename=name))


def test_a_placeholder_surname_gives_no_name_tokens():
    tokens = match_tokens(with_(surname="Not Known"))
    assert set(tokens) == {"nhs", "dob_postcode"}


def test_a_placeholder_date_of_birth_counts_as_missing():
    tokens = record_tokens(with_(date_of_birth="1900-01-01"))
    assert set(tokens.match) == {"nhs"}
    assert {block.partition(":")[0] for block in tokens.blocks} == {"nhs"}
    assert "dob" not in tokens.bloom


@pytest.mark.parametrize("number", ["9434765918", "943476591", "0000000001", "not known"])
def test_an_invalid_nhs_number_gives_no_nhs_token_or_block(number):
    tokens = record_tokens(with_(nhs_number=number))
    assert "nhs" not in tokens.match
    assert not any(block.startswith("nhs:") for block in tokens.blocks)


def test_long_and_short_pnc_ids_give_one_token():
    assert match_tokens({"pnc_id": "2008/0056560Z"}) == match_tokens({"pnc_id": "08/56560Z"})
    assert match_tokens({"pnc_id": "2008/0056560A"}) == {}


# --- Blocking tokens ------------------------------------------------------------------------------


def test_blocking_tokens_are_few_and_named():
    full = blocking_tokens({**RECORD, "upn": "L383200112001", "pnc_id": "08/56560Z"})
    assert len(full) <= 8
    assert {block.partition(":")[0] for block in full} == {
        "sy",
        "fd",
        "d",
        "py",
        "nhs",
        "upn",
        "pnc",
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"surname": "Smtih", "nhs_number": ""},  # surname typo that changes its sound
        {"surname": "Jones", "postcode": "M1 1AA", "nhs_number": ""},  # married and moved
        {"date_of_birth": "2010-12-03", "nhs_number": ""},  # day and month swapped
        {"forename": "Rbt", "date_of_birth": "2010-03-21", "nhs_number": ""},  # two typos
    ],
)
def test_a_record_with_errors_still_shares_a_block_with_the_original(changes):
    assert blocking_tokens(with_(**changes)) & blocking_tokens(RECORD)


def test_unrelated_records_share_no_block():
    other = {"forename": "Aisha", "surname": "Khan", "date_of_birth": "1987-07-30"}
    assert not blocking_tokens(other) & blocking_tokens(RECORD)


# --- Bloom encodings ------------------------------------------------------------------------------


def surname_dice(a, b, field="surname"):
    return dice(bloom_encode(a, field=field), bloom_encode(b, field=field))


def test_identical_values_score_one_and_empty_filters_zero():
    assert surname_dice("smith", "smith") == 1.0
    assert dice(bloom_encode("", field="surname"), bloom_encode("", field="surname")) == 0.0
    assert len(bloom_encode("smith", field="surname")) == 63  # 500 bits


def test_the_same_bigrams_set_other_bits_in_another_field():
    assert bloom_encode("smith", field="surname") != bloom_encode("smith", field="forename")


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
    fields, typo = bloom_fields(RECORD), bloom_fields(with_(date_of_birth="2010-03-13"))
    assert dice(fields["dob"], typo["dob"]) > 0.7
    assert set(fields) == {"forename", "surname", "dob", "postcode", "address"}


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz '-", max_size=20)


@property_test
@given(a=names, b=names)
def test_dice_is_symmetric_and_bounded(a, b):
    first, second = bloom_encode(a, field="surname"), bloom_encode(b, field="surname")
    assert dice(first, second) == dice(second, first)
    assert 0.0 <= dice(first, second) <= 1.0
    assert bloom_encode(a, field="surname") == first
