"""Approval of a submitted protocol version, as people meet it: who is told it waits for them,
reminders while it waits, the author told how it ended, the IG home page's list of versions
awaiting the officer's agency, and why someone who cannot approve cannot, and who can.

The rules themselves stay in protocols.services.protocol_approve; `approval_standing` reads
them to explain a missing Approve button, and a test holds the two together.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agencies.models import Agency, Membership, Role
from agencies.selectors import ig_officers
from notifications.models import NotificationKind
from notifications.services import notices_settle, notify
from protocols.models import (
    ApprovalNotice,
    ProtocolEvent,
    ProtocolVersion,
    VersionStatus,
)

APPROVAL_KINDS = (NotificationKind.APPROVAL_REQUESTED, NotificationKind.APPROVAL_REMINDER)


def _protocol_link(version: ProtocolVersion) -> str:
    return reverse("protocols:protocol_detail", args=[version.protocol.reference])


def approval_link(version: ProtocolVersion, agency_id: int) -> str:
    """Where an agency's officers approve: the version's own page, which says what changed
    from the version in force and has the Approve button (the protocol page only says a
    version waits). One link per version and agency, so that one agency's approval settles
    its own officers' notices and nobody else's."""
    page = reverse("protocols:version_detail", args=[version.protocol.reference, version.number])
    return f"{page}?agency={agency_id}"


def _approvers(version: ProtocolVersion, agency_id: int):
    """The IG officers who may approve for the agency: never the version's author."""
    return ig_officers([agency_id]).exclude(pk=version.author_id).order_by("full_name", "pk")


def _ask(version: ProtocolVersion, agency: Agency, *, kind: str, message: str) -> None:
    notify(
        recipients=_approvers(version, agency.pk),
        kind=kind,
        message=message,
        link=approval_link(version, agency.pk),
    )


def approval_requests_send(*, version: ProtocolVersion, by: User, now: datetime) -> int:
    """At submission: tell the IG officers of every party still to approve, and note when, for
    the reminders. Returns how many agencies were asked."""
    missing = _missing(version)
    for agency in missing:
        ApprovalNotice.objects.update_or_create(
            version=version, agency=agency, defaults={"told_at": now, "reminders": 0}
        )
        _ask(
            version,
            agency,
            kind=NotificationKind.APPROVAL_REQUESTED,
            message=(
                f"{by} submitted {version.label} of protocol {version.protocol.reference} for "
                f"approval. It needs {agency.name}'s approval before it can come into force."
            ),
        )
    return len(missing)


def approval_reminders_send(*, now: datetime | None = None) -> int:
    """Remind the officers of each agency whose approval a version still waits for, once every
    PROTOCOL_APPROVAL_REMINDER_DAYS; the notice row is claimed by a conditional update before
    anyone is told, so running twice in an interval reminds once. Returns the reminders sent."""
    now = now or timezone.now()
    days = settings.PROTOCOL_APPROVAL_REMINDER_DAYS
    due = ApprovalNotice.objects.filter(
        version__status=VersionStatus.AWAITING_APPROVAL, told_at__lte=now - timedelta(days=days)
    ).select_related("version__protocol", "agency")
    sent = 0
    for notice in due:
        version = notice.version
        if version.approvals.filter(agency_id=notice.agency_id).exists():
            notice.delete()  # approved since: nothing to remind of
            continue
        with transaction.atomic():
            claimed = ApprovalNotice.objects.filter(pk=notice.pk, told_at=notice.told_at).update(
                told_at=now, reminders=notice.reminders + 1
            )
            if not claimed:
                continue  # another run reminded them first
            waited = (now - (version.submitted_at or notice.told_at)).days
            _ask(
                version,
                notice.agency,
                kind=NotificationKind.APPROVAL_REMINDER,
                message=(
                    f"{version.label} of protocol {version.protocol.reference} has waited "
                    f"{waited} day{'s' if waited != 1 else ''} for {notice.agency.name}'s "
                    "approval. It cannot come into force until every party approves it."
                ),
            )
        sent += 1
    return sent


def _settle(version: ProtocolVersion, agency_ids) -> None:
    for agency_id in agency_ids:
        for kind in APPROVAL_KINDS:
            notices_settle(kind=kind, link=approval_link(version, agency_id))
    ApprovalNotice.objects.filter(version=version, agency_id__in=list(agency_ids)).delete()


def approval_recorded(*, version: ProtocolVersion, agency: Agency, by: User) -> None:
    """One party approved: its officers' notices are no longer work. When it was the last
    party, the author is told the version is in force."""
    _settle(version, [agency.pk])
    if version.status == VersionStatus.ACTIVE:
        _settle(version, version.parties.values_list("pk", flat=True))
        notify(
            recipients=[version.author],
            kind=NotificationKind.VERSION_DECIDED,
            message=(
                f"{version.label} of protocol {version.protocol.reference} is approved by every "
                f"party; the last approval was {by}'s, for {agency.name}. It is in force from "
                f"{version.valid_from:%-d %B %Y}."
            ),
            link=_protocol_link(version),
        )


