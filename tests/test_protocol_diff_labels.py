"""What changed between two versions, by field label and in words (issue 22, item 2)."""

from django.urls import reverse

from agencies.models import Role
from agencies.services import dataset_define
from protocols.diff import comparison_base, rule_changes, seal_changes, version_diff
from protocols.models import ConsentRule, DatasetRule, SealRule, Tier, VersionStatus
from sharehub_bridge.definitions import definition_parse
from tests.ingest_helpers import police_dataset
from tests.protocol_helpers import CSC_DEFINITION, protocol_in_force


def _versions(agency, other_agency, author):
    police = police_dataset(other_agency)
    csc = dataset_define(agency=agency, definition=definition_parse(CSC_DEFINITION)).dataset
    housing = dataset_define(
        agency=agency,
        definition=definition_parse({**CSC_DEFINITION, "name": "Housing - tenancies"}),
    ).dataset
    old = protocol_in_force(
        author=author,
        parties=[agency, other_agency],
        rules=[
            {"dataset": police, "tier": Tier.KNOWN_TO},
            {
                "dataset": csc,
                "tier": Tier.SUMMARY,
                "fields": ["identity:forename", "field:category_of_need"],
            },
            {"dataset": housing, "tier": Tier.KNOWN_TO},
        ],
    )
    new = protocol_in_force(
        author=author,
        parties=[agency, other_agency],
        rules=[
            {
                "dataset": police,
                "tier": Tier.SUMMARY,
                "fields": ["field:risk_grade"],
                "consent": ConsentRule.UNLESS_OVERRIDE,
            },
            {
                "dataset": csc,
                "tier": Tier.SUMMARY,
                "fields": ["identity:forename", "field:cp_plan"],
                "lookback_days": 365,
            },
        ],
        status=VersionStatus.AWAITING_APPROVAL,
    )
    spare = new.protocol
    new.protocol, new.number = old.protocol, 2
    new.save()
    spare.delete()
    return police, csc, housing, old, new


def test_rule_changes_name_fields_by_label_and_say_tier_and_consent_in_words(
    agency, other_agency, member
):
    police, csc, housing, old, new = _versions(agency, other_agency, member(Role.IG_OFFICER))
    changes = {c.dataset: c for c in rule_changes(old, new)}
    police_change = changes[f"{other_agency.name}: {police.name}"]
    assert police_change.tier == 'Tier raised from "Known to" to "Summary"'
    assert police_change.consent == (
        'Consent: was "No consent needed", now "Consent needed unless a safeguarding override"'
    )
    assert police_change.added == ("Risk grade",)
    assert police_change.removed == ()
    csc_change = changes[f"{agency.name}: {csc.name}"]
    assert csc_change.tier == csc_change.consent == ""
    assert csc_change.added == ("Child protection plan",)
    assert csc_change.removed == ("Category of need",)
    assert csc_change.lookback == "Now records from the last 365 days (was all records)"
    housing_change = changes[f"{agency.name}: {housing.name}"]
    assert housing_change.sharing == "No longer shared (was Known to)"
    everything = repr(list(changes.values()))
    assert "field:" not in everything and "identity:" not in everything
    # Without the rules, the agreement's own changes only; the API keeps the rule texts.
    assert all(":" not in c.what for c in version_diff(old, new, rules=False))


def test_full_tier_adds_every_field_and_a_new_dataset_says_so(agency, other_agency, member):
    police, _csc, _housing, old, new = _versions(agency, other_agency, member(Role.IG_OFFICER))
    DatasetRule.objects.filter(version=new, dataset=police).update(
        tier=Tier.FULL, consent=ConsentRule.NEEDED
    )
    DatasetRule.objects.filter(version=old, dataset=police).delete()
    change = next(c for c in rule_changes(old, new) if c.dataset.endswith(police.name))
    assert change.sharing == "Newly shared at Full"
    assert change.consent == "Consent now needed, with no safeguarding override"
    assert change.added[:2] == ("Forename", "Surname")
    assert "Risk grade" in change.added


def test_the_changes_page_lists_added_and_removed_fields_by_label(
    client, agency, other_agency, member
):
    officer = member(Role.IG_OFFICER)
    _police, _csc, _housing, _old, new = _versions(agency, other_agency, member(Role.IG_OFFICER))
    client.force_login(officer)
    body = client.get(
        reverse("protocols:version_detail", args=[new.protocol.reference, new.number])
    ).content.decode()
    assert 'data-testid="rule-changes"' in body
    assert "Added:</strong> <ins>Child protection plan</ins>" in body
    assert "Removed:</strong> <del>Category of need</del>" in body
    assert "Tier raised from &quot;Known to&quot; to &quot;Summary&quot;" in body
    # Labels everywhere on the page, the version's own rule table too: never a raw key.
    assert "field:" not in body and "identity:" not in body


