"""Issue 21, item 3, "Not the same person": a practitioner reports a wrong or a missed link from a
case summary; the report heads the link review queue; the reviewer's decision binds linkage from
the run it starts; the reporter is told; everyone shown the record (or both people) is warned
meanwhile; nobody learns who reported, nor of a record or person the engine does not show them.
"""

from dataclasses import dataclass

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agencies.models import Role, SourceRecord
from audit.models import AuditAction, AuditEntry
from core.purpose import Purpose
from matching.challenges import (
    MIN_REASON,
    ChallengeError,
    ChallengeNotFound,
    link_report,
    open_challenges_for,
    records_reportable,
    report_target,
)
from matching.linkage.run import linkage_run
from matching.models import LinkageRecord, LinkChallenge, Person, ReviewDecision, ReviewItem
from matching.review import review_decide, review_item_readable, review_queue, reviewer_grant
from notifications.models import Notification, NotificationKind
from protocols.engine import disclose
from protocols.models import Tier
from tests.ingest_helpers import HEADER, POLICE_DEFINITION, csv_bytes, good_row, upload
from tests.ingest_helpers import police_dataset as dataset_of
from tests.protocol_helpers import give, protocol_in_force
from tests.test_review import pair_item

pytestmark = pytest.mark.django_db

# The police dataset with an address, so that linkage puts the family in one household.
DEFINITION = {
    **POLICE_DEFINITION,
    "columns": [*POLICE_DEFINITION["columns"], {"column": "address", "identifier": "address"}],
}
COLUMNS = [*HEADER, "address"]
REASON = "Our referral shows a different school and a different mother for this child."
# Everything about the family that must never reach a report, an audit entry or a notification.
PLAINTEXT = ("Kyle", "Turner", "Mia", "Mya", "Turnbull", "Dean", "2012", "2010", "LS6", "Leaf")
SAFEGUARDING = Purpose.SAFEGUARDING


def row(ref: str, **fields) -> dict:
    home = {"nhs_number": "", "postcode": "LS6 4QT", "address": "12 Leaf Street, Leeds"}
    return good_row(ref, **{**home, **fields})


@dataclass
class Family:
    """One household as linkage builds it: Kyle (K1, K2, linked), Mia (M1, and O1 of another
    agency), Mya Turnbull (M2: Mia under another name, linkage not sure enough), Dean (D1)."""

    records: dict[str, SourceRecord]
    practitioner: object
    reviewer: object

    def person(self, source_id: str) -> Person:
        return LinkageRecord.objects.get(record=self.records[source_id]).person

    def person_id(self, source_id: str) -> int:
        return LinkageRecord.objects.get(record=self.records[source_id]).person_id

    def pk(self, source_id: str) -> int:
        return self.records[source_id].pk


@pytest.fixture
def family(agency, other_agency, member) -> Family:
    police = dataset_of(agency, DEFINITION)
    upload(
        police,
        csv_bytes(
            [
                row("K1", forename="Kyle", surname="Turner", dob="10/10/2012"),
                row(
                    "K2",
                    forename="Kyle",
                    surname="Turner",
                    dob="10/10/2012",
                    incident_date="2025-06-01",
                ),
                row("M1", forename="Mia", surname="Turner", dob="05/05/2010"),
                row("M2", forename="Mya", surname="Turnbull", dob="15/05/2011"),
                row("D1", forename="Dean", surname="Turner", dob="01/03/1985"),
            ],
            header=COLUMNS,
        ),
    )
    # Another agency's record of Mia, which no protocol shares with the practitioner.
    elsewhere = dataset_of(other_agency, DEFINITION)
    upload(
        elsewhere,
        csv_bytes([row("O1", forename="Mia", surname="Turner", dob="05/05/2010")], header=COLUMNS),
    )
    linkage_run(full=True)
    practitioner = member(Role.PRACTITIONER, full_name="Priya Shah")
    version = protocol_in_force(author=practitioner, parties=[agency], rules=[{"dataset": police}])
    give(version, practitioner)
    reviewer = member(Role.IG_OFFICER, full_name="Rita Reviewer")
    reviewer_grant(user=reviewer)
    records = {r.source_id: r for r in SourceRecord.objects.filter(dataset__in=[police, elsewhere])}
    world = Family(records=records, practitioner=practitioner, reviewer=reviewer)
    # What the tests below stand on: linkage joined Kyle's records, and Mia's across agencies,
    # kept Mya apart, and put them all in one household.
    assert world.person_id("K1") == world.person_id("K2")
    assert world.person_id("M1") == world.person_id("O1") != world.person_id("M2")
    assert len({world.person(s).household_id for s in records}) == 1
    ReviewItem.objects.all().delete()
    return world


def report_wrong(world: Family, source_id: str, *, user=None, reason=REASON) -> LinkChallenge:
    user = user or world.practitioner
    return link_report(
        user=user,
        membership=user.memberships.get(),
        person=world.person(source_id),
        purpose=SAFEGUARDING,
        reason=reason,
        channel="web",
        record_id=world.pk(source_id),
    )


