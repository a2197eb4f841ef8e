"""Unusual reading of an agency's records, stored as flags and told to its IG officers once
(issue 20): each agency answers for its own records, whoever reads them.

    read_flags_store(agency_id=)  unusual reads, each stored once as a ReadFlag (reads page, beat)
    unusual_reads_tell()          flags stored, and each told once as a notification (beat)

Which agency's records each entry showed is written with the entry (audit.reads); this reads it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agencies.models import Agency, Membership, Role
from audit.models import ReadFlag, RecordRead
from notifications.models import NotificationKind
from notifications.services import notify
from oversight.selectors import Flag, unusual_reads


def read_flags_store(*, agency_id: int, now: datetime | None = None) -> list[tuple[Flag, ReadFlag]]:
    """The unusual reads of the agency's records over the last day
    (oversight.selectors.unusual_reads), each with its stored ReadFlag: stored here if it was
    not yet, once per kind, reader, person and day whoever stores it first (the reads page or
    the beat task), so what the page lists, what its flagged-only filter finds and what can be
    asked about are one set of flags. Storing tells nobody: unusual_reads_tell does, once per
    flag."""
    flags = unusual_reads(agency_id=agency_id, now=now)
    if not flags:
        return []

    def key(kind: str, actor_id: int | None, person: str, day: date) -> tuple:
        return (kind, actor_id, person, day)

    # One insert that skips the flags stored already (the unique constraint), then one read
    # back for their ids: a fixed number of queries however many flags the page shows.
    ReadFlag.objects.bulk_create(
        [
            ReadFlag(
                agency_id=agency_id,
                kind=flag.kind,
                actor_id=flag.actor_id,
                person_reference=flag.person_reference,
                day=timezone.localdate(flag.at),
                detail=flag.detail[:300],
                at=flag.at,
                reader_agency_id=flag.reader_agency_id,
            )
            for flag in flags
        ],
        ignore_conflicts=True,
    )
    stored = {
        key(r.kind, r.actor_id, r.person_reference, r.day): r
        for r in ReadFlag.objects.filter(
            agency_id=agency_id,
            actor_id__in={f.actor_id for f in flags},
            day__in={timezone.localdate(f.at) for f in flags},
        )
    }
    found = []
    for flag in flags:
        row = stored.get(
            key(flag.kind, flag.actor_id, flag.person_reference, timezone.localdate(flag.at))
        )
        if row is not None:
            found.append((flag, row))
    return found


def unusual_reads_tell(*, now: datetime | None = None) -> int:
    """Store the unusual reads of each agency's records in the last day (read_flags_store) and
    tell its IG officers of every flag not told yet, whoever stored it; returns how many were
    told. Safe to run again: each flag is claimed by a conditional update before it is told."""
    now = now or timezone.now()
    owners = (
        RecordRead.objects.filter(at__gte=now - timedelta(days=1))
        .values_list("agency_id", flat=True)
        .distinct()
    )
    for agency_id in sorted(set(owners)):
        read_flags_store(agency_id=agency_id, now=now)
    untold = list(ReadFlag.objects.filter(told_at__isnull=True).order_by("at", "pk"))
    agencies = dict(
        Agency.objects.filter(pk__in={f.reader_agency_id for f in untold}).values_list("pk", "name")
    )
    roles = dict(Role.choices)
    role_of: dict[tuple[int | None, int | None], str] = {
        (user_id, agency_id): roles.get(role, role)
        for user_id, agency_id, role in Membership.objects.filter(
            user_id__in={f.actor_id for f in untold}
        ).values_list("user_id", "agency_id", "role")
    }
    told = 0
    for flag in untold:
        with transaction.atomic():
            if not ReadFlag.objects.filter(pk=flag.pk, told_at__isnull=True).update(told_at=now):
                continue  # another run told it
            told += 1
            officers = [
                m.user
                for m in Membership.objects.filter(
                    agency_id=flag.agency_id, role=Role.IG_OFFICER, is_active=True
                ).select_related("user")
            ]
            # Notifications are emailed, so the reader goes by role and agency, not by name
            # (nor by a user number that means nothing to the owner agency); the reads page,
            # behind sign-in, names them in full.
            role = role_of.get((flag.actor_id, flag.reader_agency_id), "role not recorded")
            agency = agencies.get(flag.reader_agency_id or 0, "another agency")
            notify(
                recipients=officers,
                kind=NotificationKind.UNUSUAL_READ,
                message=(
                    f"Unusual reading of your agency's records by a member of staff of {agency} "
                    f"({role}): {flag.detail}."
                ),
                link=reverse("audit:reads"),
            )
    return told
