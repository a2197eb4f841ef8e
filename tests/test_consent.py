"""Consent, consent requests and safeguarding overrides, as the engine and the pages read them.

The world: children's social care (CSC, the practitioner's agency) and the police (POL). Alice has
two police records and one CSC record; a protocol shares police records in full with consent, or
under a safeguarding override, and CSC records without consent.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agencies.models import Agency, Membership, Role
from audit.models import AuditAction, AuditEntry
from consent.errors import ConsentError, NotFound
from consent.models import (
    ConsentGivenBy,
    ConsentMethod,
    ConsentRecord,
    ConsentRequest,
    ConsentState,
    OverrideCategory,
    RequestStatus,
    ReviewOutcome,
    SafeguardingOverride,
)
from consent.overrides import override_options, override_review, override_start, overrides_expire
from consent.records import ConsentInput, consent_record, consent_withdraw
from consent.requests import consent_request_answer, consent_request_create
from core.purpose import Purpose
from matching.models import Person
from matching.screening import identifiers_in_text
from notifications.models import Notification, NotificationKind
from protocols.engine import disclose_view
from protocols.models import ConsentFromOthers, ConsentRule, ProtocolVersion, Tier
from tests.protocol_helpers import Linked, give, linked_people, protocol_in_force

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TODAY = date(2026, 6, 1)
RISK = "field:risk_grade"
JUSTIFICATION = (
    "Disclosure at school of injuries; the child says the adult at home would punish them "
    "if anyone was told, so asking the family for consent would put the child at risk."
)


@dataclass
class World:
    linked: Linked
    csc: Agency
    police: Agency
    version: ProtocolVersion
    practitioner: object
    colleague: object
    csc_ig: object
    police_practitioner: object
    police_ig: object

    def membership(self, user) -> Membership:
        return Membership.objects.get(user=user)


def _world(agency, other_agency, member, *, police_consent, max_hours=72) -> World:
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    csc_ig = member(Role.IG_OFFICER)
    version = protocol_in_force(
        author=csc_ig,
        parties=[agency, other_agency],
        rules=[
            {"dataset": linked.police, "tier": Tier.FULL, "consent": police_consent},
            {"dataset": linked.csc, "tier": Tier.FULL},
        ],
    )
    version.override_max_hours = max_hours
    # Statements here are recorded by CSC about police records and decide at once: these tests
    # are about how statements decide. By default such a statement waits for the police to
    # confirm it (tests/test_issue20_grants_consent.py); the protocol chooses otherwise here.
    version.consent_from_others = ConsentFromOthers.AT_ONCE
    version.save()
    practitioner = member(Role.PRACTITIONER)
    colleague = member(Role.PRACTITIONER)
    give(version, practitioner)
    give(version, colleague)
    return World(
        linked=linked,
        csc=agency,
        police=other_agency,
        version=version,
        practitioner=practitioner,
        colleague=colleague,
        csc_ig=csc_ig,
        police_practitioner=member(Role.PRACTITIONER, in_agency=other_agency),
        police_ig=member(Role.IG_OFFICER, in_agency=other_agency),
    )


@pytest.fixture
def world(agency, other_agency, member) -> World:
    return _world(agency, other_agency, member, police_consent=ConsentRule.UNLESS_OVERRIDE)


@pytest.fixture
def strict_world(agency, other_agency, member) -> World:
    """Police records need consent without exception: no override lifts them."""
    return _world(agency, other_agency, member, police_consent=ConsentRule.NEEDED)


def _view(w: World, user=None, *, person=None, purpose=Purpose.SAFEGUARDING, now=NOW):
    user = user or w.practitioner
    return disclose_view(
        user=user,
        membership=w.membership(user),
        person=person or w.linked.alice,
        purpose=purpose,
        now=now,
    )


def _police_shown(view) -> set[tuple[int, str]]:
    return {
        (r.record_id, f.key) for r in view.records for f in r.shown_fields if r.agency.code == "POL"
    }


def _statement(w: World, state, *, at=NOW, person=None, expires_on=None, **scope) -> ConsentRecord:
    """A consent statement written straight to the table, at `at`."""
    agencies = scope.pop("agencies", [w.police])
    if "purpose" not in scope and "protocol" not in scope:
        scope["protocol"] = w.version.protocol
    record = ConsentRecord.objects.create(
        person=person or w.linked.alice,
        state=state,
        expires_on=expires_on,
        recorded_by=w.practitioner,
        recorded_by_agency=w.csc,
        recorded_at=at,
        **scope,
    )
    record.agencies.set(agencies)
    return record


def _withheld_reasons(view) -> dict[str, str]:
    return {w.dataset_name: w.reason for w in view.withheld}


# --- The engine reads consent -------------------------------------------------------------


def test_nothing_recorded_withholds_with_the_actions_open(world):
    view = _view(world)
    assert _police_shown(view) == set()
    [entry] = view.withheld
    assert (entry.agency.code, entry.reason, entry.consent_text) == ("POL", "consent", "")
    assert entry.overridable == {world.version.protocol_id: 72}
    # Known to, and CSC records (no consent needed), are unaffected.
    assert {i.agency.code for i in view.involvements} == {"POL", "CSC"}
    assert any(r.agency.code == "CSC" and r.shown_fields for r in view.records)


@pytest.mark.parametrize(
    ("state", "shown", "text"),
    [
        (ConsentState.GIVEN, True, ""),
        (ConsentState.REFUSED, False, "Consent refused on 1 June 2026"),
        (ConsentState.WITHDRAWN, False, "Consent withdrawn on 1 June 2026"),
        (ConsentState.NOT_SOUGHT, False, ""),
    ],
)
def test_each_consent_state(world, state, shown, text):
    _statement(world, state)
    view = _view(world)
    assert bool(_police_shown(view)) is shown
    if not shown:
        [entry] = view.withheld
        assert entry.consent_text == text


def test_the_latest_decisive_statement_decides(world):
    _statement(world, ConsentState.GIVEN, at=NOW - timedelta(days=3))
    _statement(world, ConsentState.REFUSED, at=NOW - timedelta(days=2))
    assert _police_shown(_view(world)) == set()
    _statement(world, ConsentState.GIVEN, at=NOW - timedelta(days=1))
    assert _police_shown(_view(world))
    # "Not sought" later says nothing about the person's answer: the consent stands.
    _statement(world, ConsentState.NOT_SOUGHT, at=NOW - timedelta(hours=1))
    assert _police_shown(_view(world))


def test_consent_counts_until_the_end_of_its_expiry_day(world):
    _statement(world, ConsentState.GIVEN, at=NOW - timedelta(days=30), expires_on=TODAY)
    assert _police_shown(_view(world))
    tomorrow = _view(world, now=NOW + timedelta(days=1))
    assert _police_shown(tomorrow) == set()
    assert tomorrow.withheld[0].consent_text == "Consent expired on 1 June 2026"


def test_scope_protocol_purpose_and_agency(world, member):
    other = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        rules=[{"dataset": world.linked.police, "tier": Tier.KNOWN_TO}],
    )
    # Consent for another protocol, another purpose, or another agency's records: still held.
    _statement(world, ConsentState.GIVEN, protocol=other.protocol)
    _statement(world, ConsentState.GIVEN, purpose=Purpose.COMMISSIONING)
    _statement(world, ConsentState.GIVEN, agencies=[world.csc])
    assert _police_shown(_view(world)) == set()
    # Consent for the purpose covers every protocol serving it.
    _statement(world, ConsentState.GIVEN, purpose=Purpose.SAFEGUARDING)
    assert _police_shown(_view(world))


def test_consent_is_the_persons_not_one_users(world):
    _statement(world, ConsentState.GIVEN)
    assert _police_shown(_view(world, world.colleague))


def test_consent_recorded_before_a_merge_follows_the_person(world):
    merged_away = Person.objects.create(merged_into=world.linked.alice, is_active=False)
    _statement(world, ConsentState.GIVEN, person=merged_away)
    assert _police_shown(_view(world))


def test_withdrawal_takes_effect_at_the_next_read(world):
    membership = world.membership(world.practitioner)
    given = consent_record(
        user=world.practitioner,
        membership=membership,
        person=world.linked.alice,
        purpose=Purpose.SAFEGUARDING,
        data=ConsentInput(
            state=ConsentState.GIVEN,
            agency_ids=(world.police.pk,),
            protocol_id=world.version.protocol_id,
            method=ConsentMethod.WRITTEN,
            given_by=ConsentGivenBy.PARENT_OR_CARER,
            evidence_reference="DOC-4471",
        ),
    )
    now = timezone.now()
    assert _police_shown(_view(world, now=now))
    withdrawal = consent_withdraw(
        user=world.practitioner,
        membership=membership,
        person=world.linked.alice,
        purpose=Purpose.SAFEGUARDING,
        record_id=given.pk,
    )
    assert _police_shown(_view(world, now=timezone.now())) == set()
    assert _police_shown(_view(world, world.colleague, now=timezone.now())) == set()
    # History is kept: the given statement is still there, named by the withdrawal.
    assert withdrawal.replaces_id == given.pk
    assert ConsentRecord.objects.filter(person=world.linked.alice).count() == 2


# --- Recording consent: who, and what must be given -------------------------------------------


def _record(world, user=None, **data):
    values = {
        "state": ConsentState.GIVEN,
        "agency_ids": (world.police.pk,),
        "protocol_id": world.version.protocol_id,
        "method": ConsentMethod.VERBAL,
        "given_by": ConsentGivenBy.PERSON,
        "evidence_reference": "Case note 88",
    }
    values.update(data)
    user = user or world.practitioner
    return consent_record(
        user=user,
        membership=world.membership(user),
        person=world.linked.alice,
        purpose=Purpose.SAFEGUARDING,
        data=ConsentInput(**values),
    )


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"evidence_reference": ""}, "evidence_reference", "where the consent is recorded"),
        ({"method": ""}, "method", "verbally or in writing"),
        ({"given_by": ""}, "given_by", "Gillick"),
        ({"expires_on": date(2020, 1, 1)}, "expires_on", "today or later"),
        ({"expires_on": date(2040, 1, 1)}, "expires_on", "3 years"),
        ({"state": ConsentState.REFUSED, "expires_on": date(2030, 1, 1)}, "expires_on", "Only"),
        ({"agency_ids": ()}, "agencies", "Choose the agencies"),
        ({"evidence_reference": "NHS 943 476 5919"}, "evidence_reference", "an NHS number"),
        ({"note": "Spoke to mum at LS6 2AB"}, "note", "a postcode"),
        ({"note": "Mrs Smith agreed on the phone"}, "note", "the person's surname"),
        ({"note": "Born 01/02/2015, agreed"}, "note", "the person's date of birth"),
        ({"protocol_id": None, "purpose": Purpose.EVALUATION}, "scope", "Choose a protocol"),
    ],
)
def test_recording_consent_says_what_to_fix_and_stores_nothing(world, data, field, says):
    with pytest.raises(ConsentError) as raised:
        _record(world, **data)
    assert says in raised.value.problems[field]
    # Never quotes what was typed.
    assert "943" not in str(raised.value) and "Smith" not in str(raised.value)
    assert "LS6" not in str(raised.value)
    assert not ConsentRecord.objects.exists()


def test_only_agencies_and_protocols_of_the_practitioner(world, member):
    stranger = Agency.objects.create(name="Test Housing", code="HSG", kind="housing")
    with pytest.raises(ConsentError) as raised:
        _record(world, agency_ids=(stranger.pk,))
    assert "party to your protocols" in raised.value.problems["agencies"]
    other = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        rules=[{"dataset": world.linked.police, "tier": Tier.KNOWN_TO}],
    )
    with pytest.raises(ConsentError):
        _record(world, protocol_id=other.protocol_id)


def test_who_cannot_record_consent(world, member):
    # An IG officer, an analyst, and a practitioner whose protocols do not cover the person.
    for user in (world.csc_ig, member(Role.ANALYST), member(Role.PRACTITIONER)):
        with pytest.raises(NotFound):
            _record(world, user)


# --- Safeguarding overrides -------------------------------------------------------------------


def _override(world, user=None, *, now=NOW, hours=72, **kwargs):
    user = user or world.practitioner
    values = {
        "protocol_id": world.version.protocol_id,
        "category": OverrideCategory.SEEKING_INCREASES_RISK,
        "justification": JUSTIFICATION,
        "hours": hours,
    }
    values.update(kwargs)
    return override_start(
        user=user,
        membership=world.membership(user),
        person=world.linked.alice,
        now=now,
        **values,
    )


def test_override_shows_at_once_and_exactly_what_consent_would(world):
    override = _override(world, now=NOW)
    view = _view(world)
    under_override = _police_shown(view)
    assert under_override
    assert view.overrides == {override.pk}
    labels = {label for r in view.records for f in r.shown_fields for label in f.allowed_by}
    assert f"{world.version.label}, under your safeguarding override" in labels
    override.ended_at = NOW
    override.save()
    _statement(world, ConsentState.GIVEN)
    assert _police_shown(_view(world)) == under_override


def test_override_ends_on_time(world):
    override = _override(world, now=NOW, hours=5)
    assert override.expires_at == NOW + timedelta(hours=5)
    just_before = NOW + timedelta(hours=5) - timedelta(seconds=1)
    assert _police_shown(_view(world, now=just_before))
    assert _police_shown(_view(world, now=override.expires_at)) == set()
    # Not before it began either (a clock set back).
    assert _police_shown(_view(world, now=NOW - timedelta(seconds=1))) == set()


def test_expiry_task_announces_each_ended_override_once(world):
    override = _override(world, now=NOW, hours=2)
    assert overrides_expire(now=NOW + timedelta(hours=1)) == 0
    assert overrides_expire(now=NOW + timedelta(hours=2)) == 1
    assert overrides_expire(now=NOW + timedelta(hours=3)) == 0
    ended = Notification.objects.filter(
        recipient=world.practitioner, kind=NotificationKind.OVERRIDE_ENDED
    )
    assert ended.count() == 1
    assert override.person.reference in ended.get().message
    # Still in the review queue after it ended.
    override.refresh_from_db()
    assert override.review == ReviewOutcome.AWAITING


def test_override_is_the_users_own_in_their_role_for_safeguarding(world, member):
    _override(world)
    assert _police_shown(_view(world))
    assert _police_shown(_view(world, world.colleague)) == set()
    # A rule of a protocol for another purpose does not yield, even to an override row naming it.
    planning = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        purpose=Purpose.SERVICE_DELIVERY,
        rules=[{"dataset": world.linked.police, "consent": ConsentRule.UNLESS_OVERRIDE}],
    )
    give(planning, world.practitioner)
    SafeguardingOverride.objects.create(
        person=world.linked.alice,
        user=world.practitioner,
        agency=world.csc,
        role=Role.PRACTITIONER,
        protocol=planning.protocol,
        version=planning,
        category=OverrideCategory.SIGNIFICANT_HARM,
        justification=JUSTIFICATION,
        hours=1,
        started_at=NOW - timedelta(minutes=1),
        expires_at=NOW + timedelta(hours=1),
    )
    assert _police_shown(_view(world, purpose=Purpose.SERVICE_DELIVERY)) == set()
    # Acting in another role (a second membership) the override does not follow them.
    Membership.objects.create(user=world.practitioner, agency=world.police, role=Role.PRACTITIONER)
    in_police = Membership.objects.get(user=world.practitioner, agency=world.police)
    view = disclose_view(
        user=world.practitioner,
        membership=in_police,
        person=world.linked.alice,
        purpose=Purpose.SAFEGUARDING,
        now=NOW,
    )
    assert view is None or _police_shown(view) == set()


def test_override_never_lifts_a_rule_that_needs_consent_without_exception(strict_world):
    world = strict_world
    _, options = override_options(
        user=world.practitioner,
        membership=world.membership(world.practitioner),
        person=world.linked.alice,
    )
    assert options == []
    assert _view(world).withheld[0].overridable == {}
    with pytest.raises(ConsentError) as raised:
        _override(world)
    assert "gives way to a safeguarding override" in raised.value.problems["protocol"]
    # Even an override row written straight to the table lifts nothing.
    SafeguardingOverride.objects.create(
        person=world.linked.alice,
        user=world.practitioner,
        agency=world.csc,
        role=Role.PRACTITIONER,
        protocol=world.version.protocol,
        version=world.version,
        category=OverrideCategory.SIGNIFICANT_HARM,
        justification=JUSTIFICATION,
        hours=1,
        started_at=NOW - timedelta(minutes=1),
        expires_at=NOW + timedelta(hours=1),
    )
    assert _police_shown(_view(world)) == set()


@pytest.mark.parametrize(
    ("kwargs", "field", "says"),
    [
        ({"justification": "Urgent."}, "justification", "at least 50 characters"),
        ({"justification": JUSTIFICATION + " NHS 9434765919"}, "justification", "NHS number"),
        ({"justification": JUSTIFICATION + " Mr Smith"}, "justification", "surname"),
        ({"category": "because"}, "category", "Choose why"),
        ({"hours": 73}, "hours", "from 1 to 72 hours"),
        ({"hours": 0}, "hours", "from 1 to 72 hours"),
        ({"hours": None}, "hours", "how many hours"),
    ],
)
def test_override_input_errors(world, kwargs, field, says):
    with pytest.raises(ConsentError) as raised:
        _override(world, **kwargs)
    assert says in raised.value.problems[field]
    assert not SafeguardingOverride.objects.exists()
    assert not AuditEntry.objects.reads().filter(action=AuditAction.OVERRIDE).exists()


def test_the_protocol_sets_the_longest_override(agency, other_agency, member):
    world = _world(
        agency, other_agency, member, police_consent=ConsentRule.UNLESS_OVERRIDE, max_hours=24
    )
    with pytest.raises(ConsentError) as raised:
        _override(world, hours=72)
    assert "from 1 to 24 hours" in raised.value.problems["hours"]
    assert _override(world, hours=24).hours == 24


def test_override_is_logged_and_sent_for_review(world):
    override = _override(world)
    log = AuditEntry.objects.reads().get(action=AuditAction.OVERRIDE)
    assert (log.actor, log.person_reference, log.detail["fields"]["override"]) == (
        world.practitioner,
        world.linked.alice.reference,
        override.pk,
    )
    assert JUSTIFICATION not in str(log.detail["fields"])
    to_review = set(
        Notification.objects.filter(kind=NotificationKind.OVERRIDE_TO_REVIEW).values_list(
            "recipient", flat=True
        )
    )
    # IG officers of the overriding agency and of the agency whose records it opened.
    assert to_review == {world.csc_ig.pk, world.police_ig.pk}
    assert list(override.agencies.all()) == [world.police]
    assert override.opened[0]["agency"] == world.police.name


def test_review_not_justified_ends_the_override_at_once(world):
    override = _override(world, now=timezone.now())
    assert _police_shown(_view(world, now=timezone.now()))
    reviewed = override_review(
        user=world.police_ig,
        membership=world.membership(world.police_ig),
        override_id=override.pk,
        outcome=ReviewOutcome.NOT_JUSTIFIED,
        note="Consent could have been sought from the other parent safely.",
    )
    assert reviewed.review == ReviewOutcome.NOT_JUSTIFIED
    assert reviewed.ended_by == world.police_ig
    # The other reviewer's notice is settled: the work is done.
    assert not Notification.objects.filter(
        recipient=world.csc_ig, kind=NotificationKind.OVERRIDE_TO_REVIEW, read_at__isnull=True
    ).exists()
    assert _police_shown(_view(world, now=timezone.now())) == set()
    assert Notification.objects.filter(
        recipient=world.practitioner, kind=NotificationKind.OVERRIDE_REVIEWED
    ).exists()
    with pytest.raises(ConsentError) as raised:
        override_review(
            user=world.csc_ig,
            membership=world.membership(world.csc_ig),
            override_id=override.pk,
            outcome=ReviewOutcome.JUSTIFIED,
            note="A second opinion.",
        )
    assert "already been reviewed" in str(raised.value)


def test_who_reviews_an_override(world, member, db):
    override = _override(world)
    housing = Agency.objects.create(name="Test Housing", code="HSG", kind="housing")
    outsider = member(Role.IG_OFFICER, in_agency=housing)
    for user in (outsider, world.practitioner, world.police_practitioner):
        with pytest.raises(NotFound):
            override_review(
                user=user,
                membership=world.membership(user),
                override_id=override.pk,
                outcome=ReviewOutcome.JUSTIFIED,
                note="Looks right to me.",
            )
    with pytest.raises(ConsentError) as raised:
        override_review(
            user=world.csc_ig,
            membership=world.membership(world.csc_ig),
            override_id=override.pk,
            outcome=ReviewOutcome.JUSTIFIED,
            note="ok",
        )
    assert "note" in raised.value.problems


# --- Consent requests ---------------------------------------------------------------------


def _ask(world, user=None, reason="Strategy discussion tomorrow; need the police history."):
    user = user or world.practitioner
    return consent_request_create(
        user=user,
        membership=world.membership(user),
        person=world.linked.alice,
        purpose=Purpose.SAFEGUARDING,
        dataset_id=world.linked.police.pk,
        reason=reason,
    )


def test_request_goes_to_the_owning_agency_and_the_answer_comes_back(
    world, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        request = _ask(world)
    assert (request.owner_agency, request.protocol_id) == (
        world.police,
        world.version.protocol_id,
    )
    asked = set(
        Notification.objects.filter(kind=NotificationKind.CONSENT_REQUESTED).values_list(
            "recipient", flat=True
        )
    )
    assert asked == {world.police_practitioner.pk, world.police_ig.pk}
    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        [world.police_practitioner.email, world.police_ig.email]
    )
    for mail in mailoutbox:
        assert reverse("consent:request_detail", args=[request.pk]) in mail.body
        assert world.linked.alice.reference not in mail.body
    with django_capture_on_commit_callbacks(execute=True):
        consent_request_answer(
            user=world.police_practitioner,
            membership=world.membership(world.police_practitioner),
            request_id=request.pk,
            outcome=RequestStatus.CONSENT_GIVEN,
            method=ConsentMethod.WRITTEN,
            given_by=ConsentGivenBy.PARENT_OR_CARER,
            evidence_reference="DOC-4471",
        )
    request.refresh_from_db()
    assert request.status == RequestStatus.CONSENT_GIVEN
    assert not Notification.objects.filter(
        kind=NotificationKind.CONSENT_REQUESTED, read_at__isnull=True
    ).exists()
    record = ConsentRecord.objects.get(request=request)
    assert (record.state, list(record.agencies.all()), record.protocol_id) == (
        ConsentState.GIVEN,
        [world.police],
        world.version.protocol_id,
    )
    assert Notification.objects.filter(
        recipient=world.practitioner, kind=NotificationKind.CONSENT_ANSWERED
    ).exists()
    assert mailoutbox[-1].to == [world.practitioner.email]
    assert _police_shown(_view(world, now=timezone.now()))


def test_request_rules(world, member):
    with pytest.raises(ConsentError) as raised:
        _ask(world, reason="Need it")
    assert "at least 20 characters" in raised.value.problems["reason"]
    with pytest.raises(ConsentError) as raised:
        _ask(world, reason="Mother, postcode LS6 2AB, says it is fine to ask")
    assert "postcode" in raised.value.problems["reason"]
    request = _ask(world)
    with pytest.raises(ConsentError) as raised:
        _ask(world)
    assert "already asked" in str(raised.value)
    with pytest.raises(NotFound):
        _ask(world, member(Role.PRACTITIONER))  # no protocol covers Alice for them
    # Only the owning agency answers; its IG officers too; never twice.
    for outsider in (world.colleague, world.csc_ig):
        with pytest.raises(NotFound):
            consent_request_answer(
                user=outsider,
                membership=world.membership(outsider),
                request_id=request.pk,
                outcome=RequestStatus.REFUSED,
                method=ConsentMethod.VERBAL,
                given_by=ConsentGivenBy.PERSON,
            )
    with pytest.raises(ConsentError) as raised:
        consent_request_answer(
            user=world.police_ig,
            membership=world.membership(world.police_ig),
            request_id=request.pk,
            outcome=RequestStatus.NOT_APPROPRIATE,
        )
    assert "not appropriate" in raised.value.problems["note"]
    consent_request_answer(
        user=world.police_ig,
        membership=world.membership(world.police_ig),
        request_id=request.pk,
        outcome=RequestStatus.REFUSED,
        method=ConsentMethod.VERBAL,
        given_by=ConsentGivenBy.PARENT_OR_CARER,
    )
    assert _view(world).withheld[0].consent_text.startswith("Consent refused on")
    with pytest.raises(ConsentError):
        consent_request_answer(
            user=world.police_ig,
            membership=world.membership(world.police_ig),
            request_id=request.pk,
            outcome=RequestStatus.CONSENT_GIVEN,
            method=ConsentMethod.VERBAL,
            given_by=ConsentGivenBy.PERSON,
            evidence_reference="DOC-1",
        )


def test_nothing_to_request_when_nothing_is_withheld(world):
    _statement(world, ConsentState.GIVEN)
    with pytest.raises(ConsentError) as raised:
        _ask(world)
    assert "Nothing of that dataset is withheld" in raised.value.problems["dataset"]
    assert not ConsentRequest.objects.exists()


# --- Pages --------------------------------------------------------------------------------


def _summary(client, world, user):
    client.force_login(user)
    url = reverse("protocols:summary", args=[world.linked.alice.reference])
    return client.get(url + "?purpose=safeguarding").content.decode()


def test_summary_offers_request_and_override_to_practitioners_only(client, world, member):
    html = _summary(client, world, world.practitioner)
    assert 'data-testid="request-consent"' in html and 'data-testid="override-link"' in html
    analyst = member(Role.ANALYST)
    version = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        roles=(Role.ANALYST,),
        rules=[{"dataset": world.linked.police, "consent": ConsentRule.UNLESS_OVERRIDE}],
    )
    give(version, analyst)
    # Analysts read no case summary at all, whatever a protocol names (issue 20, finding 5).
    client.force_login(analyst)
    url = reverse("protocols:summary", args=[world.linked.alice.reference])
    response = client.get(url + "?purpose=safeguarding")
    assert response.status_code == 403
    html = response.content.decode()
    assert "request-consent" not in html and "override-link" not in html


def test_override_page_shows_at_once_and_then_the_banner(client, world):
    client.force_login(world.practitioner)
    url = reverse("consent:override_new", args=[world.linked.alice.reference])
    page = client.get(url).content.decode()
    assert 'value="24"' in page and "What it would show" in page
    response = client.post(
        url,
        {
            "protocol": str(world.version.protocol_id),
            "category": OverrideCategory.SIGNIFICANT_HARM,
            "justification": "Too short",
            "hours": "72",
        },
    )
    assert response.status_code == 200
    assert "There is a problem" in response.content.decode()
    response = client.post(
        url,
        {
            "protocol": str(world.version.protocol_id),
            "category": OverrideCategory.SIGNIFICANT_HARM,
            "justification": JUSTIFICATION,
            "hours": "72",
        },
    )
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert 'data-testid="override-banner"' in html
    assert f'data-field-key="{RISK}"' in html
    summary_log = AuditEntry.objects.reads().filter(action=AuditAction.SUMMARY).latest("pk")
    assert summary_log.detail["fields"]["overrides"] == [SafeguardingOverride.objects.get().pk]


def test_consent_page_records_and_withdraws(client, world):
    client.force_login(world.practitioner)
    url = reverse("consent:person_consent", args=[world.linked.alice.reference])
    form = {
        "state": ConsentState.GIVEN,
        "scope": str(world.version.protocol_id),
        "agencies": [str(world.police.pk)],
        "method": ConsentMethod.WRITTEN,
        "given_by": ConsentGivenBy.GILLICK_COMPETENT_CHILD,
        "evidence_reference": "",
    }
    response = client.post(url + "?purpose=safeguarding", form)
    assert "Enter where the consent is recorded" in response.content.decode()
    form["evidence_reference"] = "FORM-17"
    response = client.post(url + "?purpose=safeguarding", form)
    assert response.status_code == 302
    record = ConsentRecord.objects.get()
    assert record.given_by == ConsentGivenBy.GILLICK_COMPETENT_CHILD
    assert f'data-field-key="{RISK}"' in _summary(client, world, world.practitioner)
    withdraw = reverse(
        "consent:person_consent_withdraw", args=[world.linked.alice.reference, record.pk]
    )
    assert client.post(withdraw + "?purpose=safeguarding").status_code == 302
    assert f'data-field-key="{RISK}"' not in _summary(client, world, world.practitioner)
    history = client.get(url + "?purpose=safeguarding").content.decode()
    assert history.count('data-testid="consent-record"') == 2


def test_request_pages_and_notifications(client, world):
    client.force_login(world.practitioner)
    url = reverse("consent:request_new", args=[world.linked.alice.reference])
    query = f"?purpose=safeguarding&dataset={world.linked.police.pk}"
    assert "Send the request" in client.get(url + query).content.decode()
    response = client.post(
        url + query,
        {"dataset": world.linked.police.pk, "reason": "Strategy discussion is tomorrow morning."},
    )
    assert response.status_code == 302
    request = ConsentRequest.objects.get()
    detail = reverse("consent:request_detail", args=[request.pk])
    # The requester sees the request, not the owning agency's record references.
    page = client.get(detail).content.decode()
    assert "own-references" not in page and "answer-form" not in page

    client.force_login(world.police_practitioner)
    assert (
        'data-testid="notifications-unread"'
        in client.get(reverse("consent:request_list")).content.decode()
    )
    notification = Notification.objects.get(recipient=world.police_practitioner)
    response = client.get(reverse("notifications:open", args=[notification.pk]))
    assert response["Location"] == detail
    notification.refresh_from_db()
    assert notification.read_at is not None
    page = client.get(detail).content.decode()
    assert "A1" in page and "A2" in page  # the police's own record references
    response = client.post(
        detail,
        {
            "outcome": RequestStatus.CONSENT_GIVEN,
            "method": ConsentMethod.VERBAL,
            "given_by": ConsentGivenBy.PERSON,
            "evidence_reference": "Case note 12",
        },
    )
    assert response.status_code == 302
    # Someone else's notification is not found.
    other = Notification.objects.get(recipient=world.practitioner)
    assert client.get(reverse("notifications:open", args=[other.pk])).status_code == 404
    # A CSC colleague shown the police's involvement with Alice sees that it was asked and how
    # it stands (where a second request is refused, it links here), not its reason or note.
    client.force_login(world.colleague)
    page = client.get(detail).content.decode()
    assert 'data-testid="colleagues-request"' in page
    assert "Strategy discussion is tomorrow morning." not in page
    assert 'data-testid="request-status">Consent obtained' in page


def test_ig_review_pages(client, world):
    override = _override(world, now=timezone.now())
    client.force_login(world.csc_ig)
    queue = client.get(reverse("consent:override_list")).content.decode()
    assert f'data-override="{override.pk}"' in queue
    assert 'data-testid="per-user"' in queue
    detail = reverse("consent:override_detail", args=[override.pk])
    page = client.get(detail).content.decode()
    assert "review-form" in page and "Disclosure at school" in page
    response = client.post(detail, {"outcome": ReviewOutcome.JUSTIFIED, "note": ""})
    assert "Write a note" in response.content.decode()
    response = client.post(
        detail, {"outcome": ReviewOutcome.JUSTIFIED, "note": "Risk was clear and immediate."}
    )
    assert response.status_code == 302
    override.refresh_from_db()
    assert override.review == ReviewOutcome.JUSTIFIED and override.ended_at is None
    # The practitioner sees their own override, and may end it early.
    client.force_login(world.practitioner)
    assert client.get(detail).status_code == 200
    client.post(reverse("consent:override_stop", args=[override.pk]))
    override.refresh_from_db()
    assert override.ended_at is not None
    # A colleague may not.
    client.force_login(world.colleague)
    assert client.get(detail).status_code == 404


# --- The identifier screen ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Nothing identifying here, seen on 3 May.", []),
        ("NHS 943 476 5919 on file", ["an NHS number"]),
        ("call 07700 900123", ["a phone number"]),
        ("lives at LS6 2AB", ["a postcode"]),
        ("email mum@example.org", ["an email address"]),
        ("PNC 2008/0056560Z", ["a PNC id"]),
        ("ref 2008/0056560A", []),  # the wrong check letter: not a PNC id
    ],
)
def test_identifiers_in_text(db, text, kinds):
    assert identifiers_in_text(text) == kinds


# --- API ------------------------------------------------------------------------------------


def test_api_records_consent_requests_overrides_and_reviews(client, world, member):
    reference = world.linked.alice.reference
    client.force_login(world.practitioner)
    consent_url = reverse("consent_api:person_consent", args=[reference])
    response = client.post(
        consent_url,
        {"state": "given", "agencies": ["POL"], "method": "written", "given_by": "person"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "where the consent is recorded" in response.json()["evidence_reference"][0]
    response = client.post(
        consent_url,
        {
            "state": "refused",
            "protocol": world.version.protocol.reference,
            "agencies": ["POL"],
            "method": "verbal",
            "given_by": "parent_or_carer",
        },
        content_type="application/json",
    )
    assert response.status_code == 201
    history = client.get(consent_url)
    assert history["Cache-Control"] == "no-store"
    assert [r["state"] for r in history.json()["records"]] == ["refused"]

    response = client.post(
        reverse("consent_api:person_request", args=[reference]),
        {"dataset": world.linked.police.pk, "reason": "Strategy discussion is this afternoon."},
        content_type="application/json",
    )
    assert response.status_code == 201
    request_id = response.json()["id"]

    response = client.post(
        reverse("consent_api:person_override", args=[reference]),
        {
            "protocol": world.version.protocol.reference,
            "category": "significant_harm",
            "justification": JUSTIFICATION,
            "hours": 4,
        },
        content_type="application/json",
    )
    assert response.status_code == 201
    override_id = response.json()["id"]
    summary = client.get(reverse("protocols_api:summary", args=[reference])).json()
    assert any(f["key"] == RISK for r in summary["records"] for f in r["fields"])

    client.force_login(world.police_practitioner)
    received = client.get(reverse("consent_api:request_list")).json()["received"]
    assert [r["id"] for r in received] == [request_id]
    response = client.post(
        reverse("consent_api:request_answer", args=[request_id]),
        {"outcome": "not_appropriate", "note": "Family court proceedings; we will not ask."},
        content_type="application/json",
    )
    assert response.json()["status"] == "not_appropriate"

    client.force_login(world.police_ig)
    queue = client.get(reverse("consent_api:override_list") + "?review=awaiting").json()
    assert [o["id"] for o in queue["overrides"]] == [override_id]
    response = client.post(
        reverse("consent_api:override_review", args=[override_id]),
        {"outcome": "justified", "note": "Immediate risk, rightly not delayed."},
        content_type="application/json",
    )
    assert response.json()["review"] == "justified"

    client.force_login(world.practitioner)
    kinds = {
        n["kind"]
        for n in client.get(reverse("consent_api:notification_list")).json()["notifications"]
    }
    assert kinds == {NotificationKind.CONSENT_ANSWERED, NotificationKind.OVERRIDE_REVIEWED}


def test_api_answers_404_for_people_and_items_not_theirs(client, world, member):
    stranger = member(Role.PRACTITIONER)
    client.force_login(stranger)
    reference = world.linked.alice.reference
    assert client.get(reverse("consent_api:person_consent", args=[reference])).status_code == 404
    override = _override(world)
    client.force_login(world.police_practitioner)  # not an IG officer
    response = client.post(
        reverse("consent_api:override_review", args=[override.pk]),
        {"outcome": "justified", "note": "Looks fine to me."},
        content_type="application/json",
    )
    assert response.status_code == 403
    housing = Agency.objects.create(name="Test Housing", code="HSG", kind="housing")
    client.force_login(member(Role.IG_OFFICER, in_agency=housing))
    response = client.post(
        reverse("consent_api:override_review", args=[override.pk]),
        {"outcome": "justified", "note": "Looks fine to me."},
        content_type="application/json",
    )
    assert response.status_code == 404


def test_consent_and_overrides_cost_a_fixed_number_of_queries(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from protocols.summary import case_summary

    membership = world.membership(world.practitioner)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert case_summary(
                user=world.practitioner,
                membership=membership,
                person=world.linked.alice,
                purpose=Purpose.SAFEGUARDING,
                channel="web",
            )
        return len(captured)

    _override(world, now=timezone.now())
    _statement(world, ConsentState.REFUSED, at=timezone.now() - timedelta(days=40))
    before = count()
    for n in range(30):
        # The latest is a withdrawal, so the override is still what shows the records.
        state = ConsentState.WITHDRAWN if n % 2 else ConsentState.GIVEN
        _statement(
            world,
            state,
            at=timezone.now() - timedelta(days=30 - n),
            agencies=[world.police, world.csc],
        )
    assert count() == before


def test_override_expires_on_a_frozen_clock_through_the_pages_and_the_beat_task(
    client, world, settings
):
    import time_machine

    # The clock jumps hours between pages; the idle timeout (tests/test_security.py) is not
    # what this test is about.
    settings.SHAREHUB_IDLE_SECONDS = 7 * 24 * 60 * 60

    from consent.tasks import overrides_expire as overrides_expire_task

    start = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    summary = reverse("protocols:summary", args=[world.linked.alice.reference])
    shown = f'data-field-key="{RISK}"'
    with time_machine.travel(start, tick=False) as clock:
        client.force_login(world.practitioner)
        response = client.post(
            reverse("consent:override_new", args=[world.linked.alice.reference]),
            {
                "protocol": str(world.version.protocol_id),
                "category": OverrideCategory.URGENT_NO_CONTACT,
                "justification": JUSTIFICATION,
                "hours": "3",
            },
        )
        assert response.status_code == 302
        assert shown in client.get(summary).content.decode()
        clock.move_to(start + timedelta(hours=3) - timedelta(seconds=1))
        assert shown in client.get(summary).content.decode()
        overrides_expire_task.delay()
        assert not Notification.objects.filter(kind=NotificationKind.OVERRIDE_ENDED).exists()
        clock.move_to(start + timedelta(hours=3))
        page = client.get(summary).content.decode()
        assert shown not in page and "override-banner" not in page
        overrides_expire_task.delay()
        overrides_expire_task.delay()  # a second beat finds nothing more to announce
        assert (
            Notification.objects.filter(
                recipient=world.practitioner, kind=NotificationKind.OVERRIDE_ENDED
            ).count()
            == 1
        )


def test_api_answers_404_before_reading_input_for_what_is_not_theirs(client, world, member):
    """A 400 for bad input about a hidden person or someone else's request would say it
    exists; the check of who may act comes first."""
    reference = world.linked.alice.reference
    request = _ask(world)
    override = _override(world)
    client.force_login(member(Role.PRACTITIONER))  # no protocol covers Alice
    for name in ("consent_api:person_request", "consent_api:person_override"):
        assert client.post(reverse(name, args=[reference]), {}).status_code == 404
    assert (
        client.post(reverse("consent_api:request_answer", args=[request.pk]), {}).status_code == 404
    )
    housing = Agency.objects.create(name="Test Housing", code="HSG", kind="housing")
    client.force_login(member(Role.IG_OFFICER, in_agency=housing))
    response = client.post(reverse("consent_api:override_review", args=[override.pk]), {})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("NHS 943.476.5919", ["an NHS number"]),
        ("NHS 943/476/5919", ["an NHS number"]),
        ("NHS 9434 765 919", ["an NHS number"]),
        ("NHS 943  476  5919", ["an NHS number"]),
        ("ring 07700.900.123", ["a phone number"]),
        ("ring +44 (0)7700 900123", ["a phone number"]),
        ("at LS6-2AB", ["a postcode"]),
        ("at ls62ab", ["a postcode"]),
        # Social work shorthand that looks like a postcode or a number is left alone.
        ("s47 2nd strategy meeting booked", []),
        ("s47 enquiry, 3 visits, 12 weeks", []),
    ],
)
def test_identifiers_in_text_however_written(db, text, kinds):
    assert identifiers_in_text(text) == kinds


def _alice_shown(world) -> dict[str, list[int]]:
    """Every identifier of Alice's records, as if the writer were shown them all."""
    ids = [world.linked.records[s].pk for s in ("A1", "A2", "S1")]
    return {"surname": ids, "date_of_birth": ids, "postcode": ids}


