"""Sealed records (protocols.seals): kept from every other agency, seen by their own, and still
reached by subject access and retention."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agencies.models import Dataset, Role, SourceRecord
from protocols.engine import agencies_visible, disclose
from protocols.models import SealedRecord, SealRule, VersionStatus
from protocols.seals import (
    seal_reason,
    seal_rules_for,
    seal_value,
    sealed_record_ids,
    seals_mark,
)
from retention.services import erasure_perform, expired_records, retention_run_start
from subject_access.records import agency_records_opened
from tests.ingest_helpers import csv_bytes, good_row, upload
from tests.protocol_helpers import give, linked_people, protocol_in_force

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def world(agency, other_agency, member):
    """Police (other_agency) share everything with social care (agency) and with their own
    practitioners; A2, Alice's medium-risk police incident, is the record a seal will name."""
    linked = linked_people(other_agency, agency)
    csc_user = member(Role.PRACTITIONER)
    police_user = member(Role.PRACTITIONER, in_agency=other_agency)
    version = protocol_in_force(
        author=csc_user,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police}, {"dataset": linked.csc}],
    )
    give(version, csc_user)
    give(version, police_user)
    return linked, version, csc_user, police_user


def seal(linked, version=None, value=" MEDIUM ", **extra) -> SealRule:
    rule = SealRule.objects.create(
        dataset=linked.police,
        version=version,
        field_key="field:risk_grade",
        value=value,
        reason="Test seal",
        **extra,
    )
    seals_mark(dataset_id=linked.police.pk)
    return rule


def view_of(user, person):
    return disclose(
        user=user,
        membership=user.memberships.get(),
        persons=[person],
        purpose="safeguarding",
        now=NOW,
    ).get(person.pk)


def test_values_compare_ignoring_case_and_spacing():
    assert seal_value("  Sexual   Health ") == seal_value("sexual health") == "sexual health"
    assert seal_value(None) == ""


def test_a_sealed_record_is_gone_for_another_agency_and_seen_by_its_own(world):
    linked, version, csc_user, police_user = world
    a2 = linked.records["A2"].pk
    seal(linked, version)
    assert SealedRecord.objects.filter(record_id=a2).count() == 1

    other = view_of(csc_user, linked.alice)
    assert a2 not in {r.record_id for r in other.records}
    police = next(i for i in other.involvements if i.dataset_id == linked.police.pk)
    assert police.records == 1 and a2 not in police.record_ids
    # Counted for a preview, never listed.
    assert other.sealed == {linked.police.pk: 1}

    own = view_of(police_user, linked.alice)
    assert a2 in {r.record_id for r in own.records}
    assert own.sealed == {}
    assert sealed_record_ids(record_ids=[a2, linked.records["A1"].pk], today=NOW.date()) == {a2}


def test_a_person_known_only_through_sealed_records_does_not_exist_for_others(world):
    linked, version, csc_user, police_user = world
    seal(linked, value="high")  # partnership-wide: A1 and Bob's B1 are high risk
    seal(linked, version)  # and A2
    assert view_of(csc_user, linked.bob) is None
    seen = agencies_visible(
        user=csc_user,
        membership=csc_user.memberships.get(),
        person_ids=[linked.alice.pk, linked.bob.pk],
        purpose="safeguarding",
        now=NOW,
    )
    # Alice stays known to social care through its own record; the police are not named.
    assert seen == {linked.alice.pk: {linked.csc.agency_id}}
    assert view_of(police_user, linked.bob) is not None


def test_a_seal_in_a_draft_or_a_version_out_of_force_seals_nothing_yet(world, agency):
    linked, version, csc_user, _ = world
    draft = protocol_in_force(
        author=csc_user,
        parties=[agency, linked.police.agency],
        rules=[{"dataset": linked.police}],
        status=VersionStatus.DRAFT,
    )
    seal(linked, draft)
    a2 = linked.records["A2"].pk
    assert a2 in {r.record_id for r in view_of(csc_user, linked.alice).records}
    # A preview of the draft counts its seals as if in force.
    assert sealed_record_ids(record_ids=[a2], today=NOW.date(), version_id=draft.pk) == {a2}
    assert [r.pk for r in seal_rules_for(dataset_ids=[linked.police.pk], today=NOW.date())] == []
    draft.status = VersionStatus.ACTIVE
    draft.save()
    assert a2 not in {r.record_id for r in view_of(csc_user, linked.alice).records}


