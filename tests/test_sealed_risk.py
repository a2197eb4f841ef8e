"""Sealed records and risk (protocols.seals, risk, alerts, insights): a sealed record's findings
count towards no score and raise no alert another agency sees, from the moment the seal takes
effect, and the dashboard's figures are refreshed without them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agencies.models import Membership, Role, SourceRecord
from alerts.inbox import InboxFilter, alert_inbox
from alerts.models import Alert, AlertDelivery, RuleKind
from alerts.rules import RuleInput, rule_save, subscription_set
from insights.models import InsightSnapshot
from protocols.models import SealRule, VersionStatus
from protocols.seals import seals_mark
from protocols.services import protocol_approve, protocol_resume, protocol_suspend
from risk.indicators import IndicatorInput
from risk.models import PersonRisk, RiskDay, RiskRun
from risk.services import enrich_run, indicator_save
from tests.protocol_helpers import give, linked_people, protocol_in_force

SEAL_KINDS = ["field", "indicator"]


@pytest.fixture
def world(agency, other_agency, member):
    """Social care (agency) and the police (other_agency) share both datasets. Alice's social care
    record S1 has a child protection plan: her only high-risk finding, 25 points; both agencies'
    practitioners follow "High risk: score above 20"."""
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
    s1 = linked.records["S1"]
    SourceRecord.objects.filter(pk=s1.pk).update(payload={**s1.payload, "cp_plan": True})
    indicator = indicator_save(
        by=admin,
        rescore=False,
        data=IndicatorInput(
            name="Child protection plan active",
            kind="structured",
            datasets=[linked.csc],
            weight=25,
            half_life_days=None,  # a plan that is active is active
            conditions=[{"column": "cp_plan", "op": "yes"}],
        ),
    )
    rule = rule_save(
        by=admin,
        data=RuleInput(name="High risk: score above 20", kind=RuleKind.SCORE_ABOVE, threshold=20),
    )
    csc, police = csc_worker.memberships.get(), police_worker.memberships.get()
    for membership in (csc, police):
        subscription_set(membership=membership, rule=rule, subscribed=True)
    enrich_run(kind=RiskRun.Kind.NIGHTLY)
    alert = Alert.objects.get(rule=rule, person=linked.alice)
    assert PersonRisk.objects.get(person=linked.alice).score == 25
    assert set(alert.deliveries.values_list("membership_id", flat=True)) == {csc.pk, police.pk}
    return {
        "linked": linked,
        "indicator": indicator,
        "alert": alert,
        "csc": csc,
        "police": police,
        "parties": [agency, other_agency],
        "csc_user": csc_worker,
        "police_user": police_worker,
        "officers": [
            member(Role.IG_OFFICER).memberships.get(),
            member(Role.IG_OFFICER, in_agency=other_agency).memberships.get(),
        ],
    }


def sealing_version(world, how: str):
    """A version awaiting approval whose only business is to seal S1, by its field or by the
    indicator that found it."""
    linked = world["linked"]
    version = protocol_in_force(
        author=world["csc_user"],
        parties=world["parties"],
        rules=[{"dataset": linked.csc}],
        status=VersionStatus.AWAITING_APPROVAL,
        name="Sealing protocol",
    )
    if how == "field":
        SealRule.objects.create(
            version=version,
            dataset=linked.csc,
            field_key="field:category_of_need",
            value="Abuse or  neglect",
            reason="Abuse referrals stay with social care",
        )
        seals_mark(dataset_id=linked.csc.pk)
    else:
        SealRule.objects.create(
            version=version,
            dataset=linked.csc,
            indicator=world["indicator"],
            reason="Plans stay with social care",
        )
    return version


def approve(world, version, capture):
    with capture(execute=True):
        for officer in world["officers"]:
            protocol_approve(membership=officer, version=version)
    version.refresh_from_db()
    assert version.status == VersionStatus.ACTIVE


def inbox_persons(membership) -> set[int]:
    return {a.person_id for a in alert_inbox(membership=membership, filters=InboxFilter()).alerts}


@pytest.mark.parametrize("how", SEAL_KINDS)
def test_a_seal_coming_into_force_takes_the_sealed_records_risk_from_everyone_else(
    world, how, client, django_capture_on_commit_callbacks
):
    linked, alert = world["linked"], world["alert"]
    snapshots = InsightSnapshot.objects.count()
    approve(world, sealing_version(world, how), django_capture_on_commit_callbacks)

    # Scored again at once, without the sealed record: the score is seen by every agency.
    risk = PersonRisk.objects.filter(person=linked.alice).first()
    assert risk is None or risk.score == 0
    assert RiskDay.objects.get(day=timezone.localdate()).bands["high"] == 0
    # The dashboard's "Figures as at" snapshot is made again from those scores.
    assert InsightSnapshot.objects.count() == snapshots + 1
    assert InsightSnapshot.objects.order_by("-pk").first().figures["risk"]["bands"]
    # The cause has ended, as when a score decays below the threshold.
    alert.refresh_from_db()
    assert alert.condition_ended_on == timezone.localdate()

    # The police no longer have the alert: not listed, and its page is not found.
    assert linked.alice.pk not in inbox_persons(world["police"])
    assert not AlertDelivery.objects.filter(alert=alert, membership=world["police"]).exists()
    client.force_login(world["police_user"])
    link = reverse("alerts:alert_detail", args=[alert.pk])
    assert f'href="{link}"' not in client.get(reverse("alerts:inbox")).content.decode()
    assert client.get(link).status_code == 404

    # Social care, whose record it is, keep the alert and see why it was raised.
    assert linked.alice.pk in inbox_persons(world["csc"])
    client.force_login(world["csc_user"])
    page = client.get(reverse("alerts:alert_detail", args=[alert.pk])).content.decode()
    assert "Child protection plan active" in page
    assert "your protocols do not share" not in page
    assert RiskRun.objects.filter(kind=RiskRun.Kind.SEALS, status=RiskRun.Status.DONE).exists()


@pytest.mark.parametrize("how", SEAL_KINDS)
def test_suspending_the_sealing_version_counts_the_record_again_with_a_new_alert(
    world, how, django_capture_on_commit_callbacks
):
    linked = world["linked"]
    version = sealing_version(world, how)
    approve(world, version, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        protocol_suspend(
            membership=world["officers"][0],
            protocol=version.protocol,
            reason="The seal was written too widely and is being redrafted",
        )
    assert PersonRisk.objects.get(person=linked.alice).score == 25
    # A new cause, delivered to both, from the next run on a later day (a cause is keyed by the
    # day it started, and today's ended with the seal); the withdrawn alert does not come back.
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=timezone.localdate() + timedelta(days=1))
    assert Alert.objects.filter(person=linked.alice).count() == 2
    assert linked.alice.pk in inbox_persons(world["police"])
    with django_capture_on_commit_callbacks(execute=True):
        protocol_resume(
            membership=world["officers"][1],
            protocol=version.protocol,
            reason="The review is done; sharing may resume as agreed.",
        )
    assert PersonRisk.objects.filter(person=linked.alice, score__gt=0).count() == 0
    assert linked.alice.pk not in inbox_persons(world["police"])


def test_a_seal_marked_by_the_worker_rescores_and_is_idempotent(
    world, django_capture_on_commit_callbacks
):
    from protocols.tasks import seals_remark

    linked = world["linked"]
    # Partnership-wide, as a platform admin sets one: in force as soon as it is marked.
    SealRule.objects.create(
        dataset=linked.csc,
        field_key="field:category_of_need",
        value="abuse or neglect",
        reason="Abuse referrals stay with social care",
    )
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            seals_remark(dataset_id=linked.csc.pk)
    assert PersonRisk.objects.filter(person=linked.alice, score__gt=0).count() == 0
    assert set(
        AlertDelivery.objects.filter(alert=world["alert"]).values_list("membership_id", flat=True)
    ) == {world["csc"].pk}
    assert Membership.objects.filter(pk=world["police"].pk).exists()


def test_an_alert_that_still_holds_without_the_sealed_record_never_hints_at_it(
    world, client, django_capture_on_commit_callbacks
):
    """Alice's police incident A1 alone keeps her above 20, so the police keep the alert (raised
    on the sealed record); its page says nothing of other records behind it."""
    linked = world["linked"]
    indicator_save(
        by=world["csc_user"],
        rescore=False,
        data=IndicatorInput(
            name="High risk incident",
            kind="structured",
            datasets=[linked.police],
            weight=30,
            half_life_days=None,
            conditions=[{"column": "risk_grade", "op": "is", "value": "high"}],
        ),
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY)
    alert = Alert.objects.get(person=linked.alice)
    assert PersonRisk.objects.get(person=linked.alice).score == 55
    approve(world, sealing_version(world, "indicator"), django_capture_on_commit_callbacks)
    assert PersonRisk.objects.get(person=linked.alice).score == 30
    alert.refresh_from_db()
    assert alert.condition_ended_on is None
    assert linked.alice.pk in inbox_persons(world["police"])
    client.force_login(world["police_user"])
    page = client.get(reverse("alerts:alert_detail", args=[alert.pk])).content.decode()
    assert "Child protection plan active" not in page
    assert "your protocols do not share" not in page
