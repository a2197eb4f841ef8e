"""Issue 22, items 3 and 4: approvers are told and reminded, the author is told how it ended and
why they cannot approve; suspension asks first, wants a real reason and tells every party."""

from datetime import date, timedelta
from itertools import product

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agencies.models import Membership, Role
from audit.models import AuditAction, AuditEntry
from core.purpose import Purpose
from notifications.models import Notification, NotificationKind
from protocols.approvals import (
    approval_link,
    approval_reminders_send,
    approval_standing,
    versions_awaiting,
)
from protocols.models import ApprovalNotice, Tier, VersionStatus
from protocols.services import (
    ProtocolError,
    ProtocolInput,
    RuleInput,
    protocol_approve,
    protocol_draft_create,
    protocol_resume,
    protocol_return,
    protocol_submit,
    protocol_suspend,
    protocol_withdraw,
)
from protocols.suspension import suspension_impact, suspension_of, suspension_reason_problem
from protocols.tasks import approval_reminders
from tests.factories import AgencyFactory
from tests.ingest_helpers import police_dataset
from tests.protocol_helpers import give

REASON = "Police data quality is under review after a complaint"
RESUMED = "The complaint is resolved and the data corrected"


@pytest.fixture
def world(agency, other_agency, member):
    police = police_dataset(other_agency)
    people = {
        "author": member(Role.IG_OFFICER, full_name="Ada Author"),
        "csc_ig": member(Role.IG_OFFICER, full_name="Ben Approver"),
        "pol_ig": member(Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police"),
        "pol_ig2": member(Role.IG_OFFICER, in_agency=other_agency, full_name="Dan Police"),
        "practitioner": member(Role.PRACTITIONER, full_name="Priya Shah"),
        "pol_worker": member(Role.PRACTITIONER, in_agency=other_agency, full_name="Pat Officer"),
    }
    m = {name: Membership.objects.get(user=user) for name, user in people.items()}
    data = ProtocolInput(
        name="MASH information sharing",
        purpose=Purpose.SAFEGUARDING,
        lawful_basis="UK GDPR Art 6(1)(e)",
        valid_from=date(2026, 1, 1),
        party_ids=(agency.pk, other_agency.pk),
        rules=(RuleInput(dataset_id=police.pk, tier=Tier.SUMMARY, fields=("field:risk_grade",)),),
    )
    version = protocol_draft_create(membership=m["author"], data=data)
    return version, people, m


def _told(user, kind) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user, kind=kind))


def _unread(user, kind) -> int:
    return Notification.objects.filter(recipient=user, kind=kind, read_at__isnull=True).count()


# --- Item 3: approval workflow ------------------------------------------------------------------


def test_submitting_tells_each_party_still_to_approve_but_never_the_author(
    world, agency, other_agency, django_capture_on_commit_callbacks, mailoutbox
):
    version, people, m = world
    with django_capture_on_commit_callbacks(execute=True):
        protocol_submit(membership=m["author"], version=version)
    kind = NotificationKind.APPROVAL_REQUESTED
    assert _told(people["author"], kind) == []
    for name, agency_ in (("csc_ig", agency), ("pol_ig", other_agency), ("pol_ig2", other_agency)):
        [notice] = _told(people[name], kind)
        assert notice.link == approval_link(version, agency_.pk)
        # The version's changes page, where the approver reads what they approve.
        changes_page = reverse(
            "protocols:version_detail", args=[version.protocol.reference, version.number]
        )
        assert notice.link == f"{changes_page}?agency={agency_.pk}"
        assert f"needs {agency_.name}'s approval" in notice.message
        assert "Ada Author" in notice.message
    assert _told(people["practitioner"], kind) == []
    # Emailed too, saying only that there is something to see.
    assert len(mailoutbox) == 3
    assert all("Protocol version to approve" in mail.subject for mail in mailoutbox)
    assert ApprovalNotice.objects.filter(version=version).count() == 2


def test_each_approval_settles_its_own_agencys_notices_and_the_last_tells_the_author(world):
    version, people, m = world
    protocol_submit(membership=m["author"], version=version)
    kind = NotificationKind.APPROVAL_REQUESTED

    protocol_approve(membership=m["csc_ig"], version=version)
    assert _unread(people["csc_ig"], kind) == 0
    assert _unread(people["pol_ig"], kind) == 1  # still their work
    assert _told(people["author"], NotificationKind.VERSION_DECIDED) == []

    protocol_approve(membership=m["pol_ig2"], version=version)
    version.refresh_from_db()
    assert version.status == VersionStatus.ACTIVE
    assert _unread(people["pol_ig"], kind) == 0  # a colleague approved for them
    [told] = _told(people["author"], NotificationKind.VERSION_DECIDED)
    assert "approved by every party" in told.message and "Dan Police" in told.message
    assert not ApprovalNotice.objects.filter(version=version).exists()