def report_missed(world: Family, mine: str, theirs: str, *, reason=REASON) -> LinkChallenge:
    user = world.practitioner
    return link_report(
        user=user,
        membership=user.memberships.get(),
        person=world.person(mine),
        purpose=SAFEGUARDING,
        reason=reason,
        channel="web",
        other=world.person(theirs),
    )


def pair_of(item: ReviewItem) -> set[int]:
    return {item.record_a_id, item.record_b_id}


def assert_no_plaintext(text: str) -> None:
    leaked = [value for value in PLAINTEXT if value.lower() in text.lower()]
    assert leaked == [], f"{leaked} in {text!r}"


# --- Reporting ------------------------------------------------------------------------------------


def test_a_wrong_link_goes_to_the_top_of_the_queue_for_the_pair_linkage_joined(family):
    # A pair linkage queued itself, more certain than anything a report brings.
    queued = pair_item(family.records["M1"], family.records["D1"], score=9.0, probability=0.99)
    challenge = report_wrong(family, "K2")

    item = challenge.item
    # The record and the record linkage joined it to the person through.
    assert pair_of(item) == {family.pk("K1"), family.pk("K2")}
    assert (item.status, item.reason) == (ReviewItem.Status.OPEN, ReviewItem.Reason.REPORTED)
    assert item.reported_at is not None
    assert item.comparison and item.why  # what the reviewer compares, as for linkage's own
    assert list(review_queue()) == [item, queued]
    assert (challenge.kind, challenge.status) == (LinkChallenge.Kind.WRONG, "open")
    assert (challenge.record_id, challenge.person) == (family.pk("K2"), family.person("K2"))
    assert challenge.reason == REASON

    entry = AuditEntry.objects.filter(action=AuditAction.LINK_REPORT).get()
    assert (entry.actor, entry.outcome, entry.purpose) == (family.practitioner, "ok", SAFEGUARDING)
    assert entry.person_reference == family.person("K2").reference
    assert entry.detail["link_report"] == challenge.pk
    assert entry.detail["review_item"] == item.pk
    assert entry.detail["record"] == family.pk("K2")
    assert_no_plaintext(str(entry.detail))


def test_a_missed_link_asks_about_the_two_peoples_most_alike_records(family):
    challenge = report_missed(family, "M1", "M2")

    # Mia's own record, not the other agency's identical copy: ties go to the lowest ids.
    assert pair_of(challenge.item) == {family.pk("M1"), family.pk("M2")}
    assert challenge.other_person == family.person("M2")
    assert challenge.record is None
    assert challenge.item.reason == ReviewItem.Reason.REPORTED
    entry = AuditEntry.objects.filter(action=AuditAction.LINK_REPORT).get()
    assert entry.detail["other_person"] == family.person("M2").reference


def test_rejecting_a_reported_wrong_link_splits_it_now_and_on_every_later_run(
    family, django_capture_on_commit_callbacks
):
    kyle = family.person("K1")
    challenge = report_wrong(family, "K2")
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(item=challenge.item, user=family.reviewer, decision="rejected", channel="web")
    # The decision's own run split them: K1 keeps Kyle's reference (his oldest record).
    assert family.person_id("K1") != family.person_id("K2")
    assert family.person("K1") == kyle
    # A later run of everything keeps to the decision.
    linkage_run(full=True)
    assert family.person_id("K1") != family.person_id("K2")
    assert family.person("K1") == kyle

    challenge.refresh_from_db()
    assert (challenge.status, challenge.outcome) == ("decided", "rejected")
    assert challenge.decided_at is not None
    challenge.item.refresh_from_db()
    assert challenge.item.reported_at is None
    assert challenge.item not in review_queue()

    # The reporter is told, by the person's reference and no identifier.
    notice = Notification.objects.get(recipient=family.practitioner)
    assert notice.kind == NotificationKind.LINK_REPORT_DECIDED
    assert kyle.reference in notice.message
    assert "agreed with your report" in notice.message
    assert notice.link == reverse("matching:challenge_detail", args=[challenge.pk])
    assert_no_plaintext(notice.message)
    assert "Rita" not in notice.message  # nor who decided


def test_confirming_a_reported_missed_link_joins_the_two_people(
    family, django_capture_on_commit_callbacks
):
    challenge = report_missed(family, "M1", "M2")
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(
            item=challenge.item, user=family.reviewer, decision="confirmed", channel="web"
        )
    assert family.person_id("M1") == family.person_id("M2") == family.person_id("O1")
    linkage_run(full=True)
    assert family.person_id("M1") == family.person_id("M2") == family.person_id("O1")
    # Kyle and Dean are untouched.
    assert family.person_id("K1") == family.person_id("K2") != family.person_id("M1")
    assert family.person_id("D1") not in {family.person_id("K1"), family.person_id("M1")}

    notice = Notification.objects.get(recipient=family.practitioner)
    assert "they are the same person as person" in notice.message
    assert_no_plaintext(notice.message)


