"""The alerts inbox (issue 21, item 5): each alert says who it is about as far as the disclosure
engine shares it with the reader (the name, or what is shared instead), the rule that raised
it, the score the rule compares as the reader is shown it, and how long ago it was raised; the
page asks the engine once, whatever the number of alerts, and its read is logged."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agencies.models import Role
from alerts.models import Alert, AlertDelivery, RuleKind
from alerts.rules import RuleInput, rule_save, subscription_set
from audit.models import AuditAction, AuditEntry, RecordRead
from matching.models import Person
from protocols.models import Tier
from risk.models import RiskRun
from risk.services import enrich_run
from subject_access.services import subject_access_report
from tests.protocol_helpers import (
    audit_append_queries,
    crowd,
    give,
    linked_people,
    protocol_in_force,
)
from tests.test_alerts import DAY, high_risk_indicator

# A1, a high-risk police incident on 10 January, adds 30 halved every 30 days: on DAY (20
# January), ten days on, Alice's score is 30 x 0.5^(1/3).
ALICE_SCORE = round(30 * 0.5 ** (10 / 30), 1)
# Police records show the risk grade the score is made of, and the date of birth; no name.
POLICE_WITHOUT_NAMES = ["field:risk_grade", "field:incident_date", "identity:date_of_birth"]


@pytest.fixture
def world(agency, other_agency, member):
    linked = linked_people(other_agency, agency)
    admin = member(Role.PLATFORM_ADMIN)
    named = member(Role.PRACTITIONER)
    unnamed = member(Role.PRACTITIONER)
    full = protocol_in_force(
        author=named,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police}, {"dataset": linked.csc}],
    )
    give(full, named)
    no_names = protocol_in_force(
        author=named,
        parties=[agency, other_agency],
        name="Risk grades without names",
        rules=[
            {"dataset": linked.police, "tier": Tier.SUMMARY, "fields": POLICE_WITHOUT_NAMES},
            {"dataset": linked.csc, "tier": Tier.KNOWN_TO},
        ],
    )
    give(no_names, unnamed)
    indicator = high_risk_indicator(admin, linked)
    rule = rule_save(
        by=admin, data=RuleInput(name="High risk", kind=RuleKind.SCORE_ABOVE, threshold=20)
    )
    for who in (named, unnamed):
        subscription_set(membership=who.memberships.get(), rule=rule, subscribed=True)
    return {
        "linked": linked,
        "admin": admin,
        "named": named,
        "unnamed": unnamed,
        "rule": rule,
        "indicator": indicator,
    }


def _rows(html: str) -> list[str]:
    table = re.search(r'<table class="govuk-table" data-testid="alerts">.*?</table>', html, re.S)
    assert table, "no alerts table"
    return re.findall(r"<tr class=\"govuk-table__row\" data-alert=.*?</tr>", table.group(), re.S)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def test_a_named_alert_says_who_why_the_score_and_when(client, world):
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    alice = world["linked"].alice
    alert = Alert.objects.get(person=alice)
    raised = timezone.now() - timedelta(days=3, hours=2)
    Alert.objects.filter(pk=alert.pk).update(raised_at=raised)
    client.force_login(world["named"])

    (row,) = _rows(client.get("/alerts/").content.decode())
    text = _text(row)
    assert "High risk" in text
    assert f"Alice Smith Person {alice.reference}, born 2015; known to " in text
    assert "Test Children's Services, Test Police" in text
    assert f"Score {ALICE_SCORE} Rule: Above 20" in text
    assert "Raised 3 days ago" in text
    local = timezone.localtime(raised)
    assert f'<time class="govuk-body-s" datetime="{local.isoformat()}' in row
    assert f"{local.day} {local:%B %Y, %H:%M}</time>" in row
    summary = reverse("protocols:summary", args=[alice.reference])
    assert f'href="{summary}?purpose=safeguarding">Case summary' in row


def test_the_score_is_the_one_the_reader_is_shown_not_the_one_stored(client, world):
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    # The stored score counts every finding, some perhaps on records withheld from a reader.
    Alert.objects.update(score=99.5)
    client.force_login(world["named"])
    page = client.get("/alerts/").content.decode()
    assert f"Score {ALICE_SCORE}" in page
    assert "99.5" not in page and "99" not in _text(page)


def test_a_name_not_shared_is_told_apart_by_what_is_shared(client, world):
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    alice = world["linked"].alice
    assert AlertDelivery.objects.filter(membership__user=world["unnamed"]).count() == 1
    client.force_login(world["unnamed"])
    page = client.get("/alerts/").content.decode()
    (row,) = _rows(page)
    text = _text(row)
    assert text.startswith("High risk Name not shared with you")
    assert f"Person {alice.reference}, born 2015; known to " in text
    assert "Test Children's Services, Test Police" in text
    assert f"Score {ALICE_SCORE}" in text
    # Neither name, nor more of the date of birth than its year, anywhere on the page.
    for withheld in ("Alice", "Smith", "01/02", "1 February", "2015-02-01"):
        assert withheld not in page


def test_the_inbox_read_is_logged_as_a_read_of_each_agencys_records(client, world, agency):
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    linked = world["linked"]
    alice = linked.alice
    client.force_login(world["named"])
    client.get("/alerts/")
    entry = AuditEntry.objects.reads().get(action=AuditAction.ALERT, actor=world["named"])
    assert entry.person_reference == "" and entry.detail["results"] == [alice.reference]
    shown = entry.detail["fields"]["results"][alice.reference]
    a1, s1 = linked.records["A1"].pk, linked.records["S1"].pk
    # The name and the date of birth of every record they are shown of, and the risk grade
    # behind the score; "known to" for both datasets.
    assert set(shown["fields"][str(a1)]) == {
        "identity:forename",
        "identity:surname",
        "identity:date_of_birth",
        "field:risk_grade",
    }
    assert "field:risk_grade" not in shown["fields"][str(s1)]
    assert shown["known_to"] == sorted([linked.police.pk, linked.csc.pk])
    stored = str(entry.__dict__)
    assert "Smith" not in stored and "Alice" not in stored
    reads = RecordRead.objects.filter(entry__action="alert", entry__person_reference="")
    assert {r.agency_id for r in reads} == {linked.police.agency_id, agency.pk}
    assert all(r.persons == [alice.reference] for r in reads)


def test_the_subject_access_report_lists_the_inbox_among_who_viewed(client, world, member, agency):
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    client.force_login(world["named"])
    client.get("/alerts/")
    officer = member(Role.IG_OFFICER)
    report = subject_access_report(
        user=officer,
        membership=officer.memberships.get(),
        person=world["linked"].alice,
        show_staff_names=False,
        channel="web",
    )
    assert "Alert" in [row.action for row in report.access_log]


def _alerts_for(world, persons, rules) -> None:
    """An alert of each rule in turn for each person, delivered to the named reader."""
    membership = world["named"].memberships.get()
    for n, person in enumerate(persons):
        alert = Alert.objects.create(
            rule=rules[n % len(rules)],
            person=person,
            cause_key=f"from:{DAY.isoformat()}",
            raised_on=DAY,
            score=30,
            delivered=True,
        )
        AlertDelivery.objects.create(alert=alert, membership=membership)


def test_the_inbox_asks_a_fixed_number_of_queries(client, world, django_assert_num_queries):
    linked = world["linked"]
    crowd(linked, per_group=8)  # 24 more people like Alice, known to one agency or both
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY - timedelta(days=400))  # findings, no alert
    admin = world["admin"]
    rules = [
        world["rule"],
        rule_save(
            by=admin,
            data=RuleInput(name="Rising", kind=RuleKind.SCORE_RISING, rise=10, window_days=30),
        ),
        rule_save(
            by=admin,
            data=RuleInput(
                name="Step-down",
                kind=RuleKind.STEP_DOWN,
                threshold=20,
                lower_threshold=5,
                window_days=90,
            ),
        ),
        rule_save(
            by=admin,
            data=RuleInput(
                name="New incident, open to social care",
                kind=RuleKind.NEW_EVENT_WHILE_OPEN,
                indicator=world["indicator"],
                open_agency=linked.csc.agency,
                open_within_days=365,
                new_within_days=14,
            ),
        ),
    ]
    persons = list(Person.objects.filter(is_active=True).order_by("pk"))
    assert len(persons) >= 25
    client.force_login(world["named"])
    client.get("/alerts/")  # the session's first request, and the audit trail's first entry

    def inbox_queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            page = client.get("/alerts/").content.decode()
        return len(captured), page

    _alerts_for(world, persons[:1], rules)
    one, page = inbox_queries()
    assert len(_rows(page)) == 1
    Alert.objects.all().delete()
    _alerts_for(world, persons[:25], rules)
    many, page = inbox_queries()
    assert len(_rows(page)) == 25
    assert {"Score", "Up", "Down from", "A new event"} <= {
        re.search(
            r'data-testid="alert-score">\s*<span[^>]*>(Score|Up|Down from|A new event)', r
        ).group(1)
        for r in _rows(page)
    }
    assert one == many
    with django_assert_num_queries(INBOX_QUERIES + audit_append_queries()):
        client.get("/alerts/")


# Whatever the number of alerts: the session, user, two-factor device and membership; the
# filter's rules; the list; the counts and who may be seen (the reader, grants, records); the
# disclosure question (grants, dataset versions, datasets, records); the findings; the log (the
# audit entry before, the entry, the records and datasets it reads, the reads it writes, two
# savepoints; one table of reads since issue 24, a query fewer); the navigation's permissions
# (two) and unread notifications; the session saved (and its savepoints).
INBOX_QUERIES = 28