@pytest.mark.parametrize("how", ["return", "withdraw"])
def test_sending_back_or_withdrawing_settles_every_notice_and_tells_the_author(world, how):
    version, people, m = world
    protocol_submit(membership=m["author"], version=version)
    if how == "return":
        protocol_return(membership=m["pol_ig"], version=version, note="Add the DPIA reference")
    else:
        protocol_withdraw(membership=m["pol_ig"], version=version)
    for name in ("csc_ig", "pol_ig", "pol_ig2"):
        assert _unread(people[name], NotificationKind.APPROVAL_REQUESTED) == 0
    [told] = _told(people["author"], NotificationKind.VERSION_DECIDED)
    assert "Cath Police (Test Police)" in told.message
    assert ("sent back" in told.message) == (how == "return")
    assert "DPIA" not in told.message  # the note stays on the protocol page
    assert not ApprovalNotice.objects.filter(version=version).exists()


def test_the_author_withdrawing_their_own_version_is_not_told_about_it(world):
    version, people, m = world
    protocol_submit(membership=m["author"], version=version)
    protocol_withdraw(membership=m["author"], version=version)
    assert _told(people["author"], NotificationKind.VERSION_DECIDED) == []
    assert _unread(people["pol_ig"], NotificationKind.APPROVAL_REQUESTED) == 0


def test_reminders_come_after_the_set_days_once_per_interval_to_who_has_not_approved(
    world, settings
):
    settings.PROTOCOL_APPROVAL_REMINDER_DAYS = 5
    version, people, m = world
    version = protocol_submit(membership=m["author"], version=version)
    protocol_approve(membership=m["csc_ig"], version=version)
    submitted = version.submitted_at
    kind = NotificationKind.APPROVAL_REMINDER

    assert approval_reminders_send(now=submitted + timedelta(days=4, hours=23)) == 0
    day5 = submitted + timedelta(days=5, minutes=1)
    assert approval_reminders_send(now=day5) == 1
    assert approval_reminders_send(now=day5 + timedelta(hours=1)) == 0  # beat again: nothing
    for name in ("pol_ig", "pol_ig2"):
        [reminder] = _told(people[name], kind)
        assert "waited 5 days for Test Police's approval" in reminder.message
    assert _told(people["csc_ig"], kind) == []  # their agency approved
    assert _told(people["author"], kind) == []
    assert approval_reminders_send(now=day5 + timedelta(days=5)) == 1  # the next interval
    assert len(_told(people["pol_ig"], kind)) == 2

    protocol_approve(membership=m["pol_ig"], version=version)
    assert approval_reminders_send(now=day5 + timedelta(days=30)) == 0
    assert _unread(people["pol_ig2"], kind) == 0  # settled with the approval


def test_the_reminder_task_run_twice_reminds_once(world, settings):
    settings.PROTOCOL_APPROVAL_REMINDER_DAYS = 5
    version, people, m = world
    protocol_submit(membership=m["author"], version=version)
    ApprovalNotice.objects.update(told_at=timezone.now() - timedelta(days=6))
    approval_reminders.delay()
    approval_reminders.delay()
    assert len(_told(people["pol_ig"], NotificationKind.APPROVAL_REMINDER)) == 1
    assert len(_told(people["csc_ig"], NotificationKind.APPROVAL_REMINDER)) == 1


# Every combination of what protocol_approve checks: the page's reason and the service agree.
# A non-party's agency cannot have approved, so that combination is left out.
CASES = [c for c in product([True, False], repeat=3) if c[1] or not c[2]]


