"""Issue 22, item 6: an agency's IG officer sees every read of its records by anyone, filters
them, gets unusual reading pushed as notifications (bursts, many, out of hours, nothing behind
it), and can ask the reader's agency to explain a flagged read; that agency's IG officers answer.
"""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencies.models import Membership, Role
from audit.models import AuditAction, AuditEntry, ReadFlag, ReadQuestion, RecordRead
from audit.services import audit_record
from consent.models import OverrideCategory
from consent.overrides import override_start
from core.purpose import Purpose
from notifications.models import Notification, NotificationKind
from oversight.flags import unusual_reads_tell
from oversight.questions import (
    NotFound,
    QuestionError,
    question_for,
    read_question_answer,
    read_question_ask,
)
from oversight.selectors import out_of_hours, unusual_reads
from protocols.models import ConsentRule
from protocols.summary import case_summary, case_unlock
from tests.factories import AgencyFactory
from tests.protocol_helpers import give, linked_people, protocol_in_force

JUSTIFICATION = (
    "Disclosure at school of injuries; the child says the adult at home would punish them "
    "if anyone was told, so asking the family for consent would put the child at risk."
)
QUESTION = "Please explain why your worker opened this child's police records at night."
ANSWER = "Our emergency duty team took a referral by phone from the hospital that night."


@pytest.fixture
def world(db, agency, other_agency, member):
    """Police records of Alice's family (`other_agency`) shared with a social care
    practitioner (`agency`), police consent lifted by an override."""
    linked = linked_people(other_agency, agency)
    practitioner = member(Role.PRACTITIONER, full_name="Sam Worker")
    version = protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police, "consent": ConsentRule.UNLESS_OVERRIDE}],
        name="MASH sharing",
    )
    give(version, practitioner)
    return linked, practitioner, version


def _membership(user):
    return Membership.objects.get(user=user)


def test_an_assessment_step_that_releases_police_detail_is_a_read_for_the_police(
    db, agency, other_agency, member
):
    linked = linked_people(other_agency, agency)
    staged = protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police}],
        staged=True,
    )
    worker = member(Role.PRACTITIONER)
    give(staged, worker)
    assert case_unlock(
        user=worker, membership=_membership(worker), person=linked.alice,
        step="initial_assessment", purpose=Purpose.SAFEGUARDING, channel="web",
    )  # fmt: skip
    (read,) = RecordRead.objects.filter(entry__action=AuditAction.UNLOCK)
    assert read.agency_id == other_agency.pk and read.datasets == [linked.police.pk]
    assert read.persons == [linked.alice.reference]


def test_a_safeguarding_override_is_a_read_for_the_agency_whose_datasets_it_opens(
    world, other_agency
):
    linked, practitioner, version = world
    override_start(
        user=practitioner, membership=_membership(practitioner), person=linked.alice,
        protocol_id=version.protocol_id, category=OverrideCategory.SEEKING_INCREASES_RISK,
        justification=JUSTIFICATION, hours=24,
    )  # fmt: skip
    (read,) = RecordRead.objects.filter(entry__action=AuditAction.OVERRIDE)
    assert read.agency_id == other_agency.pk and read.datasets == [linked.police.pk]


