"""Asking another agency to seek consent, once: what the case summary can say is waiting, and
a second request refused with a link to the first (issue 21).

The world is tests/test_consent.py's: CSC practitioners and police records of Alice withheld
for want of consent.
"""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agencies.models import Agency, Role
from consent.errors import AlreadyRequested, ConsentError
from consent.models import ConsentRequest, RequestStatus
from consent.requests import consent_request_answer, consent_request_cancel, consent_request_create
from consent.selectors import consent_request_open, consent_requests_pending
from core.purpose import Purpose
from matching.models import LinkageRecord, Person
from notifications.models import Notification, NotificationKind
from protocols.models import ConsentRule, Tier
from tests.protocol_helpers import give, protocol_in_force
from tests.test_consent import _ask, world  # noqa: F401

REASON = "Strategy discussion tomorrow; need the police history."


def _pending(w, user=None, *, person=None, purpose=Purpose.SAFEGUARDING):
    user = user or w.practitioner
    return consent_requests_pending(
        membership=w.membership(user),
        person=person or w.linked.alice,
        purpose=purpose,
        dataset_ids=[w.linked.police.pk, w.linked.csc.pk],
    )


def test_nothing_pending_until_asked_then_the_day_asked(world):  # noqa: F811
    assert _pending(world) == {}
    request = _ask(world)
    today = timezone.localdate()
    # The police dataset waits; CSC's own records were never asked about.
    assert _pending(world) == {world.linked.police.pk: today}
    # For the practitioner's colleagues too: their agency has asked.
    assert _pending(world, world.colleague) == {world.linked.police.pk: today}
    # Not for another purpose, another person, or the agency asked.
    assert _pending(world, purpose=Purpose.SERVICE_DELIVERY) == {}
    assert _pending(world, person=world.linked.bob) == {}
    assert _pending(world, world.police_practitioner) == {}
    consent_request_cancel(user=world.practitioner, request_id=request.pk)
    assert _pending(world) == {}


def test_answered_is_no_longer_pending(world):  # noqa: F811
    request = _ask(world)
    consent_request_answer(
        user=world.police_ig,
        membership=world.membership(world.police_ig),
        request_id=request.pk,
        outcome=RequestStatus.NOT_APPROPRIATE,
        note="Family court proceedings; we will not ask.",
    )
    assert _pending(world) == {}


def test_the_earliest_open_request_dates_it_and_merges_follow_the_person(world):  # noqa: F811
    # A request about someone since merged into Alice is about Alice.
    merged_away = Person.objects.create(merged_into=world.linked.alice, is_active=False)
    earlier = timezone.now() - timedelta(days=3)
    ConsentRequest.objects.create(
        person=merged_away,
        protocol=world.version.protocol,
        purpose=Purpose.SAFEGUARDING,
        owner_agency=world.police,
        dataset=world.linked.police,
        requested_by=world.colleague,
        requester_agency=world.csc,
        reason=REASON,
        created_at=earlier,
    )
    assert _pending(world) == {world.linked.police.pk: timezone.localdate(earlier)}
    with pytest.raises(AlreadyRequested):
        _ask(world)


def test_the_summary_question_costs_the_same_however_many_requests(world):  # noqa: F811
    _ask(world)
    membership = world.membership(world.practitioner)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            consent_requests_pending(
                membership=membership,
                person=world.linked.alice,
                purpose=Purpose.SAFEGUARDING,
                dataset_ids=[world.linked.police.pk, world.linked.csc.pk],
            )
        return len(captured)

    before = count()
    for n in range(5):
        ConsentRequest.objects.create(
            person=world.linked.alice,
            protocol=world.version.protocol,
            purpose=Purpose.SAFEGUARDING,
            owner_agency=world.police,
            requested_by=world.colleague,
            requester_agency=world.csc,
            reason=REASON,
            status=RequestStatus.CANCELLED if n % 2 else RequestStatus.REFUSED,
        )
    assert count() == before <= 2


