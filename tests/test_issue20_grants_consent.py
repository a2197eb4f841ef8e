"""Issue 20, findings 6 and 7: two ways round the disclosure engine through grants and consent.

6. A protocol given by one agency's IG officer must not reach another agency's staff: a group
   given a protocol may hold only the granting agency's members, and a grant counts only while
   its holder acts for the agency that gave it (a user in two agencies, given a protocol by one,
   cannot use it acting for the other). Grants are audited.
7. Consent recorded by one agency about another agency's records takes effect, by default, only
   once the owning agency confirms it; until then only a safeguarding override (justified,
   time-limited, IG-reviewed) opens them. A protocol may choose "at once, owner told" explicitly.

The world: children's social care (CSC, `agency`) and the police (POL, `other_agency`); Alice has
two police records and a CSC record (tests.protocol_helpers.linked_people).
"""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from agencies.models import Membership, Role
from audit.models import AuditAction, AuditEntry
from consent.errors import ConsentError, NotFound
from consent.models import ConsentGivenBy, ConsentMethod, ConsentRecord, ConsentState
from consent.overrides import override_start
from consent.records import ConsentInput, consent_confirm, consent_record, consent_withdraw
from core.purpose import Purpose
from notifications.models import Notification, NotificationKind
from protocols.engine import disclose_view
from protocols.models import ConsentFromOthers, ConsentRule, ProtocolGrant, ProtocolVersion, Tier
from protocols.services import ProtocolError, protocol_assign, protocol_unassign
from tests.factories import MembershipFactory
from tests.ingest_helpers import police_dataset
from tests.protocol_helpers import give, linked_people, protocol_in_force

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
JUSTIFICATION = (
    "Disclosure at school of injuries; the child says the adult at home would punish them "
    "if anyone was told, so asking the family for consent would put the child at risk."
)


def _membership(user, agency=None) -> Membership:
    found = Membership.objects.filter(user=user)
    return (found.filter(agency=agency) if agency is not None else found).get()


# --- Finding 6: grants stay in the granting agency ---------------------------------------------


@pytest.fixture
def shared(agency, other_agency, member):
    """A protocol both agencies are party to, showing police records in full to practitioners."""
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    csc_ig = member(Role.IG_OFFICER)
    police_ig = member(Role.IG_OFFICER, in_agency=other_agency)
    version = protocol_in_force(
        author=csc_ig,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police, "tier": Tier.FULL}],
    )
    return linked, version, _membership(csc_ig), _membership(police_ig)


def test_a_group_with_a_member_of_another_agency_cannot_be_given_a_protocol(
    shared, member, other_agency
):
    linked, version, csc_ig, _ = shared
    group = Group.objects.create(name="MASH")
    for user in (member(Role.PRACTITIONER), member(Role.PRACTITIONER)):
        user.groups.add(group)
    outsider = member(Role.PRACTITIONER, in_agency=other_agency, full_name="Olive Outsider")
    outsider.groups.add(group)

    with pytest.raises(ProtocolError) as refused:
        protocol_assign(membership=csc_ig, protocol=version.protocol, group=group)

    message = str(refused.value)
    assert "1 member of the group" in message
    assert "Olive" not in message and outsider.email not in message
    assert not ProtocolGrant.objects.exists()
    # Nothing was given: the outsider, acting for the police, sees nobody under it.
    assert (
        disclose_view(
            user=outsider,
            membership=_membership(outsider),
            person=linked.alice,
            purpose=Purpose.SAFEGUARDING,
            now=NOW,
        )
        is None
    )


def test_the_form_says_how_many_members_are_outside_and_names_none(
    shared, member, other_agency, client
):
    linked, version, csc_ig, _ = shared
    group = Group.objects.create(name="MASH")
    member(Role.PRACTITIONER).groups.add(group)
    for n in range(2):
        member(
            Role.PRACTITIONER, in_agency=other_agency, full_name=f"Police Person {n}"
        ).groups.add(group)
    client.force_login(csc_ig.user)

    page = client.post(
        reverse("protocols:protocol_holders", args=[version.protocol.reference]),
        {"group": "MASH"},
        follow=True,
    )

    text = page.content.decode()
    assert "2 members of the group" in text
    assert "govuk-error-summary" in text
    assert "Police Person" not in text
    assert not ProtocolGrant.objects.exists()


