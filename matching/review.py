"""The review queue: pairs of records linkage was not sure of, decided by people.

A decision is a constraint on linkage, not an edit of persons: "same person" makes the pair a
must-link and "different people" a cannot-link, and a linkage run after the decision rebuilds the
persons around them (matching.tasks.relink_after_decision). Every decision is kept
(ReviewDecision, append-only), so a change of mind leaves the first decision on record.
"""

from dataclasses import dataclass, field

from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from agencies.definitions import IDENTIFIER_FIELDS
from agencies.models import SourceRecord
from matching.models import ReviewDecision, ReviewItem
from matching.pseudonymise import identity_open
from matching.tasks import relink_after_decision
from protocols.engine import link_review_identifiers_visible

REVIEW_PERMISSION = "matching.review_links"
DECISIONS = (ReviewItem.Status.CONFIRMED, ReviewItem.Status.REJECTED)
NOTE_MAX_LENGTH = 2000


class ReviewError(Exception):
    """A decision that cannot be taken, with a message saying why and what to do instead.

    `field` names the input at fault ("decision", "note"), or is None when the item's state is.
    Messages never quote a record's identifiers.
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


# --- Who may see what -----------------------------------------------------------------------------


def review_identifiers_visible(user, item: ReviewItem) -> bool:
    """Whether `user` may see the identifiers of the two records of `item`; decided by the
    disclosure engine."""
    return link_review_identifiers_visible(user=user, review_permission=REVIEW_PERMISSION)


def reviewer_grant(*, user) -> bool:
    """Let `user` review links; returns False if they already could."""
    permission = _review_permission()
    if user.user_permissions.filter(pk=permission.pk).exists():
        return False
    user.user_permissions.add(permission)
    return True


def reviewer_revoke(*, user) -> bool:
    """Stop `user` reviewing links; returns False if they could not."""
    permission = _review_permission()
    if not user.user_permissions.filter(pk=permission.pk).exists():
        return False
    user.user_permissions.remove(permission)
    return True


def _review_permission() -> Permission:
    app_label, codename = REVIEW_PERMISSION.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


# --- Reads ----------------------------------------------------------------------------------------


def review_queue() -> QuerySet[ReviewItem]:
    """Open items, most certain first (the ones a reviewer can settle fastest)."""
    return (
        ReviewItem.objects.filter(status=ReviewItem.Status.OPEN)
        .select_related("record_a__dataset__agency", "record_b__dataset__agency")
        .order_by("-score", "pk")
    )


def review_item_get(pk: int) -> ReviewItem | None:
    return (
        ReviewItem.objects.select_related(
            "record_a__dataset__agency",
            "record_b__dataset__agency",
            "record_a__linkage__person",
            "record_b__linkage__person",
            "decided_by",
        )
        .filter(pk=pk)
        .first()
    )


def review_next_open(*, after: ReviewItem) -> ReviewItem | None:
    """The open item a reviewer sees next, once they have decided `after`."""
    return review_queue().exclude(pk=after.pk).first()


@dataclass
class RecordSide:
    """One record of a pair, as a reviewer sees it."""

    record_id: int
    agency_code: str
    agency_name: str
    dataset_name: str
    source_id: str
    is_retired: bool
    person_reference: str | None
    # (label, value) in a fixed order; empty when the viewer may not see identifiers.
    identifiers: list[tuple[str, str]] = field(default_factory=list)


def review_item_sides(item: ReviewItem, *, with_identifiers: bool) -> list[RecordSide]:
    """The two records of `item` side by side. Pass `with_identifiers` only as decided by
    review_identifiers_visible: it opens the records' sealed identities."""
    return [
        _side(record, with_identifiers=with_identifiers)
        for record in (item.record_a, item.record_b)
    ]


