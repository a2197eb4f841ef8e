"""Per-agency envelope encryption: what is sealed opens only for its agency and its row."""

import pytest

from agencies.models import Agency
from core.keys import AgencySealer, SealError, agency_open
from core.models import DataKey
from tests.factories import AgencyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_agencies():
    return AgencyFactory(code="AAA"), AgencyFactory(code="BBB")


def test_a_sealed_value_opens_for_its_agency_and_context(two_agencies):
    agency, _ = two_agencies
    blob = AgencySealer(agency.pk).seal(b"identity", context="source_record:1:R1")
    assert agency_open(agency_id=agency.pk, blob=blob, context="source_record:1:R1") == b"identity"
    assert b"identity" not in blob


@pytest.mark.parametrize("attack", ["other_row", "other_agency", "flipped_bit", "truncated"])
def test_a_moved_or_altered_ciphertext_is_refused(two_agencies, attack):
    agency, other = two_agencies
    AgencySealer(other.pk)  # the other agency has a key of its own
    blob = AgencySealer(agency.pk).seal(b"identity", context="source_record:1:R1")
    agency_id, context = agency.pk, "source_record:1:R1"
    if attack == "other_row":
        context = "source_record:1:R2"
    elif attack == "other_agency":
        agency_id = other.pk
    elif attack == "flipped_bit":
        blob = blob[:-1] + bytes([blob[-1] ^ 1])
    else:
        blob = blob[:10]
    with pytest.raises(SealError):
        agency_open(agency_id=agency_id, blob=blob, context=context)


def test_data_keys_are_stored_wrapped_and_differ_per_agency(two_agencies):
    first, second = (AgencySealer(a.pk) for a in two_agencies)
    keys = list(DataKey.objects.order_by("agency_id"))
    assert [k.agency_id for k in keys] == [a.pk for a in two_agencies]
    assert keys[0].wrapped_key != keys[1].wrapped_key
    assert first._aead is not second._aead
    assert Agency.objects.count() == 2


def test_production_without_a_master_key_refuses_to_run(settings, monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from core import keys

    monkeypatch.delenv("SHAREHUB_MASTER_KEYS", raising=False)
    settings.PRODUCTION = True
    keys.master_keys.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="SHAREHUB_MASTER_KEYS"):
            keys.master_keys()
    finally:
        keys.master_keys.cache_clear()


def test_a_malformed_master_key_is_a_clear_error(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from core import keys

    monkeypatch.setenv("SHAREHUB_MASTER_KEYS", "1:tooshort")
    keys.master_keys.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="32 random bytes"):
            keys.master_keys()
    finally:
        keys.master_keys.cache_clear()