def test_a_reported_pair_is_not_withdrawn_by_linkage_which_is_sure_of_it(family):
    challenge = report_wrong(family, "K2")
    linkage_run(full=True)
    challenge.item.refresh_from_db()
    # Linkage withdraws an open pair it has put in one person; not one a practitioner disputes.
    assert challenge.item.status == ReviewItem.Status.OPEN
    assert challenge.item in review_queue()
    assert family.person_id("K1") == family.person_id("K2")  # nothing changes before a decision


def test_a_withdrawn_pair_is_opened_again_and_an_open_one_marked(family):
    withdrawn = pair_item(
        family.records["K1"],
        family.records["K2"],
        status=ReviewItem.Status.WITHDRAWN,
        reason=ReviewItem.Reason.GUARD,
    )
    challenge = report_wrong(family, "K2")
    assert challenge.item == withdrawn
    withdrawn.refresh_from_db()
    assert (withdrawn.status, withdrawn.reason) == ("open", "reported")
    assert ReviewItem.objects.count() == 1  # one item per pair, reused

    already_open = pair_item(family.records["M1"], family.records["M2"], score=3.0)
    assert report_missed(family, "M1", "M2").item == already_open
    already_open.refresh_from_db()
    assert already_open.reported_at is not None and already_open.status == "open"


def test_a_decided_pair_keeps_its_decision_until_a_reviewer_upholds_or_changes_it(
    family, member, django_capture_on_commit_callbacks
):
    decided = pair_item(family.records["K1"], family.records["K2"])
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(item=decided, user=family.reviewer, decision="confirmed", channel="web")
    other_reviewer = member(Role.PRACTITIONER)
    reviewer_grant(user=other_reviewer)
    assert not review_item_readable(other_reviewer, other_reviewer.memberships.get(), decided)

    challenge = report_wrong(family, "K2")
    decided.refresh_from_db()
    assert challenge.item == decided
    # Still confirmed, and linkage still keeps to it, until a reviewer answers the report.
    assert decided.status == ReviewItem.Status.CONFIRMED
    linkage_run(full=True)
    assert family.person_id("K1") == family.person_id("K2")
    # The report put it back in the queue, at the top, for any reviewer to settle.
    assert list(review_queue()) == [decided]
    assert review_item_readable(other_reviewer, other_reviewer.memberships.get(), decided)

    # The same answer again upholds it, where otherwise it is refused as unchanged.
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(item=decided, user=other_reviewer, decision="confirmed", channel="web")
    assert ReviewDecision.objects.filter(item=decided).count() == 2
    challenge.refresh_from_db()
    assert (challenge.status, challenge.outcome) == ("decided", "confirmed")
    assert family.person_id("K1") == family.person_id("K2")
    notice = Notification.objects.get(recipient=family.practitioner)
    assert "It stays linked to them" in notice.message
    with pytest.raises(Exception, match="already decided"):
        review_decide(item=decided, user=other_reviewer, decision="confirmed", channel="web")
    decided.refresh_from_db()
    assert decided not in review_queue()
    # Settled, the pair is again its deciders' and IG officers' only.
    third = member(Role.PRACTITIONER)
    reviewer_grant(user=third)
    assert not review_item_readable(third, third.memberships.get(), decided)


# --- Flooding and free text -----------------------------------------------------------------------


def test_one_open_report_per_practitioner_per_record_and_pair(
    family, member, django_capture_on_commit_callbacks
):
    first = report_wrong(family, "K2")
    with pytest.raises(ChallengeError, match="already reported this record") as refused:
        report_wrong(family, "K2", reason="Another reason, written out at length to pass.")
    assert refused.value.field is None
    # The pair from the other side is the same pair: refused too.
    with pytest.raises(ChallengeError, match="already reported"):
        report_wrong(family, "K1")
    report_missed(family, "M1", "M2")
    with pytest.raises(ChallengeError, match="already reported these two people"):
        report_missed(family, "M2", "M1")
    assert LinkChallenge.objects.count() == 2

    # A colleague may report the same record: one item, two reports, both told.
    colleague = member(Role.PRACTITIONER)
    version = protocol_in_force(
        author=colleague,
        parties=[family.records["K1"].dataset.agency],
        rules=[{"dataset": family.records["K1"].dataset}],
    )
    give(version, colleague)
    second = report_wrong(family, "K2", user=colleague)
    assert second.item == first.item
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(item=first.item, user=family.reviewer, decision="confirmed", channel="web")
    assert Notification.objects.filter(kind=NotificationKind.LINK_REPORT_DECIDED).count() == 2
    # Once decided, a report may be made again: the pair heads the queue once more.
    again = report_wrong(family, "K2", reason="New information from the school this week.")
    assert again.item == first.item and again.status == "open"
    assert first.item in review_queue()


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Enter why the record is not this person's"),
        ("   ", "Enter why the record is not this person's"),
        ("Not him.", f"Your reason must be {MIN_REASON} characters or more"),
        ("x" * 2001, "Your reason must be 2,000 characters or fewer"),
        (
            "Our file has NHS number 943 476 5919 for the real one.",
            "Take an NHS number out of the reason",
        ),
        ("The Turner on our file is a different child entirely.", "the person's surname"),
        ("Our child was born on 10/10/2012, this one was not.", "the person's date of birth"),
    ],
)
def test_a_reason_missing_short_long_or_holding_an_identifier_is_refused(family, reason, message):
    with pytest.raises(ChallengeError, match=message) as refused:
        report_wrong(family, "K2", reason=reason)
    assert refused.value.field == "reason"
    assert_no_plaintext(refused.value.message)
    assert not LinkChallenge.objects.exists()
    assert not ReviewItem.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.LINK_REPORT).exists()