@pytest.mark.parametrize(
    "text",
    [
        "Born 1 March 2015? no: born 1st February 2015, seen at home",
        "dob 01 02 2015 on the referral",
        "dob 01022015 on the referral",
    ],
)
def test_the_persons_date_of_birth_however_written(world, text):
    assert "the person's date of birth" in identifiers_in_text(text, shown=_alice_shown(world))


def test_a_surname_is_found_however_much_text_surrounds_it(world):
    padding = " ".join("a" + "b" * (n % 7) + str(n) for n in range(450))
    text = ("aaa " * 300) + "smith " + padding[:200]
    assert "the person's surname" in identifiers_in_text(text, shown=_alice_shown(world))


def test_an_ordinal_shaped_postcode_not_the_households_passes(world):
    # Alice lives at LS6 2AB: "S47 2ND" is keyed and compared, and is not hers.
    assert identifiers_in_text("s47 2nd", shown=_alice_shown(world)) == []


# --- Found in review --------------------------------------------------------------------------


def test_a_withdrawal_recorded_before_two_merges_still_holds(world):
    """B merged into A, then A into Alice: what was said of B is said of Alice."""
    a = Person.objects.create(merged_into=world.linked.alice, is_active=False)
    b = Person.objects.create(merged_into=a, is_active=False)
    _statement(world, ConsentState.GIVEN, at=NOW - timedelta(days=2))
    _statement(world, ConsentState.WITHDRAWN, person=b, at=NOW - timedelta(days=1))
    assert _police_shown(_view(world)) == set()
    from consent.selectors import consent_history

    assert {r.person_id for r in consent_history(world.linked.alice)} == {
        world.linked.alice.pk,
        b.pk,
    }


