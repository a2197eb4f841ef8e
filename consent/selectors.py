"""Reads about consent statements, consent requests and safeguarding overrides: for the pages,
the case summary, and the checks the consent services make before they write.

Nothing here decides what anyone sees of a person: which overrides apply is the disclosure
engine's answer (protocols.engine.overrides_active), asked here, not a second copy of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from agencies.models import Agency, Dataset, Membership, Role
from consent.errors import NotFound
from consent.models import (
    ConsentRecord,
    ConsentRequest,
    ConsentState,
    RequestStatus,
    ReviewOutcome,
    SafeguardingOverride,
)
from core.purpose import Purpose
from matching.models import Person
from matching.persons import persons_merged_into
from protocols.engine import agencies_visible, grants_for, overrides_active
from protocols.models import ConsentFromOthers, ProtocolVersion, VersionStatus
from protocols.summary import person_by_reference


def _open_requests_from(
    *, agency_id: int, person: Person, purpose: str
) -> QuerySet[ConsentRequest]:
    """Open requests the agency's staff sent about the person (or anyone since merged into
    them: a merge says the two were one human all along) for `purpose`."""
    people = [person.pk, *persons_merged_into([person.pk])]
    return ConsentRequest.objects.filter(
        status=RequestStatus.OPEN,
        requester_agency_id=agency_id,
        person_id__in=people,
        purpose=purpose,
    )


def consent_request_open(
    *, membership: Membership | None, person: Person, purpose: str, owner_agency_id: int
) -> ConsentRequest | None:
    """The open request the membership's agency already sent to `owner_agency_id` about the
    person for `purpose`, the oldest if there are several; None if there is none.

    One per agency asked, whoever in the requesting agency sent it: the agency asked records
    the answer as consent about its own records (consent.models.ConsentRecord names agencies,
    not datasets), so a second request, about another of its datasets or from a colleague,
    would only give it a second task for the same conversation with the family.
    """
    if membership is None or membership.agency_id is None:
        return None
    return (
        _open_requests_from(agency_id=membership.agency_id, person=person, purpose=purpose)
        .filter(owner_agency_id=owner_agency_id)
        .select_related("requested_by", "owner_agency", "dataset")
        .order_by("created_at", "pk")
        .first()
    )


def consent_requests_pending(
    *,
    membership: Membership | None,
    person: Person,
    purpose: str,
    dataset_ids: Iterable[int],
) -> dict[int, date]:
    """{dataset id: the day the membership's agency asked}, for those of `dataset_ids` whose
    agency has an open request from the membership's agency about the person for `purpose`
    (consent_request_open): what the case summary says instead of offering to ask again.

    Two queries, one when nobody was merged into the person; none without datasets.
    """
    ids = list(dict.fromkeys(dataset_ids))
    if not ids or membership is None or membership.agency_id is None:
        return {}
    first_asked = (
        _open_requests_from(agency_id=membership.agency_id, person=person, purpose=purpose)
        .filter(owner_agency_id=OuterRef("agency_id"))
        .order_by("created_at", "pk")
        .values("created_at")[:1]
    )
    rows = (
        Dataset.objects.filter(pk__in=ids)
        .annotate(asked=Subquery(first_asked))
        .filter(asked__isnull=False)
        .values_list("pk", "asked")
    )
    return {pk: timezone.localdate(asked) for pk, asked in rows}


def overrides_in_force(
    *, user, membership: Membership | None, person: Person, now: datetime | None = None
) -> list[SafeguardingOverride]:
    """The user's safeguarding overrides for the person that the disclosure engine honours at
    `now`: begun, not ended or expired, made acting in the same agency and role, under a
    protocol version in force that they hold and whose rules give way to one.

    An override the engine no longer honours (its version replaced without carrying it over,
    or the user acting elsewhere) is not "already in force": counting it would refuse a new
    override while showing nothing.
    """
    now = now or timezone.now()
    grants = grants_for(
        user=user,
        membership=membership,
        purpose=Purpose.SAFEGUARDING,
        today=timezone.localdate(now),
    )
    honoured = overrides_active(
        user=user,
        membership=membership,
        person_ids=[person.pk],
        grants=grants,
        purpose=Purpose.SAFEGUARDING,
        now=now,
    )
    if not honoured:
        return []
    return list(
        SafeguardingOverride.objects.filter(pk__in=set(honoured.values()))
        .select_related("protocol", "version", "person")
        .order_by("expires_at", "pk")
    )


def consent_awaiting_many(records: list[ConsentRecord]) -> dict[int, list[Agency]]:
    """{statement id: the agencies whose confirmation it awaits} (see consent_awaiting), for
    many statements in two queries, or none when `records` came with their agencies and
    confirmations prefetched."""
    given = [r for r in records if r.state == ConsentState.GIVEN]
    if not given:
        return {}
    today = timezone.localdate()
    # Versions in force that wait for the owner: a statement's protocol's, or, for a
    # purpose-wide statement, those of its purpose the recording agency is party to.
    waiting = (
        ProtocolVersion.objects.filter(status=VersionStatus.ACTIVE, valid_from__lte=today)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=today))
        .exclude(consent_from_others=ConsentFromOthers.AT_ONCE)
        .values_list("protocol_id", "purpose", "parties")
    )
    protocols, purposes = set(), set()
    for protocol_id, purpose, party in waiting:
        protocols.add(protocol_id)
        purposes.add((purpose, party))
    found = {}
    for record in given:
        waits = (
            record.protocol_id in protocols
            if record.protocol_id is not None
            else (record.purpose, record.recorded_by_agency_id) in purposes
        )
        if not waits:
            continue
        answered = {c.agency_id for c in record.confirmations.all()}
        found[record.pk] = sorted(
            (
                a
                for a in record.agencies.all()
                if a.pk != record.recorded_by_agency_id and a.pk not in answered
            ),
            key=lambda a: a.name,
        )
    return found


def consent_awaiting(record: ConsentRecord) -> list[Agency]:
    """The agencies named by a "given" statement recorded by another agency that have not yet
    answered it, where a protocol it covers waits for the owner's confirmation. For telling
    people; the engine reads the confirmations itself (protocols.engine.consent_standings)."""
    return consent_awaiting_many([record]).get(record.pk, [])


def consent_can_confirm(membership: Membership | None, record: ConsentRecord) -> bool:
    """Whether an IG officer's agency is asked to confirm the statement and has not answered."""
    return (
        membership is not None
        and membership.role == Role.IG_OFFICER
        and any(a.pk == membership.agency_id for a in consent_awaiting(record))
    )


def consent_history(person: Person):
    """Every statement about the person's consent, newest first, including those recorded for
    persons since merged into them."""
    return (
        ConsentRecord.objects.filter(person_id__in=[person.pk, *persons_merged_into([person.pk])])
        .select_related("protocol", "recorded_by", "recorded_by_agency")
        .prefetch_related("agencies", "confirmations")
        .order_by("-recorded_at", "-pk")
    )


def statement_for(*, user, membership, record_id: int) -> ConsentRecord:
    """A consent statement for the IG officers of the agencies it names (told of it when another
    agency records it) and for whoever recorded it; anyone else: not found."""
    found = (
        ConsentRecord.objects.filter(pk=record_id)
        .select_related("person", "protocol", "recorded_by", "recorded_by_agency")
        .prefetch_related("agencies")
        .first()
    )
    if found is None:
        raise NotFound()
    named_ig = (
        membership is not None
        and membership.role == Role.IG_OFFICER
        and any(a.pk == membership.agency_id for a in found.agencies.all())
    )
    if not named_ig and found.recorded_by_id != user.pk:
        raise NotFound()
    return found


def person_or_not_found(reference: str) -> Person:
    """The person with this reference as it stands (an old reference of a merged person is not
    followed here: the pages that act on a person act on its current reference)."""
    person = person_by_reference(reference)
    if person is None or person.reference != reference:
        raise NotFound()
    return person


def requests_received(membership: Membership | None):
    """Requests to the user's agency, for its practitioners and IG officers; else none."""
    if membership is None or membership.role not in (Role.PRACTITIONER, Role.IG_OFFICER):
        return ConsentRequest.objects.none()
    return ConsentRequest.objects.filter(owner_agency_id=membership.agency_id).select_related(
        "person", "requester_agency", "requested_by", "dataset", "protocol"
    )


def work_waiting(membership: Membership | None) -> dict[str, int]:
    """What waits for the user's agency: open consent requests to answer, and (for IG
    officers) overrides to review. For the home pages."""
    waiting = {"requests": requests_received(membership).filter(status=RequestStatus.OPEN).count()}
    if membership is not None and membership.role == Role.IG_OFFICER:
        waiting["overrides"] = (
            overrides_for_ig(membership).filter(review=ReviewOutcome.AWAITING).count()
        )
    return waiting


def requests_sent(user):
    return ConsentRequest.objects.filter(requested_by=user).select_related(
        "person", "owner_agency", "dataset", "protocol"
    )


def consent_request_for(*, user, membership, request_id: int) -> ConsentRequest:
    """A request the user sent or whose agency it was sent to, or one a colleague sent that
    they may know of (request_of_colleague); anything else is not found."""
    received = requests_received(membership).filter(pk=request_id).first()
    if received is not None:
        return received
    sent = requests_sent(user).filter(pk=request_id).first()
    if sent is not None:
        return sent
    colleagues = request_of_colleague(user=user, membership=membership, request_id=request_id)
    if colleagues is None:
        raise NotFound()
    return colleagues


def request_of_colleague(*, user, membership, request_id: int) -> ConsentRequest | None:
    """A request another practitioner of the user's agency sent, for a practitioner the
    disclosure engine shows that the agency asked is involved with the person: where a second
    request is refused, its page says what is already asked and how it stands.

    Only what the request is (who asked whom, when, its status): its reason and the answer's
    note were written for the agency asked and the requester, from what each of them is shown,
    so they are not shown to colleagues (request_is_party)."""
    if membership is None or membership.role != Role.PRACTITIONER or membership.agency_id is None:
        return None
    found = (
        ConsentRequest.objects.filter(pk=request_id, requester_agency_id=membership.agency_id)
        .exclude(requested_by=user)
        .select_related("person", "requester_agency", "requested_by", "owner_agency", "dataset")
        .select_related("protocol")
        .first()
    )
    if found is None:
        return None
    person = person_by_reference(found.person.reference)
    if person is None:
        return None
    visible = agencies_visible(
        user=user,
        membership=membership,
        person_ids=[person.pk],
        purpose=found.purpose,
        now=timezone.now(),
    )
    return found if found.owner_agency_id in visible.get(person.pk, set()) else None


def request_is_party(membership: Membership | None, user, request: ConsentRequest) -> bool:
    """Whether the user sent the request or works in the agency asked: who reads its reason
    and the answer's note."""
    return request.requested_by_id == user.pk or (
        membership is not None and membership.agency_id == request.owner_agency_id
    )


def can_answer(membership: Membership | None, request: ConsentRequest) -> bool:
    return (
        membership is not None
        and membership.role in (Role.PRACTITIONER, Role.IG_OFFICER)
        and membership.agency_id == request.owner_agency_id
        and request.is_open
    )


def owner_references(*, membership, request: ConsentRequest) -> list[tuple[str, str]]:
    """(dataset name, the agency's own record reference) of the owning agency's records of the
    person, so the person answering can find them in their own system. Only the agency's own
    records, only to its own staff, only while the request is theirs to answer."""
    from matching.models import LinkageRecord

    if membership is None or membership.agency_id != request.owner_agency_id:
        return []
    rows = (
        LinkageRecord.objects.filter(
            Q(person_id=request.person_id) | Q(person__merged_into_id=request.person_id),
            agency_id=request.owner_agency_id,
            record__is_retired=False,
        )
        .order_by("record__dataset__name", "record__source_id")
        .values_list("record__dataset__name", "record__source_id")
    )
    return list(rows)


def override_for_user(*, user, membership, override_id: int) -> SafeguardingOverride:
    """An override the user may open: one their agency reviews, as an IG officer, or their own."""
    if membership is not None and membership.role == Role.IG_OFFICER:
        found = overrides_for_ig(membership).filter(pk=override_id).first()
        if found is not None:
            return found
    found = (
        SafeguardingOverride.objects.filter(pk=override_id, user=user)
        .select_related("person", "protocol", "version", "agency", "reviewed_by")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def overrides_for_ig(membership: Membership | None):
    """Overrides an IG officer reviews: by their agency's staff or opening their agency's
    records. None for anyone else."""
    if membership is None or membership.role != Role.IG_OFFICER or membership.agency_id is None:
        return SafeguardingOverride.objects.none()
    ids = SafeguardingOverride.objects.filter(
        Q(agency_id=membership.agency_id) | Q(agencies=membership.agency_id)
    ).values("pk")
    return SafeguardingOverride.objects.filter(pk__in=ids).select_related(
        "user", "agency", "person", "protocol", "version", "reviewed_by"
    )


def override_history(override: SafeguardingOverride) -> list:
    """Its steps from version to version of its protocol (consent.carry_over), oldest first:
    for the override's page, which says where it was carried and why it ended."""
    return list(
        override.carry_overs.select_related("from_version", "to_version").order_by("at", "pk")
    )


def override_for_ig(*, membership, override_id: int) -> SafeguardingOverride:
    override = overrides_for_ig(membership).filter(pk=override_id).first()
    if override is None:
        raise NotFound()
    return override


@dataclass
class UserOverrides:
    user: User
    total: int
    active: int
    awaiting: int
    not_justified: int
    latest: datetime


def overrides_per_user(membership: Membership | None, *, since: datetime) -> list[UserOverrides]:
    """For an IG officer: each of their agency's staff who overrode since `since`, with counts."""
    if membership is None or membership.role != Role.IG_OFFICER or membership.agency_id is None:
        return []
    now = timezone.now()
    rows: dict[int, UserOverrides] = {}
    for override in SafeguardingOverride.objects.filter(
        agency_id=membership.agency_id, started_at__gte=since
    ).select_related("user"):
        entry = rows.get(override.user_id)
        if entry is None:
            entry = rows[override.user_id] = UserOverrides(
                override.user, 0, 0, 0, 0, override.started_at
            )
        entry.total += 1
        entry.active += override.active_at(now)
        entry.awaiting += override.review == ReviewOutcome.AWAITING
        entry.not_justified += override.review == ReviewOutcome.NOT_JUSTIFIED
        entry.latest = max(entry.latest, override.started_at)
    return sorted(rows.values(), key=lambda r: (-r.total, r.user.full_name))