def test_a_member_whose_only_membership_here_is_inactive_is_outside(
    shared, agency, other_agency, member
):
    """Inactive in CSC, active in the police: outside CSC, so the group is refused."""
    _, version, csc_ig, _ = shared
    group = Group.objects.create(name="MASH")
    former = member(Role.PRACTITIONER, in_agency=other_agency)
    MembershipFactory(user=former, agency=agency, role=Role.PRACTITIONER, is_active=False)
    former.groups.add(group)

    with pytest.raises(ProtocolError, match="1 member of the group"):
        protocol_assign(membership=csc_ig, protocol=version.protocol, group=group)


def test_a_grant_does_not_follow_a_user_acting_for_another_agency(
    shared, agency, other_agency, member
):
    linked, version, csc_ig, _ = shared
    both = member(Role.PRACTITIONER)
    MembershipFactory(user=both, agency=other_agency, role=Role.PRACTITIONER)

    assert protocol_assign(membership=csc_ig, protocol=version.protocol, user=both)

    def view(acting_for):
        return disclose_view(
            user=both,
            membership=_membership(both, acting_for),
            person=linked.alice,
            purpose=Purpose.SAFEGUARDING,
            now=NOW,
        )

    assert view(agency) is not None
    # Given by CSC's IG officer: acting for the police, the user does not hold it.
    assert view(other_agency) is None
    grant = ProtocolGrant.objects.get()
    assert (grant.agency, grant.user, grant.granted_by) == (agency, both, csc_ig.user)


def test_a_group_grant_does_not_follow_a_member_added_later_from_another_agency(
    shared, member, other_agency
):
    linked, version, csc_ig, _ = shared
    group = Group.objects.create(name="MASH")
    member(Role.PRACTITIONER).groups.add(group)
    assert protocol_assign(membership=csc_ig, protocol=version.protocol, group=group)
    latecomer = member(Role.PRACTITIONER, in_agency=other_agency)
    latecomer.groups.add(group)

    assert (
        disclose_view(
            user=latecomer,
            membership=_membership(latecomer),
            person=linked.alice,
            purpose=Purpose.SAFEGUARDING,
            now=NOW,
        )
        is None
    )


def test_grants_and_take_backs_are_audited(shared, member):
    _, version, csc_ig, _ = shared
    practitioner = member(Role.PRACTITIONER)
    group = Group.objects.create(name="MASH")
    practitioner.groups.add(group)

    protocol_assign(membership=csc_ig, protocol=version.protocol, user=practitioner)
    protocol_assign(membership=csc_ig, protocol=version.protocol, group=group)
    protocol_unassign(membership=csc_ig, protocol=version.protocol, user=practitioner)

    entries = list(AuditEntry.objects.filter(action=AuditAction.GRANT).order_by("pk"))
    assert [(e.detail["change"], e.detail["holder"]) for e in entries] == [
        ("given", {"user": practitioner.pk}),
        ("given", {"group": group.pk}),
        ("taken", {"user": practitioner.pk}),
    ]
    for entry in entries:
        assert entry.actor == csc_ig.user
        assert entry.agency_id == csc_ig.agency_id
        assert entry.detail["protocol"] == version.protocol.reference
        assert practitioner.email not in str(entry.detail)


