"""Reads about consent requests: for the case summary, and for the checks consent.services
makes before it writes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from agencies.models import Dataset, Membership
from consent.models import ConsentRequest, RequestStatus
from matching.models import Person
from matching.persons import persons_merged_into


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
