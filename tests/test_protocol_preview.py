"""The "view as" preview of a protocol version (issue 22, item 1): the engine's entry points for
a hypothetical holder, the preview page, its audit, and that what it previews is what a real
holder is shown once the version is approved."""

import re
from datetime import date

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencies.models import Role
from audit.models import AuditAction, AuditEntry, RecordRead
from consent.models import ConsentRecord, ConsentState
from core.purpose import Purpose
from protocols.engine import (
    SYNTHETIC_REFERENCE,
    Withholding,
    disclose,
    disclose_as_holder,
    disclose_synthetic,
    version_grants,
)
from protocols.models import ConsentRule, Tier, VersionStatus
from protocols.preview import protocol_preview
from protocols.services import protocol_approve
from tests.factories import AgencyFactory, MembershipFactory, UserFactory
from tests.protocol_helpers import give, linked_people, protocol_in_force

RISK = "field:risk_grade"
POLICE_KEYS = {
    "identity:forename",
    "identity:surname",
    "identity:date_of_birth",
    "identity:nhs_number",
    "identity:postcode",
    "field:incident_date",
    RISK,
    "field:child_present",
    "field:summary",
}


@pytest.fixture
def world(agency, other_agency, member):
    """Alice's family across the police (other_agency) and social care (agency); a social care
    IG officer and a police IG officer; a live version sharing "known to" of the police and a
    submitted version 2 sharing the police risk grade, needing consent."""
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    author = member(Role.IG_OFFICER)
    officer = member(Role.IG_OFFICER)
    police_officer = member(Role.IG_OFFICER, in_agency=other_agency)
    live = protocol_in_force(
        author=author,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police, "tier": Tier.KNOWN_TO}],
        name="MASH sharing",
    )
    draft = protocol_in_force(
        author=author,
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": [RISK, "field:incident_date"],
                "consent": ConsentRule.UNLESS_OVERRIDE,
            },
            {"dataset": linked.csc, "tier": Tier.SUMMARY, "fields": ["identity:forename"]},
        ],
        status=VersionStatus.AWAITING_APPROVAL,
        name="MASH sharing",
    )
    # One protocol, two versions: the submitted one replaces the live one when approved.
    made_for_it = draft.protocol
    draft.protocol = live.protocol
    draft.number = 2
    draft.save()
    made_for_it.delete()
    return linked, live, draft, author, officer, police_officer


def _membership(user):
    return user.memberships.get()


# --- The engine's entry points ---------------------------------------------------------------


def test_version_grants_only_for_the_versions_roles_parties_and_purpose(world, agency):
    linked, _live, draft, *_ = world
    grants = version_grants(
        version=draft, role=Role.PRACTITIONER, agency_id=agency.pk, purpose=Purpose.SAFEGUARDING
    )
    assert {(g.dataset_id, g.tier) for g in grants} == {
        (linked.police.pk, Tier.SUMMARY),
        (linked.csc.pk, Tier.SUMMARY),
    }
    assert all(g.version_id == draft.pk for g in grants)
    stranger = AgencyFactory(code="EDU", name="Test Education")
    for role, agency_id, purpose in (
        (Role.ANALYST, agency.pk, Purpose.SAFEGUARDING),
        (Role.PRACTITIONER, stranger.pk, Purpose.SAFEGUARDING),
        (Role.PRACTITIONER, agency.pk, Purpose.EVALUATION),
    ):
        assert version_grants(version=draft, role=role, agency_id=agency_id, purpose=purpose) == []


def test_the_example_person_is_placeholders_and_waits_for_consent(world, agency):
    linked, _live, draft, *_ = world
    grants = version_grants(
        version=draft, role=Role.PRACTITIONER, agency_id=agency.pk, purpose=Purpose.SAFEGUARDING
    )
    view = disclose_synthetic(
        grants=grants,
        dataset_ids=[linked.police.pk, linked.csc.pk],
        purpose=Purpose.SAFEGUARDING,
        now=timezone.now(),
    )
    assert view is not None and view.person.pk is None
    assert view.person.reference == SYNTHETIC_REFERENCE
    by_dataset = {r.dataset_id: r for r in view.records}
    csc = by_dataset[linked.csc.pk]
    assert [(f.key, f.value) for f in csc.shown_fields] == [("identity:forename", "[Forename]")]
    # The police rule needs consent and the made-up person has none: known to, its fields
    # withheld with the reason, as the real page says.
    assert linked.police.pk not in by_dataset
    assert linked.police.pk in {i.dataset_id for i in view.involvements}
    assert [(w.dataset_id, w.reason, sorted(w.field_keys)) for w in view.withheld] == [
        (linked.police.pk, Withholding.CONSENT, sorted([RISK, "field:incident_date"]))
    ]
    assert {w.dataset_id: w.overridable for w in view.withheld} == {
        linked.police.pk: {draft.protocol_id: draft.override_max_hours}
    }