# --- What the engine does not show ----------------------------------------------------------------


def _target(family, user, source_id, *, record=None, other=None):
    return report_target(
        user=user,
        membership=user.memberships.get(),
        person=family.person(source_id),
        purpose=SAFEGUARDING,
        channel="web",
        record_id=record,
        other=other,
    )


def test_only_what_the_engine_shows_the_reporter_can_be_reported(family, member, agency):
    practitioner = family.practitioner
    # Mia's record held by the other agency: on her person, not on her summary for this reader.
    with pytest.raises(ChallengeNotFound):
        _target(family, practitioner, "M1", record=family.pk("O1"))
    # A record of someone else, asked for under Mia's reference.
    with pytest.raises(ChallengeNotFound):
        _target(family, practitioner, "M1", record=family.pk("K1"))
    # Dean's one record is all the reader knows of him: no link they could see to report.
    with pytest.raises(ChallengeNotFound):
        _target(family, practitioner, "D1", record=family.pk("D1"))
    # Oneself is not a household member; nor is someone outside the household.
    with pytest.raises(ChallengeNotFound):
        _target(family, practitioner, "M1", other=family.person("M1"))
    stranger = Person.objects.create()
    with pytest.raises(ChallengeNotFound):
        _target(family, practitioner, "M1", other=stranger)
    # A practitioner with no protocol sees none of them; other roles report nothing.
    outsider = member(Role.PRACTITIONER)
    with pytest.raises(ChallengeNotFound):
        _target(family, outsider, "K2", record=family.pk("K2"))
    with pytest.raises(ChallengeNotFound):
        link_report(
            user=outsider,
            membership=outsider.memberships.get(),
            person=family.person("K2"),
            purpose=SAFEGUARDING,
            reason=REASON,
            channel="web",
            record_id=family.pk("K2"),
        )
    with pytest.raises(ChallengeNotFound):
        _target(family, family.reviewer, "K2", record=family.pk("K2"))
    # Nor under a purpose their protocol does not serve.
    with pytest.raises(ChallengeNotFound):
        report_target(
            user=practitioner,
            membership=practitioner.memberships.get(),
            person=family.person("K2"),
            purpose=Purpose.SERVICE_DELIVERY,
            channel="web",
            record_id=family.pk("K2"),
        )
    assert not LinkChallenge.objects.exists()
    # Each refusal by the engine is on record, as a refused summary is.
    denied = AuditEntry.objects.filter(action=AuditAction.LINK_REPORT, outcome="not_found")
    assert denied.count() == 8
    assert_no_plaintext(" ".join(str(e.detail) for e in denied))

    # What it does show can be reported; the summary can ask before offering the link.
    assert _target(family, practitioner, "K2", record=family.pk("K2")).record is not None
    views = disclose(
        user=practitioner,
        membership=practitioner.memberships.get(),
        persons=[family.person("K2"), family.person("D1")],
        purpose=SAFEGUARDING,
        now=timezone.now(),
    )
    assert records_reportable(views[family.person_id("K2")])
    assert not records_reportable(views[family.person_id("D1")])
    assert _target(family, practitioner, "M1", other=family.person("M2")).other is not None


# --- Warnings -------------------------------------------------------------------------------------