def test_each_agency_takes_back_only_its_own_grant(shared, agency, other_agency, member):
    linked, version, csc_ig, police_ig = shared
    both = member(Role.PRACTITIONER)
    MembershipFactory(user=both, agency=other_agency, role=Role.PRACTITIONER)
    protocol_assign(membership=csc_ig, protocol=version.protocol, user=both)
    protocol_assign(membership=police_ig, protocol=version.protocol, user=both)

    assert protocol_unassign(membership=police_ig, protocol=version.protocol, user=both)

    assert list(ProtocolGrant.objects.values_list("agency", flat=True)) == [agency.pk]
    assert (
        disclose_view(
            user=both,
            membership=_membership(both, agency),
            person=linked.alice,
            purpose=Purpose.SAFEGUARDING,
            now=NOW,
        )
        is not None
    )


def test_the_migration_backfills_the_granting_agency_from_the_granter(shared, member):
    """Grants made before the agency was stored get it from the officer who made them."""
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("protocols.migrations.0005_grants_backfill").grants_backfill
    _, version, csc_ig, _ = shared
    practitioner = member(Role.PRACTITIONER)
    protocol_assign(membership=csc_ig, protocol=version.protocol, user=practitioner)
    ProtocolGrant.objects.all().delete()

    backfill(apps, None)

    grant = ProtocolGrant.objects.get()
    assert (grant.agency_id, grant.user, grant.granted_by) == (
        csc_ig.agency_id,
        practitioner,
        csc_ig.user,
    )


def test_the_protocol_form_offers_the_choice_and_defaults_to_the_owner_confirming(
    agency, other_agency, member, client
):
    police = police_dataset(other_agency)
    author = member(Role.IG_OFFICER)
    client.force_login(author)
    data = {
        "name": "Early help sharing",
        "purpose": "safeguarding",
        "lawful_basis": "UK GDPR Art 6(1)(e)",
        "valid_from": "01/01/2026",
        "parties": [str(agency.pk), str(other_agency.pk)],
        "roles": ["practitioner"],
        f"rule-{police.pk}-tier": "full",
        f"rule-{police.pk}-consent": "needed",
    }
    form = client.get(reverse("protocols:protocol_new")).content.decode()
    owner_confirms = re.search(r'<input[^>]*value="owner_confirms"[^>]*>', form)
    assert owner_confirms and "checked" in owner_confirms.group(0)

    client.post(reverse("protocols:protocol_new"), data)
    client.post(reverse("protocols:protocol_new"), data | {"consent_from_others": "at_once"})

    chosen = list(
        ProtocolVersion.objects.order_by("pk").values_list("consent_from_others", flat=True)
    )
    assert chosen == [ConsentFromOthers.OWNER_CONFIRMS, ConsentFromOthers.AT_ONCE]
    at_once = ProtocolVersion.objects.order_by("pk").last()
    page = client.get(
        reverse("protocols:version_detail", args=[at_once.protocol.reference, at_once.number])
    )
    assert "at once; the agency whose records they are is told" in page.content.decode()


# --- Finding 7: consent recorded by another agency waits for the owner ------------------------


@pytest.fixture
def consent_world(agency, other_agency, member):
    """Police records need consent (or a safeguarding override); the CSC practitioner records
    what the family said. The protocol makes no choice: the default applies."""
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    csc_ig = member(Role.IG_OFFICER)
    version = protocol_in_force(
        author=csc_ig,
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.FULL,
                "consent": ConsentRule.UNLESS_OVERRIDE,
            },
            {"dataset": linked.csc, "tier": Tier.FULL},
        ],
    )
    practitioner = member(Role.PRACTITIONER)
    give(version, practitioner)
    return {
        "linked": linked,
        "version": version,
        "practitioner": practitioner,
        "police_ig": member(Role.IG_OFFICER, in_agency=other_agency),
        "police_practitioner": member(Role.PRACTITIONER, in_agency=other_agency),
        "csc_ig": csc_ig,
        "police": other_agency,
        "csc": agency,
    }


def _police_fields(w, user=None) -> set:
    user = user or w["practitioner"]
    view = disclose_view(
        user=user,
        membership=_membership(user),
        person=w["linked"].alice,
        purpose=Purpose.SAFEGUARDING,
        now=datetime.now(UTC),
    )
    return {
        (r.record_id, f.key) for r in view.records for f in r.shown_fields if r.agency.code == "POL"
    }