@pytest.mark.parametrize(("is_author", "is_party", "agency_approved"), CASES)
def test_the_page_says_why_exactly_when_the_service_would_refuse(
    world, member, is_author, is_party, agency_approved
):
    version, people, m = world
    protocol_submit(membership=m["author"], version=version)
    if is_party:
        viewer = m["author"] if is_author else m["csc_ig"]
        if agency_approved:
            protocol_approve(
                membership=m["csc_ig"]
                if is_author
                else Membership.objects.get(user=member(Role.IG_OFFICER)),
                version=version,
            )
    else:
        outsider = AgencyFactory(code="EDU", name="Test School", kind="education")
        viewer = Membership.objects.get(user=member(Role.IG_OFFICER, in_agency=outsider))
        if is_author:
            version.author = viewer.user
            version.save(update_fields=["author"])
    version.refresh_from_db()
    standing = approval_standing(version, viewer)
    try:
        with transaction.atomic():
            protocol_approve(membership=viewer, version=version)
            raise _Approved
    except _Approved:
        approved = True
    except ProtocolError:
        approved = False
    assert standing.can_approve == approved
    if is_author and is_party and not agency_approved:
        assert standing.reason == (
            "You wrote this version, so another IG officer of Test Children's Services must "
            "approve it for Test Children's Services."
        )


class _Approved(Exception):
    """Rolls back a trial approval."""


def test_who_else_must_approve_names_the_agencies_and_their_officers_but_not_the_author(world):
    version, people, m = world
    protocol_submit(membership=m["author"], version=version)
    standing = approval_standing(version, m["author"])
    assert [(s.agency.name, [str(u) for u in s.officers]) for s in standing.still_to_approve] == [
        ("Test Children's Services", ["Ben Approver"]),
        ("Test Police", ["Cath Police", "Dan Police"]),
    ]


def test_ig_home_lists_what_awaits_the_officers_agency(client, world):
    version, people, m = world
    version = protocol_submit(membership=m["author"], version=version)
    rows = versions_awaiting(m["pol_ig"], now=version.submitted_at + timedelta(days=3))
    assert [(r.version.pk, r.days_waiting, str(r.submitted_by)) for r in rows] == [
        (version.pk, 3, "Ada Author")
    ]
    client.force_login(people["pol_ig"])
    page = client.get(reverse("ig_home")).content.decode()
    assert "Awaiting your approval" in page and "MASH information sharing, version 1" in page
    assert approval_link(version, m["pol_ig"].agency_id).replace("&", "&amp;") in page
    protocol_approve(membership=m["pol_ig"], version=version)
    assert versions_awaiting(m["pol_ig2"]) == []
    page = client.get(reverse("ig_home")).content.decode()
    assert "No protocol version is waiting for Test Police's approval." in page
    # The author's own agency still waits, and the author is told they cannot approve it.
    [row] = versions_awaiting(m["author"])
    assert row.written_by_you


def test_the_protocol_page_tells_the_author_why_and_who_can(client, world):
    version, people, m = world
    protocol_submit(membership=m["author"], version=version)
    client.force_login(people["author"])
    page = client.get(reverse("protocols:protocol_detail", args=[version.protocol.reference]))
    text = page.content.decode()
    assert 'data-testid="approve"' not in text
    assert "You wrote this version, so another IG officer of Test Children" in text
    assert "Test Police: Cath Police, Dan Police" in text
    version_page = client.get(
        reverse("protocols:version_detail", args=[version.protocol.reference, version.number])
    ).content.decode()
    assert "You wrote this version, so another IG officer of Test Children" in version_page


# --- Item 4: suspension -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("", "Say why the protocol is suspended, in at least 20 characters."),
        ("Testing", "yours is 7, so it needs 13 more"),
        ("A" * 301, "Shorten the reason to 300 characters or fewer"),
        (REASON + " about NHS 943 476 5919", "Take an NHS number out of the reason"),
        (REASON + ", see LS6 2AB", "Take a postcode out of the reason"),
        ("Record shown of a child born 8 June 2020 to the wrong family", "a date of birth"),
        ("Concern raised about a child, DOB 08/06/2020, at the MASH", "a date of birth"),
        (REASON, ""),
    ],
)
def test_a_suspension_reason_is_long_enough_and_holds_no_identifier(reason, expected, db):
    problem = suspension_reason_problem(reason)
    assert (expected in problem) if expected else problem == ""
    assert "943" not in problem and "LS6" not in problem  # named by kind, never quoted


def _active(world):
    version, people, m = world
    protocol_submit(membership=m["author"], version=version)
    protocol_approve(membership=m["csc_ig"], version=version)
    protocol_approve(membership=m["pol_ig"], version=version)
    version.refresh_from_db()
    return version


