"""The IG bridge channel, platform side: the ingest key, sealed uploads in chunks through the
API (bridge/PROTOCOL.md), and the ingest of a sealed extract with its checks."""

import base64
import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from agencies.ingest.housekeeping import uploads_orphaned_sweep
from agencies.ingest.process import extract_ingest
from agencies.ingest.quarantine import quarantine_csv_rows
from agencies.ingest.receive import upload_dir
from agencies.models import (
    Extract,
    ExtractChannel,
    ExtractStatus,
    QuarantinedRow,
    Role,
    SealedUpload,
    SealedUploadStatus,
    SourceRecord,
)
from agencies.sealed_uploads import sealed_uploads_expire
from agencies.services import dataset_define
from agencies.tokens import api_token_create
from audit.models import AuditAction, AuditEntry
from core import keys
from matching.pseudonymise import identity_open
from sharehub_bridge.definitions import definition_parse
from sharehub_bridge.envelope import private_key_new, public_key_raw
from tests.bridge_helpers import bridge_push, chunks_of, sealed_extract, sealed_upload_open
from tests.ingest_helpers import (
    POLICE_DEFINITION,
    dataset_snapshot,
    good_row,
    police_dataset,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(agency):
    return police_dataset(agency)


@pytest.fixture
def small_chunks(settings):
    settings.SHAREHUB_SEALED_CHUNK_BYTES = 256


@pytest.fixture
def token(agency, member):
    return api_token_create(agency=agency, name="bridge", created_by=member(Role.AGENCY_ADMIN))[1]


def api(client, token, method, url, **kwargs):
    return getattr(client, method)(url, HTTP_AUTHORIZATION=f"Token {token}", **kwargs)


def _open(client, token, dataset, sealed, file_sha256, **changes):
    body = {
        "mode": "incremental",
        "filename": "incidents.csv",
        "file_sha256": file_sha256,
        "definition_version": dataset.current_version.number,
        "size": len(sealed),
        "sha256": hashlib.sha256(sealed).hexdigest(),
        **changes,
    }
    return api(
        client, token, "post", reverse("agencies_api:sealed_uploads", args=[dataset.pk]),
        data=json.dumps(body), content_type="application/json",
    )  # fmt: skip


def _put(client, token, upload_id, index, data, checksum=None):
    return api(
        client, token, "put",
        reverse("agencies_api:sealed_upload_chunk", args=[upload_id, index]),
        data=data, content_type="application/octet-stream",
        HTTP_X_CHUNK_SHA256=checksum or hashlib.sha256(data).hexdigest(),
    )  # fmt: skip


def _complete(client, token, upload_id):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return api(
            client, token, "post", reverse("agencies_api:sealed_upload_complete", args=[upload_id])
        )


ROWS = [good_row("A1"), good_row("A2", forename="Bea"), good_row("A3", forename="Cal")]


# --- The ingest key -------------------------------------------------------------------------


def test_the_ingest_key_is_served_public_only(client, token):
    answer = api(client, token, "get", reverse("agencies_api:ingest_key")).json()
    current = keys.ingest_private_keys()[0]
    version, private = current.version, current.key
    assert answer["key_version"] == version
    assert base64.b64decode(answer["public_key"]) == public_key_raw(private)
    assert base64.b64encode(private).decode() not in json.dumps(answer)
    assert answer["algorithm"] == "X25519-HKDF-SHA256-AES-256-GCM"


def test_public_keys_can_be_given_apart_from_the_private_ones(monkeypatch):
    public = public_key_raw(private_key_new())
    monkeypatch.setenv("SHAREHUB_INGEST_PUBLIC_KEYS", f"4:{base64.b64encode(public).decode()}")
    keys.ingest_public_keys.cache_clear()
    try:
        assert keys.ingest_public_key() == (4, public)
    finally:
        keys.ingest_public_keys.cache_clear()


def test_a_version_not_held_is_a_clear_error():
    with pytest.raises(keys.IngestKeyMissing, match="version 9"):
        keys.ingest_private_key(9)


def test_development_makes_an_ingest_key_once_into_var(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("SHAREHUB_INGEST_KEYS", raising=False)
    settings.VAR_DIR = tmp_path
    keys.ingest_private_keys.cache_clear()
    keys.ingest_public_keys.cache_clear()
    try:
        first = keys.ingest_public_key()
        keys.ingest_private_keys.cache_clear()
        keys.ingest_public_keys.cache_clear()
        assert keys.ingest_public_key() == first
        assert (tmp_path / "dev-ingest-keys").stat().st_mode & 0o777 == 0o600
    finally:
        keys.ingest_private_keys.cache_clear()
        keys.ingest_public_keys.cache_clear()


# --- Uploading in chunks --------------------------------------------------------------------


def test_chunks_in_any_order_and_again_make_one_loaded_extract(
    client, token, dataset, small_chunks
):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    opened = _open(client, token, dataset, sealed, file_sha256)
    assert opened.status_code == 201, opened.content
    upload_id, count = opened.json()["id"], opened.json()["chunks"]
    assert count > 2 and opened.json()["received"] == [] and opened.json()["status"] == "open"
    chunks = chunks_of(sealed, 256)
    for index in reversed(range(count)):
        assert _put(client, token, upload_id, index, chunks[index]).status_code == 200
    assert _put(client, token, upload_id, 0, chunks[0]).json() == {"index": 0, "received": True}
    state = api(
        client, token, "get", reverse("agencies_api:sealed_upload_detail", args=[upload_id])
    )
    assert state.json()["received"] == list(range(count))

    done = _complete(client, token, upload_id)
    assert done.status_code == 202, done.content
    extract = Extract.objects.get(pk=done.json()["extract"])
    assert extract.channel == ExtractChannel.BRIDGE
    assert extract.status == ExtractStatus.LOADED, extract.message
    assert extract.rows_loaded == 3 and extract.bytes_processed == len(sealed)
    assert extract.checksum == file_sha256 and extract.filename == "incidents.csv"
    record = SourceRecord.objects.get(dataset=dataset, source_id="A2")
    assert record.payload["risk_grade"] == "high"
    identity = identity_open(
        agency_id=dataset.agency_id, dataset_id=dataset.pk, source_id="A2", blob=record.identity
    )
    assert identity["forename"] == "BEA" or identity["forename"].lower() == "bea"
    # Completing again answers the same extract; the audit trail has the upload once.
    again = _complete(client, token, upload_id)
    assert again.json()["extract"] == extract.pk
    audited = AuditEntry.objects.filter(action=AuditAction.UPLOAD, channel="bridge")
    assert [entry.detail["extract"] for entry in audited] == [extract.pk]
    assert not any(upload_dir().iterdir()), "the sealed file goes once loaded"


def test_a_wrong_checksum_or_length_keeps_nothing(client, token, dataset, small_chunks):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    upload_id = _open(client, token, dataset, sealed, file_sha256).json()["id"]
    chunk = chunks_of(sealed, 256)[0]
    wrong = _put(client, token, upload_id, 0, chunk, checksum="0" * 64)
    assert wrong.status_code == 400 and "X-Chunk-SHA256" in wrong.json()["detail"]
    short = _put(client, token, upload_id, 0, chunk[:-1])
    assert short.status_code == 400 and "256 bytes" in short.json()["detail"]
    beyond = _put(client, token, upload_id, 99, chunk)
    assert beyond.status_code == 400
    assert SealedUpload.objects.get(pk=upload_id).received == []


def test_different_bytes_for_a_chunk_held_conflict(client, token, dataset, small_chunks):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    upload_id = _open(client, token, dataset, sealed, file_sha256).json()["id"]
    chunk = chunks_of(sealed, 256)[0]
    assert _put(client, token, upload_id, 0, chunk).status_code == 200
    other = bytes([chunk[0] ^ 1]) + chunk[1:]
    assert _put(client, token, upload_id, 0, other).status_code == 409


def test_complete_with_chunks_missing_says_which(client, token, dataset, small_chunks):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    upload_id = _open(client, token, dataset, sealed, file_sha256).json()["id"]
    _put(client, token, upload_id, 0, chunks_of(sealed, 256)[0])
    answer = _complete(client, token, upload_id)
    assert answer.status_code == 400
    assert "have not arrived yet (1, 2" in answer.json()["detail"]
    assert not Extract.objects.exists()


def test_another_agencys_upload_is_not_found(client, dataset, other_agency, member, small_chunks):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    theirs = sealed_upload_open(dataset, sealed, file_sha256)
    other_admin = member(Role.AGENCY_ADMIN, in_agency=other_agency)
    _, other_token = api_token_create(agency=other_agency, name="x", created_by=other_admin)
    chunk = chunks_of(sealed, 256)[0]
    detail = reverse("agencies_api:sealed_upload_detail", args=[theirs.pk])
    assert api(client, other_token, "get", detail).status_code == 404
    assert _put(client, other_token, theirs.pk, 0, chunk).status_code == 404
    assert _complete(client, other_token, theirs.pk).status_code == 404
    assert _open(client, other_token, dataset, sealed, file_sha256).status_code == 404


def test_an_expired_upload_is_refused_and_its_file_deleted(client, token, dataset, small_chunks):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    upload = sealed_upload_open(dataset, sealed, file_sha256)
    path = upload_dir() / upload.stored_file
    assert path.exists()
    SealedUpload.objects.filter(pk=upload.pk).update(expires_at=timezone.now() - timedelta(1))
    refused = _put(client, token, upload.pk, 0, chunks_of(sealed, 256)[0])
    assert refused.status_code == 400 and "expired" in refused.json()["detail"]
    assert sealed_uploads_expire() == 1
    assert not path.exists()
    assert SealedUpload.objects.get(pk=upload.pk).status == SealedUploadStatus.EXPIRED


def test_the_orphan_sweep_keeps_an_open_uploads_file(dataset):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    upload = sealed_upload_open(dataset, sealed, file_sha256)
    assert uploads_orphaned_sweep(now=timezone.now() + timedelta(hours=20)) == 0
    assert (upload_dir() / upload.stored_file).exists()


def test_a_changed_definition_is_refused_at_opening(client, token, dataset, agency):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    changed = dict(POLICE_DEFINITION, columns=[*POLICE_DEFINITION["columns"]])
    changed["columns"][-1] = {"column": "summary", "type": "text", "label": "Notes"}
    dataset_define(agency=agency, definition=definition_parse(changed))
    answer = _open(client, token, dataset, sealed, file_sha256, definition_version=1)
    assert answer.status_code == 400
    assert (
        "definition changed" in answer.json()["detail"] and "push again" in answer.json()["detail"]
    )


def test_a_definition_changed_after_the_bridge_read_it_rejects_at_ingest(dataset, agency):
    # Sealed against version 1, opened as if for version 2: the header decides at ingest.
    changed = dict(POLICE_DEFINITION, columns=[*POLICE_DEFINITION["columns"]])
    changed["columns"][-1] = {"column": "summary", "type": "text", "label": "Notes"}
    dataset_define(agency=agency, definition=definition_parse(changed))
    dataset.refresh_from_db()
    sealed, file_sha256 = sealed_extract(dataset, ROWS, definition_version=1)
    _, extract = bridge_push(dataset, sealed, file_sha256)
    assert extract.status == ExtractStatus.REJECTED
    assert "definition changed after the bridge read it" in extract.message
    assert not SourceRecord.objects.exists()


def test_the_same_file_pushed_again_is_a_duplicate(dataset):
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    _, first = bridge_push(dataset, sealed, file_sha256)
    assert first.status == ExtractStatus.LOADED
    resealed, same = sealed_extract(dataset, ROWS)  # sealed afresh, from the same file
    _, second = bridge_push(dataset, resealed, same)
    assert second.status == ExtractStatus.DUPLICATE and second.duplicate_of_id == first.pk
    assert not any(upload_dir().iterdir())


def test_the_same_file_on_the_web_then_the_bridge_is_a_duplicate(dataset):
    from tests.ingest_helpers import csv_bytes

    web = upload(dataset, csv_bytes(ROWS))
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    _, pushed = bridge_push(dataset, sealed, file_sha256)
    assert pushed.status == ExtractStatus.DUPLICATE and pushed.duplicate_of_id == web.pk


def test_an_upload_over_the_size_limit_is_refused(client, token, dataset, settings):
    settings.SHAREHUB_UPLOAD_MAX_BYTES = 100
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    answer = _open(client, token, dataset, sealed, file_sha256)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("The file is larger than the 100\xa0bytes limit.")
    assert not any(upload_dir().iterdir())


# --- Ingest of a sealed extract -------------------------------------------------------------


def test_rows_kept_at_the_agency_are_listed_not_downloadable_and_not_retired(dataset):
    sealed, sha = sealed_extract(dataset, [good_row(f"R{i}") for i in range(1, 21)], mode="full")
    _, first = bridge_push(dataset, sealed, sha, mode="full")
    assert first.rows_loaded == 20
    rows = [good_row(f"R{i}") for i in range(1, 20)] + [good_row("R20", risk_grade="extreme")]
    sealed, sha = sealed_extract(dataset, rows, mode="full")
    _, second = bridge_push(dataset, sealed, sha, mode="full")
    assert second.status == ExtractStatus.LOADED, second.message
    assert (second.rows_read, second.rows_loaded, second.rows_quarantined) == (20, 19, 1)
    kept = QuarantinedRow.objects.get(extract=second)
    assert kept.sealed_row is None and kept.source_id == "R20"
    assert kept.reasons[0].startswith("Kept at the agency by the IG bridge: Risk grade")
    assert "extreme" not in json.dumps(kept.reasons)
    assert list(quarantine_csv_rows(second)) == []
    assert not SourceRecord.objects.get(dataset=dataset, source_id="R20").is_retired


def _tampered(sealed: bytes, change) -> bytes:
    lines = sealed.split(b"\n")
    row = json.loads(lines[2])
    change(row)
    lines[2] = json.dumps(row, separators=(",", ":")).encode()
    return b"\n".join(lines)


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda row: row["p"].update(risk_grade="extreme"), "risk_grade"),
        (lambda row: row["p"].update(incident_date="01/01/2026"), "incident_date"),
        (lambda row: row["p"].update(child_present="yes"), "child_present"),
        (lambda row: row["p"].update(summary=12), "summary"),
        (lambda row: row["p"].pop("incident_date"), "incident_date"),
    ],
)
def test_a_row_that_does_not_fit_the_definition_is_set_aside_naming_the_column(
    dataset, change, column
):
    rows = [*ROWS, *(good_row(f"M{i}") for i in range(10))]  # one bad row of 13: under 10%
    sealed, sha = sealed_extract(dataset, rows)
    _, extract = bridge_push(dataset, _tampered(sealed, change), sha)
    assert extract.status == ExtractStatus.LOADED, extract.message
    assert extract.rows_loaded == 12 and extract.rows_quarantined == 1
    set_aside = QuarantinedRow.objects.get(extract=extract)
    assert set_aside.row_number == 3 and column in " ".join(set_aside.reasons)
    assert "extreme" not in " ".join(set_aside.reasons)
    assert not SourceRecord.objects.filter(source_id="A2").exists()


