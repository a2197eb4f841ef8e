"""Explaining a person, and the linked export with pseudonyms made for each export."""

import csv
import io
import os
import re

import pytest
from django.core.management import CommandError, call_command
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from agencies.models import Role, SourceRecord
from core.purpose import Purpose
from matching import export as export_module
from matching.export import EXPORT_HEADER, ExportError, linkage_export_write
from matching.linkage.run import linkage_run
from matching.models import (
    Household,
    LinkageExport,
    LinkageRecord,
    LinkageRun,
    Person,
    PersonEvent,
)
from matching.review import reviewer_grant
from tests.factories import MembershipFactory, UserFactory
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.protocol_helpers import give, protocol_in_force

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def linked(agency):
    """Three people in a police dataset: Alice (three records), Bob (two), Carol (one).

    The records go through ingest and key making for real; their persons are set here rather
    than left to a model estimated from six records, so the figures below are known.
    """
    dataset = police_dataset(agency)
    rows = [
        good_row("A1"),
        good_row("A2"),
        good_row("A3", postcode="LS6 2AB"),
        good_row("B1", forename="Bob", surname="Jones", dob="03/04/2012", nhs_number=""),
        good_row("B2", forename="Bob", surname="Jones", dob="03/04/2012", nhs_number=""),
        good_row("C1", forename="Carol", surname="Brown", dob="05/06/2010", nhs_number=""),
    ]
    upload(dataset, csv_bytes(rows))
    linkage_run(full=True)
    records = {r.source_id: r for r in SourceRecord.objects.filter(dataset=dataset)}
    run = LinkageRun.objects.create(kind=LinkageRun.Kind.FULL, status=LinkageRun.Status.DONE)
    now = timezone.now()
    LinkageRecord.objects.update(person=None)
    for members in (["A1", "A2", "A3"], ["B1", "B2"], ["C1"]):
        someone = Person.objects.create()
        PersonEvent.objects.create(
            person=someone, kind=PersonEvent.Kind.CREATED, run=run, records=len(members)
        )
        for number, source_id in enumerate(members):
            partner = (
                records[members[1 - number if number < 2 else 0]] if len(members) > 1 else None
            )
            LinkageRecord.objects.filter(record=records[source_id]).update(
                person=someone,
                link_rule="nhs" if partner is not None else "alone",
                link_score=0.9987 if partner is not None else None,
                linked_with=partner,
                linked_at=now,
                run=run,
            )
    return records


def person(record: SourceRecord) -> Person:
    return LinkageRecord.objects.select_related("person").get(record=record).person


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def platform_admin():
    user = UserFactory()
    MembershipFactory(user=user, agency=None, role=Role.PLATFORM_ADMIN)
    return user


def export_text(*, purpose: str = "Test", admin=None) -> tuple[LinkageExport, str]:
    """The platform admin's whole-partnership export (the command's)."""
    stream = io.StringIO(newline="")
    made = linkage_export_write(stream, admin=admin or platform_admin(), statement=purpose)
    return made, stream.getvalue()


def analyst_with_protocol(member, agency):
    """An analyst of `agency` holding an evaluation protocol over every dataset it keeps."""
    analyst = member(Role.ANALYST)
    version = protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency],
        rules=[{"dataset": dataset} for dataset in agency.datasets.all()],
        purpose=Purpose.EVALUATION,
        roles=(Role.ANALYST,),
    )
    give(version, analyst)
    return analyst


# --- Explain --------------------------------------------------------------------------------------