def test_the_warnings_cover_what_the_reader_is_shown_and_say_nothing_of_the_reporter(
    family, member, django_assert_num_queries
):
    report_wrong(family, "K2")
    report_missed(family, "M1", "M2")
    kyle, mia, mya = family.person("K2"), family.person("M1"), family.person("M2")
    everyone = [kyle.pk, mia.pk, mya.pk, family.person_id("D1")]
    shown = [family.pk(s) for s in ("K1", "K2", "M1", "M2", "D1")]
    colleague = member(Role.PRACTITIONER)

    with django_assert_num_queries(1):
        warnings = open_challenges_for(person_ids=everyone, record_ids=shown, user=colleague)
    assert set(warnings.records) == {family.pk("K2")}
    assert set(warnings.persons) == {mia.pk, mya.pk}
    record_notice = warnings.for_record(family.pk("K2"))
    assert record_notice.kind == "wrong" and not record_notice.yours
    assert "as possibly not about this person" in record_notice.text
    assert warnings.for_person(mia.pk).other_reference == mya.reference
    assert warnings.for_person(mya.pk).other_reference == mia.reference
    for notice in [*warnings.records.values(), *warnings.persons.values()]:
        for told in ("Priya", "Shah", "Test Children's Services", "CSC", "practitioner"):
            assert told not in notice.text

    # The reporter's own: said to be theirs.
    mine = open_challenges_for(person_ids=everyone, record_ids=shown, user=family.practitioner)
    assert mine.for_record(family.pk("K2")).yours
    assert mine.for_record(family.pk("K2")).text.startswith("You reported on ")

    # Only what the caller says the reader is shown: not K2 unless passed, and a missed link
    # only when both people are on the page (one alone would tell of the other).
    assert not open_challenges_for(person_ids=[kyle.pk], record_ids=[family.pk("K1")])
    only_mia = open_challenges_for(person_ids=[mia.pk], record_ids=[])
    assert not only_mia
    assert not open_challenges_for()


def test_a_decided_report_warns_no_more(family, django_capture_on_commit_callbacks):
    challenge = report_wrong(family, "K2")
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(
            item=challenge.item, user=family.reviewer, decision="confirmed", channel="web"
        )
    assert not open_challenges_for(record_ids=[family.pk("K2")], person_ids=[])


def test_the_include_and_the_tag_render_the_warning_and_the_link(family):
    report_wrong(family, "K2")
    kyle = family.person("K2")
    warnings = open_challenges_for(person_ids=[kyle.pk], record_ids=[family.pk("K2")])
    page = Template(
        "{% load link_challenges %}"
        "{% challenge_warning challenges record=record_id %}"
        "{% challenge_warning challenges record=other_id %}"
        "{% challenge_warning challenges person=person_id %}"
        '{% include "matching/_challenge_link.html" with reference=reference '
        'record_id=record_id purpose="safeguarding" label="Police incidents" %}'
        '{% include "matching/_challenge_link.html" with reference=reference member="ABC" only %}'
    ).render(
        Context(
            {
                "challenges": warnings,
                "record_id": family.pk("K2"),
                "other_id": family.pk("K1"),
                "person_id": kyle.pk,
                "reference": kyle.reference,
            }
        )
    )
    assert page.count('data-testid="challenge-warning"') == 1
    assert 'class="govuk-warning-text"' in page and "possibly not about this person" in page
    wrong_url = reverse("matching:challenge_wrong", args=[kyle.reference, family.pk("K2")])
    assert f'href="{wrong_url}?purpose=safeguarding"' in page
    assert "Report that this record is not about this person" in page
    assert '<span class="govuk-visually-hidden">: Police incidents</span>' in page
    missed_url = reverse("matching:challenge_missed", args=[kyle.reference, "ABC"])
    assert f'href="{missed_url}?purpose=safeguarding"' in page
    # Nothing to warn of: nothing rendered.
    empty = Template(
        "{% load link_challenges %}{% challenge_warning challenges record=1 %}"
        "{% challenge_warning None person=1 %}"
    ).render(Context({"challenges": open_challenges_for()}))
    assert empty.strip() == ""


# --- Pages ----------------------------------------------------------------------------------------


def wrong_url(family, source_id: str, person_of: str | None = None) -> str:
    reference = family.person(person_of or source_id).reference
    return (
        reverse("matching:challenge_wrong", args=[reference, family.pk(source_id)])
        + "?purpose=safeguarding"
    )


def test_the_report_page_takes_a_report_and_says_what_to_fix(client, family):
    client.force_login(family.practitioner)
    url = wrong_url(family, "K2")
    page = client.get(url)
    assert page.status_code == 200
    assert page["Cache-Control"].count("no-store") == 1
    body = page.content.decode()
    assert "Report a record that is not this person" in body
    assert "Why is this record not about this person?" in body
    # True of everyone it speaks of: the reporter's own IG officers audit their reports.
    assert "The link reviewer is not told who reported it or from which agency" in body
    assert "Nobody is told" not in body

    refused = client.post(url, {"reason": "Not him."})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "govuk-error-summary" in body
    assert 'href="#id_reason"' in body
    assert f"Your reason must be {MIN_REASON} characters or more" in body
    assert " - Error - ShareHub</title>" in body
    empty = client.post(url, {"reason": ""})
    assert "Enter why the record is not this person&#x27;s" in empty.content.decode()
    surname = client.post(url, {"reason": "The Turner on our file is a different child."})
    assert "Take the person&#x27;s surname out of the reason" in surname.content.decode()
    assert not LinkChallenge.objects.exists()

    sent = client.post(url, {"reason": REASON})
    summary = reverse("protocols:summary", args=[family.person("K2").reference])
    assert sent.status_code == 302
    assert sent["Location"] == f"{summary}?purpose=safeguarding"
    assert LinkChallenge.objects.get().reason == REASON
    assert_no_plaintext(sent["Location"])

    # Back on the page: it says the report is waiting, and offers no second one.
    again = client.get(url).content.decode()
    assert 'data-testid="already-reported"' in again
    assert 'data-testid="report-form"' not in again
    assert client.post(url, {"reason": REASON}).status_code == 400
    assert LinkChallenge.objects.count() == 1


