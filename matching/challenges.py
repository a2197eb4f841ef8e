"""Practitioners' reports that linkage got a person wrong ("Not the same person").

From a case summary a practitioner reports a record that is not this person's (a wrong link), or
a member of the household who is this same person (a missed link), and says why. The report
becomes a question for a link reviewer about one pair of records, at the top of the review queue
(matching.review.review_queue): for a wrong link, the record and the record linkage joined it
through (or, failing that, the other record of the person most like it); for a missed link, a
record of each person, their most alike. The reviewer decides the pair as any other, and the
decision binds every linkage run from the one it starts: "different people" keeps the two records
apart, "same person" joins them.

Who may report what is the disclosure engine's to say: a record it shows the reporter, a household
member it lets them see. Anything else answers as a person who does not exist. While a report
waits, everyone shown the record, or both people, is warned (open_challenges_for); the link
reviewer is never told who reported or from which agency, nor the time of day (the reporter's own
agency's IG officers see the report in their audit), and the reporter is told the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from agencies.models import Membership, Role
from matching import scoring
from matching.candidates import pair_levels
from matching.model import model_current
from matching.models import LinkageRecord, LinkChallenge, Person, RecordApart, ReviewItem
from matching.screening import identifiers_in_text, screen_problem
from matching.tokens import keys_from_packed
from protocols.engine import PersonView, RecordView, disclose, identifiers_shown

MIN_REASON = 20
MAX_REASON = 2000
# Each side's records compared to find the most alike pair, newest first: a person with years
# of incident records still costs a few hundred thousand comparisons at most.
MAX_RECORDS_COMPARED = 500


class ChallengeNotFound(Exception):
    """The person, record or household member is not one the user may report on: answer 404,
    as for one that does not exist."""


class ChallengeError(Exception):
    """A report that cannot be taken, with what to do about it. `field` is the input at fault
    ("reason"), or None when it is the report itself (already made, nothing to report). Messages
    never quote what was typed."""

    def __init__(self, message: str, *, field: str | None = "reason") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- What may be reported -------------------------------------------------------------------------


@dataclass
class ReportTarget:
    """What a practitioner is about to report, as the engine lets them see it."""

    kind: str
    person: Person
    purpose: str
    # WRONG: the record, as the reporter's case summary shows it (agency, dataset, event date).
    record: RecordView | None = None
    # MISSED: the household member said to be the same person.
    other: Person | None = None
    # The reporter's own report of the same thing, still waiting, if there is one.
    already: LinkChallenge | None = None

    @property
    def record_id(self) -> int | None:
        return self.record.record_id if self.record is not None else None


def report_target(
    *,
    user,
    membership: Membership | None,
    person: Person,
    purpose: str,
    channel: str,
    record_id: int | None = None,
    other: Person | None = None,
) -> ReportTarget:
    """What `user` may report from `person`'s case summary: the record `record_id` (a wrong
    link) or the household member `other` (a missed one). Raises ChallengeNotFound, audited,
    for a practitioner the engine does not show them to, as the summary would answer."""
    kind = LinkChallenge.Kind.WRONG if other is None else LinkChallenge.Kind.MISSED
    if membership is None or membership.role != Role.PRACTITIONER or not person.is_active:
        raise ChallengeNotFound()
    persons = [person] if other is None else [person, other]
    views = disclose(
        user=user, membership=membership, persons=persons, purpose=purpose, now=timezone.now()
    )
    view = views.get(person.pk)
    target = ReportTarget(kind=kind, person=person, purpose=purpose)
    if view is not None and other is None:
        target.record = next((r for r in view.records if r.record_id == record_id), None)
        if target.record is not None and not records_reportable(view):
            target.record = None
    elif view is not None and other is not None:
        in_household = (
            other.pk != person.pk
            and other.is_active
            and person.household_id is not None
            and other.household_id == person.household_id
        )
        target.other = other if in_household and other.pk in views else None
    if target.record is None and target.other is None:
        _denied_audit(
            user=user,
            membership=membership,
            person=person,
            purpose=purpose,
            channel=channel,
            kind=kind,
            record_id=record_id,
            other=other,
        )
        raise ChallengeNotFound()
    target.already = _open_report_of(user, target)
    return target


def records_reportable(view: PersonView) -> bool:
    """Whether a reader may report records of the person in `view` as not theirs: only when
    they know of at least two of the person's records (shown, or counted as "known to"). With
    one, there is no link they can see to report, and answering whether the person holds others
    would tell them of records their protocols do not cover. For the case summary, to offer the
    report link only where it leads somewhere."""
    return sum(involvement.records for involvement in view.involvements) >= 2


def _open_report_of(user, target: ReportTarget) -> LinkChallenge | None:
    reports = LinkChallenge.objects.filter(
        reported_by=user, kind=target.kind, status=LinkChallenge.Status.OPEN
    )
    if target.kind == LinkChallenge.Kind.WRONG:
        reports = reports.filter(record_id=target.record_id)
    elif target.other is not None:
        pair = {target.person.pk, target.other.pk}
        reports = reports.filter(person_id__in=pair, other_person_id__in=pair)
    return reports.order_by("pk").first()


def _denied_audit(*, user, membership, person, purpose, channel, kind, record_id, other) -> None:
    from audit.models import AuditAction
    from audit.services import audit_record

    detail: dict = {"kind": kind}
    if record_id is not None:
        detail["record"] = record_id
    if other is not None:
        detail["other_person"] = other.reference
    audit_record(
        action=AuditAction.LINK_REPORT,
        actor=user,
        membership=membership,
        channel=channel,
        purpose=purpose,
        person=person,
        detail=detail,
        outcome="not_found",
    )


# --- Reporting ------------------------------------------------------------------------------------


def link_report(
    *,
    user,
    membership: Membership | None,
    person: Person,
    purpose: str,
    reason: str,
    channel: str,
    record_id: int | None = None,
    other: Person | None = None,
) -> LinkChallenge:
    """Report that the record `record_id` is not `person` (a wrong link), or that the household
    member `other` is `person` (a missed one), because of `reason`.

    Puts the pair in question at the top of the review queue, reusing the pair's review item if
    linkage or an earlier report made one: an open item is marked reported, a withdrawn one is
    opened again, a decided one keeps its decision (which goes on binding linkage) until a
    reviewer upholds or changes it. Audited. Raises ChallengeNotFound as report_target does,
    and ChallengeError for a reason that will not do or a report already waiting.
    """
    target = report_target(
        user=user,
        membership=membership,
        person=person,
        purpose=purpose,
        channel=channel,
        record_id=record_id,
        other=other,
    )
    if target.already is not None:
        raise ChallengeError(_already_text(target.kind), field=None)
    reason = _reason_checked(reason, user=user, membership=membership, target=target)
    if target.other is None:
        pair = _pair_for_wrong_link(person, target.record_id or 0)
    else:
        pair = _pair_for_missed_link(person, target.other)
    if pair is None:
        raise ChallengeError(
            "There is no link to report on this record. Go back to the case summary.", field=None
        )
    from audit.models import AuditAction
    from audit.services import audit_record

    try:
        with transaction.atomic():
            item = _item_reported(pair)
            challenge = LinkChallenge.objects.create(
                kind=target.kind,
                item=item,
                record_id=target.record_id,
                person=person,
                other_person=target.other,
                reason=reason,
                purpose=purpose,
                reported_by=user,
            )
            detail: dict = {
                "link_report": challenge.pk,
                "kind": target.kind,
                "review_item": item.pk,
                "records": [item.record_a_id, item.record_b_id],
            }
            if target.record_id is not None:
                detail["record"] = target.record_id
            if target.other is not None:
                detail["other_person"] = target.other.reference
            audit_record(
                action=AuditAction.LINK_REPORT,
                actor=user,
                membership=membership,
                channel=channel,
                purpose=purpose,
                person=person,
                detail=detail,
            )
    except IntegrityError:
        # The same reporter's report of the same pair, sent twice at once (or from a record of
        # the other person): the first stands.
        raise ChallengeError(_already_text(target.kind), field=None) from None
    return challenge


def _already_text(kind: str) -> str:
    what = "this record" if kind == LinkChallenge.Kind.WRONG else "these two people"
    return (
        f"You have already reported {what}. A link reviewer will look at your report, and you "
        "will get a notification when they decide."
    )


def _reason_checked(reason: str, *, user, membership, target: ReportTarget) -> str:
    text = (reason or "").strip()
    if not text:
        if target.kind == LinkChallenge.Kind.WRONG:
            raise ChallengeError("Enter why the record is not this person's")
        raise ChallengeError("Enter why they are the same person")
    if len(text) < MIN_REASON:
        raise ChallengeError(f"Your reason must be {MIN_REASON} characters or more")
    if len(text) > MAX_REASON:
        raise ChallengeError(f"Your reason must be {MAX_REASON:,} characters or fewer")
    # Judged against the identifiers the reporter is shown of the person, or the two people, the
    # report is about, and no others (matching.screening). A withheld date of birth would be
    # confirmed by a refusal; so would a withheld surname, by the refusal a household member's
    # shown surname gets when the family shares it: on the page of someone shown as "Name not
    # shared" it reads as "that is their surname". Shapes (NHS numbers, postcodes, phones,
    # emails) are refused whoever they belong to.
    persons = [target.person] if target.other is None else [target.person, target.other]
    shown = identifiers_shown(
        user=user,
        membership=membership,
        person_ids=[p.pk for p in persons],
        purpose=target.purpose,
        now=timezone.now(),
    )
    if kinds := identifiers_in_text(text, shown=shown):
        raise ChallengeError(screen_problem(kinds, what="reason"))
    return text


# --- Which pair -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pair:
    first: int
    second: int
    weight: float
    levels: np.ndarray
    parameters: scoring.Parameters | None


def _live_records(person: Person) -> list[int]:
    return list(
        LinkageRecord.objects.filter(person=person, record__is_retired=False)
        .order_by("-record_id")
        .values_list("record_id", flat=True)[:MAX_RECORDS_COMPARED]
    )


def _pair_for_wrong_link(person: Person, record_id: int) -> _Pair | None:
    """The record and the record linkage joined it to the person through, when that is still
    one of the person's; else the person's other record most like it. A "different people" on
    this pair is what keeps the record from the person on the next run."""
    linked_with = (
        LinkageRecord.objects.filter(record_id=record_id, person=person)
        .values_list("linked_with_id", flat=True)
        .first()
    )
    # Asked directly, not among the newest records compared: the partner that holds the record
    # in the person may be older than any of them.
    if (
        linked_with is not None
        and linked_with != record_id
        and LinkageRecord.objects.filter(
            record_id=linked_with, person=person, record__is_retired=False
        ).exists()
    ):
        return _most_alike([record_id], [linked_with])
    others = [r for r in _live_records(person) if r != record_id]
    if not others:
        return None
    return _most_alike([record_id], others)


def _pair_for_missed_link(person: Person, other: Person) -> _Pair | None:
    """A record of each person, their most alike: the pair a "same person" joins them by."""
    mine, theirs = _live_records(person), _live_records(other)
    if not mine or not theirs:
        return None
    return _most_alike(mine, theirs)


def _most_alike(firsts: list[int], seconds: list[int]) -> _Pair | None:
    """Of every pair of a record in `firsts` and one in `seconds`, the one the linkage model in
    use weighs highest (ties to the lowest record ids, so the same people give the same pair),
    with its comparison levels. Scored from the records' keyed tokens, as linkage scores them,
    without the population's name frequencies (which need every record loaded)."""
    rows = list(
        LinkageRecord.objects.filter(record_id__in=set(firsts) | set(seconds))
        .order_by("record_id")
        .values_list("record_id", "keys")
    )
    position = {record_id: index for index, (record_id, _) in enumerate(rows)}
    pairs = [(a, b) for a in firsts for b in seconds if a != b and a in position and b in position]
    if not pairs:
        return None
    keys = keys_from_packed(b"".join(bytes(blob) for _, blob in rows))
    left = np.array([position[a] for a, _ in pairs], dtype=np.int64)
    right = np.array([position[b] for _, b in pairs], dtype=np.int64)
    levels = pair_levels(keys, left, right)
    _, parameters = model_current()
    weights = (
        scoring.match_weights(levels, parameters)
        if parameters is not None
        else np.zeros(len(pairs))
    )
    best = min(
        range(len(pairs)),
        key=lambda i: (-float(weights[i]), min(pairs[i]), max(pairs[i])),
    )
    first, second = sorted(pairs[best])
    return _Pair(first, second, float(weights[best]), levels[best], parameters)