def test_the_reads_page_filters_and_names_reader_protocol_and_what_stood_behind(
    world, client, member, agency, other_agency
):
    linked, practitioner, version = world
    membership = _membership(practitioner)
    for person in (linked.alice, linked.bob):
        case_summary(
            user=practitioner, membership=membership, person=person,
            purpose=Purpose.SAFEGUARDING, channel="web",
        )  # fmt: skip
    override_start(
        user=practitioner, membership=membership, person=linked.alice,
        protocol_id=version.protocol_id, category=OverrideCategory.SEEKING_INCREASES_RISK,
        justification=JUSTIFICATION, hours=24,
    )  # fmt: skip
    client.force_login(member(Role.IG_OFFICER, in_agency=other_agency))
    page = client.get("/audit/reads/", {"kind": AuditAction.SUMMARY})
    reads = page.context["reads"]
    assert {r.entry.person_reference for r in reads} == {
        linked.alice.reference,
        linked.bob.reference,
    }
    alice = next(r for r in reads if r.entry.person_reference == linked.alice.reference)
    assert alice.reader_name == "Sam Worker" and alice.reader_agency == agency.name
    assert alice.protocol_names == ["MASH sharing (version 1)"]
    assert alice.reasons == ["a safeguarding override"]
    assert alice.dataset_names == [linked.police.name]
    body = page.content.decode()
    assert "Sam Worker" in body and "Nothing recorded" in body  # Bob: nothing behind it
    for value in ("Alice", "Smith", "2015", "9434765919"):
        assert value not in body

    def shown(**filters):
        return {r.pk for r in client.get("/audit/reads/", filters).context["reads"]}

    everything = shown()
    assert len(everything) == 3  # two summaries and the override
    # Bob's own summary, and Alice's, which showed him as a member of her household.
    assert shown(person=linked.bob.reference.lower()) == {r.pk for r in reads}
    assert shown(reader_agency=agency.pk) == everything
    assert shown(reader_agency=other_agency.pk) == set()
    assert shown(reader="sam wor") == everything and shown(reader="nobody") == set()
    assert len(shown(kind=AuditAction.OVERRIDE)) == 1
    today = timezone.localdate().strftime("%d/%m/%Y")
    assert shown(since=today, until=today) == everything
    # The page stored the flags it listed, so the filter finds them before beat tells them.
    flagged = shown(flagged_only="on")  # Bob's summary had nothing behind it
    assert {r.pk for r in reads if r.entry.person_reference == linked.bob.reference} <= flagged


def test_reads_are_paginated_and_the_pages_keep_the_filters(world, client, member, other_agency):
    linked, practitioner, version = world
    membership = _membership(practitioner)
    record = linked.records["A1"]
    for _ in range(55):
        audit_record(
            action=AuditAction.SUMMARY, actor=practitioner, membership=membership,
            person=linked.alice, versions=[version.pk],
            detail={"fields": {str(record.pk): {"incident_type": [version.pk]}}},
        )  # fmt: skip
    client.force_login(member(Role.IG_OFFICER, in_agency=other_agency))
    first = client.get("/audit/reads/", {"kind": AuditAction.SUMMARY})
    assert len(first.context["reads"]) == 50 and first.context["total"] == 55
    assert "kind=summary&amp;page=2" in first.content.decode()
    second = client.get("/audit/reads/", {"kind": AuditAction.SUMMARY, "page": 2})
    assert len(second.context["reads"]) == 5


def test_the_reads_page_takes_a_fixed_number_of_queries(
    world, client, member, other_agency, django_assert_max_num_queries
):
    linked, practitioner, version = world
    membership = _membership(practitioner)
    for person in (linked.alice, linked.bob, linked.carol):
        case_summary(
            user=practitioner, membership=membership, person=person,
            purpose=Purpose.SAFEGUARDING, channel="web",
        )  # fmt: skip
    client.force_login(member(Role.IG_OFFICER, in_agency=other_agency))
    client.get("/audit/reads/")  # warm the session
    # The same whatever the number of reads or flags; 35 since the page stores the flags it
    # lists (an insert and a read back) and names each flag's reader (their roles).
    with django_assert_max_num_queries(35):
        client.get("/audit/reads/")


def test_a_read_out_of_hours_is_flagged_once_with_the_readers_agency(world, agency, other_agency):
    linked, practitioner, version = world
    membership = _membership(practitioner)
    record = linked.records["A1"]
    now = timezone.now()
    night = timezone.localtime(now).replace(hour=2, minute=0, second=0, microsecond=0)
    if night > now:
        night -= timedelta(days=1)
    assert out_of_hours(night)
    audit_record(
        action=AuditAction.SUMMARY, actor=practitioner, membership=membership, person=linked.alice,
        versions=[version.pk], at=night,
        detail={"fields": {str(record.pk): {"incident_type": [version.pk]}}},
    )  # fmt: skip
    kinds = {f.kind for f in unusual_reads(agency_id=other_agency.pk, now=now)}
    assert "out_of_hours" in kinds
    police_ig = Membership.objects.filter(agency=other_agency)  # none yet: made below
    assert not police_ig.exists()
    unusual_reads_tell(now=now)
    unusual_reads_tell(now=now)  # told once
    flag = ReadFlag.objects.get(kind="out_of_hours")
    assert flag.reader_agency_id == agency.pk and flag.agency_id == other_agency.pk
    assert ReadFlag.objects.filter(kind="out_of_hours").count() == 1


