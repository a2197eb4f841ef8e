"""Safeguarding overrides: a practitioner sees for a while what consent would show, when seeking
it is not possible or safe; IG officers review each one, and it ends when its time runs out.

Every function checks who is acting, and raises ConsentError with what to fix. Free text is
screened for identifiers (matching.screening) before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from agencies.selectors import ig_officers
from audit.models import AuditAction
from audit.services import access_log_write
from consent.checks import practitioner_view, shown_to, text_problems
from consent.errors import ConsentError, NotFound
from consent.models import OverrideCategory, ReviewOutcome, SafeguardingOverride
from consent.selectors import override_for_ig, overrides_in_force
from core.purpose import Purpose
from matching.models import Person
from notifications.models import NotificationKind
from notifications.services import notices_settle, notify
from protocols.engine import PersonView, Withheld
from protocols.models import DEFAULT_OVERRIDE_LENGTH_HOURS, Protocol, ProtocolVersion

MIN_JUSTIFICATION = 50
MIN_REVIEW_NOTE = 10


@dataclass
class OverrideOption:
    """A protocol whose withheld data an override would open, and what it would open."""

    protocol: Protocol
    version_id: int
    label: str
    max_hours: int
    opens: list[Withheld]
    # The version's usual length (ProtocolVersion.override_default_hours): what the form offers
    # first. Never more than max_hours, whatever a version written by hand says.
    default_hours: int = DEFAULT_OVERRIDE_LENGTH_HOURS

    def __post_init__(self) -> None:
        self.default_hours = max(1, min(self.default_hours, self.max_hours))


def override_options(
    *, user, membership, person: Person, channel: str = "web"
) -> tuple[PersonView, list[OverrideOption]]:
    """The protocols under which the practitioner could override for this person now.

    Raises NotFound unless they can see the person for safeguarding."""
    view = practitioner_view(
        user=user,
        membership=membership,
        person=person,
        purpose=Purpose.SAFEGUARDING,
        attempted=AuditAction.OVERRIDE,
        channel=channel,
    )
    by_protocol: dict[int, OverrideOption] = {}
    protocols = Protocol.objects.in_bulk(
        {pid for entry in view.withheld for pid in entry.overridable}
    )
    usual = dict(
        ProtocolVersion.objects.filter(
            pk__in={v for entry in view.withheld for v in entry.override_versions.values()}
        ).values_list("pk", "override_default_hours")
    )
    for entry in view.withheld:
        for protocol_id, hours in entry.overridable.items():
            option = by_protocol.get(protocol_id)
            if option is None:
                version_id = entry.override_versions[protocol_id]
                option = by_protocol[protocol_id] = OverrideOption(
                    protocol=protocols[protocol_id],
                    version_id=version_id,
                    label=entry.protocol_labels[protocol_id],
                    max_hours=hours,
                    opens=[],
                    default_hours=usual.get(version_id, DEFAULT_OVERRIDE_LENGTH_HOURS),
                )
            option.opens.append(entry)
    return view, sorted(by_protocol.values(), key=lambda o: (o.label, o.protocol.pk))


def _reviewers(override: SafeguardingOverride):
    """IG officers of the overriding user's agency and of the agencies whose records it opened,
    never the user who overrode."""
    agency_ids = {override.agency_id, *override.agencies.values_list("pk", flat=True)}
    return ig_officers(agency_ids).exclude(pk=override.user_id)


def override_start(
    *,
    user,
    membership,
    person: Person,
    protocol_id: int,
    category: str,
    justification: str,
    hours: int | None,
    now: datetime | None = None,
    channel: str = "web",
) -> SafeguardingOverride:
    """Break glass: the practitioner sees at once, for `hours`, what the protocol shows of the
    person with consent. Logged, and sent to IG officers for review.

    One at a time per person and protocol: back-to-back overrides would stretch past the
    protocol's limit without anyone reviewing the whole. Only one the engine honours counts
    (consent.selectors.overrides_in_force); to start afresh, the practitioner ends it first.
    """
    now = now or timezone.now()
    _, options = override_options(user=user, membership=membership, person=person, channel=channel)
    option = next((o for o in options if o.protocol.pk == protocol_id), None)
    problems: dict[str, str] = {}
    running = next(
        (
            o
            for o in overrides_in_force(user=user, membership=membership, person=person, now=now)
            if o.protocol_id == protocol_id
        ),
        None,
    )
    if running is not None:
        problems[""] = (
            "You already have an override for this person under this protocol until "
            f"{timezone.localtime(running.expires_at):%H:%M on %-d %B %Y}. To start a new "
            "one, end that one first: it is shown above the form."
        )
    elif option is None:
        problems["protocol"] = (
            "Choose a protocol whose withheld data gives way to a safeguarding override."
        )
    if category not in OverrideCategory.values:
        problems["category"] = "Choose why seeking consent is not possible or safe."
    text_problems(
        problems,
        "justification",
        justification,
        what="justification",
        shown=shown_to(
            user=user, membership=membership, person=person, purpose=Purpose.SAFEGUARDING
        ),
        minimum=MIN_JUSTIFICATION,
        required_message=(
            f"Explain in at least {MIN_JUSTIFICATION} characters why you must see the record "
            "without consent; an IG officer will review it."
        ),
    )
    if hours is None:
        problems["hours"] = "Enter how many hours you need, like 24."
    elif option is not None and not 1 <= hours <= option.max_hours:
        problems["hours"] = (
            f"Enter from 1 to {option.max_hours} hours: the most this protocol allows."
        )
    if problems or option is None or hours is None:
        raise ConsentError(problems)
    with transaction.atomic():
        override = SafeguardingOverride.objects.create(
            person=person,
            user=user,
            agency_id=membership.agency_id,
            role=membership.role,
            protocol_id=protocol_id,
            version_id=option.version_id,
            category=category,
            justification=justification.strip(),
            hours=hours,
            started_at=now,
            expires_at=now + timedelta(hours=hours),
            opened=[
                {
                    "agency": entry.agency.name,
                    "dataset": entry.dataset_name,
                    "fields": entry.field_labels,
                }
                for entry in option.opens
            ],
            dataset_ids=sorted({entry.dataset_id for entry in option.opens}),
        )
        override.agencies.set({entry.agency.pk for entry in option.opens})
        access_log_write(
            user=user,
            membership=membership,
            action=AuditAction.OVERRIDE,
            channel=channel,
            purpose=Purpose.SAFEGUARDING,
            person=person,
            versions=[option.version_id],
            # "opens": the datasets it opens, so their owners see it among the reads of
            # their records (audit.reads).
            fields={
                "override": override.pk,
                "hours": hours,
                "category": category,
                "opens": override.dataset_ids,
            },
        )
        notify(
            recipients=_reviewers(override),
            kind=NotificationKind.OVERRIDE_TO_REVIEW,
            message=(
                f"{user.full_name} ({membership.agency.name}) used a safeguarding override for "
                f"person {person.reference}; it awaits your review."
            ),
            link=reverse("consent:override_detail", args=[override.pk]),
        )
    return override


def override_end(*, user, override_id: int, now: datetime | None = None) -> SafeguardingOverride:
    """The practitioner ends their own override early, once they have what they needed."""
    now = now or timezone.now()
    override = SafeguardingOverride.objects.filter(pk=override_id, user=user).first()
    if override is None:
        raise NotFound()
    ended = SafeguardingOverride.objects.filter(
        pk=override.pk, ended_at__isnull=True, expires_at__gt=now
    ).update(ended_at=now, ended_by=user)
    if not ended:
        raise ConsentError({"": "This override has already ended."})
    override.refresh_from_db()
    return override


def override_review(
    *, user, membership, override_id: int, outcome: str, note: str, now: datetime | None = None
) -> SafeguardingOverride:
    """An IG officer marks an override justified or not, with a note. Not justified ends it at
    once if it is still running. Nobody reviews their own."""
    now = now or timezone.now()
    override = override_for_ig(membership=membership, override_id=override_id)
    problems: dict[str, str] = {}
    if override.review != ReviewOutcome.AWAITING:
        problems[""] = "This override has already been reviewed."
    elif override.user_id == user.pk:
        problems[""] = "Another IG officer must review your own override."
    if outcome not in (ReviewOutcome.JUSTIFIED, ReviewOutcome.NOT_JUSTIFIED):
        problems["outcome"] = "Choose justified or not justified."
    text_problems(
        problems,
        "note",
        note,
        what="note",
        shown=shown_to(
            user=user, membership=membership, person=override.person, purpose=Purpose.SAFEGUARDING
        ),
        minimum=MIN_REVIEW_NOTE,
        required_message="Write a note saying why, for the practitioner and the audit.",
    )
    if problems:
        raise ConsentError(problems)
    with transaction.atomic():
        changes = {
            "review": outcome,
            "reviewed_by": user,
            "reviewed_at": now,
            "review_note": note.strip(),
        }
        updated = SafeguardingOverride.objects.filter(
            pk=override.pk, review=ReviewOutcome.AWAITING
        ).update(**changes)
        if not updated:
            raise ConsentError({"": "This override has already been reviewed."})
        # The other reviewers' "to review" notices are settled too: the work is done.
        notices_settle(
            kind=NotificationKind.OVERRIDE_TO_REVIEW,
            link=reverse("consent:override_detail", args=[override.pk]),
        )
        if outcome == ReviewOutcome.NOT_JUSTIFIED:
            SafeguardingOverride.objects.filter(
                pk=override.pk, ended_at__isnull=True, expires_at__gt=now
            ).update(ended_at=now, ended_by=user)
        override.refresh_from_db()
        notify(
            recipients=[override.user],
            kind=NotificationKind.OVERRIDE_REVIEWED,
            message=(
                f"An IG officer reviewed your safeguarding override for person "
                f"{override.person.reference}: {override.get_review_display().lower()}."
            ),
            link=reverse("consent:override_detail", args=[override.pk]),
        )
    return override


def overrides_expire(*, now: datetime | None = None) -> int:
    """Announce each override whose time ran out, once; returns how many. For the periodic
    task: the engine already stopped honouring them at `expires_at`."""
    now = now or timezone.now()
    due = list(
        SafeguardingOverride.objects.filter(
            expires_at__lte=now, expiry_noted_at__isnull=True
        ).select_related("user", "person")
    )
    announced = 0
    for override in due:
        with transaction.atomic():
            claimed = SafeguardingOverride.objects.filter(
                pk=override.pk, expiry_noted_at__isnull=True
            ).update(expiry_noted_at=now)
            if not claimed:
                continue
            announced += 1
            if override.ended_at is not None:
                continue  # ended early; the practitioner knows
            notify(
                recipients=[override.user],
                kind=NotificationKind.OVERRIDE_ENDED,
                message=(
                    f"Your safeguarding override for person {override.person.reference} has "
                    "ended; the withheld records are withheld again."
                ),
                link=reverse("consent:override_detail", args=[override.pk]),
            )
    return announced