def _record_given(w, **changes) -> ConsentRecord:
    data = {
        "state": ConsentState.GIVEN,
        "agency_ids": (w["police"].pk,),
        "protocol_id": w["version"].protocol_id,
        "method": ConsentMethod.WRITTEN,
        "given_by": ConsentGivenBy.PARENT_OR_CARER,
        "evidence_reference": "CSC form 12",
    } | changes
    return consent_record(
        user=w["practitioner"],
        membership=_membership(w["practitioner"]),
        person=w["linked"].alice,
        purpose=Purpose.SAFEGUARDING,
        data=ConsentInput(**data),
    )


def test_consent_recorded_by_another_agency_opens_nothing_until_the_owner_confirms(consent_world):
    w = consent_world
    assert _police_fields(w) == set()

    record = _record_given(w)

    # Regression: this opened the police records at once, the police only told.
    assert _police_fields(w) == set()
    notice = Notification.objects.get(recipient=w["police_ig"])
    assert notice.kind == NotificationKind.CONSENT_TO_CONFIRM
    assert notice.link.startswith(reverse("consent:statement", args=[record.pk]))
    assert "Alice" not in notice.message

    consent_confirm(
        user=w["police_ig"],
        membership=_membership(w["police_ig"]),
        record_id=record.pk,
        confirmed=True,
        note="Matches our signed form.",
    )

    assert _police_fields(w)
    notice.refresh_from_db()
    assert notice.read_at is not None  # the work is done
    assert Notification.objects.filter(
        recipient=w["practitioner"], kind=NotificationKind.CONSENT_ANSWERED
    ).exists()
    audited = AuditEntry.objects.filter(
        action=AuditAction.CONSENT, actor=w["police_ig"], agency_id=w["police"].pk
    ).get()
    assert audited.detail["fields"] == {"consent_confirmed": record.pk, "outcome": "confirmed"}


def test_a_declined_statement_keeps_the_records_withheld(consent_world):
    w = consent_world
    record = _record_given(w)

    consent_confirm(
        user=w["police_ig"],
        membership=_membership(w["police_ig"]),
        record_id=record.pk,
        confirmed=False,
        note="Our records say the family refused.",
    )

    assert _police_fields(w) == set()
    with pytest.raises(ConsentError):  # answered once
        consent_confirm(
            user=w["police_ig"],
            membership=_membership(w["police_ig"]),
            record_id=record.pk,
            confirmed=True,
        )


def test_only_the_owning_agencys_ig_officers_confirm(consent_world):
    w = consent_world
    record = _record_given(w)
    for user in (w["csc_ig"], w["police_practitioner"], w["practitioner"]):
        with pytest.raises((NotFound, ConsentError)):
            consent_confirm(
                user=user, membership=_membership(user), record_id=record.pk, confirmed=True
            )
    assert _police_fields(w) == set()


def test_while_unconfirmed_only_a_safeguarding_override_opens_them(consent_world):
    w = consent_world
    _record_given(w)
    override_start(
        user=w["practitioner"],
        membership=_membership(w["practitioner"]),
        person=w["linked"].alice,
        protocol_id=w["version"].protocol_id,
        category="significant_harm",
        justification=JUSTIFICATION,
        hours=4,
    )
    assert _police_fields(w)


def test_a_withdrawal_by_another_agency_holds_at_once(consent_world):
    w = consent_world
    record = _record_given(w)
    consent_confirm(
        user=w["police_ig"],
        membership=_membership(w["police_ig"]),
        record_id=record.pk,
        confirmed=True,
    )
    assert _police_fields(w)

    consent_withdraw(
        user=w["practitioner"],
        membership=_membership(w["practitioner"]),
        person=w["linked"].alice,
        purpose=Purpose.SAFEGUARDING,
        record_id=record.pk,
    )

    assert _police_fields(w) == set()


