"""Reads for the protocol pages."""

from typing import Any

from django.db.models import Prefetch

from agencies.models import Agency, Membership
from protocols.models import (
    LIVE_STATUSES,
    OPEN_STATUSES,
    Protocol,
    ProtocolEvent,
    ProtocolVersion,
    VersionStatus,
)
from protocols.services import approvals_missing, protocol_holders


def _first_in(versions: list[ProtocolVersion], statuses) -> ProtocolVersion | None:
    """The version in one of `statuses` (a protocol has at most one live and one open)."""
    return next((v for v in versions if v.status in statuses), None)


def protocols_for_ig(agency: Agency) -> list[dict]:
    """Every protocol, each with its live and open versions; the officer's agency's first.

    IG officers of any agency may read any protocol (the partnership's agreements are not
    secret from its IG officers); only parties act on them.
    """
    protocols = Protocol.objects.select_related("owner_agency").prefetch_related(
        Prefetch("versions", queryset=ProtocolVersion.objects.prefetch_related("parties"))
    )
    rows: list[dict[str, Any]] = []
    for protocol in protocols:
        versions = list(protocol.versions.all())
        latest = max(versions, key=lambda v: v.number)
        live = _first_in(versions, LIVE_STATUSES)
        is_party = any(a.pk == agency.pk for a in latest.parties.all())
        rows.append({"protocol": protocol, "latest": latest, "live": live, "is_party": is_party})
    rows.sort(key=lambda r: (not r["is_party"], r["latest"].name.lower()))
    return rows


def protocol_overview(protocol: Protocol, membership: Membership) -> dict:
    versions = list(protocol.versions.select_related("author").prefetch_related("parties"))
    latest = versions[0]
    live = _first_in(versions, LIVE_STATUSES)
    open_version = _first_in(versions, OPEN_STATUSES)
    agency_id = membership.agency_id
    users, groups = protocol_holders(protocol)
    approved_agencies = (
        set(open_version.approvals.values_list("agency_id", flat=True)) if open_version else set()
    )
    return {
        "protocol": protocol,
        "versions": versions,
        "latest": latest,
        "live": live,
        "open_version": open_version,
        "is_party": any(a.pk == agency_id for a in latest.parties.all()),
        "can_approve": bool(
            open_version
            and open_version.status == VersionStatus.AWAITING_APPROVAL
            and open_version.author_id != membership.user_id
            and any(a.pk == agency_id for a in open_version.parties.all())
            and agency_id not in approved_agencies
        ),
        "missing": approvals_missing(open_version)
        if open_version and open_version.status == VersionStatus.AWAITING_APPROVAL
        else [],
        "holders": sorted(users, key=lambda u: u.full_name),
        "group_holders": list(groups),
        "events": ProtocolEvent.objects.filter(protocol=protocol).select_related("by", "version")[
            :50
        ],
    }


def version_approvable(version: ProtocolVersion, membership: Membership) -> bool:
    """Whether the Approve and Send back buttons are offered to `membership` for `version`.
    protocols.approvals.approval_standing follows protocol_approve's own checks, so the buttons
    and the "why you cannot approve" text never disagree with what the service would answer."""
    from protocols.approvals import approval_standing

    return (
        version.status == VersionStatus.AWAITING_APPROVAL
        and approval_standing(version, membership).can_approve
    )