def test_an_override_opens_only_what_it_opened_under_the_version_it_was_made(
    agency, other_agency, member
):
    world = _world(agency, other_agency, member, police_consent=ConsentRule.UNLESS_OVERRIDE)
    world.version.rules.filter(dataset=world.linked.csc).update(consent=ConsentRule.UNLESS_OVERRIDE)
    # CSC records are shared by consent when the override begins, so it opens police only.
    _statement(world, ConsentState.GIVEN, agencies=[world.csc], at=NOW - timedelta(days=1))
    override = _override(world)
    assert override.dataset_ids == [world.linked.police.pk]
    csc_shown = {
        f.key for r in _view(world).records if r.agency.code == "CSC" for f in r.shown_fields
    }
    assert csc_shown
    _statement(world, ConsentState.WITHDRAWN, agencies=[world.csc], at=NOW - timedelta(hours=1))
    view = _view(world)
    assert _police_shown(view)
    assert not [f for r in view.records if r.agency.code == "CSC" for f in r.shown_fields]
    # A new version put in force while the override runs, without the approval that carries
    # overrides over (tests/test_override_carry_over.py): it lifts nothing there.
    world.version.status = "superseded"
    world.version.save()
    successor = ProtocolVersion.objects.create(
        protocol=world.version.protocol,
        number=2,
        name=world.version.name,
        purpose=world.version.purpose,
        lawful_basis=world.version.lawful_basis,
        roles=world.version.roles,
        valid_from=world.version.valid_from,
        status="active",
        author=world.csc_ig,
    )
    successor.parties.set([world.csc, world.police])
    for rule in world.version.rules.all():
        rule.pk = None
        rule.version = successor
        rule.save()
    assert _police_shown(_view(world)) == set()