def test_a_record_column_the_definition_lacks_is_set_aside_without_naming_it(dataset):
    rows = [*ROWS, *(good_row(f"M{i}") for i in range(10))]
    sealed, sha = sealed_extract(dataset, rows)
    _, extract = bridge_push(
        dataset, _tampered(sealed, lambda row: row["p"].update(Alice_Smith="x")), sha
    )
    reasons = " ".join(QuarantinedRow.objects.get(extract=extract).reasons)
    assert "does not have" in reasons and "Alice_Smith" not in reasons


@pytest.mark.parametrize(
    "damage",
    [
        lambda sealed: sealed[: len(sealed) // 2],  # cut short
        lambda sealed: sealed.replace(b'"rows_read":3', b'"rows_read":4'),  # totals
        lambda sealed: _tampered(sealed, lambda row: row.update(id="A9")),  # moved identity
        lambda sealed: _tampered(
            sealed, lambda row: row.update(s=base64.b64encode(b"x" * 40).decode())
        ),
    ],
)
def test_a_damaged_file_is_rejected_whole_and_nothing_changes(dataset, damage):
    sealed, sha = sealed_extract(dataset, [good_row("A1")])
    bridge_push(dataset, sealed, sha)
    before = dataset_snapshot(dataset)
    sealed, sha = sealed_extract(dataset, ROWS)
    _, extract = bridge_push(dataset, damage(sealed), sha)
    assert extract.status == ExtractStatus.REJECTED
    assert "Nothing was loaded" in extract.message and "again" in extract.message
    assert dataset_snapshot(dataset) == before
    assert not QuarantinedRow.objects.filter(extract=extract).exists()
    assert "Alice" not in extract.message and "Smith" not in extract.message


def test_a_file_sealed_under_a_key_no_longer_held_is_rejected_saying_what_to_do(dataset):
    other = private_key_new()
    sealed, sha = sealed_extract(dataset, ROWS, public_key=(7, public_key_raw(other)))
    _, extract = bridge_push(dataset, sealed, sha)
    assert extract.status == ExtractStatus.REJECTED
    assert "ingest key version 7" in extract.message and "push again" in extract.message
    assert not SourceRecord.objects.exists()


def test_a_file_sealed_to_another_key_of_the_same_version_does_not_open(dataset):
    version, _ = keys.ingest_public_key()
    other = public_key_raw(private_key_new())
    sealed, sha = sealed_extract(dataset, ROWS, public_key=(version, other))
    _, extract = bridge_push(dataset, sealed, sha)
    assert extract.status == ExtractStatus.REJECTED and "push again" in extract.message
    assert not SourceRecord.objects.exists()


def test_repairs_and_dates_of_birth_count_as_on_the_web(dataset, agency):
    rows = [
        good_row("A1", dob="31/13/2015"),  # impossible day: repaired, kept in part
        good_row("A2", nhs_number="9434765918"),  # fails its check digit
        good_row("A3"),
    ]
    web_dataset = police_dataset(agency, definition={**POLICE_DEFINITION, "name": "Web copy"})
    from tests.ingest_helpers import csv_bytes

    web = upload(web_dataset, csv_bytes(rows))
    sealed, sha = sealed_extract(dataset, rows)
    _, pushed = bridge_push(dataset, sealed, sha)
    assert pushed.status == web.status == ExtractStatus.LOADED
    assert pushed.repairs == web.repairs and pushed.repairs
    assert (pushed.rows_loaded, pushed.rows_warned) == (web.rows_loaded, web.rows_warned)
    web_record = SourceRecord.objects.get(dataset=web_dataset, source_id="A1")
    pushed_record = SourceRecord.objects.get(dataset=dataset, source_id="A1")
    assert pushed_record.payload == web_record.payload
    assert pushed_record.warnings == web_record.warnings
    assert identity_open(
        agency_id=agency.pk, dataset_id=dataset.pk, source_id="A1", blob=pushed_record.identity
    ) == identity_open(
        agency_id=agency.pk, dataset_id=web_dataset.pk, source_id="A1", blob=web_record.identity
    )


def test_too_many_rows_kept_back_rejects_the_extract_over_the_threshold(dataset):
    rows = [good_row(f"B{i}") for i in range(1, 9)] + [
        good_row(f"X{i}", risk_grade="extreme") for i in range(2)
    ]
    sealed, sha = sealed_extract(dataset, rows)
    _, extract = bridge_push(dataset, sealed, sha)
    assert extract.status == ExtractStatus.REJECTED and "over the 10% limit" in extract.message
    assert not SourceRecord.objects.exists()


def test_ingest_runs_again_from_the_sealed_file_with_each_row_once(dataset):
    sealed, sha = sealed_extract(dataset, ROWS)
    upload_row = sealed_upload_open(dataset, sealed, sha)
    from agencies.sealed_uploads import sealed_upload_chunk_put, sealed_upload_complete

    for index, chunk in enumerate(chunks_of(sealed, upload_row.chunk_bytes)):
        sealed_upload_chunk_put(
            upload_id=upload_row.pk, index=index, data=chunk,
            sha256=hashlib.sha256(chunk).hexdigest(),
        )  # fmt: skip
    completed = sealed_upload_complete(upload_id=upload_row.pk)  # not run: no on_commit here
    extract = Extract.objects.get(pk=completed.extract_id)
    # A first attempt that died half way leaves staging and progress behind; the next redoes it.
    Extract.objects.filter(pk=extract.pk).update(status=ExtractStatus.PROCESSING, attempts=1)
    extract_ingest(extract_id=extract.pk)
    extract_ingest(extract_id=extract.pk)
    extract.refresh_from_db()
    assert extract.status == ExtractStatus.LOADED and extract.rows_loaded == 3
    assert SourceRecord.objects.filter(dataset=dataset).count() == 3


def test_bytes_processed_reaches_the_sealed_files_size(dataset):
    sealed, sha = sealed_extract(dataset, [good_row(f"P{i}") for i in range(1, 60)])
    _, extract = bridge_push(dataset, sealed, sha)
    assert extract.bytes_processed == extract.size_bytes == len(sealed)


def test_sealed_file_on_disk_holds_no_plaintext_identifier(dataset):
    sealed, sha = sealed_extract(dataset, [good_row("A1", forename="Zebedee")])
    upload_row = sealed_upload_open(dataset, sealed, sha)
    from agencies.sealed_uploads import sealed_upload_chunk_put

    sealed_upload_chunk_put(
        upload_id=upload_row.pk, index=0, data=sealed, sha256=hashlib.sha256(sealed).hexdigest()
    )
    held = (upload_dir() / upload_row.stored_file).read_bytes()
    assert held == sealed
    for value in (b"Zebedee", b"ZEBEDEE", b"9434765919", b"LS6 2AB", b"ls6 2ab", b"2015-02-01"):
        assert value not in held
    assert io.BytesIO(held).readline().startswith(b'{"format":"sharehub-sealed-extract/1"')


# --- Rotating the ingest key ----------------------------------------------------------------


def test_rotate_keys_ingest_counts_uploads_under_older_keys(dataset, monkeypatch):
    from django.core.management import call_command

    old = keys.ingest_private_keys()[0]
    new = private_key_new()
    sealed, sha = sealed_extract(dataset, ROWS)  # sealed to the old key, version 1
    pending = sealed_upload_open(dataset, sealed, sha)
    monkeypatch.setenv(
        "SHAREHUB_INGEST_KEYS",
        f"2:{base64.b64encode(new).decode()},1:{base64.b64encode(old.key).decode()}",
    )
    keys.ingest_private_keys.cache_clear()
    keys.ingest_public_keys.cache_clear()
    try:
        out = io.StringIO()
        call_command("rotate_keys", "--ingest", stdout=out)
        assert "1 open upload(s) have not sent their first chunk" in out.getvalue()
        from agencies.sealed_uploads import sealed_upload_chunk_put

        sealed_upload_chunk_put(
            upload_id=pending.pk, index=0, data=sealed, sha256=hashlib.sha256(sealed).hexdigest()
        )
        out = io.StringIO()
        call_command("rotate_keys", "--ingest", stdout=out)
        assert "Ingest key 2 is current" in out.getvalue()
        assert "older ingest keys: 1 (1 under version 1)" in out.getvalue()
        assert "can be removed" not in out.getvalue()
        # The upload sealed under the old key still loads while that key is listed.
        with TestCase.captureOnCommitCallbacks(execute=True):
            from agencies.sealed_uploads import sealed_upload_complete

            done = sealed_upload_complete(upload_id=pending.pk)
        assert Extract.objects.get(pk=done.extract_id).status == ExtractStatus.LOADED
        out = io.StringIO()
        call_command("rotate_keys", "--ingest", stdout=out)
        assert "version(s) 1 are used by nothing in flight and can be removed" in out.getvalue()
    finally:
        keys.ingest_private_keys.cache_clear()
        keys.ingest_public_keys.cache_clear()


def test_the_extract_page_and_api_say_set_aside_rows_stay_at_the_agency(
    client, token, dataset, member
):
    rows = [*(good_row(f"K{i}") for i in range(12)), good_row("K99", risk_grade="extreme")]
    sealed, sha = sealed_extract(dataset, rows)
    _, extract = bridge_push(dataset, sealed, sha)
    assert extract.status == ExtractStatus.LOADED, extract.message
    answer = api(client, token, "get", reverse("agencies_api:extract_detail", args=[extract.pk]))
    assert answer.json()["rows_kept_at_agency"] == 1 == answer.json()["rows_quarantined"]
    client.force_login(member(Role.AGENCY_ADMIN))
    page = client.get(reverse("agencies:extract_detail", args=[extract.pk])).content.decode()
    assert "Rows the IG bridge kept back are in its set-aside file at your agency" in page
    assert "Checked by ShareHub" in page  # rows refused here are named apart
    assert reverse("agencies:extract_quarantine", args=[extract.pk]) not in page


def test_too_many_rows_set_aside_at_the_agency_advises_fixing_them_there(dataset):
    rows = [good_row("G1"), good_row("G2", risk_grade="extreme")]
    sealed, sha = sealed_extract(dataset, rows)
    _, extract = bridge_push(dataset, sealed, sha)
    assert extract.status == ExtractStatus.REJECTED
    assert "then push the whole file again" in extract.message
    assert "set-aside file at your agency" in extract.message
    assert "Download" not in extract.message


def test_data_key_rotation_passes_over_rows_kept_at_the_agency(dataset, agency):
    from sharehub.rotation import agency_key_rotate

    rows = [*(good_row(f"D{i}") for i in range(12)), good_row("D99", risk_grade="extreme")]
    sealed, sha = sealed_extract(dataset, rows)
    _, extract = bridge_push(dataset, sealed, sha)
    assert QuarantinedRow.objects.get(extract=extract).sealed_row is None
    result = agency_key_rotate(agency_id=agency.pk)
    assert result.complete and result.resealed["identities"] == 12
    assert result.resealed["rejected rows"] == 0
    record = SourceRecord.objects.get(dataset=dataset, source_id="D3")
    assert identity_open(
        agency_id=agency.pk, dataset_id=dataset.pk, source_id="D3", blob=record.identity
    )


def test_beat_expires_uploads_every_half_hour(dataset, settings):
    from agencies import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["sealed-uploads-expire"]
    assert entry["task"] == tasks.sealed_uploads_expire.name and entry["schedule"] <= 60 * 60
    sealed, file_sha256 = sealed_extract(dataset, ROWS)
    upload = sealed_upload_open(dataset, sealed, file_sha256)
    SealedUpload.objects.filter(pk=upload.pk).update(expires_at=timezone.now())
    tasks.sealed_uploads_expire.delay()
    assert SealedUpload.objects.get(pk=upload.pk).status == SealedUploadStatus.EXPIRED
    assert not (upload_dir() / upload.stored_file).exists()


def _crafted(dataset, outcomes: list, *, mode="incremental") -> tuple[bytes, str]:
    """A sealed extract written row by row from outcomes made by hand, as a bridge that skipped
    some of its own checks would send them."""
    from sharehub_bridge.envelope import IdentitySealer
    from sharehub_bridge.normalise import DOB_ORDER_DAY_FIRST
    from sharehub_bridge.sealed_file import SealedExtractWriter, SealedHeader

    version, key = keys.ingest_public_key()
    sealer = IdentitySealer(public_key=key, key_version=version, dataset_id=dataset.pk)
    file_sha256 = hashlib.sha256(repr(outcomes).encode()).hexdigest()
    out = io.BytesIO()
    header = SealedHeader(
        dataset=dataset.pk,
        definition_version=dataset.current_version.number,
        mode=mode,
        filename="crafted.csv",
        file_format="csv",
        file_sha256=file_sha256,
        file_bytes=100,
        dob_order=DOB_ORDER_DAY_FIRST,
        bridge_version="0.9.0",
        envelope=sealer.header,
    )
    writer = SealedExtractWriter(out, header, sealer)
    for number, outcome in enumerate(outcomes, start=2):
        writer.row(number, outcome)
    writer.end()
    return out.getvalue(), file_sha256


def test_free_text_a_bridge_did_not_redact_is_redacted_at_ingest(dataset):
    from datetime import date

    from sharehub_bridge.validation import RowOutcome

    identifiers = {"forename": "alice", "surname": "smith", "date_of_birth": "2015-02-01"}
    payload = {"incident_date": "2026-01-01", "summary": "Alice Smith, born 01/02/2015, upstairs"}
    outcome = RowOutcome("R1", identifiers, payload, date(2026, 1, 1), [], [], repairs=[])
    sealed, sha = _crafted(dataset, [outcome])
    _, extract = bridge_push(dataset, sealed, sha)
    assert extract.status == ExtractStatus.LOADED, extract.message
    record = SourceRecord.objects.get(dataset=dataset, source_id="R1")
    assert record.payload["summary"] == "[name] [name], born [date of birth], upstairs"
    assert extract.repairs["free_text"] == {"name": 2, "date_of_birth": 1, "rows": 1}


def test_a_dataset_with_no_record_id_takes_no_incremental_push(dataset, agency, client, token):
    definition = {**POLICE_DEFINITION, "name": "No ids", "source_id_column": ""}
    definition["columns"] = [c for c in definition["columns"] if c["column"] != "incident_ref"]
    no_ids = dataset_define(agency=agency, definition=definition_parse(definition)).dataset
    answer = api(
        client,
        token,
        "post",
        reverse("agencies_api:sealed_uploads", args=[no_ids.pk]),
        data={
            "mode": "incremental",
            "filename": "x.csv",
            "file_sha256": "a" * 64,
            "definition_version": no_ids.current_version.number,
            "size": 10,
            "sha256": "b" * 64,
        },
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert "full refreshes only" in json.dumps(answer.json())
    assert not SealedUpload.objects.filter(dataset=no_ids).exists()


def test_reasons_and_warnings_not_in_sharehubs_own_words_are_not_kept(dataset, settings):
    """Found by the outside review of issue 23: a bridge changed to carry values out in its
    reasons and warnings had them stored and shown as written."""
    from datetime import date

    from sharehub_bridge.sealed_file import SealedExtractReader
    from sharehub_bridge.validation import RowOutcome

    identifiers = {"forename": "alice", "surname": "smith"}
    payload = {"incident_date": "2026-01-01"}
    leaky = RowOutcome(
        "R1", identifiers, payload, date(2026, 1, 1), [], ["Warnleak Person born 05/06/2013"]
    )
    honest = RowOutcome(
        "R2", identifiers, payload, date(2026, 1, 1), [], ["NHS number (nhs_number) fails its "
        "check digit."], repairs=["nhs_check_digit"]
    )  # fmt: skip
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.6  # two rows of four kept back still load
    sealed, sha = _crafted(dataset, [leaky, honest])
    # Two rows kept back, one with a value in its reason, written into the same sealed file.
    lines = sealed.decode().splitlines()
    kept = [
        json.dumps({"n": 10, "id": "R9", "reasons": ["Surname Asideleak, born 02/03/2012"]}),
        json.dumps({"n": 11, "id": "R8", "reasons": ["Required identifier surname is missing."]}),
    ]
    end = json.loads(lines[-1]) | {"rows_read": 4, "rows_set_aside": 2}
    sealed = "\n".join([*lines[:-1], *kept, json.dumps(end)]).encode() + b"\n"
    list(SealedExtractReader(io.BytesIO(sealed)).rows())  # still a well-formed sealed extract
    _, extract = bridge_push(dataset, sealed, sha)
    assert extract.status == ExtractStatus.LOADED, extract.message
    reasons = dict(
        QuarantinedRow.objects.filter(extract=extract).values_list("source_id", "reasons")
    )
    assert reasons["R9"] == [
        "Kept at the agency by the IG bridge: A reason or warning the bridge gave that ShareHub "
        "does not keep: it was not in ShareHub's own words."
    ]
    assert reasons["R8"] == [
        "Kept at the agency by the IG bridge: Required identifier surname is missing."
    ]
    warnings = dict(
        SourceRecord.objects.filter(dataset=dataset).values_list("source_id", "warnings")
    )
    assert "Warnleak" not in json.dumps(warnings) and "05/06/2013" not in json.dumps(warnings)
    assert warnings["R2"] == ["NHS number (nhs_number) fails its check digit."]


CONTACTS_DEFINITION = {
    **POLICE_DEFINITION,
    "name": "Police - with contacts",
    "columns": [
        *POLICE_DEFINITION["columns"],
        {"column": "officer", "type": "text", "label": "Officer", "contact": "lead_worker"},
        {"column": "team_phone", "type": "text", "label": "Team phone", "contact": "team_phone"},
        {"column": "team_email", "type": "text", "label": "Team email", "contact": "team_email"},
    ],
}


def test_a_bridge_rows_identity_and_contacts_are_checked_as_a_files_would_be(agency, settings):
    """Found by the second outside review of issue 23: identities written otherwise than the
    bridge writes them were stored as they came (one crashed the ingest), and contacts holding
    the person's details were shown to other agencies."""
    from datetime import date

    from sharehub_bridge.validation import RowOutcome

    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.9  # half the rows are meant to be set aside
    dataset = dataset_define(
        agency=agency, definition=definition_parse(CONTACTS_DEFINITION)
    ).dataset
    person = {"forename": "zelda", "surname": "quartermaine", "date_of_birth": "2011-10-09"}
    record = {"incident_date": "2026-01-01"}

    def row(ref, identifiers=person, **payload):
        return RowOutcome(ref, identifiers, {**record, **payload}, date(2026, 1, 1), [], [])

    outcomes = [
        row("D1", {**person, "date_of_birth": "2011-10-9"}),
        row("D2", {**person, "date_of_birth": "09/10/2011"}),
        row("P1", {**person, "postcode": "nb12ab"}),
        row(
            "C1",
            officer="Zelda Q. 09 10 11",
            team_phone="X04 Quartermaine 09/10/2011",
            team_email="zelda.quartermaine@example.com",
        ),
        row("C2", officer="PC Ann Jones", team_phone="0113 496 0000", team_email="zq091011@x.org"),
        row("C3", officer="PC Ann Jones", team_phone="0113 496 0000", team_email="hub@police.org"),
    ]
    sealed, sha = _crafted(dataset, outcomes)
    _, extract = bridge_push(dataset, sealed, sha)
    reasons = dict(
        QuarantinedRow.objects.filter(extract=extract).values_list("source_id", "reasons")
    )
    assert set(reasons) == {"D1", "D2", "P1"}, extract.message
    assert "date_of_birth is not written as the bridge writes it" in " ".join(reasons["D2"])
    assert "postcode is not written as the bridge writes it" in " ".join(reasons["P1"])
    payloads = dict(
        SourceRecord.objects.filter(dataset=dataset).values_list("source_id", "payload")
    )
    assert payloads["C1"]["officer"] == "Zelda Q. [date of birth]"
    assert "team_phone" not in payloads["C1"] and "team_email" not in payloads["C1"]
    assert "team_email" not in payloads["C2"]
    assert payloads["C3"]["team_email"] == "hub@police.org"
    assert (
        payloads["C3"]["team_phone"] == "0113 496 0000"
        and payloads["C3"]["officer"] == "PC Ann Jones"
    )
    assert "Quartermaine" not in json.dumps(payloads) and "091011" not in json.dumps(payloads)


def test_dates_and_long_numbers_are_not_kept_in_a_bridges_reasons(dataset, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.9
    from datetime import date

    from sharehub_bridge.validation import RowOutcome

    outcome = RowOutcome(
        "R1", {"forename": "al"}, {"incident_date": "2026-01-01"}, date(2026, 1, 1), [], []
    )
    sealed, sha = _crafted(dataset, [outcome])
    lines = sealed.decode().splitlines()
    reasons = [
        "Incident date (incident_date) is not a date; use 04/03/2012.",
        "The record id is repeated: it is also on row 943476591. Each record may appear once.",
        "The record id is repeated: it is also on row 04032012. Each record may appear once.",
        "The record id is repeated: it is also on row 3. Each record may appear once per extract.",
        "The record id is repeated: it is also on row 4032012. Each record may appear once.",
    ]
    kept = [json.dumps({"n": 10 + i, "id": f"K{i}", "reasons": [r]}) for i, r in enumerate(reasons)]
    end = json.loads(lines[-1]) | {"rows_read": 6, "rows_set_aside": 5}
    sealed = "\n".join([*lines[:-1], *kept, json.dumps(end)]).encode() + b"\n"
    _, extract = bridge_push(dataset, sealed, sha)
    stored = dict(
        QuarantinedRow.objects.filter(extract=extract).values_list("source_id", "reasons")
    )
    # K4's row number is no row before its own: 4032012 is 4/03/2012 without its separators.
    for key in ("K0", "K1", "K2", "K4"):
        assert "not in ShareHub's own words" in stored[key][0], stored[key]
    assert stored["K3"][0].endswith("it is also on row 3. Each record may appear once per extract.")