def test_a_record_loaded_after_the_rule_is_sealed_before_anyone_can_find_it(world):
    linked, version, csc_user, _ = world
    seal(linked, version, value="standard")
    upload(linked.police, csv_bytes([good_row("A9", risk_grade="Standard")]))
    a9 = SourceRecord.objects.get(dataset=linked.police, source_id="A9")
    assert SealedRecord.objects.filter(record=a9).exists()
    # A record whose value changes in a later extract is unsealed, and sealed again.
    upload(linked.police, csv_bytes([good_row("A9", risk_grade="high")]))
    assert not SealedRecord.objects.filter(record=a9).exists()


def test_a_seal_by_risk_indicator_follows_the_findings(world):
    from risk.models import IndicatorKind, RiskFinding, RiskIndicator

    linked, version, csc_user, _ = world
    indicator = RiskIndicator.objects.create(
        name="Adoption record", kind=IndicatorKind.STRUCTURED, weight=1
    )
    indicator.datasets.add(linked.police)
    SealRule.objects.create(
        dataset=linked.police, version=version, indicator=indicator, reason="Adoption"
    )
    assert view_of(csc_user, linked.bob) is not None
    RiskFinding.objects.create(indicator=indicator, record=linked.records["B1"], revision=1)
    assert view_of(csc_user, linked.bob) is None


def test_subject_access_still_reaches_sealed_records(world):
    linked, version, *_ = world
    seal(linked, version)
    opened = agency_records_opened(person=linked.alice, agency_id=linked.police.agency_id)
    assert len(opened) == 2  # A1 and the sealed A2


def test_retention_still_erases_sealed_records_and_their_marks(world):
    linked, version, *_ = world
    seal(linked, version)
    a2 = linked.records["A2"].pk
    Dataset.objects.filter(pk=linked.police.pk).update(retention_days=30)
    SourceRecord.objects.filter(pk=a2).update(updated_at=timezone.now() - timedelta(days=400))
    assert a2 in set(expired_records().values_list("pk", flat=True))
    erasure_perform(erasure_id=retention_run_start().pk)
    assert not SourceRecord.objects.filter(pk=a2).exists()
    assert not SealedRecord.objects.filter(record_id=a2).exists()


def test_seal_reason_says_why_in_words(world):
    linked, version, *_ = world
    rule = seal(linked, version)
    assert seal_reason(rule) == 'Sealed: records where Risk grade is " MEDIUM ". Test seal'
    assert seal_reason(rule, {"risk_grade": "high"}) == ""


def post_protocol(client, linked, agency, **extra):
    data = {
        "name": "MASH",
        "purpose": "safeguarding",
        "lawful_basis": "UK GDPR Art 6(1)(e)",
        "valid_from": "2026-01-01",
        "parties": [str(agency.pk), str(linked.police.agency_id)],
        "roles": [Role.PRACTITIONER],
        f"rule-{linked.police.pk}-tier": "full",
        f"rule-{linked.police.pk}-consent": "none",
        "seal-rows": "2",
        **extra,
    }
    return client.post(reverse("protocols:protocol_new"), data)


