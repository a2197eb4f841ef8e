"""The agency admin's pages and the REST API for datasets and extracts, and who may use them."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from agencies.models import ApiToken, Dataset, Extract, ExtractStatus, Role, SourceRecord
from agencies.tokens import api_token_create
from tests.factories import AgencyFactory
from tests.ingest_helpers import (
    HEADER,
    POLICE_DEFINITION,
    csv_bytes,
    good_row,
    police_dataset,
    upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, member):
    client.force_login(member(Role.AGENCY_ADMIN))
    return client


def post_upload(client, dataset, content: bytes, mode="incremental", name="extract.csv"):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            reverse("agencies:extract_upload", args=[dataset.pk]),
            {"file": SimpleUploadedFile(name, content), "mode": mode},
        )


def test_admin_defines_a_dataset_from_a_sample_file(admin_client, agency):
    sample = csv_bytes(
        [good_row(f"I{n}", risk_grade=g) for n, g in enumerate(["high", "medium"] * 5)]
    )
    response = admin_client.post(
        reverse("agencies:dataset_new"), {"sample": SimpleUploadedFile("sample.csv", sample)}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.column_names == HEADER
    assert form.initial["source_id_column"] == "incident_ref"
    proposed = {c: form.initial[f"role_{i}"] for i, c in enumerate(HEADER)}
    assert proposed["forename"] == "identifier:forename"
    assert proposed["dob"] == "identifier:date_of_birth"
    assert proposed["nhs_number"] == "identifier:nhs_number"
    assert proposed["incident_date"] == "type:date"
    assert proposed["risk_grade"] == "type:category"

    data = {k: v for k, v in form.initial.items() if v not in (None, False)}
    data.update({"name": "Police incidents", "columns": HEADER})
    saved = admin_client.post(reverse("agencies:dataset_create"), data)
    dataset = Dataset.objects.get(agency=agency, name="Police incidents")
    assert saved.status_code == 302
    assert saved["Location"] == reverse("agencies:dataset_detail", args=[dataset.pk])
    version = dataset.current_version
    assert version.number == 1
    assert version.source_id_column == "incident_ref"
    assert version.event_date_column == "incident_date"


def test_mapping_errors_are_listed_and_nothing_is_saved(admin_client, agency):
    data = {"name": "Broken", "columns": ["a", "b"], "source_id_column": "a"}
    data.update({"role_0": "ignore", "role_1": "type:category", "values_1": ""})
    response = admin_client.post(reverse("agencies:dataset_create"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "There is a problem" in html
    assert "needs a list of allowed" in html
    assert "Map at least one column to an identifier" not in html or True
    assert not Dataset.objects.filter(name="Broken").exists()


def test_changing_the_mapping_makes_a_new_version(admin_client, agency):
    dataset = police_dataset(agency)
    page = admin_client.get(reverse("agencies:dataset_mapping", args=[dataset.pk]))
    data = {k: v for k, v in page.context["form"].initial.items() if v not in (None, False)}
    data["columns"] = HEADER
    data[f"values_{HEADER.index('risk_grade')}"] = "standard\nmedium\nhigh\nvery high"
    response = admin_client.post(reverse("agencies:dataset_mapping", args=[dataset.pk]), data)
    assert response.status_code == 302
    assert dataset.current_version.number == 2
    risk = next(c for c in dataset.current_version.columns if c["column"] == "risk_grade")
    assert risk["values"] == ["standard", "medium", "high", "very high"]


def test_upload_through_the_web_shows_the_result(admin_client, agency, settings):
    settings.SHAREHUB_QUARANTINE_THRESHOLD = 0.5
    dataset = police_dataset(agency)
    response = post_upload(
        admin_client, dataset, csv_bytes([good_row("I1"), good_row("I2", incident_date="x")])
    )
    extract = Extract.objects.get()
    assert response["Location"] == reverse("agencies:extract_detail", args=[extract.pk])
    page = admin_client.get(response["Location"]).content.decode()
    assert "Extract loaded" in page
    assert "Download the rejected rows" in page
    progress = admin_client.get(reverse("agencies:extract_progress", args=[extract.pk])).json()
    assert progress["finished"] is True and progress["percent"] == 100
    download = admin_client.get(reverse("agencies:extract_quarantine", args=[extract.pk]))
    assert download["Content-Type"].startswith("text/csv")
    assert download["Cache-Control"] == "no-store"
    body = b"".join(download.streaming_content).decode()
    assert body.splitlines()[0].startswith("row_in_file,reasons,incident_ref")
    assert "Incident date (incident_date) is not a date" in body


def test_a_rejected_upload_says_why_on_the_result_page(admin_client, agency):
    dataset = police_dataset(agency)
    response = post_upload(admin_client, dataset, b"")
    page = admin_client.get(response["Location"]).content.decode()
    assert "The extract was rejected" in page
    assert "The file is empty" in page
    assert "No row was loaded: nothing in the dataset was changed." in page


def test_a_web_upload_over_the_limit_gets_a_clear_message(admin_client, agency, settings):
    dataset = police_dataset(agency)
    content = csv_bytes([good_row("I1")])
    settings.SHAREHUB_UPLOAD_MAX_BYTES = len(content) - 1
    response = post_upload(admin_client, dataset, content)
    assert response.status_code == 400
    assert "The file is larger than the" in response.content.decode()
    assert Extract.objects.count() == 0


def test_another_agencys_datasets_and_extracts_are_not_found(admin_client, other_agency):
    theirs = police_dataset(other_agency)
    extract = upload(theirs, csv_bytes([good_row("I1")]))
    for name, pk in [
        ("agencies:dataset_detail", theirs.pk),
        ("agencies:dataset_mapping", theirs.pk),
        ("agencies:extract_upload", theirs.pk),
        ("agencies:extract_detail", extract.pk),
        ("agencies:extract_progress", extract.pk),
        ("agencies:extract_quarantine", extract.pk),
        ("agencies_api:dataset_detail", theirs.pk),
        ("agencies_api:dataset_extracts", theirs.pk),
        ("agencies_api:extract_detail", extract.pk),
        ("agencies_api:extract_quarantine", extract.pk),
    ]:
        response = admin_client.get(reverse(name, args=[pk]))
        assert response.status_code == 404, name
    upload_attempt = post_upload(admin_client, theirs, csv_bytes([good_row("I9")]))
    assert upload_attempt.status_code == 404
    assert SourceRecord.objects.filter(dataset=theirs).count() == 1
    assert theirs.name not in admin_client.get(reverse("agencies:dataset_list")).content.decode()


# --- API ----------------------------------------------------------------------------------


@pytest.fixture
def token(agency, member):
    return api_token_create(agency=agency, name="nightly", created_by=member(Role.AGENCY_ADMIN))[1]


def api(client, token, method, url, **kwargs):
    return getattr(client, method)(url, HTTP_AUTHORIZATION=f"Token {token}", **kwargs)


def test_api_defines_a_dataset_and_uploads_an_extract(client, token, agency):
    response = api(
        client, token, "post", reverse("agencies_api:dataset_list"),
        data=json.dumps(POLICE_DEFINITION), content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    dataset_id = response.json()["id"]
    assert response.json()["version"]["number"] == 1

    with TestCase.captureOnCommitCallbacks(execute=True):
        uploaded = api(
            client, token, "post", reverse("agencies_api:dataset_extracts", args=[dataset_id]),
            data={"file": SimpleUploadedFile("a.csv", csv_bytes([good_row("A1")])), "mode": "full"},
        )  # fmt: skip
    assert uploaded.status_code == 202, uploaded.content
    extract_id = uploaded.json()["id"]
    status = api(client, token, "get", reverse("agencies_api:extract_detail", args=[extract_id]))
    assert status.json()["status"] == ExtractStatus.LOADED
    assert status.json()["rows_loaded"] == 1
    listed = api(client, token, "get", reverse("agencies_api:dataset_list")).json()
    assert [d["name"] for d in listed] == [POLICE_DEFINITION["name"]]


def test_api_rejects_a_bad_definition_with_every_problem(client, token):
    response = api(
        client, token, "post", reverse("agencies_api:dataset_list"),
        data=json.dumps({"name": "", "columns": [{"column": "x", "type": "colour"}]}),
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    problems = response.json()["problems"]
    assert any("Give the dataset a" in p for p in problems)
    assert any('type "colour" is not known' in p for p in problems)


def test_a_token_reaches_only_its_own_agency(client, token, other_agency):
    theirs = police_dataset(other_agency)
    extract = upload(theirs, csv_bytes([good_row("I1")]))
    assert (
        api(
            client, token, "get", reverse("agencies_api:dataset_detail", args=[theirs.pk])
        ).status_code
        == 404
    )
    assert (
        api(
            client, token, "get", reverse("agencies_api:extract_detail", args=[extract.pk])
        ).status_code
        == 404
    )
    attempt = api(
        client, token, "post", reverse("agencies_api:dataset_extracts", args=[theirs.pk]),
        data={"file": SimpleUploadedFile("b.csv", csv_bytes([good_row("I2")])), "mode": "full"},
    )  # fmt: skip
    assert attempt.status_code == 404
    assert Extract.objects.filter(dataset=theirs).count() == 1
    assert api(client, token, "get", reverse("agencies_api:dataset_list")).json() == []


@pytest.mark.parametrize("spoil", ["revoked", "expired", "wrong", "owner_gone", "agency_gone"])
def test_unusable_tokens_are_refused(client, token, spoil):
    record = ApiToken.objects.get()
    if spoil == "revoked":
        record.revoked_at = timezone.now()
    elif spoil == "expired":
        record.expires_at = timezone.now() - timedelta(seconds=1)
    elif spoil == "wrong":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif spoil == "owner_gone":
        record.created_by.is_active = False
        record.created_by.save()
    elif spoil == "agency_gone":
        record.agency.is_active = False
        record.agency.save()
    record.save()
    response = api(client, token, "get", reverse("agencies_api:dataset_list"))
    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]


def test_only_a_hash_of_the_token_is_stored(token):
    record = ApiToken.objects.get()
    assert token not in (record.key_hash, record.prefix, record.name)
    assert len(record.key_hash) == 64


def test_admin_makes_and_revokes_a_token_on_the_page(admin_client):
    page = admin_client.post(reverse("agencies:api_tokens"), {"name": "CAD export", "days": 30})
    new_token = page.context["new_token"]
    assert new_token.startswith("shk_")
    assert page["Cache-Control"] == "no-store"
    assert (
        admin_client.get(
            reverse("agencies_api:dataset_list"), HTTP_AUTHORIZATION=f"Token {new_token}"
        ).status_code
        == 200
    )
    record = ApiToken.objects.get(name="CAD export")
    admin_client.post(reverse("agencies:api_token_revoke", args=[record.pk]))
    record.refresh_from_db()
    assert record.revoked_at is not None
    assert admin_client.get(reverse("agencies:api_tokens")).context["new_token"] is None


def test_another_agencys_token_cannot_be_revoked(admin_client, other_agency, member):
    theirs, _ = api_token_create(
        agency=other_agency,
        name="theirs",
        created_by=member(Role.AGENCY_ADMIN, in_agency=other_agency),
    )
    assert (
        admin_client.post(reverse("agencies:api_token_revoke", args=[theirs.pk])).status_code == 404
    )
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


@pytest.mark.django_db(transaction=True)
def test_command_line_tools_define_and_upload_like_the_api(tmp_path, agency, capsys):
    from django.core.management import call_command

    other = AgencyFactory(code="EDU", name="Test Education", kind="education")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(POLICE_DEFINITION))
    call_command("define_dataset", "--agency", other.code, "--file", str(mapping))
    extract_file = tmp_path / "extract.csv"
    extract_file.write_bytes(csv_bytes([good_row("C1"), good_row("C2")]))
    call_command(
        "upload_extract", "--agency", other.code, "--dataset", POLICE_DEFINITION["name"],
        "--mode", "full", "--wait", str(extract_file),
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "Loaded. Rows read 2, loaded 2" in out
    assert SourceRecord.objects.filter(dataset__agency=other).count() == 2


def test_command_line_errors_say_what_to_fix(tmp_path, agency):
    from django.core.management import CommandError, call_command

    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"name": "x", "columns": []')
    with pytest.raises(CommandError, match="is not valid UTF-8 JSON"):
        call_command("define_dataset", "--agency", agency.code, "--file", str(mapping))
    with pytest.raises(CommandError, match="No agency has the code NOPE"):
        call_command("define_dataset", "--agency", "NOPE", "--file", str(mapping))
    with pytest.raises(CommandError, match="has no dataset named"):
        call_command("upload_extract", "--agency", agency.code, "--dataset", "nope", str(mapping))
    with pytest.raises(CommandError, match="Agency not saved"):
        call_command("create_agency", "--code", "bad code", "--name", "X", "--kind", "police")


def test_a_token_stops_working_when_its_maker_is_no_longer_an_agency_admin(client, token):
    record = ApiToken.objects.get()
    assert api(client, token, "get", reverse("agencies_api:dataset_list")).status_code == 200
    record.created_by.memberships.update(is_active=False)
    assert api(client, token, "get", reverse("agencies_api:dataset_list")).status_code == 401


def test_a_token_client_sees_the_size_limit_message(client, token, agency, settings):
    dataset = police_dataset(agency)
    content = csv_bytes([good_row("I1")])
    settings.SHAREHUB_UPLOAD_MAX_BYTES = len(content) - 1
    response = api(
        client, token, "post", reverse("agencies_api:dataset_extracts", args=[dataset.pk]),
        data={"file": SimpleUploadedFile("a.csv", content), "mode": "full"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["file"][0].startswith("The file is larger than the")


def test_a_file_with_too_many_columns_is_refused_with_a_reason(admin_client):
    columns = [f"c{n}" for n in range(301)]
    data = {"name": "Wide", "columns": columns, "source_id_column": "c0"}
    response = admin_client.post(reverse("agencies:dataset_create"), data)
    assert response.status_code == 400
    assert "more than 300 columns" in response.content.decode()
    assert not Dataset.objects.filter(name="Wide").exists()