def test_suspending_tells_every_partys_officers_and_every_holder_and_is_shown(world):
    version, people, m = world
    version = _active(world)
    give(version, people["practitioner"])
    team = Group.objects.create(name="Police MASH team")
    team.user_set.add(people["pol_worker"])
    give(version, team)
    assert suspension_impact(version.protocol).holders == 2

    with pytest.raises(ProtocolError, match="needs 13 more"):
        protocol_suspend(membership=m["pol_ig"], protocol=version.protocol, reason="Testing")
    assert Notification.objects.filter(kind=NotificationKind.PROTOCOL_SUSPENDED).count() == 0

    protocol_suspend(membership=m["pol_ig"], protocol=version.protocol, reason=REASON)
    kind = NotificationKind.PROTOCOL_SUSPENDED
    told = set(
        Notification.objects.filter(kind=kind).values_list("recipient__full_name", flat=True)
    )
    assert told == {
        "Ada Author",
        "Ben Approver",
        "Dan Police",
        "Priya Shah",
        "Pat Officer",
    }  # not Cath, who did it
    [officer] = _told(people["csc_ig"], kind)
    assert "Cath Police (Test Police) suspended" in officer.message
    assert REASON not in officer.message  # the reason is on the page, not in an email
    version.refresh_from_db()
    shown = suspension_of(version)
    assert (shown.by, shown.agency, shown.reason) == (people["pol_ig"], m["pol_ig"].agency, REASON)
    assert AuditEntry.objects.filter(
        action=AuditAction.PROTOCOL, detail__event="suspended"
    ).exists()

    protocol_resume(membership=m["csc_ig"], protocol=version.protocol, reason=RESUMED)
    [resumed] = _told(people["pol_ig"], NotificationKind.PROTOCOL_RESUMED)
    assert "Ben Approver (Test Children's Services) resumed" in resumed.message
    # The party that suspended it is told whose suspension ended; the reason stays on the page.
    assert "which Cath Police (Test Police) suspended on" in resumed.message
    assert RESUMED not in resumed.message
    assert len(_told(people["pol_worker"], NotificationKind.PROTOCOL_RESUMED)) == 1
    assert AuditEntry.objects.filter(action=AuditAction.PROTOCOL, detail__event="resumed").exists()
    version.refresh_from_db()
    assert suspension_of(version) is None


def test_the_confirmation_page_asks_first_and_keeps_what_was_typed(client, world):
    version, people, m = world
    version = _active(world)
    give(version, people["practitioner"])
    url = reverse("protocols:protocol_suspend", args=[version.protocol.reference])
    client.force_login(people["csc_ig"])
    page = client.get(url).content.decode()
    assert "Test Children&#x27;s Services" in page and "Test Police" in page
    assert "1 person stops seeing what it shares" in page
    answer = client.post(url, {"reason": "Testing"})
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "There is a problem" in text and "needs 13 more" in text
    assert ">Testing</textarea>" in text
    version.refresh_from_db()
    assert version.status == VersionStatus.ACTIVE

    answer = client.post(url, {"reason": REASON})
    assert answer.status_code == 302
    detail = client.get(answer["Location"]).content.decode()
    assert "Suspended on" in detail and "by Ben Approver (Test Children&#x27;s Services)" in detail
    assert REASON in detail


def test_an_officer_of_another_agency_is_told_who_can_suspend(client, world, member):
    version, people, m = world
    version = _active(world)
    outsider = AgencyFactory(code="EDU", name="Test School", kind="education")
    client.force_login(member(Role.IG_OFFICER, in_agency=outsider))
    url = reverse("protocols:protocol_suspend", args=[version.protocol.reference])
    page = client.get(url).content.decode()
    assert "Test School is not a party to this protocol" in page
    assert 'data-testid="suspend-confirm"' not in page
    assert client.post(url, {"reason": REASON}).status_code == 400
    version.refresh_from_db()
    assert version.status == VersionStatus.ACTIVE


def test_the_api_holds_suspension_to_the_same_reason_rules(client, world):
    version, people, m = world
    version = _active(world)
    client.force_login(people["pol_ig"])
    url = reverse("protocols_api:protocol_action", args=[version.protocol.reference, "suspend"])
    answer = client.post(url, {"reason": "Testing"}, content_type="application/json")
    assert answer.status_code == 400
    assert "needs 13 more" in answer.json()["reason"][0]
    answer = client.post(url, {"reason": REASON}, content_type="application/json")
    assert answer.status_code == 200
    assert len(_told(people["csc_ig"], NotificationKind.PROTOCOL_SUSPENDED)) == 1


