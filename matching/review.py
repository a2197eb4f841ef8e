"""The review queue: pairs of records linkage was not sure of, decided by people.

A decision is a constraint on linkage, not an edit of persons: "same person" makes the pair a
must-link and "different people" a cannot-link, and a linkage run after the decision rebuilds the
persons around them (matching.tasks.relink_after_decision). Every decision is kept
(ReviewDecision, append-only), so a change of mind leaves the first decision on record.
"""

from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import Permission
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from agencies.models import Membership, Role, SourceRecord
from matching.challenges import challenges_settle
from matching.models import LinkageRecord, ReviewDecision, ReviewItem
from matching.screening import identifiers_in_text, screen_problem
from matching.tasks import relink_after_decision
from protocols.engine import link_review_identifiers_visible, link_review_identities
from protocols.seals import sealed_q
from sharehub_bridge.definitions import IDENTIFIER_FIELDS
from sharehub_bridge.nicknames import NICKNAMES
from sharehub_bridge.normalise import date_parse, postcode_normalise, text_clean

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
    """Whether `user` may compare the identifiers of the two records of `item`; decided by the
    disclosure engine."""
    return link_review_identifiers_visible(user=user, review_permission=REVIEW_PERMISSION)


def review_item_readable(user, membership: Membership | None, item: ReviewItem) -> bool:
    """Whether a reviewer may open `item`. An open pair is any reviewer's to settle; once
    decided, the pair (and the evidence that someone judged it) stays with those who decided it
    and with IG officers, who answer for the decisions. Callers have already checked the review
    permission."""
    sealed = _sealed_from(membership)
    if sealed is not None and ReviewItem.objects.filter(sealed, pk=item.pk).exists():
        return False
    # A reported pair is a question again (matching.challenges), in every reviewer's queue.
    if item.reported_at is not None:
        return True
    decided = item.status in DECISIONS or item.decided_by_id is not None
    if not decided and not item.decisions.exists():
        return True
    if membership is not None and membership.role == Role.IG_OFFICER:
        return True
    return item.decided_by_id == user.pk or item.decisions.filter(decided_by=user).exists()


def review_read_audit(
    *, user, membership: Membership | None, item: ReviewItem, channel: str, outcome: str = "ok"
) -> None:
    """One audit entry for a read of `item` (or a refused one): ids only, no identifier."""
    from audit.models import AuditAction
    from audit.services import audit_record

    audit_record(
        action=AuditAction.REVIEW_READ,
        actor=user,
        membership=membership,
        channel=channel,
        detail={"review_item": item.pk, "records": [item.record_a_id, item.record_b_id]},
        outcome=outcome,
    )


def explain_read_audit(*, user, membership: Membership | None, person, channel: str) -> None:
    """One audit entry for a read of how linkage built `person`: the person's reference and
    the ids of the records shown, no identifier."""
    from audit.models import AuditAction
    from audit.services import audit_record

    records = list(
        LinkageRecord.objects.filter(person__reference=person.reference)
        .order_by("record_id")
        .values_list("record_id", flat=True)
    )
    audit_record(
        action=AuditAction.REVIEW_READ,
        actor=user,
        membership=membership,
        channel=channel,
        person=person,
        detail={"explain": True, "records": records},
    )


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


def review_queue(membership: Membership | None = None) -> QuerySet[ReviewItem]:
    """Pairs a practitioner reported first, the longest waiting first (a person is waiting on
    the answer, and may be looking at the wrong child's history meanwhile), decided ones too;
    then open items, most certain first (the ones a reviewer can settle fastest). A reviewer
    acting for an agency never sees a pair with another agency's sealed record in it."""
    queue = ReviewItem.objects.filter(
        Q(status=ReviewItem.Status.OPEN) | Q(reported_at__isnull=False)
    )
    sealed = _sealed_from(membership)
    if sealed is not None:
        queue = queue.exclude(sealed)
    return queue.select_related("record_a__dataset__agency", "record_b__dataset__agency").order_by(
        F("reported_at").asc(nulls_last=True), "-score", "pk"
    )


