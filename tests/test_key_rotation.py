"""Key rotation: every sealed value still opens, with the same content, under the new keys."""

import base64
import io
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from agencies.models import Extract, ExtractStatus, QuarantinedRow, SourceRecord
from core import keys
from core.keys import sealed_version
from core.models import DataKey
from matching.pseudonymise import identity_open, quarantine_open
from sharehub import rotation
from sharehub.rotation import agency_key_rotate, master_key_rotate
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload

pytestmark = pytest.mark.django_db

NEW_MASTER = "2:" + base64.urlsafe_b64encode(b"n" * 32).decode()
# Distinctive values, to show that nothing a row holds reaches the command's output.
SECRET_FORENAME = "Zebedee"
SECRET_REF = "REF-77310"


@pytest.fixture
def set_master_keys(monkeypatch):
    """Point SHAREHUB_MASTER_KEYS at other entries, as an operator does, with the caches emptied
    the way a freshly started process would have them."""
    original = os.environ["SHAREHUB_MASTER_KEYS"]

    def set_keys(*entries: str) -> None:
        monkeypatch.setenv("SHAREHUB_MASTER_KEYS", ",".join(entries))
        forget_keys()

    set_keys.original = original
    yield set_keys
    keys.master_keys.cache_clear()


def forget_keys() -> None:
    keys.master_keys.cache_clear()
    keys._data_key_cache.clear()


@pytest.fixture
def loaded(agency, other_agency, settings):
    """Two agencies with records and rejected rows sealed under their data keys."""
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    ours = police_dataset(agency)
    upload(
        ours,
        csv_bytes(
            [good_row(f"A{n}", forename=f"Name{n}") for n in range(7)]
            + [good_row(SECRET_REF, forename=SECRET_FORENAME), good_row("BAD1", surname="")]
        ),
    )
    upload(
        ours,
        csv_bytes([good_row(f"B{n}") for n in range(3)] + [good_row("BAD2", incident_date="soon")]),
        filename="second.csv",
    )
    theirs = police_dataset(other_agency)
    upload(
        theirs,
        csv_bytes([good_row(f"P{n}") for n in range(4)] + [good_row("BAD3", incident_date="x")]),
    )
    assert SourceRecord.objects.filter(dataset=ours).count() == 11
    assert QuarantinedRow.objects.filter(extract__dataset=ours).count() == 2
    return agency, other_agency


def opened(agency) -> dict[tuple, dict]:
    """What every sealed value of the agency says, opened with the keys as now configured."""
    contents: dict[tuple, dict] = {}
    for record in SourceRecord.objects.filter(dataset__agency=agency):
        contents["identity", record.dataset_id, record.source_id] = identity_open(
            agency_id=agency.pk,
            dataset_id=record.dataset_id,
            source_id=record.source_id,
            blob=record.identity,
        )
    for row in QuarantinedRow.objects.filter(extract__dataset__agency=agency):
        contents["rejected", row.extract_id, row.row_number] = quarantine_open(
            agency_id=agency.pk,
            extract_id=row.extract_id,
            row_number=row.row_number,
            blob=row.sealed_row,
        )
    return contents


def blobs(agency) -> dict[tuple, bytes]:
    raw = {
        ("identity", pk): bytes(blob)
        for pk, blob in SourceRecord.objects.filter(dataset__agency=agency).values_list(
            "pk", "identity"
        )
    }
    raw.update(
        (("rejected", pk), bytes(blob))
        for pk, blob in QuarantinedRow.objects.filter(extract__dataset__agency=agency).values_list(
            "pk", "sealed_row"
        )
    )
    return raw


def data_keys(agency) -> list[tuple]:
    return list(
        DataKey.objects.filter(agency=agency)
        .order_by("version")
        .values_list("version", "master_key_version", "wrapped_key", "retired_at")
    )


def run(*args) -> str:
    out = io.StringIO()
    call_command("rotate_keys", *args, stdout=out)
    return out.getvalue()


# --- Master key -----------------------------------------------------------------------------


def test_master_rotation_rewraps_every_data_key_and_the_old_master_key_can_go(
    loaded, set_master_keys
):
    before = {agency.pk: opened(agency) for agency in loaded}
    set_master_keys(NEW_MASTER, set_master_keys.original)

    output = run("--master")

    assert "2 data key(s) rewrapped" in output
    assert "still wrapping data keys: 2." in output
    assert "version(s) 1 wrap nothing any more" in output
    assert set(DataKey.objects.values_list("master_key_version", flat=True)) == {2}
    forget_keys()
    assert {agency.pk: opened(agency) for agency in loaded} == before

    set_master_keys(NEW_MASTER)  # the operator removes the old master key
    assert {agency.pk: opened(agency) for agency in loaded} == before