def _side(record: SourceRecord, *, with_identifiers: bool) -> RecordSide:
    dataset = record.dataset
    linkage = getattr(record, "linkage", None)
    person = linkage.person if linkage is not None else None
    side = RecordSide(
        record_id=record.pk,
        agency_code=dataset.agency.code,
        agency_name=dataset.agency.name,
        dataset_name=dataset.name,
        source_id=record.source_id,
        is_retired=record.is_retired,
        person_reference=person.reference if person is not None else None,
    )
    if with_identifiers:
        opened = identity_open(
            agency_id=dataset.agency_id,
            dataset_id=dataset.pk,
            source_id=record.source_id,
            blob=bytes(record.identity),
        )
        side.identifiers = _identifier_rows(opened)
    return side


def _identifier_rows(opened: dict) -> list[tuple[str, str]]:
    order = list(IDENTIFIER_FIELDS)
    rows = []
    for name in sorted(opened, key=lambda n: (order.index(n) if n in order else len(order), n)):
        value = opened[name]
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        rows.append((IDENTIFIER_FIELDS.get(name, name), str(value)))
    return rows


def identifier_table(sides: list[RecordSide]) -> list[tuple[str, str, str]]:
    """(label, record A's value, record B's value) for every identifier either record has."""
    first, second = (dict(side.identifiers) for side in sides)
    labels = [label for label, _ in sides[0].identifiers]
    labels += [label for label, _ in sides[1].identifiers if label not in first]
    return [(label, first.get(label, ""), second.get(label, "")) for label in labels]


def review_reasons(item: ReviewItem) -> list[dict]:
    """Each comparison of the pair with its level and weight, strongest evidence first."""
    rows = [
        {
            "name": name,
            "label": reason.get("label", name),
            "level": reason.get("level", ""),
            "weight": float(reason.get("weight", 0.0)),
        }
        for name, reason in (item.comparison or {}).items()
    ]
    return sorted(rows, key=lambda row: -abs(row["weight"]))


def review_history(item: ReviewItem) -> QuerySet[ReviewDecision]:
    return item.decisions.select_related("decided_by").order_by("decided_at", "pk")


# --- Decisions ------------------------------------------------------------------------------------


def review_decide(
    *, item: ReviewItem, user, decision: str, note: str = "", channel: str
) -> ReviewDecision:
    """Record `user`'s decision on `item` and have linkage run again with it.

    Allowed on an open item, or on a decided one as a change of mind (the other decision); a
    withdrawn item (linkage no longer asks) and a repeat of the current decision are refused.
    """
    if decision not in DECISIONS:
        raise ReviewError(
            "Choose confirmed (the same person) or rejected (different people).",
            field="decision",
        )
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise ReviewError(
            f"The note is {len(note):,} characters; shorten it to {NOTE_MAX_LENGTH:,} or fewer.",
            field="note",
        )
    with transaction.atomic():
        # Locked, so a linkage run withdrawing the item or another reviewer deciding it waits.
        current = ReviewItem.objects.select_for_update().get(pk=item.pk)
        if current.status == ReviewItem.Status.WITHDRAWN:
            raise ReviewError(
                "This pair no longer needs a decision: linkage has settled it since it was "
                "queued. Go back to the review queue for the next pair.",
                code="withdrawn",
            )
        if current.status == decision:
            label = ReviewItem.Status(decision).label.lower()
            raise ReviewError(
                f"This pair is already decided as {label}. To change the decision, choose the "
                "other answer.",
                field="decision",
                code="unchanged",
            )
        now = timezone.now()
        current.status = decision
        current.decided_by = user
        current.decided_at = now
        current.decision_note = note
        current.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        recorded = ReviewDecision.objects.create(
            item=current, decision=decision, decided_by=user, note=note, channel=channel
        )
        from audit.models import AuditAction
        from audit.services import audit_record

        audit_record(
            action=AuditAction.REVIEW,
            actor=user,
            channel=channel,
            detail={
                "review_item": current.pk,
                "decision": decision,
                "records": [current.record_a_id, current.record_b_id],
            },
        )
        # robust: the decision stands if the broker is down; any later linkage run applies
        # every decision on record, so nothing is lost but time.
        transaction.on_commit(
            lambda: relink_after_decision.delay(review_item_id=current.pk), robust=True
        )
    item.refresh_from_db()
    return recorded
