"""Writing protocols: drafting, approval by every party, versions, diffs, suspension, holders."""

from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from agencies.models import Membership, Role
from core.purpose import Purpose
from protocols.diff import version_diff
from protocols.models import ConsentRule, ProtocolEvent, ProtocolVersion, Tier, VersionStatus
from protocols.services import (
    ProtocolError,
    ProtocolInput,
    RuleInput,
    protocol_approve,
    protocol_assign,
    protocol_draft_create,
    protocol_draft_update,
    protocol_resume,
    protocol_return,
    protocol_revise,
    protocol_submit,
    protocol_suspend,
    version_input,
)
from tests.ingest_helpers import police_dataset


@pytest.fixture
def parties(agency, other_agency, member):
    police = police_dataset(other_agency)
    people = {
        "author": member(Role.IG_OFFICER),
        "csc_ig": member(Role.IG_OFFICER),
        "pol_ig": member(Role.IG_OFFICER, in_agency=other_agency),
        "practitioner": member(Role.PRACTITIONER),
    }
    memberships = {name: Membership.objects.get(user=user) for name, user in people.items()}
    return agency, other_agency, police, people, memberships


def _input(agency, other_agency, police, **changes) -> ProtocolInput:
    data = {
        "name": "MASH information sharing",
        "purpose": Purpose.SAFEGUARDING,
        "lawful_basis": "UK GDPR Art 6(1)(e)",
        "valid_from": date(2026, 1, 1),
        "party_ids": (agency.pk, other_agency.pk),
        "rules": (
            RuleInput(dataset_id=police.pk, tier=Tier.SUMMARY, fields=("field:risk_grade",)),
        ),
    }
    data.update(changes)
    return ProtocolInput(**data)


def _approved(parties) -> ProtocolVersion:
    agency, other_agency, police, people, m = parties
    version = protocol_draft_create(
        membership=m["author"], data=_input(agency, other_agency, police)
    )
    protocol_submit(membership=m["author"], version=version)
    protocol_approve(membership=m["csc_ig"], version=version)
    return protocol_approve(membership=m["pol_ig"], version=version)


def test_lifecycle_needs_every_party_and_not_the_author(parties):
    agency, other_agency, police, people, m = parties
    version = protocol_draft_create(
        membership=m["author"], data=_input(agency, other_agency, police)
    )
    assert version.status == VersionStatus.DRAFT
    with pytest.raises(ProtocolError, match="awaiting approval"):
        protocol_approve(membership=m["csc_ig"], version=version)
    protocol_submit(membership=m["author"], version=version)
    with pytest.raises(ProtocolError, match="You wrote this version"):
        protocol_approve(membership=m["author"], version=version)
    version = protocol_approve(membership=m["csc_ig"], version=version)
    assert version.status == VersionStatus.AWAITING_APPROVAL
    with pytest.raises(ProtocolError, match="already approved"):
        protocol_approve(membership=m["csc_ig"], version=version)
    version = protocol_approve(membership=m["pol_ig"], version=version)
    assert version.status == VersionStatus.ACTIVE and version.approved_at
    kinds = list(
        ProtocolEvent.objects.filter(protocol=version.protocol)
        .order_by("at", "pk")
        .values_list("kind", flat=True)
    )
    assert kinds == ["drafted", "submitted", "approved", "approved", "activated"]


def test_only_ig_officers_of_parties_act(parties, member):
    agency, other_agency, police, people, m = parties
    with pytest.raises(ProtocolError, match="Only an IG officer"):
        protocol_draft_create(
            membership=m["practitioner"], data=_input(agency, other_agency, police)
        )
    from tests.factories import AgencyFactory

    housing = AgencyFactory(code="HSG", name="Housing", kind="housing")
    outsider = Membership.objects.get(user=member(Role.IG_OFFICER, in_agency=housing))
    version = protocol_draft_create(
        membership=m["author"], data=_input(agency, other_agency, police)
    )
    protocol_submit(membership=m["author"], version=version)
    with pytest.raises(ProtocolError, match="party agency"):
        protocol_approve(membership=outsider, version=version)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": " "}, "name", "Give the protocol a name"),
        ({"lawful_basis": ""}, "lawful_basis", "lawful basis"),
        ({"valid_to": date(2025, 1, 1)}, "valid_to", "same as or after"),
        ({"roles": ("agency_admin",)}, "roles", "roles the protocol serves"),
        ({"party_ids": ()}, "parties", "at least two"),
        ({"rules": ()}, "rules", "Share at least one dataset"),
    ],
)
def test_bad_input_says_what_to_fix_and_stores_nothing(parties, changes, field, message):
    agency, other_agency, police, people, m = parties
    with pytest.raises(ProtocolError) as caught:
        protocol_draft_create(
            membership=m["author"], data=_input(agency, other_agency, police, **changes)
        )
    assert message in " ".join(caught.value.problems[field])
    assert not ProtocolVersion.objects.exists()