def test_an_officer_seals_records_on_the_protocol_form(
    world, agency, member, client, django_capture_on_commit_callbacks
):
    linked, *_ = world
    officer = member(Role.IG_OFFICER)
    client.force_login(officer)
    page = client.get(reverse("protocols:protocol_new"))
    assert b"Sealed records" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = post_protocol(
            client,
            linked,
            agency,
            **{
                "seal-1-what": f"{linked.police.pk}|field:risk_grade",
                "seal-1-value": "medium",
                "seal-1-reason": "Never travels",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = SealRule.objects.get(reason="Never travels")
    assert rule.version.status == VersionStatus.DRAFT and rule.value == "medium"
    # Marked at once, so approving the version needs no more work.
    assert SealedRecord.objects.filter(rule=rule, record=linked.records["A2"]).exists()
    version_page = client.get(
        reverse("protocols:version_detail", args=[rule.version.protocol.reference, 1])
    )
    assert "Records where Risk grade is &quot;medium&quot;" in version_page.content.decode()
    # The protocol page shows the version in force's seals, and the partnership's.
    _, in_force, *_ = world
    seal(linked, in_force, value="high")
    seal(linked, value="standard")
    detail = client.get(reverse("protocols:protocol_detail", args=[in_force.protocol.reference]))
    text = detail.content.decode()
    assert "Records where Risk grade is &quot;high&quot;" in text
    assert "The partnership, for every protocol" in text


def test_a_sealing_row_with_a_mistake_keeps_what_was_typed(world, agency, member, client):
    linked, *_ = world
    client.force_login(member(Role.IG_OFFICER))
    response = post_protocol(
        client,
        linked,
        agency,
        **{"seal-1-what": "", "seal-1-value": "sexual health", "seal-1-reason": "Kept"},
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Sealing rule 1: Choose what to seal by" in text
    assert 'value="sexual health"' in text and 'value="Kept"' in text
    response = post_protocol(
        client,
        linked,
        agency,
        **{"seal-1-what": f"{linked.police.pk}|field:risk_grade", "seal-1-reason": "Why"},
    )
    assert "Sealing rule 1: enter the value that seals a record" in response.content.decode()
    assert not SealRule.objects.exists()


def test_a_new_version_keeps_the_seals(world, agency, member, django_capture_on_commit_callbacks):
    from protocols.services import protocol_revise

    linked, version, *_ = world
    version.protocol.owner_agency = agency
    version.protocol.save()
    seal(linked, version)
    officer = member(Role.IG_OFFICER)
    with django_capture_on_commit_callbacks(execute=True):
        new = protocol_revise(membership=officer.memberships.get(), protocol=version.protocol)
    assert list(new.seals.values_list("value", flat=True)) == ["MEDIUM"]
    # The new draft's rule is marked as it is made.
    assert SealedRecord.objects.filter(rule__version=new).count() == 1


def test_dashboards_count_no_sealed_record(world):
    from agencies.models import Agency
    from insights.models import PersonProfile
    from insights.services import profiles_rebuild

    linked, version, *_ = world
    seal(linked, value="high")  # A1 and Bob's B1
    seal(linked, version)  # A2
    profiles_rebuild(agencies=list(Agency.objects.order_by("pk")))
    profiles = {p.person_id: p.agencies for p in PersonProfile.objects.all()}
    # Bob is known only through a sealed record; Alice only to social care now.
    assert linked.bob.pk not in profiles
    assert profiles[linked.alice.pk] == 1


def test_a_pair_with_a_sealed_record_stays_out_of_another_agencys_review_queue(
    world, agency, other_agency, member, client
):
    from matching.models import ReviewItem
    from matching.review import review_item_readable, review_queue, reviewer_grant

    linked, version, *_ = world
    seal(linked, version)
    a1, a2 = linked.records["A1"], linked.records["A2"]

    def pair(one, two, score):
        first, second = sorted((one, two), key=lambda r: r.pk)  # stored in id order
        return ReviewItem.objects.create(
            record_a=first, record_b=second, score=score, probability=0.5
        )

    sealed_pair = pair(a2, a1, 5)
    open_pair = pair(a1, linked.records["S1"], 4)
    csc_reviewer = member(Role.PRACTITIONER)
    police_reviewer = member(Role.PRACTITIONER, in_agency=other_agency)
    for reviewer in (csc_reviewer, police_reviewer):
        reviewer_grant(user=reviewer)
    csc, police = csc_reviewer.memberships.get(), police_reviewer.memberships.get()
    assert list(review_queue(csc)) == [open_pair]
    assert not review_item_readable(csc_reviewer, csc, sealed_pair)
    assert list(review_queue(police)) == [sealed_pair, open_pair]
    assert review_item_readable(police_reviewer, police, sealed_pair)
    # Platform reviewers, acting for no agency, keep linkage right for everyone.
    assert list(review_queue(None)) == [sealed_pair, open_pair]
    client.force_login(csc_reviewer)
    assert client.get(reverse("matching:review_item", args=[sealed_pair.pk])).status_code == 404


@pytest.mark.parametrize(
    ("stored", "typed", "seals"),
    [(True, "yes", True), (True, "Yes", True), ("true", "y", True), (False, "no", True),
     (False, "yes", False), ("Sexual  Health", "sexual health", True), ("0", "no", False)],
)  # fmt: skip
def test_a_seal_value_reads_a_yes_or_no_however_it_is_written(stored, typed, seals):
    from protocols.models import SealRule
    from protocols.seals import rule_matches

    rule = SealRule(field_key="field:child_present", value=typed)
    assert rule_matches(rule, {"child_present": stored}) is seals