def _item_reported(pair: _Pair) -> ReviewItem:
    """The pair's review item, made or reused, marked reported. In the caller's transaction."""
    now = timezone.now()
    scored = {
        "score": pair.weight,
        "probability": float(scoring.probability(np.array([pair.weight]))[0]),
        "comparison": (
            scoring.reasons(pair.levels, pair.parameters) if pair.parameters is not None else {}
        ),
        "why": scoring.uncertain_because(pair.levels),
    }
    # Locked, so a reviewer deciding the pair or a linkage run withdrawing it waits for this.
    item = (
        ReviewItem.objects.select_for_update()
        .filter(record_a_id=pair.first, record_b_id=pair.second)
        .first()
    )
    if item is None:
        try:
            with transaction.atomic():
                return ReviewItem.objects.create(
                    record_a_id=pair.first,
                    record_b_id=pair.second,
                    reason=ReviewItem.Reason.REPORTED,
                    reported_at=now,
                    **scored,
                )
        except IntegrityError:  # a linkage run queued the pair meanwhile
            item = ReviewItem.objects.select_for_update().get(
                record_a_id=pair.first, record_b_id=pair.second
            )
    changes: dict = {"reason": ReviewItem.Reason.REPORTED}
    if item.reported_at is None:
        changes["reported_at"] = now
    if item.status == ReviewItem.Status.WITHDRAWN:
        # Linkage had stopped asking; a person asks now, with today's comparison.
        changes.update(status=ReviewItem.Status.OPEN, **scored)
    # A decided pair keeps its decision, and linkage keeps applying it, until a reviewer upholds
    # or changes it: a report is a question, not an answer.
    ReviewItem.objects.filter(pk=item.pk).update(**changes)
    item.refresh_from_db()
    return item


