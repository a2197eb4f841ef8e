"""The owning agency's side of a subject access request: its IG officer reviews what the agency
holds about the person and releases it into the requesting agency's report, with whatever it
withholds left out. Nobody outside the owning agency sees its records before this."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from agencies.models import Membership, Role
from agencies.selectors import ig_officers
from audit.models import AuditAction
from audit.services import audit_record
from core.keys import AgencySealer
from matching.pseudonymise import release_seal
from notifications.models import NotificationKind
from notifications.services import notices_settle, notify
from subject_access.models import PartRelease, ReleasePart
from subject_access.records import (
    agency_notes,
    agency_records_opened,
    part_fingerprint,
)


class PartNotFound(Exception):
    """Not a part this IG officer's agency releases; answered as "not found" (404)."""


class ReleaseRefused(Exception):
    """The release cannot be made as posted; the message says what to do."""


@dataclass
class PartReview:
    part: ReleasePart
    records: list[dict]
    notes: list[dict]
    fingerprint: str
    latest: PartRelease | None
    # What the latest release withheld, offered again as the starting point.
    withheld_before: set[str]

    @property
    def items(self) -> list[dict]:
        """Each record with the key that withholds it and, per detail, (label, value, key)."""
        shown = []
        for record in self.records:
            prefix = f"r{record['record_id']}"
            shown.append(
                {
                    **record,
                    "key": prefix,
                    "rows": [
                        (label, value, f"{prefix}:i:{key}")
                        for key, label, value in record["identifiers"]
                    ]
                    + [
                        (label, value, f"{prefix}:f:{key}")
                        for key, label, value in record["fields"]
                    ],
                }
            )
        return shown

    @property
    def note_items(self) -> list[dict]:
        return [{**note, "key": f"n:{note['kind']}:{note['id']}"} for note in self.notes]


def _is_owner(membership: Membership | None, part: ReleasePart) -> bool:
    return (
        membership is not None
        and membership.is_active
        and membership.role == Role.IG_OFFICER
        and membership.agency_id is not None
        and membership.agency_id == part.agency_id
    )


def _part_link(part: ReleasePart) -> str:
    return reverse("subject_access:part", args=[part.pk])


def parts_ask(*, request, requesting_agency, person, agency_ids: set[int]) -> list[ReleasePart]:
    """Make the missing parts of `request` for `agency_ids` and tell each agency's IG officers.
    Returns the parts made now; parts already asked for are left as they are."""
    have = set(request.parts.values_list("agency_id", flat=True))
    made = [
        ReleasePart.objects.create(request=request, agency_id=agency_id)
        for agency_id in sorted(agency_ids - have)
    ]
    for part in made:
        notify(
            recipients=ig_officers([part.agency_id]),
            kind=NotificationKind.RELEASE_REQUESTED,
            message=(
                f"{requesting_agency.name} is answering a subject access request from person "
                f"{person.reference}. Review what your agency holds and release it."
            ),
            link=_part_link(part),
        )
    return made


def parts_to_release(membership: Membership | None) -> list[ReleasePart]:
    """The parts this IG officer's agency is asked for, newest first, with their releases."""
    if membership is None or membership.role != Role.IG_OFFICER or membership.agency_id is None:
        return []
    return list(
        ReleasePart.objects.filter(agency_id=membership.agency_id)
        .select_related("request__person", "request__agency")
        .annotate(released=Max("releases__number"))
        .order_by("-asked_at", "-pk")
    )


def _audit(*, user, membership, part_id, person, channel, detail, outcome="ok"):
    audit_record(
        action=AuditAction.RELEASE,
        actor=user,
        membership=membership,
        channel=channel,
        purpose="subject_access",
        person=person,
        detail={"part": part_id, **detail},
        outcome=outcome,
    )


def _owned_part(*, user, membership, part_id: int, channel: str, step: str) -> ReleasePart:
    part = (
        ReleasePart.objects.select_related("request__person", "request__agency", "agency")
        .filter(pk=part_id)
        .first()
    )
    if part is None or not _is_owner(membership, part):
        _audit(
            user=user,
            membership=membership,
            part_id=part_id,
            person=None,
            channel=channel,
            detail={"step": step},
            outcome="not_found",
        )
        raise PartNotFound()
    return part