def _later(version, *, number, status):
    """A copy of `version`'s rules as version `number` of its protocol, in `status`."""
    copy = protocol_in_force(
        author=version.author,
        parties=list(version.parties.all()),
        rules=[
            {
                "dataset": r.dataset,
                "tier": r.tier,
                "fields": r.fields,
                "consent": r.consent,
                "lookback_days": r.lookback_days,
            }
            for r in version.rules.all()
        ],
        status=status,
    )
    spare = copy.protocol
    copy.protocol, copy.number = version.protocol, number
    copy.save()
    spare.delete()
    return copy


def test_after_a_send_back_the_changes_are_those_from_the_version_in_force(
    client, agency, other_agency, member
):
    """The sceptical officer's v3: sent back as v2 (now withdrawn) and resubmitted unchanged as
    v3, whose page said "Nothing changed" since v2, though it differs from v1, in force, which
    is what approving it replaces."""
    officer = member(Role.IG_OFFICER)
    _police, _csc, _housing, old, new = _versions(agency, other_agency, member(Role.IG_OFFICER))
    new.status = VersionStatus.WITHDRAWN
    new.save()
    third = _later(new, number=3, status=VersionStatus.AWAITING_APPROVAL)
    base = comparison_base(third)
    assert (base.version, base.in_force) == (old, True)
    client.force_login(officer)
    url = reverse("protocols:version_detail", args=[third.protocol.reference, 3])
    body = client.get(url).content.decode()
    assert "What changes from version 1, the version in force" in body
    assert "Nothing changed" not in body
    assert "Tier raised from &quot;Known to&quot; to &quot;Summary&quot;" in body
    # Another version can still be chosen, and the page says which it is and what it was.
    body = client.get(url + "?compare=2").content.decode()
    assert "What changed since version 2" in body
    assert "Version 2: withdrawn." in body
    assert "Nothing changed from version 2." in body
    # A version that does not exist falls back to the version in force.
    assert comparison_base(third, chosen="9").version == old
    # The API says the same, beside the comparison with the previous number it always gave.
    api = client.get(
        reverse("protocols_api:version_detail", args=[third.protocol.reference, 3])
    ).json()
    assert api["changes"]["compared_with"] == 1 and api["changes"]["compared_with_in_force"]
    assert any(c["before"].startswith("Known to") for c in api["changes"]["changes"])
    assert api["changes_from_previous"] == []


def test_sealed_records_added_and_removed_are_in_the_changes(client, agency, other_agency, member):
    police, csc, _housing, old, new = _versions(agency, other_agency, member(Role.IG_OFFICER))
    kept = {"dataset": police, "field_key": "field:risk_grade", "value": "High"}
    SealRule.objects.create(version=old, reason="Kept in both", **kept)
    SealRule.objects.create(version=new, reason="Kept in both", **kept)
    SealRule.objects.create(
        version=old,
        dataset=csc,
        field_key="field:category_of_need",
        value="Abuse or neglect",
        reason="Family court",
    )
    SealRule.objects.create(
        version=new,
        dataset=police,
        field_key="field:risk_grade",
        value="Standard",
        reason="Not for other agencies",
    )
    changes = seal_changes(old, new)
    assert [(c.added, c.dataset, c.text) for c in changes] == [
        (True, f"{other_agency.name}: {police.name}", 'records where Risk grade is "Standard"'),
        (
            False,
            f"{agency.name}: {csc.name}",
            'records where Category of need is "Abuse or neglect"',
        ),
    ]
    api = {c.what: (c.before, c.after) for c in version_diff(old, new)}
    assert "Standard" in api["Sealed records"][1] and "Abuse" in api["Sealed records"][0]
    client.force_login(member(Role.IG_OFFICER))
    body = client.get(
        reverse("protocols:version_detail", args=[new.protocol.reference, new.number])
    ).content.decode()
    assert 'data-testid="seal-changes"' in body
    assert "Now sealed:</strong> <ins>" in body and "Not for other agencies" in body
    assert "No longer sealed:</strong> <del>" in body and "Family court" in body