# --- Decisions ------------------------------------------------------------------------------------


def challenges_settle(*, item: ReviewItem, decision: str, at: datetime) -> int:
    """Close the reports waiting on `item` with the reviewer's `decision`, and tell each reporter
    the outcome. Called by matching.review.review_decide, in its transaction. Returns how many."""
    from notifications.models import NotificationKind
    from notifications.services import notify

    waiting = list(
        LinkChallenge.objects.filter(item=item, status=LinkChallenge.Status.OPEN)
        .select_related("person", "other_person", "reported_by")
        .order_by("pk")
    )
    LinkChallenge.objects.filter(pk__in=[c.pk for c in waiting]).update(
        status=LinkChallenge.Status.DECIDED, outcome=decision, decided_at=at
    )
    ReviewItem.objects.filter(pk=item.pk).update(reported_at=None)
    _records_apart_keep(item=item, decision=decision)
    for challenge in waiting:
        notify(
            recipients=[challenge.reported_by],
            kind=NotificationKind.LINK_REPORT_DECIDED,
            message=outcome_text(challenge, decision),
            link=reverse("matching:challenge_detail", args=[challenge.pk]),
        )
    return len(waiting)


def _records_apart_keep(*, item: ReviewItem, decision: str) -> None:
    """Hold each record reported on `item` as a wrong link apart from every other record of the
    person it sits in now, on "different people"; let it go back on "same person" (a change of
    mind). A rejection upheld keeps the records it was first held apart from: by then the record
    sits in a person of its own."""
    reported = set(
        LinkChallenge.objects.filter(item=item, kind=LinkChallenge.Kind.WRONG).values_list(
            "record_id", flat=True
        )
    ) & {item.record_a_id, item.record_b_id}
    if decision != ReviewItem.Status.REJECTED:
        RecordApart.objects.filter(item=item).delete()
        return
    held = set(RecordApart.objects.filter(item=item).values_list("record_id", flat=True))
    rows = []
    for record_id in sorted(reported - held):
        person_id = (
            LinkageRecord.objects.filter(record_id=record_id)
            .values_list("person_id", flat=True)
            .first()
        )
        if person_id is None:
            continue
        others = (
            LinkageRecord.objects.filter(person_id=person_id, record__is_retired=False)
            .exclude(record_id=record_id)
            .values_list("record_id", flat=True)
        )
        rows += [RecordApart(item=item, record_id=record_id, other_id=o) for o in others]
    RecordApart.objects.bulk_create(rows, batch_size=2_000, ignore_conflicts=True)


