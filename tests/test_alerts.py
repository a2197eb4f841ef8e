"""Alert rules of each kind, de-duplication, delivery through the disclosure engine, and acting
on an alert: acknowledge, assign, close with an outcome."""

from datetime import date, timedelta

import pytest
from guardian.shortcuts import remove_perm

from agencies.models import Role
from alerts.errors import AlertError, AlertNotFound
from alerts.inbox import (
    InboxFilter,
    alert_acknowledge,
    alert_assign,
    alert_close,
    alert_inbox,
    alert_read,
)
from alerts.models import Alert, AlertDelivery, AlertEvent, AlertStatus, RuleKind
from alerts.rules import RuleInput, rule_save, subscription_set
from notifications.models import Notification
from risk.indicators import IndicatorInput
from risk.models import RiskRun
from risk.services import enrich_run, indicator_save
from tests.protocol_helpers import give, linked_people, protocol_in_force

DAY = date(2026, 1, 20)


def high_risk_indicator(admin, linked):
    """30 points for each high-risk police incident in the last year, fading over 30 days."""
    return indicator_save(
        by=admin,
        rescore=False,
        data=IndicatorInput(
            name="High risk incident",
            kind="structured",
            datasets=[linked.police],
            weight=30,
            half_life_days=30,
            lookback_days=365,
            conditions=[{"column": "risk_grade", "op": "is", "value": "high"}],
        ),
    )


@pytest.fixture
def world(db, agency, other_agency, member):
    linked = linked_people(other_agency, agency)
    admin = member(Role.PLATFORM_ADMIN)
    csc_worker = member(Role.PRACTITIONER)
    police_worker = member(Role.PRACTITIONER, in_agency=other_agency)
    version = protocol_in_force(
        author=csc_worker,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police}, {"dataset": linked.csc}],
    )
    give(version, csc_worker)
    give(version, police_worker)
    indicator = high_risk_indicator(admin, linked)
    return {
        "linked": linked,
        "admin": admin,
        "csc": csc_worker.memberships.get(),
        "police": police_worker.memberships.get(),
        "version": version,
        "indicator": indicator,
    }


def _rule(world, **fields):
    rule = rule_save(by=world["admin"], data=RuleInput(**fields))
    subscription_set(membership=world["csc"], rule=rule, subscribed=True)
    return rule


def _run(day):
    return enrich_run(kind=RiskRun.Kind.NIGHTLY, today=day)