def test_explain_lists_the_persons_records_household_and_events(client, member, linked):
    alice = person(linked["A1"])
    household = Household.objects.create()
    Person.objects.filter(pk=alice.pk).update(household=household)
    client.force_login(member(Role.PLATFORM_ADMIN))

    response = client.get(reverse("matching:person_explain", args=[alice.reference]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert f"Person {alice.reference}" in page
    assert household.reference in page
    for source_id in ("A1", "A2", "A3"):
        assert f">{source_id}<" in page
    assert ">B1<" not in page
    assert "Created" in page

    data = client.get(reverse("matching_api:person_explain", args=[alice.reference])).json()
    assert data["reference"] == alice.reference
    assert data["household"] == household.reference
    records = {r["source_id"]: r for r in data["records"]}
    assert records.keys() == {"A1", "A2", "A3"}
    record = records["A1"]
    assert record["agency_code"] == "CSC"
    assert record["dataset_name"] == "Police - domestic abuse incidents"
    assert record["link_rule"]
    assert 0 < record["link_probability"] <= 1
    assert record["linked_with"]["source_id"] in {"A2", "A3"}
    assert record["linked_at"]
    kinds = [event["kind"] for event in data["events"]]
    assert kinds[0] == PersonEvent.Kind.CREATED
    assert all(event["at"] for event in data["events"])


def test_explain_shows_merges_with_the_other_person(client, member, linked):
    alice, carol = person(linked["A1"]), person(linked["C1"])
    run = LinkageRun.objects.create(kind=LinkageRun.Kind.DECISION)
    PersonEvent.objects.create(person=alice, kind=PersonEvent.Kind.MERGED, other=carol, run=run)
    PersonEvent.objects.create(
        person=carol, kind=PersonEvent.Kind.MERGED_INTO, other=alice, run=run
    )
    Person.objects.filter(pk=carol.pk).update(is_active=False, merged_into=alice)
    client.force_login(member(Role.PLATFORM_ADMIN))

    data = client.get(reverse("matching_api:person_explain", args=[carol.reference])).json()
    assert data["merged_into"] == alice.reference
    last = data["events"][-1]
    assert (last["kind"], last["other_person"], last["run_kind"]) == (
        "merged_into",
        alice.reference,
        "After a review decision",
    )
    page = client.get(reverse("matching:person_explain", args=[carol.reference])).content
    assert b"was merged into" in page


def test_explain_is_for_platform_admins_and_reviewers(client, member, linked):
    reference = person(linked["A1"]).reference
    urls = [
        reverse("matching:person_explain", args=[reference]),
        reverse("matching_api:person_explain", args=[reference]),
    ]
    for role in set(Role.values) - {Role.PLATFORM_ADMIN}:
        client.force_login(member(role))
        # Not found, as for a person who does not exist: a person's existence is not theirs.
        assert [client.get(url).status_code for url in urls] == [404, 404], role
    reviewer = member(Role.PRACTITIONER)
    reviewer_grant(user=reviewer)
    client.force_login(reviewer)
    assert [client.get(url).status_code for url in urls] == [200, 200]
    unknown = [
        reverse("matching:person_explain", args=["ZZZZZZZZZZ"]),
        reverse("matching_api:person_explain", args=["ZZZZZZZZZZ"]),
    ]
    assert [client.get(url).status_code for url in unknown] == [404, 404]


# --- Export ---------------------------------------------------------------------------------------


def test_the_export_has_one_row_per_live_linked_record_with_its_columns(linked):
    retired = linked["B2"]
    SourceRecord.objects.filter(pk=retired.pk).update(is_retired=True)
    unlinked = linked["C1"]
    LinkageRecord.objects.filter(record=unlinked).update(person=None)

    admin = platform_admin()
    made, text = export_text(purpose="Evaluation of early help, 2026", admin=admin)
    table = read_csv(text)
    assert (
        tuple(table[0])
        == EXPORT_HEADER
        == (
            "agency_code",
            "dataset",
            "source_record_id",
            "person_pseudonym",
            "household_pseudonym",
            "link_score",
        )
    )
    rows = table[1:]
    assert sorted(row[2] for row in rows) == ["A1", "A2", "A3", "B1"]
    assert made.rows == len(rows) == 4
    assert {row[0] for row in rows} == {"CSC"}
    assert {row[1] for row in rows} == {"Police - domestic abuse incidents"}
    assert all(HEX64.match(row[3]) for row in rows)
    assert {row[4] for row in rows} == {""}  # no households in a police extract
    scores = {row[2]: row[5] for row in rows}
    assert scores["A1"] == "0.9987"

    stored = LinkageExport.objects.get()
    assert (stored.purpose, stored.rows, stored.channel, stored.made_by) == (
        "Evaluation of early help, 2026",
        4,
        "command",
        admin,
    )


def test_pseudonyms_group_records_within_an_export_and_differ_between_exports(linked):
    household = Household.objects.create()
    alice, bob = person(linked["A1"]), person(linked["B1"])
    Person.objects.filter(pk__in=[alice.pk, bob.pk]).update(household=household)

    _, first = export_text()
    _, second = export_text()
    first_rows = {row[2]: row for row in read_csv(first)[1:]}
    second_rows = {row[2]: row for row in read_csv(second)[1:]}

    # Within an export: one pseudonym per person, one per household.
    assert first_rows["A1"][3] == first_rows["A2"][3] == first_rows["A3"][3]
    assert first_rows["A1"][3] != first_rows["B1"][3]
    assert first_rows["A1"][4] == first_rows["B1"][4] != ""
    assert first_rows["C1"][4] == ""

    # Between exports of the same data: no pseudonym in common.
    first_pseudonyms = {row[3] for row in first_rows.values()} | {
        row[4] for row in first_rows.values() if row[4]
    }
    second_pseudonyms = {row[3] for row in second_rows.values()} | {
        row[4] for row in second_rows.values() if row[4]
    }
    assert first_pseudonyms.isdisjoint(second_pseudonyms)

    # And none is, or contains, anything ShareHub keeps about the person or household.
    kept = set(Person.objects.values_list("reference", flat=True)) | set(
        Household.objects.values_list("reference", flat=True)
    )
    kept |= {str(pk) for pk in Person.objects.values_list("pk", flat=True)}
    for pseudonym in first_pseudonyms | second_pseudonyms:
        assert pseudonym not in kept
        assert not any(reference in pseudonym.upper() for reference in kept if len(reference) > 4)


def test_the_export_neutralises_spreadsheet_formulas(agency):
    dataset = police_dataset(agency)
    upload(dataset, csv_bytes([good_row("=HYPERLINK(1)"), good_row("+44")]))
    linkage_run(full=True)
    _, text = export_text()
    source_ids = sorted(row[2] for row in read_csv(text)[1:])
    assert source_ids == ["'+44", "'=HYPERLINK(1)"]


def test_the_export_is_written_in_chunks(linked, monkeypatch):
    monkeypatch.setattr(export_module, "CHUNK_ROWS", 2)
    made, chunks = export_module.linkage_export_platform_start(
        admin=platform_admin(), statement="Chunks"
    )
    parts = list(chunks)
    assert len(parts) == 4  # header + 2 rows, 2 rows, 2 rows, then the empty remainder
    assert len(read_csv("".join(parts))) == 7
    made.refresh_from_db()
    assert made.rows == 6


def test_a_reader_stopping_early_is_recorded_with_the_rows_that_left(linked, monkeypatch):
    monkeypatch.setattr(export_module, "CHUNK_ROWS", 2)
    made, chunks = export_module.linkage_export_platform_start(
        admin=platform_admin(), statement="Stopped"
    )
    next(chunks)
    chunks.close()
    made.refresh_from_db()
    assert made.rows == 2


@pytest.mark.parametrize("purpose", ["", "   ", "x" * 201])
def test_an_export_needs_a_purpose(linked, purpose):
    with pytest.raises(ExportError):
        export_text(purpose=purpose)
    assert not LinkageExport.objects.exists()


def test_the_api_streams_the_export_to_analysts(client, member, linked, agency):
    url = reverse("matching_api:linkage_export")
    # Twice: the same analyst's second export is a new one.
    for user in [analyst_with_protocol(member, agency)] * 2:
        client.force_login(user)
        response = client.get(url, {"purpose": "evaluation", "statement": "Commissioning review"})
        assert response.status_code == 200
        assert isinstance(response, StreamingHttpResponse)
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Cache-Control"] == "no-store"
        table = read_csv(b"".join(response.streaming_content).decode())
        assert tuple(table[0]) == EXPORT_HEADER
        assert len(table) == 1 + 6
        made = LinkageExport.objects.latest("pk")
        assert (made.made_by, made.channel, made.rows) == (user, "api", 6)

    missing = client.get(url, {"purpose": "evaluation"})
    assert missing.status_code == 400
    assert "Say what the export is for" in missing.json()["statement"][0]

    for role in (Role.PRACTITIONER, Role.IG_OFFICER, Role.AGENCY_ADMIN, Role.PLATFORM_ADMIN):
        client.force_login(member(role))
        assert client.get(url, {"purpose": "x"}).status_code == 403
    assert LinkageExport.objects.count() == 2


def test_analysts_download_the_export_from_a_page(client, member, linked, agency):
    analyst = analyst_with_protocol(member, agency)
    client.force_login(analyst)
    url = reverse("matching:linkage_export")
    assert b"What is the export for?" in client.get(url).content

    refused = client.post(url, {"purpose": "evaluation", "statement": ""})
    assert refused.status_code == 400
    assert b'<a href="#id_statement">Enter what the export is for.</a>' in refused.content

    response = client.post(url, {"purpose": "evaluation", "statement": "Needs assessment"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="linked-records-')
    assert len(read_csv(b"".join(response.streaming_content).decode())) == 7
    made = LinkageExport.objects.get()
    assert (made.purpose, made.made_by, made.channel) == ("Needs assessment", analyst, "web")


def test_export_linkage_command_writes_a_private_file(linked, tmp_path, capsys):
    admin = platform_admin()
    by = ("--by", admin.email)
    out = tmp_path / "linked.csv"
    call_command("export_linkage", "--out", str(out), "--purpose", "Annual evaluation", *by)
    table = read_csv(out.read_text())
    assert tuple(table[0]) == EXPORT_HEADER and len(table) == 7
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert "6 rows written" in capsys.readouterr().out
    assert LinkageExport.objects.get().channel == "command"

    with pytest.raises(CommandError, match="already exists"):
        call_command("export_linkage", "--out", str(out), "--purpose", "Again", *by)
    with pytest.raises(CommandError, match="Say what the export is for"):
        call_command("export_linkage", "--out", str(tmp_path / "other.csv"), "--purpose", " ", *by)
    assert LinkageExport.objects.count() == 1