def test_master_rotation_is_idempotent(loaded, set_master_keys):
    set_master_keys(NEW_MASTER, set_master_keys.original)
    assert master_key_rotate().rewrapped == 2
    wrapped = list(DataKey.objects.order_by("pk").values_list("wrapped_key", flat=True))

    again = master_key_rotate()

    assert again.rewrapped == 0
    assert again.versions_in_use == [2]
    assert list(DataKey.objects.order_by("pk").values_list("wrapped_key", flat=True)) == wrapped


def test_without_master_rotation_the_old_master_key_cannot_be_removed(loaded, set_master_keys):
    # What the rotation is for: data keys wrapped by a master key no longer listed are lost.
    agency, _ = loaded
    set_master_keys(NEW_MASTER)
    with pytest.raises(ImproperlyConfigured, match="Master key version 1"):
        opened(agency)


def test_master_rotation_stopped_part_way_finishes_on_a_rerun(loaded, set_master_keys):
    agency, other = loaded
    set_master_keys(NEW_MASTER, set_master_keys.original)
    first = DataKey.objects.get(agency=agency)
    keys.data_key_rewrap(data_key_id=first.pk)  # then the process died

    result = master_key_rotate()

    assert result.rewrapped == 1
    assert result.versions_unused == [1]
    set_master_keys(NEW_MASTER)
    assert opened(agency) and opened(other)


# --- Agency data key ------------------------------------------------------------------------


def test_agency_rotation_reseals_every_blob_and_retires_the_old_key(loaded):
    agency, other = loaded
    contents, raw = opened(agency), blobs(agency)
    other_contents, other_raw, other_keys = opened(other), blobs(other), data_keys(other)

    result = agency_key_rotate(agency_id=agency.pk)

    assert (result.version, result.started, result.complete) == (2, True, True)
    assert result.resealed == {
        "identities": 11,
        "rejected rows": 2,
        "released subject access parts": 0,
    }
    assert result.retired_versions == [1]
    forget_keys()
    assert opened(agency) == contents
    after = blobs(agency)
    assert after.keys() == raw.keys()
    assert all(after[key] != raw[key] for key in raw)
    assert {sealed_version(blob) for blob in after.values()} == {2}
    retired = dict(DataKey.objects.filter(agency=agency).values_list("version", "retired_at"))
    assert retired[1] is not None and retired[2] is None
    # The other agency is untouched.
    assert (opened(other), blobs(other), data_keys(other)) == (
        other_contents,
        other_raw,
        other_keys,
    )


def test_after_rotation_new_records_are_sealed_with_the_new_key(loaded):
    agency, _ = loaded
    agency_key_rotate(agency_id=agency.pk)
    dataset = SourceRecord.objects.filter(dataset__agency=agency).first().dataset

    upload(dataset, csv_bytes([good_row("C1")]), filename="third.csv")

    record = SourceRecord.objects.get(dataset=dataset, source_id="C1")
    assert sealed_version(record.identity) == 2


def test_rotating_again_makes_a_third_key(loaded):
    agency, _ = loaded
    contents = opened(agency)
    agency_key_rotate(agency_id=agency.pk)

    result = agency_key_rotate(agency_id=agency.pk)

    assert (result.version, result.started, result.retired_versions) == (3, True, [2])
    assert {sealed_version(blob) for blob in blobs(agency).values()} == {3}
    forget_keys()
    assert opened(agency) == contents


def test_a_rotation_stopped_after_some_batches_finishes_on_a_rerun(loaded):
    agency, _ = loaded
    contents, raw = opened(agency), blobs(agency)

    first = agency_key_rotate(agency_id=agency.pk, batch_size=3, max_batches=2)

    assert (first.version, first.complete, first.retired_versions) == (2, False, [])
    assert first.resealed == {
        "identities": 6,
        "rejected rows": 0,
        "released subject access parts": 0,
    }
    assert first.remaining == 7
    # Half way, old and new blobs open side by side.
    assert sorted({sealed_version(blob) for blob in blobs(agency).values()}) == [1, 2]
    forget_keys()
    assert opened(agency) == contents

    second = agency_key_rotate(agency_id=agency.pk, batch_size=3)

    assert (second.version, second.started, second.complete) == (2, False, True)
    assert second.resealed == {
        "identities": 5,
        "rejected rows": 2,
        "released subject access parts": 0,
    }
    assert second.retired_versions == [1]
    assert DataKey.objects.filter(agency=agency).count() == 2  # no third key on the rerun
    after = blobs(agency)
    assert all(after[key] != raw[key] for key in raw)
    forget_keys()
    assert opened(agency) == contents