def _sealed_from(membership: Membership | None) -> Q | None:
    """Pairs holding a record sealed from the reviewer's agency (protocols.seals): a sealed
    record is not shown to another agency even as a pair to judge. Reviewers acting for no
    agency (platform admins, who keep linkage right for everyone) see every pair."""
    agency_id = membership.agency_id if membership is not None else None
    if agency_id is None:
        return None
    today = timezone.localdate()
    return Q(
        ~Q(record_a__dataset__agency_id=agency_id),
        sealed_q(today=today, record="record_a_id", dataset="record_a__dataset_id"),
    ) | Q(
        ~Q(record_b__dataset__agency_id=agency_id),
        sealed_q(today=today, record="record_b_id", dataset="record_b__dataset_id"),
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


def review_next_open(
    *, after: ReviewItem, membership: Membership | None = None
) -> ReviewItem | None:
    """The open item a reviewer sees next, once they have decided `after`."""
    return review_queue(membership).exclude(pk=after.pk).first()


@dataclass
class RecordSide:
    """One record of a pair, as a reviewer sees it: where it comes from, never who it names."""

    record_id: int
    agency_code: str
    agency_name: str
    dataset_name: str
    source_id: str
    is_retired: bool
    person_reference: str | None


def review_item_sides(item: ReviewItem) -> list[RecordSide]:
    """The two records of `item` side by side."""
    return [_side(record) for record in (item.record_a, item.record_b)]


def _side(record: SourceRecord) -> RecordSide:
    dataset = record.dataset
    linkage = getattr(record, "linkage", None)
    person = linkage.person if linkage is not None else None
    return RecordSide(
        record_id=record.pk,
        agency_code=dataset.agency.code,
        agency_name=dataset.agency.name,
        dataset_name=dataset.name,
        source_id=record.source_id,
        is_retired=record.is_retired,
        person_reference=person.reference if person is not None else None,
    )


# --- Comparing identifiers ------------------------------------------------------------------------

SAME = "same"
DIFFERENT = "different"
FIRST_ONLY = "first_only"
SECOND_ONLY = "second_only"
AGREEMENT_TEXT = {
    SAME: "Same on both records",
    DIFFERENT: "Different",
    FIRST_ONLY: "Only on the first record",
    SECOND_ONLY: "Only on the second record",
}
_NAMES = {"forename", "surname", "other_names"}
_CODES = {"nhs_number", "upn", "pnc_id", "local_id"}


@dataclass(frozen=True)
class IdentifierComparison:
    """Whether one identifier agrees between the two records, and how it differs, in words.

    A reviewer needs "the same date of birth" or "day and month swapped" to judge a pair, not
    the date: values are never carried here, so no page or answer built from it can show one.
    """

    name: str
    label: str
    agreement: str
    how: str = ""

    @property
    def agreement_text(self) -> str:
        return AGREEMENT_TEXT[self.agreement]


def identifier_comparison(user, item: ReviewItem) -> list[IdentifierComparison] | None:
    """How each identifier of `item`'s two records compares, in the order of IDENTIFIER_FIELDS,
    or None when the engine does not let `user` compare them."""
    opened = link_review_identities(
        user=user, review_permission=REVIEW_PERMISSION, records=(item.record_a, item.record_b)
    )
    if opened is None:
        return None
    first, second = opened
    order = list(IDENTIFIER_FIELDS)
    names = sorted(
        set(first) | set(second), key=lambda n: (order.index(n) if n in order else len(order), n)
    )
    rows = []
    for name in names:
        a, b = _comparable(name, first.get(name)), _comparable(name, second.get(name))
        if not a and not b:
            continue
        label = IDENTIFIER_FIELDS.get(name, name)
        if a and not b:
            rows.append(IdentifierComparison(name, label, FIRST_ONLY))
        elif b and not a:
            rows.append(IdentifierComparison(name, label, SECOND_ONLY))
        elif a == b:
            rows.append(IdentifierComparison(name, label, SAME))
        else:
            rows.append(IdentifierComparison(name, label, DIFFERENT, _how_different(name, a, b)))
    del first, second, opened
    return rows


def _comparable(name: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value if v)
    text = text_clean(str(value))
    if name == "date_of_birth":
        parsed = date_parse(text)
        return parsed.isoformat() if parsed else text
    if name == "postcode":
        return postcode_normalise(text)
    if name in _CODES:
        return "".join(ch for ch in text.upper() if ch.isalnum())
    return text.casefold()


def _how_different(name: str, a: str, b: str) -> str:
    if name == "date_of_birth":
        return _dates_differ(a, b)
    if name == "postcode":
        return _postcodes_differ(a, b)
    if name in _CODES:
        return _codes_differ(a, b)
    if name in _NAMES:
        return _names_differ(a, b)
    if name == "address":
        shared = set(a.split()) & set(b.split())
        longest = max(len(a.split()), len(b.split()))
        return f"{len(shared)} of {longest} words in common" if shared else "No word in common"
    return ""


def _dates_differ(a: str, b: str) -> str:
    try:
        first, second = date.fromisoformat(a), date.fromisoformat(b)
    except ValueError:
        return "Not both readable as dates"
    if first.year == second.year and (first.day, first.month) == (second.month, second.day):
        return "Day and month swapped"
    parts = (
        ("year", first.year == second.year),
        ("month", first.month == second.month),
        ("day", first.day == second.day),
    )
    same = [part for part, equal in parts if equal]
    differ = [part for part, equal in parts if not equal]
    text = " and ".join(differ) + (" differ" if len(differ) > 1 else " differs")
    if first.year != second.year:
        gap = abs(first.year - second.year)
        text += f" (years {gap} apart)"
    return (f"Same {' and '.join(same)}; " if same else "") + text


def _postcodes_differ(a: str, b: str) -> str:
    outward_a, _, inward_a = a.partition(" ")
    outward_b, _, inward_b = b.partition(" ")
    if not inward_a or not inward_b:
        return "Not both complete postcodes"
    if outward_a == outward_b:
        if inward_a[0] == inward_b[0]:
            return "Same district and sector, different street"
        return "Same district, different sector"
    area_a = "".join(ch for ch in outward_a if ch.isalpha())
    area_b = "".join(ch for ch in outward_b if ch.isalpha())
    if area_a == area_b:
        return "Same area, different district"
    return "Different area"


def _codes_differ(a: str, b: str) -> str:
    if len(a) != len(b):
        return "Different lengths"
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(differ) == 2 and differ[1] == differ[0] + 1 and a[differ[0]] == b[differ[1]]:
        if a[differ[1]] == b[differ[0]]:
            return "Two neighbouring characters swapped"
    if len(differ) <= 2:
        return f"{len(differ)} character{'s' if len(differ) > 1 else ''} different"
    return f"{len(differ)} of {len(a)} characters different"


def _names_differ(a: str, b: str) -> str:
    if (
        b in NICKNAMES.get(a, ())
        or a in NICKNAMES.get(b, ())
        or set(NICKNAMES.get(a, ())) & set(NICKNAMES.get(b, ()))
    ):
        return "Different, but a known short form of the same name"
    if min(len(a), len(b)) == 1 and a[0] == b[0]:
        return "One is the other's initial"
    if a.startswith(b) or b.startswith(a):
        return "One is the start of the other"
    if set(a.split()) & set(b.split()):
        return "Some names in common"
    distance = _edit_distance(a, b)
    if distance <= 2:
        return f"Spelt alike ({distance} letter{'s' if distance > 1 else ''} different)"
    if a[0] == b[0]:
        return "Different, with the same first letter"
    return "Different"


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


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
    withdrawn item (linkage no longer asks) and a repeat of the current decision are refused,
    except on a pair a practitioner reported, where repeating it upholds the decision. Every
    report waiting on the pair is settled with the decision, and its reporter told.
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
    # By shape only (NHS numbers, postcodes, ...): a reviewer is shown whether identifiers
    # agree, never their values, so there is nobody's value to judge the note against, and
    # judging it against the pair's would tell the reviewer them.
    if kinds := identifiers_in_text(note):
        raise ReviewError(screen_problem(kinds, what="note"), field="note")
    with transaction.atomic():
        # Locked, so a linkage run withdrawing the item or another reviewer deciding it waits.
        current = ReviewItem.objects.select_for_update().get(pk=item.pk)
        if current.status == ReviewItem.Status.WITHDRAWN:
            raise ReviewError(
                "This pair no longer needs a decision: linkage has settled it since it was "
                "queued. Go back to the review queue for the next pair.",
                code="withdrawn",
            )
        if current.status == decision and current.reported_at is None:
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
        reports = challenges_settle(item=current, decision=decision, at=now)
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
                **({"link_reports": reports} if reports else {}),
            },
        )
        # robust: the decision stands if the broker is down; any later linkage run applies
        # every decision on record, so nothing is lost but time.
        transaction.on_commit(
            lambda: relink_after_decision.delay(review_item_id=current.pk), robust=True
        )
    item.refresh_from_db()
    return recorded
