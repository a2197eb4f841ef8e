"""The disclosure engine, tier by tier: what each rule shows, withholds and leaves out."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Group

from agencies.models import Membership, Role
from core.purpose import Purpose
from protocols.engine import Withholding, disclose_view
from protocols.models import CaseUnlock, ConsentRule, Tier, VersionStatus
from tests.protocol_helpers import give, linked_people, protocol_in_force

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def world(agency, other_agency, member):
    """CSC (agency) and police (other_agency), Alice/Bob/Carol, a CSC practitioner."""
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    practitioner = member(Role.PRACTITIONER)
    ig = member(Role.IG_OFFICER)
    return linked, practitioner, ig, agency, other_agency


def _view(user, person, *, purpose=Purpose.SAFEGUARDING, now=NOW):
    membership = Membership.objects.filter(user=user).first()
    return disclose_view(user=user, membership=membership, person=person, purpose=purpose, now=now)


def _shown(view):
    return {(r.dataset_name, f.key) for r in view.records for f in r.shown_fields}


def test_no_protocol_sees_nobody(world):
    linked, practitioner, *_ = world
    assert _view(practitioner, linked.alice) is None


def test_known_to_shows_involvement_and_latest_date_only(world):
    linked, practitioner, ig, csc, police = world
    version = protocol_in_force(
        author=ig, parties=[csc, police], rules=[{"dataset": linked.police, "tier": Tier.KNOWN_TO}]
    )
    give(version, practitioner)
    view = _view(practitioner, linked.alice)
    assert view is not None
    assert view.records == []
    assert [(i.agency.code, i.latest, i.records) for i in view.involvements] == [
        ("POL", date(2026, 1, 10), 2)
    ]
    assert view.name == ""
    # Carol has no police record: the protocol covers nothing of hers.
    assert _view(practitioner, linked.carol) is None


def test_summary_shows_only_named_fields_and_labels_the_protocol(world):
    linked, practitioner, ig, csc, police = world
    version = protocol_in_force(
        author=ig,
        parties=[csc, police],
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": ["identity:forename", "field:risk_grade"],
            }
        ],
    )
    give(version, practitioner)
    view = _view(practitioner, linked.alice)
    assert _shown(view) == {
        (linked.police.name, "identity:forename"),
        (linked.police.name, "field:risk_grade"),
    }
    values = sorted(
        f.value for r in view.records for f in r.shown_fields if f.key == "field:risk_grade"
    )
    assert values == ["high", "medium"]
    assert all(f.allowed_by == [version.label] for r in view.records for f in r.shown_fields)
    # The event date field is not shared, so the timeline shows no dates.
    assert all(r.event_date is None for r in view.records)
    assert view.records[0].not_shared == 7


def test_full_shows_every_field_with_decrypted_identity(world):
    linked, practitioner, ig, csc, police = world
    give(
        protocol_in_force(author=ig, parties=[csc, police], rules=[{"dataset": linked.csc}]),
        practitioner,
    )
    view = _view(practitioner, linked.alice)
    (record,) = view.records
    assert {f.key for f in record.shown_fields} >= {
        "identity:forename",
        "identity:surname",
        "identity:date_of_birth",
        "field:case_notes",
    }
    assert view.name == "Alice Smith"
    assert view.date_of_birth == "2015-02-01"
    assert record.event_date == date(2026, 3, 1)
    assert record.not_shared == 0


def test_validity_dates_and_status(world):
    linked, practitioner, ig, csc, police = world
    version = protocol_in_force(
        author=ig,
        parties=[csc, police],
        rules=[{"dataset": linked.csc}],
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
    )
    give(version, practitioner)
    assert _view(practitioner, linked.alice, now=NOW) is not None
    assert _view(practitioner, linked.alice, now=NOW.replace(year=2025)) is None
    assert _view(practitioner, linked.alice, now=NOW.replace(year=2027)) is None
    for status in (VersionStatus.SUSPENDED, VersionStatus.DRAFT, VersionStatus.SUPERSEDED):
        version.status = status
        version.save()
        assert _view(practitioner, linked.alice) is None


def test_purpose_role_and_party_must_match(world, member):
    linked, practitioner, ig, csc, police = world
    version = protocol_in_force(author=ig, parties=[csc, police], rules=[{"dataset": linked.csc}])
    give(version, practitioner)
    assert _view(practitioner, linked.alice, purpose=Purpose.COMMISSIONING) is None
    analyst = member(Role.ANALYST)
    give(version, analyst)
    assert _view(analyst, linked.alice) is None
    from tests.factories import AgencyFactory

    outsider_agency = AgencyFactory(code="HSG", name="Housing", kind="housing")
    outsider = member(Role.PRACTITIONER, in_agency=outsider_agency)
    give(version, outsider)
    assert _view(outsider, linked.alice) is None


def test_group_assignment(world):
    linked, practitioner, ig, csc, police = world
    version = protocol_in_force(author=ig, parties=[csc, police], rules=[{"dataset": linked.csc}])
    mash = Group.objects.create(name="MASH")
    give(version, mash)
    assert _view(practitioner, linked.alice) is None
    practitioner.groups.add(mash)
    assert _view(practitioner, linked.alice) is not None


def test_consent_rule_withholds_detail_with_reason(world):
    linked, practitioner, ig, csc, police = world
    version = protocol_in_force(
        author=ig,
        parties=[csc, police],
        rules=[{"dataset": linked.police, "consent": ConsentRule.NEEDED}],
    )
    give(version, practitioner)
    view = _view(practitioner, linked.alice)
    assert view.records == []
    assert [i.agency.code for i in view.involvements] == ["POL"]
    (withheld,) = view.withheld
    assert withheld.reason == Withholding.CONSENT
    assert "Risk grade" in withheld.field_labels


def test_staged_disclosure_unlocks_per_user(world, member):
    linked, practitioner, ig, csc, police = world
    version = protocol_in_force(
        author=ig, parties=[csc, police], rules=[{"dataset": linked.police}], staged=True
    )
    colleague = member(Role.PRACTITIONER)
    give(version, practitioner)
    give(version, colleague)
    view = _view(practitioner, linked.alice)
    assert view.records == [] and view.staged_locked
    assert view.withheld[0].reason == Withholding.ASSESSMENT
    CaseUnlock.objects.create(user=practitioner, person=linked.alice, step="initial_assessment")
    assert len(_view(practitioner, linked.alice).records) == 2
    assert _view(colleague, linked.alice).records == []


def test_several_protocols_union_and_labels(world):
    linked, practitioner, ig, csc, police = world
    summary = protocol_in_force(
        author=ig,
        parties=[csc, police],
        rules=[{"dataset": linked.police, "tier": Tier.SUMMARY, "fields": ["field:risk_grade"]}],
        name="MASH",
    )
    full_with_consent = protocol_in_force(
        author=ig,
        parties=[csc, police],
        rules=[{"dataset": linked.police, "consent": ConsentRule.NEEDED}],
        name="Early help",
    )
    give(summary, practitioner)
    give(full_with_consent, practitioner)
    view = _view(practitioner, linked.alice)
    for record in view.records:
        assert [f.key for f in record.shown_fields] == ["field:risk_grade"]
        assert record.shown_fields[0].allowed_by == [summary.label]
        withheld = {f.key: f.withheld for f in record.withheld_fields}
        assert withheld["field:summary"] == Withholding.CONSENT
        assert "field:risk_grade" not in withheld
    (entry,) = view.withheld
    assert "Risk grade" not in entry.field_labels


def test_lookback_limits_records(world):
    linked, practitioner, ig, csc, police = world
    version = protocol_in_force(
        author=ig,
        parties=[csc, police],
        rules=[{"dataset": linked.police, "lookback_days": 365}],
    )
    give(version, practitioner)
    view = _view(practitioner, linked.alice)
    assert [r.event_date for r in view.records] == [date(2026, 1, 10)]
    assert _view(practitioner, linked.alice, now=NOW + timedelta(days=400)) is None


def test_superuser_without_protocol_sees_nothing(world, member):
    linked, *_ = world
    boss = member(Role.PRACTITIONER, is_superuser=True)
    assert _view(boss, linked.alice) is None