def test_rule_checks(parties):
    agency, other_agency, police, people, m = parties
    bad_rules = (
        RuleInput(dataset_id=police.pk, tier=Tier.SUMMARY),
        RuleInput(dataset_id=police.pk, tier=Tier.FULL, fields=("field:nope",)),
    )
    with pytest.raises(ProtocolError) as caught:
        protocol_draft_create(
            membership=m["author"], data=_input(agency, other_agency, police, rules=bad_rules)
        )
    text = " ".join(caught.value.problems["rules"])
    assert "must name the fields" in text and "two rules" in text and "field:nope" in text


def test_a_rule_may_share_only_a_party_agency_dataset(parties):
    agency, other_agency, police, people, m = parties
    from agencies.services import dataset_define
    from sharehub_bridge.definitions import definition_parse
    from tests.factories import AgencyFactory
    from tests.ingest_helpers import POLICE_DEFINITION

    housing = AgencyFactory(code="HSG", name="Housing", kind="housing")
    tenancies = dataset_define(
        agency=housing, definition=definition_parse(POLICE_DEFINITION)
    ).dataset
    with pytest.raises(ProtocolError, match="not a party"):
        protocol_draft_create(
            membership=m["author"],
            data=_input(
                agency,
                other_agency,
                police,
                rules=(RuleInput(dataset_id=tenancies.pk, tier=Tier.FULL),),
            ),
        )


