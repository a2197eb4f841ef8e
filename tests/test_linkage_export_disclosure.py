"""The linked export goes through the disclosure engine (issue 20, finding 2).

An analyst gets rows only for the records their protocols disclose for the purpose they state,
is refused with a clear message when no protocol shares anything for it, and sees no other
agency's record ids: those are pseudonyms keyed for the one export. The command-line export
stays a platform admin's, named and audited with its purpose.
"""

import csv
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from agencies.models import AgencyKind, Role
from audit.models import AuditAction, AuditEntry
from core.purpose import Purpose
from matching.models import LinkageExport
from protocols.models import ConsentRule, Tier
from tests.factories import AgencyFactory
from tests.protocol_helpers import give, linked_people, protocol_in_force

HEX64 = re.compile(r"^[0-9a-f]{64}$")
EVERY_SOURCE_ID = {"A1", "A2", "B1", "S1", "S2"}


@pytest.fixture
def people(agency, other_agency):
    """Alice (police A1, A2; social care S1), Bob (police B1), Carol (social care S2).

    Social care is `agency` (the analysts' own, unless told otherwise); police is `other_agency`.
    """
    return linked_people(other_agency, agency)


def rows_of(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))[1:]


def web_export(client, **data):
    return client.post(
        reverse("matching:linkage_export"),
        {"purpose": Purpose.EVALUATION, "statement": "Evaluation of early help, 2026", **data},
    )


def evaluation_protocol(member, agency, other_agency, people, *, police_rule=None):
    rules = [{"dataset": people.csc, "tier": Tier.SUMMARY, "fields": ["field:referral_date"]}]
    if police_rule is not None:
        rules.append({"dataset": people.police, **police_rule})
    return protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency, other_agency],
        rules=rules,
        purpose=Purpose.EVALUATION,
        roles=(Role.ANALYST,),
    )


def test_an_analyst_with_no_protocol_is_refused_on_the_page_and_the_api(client, member, people):
    education = AgencyFactory(code="EDU", name="Education", kind=AgencyKind.EDUCATION)
    analyst = member(Role.ANALYST, in_agency=education)
    client.force_login(analyst)

    refused = web_export(client)
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "None of your protocols shares records for evaluating services" in page
    assert 'class="govuk-error-summary"' in page
    for source_id in EVERY_SOURCE_ID:
        assert f">{source_id}<" not in page

    api = client.get(
        reverse("matching_api:linkage_export"),
        {"purpose": Purpose.EVALUATION, "statement": "Evaluation"},
    )
    assert api.status_code == 403
    assert "None of your protocols shares records" in api.json()["detail"]
    assert not LinkageExport.objects.exists()


def test_rows_are_only_the_records_the_protocol_discloses(
    client, member, agency, other_agency, people
):
    # The protocol shares social care's records (the analyst's own agency) and not the police's.
    analyst = member(Role.ANALYST)
    give(evaluation_protocol(member, agency, other_agency, people), analyst)
    client.force_login(analyst)

    response = web_export(client)
    assert response.status_code == 200, response.content.decode()
    rows = rows_of(response)
    assert sorted(row[2] for row in rows) == ["S1", "S2"]
    assert {row[0] for row in rows} == {agency.code}

    # The same for another purpose is refused: the protocol serves evaluation only.
    refused = web_export(client, purpose=Purpose.COMMISSIONING)
    assert refused.status_code == 400
    made, denied = AuditEntry.objects.filter(action=AuditAction.EXPORT).order_by("pk")
    assert (made.actor, made.purpose, made.agency_id, made.outcome) == (
        analyst,
        Purpose.EVALUATION,
        agency.pk,
        "ok",
    )
    assert made.protocol_versions
    assert made.detail["statement"] == "Evaluation of early help, 2026"
    assert (denied.purpose, denied.outcome) == (Purpose.COMMISSIONING, "denied")


def test_another_agencys_record_ids_are_pseudonyms_made_for_the_one_export(
    client, member, agency, other_agency, people
):
    analyst = member(Role.ANALYST)
    give(
        evaluation_protocol(member, agency, other_agency, people, police_rule={"tier": Tier.FULL}),
        analyst,
    )
    client.force_login(analyst)

    first, second = rows_of(web_export(client)), rows_of(web_export(client))
    assert len(first) == len(second) == 5
    own = {row[2] for row in first if row[0] == agency.code}
    assert own == {"S1", "S2"}
    theirs = [row[2] for row in first if row[0] == other_agency.code]
    assert len(theirs) == 3
    assert all(HEX64.match(value) for value in theirs)
    assert not set(theirs) & EVERY_SOURCE_ID
    # Keyed per export: the police records share no pseudonym between two exports.
    assert set(theirs).isdisjoint(row[2] for row in second if row[0] == other_agency.code)
    # Alice's police and social care records are still one person within the export.
    alice = {row[3] for row in first if row[2] == "S1"}
    assert len([row for row in first if row[3] in alice]) == 3

    api = client.get(
        reverse("matching_api:linkage_export"),
        {"purpose": Purpose.EVALUATION, "statement": "Evaluation"},
    )
    assert api.status_code == 200
    api_rows = rows_of(api)
    assert {row[2] for row in api_rows if row[0] == agency.code} == {"S1", "S2"}
    assert not {row[2] for row in api_rows} & {"A1", "A2", "B1"}


def test_records_the_engine_holds_back_for_consent_are_not_exported(
    client, member, agency, other_agency, people
):
    analyst = member(Role.ANALYST)
    give(
        evaluation_protocol(
            member,
            agency,
            other_agency,
            people,
            police_rule={"tier": Tier.FULL, "consent": ConsentRule.NEEDED},
        ),
        analyst,
    )
    client.force_login(analyst)
    rows = rows_of(web_export(client))
    assert {row[0] for row in rows} == {agency.code}


def test_the_command_is_a_named_platform_admins_with_its_purpose_audited(member, people, tmp_path):
    admin = member(Role.PLATFORM_ADMIN, email="platform.admin@agency.test")
    out = tmp_path / "linked.csv"
    call_command(
        "export_linkage", "--out", str(out), "--purpose", "Linkage quality check", "--by",
        "platform.admin@agency.test",
    )  # fmt: skip
    rows = list(csv.reader(io.StringIO(out.read_text())))[1:]
    assert sorted(row[2] for row in rows) == sorted(EVERY_SOURCE_ID)
    entry = AuditEntry.objects.filter(action=AuditAction.EXPORT).latest("pk")
    assert entry.actor == admin
    assert entry.channel == "command"
    assert entry.detail["statement"] == "Linkage quality check"

    analyst = member(Role.ANALYST, email="an.analyst@agency.test")
    assert analyst
    with pytest.raises(CommandError, match="platform admin"):
        call_command(
            "export_linkage", "--out", str(tmp_path / "other.csv"), "--purpose", "Again",
            "--by", "an.analyst@agency.test",
        )  # fmt: skip
    assert not (tmp_path / "other.csv").exists()