def test_a_second_request_from_the_same_agency_is_refused(world):  # noqa: F811
    first = _ask(world)
    asked = Notification.objects.filter(kind=NotificationKind.CONSENT_REQUESTED).count()
    for user in (world.practitioner, world.colleague):
        with pytest.raises(AlreadyRequested) as refused:
            _ask(world, user)
        assert refused.value.existing == first
    assert ConsentRequest.objects.get() == first
    # The police were not asked twice.
    assert Notification.objects.filter(kind=NotificationKind.CONSENT_REQUESTED).count() == asked
    with pytest.raises(ConsentError) as mine:
        _ask(world)
    today = timezone.localdate()
    assert mine.value.problems[""] == (
        f"You already asked {world.police.name} to seek consent for this person on "
        f"{today.day} {today:%B %Y}; the request is waiting for an answer. Asking again would "
        "send them the same question twice."
    )
    with pytest.raises(ConsentError) as theirs:
        _ask(world, world.colleague)
    assert theirs.value.problems[""].startswith(
        f"{world.practitioner.full_name}, of your agency, already asked {world.police.name}"
    )
    # Once it is answered or cancelled, asking again is a new question.
    consent_request_cancel(user=world.practitioner, request_id=first.pk)
    again = _ask(world, world.colleague)
    assert again.status == RequestStatus.OPEN


def test_another_agency_or_another_purpose_asks_for_itself(world, member):  # noqa: F811
    _ask(world)
    # Housing, party to a protocol of its own over the police records, asks too.
    housing = Agency.objects.create(name="Test Housing", code="HSG", kind="housing")
    housing_practitioner = member(Role.PRACTITIONER, in_agency=housing)
    theirs = protocol_in_force(
        author=world.police_ig,
        parties=[housing, world.police],
        rules=[{"dataset": world.linked.police, "tier": Tier.FULL, "consent": ConsentRule.NEEDED}],
    )
    give(theirs, housing_practitioner)
    assert _ask(world, housing_practitioner).requester_agency == housing
    # Under a protocol for service delivery, the CSC practitioner's question is another one.
    planning = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        purpose=Purpose.SERVICE_DELIVERY,
        rules=[{"dataset": world.linked.police, "tier": Tier.FULL, "consent": ConsentRule.NEEDED}],
    )
    give(planning, world.practitioner)
    other = consent_request_create(
        user=world.practitioner,
        membership=world.membership(world.practitioner),
        person=world.linked.alice,
        purpose=Purpose.SERVICE_DELIVERY,
        dataset_id=world.linked.police.pk,
        reason=REASON,
    )
    assert (other.purpose, ConsentRequest.objects.count()) == (Purpose.SERVICE_DELIVERY, 3)


def test_the_request_page_points_to_the_request_already_sent(client, world):  # noqa: F811
    alice = world.linked.alice.reference
    url = reverse("consent:request_new", args=[alice])
    query = f"?purpose=safeguarding&dataset={world.linked.police.pk}"
    client.force_login(world.practitioner)
    # A page opened before the request went, and sent after: the form is still on it.
    stale = client.get(url + query).content.decode()
    assert 'data-testid="request-form"' in stale
    first = _ask(world, world.colleague)
    detail = reverse("consent:request_detail", args=[first.pk])
    response = client.post(url + query, {"dataset": world.linked.police.pk, "reason": REASON})
    assert response.status_code == 200
    html = response.content.decode()
    assert "- Error - ShareHub" in html
    assert 'data-testid="request-refused"' in html and 'href="#existing-request"' in html
    assert f"{world.colleague.full_name}, of your agency, already asked" in html
    assert f'href="{detail}" data-testid="existing-request-link"' in html
    assert 'data-testid="request-form"' not in html
    assert ConsentRequest.objects.count() == 1
    # Opened afresh: no form to fill in, the existing request instead.
    html = client.get(url + query).content.decode()
    assert 'data-testid="request-form"' not in html and "request-refused" not in html
    assert 'data-testid="existing-request"' in html and detail in html
    # The link opens for the colleague it was shown to.
    assert client.get(detail).status_code == 200


@pytest.mark.parametrize("reason", ["", "Short.", REASON])
def test_asking_again_on_the_web_says_why_whatever_the_form_holds(
    client,
    world,  # noqa: F811
    reason,
):
    """Tester's finding L5 (issue 21): a second request sent with an empty reason got "There is
    a problem" over an empty list, the form's own error having nowhere to show. It gets the
    API's answer: the request already sent, linked."""
    first = _ask(world, world.colleague)
    url = reverse("consent:request_new", args=[world.linked.alice.reference])
    client.force_login(world.practitioner)
    response = client.post(
        url + f"?purpose=safeguarding&dataset={world.linked.police.pk}",
        {"dataset": world.linked.police.pk, "reason": reason},
    )
    html = response.content.decode()
    summary = html.split('data-testid="request-refused"', 1)[1].split("</ul>", 1)[0]
    assert f"{world.colleague.full_name}, of your agency, already asked" in summary
    assert '<a href="#existing-request">' in summary
    detail = reverse("consent:request_detail", args=[first.pk])
    assert f'href="{detail}" data-testid="existing-request-link"' in html
    assert ConsentRequest.objects.count() == 1