def test_score_above_raises_once_per_cause(world):
    rule = _rule(world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    _run(DAY)
    alice = world["linked"].alice
    # A1 (10 January, high) gives Alice about 24; Bob's B1 (1 January) about 19.
    assert set(Alert.objects.values_list("person_id", flat=True)) == {alice.pk}
    _run(DAY)
    _run(DAY + timedelta(days=1))
    assert Alert.objects.filter(rule=rule).count() == 1, "the same cause raised twice"
    # The condition ends as the score decays, then a new high-risk incident starts a new cause.
    _run(DAY + timedelta(days=60))
    alert = Alert.objects.get(rule=rule)
    assert alert.condition_ended_on == DAY + timedelta(days=60)
    from tests.ingest_helpers import csv_bytes, good_row, upload

    upload(world["linked"].police, csv_bytes([good_row("A7", incident_date="2026-03-25")]))
    _run(DAY + timedelta(days=65))
    causes = list(
        Alert.objects.filter(rule=rule).order_by("pk").values_list("cause_key", flat=True)
    )
    assert causes == [f"from:{DAY.isoformat()}", f"from:{(DAY + timedelta(days=65)).isoformat()}"]


def test_rising_and_step_down(world):
    rising = _rule(world, name="Rising", kind=RuleKind.SCORE_RISING, rise=15, window_days=30)
    step_down = _rule(
        world, name="Step-down", kind=RuleKind.STEP_DOWN, threshold=20, lower_threshold=5,
        window_days=90,
    )  # fmt: skip
    _run(DAY)
    # Thirty days before, neither A1 (10 January) nor B1 (1 January) had happened: Alice's score
    # rose by about 24, Bob's by about 19.
    assert set(Alert.objects.filter(rule=rising).values_list("person_id", flat=True)) == {
        world["linked"].alice.pk,
        world["linked"].bob.pk,
    }
    assert not Alert.objects.filter(rule=step_down).exists()
    _run(DAY + timedelta(days=90))
    # Ninety days on, A1 has decayed from about 24 to about 3; Bob was never at 20.
    assert list(Alert.objects.filter(rule=step_down).values_list("person_id", flat=True)) == [
        world["linked"].alice.pk
    ]


def test_new_event_for_a_person_open_to_another_agency(world):
    linked = world["linked"]
    rule = _rule(
        world,
        name="New high-risk incident, open to social care",
        kind=RuleKind.NEW_EVENT_WHILE_OPEN,
        indicator=world["indicator"],
        open_agency=linked.csc.agency,
        open_within_days=365,
        new_within_days=14,
    )
    _run(DAY)
    # A1 (10 January) is new and Alice has a social care referral (1 March 2026 is within a
    # year of it); Bob has no social care record; A2 is too old to be new.
    alerts = list(Alert.objects.filter(rule=rule))
    assert [(a.person_id, a.record_id) for a in alerts] == [
        (linked.alice.pk, linked.records["A1"].pk)
    ]
    assert alerts[0].cause_key == f"record:{linked.records['A1'].pk}"
    _run(DAY + timedelta(days=1))
    assert Alert.objects.filter(rule=rule).count() == 1


def test_alerts_go_only_to_subscribers_who_can_see_the_person(world, member, agency):
    rule = _rule(world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    # Subscribed, but holding no protocol: sees nobody.
    outsider = member(Role.PRACTITIONER).memberships.get()
    subscription_set(membership=outsider, rule=rule, subscribed=True)
    # Holding the protocol, not subscribed: gets nothing.
    _run(DAY)
    alert = Alert.objects.get()
    assert set(AlertDelivery.objects.values_list("membership_id", flat=True)) == {world["csc"].pk}
    assert alert.delivered
    assert (
        Notification.objects.filter(recipient=world["csc"].user, kind="alert_raised").count() == 1
    )
    assert not Notification.objects.filter(recipient=outsider.user).exists()
    assert alert_inbox(membership=outsider, filters=InboxFilter()).alerts == []
    with pytest.raises(AlertNotFound):
        alert_read(membership=world["police"], alert_id=alert.pk)
    with pytest.raises(AlertNotFound):
        alert_acknowledge(membership=outsider, alert_id=alert.pk)


def test_the_inbox_asks_the_engine_again_at_every_read(world):
    _rule(world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    _run(DAY)
    assert len(alert_inbox(membership=world["csc"], filters=InboxFilter()).alerts) == 1
    remove_perm("protocols.use_protocol", world["csc"].user, world["version"].protocol)
    assert alert_inbox(membership=world["csc"], filters=InboxFilter()).alerts == []
    with pytest.raises(AlertNotFound):
        alert_read(membership=world["csc"], alert_id=Alert.objects.get().pk)


def test_acknowledge_assign_and_close(world):
    rule = _rule(world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    subscription_set(membership=world["police"], rule=rule, subscribed=True)
    _run(DAY)
    alert = Alert.objects.get()
    csc, police = world["csc"], world["police"]
    alert_acknowledge(membership=csc, alert_id=alert.pk)
    alert_acknowledge(membership=csc, alert_id=alert.pk)  # twice is once
    alert_assign(membership=csc, alert_id=alert.pk, to_membership_id=police.pk)
    assert Notification.objects.filter(recipient=police.user, kind="alert_assigned").exists()
    assert len(alert_inbox(membership=police, filters=InboxFilter(mine=True)).alerts) == 1
    with pytest.raises(AlertError) as error:
        alert_close(membership=police, alert_id=alert.pk, outcome="nonsense")
    assert "outcome" in error.value.problems
    with pytest.raises(AlertError) as error:
        alert_close(
            membership=police, alert_id=alert.pk, outcome="referred",
            note="Spoke to the GP about NHS 943 476 5919",
        )  # fmt: skip
    assert "an NHS number" in error.value.problems["note"][0]
    assert "943" not in error.value.problems["note"][0]
    alert_close(membership=police, alert_id=alert.pk, outcome="referred", note="Strategy meeting")
    alert.refresh_from_db()
    assert (alert.status, alert.outcome) == (AlertStatus.CLOSED, "referred")
    assert list(alert.events.values_list("kind", flat=True)) == [
        AlertEvent.Kind.RAISED,
        AlertEvent.Kind.ACKNOWLEDGED,
        AlertEvent.Kind.ASSIGNED,
        AlertEvent.Kind.CLOSED,
    ]
    with pytest.raises(AlertError):
        alert_close(membership=csc, alert_id=alert.pk, outcome="referred")
    assert alert_inbox(membership=csc, filters=InboxFilter()).alerts == []
    assert len(alert_inbox(membership=csc, filters=InboxFilter(status="closed")).alerts) == 1


def test_assigning_to_someone_the_alert_did_not_reach_is_refused(world, member):
    _rule(world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    _run(DAY)
    alert = Alert.objects.get()
    with pytest.raises(AlertError) as error:
        alert_assign(
            membership=world["csc"], alert_id=alert.pk, to_membership_id=world["police"].pk
        )
    assert "assign_to" in error.value.problems


def test_reasons_are_shown_only_where_the_engine_shows_the_fields(world, agency, other_agency):
    _rule(world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    _run(DAY)
    alert = Alert.objects.get()
    page = alert_read(membership=world["csc"], alert_id=alert.pk)
    assert [r.indicator for r in page.reasons] == ["High risk incident"]
    # A protocol showing police records only as "known to": the reason is held back.
    from protocols.models import Tier

    narrow = protocol_in_force(
        author=world["csc"].user, parties=[agency, other_agency], name="Narrow",
        rules=[{"dataset": world["linked"].police, "tier": Tier.KNOWN_TO},
               {"dataset": world["linked"].csc}],
    )  # fmt: skip
    remove_perm("protocols.use_protocol", world["csc"].user, world["version"].protocol)
    give(narrow, world["csc"].user)
    page = alert_read(membership=world["csc"], alert_id=alert.pk)
    assert page.reasons == [] and page.reasons_not_shared


def test_reasons_outlive_the_nights_that_find_everything_again(world):
    """Each nightly run finds every finding again, under new ids; an alert raised on an
    earlier night still shows what it stood on."""
    _rule(world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    _run(DAY)
    alert = Alert.objects.get()
    _run(DAY + timedelta(days=1))
    _run(DAY + timedelta(days=2))
    page = alert_read(membership=world["csc"], alert_id=alert.pk)
    assert [r.indicator for r in page.reasons] == ["High risk incident"]


def test_rule_input_errors_say_what_to_fix(world):
    for fields, where in [
        ({"name": "x", "kind": RuleKind.SCORE_ABOVE}, "threshold"),
        ({"name": "x", "kind": RuleKind.SCORE_RISING, "rise": 5}, "window_days"),
        (
            {
                "name": "x",
                "kind": RuleKind.STEP_DOWN,
                "threshold": 10,
                "lower_threshold": 20,
                "window_days": 30,
            },
            "lower_threshold",
        ),
        ({"name": "x", "kind": RuleKind.NEW_EVENT_WHILE_OPEN}, "indicator"),
        ({"name": "", "kind": RuleKind.SCORE_ABOVE, "threshold": 3}, "name"),
        ({"name": "x", "kind": "nope"}, "kind"),
    ]:
        with pytest.raises(AlertError) as error:
            rule_save(by=world["admin"], data=RuleInput(**fields))
        assert where in error.value.problems, fields


def test_alert_pages_answer_404_to_those_it_did_not_reach(world, client):
    _rule(world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    _run(DAY)
    alert = Alert.objects.get()
    client.force_login(world["police"].user)
    for url in (f"/alerts/{alert.pk}/", f"/alerts/{alert.pk + 1000}/"):
        assert client.get(url).status_code == 404
    for action in ("acknowledge", "assign", "close"):
        assert (
            client.post(f"/alerts/{alert.pk}/{action}/", {"outcome": "referred"}).status_code == 404
        )
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    client.force_login(world["csc"].user)
    page = client.get(f"/alerts/{alert.pk}/")
    assert page.status_code == 200 and b"High risk incident" in page.content
    inbox = client.get("/alerts/?status=open")
    assert inbox.status_code == 200 and world["linked"].alice.reference.encode() in inbox.content
