"""What changed between two versions, by field label and in words (issue 22, item 2)."""

from django.urls import reverse

from agencies.definitions import definition_parse
from agencies.models import Role
from agencies.services import dataset_define
from protocols.diff import rule_changes, version_diff
from protocols.models import ConsentRule, DatasetRule, Tier, VersionStatus
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
    assert police_change.consent == "Consent now needed unless a safeguarding override"
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