# --- Resuming asks first too -------------------------------------------------------------------


def test_resuming_wants_a_screened_reason_and_tells_every_party(world):
    version, people, m = world
    version = _active(world)
    give(version, people["practitioner"])
    protocol_suspend(membership=m["pol_ig"], protocol=version.protocol, reason=REASON)
    for reason, problem in (
        ("", "Say why the protocol is resumed"),
        ("Fixed now", "needs 11 more"),
        ("Resolved for NHS number 943 476 5919", "Take .* out of the reason"),
    ):
        with pytest.raises(ProtocolError, match=problem):
            protocol_resume(membership=m["csc_ig"], protocol=version.protocol, reason=reason)
    version.refresh_from_db()
    assert version.status == VersionStatus.SUSPENDED
    assert Notification.objects.filter(kind=NotificationKind.PROTOCOL_RESUMED).count() == 0

    protocol_resume(membership=m["csc_ig"], protocol=version.protocol, reason=RESUMED)
    told = set(
        Notification.objects.filter(kind=NotificationKind.PROTOCOL_RESUMED).values_list(
            "recipient__full_name", flat=True
        )
    )
    # Every party's officers, Cath who suspended it among them, and every holder; not Ben.
    assert told == {"Ada Author", "Cath Police", "Dan Police", "Priya Shah"}


def test_the_resume_page_says_who_suspended_it_and_why_and_asks_a_reason(client, world):
    version, people, m = world
    version = _active(world)
    protocol_suspend(membership=m["pol_ig"], protocol=version.protocol, reason=REASON)
    reference = version.protocol.reference
    client.force_login(people["csc_ig"])
    detail = client.get(reverse("protocols:protocol_detail", args=[reference])).content.decode()
    url = reverse("protocols:protocol_resume", args=[reference])
    assert f'href="{url}"' in detail  # a link to the page, not a one-press form
    page = client.get(url).content.decode()
    assert "Cath Police (Test Police)" in page and REASON in page
    assert "Test Police suspended this protocol, not Test Children" in page
    # A press without a reason resumes nothing and says what to fix.
    answer = client.post(url, {"reason": "Fixed now"})
    assert answer.status_code == 400
    assert "needs 11 more" in answer.content.decode()
    assert ">Fixed now</textarea>" in answer.content.decode()
    version.refresh_from_db()
    assert version.status == VersionStatus.SUSPENDED
    # The address the old one-press form posted to is this page now: no reason, no resuming.
    assert client.post(url, {}).status_code == 400

    answer = client.post(url, {"reason": RESUMED})
    assert answer.status_code == 302
    version.refresh_from_db()
    assert version.status == VersionStatus.ACTIVE
    detail = client.get(answer["Location"]).content.decode()
    assert 'data-testid="suspension"' not in detail
    assert "Resumed on" in detail and "by Ben Approver (Test Children&#x27;s Services)" in detail
    assert RESUMED in detail


def test_an_officer_of_another_agency_is_told_who_can_resume(client, world, member):
    version, people, m = world
    version = _active(world)
    protocol_suspend(membership=m["pol_ig"], protocol=version.protocol, reason=REASON)
    outsider = AgencyFactory(code="EDU", name="Test School", kind="education")
    client.force_login(member(Role.IG_OFFICER, in_agency=outsider))
    url = reverse("protocols:protocol_resume", args=[version.protocol.reference])
    page = client.get(url).content.decode()
    assert "Test School is not a party to this protocol" in page
    assert 'data-testid="resume-confirm"' not in page
    assert client.post(url, {"reason": RESUMED}).status_code == 400
    version.refresh_from_db()
    assert version.status == VersionStatus.SUSPENDED


def test_the_api_holds_resuming_to_the_same_reason_rules(client, world):
    version, people, m = world
    version = _active(world)
    protocol_suspend(membership=m["pol_ig"], protocol=version.protocol, reason=REASON)
    client.force_login(people["csc_ig"])
    url = reverse("protocols_api:protocol_action", args=[version.protocol.reference, "resume"])
    answer = client.post(url, {}, content_type="application/json")
    assert answer.status_code == 400
    assert "Say why the protocol is resumed" in answer.json()["reason"][0]
    answer = client.post(url, {"reason": RESUMED}, content_type="application/json")
    assert answer.status_code == 200