def test_the_request_list_names_each_request_once(client, world):  # noqa: F811
    """Tester's finding L6b (issue 21): a row read "16:13 , request about person X X", hidden
    text after the link repeating the person column. The person cell describes the link."""
    request = _ask(world)
    client.force_login(world.practitioner)
    html = client.get(reverse("consent:request_list")).content.decode()
    table = html.split('data-testid="sent"', 1)[1].split("</table>", 1)[0]
    row = table.split('<tbody class="govuk-table__body">', 1)[1]
    text = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", row))).strip()
    asked = timezone.localtime(request.created_at)
    reference = world.linked.alice.reference
    assert text == (
        f"{asked.day} {asked:%B %Y, %H:%M} {reference} {request.owner_agency.name} "
        "Waiting for an answer"
    ), text
    cell = f"sent-{request.pk}-person"
    assert f'aria-describedby="{cell}"' in row and f'id="{cell}">{reference}</td>' in row


def test_only_colleagues_shown_the_agency_asked_open_the_request(client, world, member):  # noqa: F811
    request = _ask(world)
    detail = reverse("consent:request_detail", args=[request.pk])
    # A CSC practitioner without a protocol covering Alice.
    client.force_login(member(Role.PRACTITIONER))
    assert client.get(detail).status_code == 404
    # A CSC practitioner whose protocol shows Alice, but not that the police know her.
    own_only = member(Role.PRACTITIONER)
    csc_only = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        rules=[{"dataset": world.linked.csc, "tier": Tier.FULL}],
    )
    give(csc_only, own_only)
    assert LinkageRecord.objects.filter(person=world.linked.alice, agency_id=world.csc.pk).exists()
    client.force_login(own_only)
    assert client.get(detail).status_code == 404
    # A CSC IG officer is not a practitioner reading the person.
    client.force_login(world.csc_ig)
    assert client.get(detail).status_code == 404


def test_the_api_refuses_with_the_request_to_follow(client, world):  # noqa: F811
    first = _ask(world, world.colleague)
    client.force_login(world.practitioner)
    response = client.post(
        reverse("consent_api:person_request", args=[world.linked.alice.reference]),
        {"dataset": world.linked.police.pk, "reason": REASON},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["existing_request"] == first.pk
    assert "already asked" in body["non_field_errors"][0]


def test_the_open_request_selector_is_per_agency_asked(world):  # noqa: F811
    first = _ask(world)
    membership = world.membership(world.colleague)
    found = consent_request_open(
        membership=membership,
        person=world.linked.alice,
        purpose=Purpose.SAFEGUARDING,
        owner_agency_id=world.police.pk,
    )
    assert found == first
    assert (
        consent_request_open(
            membership=membership,
            person=world.linked.alice,
            purpose=Purpose.SAFEGUARDING,
            owner_agency_id=world.csc.pk,
        )
        is None
    )
    assert (
        consent_request_open(
            membership=None,
            person=world.linked.alice,
            purpose=Purpose.SAFEGUARDING,
            owner_agency_id=world.police.pk,
        )
        is None
    )


def test_the_summary_says_consent_was_asked_for_and_no_longer_offers_to_ask(
    client,
    world,  # noqa: F811
):
    from django.urls import reverse

    url = reverse("protocols:summary", args=[world.linked.alice.reference])
    client.force_login(world.practitioner)
    before = client.get(url).content.decode()
    assert 'data-testid="request-consent"' in before
    assert 'data-testid="consent-pending"' not in before
    _ask(world)
    after = client.get(url).content.decode()
    day = timezone.localdate()
    assert f"Consent requested on {day.day} {day:%B %Y}, waiting for" in after
    assert 'data-testid="request-consent"' not in after
    # A colleague in the same agency sees it is waiting too, rather than asking again.
    client.force_login(world.colleague)
    assert "Consent requested on" in client.get(url).content.decode()