def test_a_real_person_is_read_with_their_real_consent_and_nothing_of_the_previewers(
    world, agency, other_agency, member
):
    linked, _live, draft, *_ = world
    grants = version_grants(
        version=draft, role=Role.PRACTITIONER, agency_id=agency.pk, purpose=Purpose.SAFEGUARDING
    )
    now = timezone.now()
    view = disclose_as_holder(
        grants=grants,
        persons=[linked.alice],
        purpose=Purpose.SAFEGUARDING,
        now=now,
        agency_id=agency.pk,
    )[linked.alice.pk]
    assert {w.dataset_id for w in view.withheld} == {linked.police.pk}
    statement = ConsentRecord.objects.create(
        person=linked.alice,
        protocol=draft.protocol,
        state=ConsentState.GIVEN,
        recorded_by=member(Role.PRACTITIONER, in_agency=other_agency),
        recorded_by_agency=other_agency,
    )
    statement.agencies.set([other_agency])
    view = disclose_as_holder(
        grants=grants,
        persons=[linked.alice],
        purpose=Purpose.SAFEGUARDING,
        now=now,
        agency_id=agency.pk,
    )[linked.alice.pk]
    shown = {(r.dataset_id, f.key) for r in view.records for f in r.shown_fields}
    assert (linked.police.pk, RISK) in shown
    assert view.withheld == []
    # Carol has no police record and her social care one is covered: known to social care only.
    carol = disclose_as_holder(
        grants=grants,
        persons=[linked.carol],
        purpose=Purpose.SAFEGUARDING,
        now=now,
        agency_id=agency.pk,
    )[linked.carol.pk]
    assert {i.dataset_id for i in carol.involvements} == {linked.csc.pk}


# --- The preview service ----------------------------------------------------------------------


def test_a_preview_marks_what_is_new_and_is_audited_as_a_read(world, agency):
    linked, live, draft, _author, officer, _police = world
    preview = protocol_preview(
        membership=_membership(officer),
        version=draft,
        role=Role.PRACTITIONER,
        agency=agency,
        purpose=Purpose.SAFEGUARDING,
        person=linked.alice,
    )
    assert preview.in_force == live
    changes = {c.dataset_name: c for c in preview.changes}
    # Social care was not known under the live version; now its forename is shown.
    assert changes[linked.csc.name].involvement == "Now shown as known to"
    assert changes[linked.csc.name].added == ["Forename"]
    marks = {
        (r.dataset_id, f.key): getattr(f, "preview_change", "")
        for r in preview.this_view.records
        for f in r.fields
    }
    assert marks[(linked.csc.pk, "identity:forename")] == "New in this version"
    entry = AuditEntry.objects.get(action=AuditAction.PROTOCOL_PREVIEW)
    assert entry.person_reference == linked.alice.reference
    assert entry.protocol_versions == sorted([draft.pk, live.pk])
    assert entry.detail["as"] == {"role": Role.PRACTITIONER, "agency": agency.pk}
    assert entry.detail["fields"]["known_to"] == sorted([linked.police.pk, linked.csc.pk])
    # A read of each agency's records it showed, as a case summary is (audit.reads).
    assert set(RecordRead.objects.filter(entry=entry).values_list("agency_id", flat=True)) == {
        linked.police.agency_id,
        linked.csc.agency_id,
    }


def test_the_example_preview_reads_no_record(world, agency):
    _linked, _live, draft, _author, officer, _police = world
    protocol_preview(
        membership=_membership(officer),
        version=draft,
        role=Role.PRACTITIONER,
        agency=agency,
        purpose=Purpose.SAFEGUARDING,
    )
    entry = AuditEntry.objects.get(action=AuditAction.PROTOCOL_PREVIEW)
    assert entry.person_reference == ""
    assert "fields" not in entry.detail and entry.detail["example"]
    assert not RecordRead.objects.filter(entry=entry).exists()


# --- The preview matches the real summary once approved -------------------------------------


def _shown(view) -> set[tuple[int, str]]:
    return {(r.record_id, f.key) for r in view.records for f in r.shown_fields}


