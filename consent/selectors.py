"""Reads about consent requests and safeguarding overrides: for the case summary, and for the
checks consent.services makes before it writes.

Nothing here decides what anyone sees of a person: which overrides apply is the disclosure
engine's answer (protocols.engine.overrides_active), asked here, not a second copy of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from agencies.models import Dataset, Membership
from consent.models import ConsentRequest, RequestStatus, SafeguardingOverride
from matching.models import Person
from matching.persons import persons_merged_into
from protocols.engine import grants_for, overrides_active
from protocols.models import Purpose


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