def test_a_rotation_that_crashes_mid_batch_loses_nothing_and_a_rerun_finishes(loaded, monkeypatch):
    agency, _ = loaded
    contents = opened(agency)
    real_seal = rotation.identity_seal
    calls = 0

    def seal_then_die(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 6:
            raise RuntimeError("worker killed")
        return real_seal(*args, **kwargs)

    monkeypatch.setattr(rotation, "identity_seal", seal_then_die)
    with pytest.raises(RuntimeError):
        agency_key_rotate(agency_id=agency.pk, batch_size=4)
    # The first batch of four was committed; the second rolled back whole.
    versions = [sealed_version(blob) for blob in blobs(agency).values()]
    assert (versions.count(2), versions.count(1)) == (4, 9)
    monkeypatch.undo()

    result = agency_key_rotate(agency_id=agency.pk, batch_size=4)

    assert (result.version, result.complete) == (2, True)
    assert result.resealed == {
        "identities": 7,
        "rejected rows": 2,
        "released subject access parts": 0,
    }
    forget_keys()
    assert opened(agency) == contents


def test_an_extract_being_ingested_keeps_the_old_key_until_it_finishes(loaded):
    agency, _ = loaded
    extract = Extract.objects.filter(dataset__agency=agency).first()
    Extract.objects.filter(pk=extract.pk).update(status=ExtractStatus.PROCESSING)

    result = agency_key_rotate(agency_id=agency.pk)

    assert (result.complete, result.extracts_in_progress, result.retired_versions) == (
        False,
        1,
        [],
    )
    assert DataKey.objects.get(agency=agency, version=1).retired_at is None
    Extract.objects.filter(pk=extract.pk).update(status=ExtractStatus.LOADED)

    rerun = agency_key_rotate(agency_id=agency.pk)

    assert (rerun.version, rerun.complete, rerun.retired_versions) == (2, True, [1])


def test_after_both_rotations_the_old_master_key_can_go(loaded, set_master_keys):
    agency, other = loaded
    contents = {a.pk: opened(a) for a in loaded}
    set_master_keys(NEW_MASTER, set_master_keys.original)
    run("--all-agencies")  # the new data keys are wrapped under the new master key
    run("--master")  # and the old data keys, still there for stragglers, are rewrapped

    set_master_keys(NEW_MASTER)

    assert {a.pk: opened(a) for a in loaded} == contents
    assert {sealed_version(blob) for blob in blobs(agency).values()} == {2}


# --- The command ----------------------------------------------------------------------------


def test_the_command_reports_counts_and_nothing_a_record_holds(loaded):
    agency, _ = loaded

    output = run("--agency", agency.code, "--batch-size", "5")

    assert (
        "CSC: new data key 2; resealed 11 identities, 2 rejected rows, "
        "0 released subject access parts."
    ) in output
    assert "identities resealed 10 of 11" in output
    assert "CSC: retired data key version(s) 1." in output
    assert "CSC: rotation complete." in output
    for held in (SECRET_FORENAME, SECRET_REF, "Smith", "9434765919", "LS6"):
        assert held not in output


def test_the_command_says_when_to_run_again(loaded):
    agency, _ = loaded

    output = run("--agency", agency.code, "--batch-size", "5", "--max-batches", "1")

    assert "not finished (8 sealed value(s) still under an older key)" in output
    assert "CSC: continuing with data key 2" in run("--agency", agency.code)


def test_all_agencies_skips_agencies_without_a_key(loaded, db):
    from tests.factories import AgencyFactory

    AgencyFactory(code="EDU")

    output = run("--all-agencies")

    assert "CSC: rotation complete." in output and "POL: rotation complete." in output
    assert "EDU" not in output
    assert not DataKey.objects.filter(agency__code="EDU").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Say what to rotate"),
        (("--agency", "NOPE"), "No agency with code NOPE"),
        (("--agency", "CSC", "--all-agencies"), "not both"),
        (("--master", "--batch-size", "0"), "at least 1"),
    ],
)
def test_the_command_refuses_unclear_requests(agency, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