# --- What a reason is screened against (tester's finding H2, issue 21) --------------------------


@pytest.fixture
def names_withheld(family, member, agency, other_agency):
    """A practitioner shown the police records without names or dates of birth, so Kyle, Dean and
    Mya read "Name not shared", and the other agency's record of Mia in full: her surname, Turner,
    is the family's, and her date of birth is shown."""
    practitioner = member(Role.PRACTITIONER, full_name="Nia Nonames")
    version = protocol_in_force(
        author=practitioner,
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": family.records["K1"].dataset,
                "tier": Tier.SUMMARY,
                "fields": ["field:incident_date", "field:risk_grade"],
            },
            {"dataset": family.records["O1"].dataset},
        ],
    )
    give(version, practitioner)
    return practitioner


def _reason_answer(client, url: str, reason: str) -> tuple[int, tuple[str, ...]]:
    """What the report page answers `reason` with: its status and error messages. A report it
    takes is removed again, so the next reason meets the same page."""
    response = client.post(url, {"reason": reason})
    errors: tuple[str, ...] = ()
    if response.status_code == 400:
        errors = tuple(response.context["form"].errors.get("reason", []))
    LinkChallenge.objects.all().delete()
    ReviewItem.objects.all().delete()
    return response.status_code, errors


def _missed_url(family, mine: str, theirs: str) -> str:
    return (
        reverse(
            "matching:challenge_missed",
            args=[family.person(mine).reference, family.person(theirs).reference],
        )
        + "?purpose=safeguarding"
    )


WITHHELD_GUESSES = {
    # Kyle's surname and date of birth, and Dean's, none shown to this reader, against made-up ones.
    "real surname": "The Turner boy on our file goes to a different school.",
    "real date of birth": "Our child was born on 10/10/2012, a different school.",
    "Dean's date of birth": "Ours was born on 01/03/1985 and lives in another city.",
    "made-up surname": "The Pemberton boy on our file goes to a different school.",
    "made-up date of birth": "Our child was born on 11/10/2012, a different school.",
}


def test_a_reason_is_not_screened_against_what_the_reporter_is_not_shown(
    client, family, names_withheld
):
    """The report pages of people shown as "Name not shared" give their real surname and date of
    birth the answer a made-up one gets, even where a household member shown to the reporter
    has the same surname: a refusal would confirm the guess."""
    client.force_login(names_withheld)
    kyle = client.get(reverse("protocols:summary", args=[family.person("K1").reference]))
    assert kyle.context["view"].name == ""
    for url in (
        wrong_url(family, "K2"),  # a record of Kyle's
        _missed_url(family, "K1", "D1"),  # Kyle and Dean
    ):
        answers = {what: _reason_answer(client, url, r) for what, r in WITHHELD_GUESSES.items()}
        # The real ones get the made-up ones' answer: a surname passes, and any date written
        # as a birth date is refused by its words alone, whoever's it is.
        assert answers["real surname"] == answers["made-up surname"] == (302, ()), (url, answers)
        births = {answers[w] for w in ("real date of birth", "Dean's date of birth")}
        assert births == {answers["made-up date of birth"]}, (url, answers)
        status, errors = answers["made-up date of birth"]
        assert status == 400 and errors[0].startswith("Take a date of birth out of the reason")
        # What no one's data is needed for is refused whoever it belongs to.
        status, errors = _reason_answer(client, url, "Ours is NHS 943 476 5919, lives LS6 4QT.")
        assert status == 400
        assert errors[0].startswith("Take an NHS number and a postcode out of the reason")


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("The Turner girl on our file goes to a different school.", "surname"),
        ("Our child was born on 05/05/2010, a different school.", "date of birth"),
    ],
)
def test_a_reason_holding_what_the_reporter_is_shown_is_refused(
    client, family, names_withheld, reason, kind
):
    """Mia's surname and date of birth are shown to the reporter (the other agency's record):
    refused on a report of a record of hers, and on a report of her and Mya."""
    client.force_login(names_withheld)
    for url in (wrong_url(family, "M1"), _missed_url(family, "M2", "M1")):
        status, errors = _reason_answer(client, url, reason)
        assert status == 400, url
        assert errors == (
            f"Take the person's {kind} out of the reason: ShareHub keeps no names or "
            "identifiers in free text. Refer to the person by their ShareHub reference.",
        )