def approval_ended(*, version: ProtocolVersion, by: User, agency: Agency, returned: bool) -> None:
    """The version stopped waiting without coming into force (sent back, or withdrawn): every
    party's outstanding notices are settled and the author, unless it was their own doing, is
    told who ended it. The officer's note stays on the protocol page, not in a message."""
    _settle(version, version.parties.values_list("pk", flat=True))
    if by.pk == version.author_id:
        return
    what = (
        "sent back for changes; the note says what to change"
        if returned
        else "withdrawn; it will not come into force"
    )
    notify(
        recipients=[version.author],
        kind=NotificationKind.VERSION_DECIDED,
        message=(
            f"{version.label} of protocol {version.protocol.reference} was {what}. "
            f"By {by} ({agency.name})."
        ),
        link=_protocol_link(version),
    )


def _missing(version: ProtocolVersion) -> list[Agency]:
    from protocols.services import approvals_missing

    return approvals_missing(version)


# --- What the officer sees ----------------------------------------------------------------------


@dataclass(frozen=True)
class StillToApprove:
    agency: Agency
    # The IG officers who can approve for it (never the author); empty when nobody can yet.
    officers: list[User] = field(default_factory=list)


@dataclass(frozen=True)
class ApprovalStanding:
    """Why the viewer cannot approve a version awaiting approval ("" when they can), and who
    else must."""

    reason: str
    still_to_approve: list[StillToApprove]

    @property
    def can_approve(self) -> bool:
        return not self.reason


def approval_standing(version: ProtocolVersion, membership: Membership) -> ApprovalStanding:
    """The reasons follow protocol_approve's checks in its order, so the page says what the
    service would answer to a press of the button."""
    approvals = {a.agency_id: a for a in version.approvals.select_related("approved_by")}
    missing = [a for a in version.parties.order_by("name") if a.pk not in approvals]
    officers: dict[int, list[User]] = {a.pk: [] for a in missing}
    for member in (
        Membership.objects.filter(
            agency_id__in=list(officers),
            role=Role.IG_OFFICER,
            is_active=True,
            user__is_active=True,
        )
        .exclude(user_id=version.author_id)
        .select_related("user")
        .order_by("user__full_name", "user_id")
    ):
        if member.agency_id is not None:  # always, by the filter; said for the type checker
            officers[member.agency_id].append(member.user)
    still = [StillToApprove(agency=a, officers=officers[a.pk]) for a in missing]

    agency = membership.agency
    reason = ""
    if version.status != VersionStatus.AWAITING_APPROVAL:
        reason = "Only a version awaiting approval can be approved."
    elif membership.role != Role.IG_OFFICER or agency is None:
        reason = "Only an IG officer, acting for their agency, can approve."
    elif version.author_id == membership.user_id:
        reason = (
            f"You wrote this version, so another IG officer of {agency.name} must approve it "
            f"for {agency.name}."
        )
        if agency.pk in approvals:
            done = approvals[agency.pk]
            reason = (
                f"You wrote this version. {done.approved_by} approved it for {agency.name} on "
                f"{timezone.localtime(done.approved_at):%-d %B %Y}."
            )
    elif agency.pk not in {a.pk for a in version.parties.all()}:
        reason = (
            f"{agency.name} is not a party to this protocol, so its officers do not approve it."
        )
    elif agency.pk in approvals:
        done = approvals[agency.pk]
        reason = (
            f"{done.approved_by} already approved this version for {agency.name} on "
            f"{timezone.localtime(done.approved_at):%-d %B %Y}; each party approves once."
        )
    return ApprovalStanding(reason=reason, still_to_approve=still)


@dataclass(frozen=True)
class AwaitingRow:
    version: ProtocolVersion
    submitted_by: User | None
    days_waiting: int
    link: str
    written_by_you: bool


def versions_awaiting(membership: Membership, *, now: datetime | None = None) -> list[AwaitingRow]:
    """For the IG home page: versions waiting for the officer's agency's approval, oldest
    first. Two queries, whatever the number of versions."""
    agency_id = membership.agency_id
    if agency_id is None:
        return []
    now = now or timezone.now()
    versions = list(
        ProtocolVersion.objects.filter(
            status=VersionStatus.AWAITING_APPROVAL, parties__pk=agency_id
        )
        .exclude(approvals__agency_id=agency_id)
        .select_related("protocol")
        .order_by("submitted_at", "pk")
        .distinct()
    )
    submitters = {
        event.version_id: event.by
        for event in ProtocolEvent.objects.filter(
            version__in=versions, kind=ProtocolEvent.Kind.SUBMITTED
        )
        .select_related("by")
        .order_by("at", "pk")
    }
    return [
        AwaitingRow(
            version=version,
            submitted_by=submitters.get(version.pk),
            days_waiting=(now - version.submitted_at).days if version.submitted_at else 0,
            link=approval_link(version, agency_id),
            written_by_you=version.author_id == membership.user_id,
        )
        for version in versions
    ]
