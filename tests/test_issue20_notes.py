"""Issue 20, tester's findings A and D: what free text is screened against.

A. The screen judged a note against every identifier held about the person and their household,
   so a practitioner shown only "known to" learnt a withheld date of birth or surname from which
   guess was refused (a halving search over a note of 120 dates finds one in ~40 requests). A
   note is now judged only against identifiers the disclosure engine shows the writer, and by
   shape (an NHS number with a valid check digit, a full postcode) against no one's data.
D. A link reviewer's decision note was not screened at all: an NHS number went into the table.

The world (tests/protocol_helpers.linked_people): Alice (police A1, A2; social care S1, Smith,
01/02/2015, LS6 2AB), her brother Bob (police B1, 03/04/2012), and here their stepfather Dan
Okafor (police D1, 13/07/1987, no NHS number), all one household. An education practitioner
writes the notes, under a protocol that shows police records as "known to" only.
"""

import json
import random
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agencies.models import Agency, Membership, Role, SourceRecord
from alerts.errors import AlertError
from alerts.inbox import alert_close
from alerts.models import Alert, AlertDelivery, AlertRule, RuleKind
from matching.linkage.keys import keys_refresh
from matching.models import Household, LinkageRecord, Person, ReviewDecision, ReviewItem
from matching.review import reviewer_grant
from protocols.models import Tier
from tests.ingest_helpers import csv_bytes, good_row, upload
from tests.protocol_helpers import give, linked_people, protocol_in_force

WITHHELD_DATES = ["13/07/1987", "01/02/2015", "03/04/2012"]  # Dan's, Alice's, Bob's
WITHHELD_SURNAMES = ["Okafor", "Smith"]


@pytest.fixture
def family(agency, other_agency):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    upload(
        linked.police,
        csv_bytes(
            [
                good_row(
                    "D1",
                    forename="Dan",
                    surname="Okafor",
                    dob="13/07/1987",
                    nhs_number="",
                    incident_date="2026-02-01",
                )
            ]
        ),
    )
    # The upload's linkage run may have moved persons about: the household is set again here.
    dan_record = SourceRecord.objects.get(dataset=linked.police, source_id="D1")
    keys_refresh(record_ids=[dan_record.pk])
    home = Household.objects.create()
    dan = Person.objects.create(household=home)
    LinkageRecord.objects.filter(record=dan_record).update(person=dan, linked_at=timezone.now())
    for name, sources in (("alice", ["A1", "A2", "S1"]), ("bob", ["B1"])):
        person = getattr(linked, name)
        LinkageRecord.objects.filter(record__in=[linked.records[s] for s in sources]).update(
            person=person
        )
        Person.objects.filter(pk=person.pk).update(household=home, is_active=True)
        person.refresh_from_db()
    return linked


@pytest.fixture
def education(db):
    return Agency.objects.create(name="Test Education", code="EDU", kind="education")


def _practitioner(member, education, family, agency, other_agency, *, csc_tier):
    ig = member(Role.IG_OFFICER, in_agency=education)
    version = protocol_in_force(
        author=ig,
        parties=[agency, other_agency, education],
        rules=[
            {"dataset": family.police, "tier": Tier.KNOWN_TO},
            {"dataset": family.csc, "tier": csc_tier},
        ],
    )
    user = member(Role.PRACTITIONER, in_agency=education)
    give(version, user)
    return user


@pytest.fixture
def known_to_only(member, education, family, agency, other_agency):
    """Sees Alice and her household as "known to", nothing more."""
    return _practitioner(member, education, family, agency, other_agency, csc_tier=Tier.KNOWN_TO)


@pytest.fixture
def shown_social_care(member, education, family, agency, other_agency):
    """Sees social care's record of Alice in full (her surname, date of birth, postcode);
    police records, and so Bob and Dan, as "known to" only."""
    return _practitioner(member, education, family, agency, other_agency, csc_tier=Tier.FULL)


def _consent_note(client, person, note: str):
    return client.post(
        reverse("consent_api:person_consent", args=[person.reference]) + "?purpose=safeguarding",
        data=json.dumps({"state": "not_sought", "agencies": ["EDU"], "note": note}),
        content_type="application/json",
    )


def _answer(response) -> tuple[int, object]:
    body = response.json()
    return response.status_code, body.get("note") if response.status_code == 400 else "kept"


def _random_dates(seed: int, count: int, avoid: set[date]) -> list[str]:
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        day = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 70))
        if day not in avoid:
            out.append(f"{day:%d/%m/%Y}")
    return out


# --- A: no oracle for withheld identifiers -------------------------------------------------------


def test_the_halving_attack_learns_nothing_of_withheld_dates_or_surnames(
    client, family, known_to_only
):
    """Each withheld date of birth and surname, alone or hidden among 120 dates, gets exactly
    the answer a random date or name gets: the note is kept."""
    client.force_login(known_to_only)
    avoid = {date(1987, 7, 13), date(2015, 2, 1), date(2012, 4, 3)}
    baseline = _answer(_consent_note(client, family.alice, "Meeting held 14/07/1987"))
    assert baseline == (201, "kept")
    for guess in WITHHELD_DATES:
        assert _answer(_consent_note(client, family.alice, f"Meeting held {guess}")) == baseline
    half = _random_dates(1, 120, avoid)
    assert _answer(_consent_note(client, family.alice, "Meetings " + ", ".join(half))) == (baseline)
    with_dan = half[:60] + ["13/07/1987"] + half[60:119]
    assert _answer(_consent_note(client, family.alice, "Meetings " + ", ".join(with_dan))) == (
        baseline
    )
    for name in [*WITHHELD_SURNAMES, "Pemberton"]:
        assert _answer(_consent_note(client, family.alice, f"Spoke with Mr {name}")) == baseline