def test_the_report_pages_answer_404_for_what_the_reader_may_not_see(client, family, member):
    client.force_login(family.practitioner)
    mia = family.person("M1")
    missed = reverse(
        "matching:challenge_missed", args=[mia.reference, family.person("M2").reference]
    )
    assert client.get(missed).status_code == 200
    for url in (
        wrong_url(family, "O1"),  # another agency's record, not shared
        wrong_url(family, "K1", person_of="M1"),  # a record of another person
        wrong_url(family, "D1"),  # the only record the reader knows of
        reverse("matching:challenge_wrong", args=["NOSUCHREF2", family.pk("K1")]),
        reverse("matching:challenge_missed", args=[mia.reference, "NOSUCHREF2"]),
        reverse("matching:challenge_missed", args=[mia.reference, mia.reference]),
        wrong_url(family, "K2") + "&purpose=nonsense",
    ):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"reason": REASON}).status_code == 404, url
    assert not LinkChallenge.objects.exists()

    client.force_login(member(Role.PRACTITIONER))  # no protocol
    assert client.get(wrong_url(family, "K2")).status_code == 404
    client.force_login(family.reviewer)  # an IG officer: not a reporting role
    assert client.get(wrong_url(family, "K2")).status_code == 403


def test_the_report_form_needs_its_csrf_token(family):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(family.practitioner)
    assert browser.post(wrong_url(family, "K2"), {"reason": REASON}).status_code == 403
    assert not LinkChallenge.objects.exists()


def test_reports_are_rate_limited(client, family, settings):
    settings.SHAREHUB_RATE_LIMITS = {**settings.SHAREHUB_RATE_LIMITS, "link_report": (2, 3600)}
    client.force_login(family.practitioner)
    url = wrong_url(family, "K2")
    assert client.post(url, {"reason": "short"}).status_code == 400
    assert client.post(url, {"reason": "short"}).status_code == 400
    assert client.post(url, {"reason": REASON}).status_code == 429
    assert client.get(url).status_code == 200  # reading the page is not limited


def test_the_reporter_alone_sees_their_report_and_its_outcome(
    client, family, member, django_capture_on_commit_callbacks
):
    challenge = report_wrong(family, "K2")
    url = reverse("matching:challenge_detail", args=[challenge.pk])
    client.force_login(family.practitioner)
    body = client.get(url).content.decode()
    assert "Waiting for a link reviewer" in body and REASON in body
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(item=challenge.item, user=family.reviewer, decision="rejected", channel="web")
    body = client.get(url).content.decode()
    assert 'data-testid="report-outcome"' in body and "agreed with your report" in body
    assert "Rita" not in body
    client.force_login(member(Role.PRACTITIONER))
    assert client.get(url).status_code == 404


def test_the_queue_and_the_item_show_the_report_but_never_the_reporter(client, family):
    pair_item(family.records["M1"], family.records["D1"], score=9.0, probability=0.99)
    challenge = report_wrong(family, "K2")
    client.force_login(family.reviewer)
    queue = client.get(reverse("matching:review_queue")).content.decode()
    assert queue.index(f"Review pair {challenge.item.pk}<") < queue.index("Review pair ", 0) + 200
    first_row = queue[queue.index("<tbody") : queue.index("</tr>", queue.index("<tbody"))]
    assert f"Review pair {challenge.item.pk}<" in first_row
    assert "Reported" in first_row
    item_page = client.get(reverse("matching:review_item", args=[challenge.item.pk]))
    body = item_page.content.decode()
    assert 'data-testid="reports"' in body
    assert REASON in body
    assert "The records are not the same person" in body
    assert "Is the second record about the person it is linked to?" in body
    assert "You are not told who reported it or from which agency" in body
    assert "not shown to you or to anyone else" not in body
    # The day of the report only, never the time of day.
    reported = challenge.reported_at
    assert f"{reported.day} {reported:%b %Y}" in body
    assert (
        timezone.localtime(reported).strftime("%H:%M")
        not in body.split('data-testid="reports"')[1].split("</table>")[0]
    )
    for reporter in ("Priya", "Shah", family.practitioner.email):
        assert reporter not in body
    listed = client.get(reverse("matching_api:review_item_list")).json()
    assert listed["results"][0]["id"] == challenge.item.pk
    # The day of the report, not its time: a time would match it to the audit entry naming the
    # reporter, which the reporter's IG officers may read.
    today = timezone.localdate().isoformat()
    assert listed["results"][0]["reported_on"] == today
    assert "reported_at" not in listed["results"][0]
    detail = client.get(reverse("matching_api:review_item_detail", args=[challenge.item.pk]))
    reports = detail.json()["reports"]
    assert [(r["kind"], r["reason"], r["status"]) for r in reports] == [("wrong", REASON, "open")]
    assert reports[0]["reported_on"] == today and "reported_at" not in reports[0]
    assert detail.json()["reported_on"] == today
    # The question is about the reported record (K2) against the person it is linked to.
    assert [r["reported"] for r in detail.json()["records"]] == [False, True]
    assert "Priya" not in detail.content.decode()


# --- A reported record against the person it sits in (issue 21, H1) -------------------------------

