"""Issue 20, finding 16 (second half): an owning agency's IG officers see who read their
agency's records, whichever agency the reader acts for, with unusual reading flagged and pushed
to them as notifications."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape

from agencies.models import Membership, Role
from audit.models import AuditAction
from audit.services import audit_record
from core.purpose import Purpose
from notifications.models import Notification, NotificationKind
from protocols.summary import case_summary
from tests.protocol_helpers import police_shared_with_a_practitioner


@pytest.fixture
def world(db, agency, other_agency, member):
    return police_shared_with_a_practitioner(agency, other_agency, member)


def _summary(linked, practitioner, person):
    return case_summary(
        user=practitioner, membership=Membership.objects.get(user=practitioner), person=person,
        purpose=Purpose.SAFEGUARDING, channel="web",
    )  # fmt: skip


def test_the_owning_agencys_ig_officer_sees_reads_of_its_records_by_other_agencies(
    world, client, member, other_agency, agency
):
    linked, practitioner, version = world
    _summary(linked, practitioner, linked.alice)  # social care reads Alice's police records
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency)
    client.force_login(police_ig)
    page = client.get("/audit/reads/")
    assert page.status_code == 200
    (read,) = page.context["reads"]
    assert read.entry.person_reference == linked.alice.reference
    assert read.entry.agency_id == agency.pk and read.entry.role == Role.PRACTITIONER
    assert read.fields  # the police field keys shown
    body = page.content.decode()
    assert linked.alice.reference in body and escape(agency.name) in body
    assert "Safeguarding practitioner" in body
    # Nothing the trail does not hold: no name, date of birth or NHS number of the person.
    for value in ("Alice", "Smith", "2015", "9434765919"):
        assert value not in body
    # The reading agency's IG officer sees nothing here: none of its records were read.
    client.force_login(member(Role.IG_OFFICER))
    assert list(client.get("/audit/reads/").context["reads"]) == []
    # Others may not open the page at all.
    client.force_login(practitioner)
    assert client.get("/audit/reads/").status_code in (403, 404)


def test_unusual_reads_are_flagged_and_pushed_to_the_owning_agencys_ig_officers(
    world, member, other_agency, agency
):
    from oversight.selectors import unusual_reads
    from oversight.tasks import unusual_reads_notify

    linked, practitioner, version = world
    membership = Membership.objects.get(user=practitioner)
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency)
    csc_ig = member(Role.IG_OFFICER)
    record = linked.records["A1"]
    assert unusual_reads(agency_id=other_agency.pk) == []
    start = timezone.now() - timedelta(minutes=10)
    for n in range(200):
        audit_record(
            action=AuditAction.SUMMARY, actor=practitioner, membership=membership,
            person=linked.alice, at=start + timedelta(seconds=3 * n), versions=[version.pk],
            detail={"fields": {str(record.pk): {"incident_type": [version.pk]}}},
        )  # fmt: skip
    kinds = {f.kind for f in unusual_reads(agency_id=other_agency.pk)}
    assert {"burst", "many", "no_reason"} <= kinds
    assert unusual_reads(agency_id=agency.pk) == []  # social care's records were not read
    unusual_reads_notify()
    unusual_reads_notify()  # beat may run it again: nothing is told twice
    sent = Notification.objects.filter(kind=NotificationKind.UNUSUAL_READ)
    assert {n.recipient_id for n in sent} == {police_ig.pk}
    assert sent.count() == len(kinds)
    assert not Notification.objects.filter(recipient=csc_ig).exists()
    for notification in sent:
        assert notification.link.startswith("/audit/reads/")
        assert "Alice" not in notification.message and "Smith" not in notification.message
