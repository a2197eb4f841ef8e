"""Suspending and resuming a protocol as people meet them: what a suspension would affect, the
reason each must give, who is told, and the lines the protocol page shows.

Suspension itself (the status change, who may do it) is protocols.services.protocol_suspend;
a suspension stops everything disclosed under the version for every party at once, so the
reason is something every party's IG officers and every holder will act on.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agencies.models import Agency
from agencies.selectors import ig_officers
from matching.screening import shapes_problem
from notifications.models import NotificationKind
from notifications.services import notify
from protocols.models import Protocol, ProtocolEvent, ProtocolVersion

# Long enough that "Testing" or "x" is refused: the other parties read it to decide what to do.
SUSPENSION_REASON_MIN = 20
SUSPENSION_REASON_MAX = 300  # the protocol's history keeps 300 characters


def _reason_problem(reason: str, *, done: str) -> str:
    text = reason.strip()
    if not text:
        return f"Say why the protocol is {done}, in at least {SUSPENSION_REASON_MIN} characters."
    if len(text) < SUSPENSION_REASON_MIN:
        needed = SUSPENSION_REASON_MIN - len(text)
        return (
            f"Say more about why the protocol is {done}: the reason must be at least "
            f"{SUSPENSION_REASON_MIN} characters, and yours is {len(text)}, so it needs "
            f"{needed} more."
        )
    if len(text) > SUSPENSION_REASON_MAX:
        return (
            f"Shorten the reason to {SUSPENSION_REASON_MAX} characters or fewer; "
            f"yours is {len(text)}."
        )
    return shapes_problem(text, what="reason")


def suspension_reason_problem(reason: str) -> str:
    """What is wrong with a suspension reason, "" when nothing. Identifiers are named by kind,
    never quoted: the reason is shown to every party and stored."""
    return _reason_problem(reason, done="suspended")


def resumption_reason_problem(reason: str) -> str:
    """The same rules as a suspension's: resuming ends a stop another party may have made over
    a breach, so that party's officers must be able to read why it is safe again."""
    return _reason_problem(reason, done="resumed")


def protocol_holder_users(protocol: Protocol) -> list[User]:
    """Everyone who holds the protocol, given it directly or through a group (protocols
    .services.protocol_holders), each once, active only."""
    from protocols.services import protocol_holders

    users, groups = protocol_holders(protocol)
    return list(
        User.objects.filter(is_active=True)
        .filter(Q(pk__in=users.values("pk")) | Q(groups__in=groups.values("pk")))
        .distinct()
        .order_by("pk")
    )


@dataclass(frozen=True)
class SuspensionImpact:
    version: ProtocolVersion | None
    parties: list[Agency]
    holders: int


def suspension_impact(protocol: Protocol) -> SuspensionImpact:
    """For the confirmation page: the version a suspension would stop, its parties, and how
    many people hold the protocol (a count: their names are their own agencies' business)."""
    from protocols.models import VersionStatus

    version = protocol.versions.filter(status=VersionStatus.ACTIVE).first()
    parties = list(version.parties.order_by("name")) if version else []
    return SuspensionImpact(
        version=version, parties=parties, holders=len(protocol_holder_users(protocol))
    )


def _tell(
    version: ProtocolVersion, by: User, *, kind: str, officers_message: str, holders_message: str
) -> None:
    protocol = version.protocol
    link = reverse("protocols:protocol_detail", args=[protocol.reference])
    officers = list(ig_officers(version.parties.values_list("pk", flat=True)).exclude(pk=by.pk))
    notify(recipients=officers, kind=kind, message=officers_message, link=link)
    told = {u.pk for u in officers} | {by.pk}
    # Holders cannot open protocol pages (they are IG officers' work); their home page is
    # where they go on.
    notify(
        recipients=[u for u in protocol_holder_users(protocol) if u.pk not in told],
        kind=kind,
        message=holders_message,
        link=reverse("home"),
    )


def suspension_notices_send(*, version: ProtocolVersion, by: User, agency: Agency) -> None:
    """Every party's IG officers and every holder are told; the reason is on the protocol page,
    behind the sign-in, not in a message that is also emailed."""
    name = f"{version.label}, protocol {version.protocol.reference}"
    _tell(
        version,
        by,
        kind=NotificationKind.PROTOCOL_SUSPENDED,
        officers_message=(
            f"{by} ({agency.name}) suspended {name}. Nothing is disclosed under it to anyone "
            "until an IG officer of a party resumes it. The protocol page says why."
        ),
        holders_message=(
            f"{name} is suspended: nothing is shown to you under it until it is resumed. "
            "What other protocols share with you is unchanged. Your IG officer can tell you why."
        ),
    )


def resumption_notices_send(
    *, version: ProtocolVersion, by: User, agency: Agency, suspended: "Suspension | None"
) -> None:
    """As a suspension's: every party's IG officers and every holder; the officers are told
    whose suspension it ended, as it may not have been the resuming party's own."""
    name = f"{version.label}, protocol {version.protocol.reference}"
    whose = ""
    if suspended is not None:
        whose = f", which {suspended.by}"
        if suspended.agency is not None:
            whose += f" ({suspended.agency.name})"
        whose += f" suspended on {suspended.at:%-d %B %Y}"
    _tell(
        version,
        by,
        kind=NotificationKind.PROTOCOL_RESUMED,
        officers_message=(
            f"{by} ({agency.name}) resumed {name}{whose}: it discloses again as agreed. "
            "The protocol page says why."
        ),
        holders_message=f"{name} is resumed: what it shares is shown to you again.",
    )


@dataclass(frozen=True)
class Suspension:
    at: datetime
    by: User
    agency: Agency | None
    reason: str


def suspension_of(version: ProtocolVersion | None) -> Suspension | None:
    """Who suspended a suspended version, when and why: its latest suspension event."""
    from protocols.models import VersionStatus

    if version is None or version.status != VersionStatus.SUSPENDED:
        return None
    return _latest(version, ProtocolEvent.Kind.SUSPENDED)


def _latest(version: ProtocolVersion, kind: str) -> Suspension | None:
    event = (
        ProtocolEvent.objects.filter(version=version, kind=kind)
        .select_related("by", "agency")
        .order_by("-at", "-pk")
        .first()
    )
    if event is None:
        return None
    return Suspension(
        at=timezone.localtime(event.at), by=event.by, agency=event.agency, reason=event.detail
    )


def resumption_of(version: ProtocolVersion | None) -> Suspension | None:
    """Who last resumed a version in force, when and why: shown on the protocol page for as
    long as the version runs, so a party that suspended it can see who ended the stop."""
    from protocols.models import VersionStatus

    if version is None or version.status != VersionStatus.ACTIVE:
        return None
    return _latest(version, ProtocolEvent.Kind.RESUMED)
