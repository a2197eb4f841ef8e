"""A safeguarding override in force when a new version of its protocol is approved (issue 21).

It carries over where the new version still lets an override open what it opened, no wider,
its end capped by the new version's longest override; otherwise it ends, its holder is told and
its page says why. Either way the step is audited. "Already in force" counts only overrides the
engine honours, and links to them with a way to end and start again.

The world is tests/test_consent.py's: police records of Alice shared in full with consent or
under an override, CSC records without consent.
"""

import dataclasses
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from agencies.models import Membership, Role
from audit.models import AuditAction, AuditEntry
from consent.carry_over import overrides_carry_over
from consent.errors import ConsentError
from consent.models import (
    CarryOverDrop,
    CarryOverEnd,
    ConsentState,
    OverrideCarryOver,
)
from consent.selectors import overrides_in_force
from core.purpose import Purpose
from notifications.models import Notification, NotificationKind
from protocols.models import ConsentRule, ProtocolEvent, ProtocolVersion, Tier, VersionStatus
from protocols.services import (
    RuleInput,
    protocol_approve,
    protocol_draft_update,
    protocol_revise,
    protocol_submit,
    version_input,
)
from tests.test_consent import (  # noqa: F401
    JUSTIFICATION,
    _override,
    _police_shown,
    _statement,
    _view,
    world,
)

REMOVED = object()


@pytest.fixture
def approver(world, member):  # noqa: F811
    """A second CSC IG officer: the author of a new version cannot approve it."""
    return member(Role.IG_OFFICER)


def _successor(world, approver, *, police=None, csc=None, **changes) -> ProtocolVersion:  # noqa: F811
    """Version 2 of the world's protocol, through the real path: revised from version 1,
    changed, submitted, and approved by CSC and the police, the police last."""
    author = world.membership(world.csc_ig)
    draft = protocol_revise(membership=author, protocol=world.version.protocol)
    data = version_input(draft)
    rules = {rule.dataset_id: rule for rule in data.rules}
    for dataset, change in ((world.linked.police, police), (world.linked.csc, csc)):
        if change is REMOVED:
            rules.pop(dataset.pk)
        elif change is not None:
            rules[dataset.pk] = RuleInput(dataset_id=dataset.pk, **change)
    protocol_draft_update(
        membership=author,
        version=draft,
        data=dataclasses.replace(data, rules=tuple(rules.values()), **changes),
    )
    protocol_submit(membership=author, version=draft)
    protocol_approve(membership=Membership.objects.get(user=approver), version=draft)
    return protocol_approve(membership=world.membership(world.police_ig), version=draft)


def _now_view(world, user=None):  # noqa: F811
    return _view(world, user, now=timezone.now())


def _step(override) -> OverrideCarryOver:
    return OverrideCarryOver.objects.get(override=override)


def _ended_notices(world):  # noqa: F811
    return Notification.objects.filter(
        recipient=world.practitioner, kind=NotificationKind.OVERRIDE_ENDED
    )


