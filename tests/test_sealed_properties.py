"""Property: no combination of protocols, consent and safeguarding overrides discloses a sealed
record to another agency, and a seal changes nothing for the record's own agency.

A fixed world (tests.protocol_helpers.linked_people: police hold Alice's A1 and A2 and Bob's
B1; social care hold Alice's S1 and Carol's S2). Each example builds up to three protocols over
both datasets, with random tiers, fields, consent rules, staging and consent from others,
consent statements (given, refused or withdrawn, recorded by either agency, confirmed or not,
for one protocol or the purpose), the social care practitioner's overrides and unlock, and one
seal: in a protocol version, partnership-wide, or by risk indicator. Then, for the social care
practitioner, no sealed record shows as a record, in "known to" or in agencies_visible, and
everything else shows exactly as it did before the seal; for a police practitioner holding the
same protocols, nothing changes at all.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencies.models import Role
from consent.models import (
    ConfirmationOutcome,
    ConsentConfirmation,
    ConsentRecord,
    ConsentState,
    OverrideCategory,
    SafeguardingOverride,
)
from core.purpose import Purpose
from protocols.engine import agencies_visible, disclose
from protocols.models import CaseUnlock, ConsentFromOthers, ConsentRule, SealRule, Tier
from protocols.seals import seals_mark
from tests.protocol_helpers import give, linked_people, protocol_in_force

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
POLICE_FIELDS = ["field:risk_grade", "field:incident_date", "field:summary", "identity:surname"]
CSC_FIELDS = ["field:category_of_need", "field:referral_date", "identity:forename"]

rules = st.fixed_dictionaries(
    {
        "tier": st.sampled_from([Tier.KNOWN_TO, Tier.SUMMARY, Tier.FULL]),
        "police_fields": st.sets(st.sampled_from(POLICE_FIELDS), min_size=1),
        "csc_fields": st.sets(st.sampled_from(CSC_FIELDS), min_size=1),
        "consent": st.sampled_from(list(ConsentRule.values)),
        "staged": st.booleans(),
        "from_others": st.sampled_from(list(ConsentFromOthers.values)),
        "override": st.booleans(),
    }
)
statements = st.fixed_dictionaries(
    {
        "state": st.sampled_from(
            [ConsentState.GIVEN, ConsentState.REFUSED, ConsentState.WITHDRAWN]
        ),
        "by_police": st.booleans(),
        "confirmed": st.booleans(),
        # None: for the purpose; otherwise the index of a protocol.
        "protocol": st.one_of(st.none(), st.integers(0, 2)),
        "days_ago": st.integers(1, 30),
    }
)


class Rollback(Exception):
    pass


def shown(views) -> dict:
    """What a user is shown: per person, the records with their shown keys and the datasets
    "known to" with their record ids."""
    return {
        pid: (
            {r.record_id: frozenset(f.key for f in r.shown_fields) for r in view.records},
            {i.dataset_id: sorted(i.record_ids) for i in view.involvements},
        )
        for pid, view in views.items()
    }


@pytest.mark.django_db
def test_no_combination_discloses_a_sealed_record_to_another_agency(agency, other_agency, member):
    linked = linked_people(other_agency, agency)
    csc_user = member(Role.PRACTITIONER)
    police_user = member(Role.PRACTITIONER, in_agency=other_agency)
    persons = [linked.alice, linked.bob, linked.carol]
    # Examples where A2 was shown before the seal (as a record or in "known to"): the property
    # means something only if many examples would have disclosed it.
    exposed = []

    def read(user):
        membership = user.memberships.get()
        views = disclose(
            user=user,
            membership=membership,
            persons=persons,
            purpose=Purpose.SAFEGUARDING,
            now=NOW,
        )
        visible = agencies_visible(
            user=user,
            membership=membership,
            person_ids=[p.pk for p in persons],
            purpose=Purpose.SAFEGUARDING,
            now=NOW,
        )
        return views, visible

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        protocols=st.lists(rules, min_size=1, max_size=3),
        said=st.lists(statements, max_size=3),
        unlocked=st.booleans(),
        seal_by=st.sampled_from(["version", "partnership", "indicator"]),
    )
    def check(protocols, said, unlocked, seal_by):
        try:
            with transaction.atomic():
                versions = []
                for spec in protocols:
                    police_rule = {
                        "dataset": linked.police,
                        "tier": spec["tier"],
                        "consent": spec["consent"],
                    }
                    csc_rule = {"dataset": linked.csc, "tier": spec["tier"]}
                    if spec["tier"] == Tier.SUMMARY:
                        police_rule["fields"] = spec["police_fields"]
                        csc_rule["fields"] = spec["csc_fields"]
                    version = protocol_in_force(
                        author=csc_user,
                        parties=[agency, other_agency],
                        rules=[police_rule, csc_rule],
                        staged=spec["staged"],
                    )
                    version.consent_from_others = spec["from_others"]
                    version.save()
                    give(version, csc_user)
                    give(version, police_user)
                    versions.append(version)
                    if spec["override"]:
                        override = SafeguardingOverride.objects.create(
                            person=linked.alice,
                            user=csc_user,
                            agency=agency,
                            role=Role.PRACTITIONER,
                            protocol=version.protocol,
                            version=version,
                            category=OverrideCategory.SIGNIFICANT_HARM,
                            justification="Property test override justification",
                            hours=24,
                            started_at=NOW - timedelta(hours=1),
                            expires_at=NOW + timedelta(hours=23),
                            dataset_ids=[linked.police.pk],
                        )
                        override.agencies.set([other_agency])
                for statement in said:
                    index = statement["protocol"]
                    scope = (
                        {"protocol": versions[index].protocol}
                        if index is not None and index < len(versions)
                        else {"purpose": Purpose.SAFEGUARDING}
                    )
                    by = other_agency if statement["by_police"] else agency
                    record = ConsentRecord.objects.create(
                        person=linked.alice,
                        state=statement["state"],
                        recorded_by=police_user if statement["by_police"] else csc_user,
                        recorded_by_agency=by,
                        recorded_at=NOW - timedelta(days=statement["days_ago"]),
                        **scope,
                    )
                    record.agencies.set([other_agency])
                    if statement["confirmed"]:
                        ConsentConfirmation.objects.create(
                            record=record,
                            agency=other_agency,
                            outcome=ConfirmationOutcome.CONFIRMED,
                            by=police_user,
                        )
                if unlocked:
                    CaseUnlock.objects.create(
                        user=csc_user, person=linked.alice, step="strategy_discussion"
                    )

                before_csc, _ = read(csc_user)
                a2 = linked.records["A2"].pk
                if any(
                    a2 in {r.record_id for r in v.records}
                    or any(a2 in i.record_ids for i in v.involvements)
                    for v in before_csc.values()
                ):
                    exposed.append(a2)
                before_police, visible_police = read(police_user)

                sealed = {linked.records["A2"].pk}
                if seal_by == "indicator":
                    from risk.models import IndicatorKind, RiskFinding, RiskIndicator

                    indicator = RiskIndicator.objects.create(
                        name="Sealed by indicator", kind=IndicatorKind.STRUCTURED, weight=1
                    )
                    SealRule.objects.create(
                        dataset=linked.police,
                        version=versions[0],
                        indicator=indicator,
                        reason="Property test",
                    )
                    for name in ("A2", "B1"):
                        RiskFinding.objects.create(
                            indicator=indicator, record=linked.records[name], revision=1
                        )
                    sealed.add(linked.records["B1"].pk)
                else:
                    SealRule.objects.create(
                        dataset=linked.police,
                        version=versions[0] if seal_by == "version" else None,
                        field_key="field:risk_grade",
                        value="  Medium",
                        reason="Property test",
                    )
                    seals_mark(dataset_id=linked.police.pk)

                views, visible = read(csc_user)
                for view in views.values():
                    assert not sealed & {r.record_id for r in view.records}
                    for involvement in view.involvements:
                        assert not sealed & set(involvement.record_ids)
                police_left = {
                    pid
                    for pid, view in before_csc.items()
                    for involvement in view.involvements
                    if involvement.dataset_id == linked.police.pk
                    and set(involvement.record_ids) - sealed
                }
                for pid, agencies in visible.items():
                    if other_agency.pk in agencies:
                        assert pid in police_left
                # Everything not sealed shows exactly as before.
                expected = {}
                for pid, (records, involvements) in shown(before_csc).items():
                    records = {k: v for k, v in records.items() if k not in sealed}
                    involvements = {
                        d: [r for r in ids if r not in sealed] for d, ids in involvements.items()
                    }
                    involvements = {d: ids for d, ids in involvements.items() if ids}
                    if involvements:
                        expected[pid] = (records, involvements)
                assert shown(views) == expected
                # The record's own agency sees what it saw before.
                after_police, after_visible = read(police_user)
                assert shown(after_police) == shown(before_police)
                assert after_visible == visible_police
                raise Rollback
        except Rollback:
            pass

    check()
    assert len(exposed) >= 10
