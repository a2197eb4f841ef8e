"""The public transparency register (issue 22, item 7): what it lists, in words, and what it
never shows (a person, a user, a draft or a protocol not in force)."""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from agencies.models import Agency, Dataset, DatasetVersion, Membership, Role, SourceRecord
from alerts.models import AlertRule, RuleKind
from core.access import PUBLIC
from matching.pseudonymise import identity_open
from protocols.models import ConsentRule, ProtocolVersion, Tier, VersionStatus
from protocols.services import protocol_approve
from risk.models import IndicatorKind, RiskIndicator
from tests.ingest_helpers import police_dataset
from tests.protocol_helpers import protocol_in_force
from tests.test_page_access import site_patterns
from transparency.selectors import (
    protocols_in_force,
    register_last_changed,
    transparency_register,
    weight_in_words,
)

# The pages read today's date; the selectors are asked about the same day.
TODAY = timezone.localdate()
PAGES = ["transparency:register", "transparency:privacy", "transparency:register_json"]


def _protocol(author, parties, dataset, name, **kwargs):
    return protocol_in_force(
        author=author,
        parties=parties,
        rules=[
            {
                "dataset": dataset,
                "tier": Tier.SUMMARY,
                "fields": ["identity:date_of_birth", "field:risk_grade"],
                "consent": ConsentRule.UNLESS_OVERRIDE,
                "lookback_days": 730,
            }
        ],
        name=name,
        **kwargs,
    )


@pytest.fixture
def world(agency, other_agency, member):
    """A police dataset shared by one protocol in force and by others that are not: suspended,
    expired, not yet in force, a draft, one awaiting approval and one replaced."""
    author = member(Role.IG_OFFICER, full_name="Zebedee Quillfeather", email="zq@csc.test")
    police = police_dataset(other_agency)
    parties = [agency, other_agency]
    in_force = _protocol(author, parties, police, "Shared now")
    for name, extra in (
        ("Suspended one", {"status": VersionStatus.SUSPENDED}),
        ("Expired one", {"valid_to": TODAY - timedelta(days=1)}),
        ("Future one", {"valid_from": TODAY + timedelta(days=1)}),
        ("Draft one", {"status": VersionStatus.DRAFT}),
        ("Awaiting one", {"status": VersionStatus.AWAITING_APPROVAL}),
        ("Replaced one", {"status": VersionStatus.SUPERSEDED}),
        ("Withdrawn one", {"status": VersionStatus.WITHDRAWN}),
    ):
        _protocol(author, parties, police, name, **extra)
    indicator = RiskIndicator.objects.create(
        name="High-risk incident",
        description="The police grade of the incident.",
        kind=IndicatorKind.STRUCTURED,
        conditions=[{"column": "risk_grade", "op": "is", "value": "high"}],
        weight=3,
        half_life_days=90,
        created_by=author,
    )
    indicator.datasets.set([police])
    RiskIndicator.objects.create(
        name="Retired indicator", kind=IndicatorKind.VOCABULARY, weight=5, is_active=False
    )
    AlertRule.objects.create(
        name="High score", kind=RuleKind.SCORE_ABOVE, threshold=40.0, created_by=author
    )
    return {"author": author, "police": police, "in_force": in_force}


def test_only_protocols_in_force_today_are_listed(world):
    assert [p.name for p in protocols_in_force(today=TODAY)] == ["Shared now"]


def test_the_register_says_what_is_shared_in_words(world, client):
    (entry,) = protocols_in_force(today=TODAY)
    (shared,) = entry.datasets
    assert shared.agency == "Test Police"
    assert shared.tier == "summary: date of birth, risk grade"
    assert "consent" in shared.consent and "safeguarding override" in shared.consent
    assert shared.records == "Records from the last 2 years"
    assert entry.parties == ["Test Children's Services", "Test Police"]
    assert entry.roles == ["Safeguarding practitioner"]
    assert "at most 3 days, usually 1 day" in entry.overrides

    register = transparency_register(today=TODAY)
    (indicator,) = register.indicators  # the retired one counts for nothing: not listed
    assert indicator.counts == 'A record where risk grade is "high"'
    assert indicator.weight_in_words == "Counts for 3 points, halving every 90 days"
    assert indicator.datasets == ["Test Police: Police - domestic abuse incidents"]
    (rule,) = register.alert_rules
    assert rule.when == "Score above 40"
    police = next(a for a in register.agencies if a.name == "Test Police")
    assert police.datasets[0].retention.startswith("Kept for 6 years")

    page = client.get(reverse("transparency:register")).content.decode()
    assert "Summary: date of birth, risk grade" in page
    assert "Counts for 3 points, halving every 90 days" in page
    for hidden in ("Suspended one", "Expired one", "Draft one", "Awaiting one", "Replaced one"):
        assert hidden not in page