def _withheld(view) -> set[tuple[int, str, str]]:
    return {(w.dataset_id, key, w.reason) for w in view.withheld for key in w.field_keys}


def test_once_approved_the_preview_shows_what_a_real_holder_sees(
    world, agency, other_agency, member
):
    linked, _live, draft, _author, officer, police_officer = world
    practitioner = member(Role.PRACTITIONER)
    give(draft, practitioner)
    before = protocol_preview(
        membership=_membership(officer),
        version=draft,
        role=Role.PRACTITIONER,
        agency=agency,
        purpose=Purpose.SAFEGUARDING,
        person=linked.alice,
    )
    protocol_approve(membership=_membership(officer), version=draft)
    protocol_approve(membership=_membership(police_officer), version=draft)
    draft.refresh_from_db()
    assert draft.status == VersionStatus.ACTIVE
    real = disclose(
        user=practitioner,
        membership=_membership(practitioner),
        persons=[linked.alice],
        purpose=Purpose.SAFEGUARDING,
        now=timezone.now(),
    )[linked.alice.pk]
    assert _shown(before.this_view) == _shown(real)
    assert _withheld(before.this_view) == _withheld(real)
    assert {i.dataset_id for i in before.this_view.involvements} == {
        i.dataset_id for i in real.involvements
    }


RULE = st.fixed_dictionaries(
    {
        "tier": st.sampled_from([Tier.HIDDEN, Tier.KNOWN_TO, Tier.SUMMARY, Tier.FULL]),
        "fields": st.sets(st.sampled_from(sorted(POLICE_KEYS)), max_size=4),
        "consent": st.sampled_from(list(ConsentRule)),
        "lookback_days": st.sampled_from([None, 30, 3650]),
    }
)


@pytest.mark.django_db
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    police=RULE,
    staged=st.booleans(),
    consent=st.sampled_from([None, ConsentState.GIVEN, ConsentState.REFUSED]),
)
def test_property_preview_of_a_version_equals_what_its_holder_is_shown(db, police, staged, consent):
    """Whatever the rule, staging and consent, the preview for a role and agency discloses
    exactly what disclose() gives a real holder of the same version in that role there."""
    from agencies.models import Agency

    csc = Agency.objects.filter(code="PCS").first() or AgencyFactory(code="PCS", name="Prop CSC")
    pol = Agency.objects.filter(code="PPO").first() or AgencyFactory(
        code="PPO", name="Prop Police", kind="police"
    )
    linked = _property_world(csc, pol)
    holder = UserFactory()
    MembershipFactory(user=holder, agency=csc, role=Role.PRACTITIONER)
    version = protocol_in_force(
        author=holder,
        parties=[csc, pol],
        rules=[{"dataset": linked.police, **police}],
        staged=staged,
    )
    give(version, holder)
    ConsentRecord.objects.filter(person=linked.alice).delete()
    if consent is not None:
        statement = ConsentRecord.objects.create(
            person=linked.alice,
            protocol=version.protocol,
            state=consent,
            recorded_by=holder,
            recorded_by_agency=pol,
        )
        statement.agencies.set([pol])
    now = timezone.now()
    grants = version_grants(
        version=version, role=Role.PRACTITIONER, agency_id=csc.pk, purpose=version.purpose
    )
    previewed = disclose_as_holder(
        grants=grants, persons=[linked.alice], purpose=version.purpose, now=now, agency_id=csc.pk
    ).get(linked.alice.pk)
    real = disclose(
        user=holder,
        membership=holder.memberships.get(),
        persons=[linked.alice],
        purpose=version.purpose,
        now=now,
    ).get(linked.alice.pk)
    assert (previewed is None) == (real is None)
    if real is not None:
        assert _shown(previewed) == _shown(real)
        assert _withheld(previewed) == _withheld(real)
    # The version is left in force for the next example: suspend it so it grants nothing more.
    version.status = VersionStatus.WITHDRAWN
    version.save(update_fields=["status"])


_PROPERTY_WORLD: dict = {}


def _property_world(csc, pol):
    """linked_people once per test database (hypothesis runs the examples in one test)."""
    from agencies.models import Dataset

    key = (csc.pk, pol.pk)
    kept = _PROPERTY_WORLD.get(key)
    if kept is None or not Dataset.objects.filter(pk=kept.police.pk).exists():
        _PROPERTY_WORLD.clear()
        _PROPERTY_WORLD[key] = linked_people(police_agency=pol, csc_agency=csc)
    return _PROPERTY_WORLD[key]