def test_out_of_hours_is_weekends_and_before_eight_or_from_six():
    tz = timezone.get_current_timezone()
    monday = datetime(2026, 6, 1, tzinfo=tz)
    assert not out_of_hours(monday.replace(hour=8))
    assert not out_of_hours(monday.replace(hour=17, minute=59))
    assert out_of_hours(monday.replace(hour=7, minute=59))
    assert out_of_hours(monday.replace(hour=18))
    assert out_of_hours((monday - timedelta(days=1)).replace(hour=12))  # Sunday


@pytest.fixture
def flagged(world, member, agency, other_agency):
    """A summary of Alice by the social care worker with nothing behind it, flagged to the
    police's IG officer."""
    linked, practitioner, _ = world
    case_summary(
        user=practitioner, membership=_membership(practitioner), person=linked.alice,
        purpose=Purpose.SAFEGUARDING, channel="web",
    )  # fmt: skip
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency, full_name="Pat Police")
    csc_ig = member(Role.IG_OFFICER, full_name="Chris Care")
    unusual_reads_tell()
    flag = ReadFlag.objects.get(kind="no_reason", person_reference=linked.alice.reference)
    return flag, police_ig, csc_ig


def test_asking_and_answering_notifies_the_other_side_and_both_see_the_thread(
    flagged, client, agency, other_agency
):
    flag, police_ig, csc_ig = flagged
    thread = read_question_ask(
        user=police_ig, membership=_membership(police_ig), flag_id=flag.pk, question=QUESTION
    )
    asked = Notification.objects.filter(kind=NotificationKind.READ_QUESTION)
    # Every IG officer of social care (the protocol's author is one too), nobody else.
    assert {n.recipient_id for n in asked} == set(
        Membership.objects.filter(agency=agency, role=Role.IG_OFFICER).values_list(
            "user_id", flat=True
        )
    )
    assert csc_ig.pk in {n.recipient_id for n in asked}
    for notification in asked:
        assert notification.link == f"/audit/questions/{thread.pk}/"
        assert other_agency.name in notification.message and "Alice" not in notification.message
    read_question_answer(
        user=csc_ig, membership=_membership(csc_ig), question_id=thread.pk, answer=ANSWER
    )
    (answered,) = Notification.objects.filter(kind=NotificationKind.READ_ANSWERED)
    assert answered.recipient == police_ig
    for user in (police_ig, csc_ig):
        client.force_login(user)
        body = client.get(f"/audit/questions/{thread.pk}/").content.decode()
        assert "emergency duty team" in body and "at night" in body
    entries = AuditEntry.objects.filter(action=AuditAction.READ_QUESTION)
    assert [e.actor_id for e in entries] == [police_ig.pk, csc_ig.pk]
    for entry in entries:
        assert "night" not in str(entry.detail)  # the text stays on the thread
    with pytest.raises(QuestionError):  # answered once
        read_question_answer(
            user=csc_ig, membership=_membership(csc_ig), question_id=thread.pk, answer=ANSWER
        )


def test_a_question_must_be_long_enough_and_hold_no_identifier(flagged, client):
    flag, police_ig, _ = flagged
    client.force_login(police_ig)
    url = f"/audit/reads/flags/{flag.pk}/ask/"
    short = client.post(url, {"question": "Why?"})
    assert short.status_code == 200 and "at least 20 characters" in short.content.decode()
    nhs = client.post(url, {"question": "Why did they read NHS number 943 476 5919 at night?"})
    body = nhs.content.decode()
    assert "Take an NHS number out of the question" in body and "There is a problem" in body
    assert "943 476 5919" in body  # what was typed is kept in the box to fix, not lost
    assert not ReadQuestion.objects.exists()
    sent = client.post(url, {"question": QUESTION})
    assert sent.status_code == 302 and ReadQuestion.objects.count() == 1