def outcome_text(challenge: LinkChallenge, decision: str) -> str:
    """What the reporter is told: the person's ShareHub reference and the answer, nothing about
    the records, the reviewer or any identifier."""
    person = challenge.person.reference
    agreed = (challenge.kind == LinkChallenge.Kind.WRONG) == (
        decision == ReviewItem.Status.REJECTED
    )
    if challenge.kind == LinkChallenge.Kind.WRONG:
        if agreed:
            return (
                f"A link reviewer agreed with your report on person {person}: the record you "
                "reported is not this person's. It is taken out of this person's records by a "
                "linkage run started with the decision, and kept apart from them on every run "
                "after; their other records stay together."
            )
        return (
            f"A link reviewer checked your report on person {person} and found that the record "
            "you reported is this person's. It stays linked to them."
        )
    other = challenge.other_person.reference if challenge.other_person else "you named"
    if agreed:
        return (
            f"A link reviewer agreed with your report on person {person}: they are the same "
            f"person as person {other}. The records are being linked again to join them."
        )
    return (
        f"A link reviewer checked your report on person {person} and found that they are not "
        f"the same person as person {other}. They stay apart."
    )


# --- Reads ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeNotice:
    """A warning that a report on a record, or between two people, waits for a reviewer. Says
    when and what was reported; never who reported or from which agency."""

    kind: str
    reported_on: date
    yours: bool = False
    # MISSED: the other person's reference (shown to the reader: both are on their page).
    other_reference: str = ""

    @property
    def text(self) -> str:
        day = f"{self.reported_on.day} {self.reported_on:%B %Y}"
        if self.kind == LinkChallenge.Kind.WRONG:
            said = (
                f"You reported on {day} that this record may not be about this person."
                if self.yours
                else f"This record was reported on {day} as possibly not about this person."
            )
            return (
                f"{said} A link reviewer is checking it: until they decide, do not rely on it "
                "being this person's."
            )
        said = (
            f"You reported on {day} that this may be the same person as person "
            f"{self.other_reference}."
            if self.yours
            else f"This person was reported on {day} as possibly the same person as person "
            f"{self.other_reference}."
        )
        return (
            f"{said} A link reviewer is checking it: until they decide, some of this person's "
            "records may be under the other reference."
        )