# --- The page ---------------------------------------------------------------------------------


def _url(version, **query) -> str:
    url = reverse("protocols:version_preview", args=[version.protocol.reference, version.number])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def test_the_page_shows_both_sides_and_offers_approval(client, world, agency):
    linked, _live, draft, _author, officer, _police = world
    client.force_login(officer)
    response = client.get(_url(draft))
    assert response.status_code == 200
    body = response.content.decode()
    assert "[Risk grade]" not in body  # withheld pending consent: its label, never a value
    assert "Risk grade" in body
    assert "[Forename]" in body
    assert "New in this version" in body
    assert 'data-testid="preview-approve-form"' in body
    detail = client.get(
        reverse("protocols:version_detail", args=[draft.protocol.reference, draft.number])
    ).content.decode()
    assert 'data-testid="preview-link"' in detail and 'data-testid="approve-form"' in detail


def test_the_author_is_offered_no_approval(client, world):
    _linked, _live, draft, author, *_ = world
    client.force_login(author)
    body = client.get(_url(draft)).content.decode()
    assert 'data-testid="preview-approve-form"' not in body


def test_another_agencys_person_gets_the_answer_a_missing_reference_gets(
    client, world, agency, other_agency
):
    linked, _live, draft, _author, officer, _police = world
    client.force_login(officer)
    base = {"role": Role.PRACTITIONER, "agency": agency.code, "purpose": Purpose.SAFEGUARDING}
    # Bob is known to the police only; ZZZZZZZZZZ is nobody. Carol is social care's own.
    bob = client.get(_url(draft, **base, person=linked.bob.reference))
    nobody = client.get(_url(draft, **base, person="ZZZZZZZZZZ"))
    assert bob.status_code == nobody.status_code == 400

    def strip(response, reference):
        body = response.content.decode().replace(reference, "REF")
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)

    assert strip(bob, linked.bob.reference) == strip(nobody, "ZZZZZZZZZZ")
    assert "No person your agency holds a record about has that reference" in bob.content.decode()
    carol = client.get(_url(draft, **base, person=linked.carol.reference))
    assert carol.status_code == 200
    assert not AuditEntry.objects.filter(
        action=AuditAction.PROTOCOL_PREVIEW, person_reference=linked.bob.reference
    ).exists()


def test_a_non_party_officer_gets_the_answer_a_missing_version_gets(client, world):
    _linked, _live, draft, *_ = world
    stranger = UserFactory()
    MembershipFactory(
        user=stranger, agency=AgencyFactory(code="EDU", name="Edu"), role=Role.IG_OFFICER
    )
    client.force_login(stranger)
    assert client.get(_url(draft)).status_code == 404
    missing = reverse("protocols:version_preview", args=[draft.protocol.reference, 99])
    assert client.get(missing).status_code == 404


def test_a_version_in_force_is_not_previewed(client, world):
    _linked, live, _draft, _author, officer, _police = world
    client.force_login(officer)
    response = client.get(_url(live))
    assert response.status_code == 302
    assert response["Location"].endswith(f"/versions/{live.number}/")


def test_valid_from_in_the_future_still_previews(world, agency):
    """A draft is previewed before its dates: version_grants ignores status and dates."""
    _linked, _live, draft, *_ = world
    draft.valid_from = date(2099, 1, 1)
    draft.save()
    assert version_grants(
        version=draft, role=Role.PRACTITIONER, agency_id=agency.pk, purpose=draft.purpose
    )