def test_only_the_two_agencies_ig_officers_reach_a_thread(flagged, client, member, agency):
    flag, police_ig, csc_ig = flagged
    thread = read_question_ask(
        user=police_ig, membership=_membership(police_ig), flag_id=flag.pk, question=QUESTION
    )
    housing = AgencyFactory(code="HSG", name="Test Housing", kind="housing")
    housing_ig = member(Role.IG_OFFICER, in_agency=housing)
    practitioner = Membership.objects.get(agency=agency, role=Role.PRACTITIONER).user
    url = f"/audit/questions/{thread.pk}/"
    for outsider in (housing_ig, practitioner):
        client.force_login(outsider)
        assert client.get(url).status_code in (403, 404)
        assert client.post(url, {"answer": ANSWER}).status_code in (403, 404)
    # The agency that read cannot ask about the police's flag; the police cannot answer.
    client.force_login(csc_ig)
    assert client.get(f"/audit/reads/flags/{flag.pk}/ask/").status_code == 404
    client.force_login(police_ig)
    assert client.post(url, {"answer": ANSWER}).status_code == 404
    assert ReadQuestion.objects.get().answered_at is None


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(owner=st.integers(0, 2), reader=st.integers(0, 2), viewer=st.integers(0, 2))
def test_a_thread_is_reachable_by_exactly_its_two_agencies(db, member, owner, reader, viewer):
    agencies = [AgencyFactory() for _ in range(3)]
    asker = member(Role.IG_OFFICER, in_agency=agencies[owner])
    flag = ReadFlag.objects.create(
        agency_id=agencies[owner].pk, kind="no_reason", actor=asker, day=timezone.localdate(),
        detail="test", at=timezone.now(), reader_agency_id=agencies[reader].pk,
    )  # fmt: skip
    thread = read_question_ask(
        user=asker, membership=_membership(asker), flag_id=flag.pk, question=QUESTION
    )
    looker = member(Role.IG_OFFICER, in_agency=agencies[viewer])
    try:
        question_for(membership=_membership(looker), question_id=thread.pk)
        reached = True
    except NotFound:
        reached = False
    assert reached == (viewer in (owner, reader))
    try:
        read_question_answer(
            user=looker, membership=_membership(looker), question_id=thread.pk, answer=ANSWER
        )
        answered = True
    except NotFound:
        answered = False
    assert answered == (viewer == reader)


def test_the_reads_download_has_the_filtered_rows_and_is_audited(
    world, client, member, other_agency, settings
):
    import csv
    import io

    from oversight import read_rows

    linked, practitioner, version = world
    membership = _membership(practitioner)
    record = linked.records["A1"]
    for person in (linked.alice, linked.carol, linked.carol):
        audit_record(
            action=AuditAction.SUMMARY, actor=practitioner, membership=membership, person=person,
            versions=[version.pk],
            detail={"fields": {str(record.pk): {"incident_type": [version.pk]}}},
        )  # fmt: skip
    read_rows.CSV_BATCH, batch = 1, read_rows.CSV_BATCH  # batches of one: the paging is used
    try:
        police_ig = member(Role.IG_OFFICER, in_agency=other_agency)
        client.force_login(police_ig)
        response = client.get("/audit/reads/export.csv", {"reader": "sam"})
    finally:
        read_rows.CSV_BATCH = batch
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "entry" and len(rows) == 4
    assert {row[2] for row in rows[1:]} == {"Sam Worker"}
    assert len({row[0] for row in rows[1:]}) == 3  # each read once
    entry = AuditEntry.objects.filter(action=AuditAction.EXPORT, actor=police_ig).get()
    assert entry.detail["kind"] == "reads" and entry.detail["rows"] == 3


def test_the_reads_page_and_csv_name_fields_by_label_never_by_key(
    world, client, member, other_agency
):
    linked, practitioner, version = world
    record = linked.records["A1"]
    audit_record(
        action=AuditAction.SUMMARY, actor=practitioner, membership=_membership(practitioner),
        person=linked.alice, versions=[version.pk],
        detail={"fields": {str(record.pk): {
            "field:incident_date": [version.pk], "identity:surname": [version.pk],
        }}},
    )  # fmt: skip
    client.force_login(member(Role.IG_OFFICER, in_agency=other_agency))
    response = client.get("/audit/reads/", {"kind": AuditAction.SUMMARY})
    page = response.content.decode()
    table = page[page.index("<table") :]
    assert "field:" not in table and "identity:" not in table
    (row,) = response.context["reads"]
    assert sorted(row.field_labels) == ["Incident date", "Surname"]
    assert "Incident date" in table
    download = client.get("/audit/reads/export.csv", {"kind": AuditAction.SUMMARY})
    csv = download.getvalue().decode()
    assert "field:" not in csv and "identity:" not in csv and "Incident date" in csv