def part_review(*, user, membership, part_id: int, channel: str) -> PartReview:
    """The owning agency's records and notes about the person, opened for its IG officer to
    review before release. Audited with the record ids shown. Raises PartNotFound."""
    part = _owned_part(
        user=user, membership=membership, part_id=part_id, channel=channel, step="review"
    )
    person = part.request.person
    records = agency_records_opened(person=person, agency_id=part.agency_id)
    notes = agency_notes(person=person, agency_id=part.agency_id)
    latest = part.latest_release()
    _audit(
        user=user,
        membership=membership,
        part_id=part.pk,
        person=person,
        channel=channel,
        detail={
            "step": "review",
            "request": part.request_id,
            "records": [r["record_id"] for r in records],
            "notes": [[n["kind"], n["id"]] for n in notes],
        },
    )
    return PartReview(
        part=part,
        records=records,
        notes=notes,
        fingerprint=part_fingerprint(person=person, agency_id=part.agency_id),
        latest=latest,
        withheld_before=set(latest.withheld.get("keys", [])) if latest else set(),
    )


def withhold_keys(records: list[dict], notes: list[dict]) -> set[str]:
    """Every key an owner may withhold for these records and notes (see subject_access.records)."""
    keys = set()
    for record in records:
        keys.add(f"r{record['record_id']}")
        keys.update(f"r{record['record_id']}:i:{key}" for key, _, _ in record["identifiers"])
        keys.update(f"r{record['record_id']}:f:{key}" for key, _, _ in record["fields"])
    keys.update(f"n:{note['kind']}:{note['id']}" for note in notes)
    return keys


def _redacted(records: list[dict], notes: list[dict], withheld: set[str]) -> dict:
    kept = []
    for record in records:
        prefix = f"r{record['record_id']}"
        if prefix in withheld:
            continue
        kept.append(
            {
                **record,
                "identifiers": [
                    f for f in record["identifiers"] if f"{prefix}:i:{f[0]}" not in withheld
                ],
                "fields": [f for f in record["fields"] if f"{prefix}:f:{f[0]}" not in withheld],
            }
        )
    return {
        "records": kept,
        "notes": [n for n in notes if f"n:{n['kind']}:{n['id']}" not in withheld],
    }


def part_release(
    *, user, membership, part_id: int, withheld: set[str], fingerprint: str, channel: str
) -> PartRelease:
    """Release the owning agency's part into the requesting agency's report, less `withheld`.

    A new release every time, never an edit of the last: the report shows the newest. Refused
    if the records changed since the reviewer's page was made (`fingerprint`), so nothing goes
    out unseen. Raises PartNotFound, ReleaseRefused."""
    part = _owned_part(
        user=user, membership=membership, part_id=part_id, channel=channel, step="release"
    )
    person = part.request.person
    if fingerprint != part_fingerprint(person=person, agency_id=part.agency_id):
        raise ReleaseRefused(
            "What your agency holds about this person changed since you opened this page. "
            "Review it again, then release."
        )
    records = agency_records_opened(person=person, agency_id=part.agency_id)
    notes = agency_notes(person=person, agency_id=part.agency_id)
    unknown = withheld - withhold_keys(records, notes)
    if unknown:
        raise ReleaseRefused("Choose only fields shown on this page to withhold.")
    content = _redacted(records, notes, withheld)
    requesting = part.request.agency
    with transaction.atomic():
        number = (part.releases.aggregate(n=Max("number"))["n"] or 0) + 1
        release = PartRelease.objects.create(
            part=part,
            number=number,
            released_by=user,
            released_at=timezone.now(),
            record_ids=[r["record_id"] for r in content["records"]],
            withheld={"keys": sorted(withheld)},
            content=release_seal(
                AgencySealer(requesting.pk), part_id=part.pk, number=number, content=content
            ),
        )
        _audit(
            user=user,
            membership=membership,
            part_id=part.pk,
            person=person,
            channel=channel,
            detail={
                "step": "release",
                "request": part.request_id,
                "release": release.pk,
                "number": number,
                "records": release.record_ids,
                "withheld": sorted(withheld),
            },
        )
        notices_settle(kind=NotificationKind.RELEASE_REQUESTED, link=_part_link(part))
        notify(
            recipients=ig_officers([requesting.pk]),
            kind=NotificationKind.RELEASE_DONE,
            message=(
                f"{part.agency.name} released its part of the subject access report on person "
                f"{person.reference}."
            ),
            link=reverse("subject_access:report", args=[person.reference]),
        )
    return release