def test_a_real_persons_other_agency_records_show_field_names_not_values(
    world, agency, other_agency, member
):
    """The version is not agreed yet and the officer holds neither side: another agency's
    values and dates never reach them in a preview; their own agency's records do."""
    linked, _live, draft, _author, officer, police_officer = world
    statement = ConsentRecord.objects.create(
        person=linked.alice,
        protocol=draft.protocol,
        state=ConsentState.GIVEN,
        recorded_by=member(Role.PRACTITIONER, in_agency=other_agency),
        recorded_by_agency=other_agency,
    )
    statement.agencies.set([other_agency])

    def values(preview, dataset_id):
        return {
            (f.key, f.value)
            for r in preview.this_view.records
            if r.dataset_id == dataset_id
            for f in r.shown_fields
        }

    def dates(preview, dataset_id):
        return {r.event_date for r in preview.this_view.records if r.dataset_id == dataset_id} | {
            i.latest for i in preview.this_view.involvements if i.dataset_id == dataset_id
        }

    as_social_care = protocol_preview(
        membership=_membership(officer),
        version=draft,
        role=Role.PRACTITIONER,
        agency=agency,
        purpose=Purpose.SAFEGUARDING,
        person=linked.alice,
    )
    assert values(as_social_care, linked.police.pk) == {
        (RISK, "[Risk grade]"),
        ("field:incident_date", "[Incident date]"),
    }
    assert dates(as_social_care, linked.police.pk) == {None}
    assert values(as_social_care, linked.csc.pk) == {("identity:forename", "Alice")}

    as_police = protocol_preview(
        membership=_membership(police_officer),
        version=draft,
        role=Role.PRACTITIONER,
        agency=agency,
        purpose=Purpose.SAFEGUARDING,
        person=linked.alice,
    )
    assert ("identity:forename", "[Forename]") in values(as_police, linked.csc.pk)
    assert "[Risk grade]" not in {v for _, v in values(as_police, linked.police.pk)}
    assert None not in dates(as_police, linked.police.pk)


def test_the_preview_names_the_seals_and_never_counts_another_agencys_sealed_records(
    world, agency, other_agency
):
    """A seal over the police records keeps them from a social care holder: the preview says so
    in words; the police officer previewing learns how many of their own records it keeps back,
    the social care officer never learns whether the person has any."""
    from protocols.models import SealRule
    from protocols.seals import seals_mark

    linked, _live, draft, author, officer, police_officer = world
    SealRule.objects.create(
        dataset=linked.police,
        field_key=RISK,
        value="Medium",
        version=draft,
        reason="High risk incidents stay with the police",
        created_by=author,
    )
    seals_mark(dataset_id=linked.police.pk)

    def preview_by(membership):
        return protocol_preview(
            membership=membership,
            version=draft,
            role=Role.PRACTITIONER,
            agency=agency,
            purpose=Purpose.SAFEGUARDING,
            person=linked.alice,
        )

    by_police = preview_by(_membership(police_officer))
    assert [line.dataset_id for line in by_police.seals] == [linked.police.pk]
    # Alice's police record A2 is graded medium: sealed from social care under this version.
    assert by_police.this_view.sealed == {linked.police.pk: 1}
    assert by_police.sealed_counts == {by_police.seals[0].dataset: 1}
    by_social_care = preview_by(_membership(officer))
    assert by_social_care.seals and by_social_care.sealed_counts == {}


def test_the_two_sides_wrap_words_whole_and_tables_scroll_in_a_labelled_region(client, world):
    """The sceptical IG officer's "E/D/U": the columns broke words one letter a line. Words
    wrap whole; a wide table scrolls inside its column, a region a keyboard can reach; below
    the desktop breakpoint the sides stack, this version first."""
    _linked, _live, draft, _author, officer, _police = world
    client.force_login(officer)
    body = client.get(_url(draft)).content.decode()
    this_at, in_force_at = (
        body.index('data-testid="preview-this"'),
        body.index('data-testid="preview-in-force"'),
    )
    assert this_at < in_force_at
    assert body.count("govuk-grid-column-one-half-from-desktop sharehub-preview-side") == 2
    # Each region named apart from its section, which carries the heading's name (axe's
    # landmark-unique).
    assert (
        '<div class="sharehub-table-scroll" tabindex="0" role="region" '
        'aria-label="Known to table, under this version, scrolls sideways"' in body
    )
    assert 'aria-label="Known to table, under the version in force, scrolls sideways"' in body
    css = (django_settings.BASE_DIR / "static" / "sharehub" / "sharehub.css").read_text()
    assert "overflow-wrap: anywhere" not in css.split('"view as" preview', 1)[1]
    assert ".sharehub-table-scroll { overflow-x: auto; }" in css


def test_a_field_the_new_version_drops_is_tagged_so_in_the_in_force_column(world, agency):
    linked, live, draft, _author, officer, _police = world
    # Version 2 drops what the version in force shows: the police dataset altogether.
    draft.rules.filter(dataset=linked.police).delete()
    preview = protocol_preview(
        membership=_membership(officer),
        version=draft,
        role=Role.PRACTITIONER,
        agency=agency,
        purpose=Purpose.SAFEGUARDING,
        person=linked.alice,
    )
    marks = {
        getattr(i, "preview_change", "")
        for i in preview.in_force_view.involvements
        if i.dataset_id == linked.police.pk
    }
    assert marks == {"Dropped in the new version"}