def test_recording_consent_is_logged_and_told_to_the_agencies_it_names(world):
    record = _record(world)
    log = AuditEntry.objects.reads().get(action=AuditAction.CONSENT)
    assert log.detail["fields"] == {"consent_recorded": record.pk, "state": "given"}
    told = Notification.objects.get(kind=NotificationKind.CONSENT_RECORDED)
    assert told.recipient == world.police_ig
    assert told.link == reverse("consent:statement", args=[record.pk])
    from consent.selectors import statement_for

    assert statement_for(
        user=world.police_ig, membership=world.membership(world.police_ig), record_id=record.pk
    )
    for outsider in (world.police_practitioner, world.colleague):
        with pytest.raises(NotFound):
            statement_for(user=outsider, membership=world.membership(outsider), record_id=record.pk)


def test_the_consent_history_is_logged_denials_too_and_shows_only_the_readers_scope(world, member):
    from consent.records import consent_history_read

    other = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        rules=[{"dataset": world.linked.police, "tier": Tier.KNOWN_TO}],
    )
    mine = _statement(world, ConsentState.GIVEN)
    _statement(world, ConsentState.REFUSED, protocol=other.protocol)  # not a protocol of theirs
    _, shown = consent_history_read(
        user=world.practitioner,
        membership=world.membership(world.practitioner),
        person=world.linked.alice,
        purpose=Purpose.SAFEGUARDING,
    )
    assert [s.record.pk for s in shown] == [mine.pk]
    read = AuditEntry.objects.reads().get(action=AuditAction.CONSENT)
    assert read.outcome == "ok" and read.detail["fields"] == {"consent_read": [mine.pk]}
    stranger = member(Role.PRACTITIONER)
    with pytest.raises(NotFound):
        consent_history_read(
            user=stranger,
            membership=world.membership(stranger),
            person=world.linked.alice,
            purpose=Purpose.SAFEGUARDING,
        )
    assert (
        AuditEntry.objects.reads()
        .filter(actor=stranger, action=AuditAction.CONSENT, outcome="not_found")
        .exists()
    )