PNC = "1981/0154257C"
NHS = "9434765919"
POLICE_WITH_PNC = {
    **DEFINITION,
    "columns": [*DEFINITION["columns"], {"column": "pnc", "identifier": "pnc_id"}],
}
HEALTH_DEFINITION = {**DEFINITION, "name": "Health - attendances"}


@dataclass
class Phoebe:
    """Three police records of one person sharing a PNC id (P1-P3) and two health records sharing
    an NHS number (H1, H2), all linked into one person."""

    world: Family

    def person_id(self, source_id: str) -> int:
        return self.world.person_id(source_id)

    def persons(self) -> dict[str, int]:
        return {s: self.person_id(s) for s in ("P1", "P2", "P3", "H1", "H2")}


@pytest.fixture
def phoebe(agency, other_agency, member) -> Phoebe:
    who = {"forename": "Phoebe", "surname": "Lane", "dob": "07/09/2014"}
    police = dataset_of(agency, POLICE_WITH_PNC)
    upload(
        police,
        csv_bytes(
            [
                row(f"P{n}", nhs_number="", pnc=PNC, incident_date=f"2025-0{n}-01", **who)
                for n in (1, 2, 3)
            ],
            header=[*COLUMNS, "pnc"],
        ),
    )
    health = dataset_of(other_agency, HEALTH_DEFINITION)
    upload(
        health,
        csv_bytes(
            [row(f"H{n}", nhs_number=NHS, incident_date=f"2025-0{n}-15", **who) for n in (1, 2)],
            header=COLUMNS,
        ),
    )
    linkage_run(full=True)
    practitioner = member(Role.PRACTITIONER, full_name="Priya Shah")
    version = protocol_in_force(author=practitioner, parties=[agency], rules=[{"dataset": police}])
    give(version, practitioner)
    reviewer = member(Role.IG_OFFICER, full_name="Rita Reviewer")
    reviewer_grant(user=reviewer)
    records = {r.source_id: r for r in SourceRecord.objects.filter(dataset__in=[police, health])}
    world = Family(records=records, practitioner=practitioner, reviewer=reviewer)
    assert len(set(Phoebe(world).persons().values())) == 1
    ReviewItem.objects.all().delete()
    return Phoebe(world)


def test_a_reported_record_is_asked_about_with_the_record_that_links_it_there(phoebe):
    challenge = report_wrong(phoebe.world, "P2")
    partner = LinkageRecord.objects.get(record_id=phoebe.world.pk("P2")).linked_with_id
    assert partner is not None
    assert pair_of(challenge.item) == {phoebe.world.pk("P2"), partner}


@pytest.mark.parametrize("reported", ["P2", "P1"])
def test_rejecting_a_reported_record_takes_it_alone_out_of_the_person(
    phoebe, django_capture_on_commit_callbacks, reported
):
    """P1 too: the person's first record, which an outside tester saw keep the person's
    reference while the rest moved to a new one nobody could find."""
    before = phoebe.person_id("P1")
    challenge = report_wrong(phoebe.world, reported)
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(
            item=challenge.item, user=phoebe.world.reviewer, decision="rejected", channel="web"
        )

    # The reported record left; the rest of the person (police and health) stayed together,
    # under the reference they had, though P2 shares a PNC id with P1 and P3.
    def check() -> None:
        persons = phoebe.persons()
        rest = {persons[s] for s in ("P1", "P2", "P3", "H1", "H2") if s != reported}
        assert rest == {before}
        assert persons[reported] != before

    check()
    linkage_run(full=True)
    check()
    linkage_run(full=True)
    check()
    # No open pair spans the person and the record's new one but the decided one.
    assert not ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).exists()

    notice = Notification.objects.get(recipient=phoebe.world.practitioner)
    reference = Person.objects.get(pk=before).reference
    assert reference in notice.message
    assert "It is taken out of this person's records" in notice.message
    assert "their other records stay together" in notice.message
    assert_no_plaintext(notice.message)


def test_confirming_a_reported_record_leaves_the_person_as_it_was(
    phoebe, django_capture_on_commit_callbacks
):
    before = phoebe.persons()
    challenge = report_wrong(phoebe.world, "P2")
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(
            item=challenge.item, user=phoebe.world.reviewer, decision="confirmed", channel="web"
        )
    assert phoebe.persons() == before
    linkage_run(full=True)
    assert phoebe.persons() == before
    notice = Notification.objects.get(recipient=phoebe.world.practitioner)
    assert "It stays linked to them" in notice.message


def test_a_change_of_mind_to_same_person_brings_the_record_back(
    phoebe, django_capture_on_commit_callbacks
):
    before = phoebe.person_id("P1")
    challenge = report_wrong(phoebe.world, "P2")
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(
            item=challenge.item, user=phoebe.world.reviewer, decision="rejected", channel="web"
        )
    assert phoebe.person_id("P2") != before
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(
            item=challenge.item, user=phoebe.world.reviewer, decision="confirmed", channel="web"
        )
    assert set(phoebe.persons().values()) == {before}
