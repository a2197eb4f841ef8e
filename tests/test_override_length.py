"""The usual length of a safeguarding override: set per protocol version by IG officers, at most
the longest the version allows, and what the override form offers first (issue 21)."""

import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from agencies.models import Membership, Role
from consent.overrides import override_options
from protocols.diff import version_diff
from protocols.models import (
    DEFAULT_OVERRIDE_LENGTH_HOURS,
    ConsentRule,
    ProtocolVersion,
    Tier,
)
from protocols.services import (
    ProtocolError,
    protocol_draft_create,
    protocol_draft_update,
    protocol_revise,
    version_input,
)
from tests.protocol_helpers import give, linked_people, protocol_in_force
from tests.test_protocols import _approved, _form_data, _input, parties  # noqa: F401


def test_a_day_unless_the_protocol_says_otherwise(parties):  # noqa: F811
    agency, other_agency, police, people, m = parties
    assert DEFAULT_OVERRIDE_LENGTH_HOURS == 24
    plain = protocol_draft_create(membership=m["author"], data=_input(agency, other_agency, police))
    assert (plain.override_max_hours, plain.override_default_hours) == (72, 24)
    # A protocol allowing less than a day offers its most.
    short = protocol_draft_create(
        membership=m["author"], data=_input(agency, other_agency, police, override_max_hours=12)
    )
    assert short.override_default_hours == 12
    chosen = protocol_draft_create(
        membership=m["author"],
        data=_input(agency, other_agency, police, override_default_hours=8),
    )
    assert chosen.override_default_hours == 8
    # A new version starts from the old one's.
    assert version_input(chosen).override_default_hours == 8


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"override_default_hours": 73}, "from 1 hour to the longest override, 72 hours"),
        (
            {"override_max_hours": 12, "override_default_hours": 24},
            "from 1 hour to the longest override, 12 hours",
        ),
        ({"override_default_hours": 0}, "from 1 hour"),
    ],
)
def test_the_usual_length_is_never_more_than_the_most(parties, changes, message):  # noqa: F811
    agency, other_agency, police, people, m = parties
    with pytest.raises(ProtocolError) as caught:
        protocol_draft_create(
            membership=m["author"], data=_input(agency, other_agency, police, **changes)
        )
    assert message in " ".join(caught.value.problems["override_default_hours"])
    assert not ProtocolVersion.objects.exists()


def test_ig_officers_set_it_on_the_protocol_form(client, parties):  # noqa: F811
    agency, other_agency, police, people, m = parties
    client.force_login(people["author"])
    page = client.get(reverse("protocols:protocol_new")).content.decode()
    assert "Usual length of a safeguarding override, in hours" in page
    assert 'name="override_default_hours" type="text" value="24"' in page
    response = client.post(
        reverse("protocols:protocol_new"),
        _form_data(
            agency,
            other_agency,
            police,
            override_max_hours="48",
            override_default_hours="49",
        ),
    )
    html = response.content.decode()
    # At the field, and in the error summary linked to it.
    assert 'id="id_override_default_hours-error"' in html
    assert 'href="#id_override_default_hours"' in html
    assert "the longest override, 48 hours" in html
    assert not ProtocolVersion.objects.exists()
    response = client.post(
        reverse("protocols:protocol_new"),
        _form_data(
            agency, other_agency, police, override_max_hours="48", override_default_hours="6"
        ),
    )
    assert response.status_code == 302
    version = ProtocolVersion.objects.get()
    assert (version.override_max_hours, version.override_default_hours) == (48, 6)
    detail = client.get(
        reverse("protocols:version_detail", args=[version.protocol.reference, 1])
    ).content.decode()
    assert 'data-testid="override-default-hours">6 hours' in detail
    # The edit form shows it again, and an empty field takes the house default.
    edit = reverse("protocols:version_edit", args=[version.protocol.reference, 1])
    edit_page = client.get(edit).content.decode()
    assert 'name="override_default_hours" type="text" value="6"' in edit_page
    client.post(edit, _form_data(agency, other_agency, police, override_default_hours=""))
    version.refresh_from_db()
    assert version.override_default_hours == 24


def test_the_api_takes_and_gives_it(client, parties):  # noqa: F811
    agency, other_agency, police, people, m = parties
    client.force_login(people["author"])
    body = {
        "name": "API protocol",
        "purpose": "safeguarding",
        "lawful_basis": "UK GDPR Art 6(1)(e)",
        "valid_from": "2026-01-01",
        "parties": [agency.code, other_agency.code],
        "override_max_hours": 10,
        "rules": [{"dataset": police.pk, "tier": "summary", "fields": ["field:risk_grade"]}],
    }
    url = reverse("protocols_api:protocol_list")
    refused = client.post(
        url, {**body, "override_default_hours": 11}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert "10 hours" in refused.json()["override_default_hours"][0]
    created = client.post(url, body, content_type="application/json")
    assert created.status_code == 201
    assert (created.json()["override_max_hours"], created.json()["override_default_hours"]) == (
        10,
        10,
    )


def test_a_new_version_shows_the_change_to_its_approvers(parties):  # noqa: F811
    agency, other_agency, police, people, m = parties
    old = _approved(parties)
    new = protocol_revise(membership=m["author"], protocol=old.protocol)
    data = version_input(new)
    protocol_draft_update(
        membership=m["author"],
        version=new,
        data=type(data)(**{**data.__dict__, "override_default_hours": 4}),
    )
    new.refresh_from_db()
    changes = {c.what: (c.before, c.after) for c in version_diff(old, new)}
    assert changes["Usual length of a safeguarding override"] == ("24 hours", "4 hours")


def test_the_override_form_starts_at_the_usual_length(client, agency, other_agency, member):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    practitioner = member(Role.PRACTITIONER)
    version = protocol_in_force(
        author=member(Role.IG_OFFICER),
        parties=[agency, other_agency],
        rules=[
            {"dataset": linked.police, "tier": Tier.FULL, "consent": ConsentRule.UNLESS_OVERRIDE}
        ],
    )
    version.override_max_hours, version.override_default_hours = 48, 6
    version.save()
    give(version, practitioner)
    _, [option] = override_options(
        user=practitioner,
        membership=Membership.objects.get(user=practitioner),
        person=linked.alice,
    )
    assert (option.max_hours, option.default_hours) == (48, 6)
    client.force_login(practitioner)
    page = client.get(reverse("consent:override_new", args=[linked.alice.reference]))
    html = page.content.decode()
    assert 'name="hours" type="text" value="6"' in html
    assert "usually 6, up to 48 hours" in html
    assert "Usually 6; your protocol allows up to 48." in html
    # A version written by hand with a usual length over its most offers its most.
    version.override_default_hours = 100
    version.save()
    html = client.get(page.request["PATH_INFO"]).content.decode()
    assert 'name="hours" type="text" value="48"' in html


def test_the_migration_keeps_the_usual_length_within_the_most(parties):  # noqa: F811
    agency, other_agency, police, people, m = parties
    fill = importlib.import_module("protocols.migrations.0007_override_default_hours_fill")
    short = protocol_draft_create(
        membership=m["author"], data=_input(agency, other_agency, police, override_max_hours=12)
    )
    usual = protocol_draft_create(membership=m["author"], data=_input(agency, other_agency, police))
    # As 0006 leaves them: every version at the new 24 hours.
    ProtocolVersion.objects.update(override_default_hours=24)
    fill.usual_within_most(apps, None)
    short.refresh_from_db()
    usual.refresh_from_db()
    assert (short.override_default_hours, usual.override_default_hours) == (12, 24)