def test_a_shown_identifier_is_still_refused_and_a_withheld_one_is_not(
    client, family, shown_social_care
):
    client.force_login(shown_social_care)
    status, problems = _answer(_consent_note(client, family.alice, "Mrs Smith phoned"))
    assert status == 400
    assert problems == [
        "Take the person's surname out of the note: ShareHub keeps no names or identifiers in "
        "free text. Refer to the person by their ShareHub reference."
    ]
    status, problems = _answer(_consent_note(client, family.alice, "Born 01/02/2015"))
    assert status == 400 and "the person's date of birth" in problems[0]
    # Bob's and Dan's dates of birth and Dan's surname are only in police records, which this
    # practitioner is shown as "known to": the same answer as a random date.
    for note in ("Seen 03/04/2012", "Seen 13/07/1987", "Mr Okafor attended", "Seen 14/07/1987"):
        assert _answer(_consent_note(client, family.alice, note)) == (201, "kept"), note


@pytest.mark.parametrize(
    "note",
    [
        "NHS 943 476 5919",  # Alice's, withheld from this practitioner
        "NHS 7138806450",  # nobody's in ShareHub: refused by its shape alone
    ],
)
def test_an_nhs_number_is_refused_whoever_it_belongs_to(client, family, known_to_only, note):
    client.force_login(known_to_only)
    status, problems = _answer(_consent_note(client, family.alice, note))
    assert status == 400
    assert problems[0].startswith("Take an NHS number out of the note")


def test_a_full_postcode_is_refused_by_its_shape(client, family, known_to_only):
    client.force_login(known_to_only)
    for note in ("Lives at LS6 2AB", "Moved to LS7 9HX"):
        status, problems = _answer(_consent_note(client, family.alice, note))
        assert (status, problems[0][:21]) == (400, "Take a postcode out o"), note


def test_an_alert_note_is_not_judged_against_withheld_identifiers(family, known_to_only):
    membership = Membership.objects.get(user=known_to_only)
    rule = AlertRule.objects.create(name="Test rule", kind=RuleKind.SCORE_ABOVE, threshold=1)
    alert = Alert.objects.create(
        rule=rule, person=family.alice, cause_key="test", raised_on=date(2026, 6, 1)
    )
    AlertDelivery.objects.create(alert=alert, membership=membership)
    with pytest.raises(AlertError) as refused:
        alert_close(
            membership=membership,
            alert_id=alert.pk,
            outcome="no_further_action",
            note="NHS 7138806450",
        )
    assert refused.value.problems["note"][0].startswith("Take an NHS number out of the note:")
    alert_close(
        membership=membership,
        alert_id=alert.pk,
        outcome="no_further_action",
        note="Smith family seen 13/07/1987 and 01/02/2015",
    )


# --- D: a reviewer's decision note ---------------------------------------------------------------

IDENTIFYING_NOTE = "NHS 7138806450 postcode LS7 9HX born 05/03/2006"


@pytest.fixture
def review_item(family):
    a, b = sorted((family.records["A1"], family.records["B1"]), key=lambda r: r.pk)
    return ReviewItem.objects.create(record_a=a, record_b=b, score=1.5, probability=0.74)


@pytest.fixture
def reviewer(member):
    user = member(Role.IG_OFFICER)
    reviewer_grant(user=user)
    return user


def test_the_api_refuses_a_decision_note_with_identifiers(client, review_item, reviewer):
    client.force_login(reviewer)
    response = client.post(
        reverse("matching_api:review_item_decision", args=[review_item.pk]),
        data=json.dumps({"decision": "rejected", "note": IDENTIFYING_NOTE}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "note": [
            "Take an NHS number, a postcode and a date of birth out of the note: ShareHub keeps "
            "no names or "
            "identifiers in free text. Refer to the person by their ShareHub reference."
        ]
    }
    assert not ReviewDecision.objects.exists()
    review_item.refresh_from_db()
    assert review_item.status == ReviewItem.Status.OPEN
    response = client.post(
        reverse("matching_api:review_item_decision", args=[review_item.pk]),
        data=json.dumps({"decision": "rejected", "note": "Different dates of birth, same street"}),
        content_type="application/json",
    )
    assert response.status_code == 201


def test_the_page_refuses_a_decision_note_with_identifiers(client, review_item, reviewer):
    client.force_login(reviewer)
    url = reverse("matching:review_item", args=[review_item.pk])
    response = client.post(url, {"decision": "rejected", "note": IDENTIFYING_NOTE})
    assert response.status_code == 400
    page = response.content.decode()
    assert "govuk-error-summary" in page and 'href="#id_note"' in page
    assert "Take an NHS number, a postcode and a date of birth out of the note" in page
    assert not ReviewDecision.objects.exists()
    response = client.post(url, {"decision": "rejected", "note": "Different dates of birth"})
    assert response.status_code == 302
    assert ReviewDecision.objects.get().note == "Different dates of birth"