@dataclass
class ChallengeWarnings:
    """{record id: notice} for wrong links and {person id: notice} for missed ones."""

    records: dict[int, ChallengeNotice] = field(default_factory=dict)
    persons: dict[int, ChallengeNotice] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.records or self.persons)

    def for_record(self, record_id: int) -> ChallengeNotice | None:
        return self.records.get(record_id)

    def for_person(self, person_id: int) -> ChallengeNotice | None:
        return self.persons.get(person_id)


def open_challenges_for(
    *, person_ids: Iterable[int] = (), record_ids: Iterable[int] = (), user=None
) -> ChallengeWarnings:
    """The reports waiting for a reviewer that a page showing `person_ids` and `record_ids`
    should warn of. One query.

    The caller passes only what the reader is shown: the records the disclosure engine showed
    them, and the persons on the page (the person and the household members the engine lets
    them see). A wrong link warns on the record alone. A missed link warns on both persons, and
    only when both are among `person_ids` (found by the records of the pair as linkage holds
    them now), so no one learns of a person the engine does not show them. With `user`, a
    notice says whether the report is theirs. Several reports on one thing: the earliest.
    """
    person_ids = list(dict.fromkeys(person_ids))
    record_ids = list(dict.fromkeys(record_ids))
    warnings = ChallengeWarnings()
    if not person_ids and not record_ids:
        return warnings
    rows = (
        LinkChallenge.objects.filter(status=LinkChallenge.Status.OPEN)
        .filter(
            Q(kind=LinkChallenge.Kind.WRONG, record_id__in=record_ids)
            | Q(
                kind=LinkChallenge.Kind.MISSED,
                item__record_a__linkage__person_id__in=person_ids,
                item__record_b__linkage__person_id__in=person_ids,
            )
        )
        .order_by("reported_at", "pk")
        .values_list(
            "kind",
            "record_id",
            "reported_at",
            "reported_by_id",
            "item__record_a__linkage__person_id",
            "item__record_a__linkage__person__reference",
            "item__record_b__linkage__person_id",
            "item__record_b__linkage__person__reference",
        )
    )
    user_id = user.pk if user is not None and user.is_authenticated else None
    for kind, record_id, at, reporter, first, first_ref, second, second_ref in rows:
        yours = reporter == user_id
        day = timezone.localdate(at)
        if kind == LinkChallenge.Kind.WRONG:
            _keep(warnings.records, record_id, ChallengeNotice(kind, day, yours))
        elif first != second:
            _keep(warnings.persons, first, ChallengeNotice(kind, day, yours, second_ref))
            _keep(warnings.persons, second, ChallengeNotice(kind, day, yours, first_ref))
    return warnings