def test_weights_in_words():
    assert weight_in_words(1, None, None) == "Counts for 1 point, however old"
    assert weight_in_words(10, 365, 730) == (
        "Counts for 10 points, halving every 1 year; only events in the last 2 years count"
    )


def test_no_user_name_or_email_appears(world, client, member, other_agency):
    approver = member(
        Role.IG_OFFICER, in_agency=other_agency, full_name="Ottoline Vexworth", email="ov@p.test"
    )
    pending = _protocol(
        world["author"],
        [other_agency],
        world["police"],
        "Approved today",
        status=VersionStatus.AWAITING_APPROVAL,
    )
    protocol_approve(
        membership=Membership.objects.get(user=approver),
        version=pending,
        note="Ottoline Vexworth agreed",
    )
    bodies = [client.get(reverse(name)).content.decode() for name in PAGES]
    assert "Approved today" in bodies[0]
    for body in bodies:
        for user in User.objects.all():
            assert user.full_name not in body
            assert user.email not in body
        assert "Vexworth" not in body


def _push_everything_back(days: int) -> None:
    """Every configuration timestamp `days` ago, as if nothing had changed since."""
    then = timezone.now() - timedelta(days=days)
    ProtocolVersion.objects.filter(approved_at__isnull=False).update(
        approved_at=then, status_changed_at=then
    )
    ProtocolVersion.objects.filter(status=VersionStatus.ACTIVE).update(approved_at=then)
    ProtocolVersion.objects.filter(valid_to__isnull=False).update(
        valid_to=then.date() - timedelta(days=1)
    )
    RiskIndicator.objects.update(updated_at=then)
    AlertRule.objects.update(updated_at=then)
    Agency.objects.update(created_at=then)
    Dataset.objects.update(created_at=then)
    DatasetVersion.objects.update(created_at=then)


def test_last_changed_moves_when_a_protocol_is_approved(world, member, other_agency):
    ProtocolVersion.objects.filter(status=VersionStatus.ACTIVE).update(
        approved_at=timezone.now(), status_changed_at=timezone.now()
    )
    _push_everything_back(30)
    today = timezone.localdate()
    before = register_last_changed(today=today)
    assert before is not None and before < timezone.now() - timedelta(days=29)
    approver = member(Role.IG_OFFICER, in_agency=other_agency)
    pending = _protocol(
        world["author"],
        [other_agency],
        world["police"],
        "Approved today",
        status=VersionStatus.AWAITING_APPROVAL,
    )
    assert register_last_changed(today=today) == before  # submitted only: nothing shows yet
    protocol_approve(membership=Membership.objects.get(user=approver), version=pending)
    after = register_last_changed(today=today)
    assert after > before
    assert after >= timezone.now() - timedelta(minutes=1)


def test_last_changed_counts_a_version_ending_by_its_dates(world):
    _push_everything_back(400)
    ProtocolVersion.objects.filter(name="Shared now").update(valid_to=TODAY - timedelta(days=10))
    changed = register_last_changed(today=TODAY)
    assert timezone.localtime(changed).date() == TODAY - timedelta(days=9)


def test_pages_are_public_and_kept_only_briefly(world, client, member):
    declared = dict(site_patterns())
    for name in PAGES:
        assert declared[name].callback.allowed_roles == PUBLIC
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert "public" in response["Cache-Control"]
        assert "max-age=60" in response["Cache-Control"]
    data = json.loads(client.get(reverse("transparency:register_json")).content)
    assert [p["name"] for p in data["protocols_in_force"]] == ["Shared now"]
    assert data["sealed_categories"] == []
    client.force_login(member(Role.PRACTITIONER))
    response = client.get(reverse("transparency:register"))
    assert response.status_code == 200
    # The account bar names the signed-in user: never kept by a shared cache.
    assert "private" in response["Cache-Control"]


def test_the_footer_links_to_the_register_and_privacy_notice_for_everyone(client, member):
    links = [reverse("transparency:register"), reverse("transparency:privacy")]
    sign_in_page = client.get(reverse("accounts:login")).content.decode()
    assert all(f'href="{link}"' in sign_in_page for link in links)
    client.force_login(member(Role.IG_OFFICER))
    home = client.get(reverse("ig_home")).content.decode()
    assert all(f'href="{link}"' in home for link in links)