def test_an_override_in_force_carries_over_to_the_new_version(client, world, approver):  # noqa: F811
    override = _override(world, now=timezone.now(), hours=24)
    expires = override.expires_at
    shown = _police_shown(_now_view(world))
    assert shown
    successor = _successor(world, approver)
    override.refresh_from_db()
    assert (override.version, override.dataset_ids, override.expires_at) == (
        successor,
        [world.linked.police.pk],
        expires,
    )
    assert override.ended_at is None
    # The engine honours it under the new version: the same records, labelled by it.
    view = _now_view(world)
    assert _police_shown(view) == shown
    assert view.overrides == {override.pk}
    labels = {label for r in view.records for f in r.shown_fields for label in f.allowed_by}
    assert f"{successor.label}, under your safeguarding override" in labels
    step = _step(override)
    assert (step.from_version, step.to_version, step.ended, step.by) == (
        world.version,
        successor,
        "",
        world.police_ig,
    )
    assert (step.expires_before, step.expires_after, step.dropped) == (expires, expires, [])
    # Audited: ids, codes and times, the person by reference, both versions.
    entry = AuditEntry.objects.get(action=AuditAction.OVERRIDE, detail__carry_over=step.pk)
    assert entry.actor == world.police_ig
    assert entry.person_reference == world.linked.alice.reference
    assert entry.protocol_versions == sorted([world.version.pk, successor.pk])
    assert entry.detail["outcome"] == "carried"
    assert entry.detail["datasets"] == [world.linked.police.pk]
    assert JUSTIFICATION not in str(entry.detail)
    # Carried over whole: nothing to tell the holder; the protocol's history counts it.
    assert not _ended_notices(world).exists()
    activated = ProtocolEvent.objects.get(version=successor, kind=ProtocolEvent.Kind.ACTIVATED)
    assert activated.detail == (
        "safeguarding overrides in force: 1 carried over to this version, 0 ended"
    )
    # The summary still shows the banner; the override's page says it was carried over.
    client.force_login(world.practitioner)
    summary = client.get(
        reverse("protocols:summary", args=[world.linked.alice.reference]) + "?purpose=safeguarding"
    ).content.decode()
    assert 'data-testid="override-banner"' in summary
    page = client.get(reverse("consent:override_detail", args=[override.pk])).content.decode()
    assert f"{successor.label}, protocol {successor.protocol.reference} (made under version 1)" in (
        page
    )
    assert 'data-outcome="carried"' in page and "Carried over to version 2 on" in page
    # A new override is refused while it runs, pointing at it.
    with pytest.raises(ConsentError) as refused:
        _override(world, now=timezone.now())
    assert "already have an override" in refused.value.problems[""]


def test_its_end_is_capped_by_the_new_versions_longest_override(client, world, approver):  # noqa: F811
    started = timezone.now() - timedelta(hours=10)
    override = _override(world, now=started, hours=72)
    successor = _successor(world, approver, override_max_hours=24, override_default_hours=12)
    override.refresh_from_db()
    # 24 hours from when it began, not from the approval: never longer than version 2 allows.
    assert override.version == successor
    assert override.expires_at == started + timedelta(hours=24)
    assert override.expires_at - override.started_at <= timedelta(hours=24)
    step = _step(override)
    assert step.shortened and step.expires_before == started + timedelta(hours=72)
    assert _police_shown(_now_view(world))
    client.force_login(world.practitioner)
    page = client.get(reverse("consent:override_detail", args=[override.pk])).content.decode()
    assert "as version 2 allows overrides of up to 24 hours" in page


def test_one_that_already_lasted_longer_than_the_new_version_allows_ends(
    client,
    world,  # noqa: F811
    approver,
):
    override = _override(world, now=timezone.now() - timedelta(hours=30), hours=72)
    _successor(world, approver, override_max_hours=24)
    override.refresh_from_db()
    assert override.ended_at is not None and not override.is_active
    assert _step(override).ended == CarryOverEnd.TIME_USED
    assert _police_shown(_now_view(world)) == set()
    [notice] = _ended_notices(world)
    assert notice.message == (
        f"Your safeguarding override for person {world.linked.alice.reference} ended when "
        f"version 2 of the protocol {world.version.name} was approved; the records it opened "
        "are withheld again. The override page says why."
    )
    assert notice.link == reverse("consent:override_detail", args=[override.pk])
    client.force_login(world.practitioner)
    page = client.get(notice.link).content.decode()
    assert 'data-outcome="ended"' in page
    assert (
        "when version 2 was approved: the new version allows shorter overrides, and this one "
        "had already lasted that long." in page
    )
    # Ended: the expiry task does not announce it a second time.
    from consent.overrides import overrides_expire

    overrides_expire(now=override.expires_at + timedelta(seconds=1))
    assert _ended_notices(world).count() == 1


