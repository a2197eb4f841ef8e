"""Issue 22, an IG officer's audit of the audit pages: protocol changes on their agency's audit
page, a protocol chosen by name in the audit search, flags that can be asked about wherever
they are listed, previews not flagged as reading with nothing behind it, and readers named
one way on the reads page."""

from datetime import date

import pytest
from django.utils.html import escape

from agencies.models import Membership, Role
from audit.models import AuditAction, ReadFlag, ReadQuestion
from core.purpose import Purpose
from notifications.models import Notification, NotificationKind
from oversight.flags import unusual_reads_tell
from oversight.selectors import PREVIEW_REASON, unusual_reads
from protocols.models import ConsentRule, Tier
from protocols.preview import protocol_preview
from protocols.services import (
    ProtocolInput,
    RuleInput,
    protocol_approve,
    protocol_draft_create,
    protocol_resume,
    protocol_return,
    protocol_revise,
    protocol_submit,
    protocol_suspend,
    protocol_withdraw,
)
from protocols.summary import case_summary
from tests.factories import AgencyFactory
from tests.ingest_helpers import police_dataset
from tests.protocol_helpers import give, linked_people, protocol_in_force

REASON = "Police data quality is under review after a complaint"


@pytest.fixture
def drafted(agency, other_agency, member):
    police = police_dataset(other_agency)
    author = member(Role.IG_OFFICER, full_name="Ada Author")
    approver = member(Role.IG_OFFICER, full_name="Ben Approver")
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police")
    m = {u: Membership.objects.get(user=u) for u in (author, approver, police_ig)}
    data = ProtocolInput(
        name="MASH information sharing",
        purpose=Purpose.SAFEGUARDING,
        lawful_basis="UK GDPR Art 6(1)(e)",
        valid_from=date(2026, 1, 1),
        party_ids=(agency.pk, other_agency.pk),
        rules=(RuleInput(dataset_id=police.pk, tier=Tier.SUMMARY, fields=("field:risk_grade",)),),
    )
    version = protocol_draft_create(membership=m[author], data=data)
    return version, m[author], m[approver], m[police_ig]


def test_each_agencys_protocol_changes_are_under_the_protocol_change_filter(drafted, client):
    version, author, approver, police_ig = drafted
    protocol_submit(membership=author, version=version)
    second = protocol_return(membership=police_ig, version=version, note="Say why, please.")
    protocol_submit(membership=author, version=second)
    protocol_approve(membership=approver, version=second)
    protocol_approve(membership=police_ig, version=second)
    protocol_suspend(membership=police_ig, protocol=version.protocol, reason=REASON)
    protocol_resume(
        membership=author,
        protocol=version.protocol,
        reason="The breach is closed; sharing may resume.",
    )
    third = protocol_revise(membership=author, protocol=version.protocol)
    protocol_withdraw(membership=author, version=third)

    def events(officer):
        client.force_login(officer.user)
        page = client.get("/audit/", {"action": AuditAction.PROTOCOL})
        assert page.status_code == 200
        return sorted(e.detail["event"] for e in page.context["entries"])

    # Every change made by the agency's officers, seen by each of them; the last approval
    # (the police's) put the version in force.
    ours = ["drafted", "submitted", "submitted", "approved", "resumed", "drafted", "withdrawn"]
    assert events(author) == events(approver) == sorted(ours)
    assert events(police_ig) == sorted(
        ["returned", "drafted", "approved", "activated", "suspended"]
    )


def test_the_audit_search_takes_a_protocol_by_name_not_a_version_id(drafted, client, member):
    version, author, _approver, police_ig = drafted
    protocol_submit(membership=author, version=version)
    second = protocol_return(membership=police_ig, version=version, note="Say why, please.")
    elsewhere = member(Role.IG_OFFICER, in_agency=AgencyFactory(name="Test Health"))
    client.force_login(author.user)
    body = client.get("/audit/").content.decode()
    assert "Protocol version id" not in body
    reference = version.protocol.reference
    assert f'<option value="{version.protocol_id}">MASH information sharing ({reference})' in body
    found = client.get("/audit/", {"protocol": version.protocol_id}).context["entries"]
    assert {e.detail["event"] for e in found} == {"drafted", "submitted"}
    assert {tuple(e.protocol_versions) for e in found} == {(version.pk,)}
    # Under any of its versions: the police's changes include the returned draft's.
    client.force_login(police_ig.user)
    found = client.get("/audit/", {"protocol": version.protocol_id}).context["entries"]
    assert {v for e in found for v in e.protocol_versions} == {version.pk, second.pk}
    # A protocol the agency is not party to is no choice, and the page says what to do.
    client.force_login(elsewhere)
    page = client.get("/audit/", {"protocol": version.protocol_id})
    assert "Choose a protocol your agency is party to from the list." in page.content.decode()


# --- Flags on the reads page --------------------------------------------------------------------

QUESTION = "Please explain why your worker opened this child's police records today."