def test_privacy_notice_names_controllers_and_lawful_bases(world, client):
    page = client.get(reverse("transparency:privacy")).content.decode()
    assert "Test Police" in page and "Test Children&#x27;s Services" in page
    assert "UK GDPR Art 6(1)(e)" in page
    assert "subject access request" in page
    assert "ico.org.uk" in page


@pytest.mark.django_db
def test_no_person_data_from_the_demo_reaches_the_register(
    client, settings, tmp_path, django_capture_on_commit_callbacks
):
    """The register and privacy notice of the demo partnership, with its synthetic population
    loaded, hold no surname, date of birth or NHS number of anyone, and no user."""
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--people", "120")
    bodies = {name: client.get(reverse(name)).content.decode() for name in PAGES}
    assert "Northbridge MASH information sharing protocol" in bodies["transparency:register"]
    surnames, dates, nhs_numbers = set(), set(), set()
    for record in SourceRecord.objects.select_related("dataset"):
        identity = identity_open(
            agency_id=record.dataset.agency_id,
            dataset_id=record.dataset_id,
            source_id=record.source_id,
            blob=bytes(record.identity),
        )
        surname = identity.get("surname") or ""
        # Police systems keep surnames in capitals; a page would show them either way.
        surnames |= {surname, surname.title()}
        dates.add(identity.get("date_of_birth") or "")
        nhs_numbers.add(identity.get("nhs_number") or "")
    surnames.discard("")
    assert len(surnames) > 10 and any(dates) and any(nhs_numbers)
    # The register's own dates (today, when the settings last changed) are not anyone's.
    register = transparency_register()
    own_dates = {register.today.isoformat()}
    if register.last_changed:
        own_dates.add(timezone.localtime(register.last_changed).date().isoformat())
    for name, body in bodies.items():
        text = re.sub(r"<[^>]+>", " ", body)
        words = set(re.findall(r"[A-Za-z][A-Za-z'-]+", text))
        assert not (surnames & words), f"{name} shows {surnames & words}"
        for value in (dates | nhs_numbers) - {""} - own_dates:
            assert value not in body, f"{name} shows {value}"
        for user in User.objects.all():
            assert user.full_name not in body and user.email not in body


def test_the_register_costs_the_same_queries_however_much_is_configured(
    world, client, agency, other_agency, django_assert_max_num_queries
):
    with CaptureQueriesContext(connection) as first:
        client.get(reverse("transparency:register"))
    _protocol(world["author"], [agency, other_agency], world["police"], "Second in force")
    more = RiskIndicator.objects.create(
        name="Another", kind=IndicatorKind.STRUCTURED, conditions=[], weight=2
    )
    more.datasets.set([world["police"]])
    AlertRule.objects.create(name="Rising", kind=RuleKind.SCORE_RISING, rise=5, window_days=30)
    with django_assert_max_num_queries(len(first.captured_queries)):
        page = client.get(reverse("transparency:register")).content.decode()
    assert "Second in force" in page and "Score up by 5 or more within 30 days" in page


def test_sealed_categories_in_force_are_published_and_move_last_changed(world, client):
    """Seal rules of a version in force and partnership-wide ones are listed in words; a
    draft's are not; adding a partnership-wide one moves the last-changed time."""
    from protocols.models import SealRule
    from transparency.selectors import register_last_changed, sealed_categories

    police, author = world["police"], world["author"]
    draft = ProtocolVersion.objects.get(name="Draft one")
    SealRule.objects.create(
        dataset=police,
        field_key="field:risk_grade",
        value="adoption",
        version=draft,
        reason="Draft only",
        created_by=author,
    )
    SealRule.objects.create(
        dataset=police,
        field_key="field:risk_grade",
        value="medium",
        version=world["in_force"],
        reason="Kept with the police",
        created_by=author,
    )
    before = register_last_changed(today=TODAY)
    SealRule.objects.create(
        dataset=police,
        field_key="field:risk_grade",
        value="sexual health",
        reason="Never shared",
        created_by=author,
    )
    lines = sealed_categories(today=TODAY)
    assert len(lines) == 2
    assert lines[0].startswith("Test Police: ") and lines[0].endswith("under every agreement")
    assert '"sexual health"' in lines[0]
    assert '"medium"' in lines[1] and lines[1].endswith("under Shared now")
    assert register_last_changed(today=TODAY) > before
    page = client.get(reverse("transparency:register")).content.decode()
    assert "sexual health" in page and "adoption" not in page