def test_a_protocol_may_choose_consent_to_take_effect_at_once(consent_world):
    w = consent_world
    w["version"].consent_from_others = ConsentFromOthers.AT_ONCE
    w["version"].save()

    _record_given(w)

    assert _police_fields(w)
    notice = Notification.objects.get(recipient=w["police_ig"])
    assert notice.kind == NotificationKind.CONSENT_RECORDED


def test_the_owner_confirms_on_the_statement_page(consent_world, client):
    w = consent_world
    record = _record_given(w)
    client.force_login(w["police_ig"])
    url = reverse("consent:statement", args=[record.pk])

    page = client.get(url)
    assert b"Confirm or decline" in page.content
    missing = client.post(url, {})
    assert b"govuk-error-summary" in missing.content
    assert _police_fields(w) == set()

    done = client.post(url, {"outcome": "confirmed", "note": ""}, follow=True)

    assert done.status_code == 200
    assert b"Confirmed" in done.content
    assert _police_fields(w)


def test_the_recorder_is_told_it_awaits_confirmation(consent_world, client):
    w = consent_world
    client.force_login(w["practitioner"])
    url = reverse("consent:person_consent", args=[w["linked"].alice.reference])
    page = client.post(
        f"{url}?purpose={Purpose.SAFEGUARDING}",
        {
            "state": ConsentState.GIVEN,
            "scope": str(w["version"].protocol_id),
            "agencies": [str(w["police"].pk)],
            "method": ConsentMethod.WRITTEN,
            "given_by": ConsentGivenBy.PARENT_OR_CARER,
            "evidence_reference": "CSC form 12",
        },
        follow=True,
    )
    assert ConsentRecord.objects.count() == 1, page.content.decode()[:3000]
    assert "until Test Police confirms it" in page.content.decode()
    assert "Awaiting confirmation by Test Police" in page.content.decode()

    consent_confirm(
        user=w["police_ig"],
        membership=_membership(w["police_ig"]),
        record_id=ConsentRecord.objects.get().pk,
        confirmed=True,
    )
    again = client.get(f"{url}?purpose={Purpose.SAFEGUARDING}").content.decode()
    assert "Awaiting confirmation" not in again


def test_the_api_says_whose_confirmation_the_statement_awaits(consent_world, client):
    w = consent_world
    client.force_login(w["practitioner"])
    response = client.post(
        f"{reverse('consent_api:person_consent', args=[w['linked'].alice.reference])}"
        f"?purpose={Purpose.SAFEGUARDING}",
        {
            "state": "given",
            "protocol": w["version"].protocol.reference,
            "agencies": ["POL"],
            "method": "written",
            "given_by": "person",
            "evidence_reference": "CSC form 12",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["awaiting_confirmation"] == ["POL"]
    assert _police_fields(w) == set()


def test_the_protocol_api_takes_and_shows_the_choice(agency, other_agency, member, client):
    police = police_dataset(other_agency)
    client.force_login(member(Role.IG_OFFICER))
    body = {
        "name": "API protocol",
        "purpose": "safeguarding",
        "lawful_basis": "UK GDPR Art 6(1)(e)",
        "valid_from": "2026-01-01",
        "parties": [agency.code, other_agency.code],
        "rules": [{"dataset": police.pk, "tier": "full", "consent": "needed"}],
    }
    url = reverse("protocols_api:protocol_list")
    default = client.post(url, body, content_type="application/json")
    chosen = client.post(
        url, {**body, "consent_from_others": "at_once"}, content_type="application/json"
    )
    wrong = client.post(
        url, {**body, "consent_from_others": "whenever"}, content_type="application/json"
    )

    assert (default.status_code, chosen.status_code, wrong.status_code) == (201, 201, 400)
    assert default.json()["consent_from_others"] == "owner_confirms"
    assert chosen.json()["consent_from_others"] == "at_once"