def _keep(notices: dict, key: int, notice: ChallengeNotice) -> None:
    """The earliest report stands for all (rows come oldest first); yours if any is."""
    earlier = notices.get(key)
    if earlier is None:
        notices[key] = notice
    elif notice.yours and not earlier.yours:
        notices[key] = ChallengeNotice(
            earlier.kind, earlier.reported_on, True, earlier.other_reference
        )


def challenge_of_reporter(*, user, pk: int) -> LinkChallenge | None:
    """A report, for the one who made it; None for anyone else (answer 404)."""
    return (
        LinkChallenge.objects.select_related("person", "other_person")
        .filter(pk=pk, reported_by=user)
        .first()
    )


@dataclass(frozen=True)
class ItemReport:
    """A report on a review item as its reviewer sees it."""

    kind: str
    record_id: int | None
    reason: str
    # The day only: a time to the microsecond would match the report to its audit entry, which
    # names the reporter.
    reported_on: date
    status: str
    outcome: str
    decided_at: datetime | None

    def get_outcome_display(self) -> str:
        return ReviewItem.Status(self.outcome).label if self.outcome else ""


def item_reports(item: ReviewItem) -> list[ItemReport]:
    """Every report on a review item, oldest first, for the reviewer: what was reported, on
    which day and why. Never who reported or from which agency: the reviewer judges the records,
    not the reporter."""
    rows = (
        LinkChallenge.objects.filter(item=item)
        .order_by("reported_at", "pk")
        .values_list(
            "kind", "record_id", "reason", "reported_at", "status", "outcome", "decided_at"
        )
    )
    return [
        ItemReport(kind, record_id, reason, timezone.localdate(at), status, outcome, decided_at)
        for kind, record_id, reason, at, status, outcome, decided_at in rows
    ]


def reported_record_id(item: ReviewItem, reports: list[ItemReport]) -> int | None:
    """The record of `item` a practitioner reported as not the person it sits in, if any: the
    reviewer's question is then whether that record is this person."""
    pair = {item.record_a_id, item.record_b_id}
    return next(
        (
            r.record_id
            for r in reports
            if r.kind == LinkChallenge.Kind.WRONG and r.record_id in pair
        ),
        None,
    )