@pytest.fixture
def read_world(db, agency, other_agency, member):
    """A social care practitioner (`agency`) reading the police's (`other_agency`) records of
    Alice's family with nothing behind it; the police's IG officer looking at the reads."""
    linked = linked_people(other_agency, agency)
    practitioner = member(Role.PRACTITIONER, full_name="Sam Worker")
    version = protocol_in_force(
        author=member(Role.IG_OFFICER, full_name="Chris Care"),
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police, "consent": ConsentRule.NONE}],
        name="MASH sharing",
    )
    give(version, practitioner)
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency, full_name="Pat Police")
    return linked, practitioner, version, police_ig


def _summary(user, person):
    case_summary(
        user=user, membership=Membership.objects.get(user=user), person=person,
        purpose=Purpose.SAFEGUARDING, channel="web",
    )  # fmt: skip


def test_every_flag_listed_can_be_asked_about_before_beat_runs(read_world, client, agency):
    linked, practitioner, _version, police_ig = read_world
    _summary(practitioner, linked.alice)
    client.force_login(police_ig)
    page = client.get("/audit/reads/")
    body = page.content.decode()
    [item] = [f for f in page.context["flags"] if f.flag.kind == "no_reason"]
    ask = f"/audit/reads/flags/{item.flag.pk}/ask/"
    assert item.flag.person_reference == linked.alice.reference
    assert escape(f"Ask {agency.name} for an explanation") in body and ask in body
    # The flags table and the flagged-only filter are the same flags, stored by the page.
    assert "No flag in the last 30 days" not in body
    assert item.flag.pk in {t.flag.pk for t in page.context["told"]}
    flagged = client.get("/audit/reads/", {"flagged_only": "on"}).context["reads"]
    assert linked.alice.reference in {r.entry.person_reference for r in flagged}
    # Storing told nobody; beat tells each flag once, however often the page stored it.
    assert not Notification.objects.filter(kind=NotificationKind.UNUSUAL_READ).exists()
    client.get("/audit/reads/")
    assert unusual_reads_tell() >= 1
    assert unusual_reads_tell() == 0
    assert ReadFlag.objects.filter(kind="no_reason").count() == 1
    told = Notification.objects.filter(kind=NotificationKind.UNUSUAL_READ, recipient=police_ig)
    assert told.count() == ReadFlag.objects.filter(agency_id=item.flag.agency_id).count()

    assert client.get(ask).status_code == 200
    client.post(ask, {"question": QUESTION})
    thread = ReadQuestion.objects.get(flag=item.flag)
    again = client.get("/audit/reads/").content.decode()
    assert f"/audit/questions/{thread.pk}/" in again


def test_a_preview_has_its_version_behind_it_and_is_not_flagged_for_nothing_behind(
    read_world, client, agency, member
):
    linked, _practitioner, version, police_ig = read_world
    officer = member(Role.IG_OFFICER, full_name="Ivy Officer")
    protocol_preview(
        membership=Membership.objects.get(user=officer), version=version,
        role=Role.PRACTITIONER, agency=agency, purpose=Purpose.SAFEGUARDING, person=linked.alice,
    )  # fmt: skip
    flags = unusual_reads(agency_id=police_ig.memberships.get().agency_id)
    assert [f for f in flags if f.actor_id == officer.pk and f.kind == "no_reason"] == []
    client.force_login(police_ig)
    page = client.get("/audit/reads/", {"kind": "", "reader": "Ivy"})
    [row] = page.context["reads"]  # still listed as a read
    assert row.entry.action == AuditAction.PROTOCOL_PREVIEW
    assert row.reasons == [PREVIEW_REASON]
    assert PREVIEW_REASON in page.content.decode()
    csv = client.get("/audit/reads/export.csv", {"reader": "Ivy"}).content.decode()
    assert PREVIEW_REASON in csv


def test_the_reader_is_named_the_same_way_everywhere_on_the_page(read_world, client, agency):
    linked, practitioner, _version, police_ig = read_world
    _summary(practitioner, linked.alice)
    client.force_login(police_ig)
    client.get("/audit/reads/")  # stores the flags
    unusual_reads_tell()
    page = client.get("/audit/reads/")
    reader = f"Sam Worker, Safeguarding practitioner, {agency.name}"
    assert {f.reader for f in page.context["flags"]} == {reader}
    assert {t.reader for t in page.context["told"]} == {reader}
    assert {r.reader for r in page.context["reads"]} == {reader}
    body = page.content.decode()
    assert "(user " not in body
    flag = ReadFlag.objects.filter(kind="no_reason").get()
    assert escape(reader) in client.get(f"/audit/reads/flags/{flag.pk}/ask/").content.decode()
    # Notifications are emailed: role and agency, never the name or a user number.
    for note in Notification.objects.filter(kind=NotificationKind.UNUSUAL_READ):
        assert f"of {agency.name} (Safeguarding practitioner)" in note.message
        assert "Sam Worker" not in note.message and "(user " not in note.message