def test_withdrawal_only_of_statements_in_the_practitioners_scope(world):
    other = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        rules=[{"dataset": world.linked.police, "tier": Tier.KNOWN_TO}],
    )
    theirs = _statement(world, ConsentState.GIVEN, protocol=other.protocol)
    with pytest.raises(NotFound):
        consent_withdraw(
            user=world.practitioner,
            membership=world.membership(world.practitioner),
            person=world.linked.alice,
            purpose=Purpose.SAFEGUARDING,
            record_id=theirs.pk,
        )


def test_consent_expiry_limit_on_a_leap_day(world):
    import time_machine

    with time_machine.travel(datetime(2028, 2, 29, 12, tzinfo=UTC), tick=False):
        assert _record(world, expires_on=date(2031, 2, 28)).expires_on == date(2031, 2, 28)
        with pytest.raises(ConsentError) as raised:
            _record(world, expires_on=date(2031, 3, 1))
        assert "3 years" in raised.value.problems["expires_on"]


def test_one_override_at_a_time_per_person_and_protocol(world):
    running = _override(world, now=timezone.now(), hours=2)
    with pytest.raises(ConsentError) as raised:
        _override(world, now=timezone.now())
    assert "already have an override" in raised.value.problems[""]
    running.ended_at = timezone.now()
    running.save()
    assert _override(world, now=timezone.now())