def test_changes_after_submission_make_a_new_version_and_a_readable_diff(parties):
    agency, other_agency, police, people, m = parties
    first = _approved(parties)
    with pytest.raises(ProtocolError, match="Only a draft"):
        protocol_draft_update(
            membership=m["author"], version=first, data=_input(agency, other_agency, police)
        )
    second = protocol_revise(membership=m["csc_ig"], protocol=first.protocol)
    assert second.number == 2 and second.status == VersionStatus.DRAFT
    second = protocol_draft_update(
        membership=m["csc_ig"],
        version=second,
        data=_input(
            agency,
            other_agency,
            police,
            name="MASH information sharing (2027)",
            rules=(RuleInput(dataset_id=police.pk, tier=Tier.FULL, consent=ConsentRule.NEEDED),),
        ),
    )
    changes = {c.what: (c.before, c.after) for c in version_diff(first, second)}
    assert changes["Name"] == ("MASH information sharing", "MASH information sharing (2027)")
    police_change = changes[f"{other_agency.name}: {police.name}"]
    assert police_change[0].startswith("Summary; fields: Risk grade")
    assert police_change[1] == "Full; consent needed"
    # The first version stays in force until the second is approved by everyone.
    protocol_submit(membership=m["csc_ig"], version=second)
    first.refresh_from_db()
    assert first.status == VersionStatus.ACTIVE
    protocol_approve(membership=m["author"], version=second)
    protocol_approve(membership=m["pol_ig"], version=second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (VersionStatus.SUPERSEDED, VersionStatus.ACTIVE)


def test_returned_version_keeps_its_approvals_and_a_new_draft_carries_on(parties):
    agency, other_agency, police, people, m = parties
    version = protocol_draft_create(
        membership=m["author"], data=_input(agency, other_agency, police)
    )
    protocol_submit(membership=m["author"], version=version)
    protocol_approve(membership=m["csc_ig"], version=version)
    with pytest.raises(ProtocolError):
        protocol_return(membership=m["pol_ig"], version=version, note=" ")
    draft = protocol_return(membership=m["pol_ig"], version=version, note="Add the DPIA reference")
    version.refresh_from_db()
    assert version.status == VersionStatus.WITHDRAWN and version.approvals.count() == 1
    assert draft.number == 2 and draft.status == VersionStatus.DRAFT
    assert version_input(draft).rules == version_input(version).rules


def test_suspend_and_resume(parties):
    agency, other_agency, police, people, m = parties
    version = _approved(parties)
    with pytest.raises(ProtocolError, match="Say why"):
        protocol_suspend(membership=m["pol_ig"], protocol=version.protocol, reason="")
    suspended = protocol_suspend(
        membership=m["pol_ig"], protocol=version.protocol, reason="Breach of the agreement found"
    )
    assert suspended.status == VersionStatus.SUSPENDED
    with pytest.raises(ProtocolError, match="Say why the protocol is resumed"):
        protocol_resume(membership=m["csc_ig"], protocol=version.protocol, reason="")
    resumed = protocol_resume(
        membership=m["csc_ig"],
        protocol=version.protocol,
        reason="The breach is investigated and closed",
    )
    assert resumed.status == "active"


def test_assignment_to_own_staff_or_groups(parties, member):
    agency, other_agency, police, people, m = parties
    version = _approved(parties)
    protocol = version.protocol
    assert protocol_assign(membership=m["author"], protocol=protocol, user=people["practitioner"])
    assert not protocol_assign(
        membership=m["author"], protocol=protocol, user=people["practitioner"]
    )
    assert people["practitioner"].has_perm("protocols.use_protocol", protocol)
    police_worker = member(Role.PRACTITIONER, in_agency=other_agency)
    with pytest.raises(ProtocolError, match="does not work in"):
        protocol_assign(membership=m["author"], protocol=protocol, user=police_worker)
    mash = Group.objects.create(name="MASH")
    assert protocol_assign(membership=m["author"], protocol=protocol, group=mash)
    # Nobody holds the permission globally: a global grant would be every protocol at once.
    assert not people["practitioner"].has_perm("protocols.use_protocol")


# --- Pages and API ----------------------------------------------------------------------------


def _form_data(agency, other_agency, police, **changes) -> dict:
    data = {
        "name": "Early help sharing",
        "purpose": "safeguarding",
        "lawful_basis": "UK GDPR Art 6(1)(e)",
        "valid_from": "01/01/2026",
        "parties": [str(agency.pk), str(other_agency.pk)],
        "roles": ["practitioner"],
        f"rule-{police.pk}-tier": "summary",
        f"rule-{police.pk}-consent": "none",
        f"rule-{police.pk}-fields": ["field:risk_grade", "identity:forename"],
    }
    data.update(changes)
    return data


def test_form_drafts_and_shows_errors(client, parties):
    agency, other_agency, police, people, m = parties
    client.force_login(people["author"])
    response = client.post(
        reverse("protocols:protocol_new"),
        _form_data(
            agency,
            other_agency,
            police,
            valid_from="31/02/2026",
            **{f"rule-{police.pk}-lookback": "soon"},
        ),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter a real date" in html and "whole number of days" in html
    assert not ProtocolVersion.objects.exists()
    response = client.post(
        reverse("protocols:protocol_new"), _form_data(agency, other_agency, police)
    )
    assert response.status_code == 302
    version = ProtocolVersion.objects.get()
    rule = version.rules.get()
    assert (rule.tier, rule.fields) == (Tier.SUMMARY, ["field:risk_grade", "identity:forename"])
    detail = client.get(response["Location"]).content.decode()
    assert "Submit for approval" in detail


def test_pages_walk_the_lifecycle(client, parties):
    agency, other_agency, police, people, m = parties
    client.force_login(people["author"])
    client.post(reverse("protocols:protocol_new"), _form_data(agency, other_agency, police))
    version = ProtocolVersion.objects.get()
    ref = version.protocol.reference
    client.post(reverse("protocols:version_action", args=[ref, 1, "submit"]))
    detail = client.get(reverse("protocols:protocol_detail", args=[ref])).content.decode()
    assert 'data-testid="approve"' not in detail  # the author cannot approve
    for approver in ("csc_ig", "pol_ig"):
        client.force_login(people[approver])
        assert (
            'data-testid="approve"'
            in client.get(reverse("protocols:protocol_detail", args=[ref])).content.decode()
        )
        client.post(reverse("protocols:version_action", args=[ref, 1, "approve"]), {"note": "ok"})
    version.refresh_from_db()
    assert version.status == VersionStatus.ACTIVE
    client.post(
        reverse("protocols:protocol_holders", args=[ref]), {"email": people["practitioner"].email}
    )
    client.force_login(people["author"])
    client.post(
        reverse("protocols:protocol_holders", args=[ref]), {"email": people["practitioner"].email}
    )
    assert people["practitioner"].has_perm("protocols.use_protocol", version.protocol)
    client.post(
        reverse("protocols:protocol_suspend", args=[ref]),
        {"reason": "Review of the police data quality"},
    )
    version.refresh_from_db()
    assert version.status == VersionStatus.SUSPENDED


def test_api_lifecycle_and_errors(client, parties):
    agency, other_agency, police, people, m = parties
    client.force_login(people["author"])
    body = {
        "name": "API protocol",
        "purpose": "safeguarding",
        "lawful_basis": "UK GDPR Art 6(1)(e)",
        "valid_from": "2026-01-01",
        "parties": [agency.code, other_agency.code],
        "rules": [{"dataset": police.pk, "tier": "summary", "fields": ["field:risk_grade"]}],
    }
    bad = client.post(
        reverse("protocols_api:protocol_list"),
        {**body, "parties": ["CSC", "NOPE"]},
        content_type="application/json",
    )
    assert bad.status_code == 400 and "NOPE" in bad.json()["parties"][0]
    created = client.post(
        reverse("protocols_api:protocol_list"), body, content_type="application/json"
    )
    assert created.status_code == 201
    ref = created.json()["protocol"]
    submit = client.post(reverse("protocols_api:version_action", args=[ref, 1, "submit"]))
    assert submit.json()["status"] == "awaiting_approval"
    refused = client.post(reverse("protocols_api:version_action", args=[ref, 1, "approve"]))
    assert refused.status_code == 400 and "another IG officer" in str(refused.json())
    client.force_login(people["csc_ig"])
    client.post(reverse("protocols_api:version_action", args=[ref, 1, "approve"]))
    client.force_login(people["pol_ig"])
    done = client.post(reverse("protocols_api:version_action", args=[ref, 1, "approve"]))
    assert done.json()["status"] == "active"
    fields = client.get(reverse("protocols_api:dataset_fields", args=[police.pk])).json()
    assert {"key": "field:risk_grade", "label": "Risk grade", "type": "category"} in fields
    listing = client.get(reverse("protocols_api:protocol_list")).json()
    assert listing[0]["reference"] == ref and listing[0]["live_version"] == 1


def test_api_gives_and_takes_back_a_protocol_by_email_or_group(client, parties):
    agency, other_agency, police, people, m = parties
    url = reverse("protocols_api:holders", args=[_approved(parties).protocol.reference])
    client.force_login(people["author"])
    email = people["practitioner"].email

    def post(body):
        return client.post(url, body, content_type="application/json")

    given = post({"user": email})
    assert given.status_code == 200 and given.json()["users"] == [email]
    Group.objects.create(name="MASH")
    assert post({"group": "MASH"}).json()["groups"] == ["MASH"]
    taken = post({"user": email, "remove": True}).json()
    assert taken == {"users": [], "groups": ["MASH"]}
    assert post({"group": "MASH", "remove": True}).json() == {"users": [], "groups": []}
    assert "group" in post({"group": "Nobody's"}).json()
    assert "user" in post({"user": "nobody@agency.test"}).json()
    assert post({}).status_code == 400


def test_practitioners_cannot_write_protocols(client, parties):
    agency, other_agency, police, people, m = parties
    client.force_login(people["practitioner"])
    assert client.get(reverse("protocols:protocol_new")).status_code == 403
    assert (
        client.post(
            reverse("protocols_api:protocol_list"), {}, content_type="application/json"
        ).status_code
        == 403
    )


def test_service_problems_with_a_field_show_at_that_field(client, parties):
    agency, other_agency, police, people, m = parties
    client.force_login(people["author"])
    response = client.post(
        reverse("protocols:protocol_new"),
        _form_data(agency, other_agency, police, parties=[str(agency.pk)]),
    )
    html = response.content.decode()
    assert "- Error - ShareHub" in html
    assert 'href="#id_parties_0"' in html
    assert 'id="id_parties-error"' in html and "at least two" in html


def test_status_reads_expired_or_not_yet_in_force_from_the_dates(parties):
    version = _approved(parties)
    assert version.status_label_on(date(2026, 6, 1)) == "Active"
    assert version.status_label_on(date(2025, 12, 31)) == "Approved, not yet in force"
    version.valid_to = date(2026, 6, 30)
    assert version.status_label_on(date(2026, 7, 1)) == "Expired"


def test_taking_a_protocol_away_is_for_the_holders_own_agency(parties):
    from protocols.services import protocol_unassign

    agency, other_agency, police, people, m = parties
    protocol = _approved(parties).protocol
    protocol_assign(membership=m["author"], protocol=protocol, user=people["practitioner"])
    with pytest.raises(ProtocolError, match="does not work in"):
        protocol_unassign(membership=m["pol_ig"], protocol=protocol, user=people["practitioner"])
    assert protocol_unassign(membership=m["csc_ig"], protocol=protocol, user=people["practitioner"])
    assert not protocol_unassign(
        membership=m["csc_ig"], protocol=protocol, user=people["practitioner"]
    )
    assert not people["practitioner"].has_perm("protocols.use_protocol", protocol)