@pytest.mark.parametrize(
    ("police", "reason"),
    [
        ({"tier": Tier.FULL, "consent": ConsentRule.NEEDED}, CarryOverDrop.NO_YIELDING_RULE),
        ({"tier": Tier.KNOWN_TO, "consent": ConsentRule.UNLESS_OVERRIDE}, "no_yielding_rule"),
        (REMOVED, CarryOverDrop.NO_YIELDING_RULE),
    ],
)
def test_it_ends_where_nothing_it_opened_gives_way_any_more(
    client,
    world,  # noqa: F811
    approver,
    police,
    reason,
):
    override = _override(world, now=timezone.now())
    _successor(world, approver, police=police)
    override.refresh_from_db()
    assert override.ended_at is not None
    step = _step(override)
    assert step.ended == CarryOverEnd.NOTHING_LEFT
    assert [(d["dataset"], d["reason"]) for d in step.dropped] == [(world.linked.police.pk, reason)]
    assert _police_shown(_now_view(world)) == set()
    assert _ended_notices(world).count() == 1
    client.force_login(world.practitioner)
    page = client.get(reverse("consent:override_detail", args=[override.pk])).content.decode()
    assert f"No longer opens {world.police.name}, {world.linked.police.name}: the new version" in (
        page
    )
    # Nothing in force: the practitioner is not told one is, and "Use a safeguarding override"
    # is no dead end.
    assert (
        overrides_in_force(
            user=world.practitioner,
            membership=world.membership(world.practitioner),
            person=world.linked.alice,
        )
        == []
    )


def test_a_wider_rule_needs_a_new_override_reviewed_afresh(world, approver, agency, other_agency):  # noqa: F811
    world.version.rules.filter(dataset=world.linked.police).update(
        tier=Tier.SUMMARY, fields=["field:risk_grade"]
    )
    override = _override(world, now=timezone.now())
    assert {key for _, key in _police_shown(_now_view(world))} == {"field:risk_grade"}
    _successor(
        world,
        approver,
        police={"tier": Tier.FULL, "consent": ConsentRule.UNLESS_OVERRIDE},
    )
    override.refresh_from_db()
    step = _step(override)
    assert (step.ended, step.dropped[0]["reason"]) == (
        CarryOverEnd.NOTHING_LEFT,
        CarryOverDrop.WIDER_RULE,
    )
    assert _police_shown(_now_view(world)) == set()
    # Not "already in force": a new override, under version 2, opens the full records.
    again = _override(world, now=timezone.now())
    assert again.version.number == 2
    assert {key for _, key in _police_shown(_now_view(world))} > {"field:risk_grade"}


def test_part_of_it_carries_over_and_the_holder_is_told_what_it_no_longer_opens(world, approver):  # noqa: F811
    # CSC records too need consent unless overridden; nothing is consented, so the override
    # opens both.
    world.version.rules.filter(dataset=world.linked.csc).update(consent=ConsentRule.UNLESS_OVERRIDE)
    override = _override(world, now=timezone.now())
    assert sorted(override.dataset_ids) == sorted([world.linked.police.pk, world.linked.csc.pk])
    # Version 2 shares CSC records without consent.
    _successor(world, approver, csc={"tier": Tier.FULL, "consent": ConsentRule.NONE})
    override.refresh_from_db()
    assert override.ended_at is None and override.dataset_ids == [world.linked.police.pk]
    step = _step(override)
    assert step.carried and step.dropped_reasons == [
        (
            f"{world.csc.name}, {world.linked.csc.name}",
            CarryOverDrop.NO_CONSENT_NEEDED.label,
        )
    ]
    [notice] = _ended_notices(world)
    assert notice.message.endswith(
        f"carried over to version 2 of the protocol {world.version.name}, but no longer opens "
        f"{world.csc.name}, {world.linked.csc.name}. The override page says why."
    )
    view = _now_view(world)
    assert _police_shown(view) and view.overrides == {override.pk}
    assert any(r.agency.code == "CSC" and r.shown_fields for r in view.records)


def test_it_ends_when_the_new_version_no_longer_serves_the_holder(world, approver):  # noqa: F811
    override = _override(world, now=timezone.now())
    _successor(world, approver, roles=(Role.ANALYST,))
    override.refresh_from_db()
    assert _step(override).ended == CarryOverEnd.NOT_FOR_HOLDER
    assert override.ended_at is not None