def test_two_protocols_with_the_same_name_both_offer_an_override(world):
    twin = protocol_in_force(
        author=world.csc_ig,
        parties=[world.csc, world.police],
        name=world.version.name,
        rules=[{"dataset": world.linked.police, "consent": ConsentRule.UNLESS_OVERRIDE}],
    )
    give(twin, world.practitioner)
    _, options = override_options(
        user=world.practitioner,
        membership=world.membership(world.practitioner),
        person=world.linked.alice,
    )
    assert {o.protocol.pk for o in options} == {world.version.protocol_id, twin.protocol_id}


def test_api_choice_errors_never_repeat_the_input(client, world):
    client.force_login(world.practitioner)
    response = client.post(
        reverse("consent_api:person_consent", args=[world.linked.alice.reference]),
        {"state": "943 476 5919", "agencies": ["9434765919"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "943" not in response.content.decode()


def test_a_notification_is_emailed_once_however_often_the_task_runs(world, mailoutbox):
    from notifications.services import notify
    from notifications.tasks import notification_email

    [notification] = notify(
        recipients=[world.practitioner],
        kind=NotificationKind.CONSENT_ANSWERED,
        message="m",
        link="/",
    )
    notification_email(notification_id=notification.pk)
    notification_email(notification_id=notification.pk)
    assert len(mailoutbox) == 1
