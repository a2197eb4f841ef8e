"""Issue 20, tester's finding E: every place one agency's record values are shown to a user
writes a read for the owning agency (/audit/reads/), as the case summary does; and the subject
access report's "Who viewed" lists the searches that showed the person."""

import pytest
from django.utils import timezone

from agencies.models import Membership, Role
from audit.models import AuditAction, RecordRead
from core.purpose import Purpose
from matching.review import explain_read_audit
from matching.search import SearchQuery
from protocols.search import person_search
from subject_access.services import subject_access_report
from tests.protocol_helpers import (
    give,
    linked_people,
    police_shared_with_a_practitioner,
    protocol_in_force,
)


@pytest.fixture
def world(db, agency, other_agency, member):
    linked, practitioner, _ = police_shared_with_a_practitioner(agency, other_agency, member)
    return linked, practitioner


def _search(practitioner):
    results, _ = person_search(
        user=practitioner,
        membership=Membership.objects.get(user=practitioner),
        query=SearchQuery(surname="Smith", forename="Alice", date_of_birth="01/02/2015"),
        purpose=Purpose.SAFEGUARDING,
        now=timezone.now(),
        channel="web",
    )
    return results


def test_a_search_result_showing_police_values_is_a_read_for_the_police(
    world, client, member, other_agency
):
    linked, practitioner = world
    results = _search(practitioner)
    assert linked.alice.reference in [r.person.reference for r in results]
    assert any(r.view.name for r in results)  # the name shown comes from police records
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency)
    client.force_login(police_ig)
    page = client.get("/audit/reads/")
    reads = [r for r in page.context["reads"] if r.entry.action == AuditAction.SEARCH]
    assert reads, "the search that showed police values is missing from the police's reads"
    (read,) = reads
    assert linked.alice.reference in read.persons
    assert "identity:surname" in read.fields and read.records >= 1
    body = page.content.decode()
    for value in ("Alice", "Smith", "2015-02-01", "01/02/2015", "9434765919"):
        assert value not in body
    # Filtering by the person finds the search too.
    from oversight.selectors import ReadsQuery, record_reads

    found = record_reads(agency_id=other_agency.pk, query=ReadsQuery(person=linked.alice.reference))
    assert read.pk in [r.pk for r in found]


def test_who_viewed_lists_the_searches_that_showed_the_person(world, member, agency):
    linked, practitioner = world
    _search(practitioner)
    ig = member(Role.IG_OFFICER)
    report = subject_access_report(
        user=ig,
        membership=Membership.objects.get(user=ig),
        person=linked.alice,
        show_staff_names=False,
        channel="web",
    )
    assert "Search" in [e.action for e in report.access_log]


def test_a_reviewers_read_of_how_a_person_was_linked_is_a_read_for_each_owner(
    world, member, agency, other_agency
):
    linked, _ = world
    reviewer = member(Role.PLATFORM_ADMIN)
    explain_read_audit(user=reviewer, membership=None, person=linked.alice, channel="web")
    owners = set(
        RecordRead.objects.filter(entry__action=AuditAction.REVIEW_READ).values_list(
            "agency_id", flat=True
        )
    )
    assert owners == {agency.pk, other_agency.pk}  # Alice has police and social care records
    for read in RecordRead.objects.filter(entry__action=AuditAction.REVIEW_READ):
        assert read.persons == [linked.alice.reference] and read.records >= 1


@pytest.fixture
def analyst_with_police(db, agency, other_agency, member):
    """A social care analyst whose evaluation protocol shares the police's records."""
    linked = linked_people(other_agency, agency)
    analyst = member(Role.ANALYST)
    version = protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police}],
        purpose=Purpose.EVALUATION,
        roles=(Role.ANALYST,),
    )
    give(version, analyst)
    return linked, analyst


def _export_reads(agency_id):
    return list(RecordRead.objects.filter(agency_id=agency_id, entry__action=AuditAction.EXPORT))


def test_a_linked_export_of_police_records_is_a_read_for_the_police(
    analyst_with_police, other_agency
):
    from matching.export import linkage_export_start

    linked, analyst = analyst_with_police
    _, chunks = linkage_export_start(
        user=analyst,
        membership=Membership.objects.get(user=analyst),
        purpose=Purpose.EVALUATION,
        statement="Evaluation of early help, 2026",
        channel="web",
    )
    text = "".join(chunks)
    assert "POL" in text or str(other_agency.code) in text  # police rows left
    (read,) = _export_reads(other_agency.pk)
    assert read.fields and not read.known_to_only


def test_a_deidentified_export_of_police_values_is_a_read_for_the_police(
    analyst_with_police, other_agency, agency
):
    from insights.export import export_start, exportable_fields

    linked, analyst = analyst_with_police
    membership = Membership.objects.get(user=analyst)
    police = [
        f
        for f in exportable_fields(user=analyst, membership=membership, purpose=Purpose.EVALUATION)
        if f.dataset_id == linked.police.pk
    ]
    assert police
    _, _, chunks = export_start(
        user=analyst,
        membership=membership,
        purpose=Purpose.EVALUATION,
        statement="Evaluation of early help, 2026",
        choices=[police[0].choice],
        age_bands=False,
    )
    "".join(chunks)
    (read,) = _export_reads(other_agency.pk)
    assert read.fields == [police[0].key] and not read.known_to_only
    assert _export_reads(agency.pk) == []  # no social care value chosen