def test_only_overrides_in_force_move_and_only_once(world, approver):  # noqa: F811
    now = timezone.now()
    ended = _override(world, now=now - timedelta(hours=30), hours=1)
    running = _override(world, now=now)
    colleagues = _override(world, world.colleague, now=now)
    successor = _successor(world, approver)
    for override in (running, colleagues, ended):
        override.refresh_from_db()
    assert running.version == colleagues.version == successor
    assert ended.version == world.version and not ended.carry_overs.exists()
    # Asked again (a second beat, a repair): nothing more happens.
    assert overrides_carry_over(version=successor) == []
    assert OverrideCarryOver.objects.count() == 2
    call_command("overrides_carry_over")
    assert OverrideCarryOver.objects.count() == 2


def test_the_repair_command_moves_overrides_left_under_a_replaced_version(world, capsys):  # noqa: F811
    """Before approvals carried overrides over, one left under a replaced version lifted
    nothing and still counted as in force: a dead end. It no longer counts, and the command
    carries it over."""
    override = _override(world, now=timezone.now())
    world.version.status = VersionStatus.SUPERSEDED
    world.version.save()
    successor = ProtocolVersion.objects.create(
        protocol=world.version.protocol,
        number=2,
        name=world.version.name,
        purpose=Purpose.SAFEGUARDING,
        lawful_basis=world.version.lawful_basis,
        roles=world.version.roles,
        valid_from=world.version.valid_from,
        status=VersionStatus.ACTIVE,
        author=world.csc_ig,
    )
    successor.parties.set([world.csc, world.police])
    for rule in world.version.rules.all():
        rule.pk = None
        rule.version = successor
        rule.save()
    membership = world.membership(world.practitioner)
    assert _police_shown(_now_view(world)) == set()
    assert (
        overrides_in_force(
            user=world.practitioner, membership=membership, person=world.linked.alice
        )
        == []
    )
    call_command("overrides_carry_over")
    assert "1 carried over, 0 ended." in capsys.readouterr().out
    override.refresh_from_db()
    assert override.version == successor and _step(override).by is None
    assert _police_shown(_now_view(world))
    assert [
        o.pk
        for o in overrides_in_force(
            user=world.practitioner, membership=membership, person=world.linked.alice
        )
    ] == [override.pk]


def test_the_override_page_links_to_the_one_in_force_to_end_it_and_start_again(client, world):  # noqa: F811
    # CSC records yield too, and CSC consent is given: the override opens police records only.
    world.version.rules.filter(dataset=world.linked.csc).update(consent=ConsentRule.UNLESS_OVERRIDE)
    _statement(world, ConsentState.GIVEN, agencies=[world.csc], at=timezone.now())
    override = _override(world, now=timezone.now())
    assert override.dataset_ids == [world.linked.police.pk]
    client.force_login(world.practitioner)
    url = reverse("consent:override_new", args=[world.linked.alice.reference])
    page = client.get(url).content.decode()
    detail = reverse("consent:override_detail", args=[override.pk])
    assert 'data-testid="override-active"' in page
    assert f'href="{detail}" data-testid="override-active-link"' in page
    assert 'data-testid="override-restart"' in page
    # Nothing else gives way, so no form: not the "nothing gives way" dead end either.
    assert "Your override already opens everything" in page
    # "End it and start a new override": ended, and back on the form to start again.
    response = client.post(reverse("consent:override_stop", args=[override.pk]), {"then": "new"})
    assert response.status_code == 302 and response["Location"] == url
    override.refresh_from_db()
    assert override.ended_at is not None
    page = client.get(url).content.decode()
    assert 'data-testid="override-form"' in page and 'data-testid="override-active"' not in page
    # Its page offers the same.
    again = _override(world, now=timezone.now())
    page = client.get(reverse("consent:override_detail", args=[again.pk])).content.decode()
    assert "End it and start a new override" in page and "End the override now" in page
