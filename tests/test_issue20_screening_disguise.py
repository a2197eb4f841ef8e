"""Issue 20: identifiers disguised to slip past the free-text screen.

An outside tester put full-width digits ("９４３４７６５９１９"), a zero-width space inside an NHS
number and a spaced-out postcode ("L S 1 0 2 Q G") into a link reviewer's decision note, and the
screen (matching/screening.py, also used by consent, alerts and export statements) let them
through. Ordinary notes, full of dates, times and counts, must still pass.
"""

from __future__ import annotations

import json
import random

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencies.models import Role
from matching.models import ReviewDecision, ReviewItem
from matching.review import reviewer_grant
from matching.screening import identifiers_in_text
from sharehub_bridge.identifiers import nhs_number_check_digit
from tests.protocol_helpers import linked_people

UPN = "E820123456789"  # a valid check letter
ZWSP = "\u200b"

DISGUISED = [
    ("NHS ９４３４７６５９１９", "an NHS number"),  # full-width digits
    (f"NHS 943{ZWSP}476{ZWSP}5919", "an NHS number"),
    (f"NHS 9434{ZWSP}765919", "an NHS number"),
    ("NHS 943\u2060476\u00ad5919", "an NHS number"),  # word joiner, soft hyphen
    ("NHS ٩٤٣٤٧٦٥٩١٩", "an NHS number"),  # Arabic-Indic digits
    ("NHS 943_476_5919", "an NHS number"),
    ("NHS 943 - 476 - 5919", "an NHS number"),
    ("NHS (943) 476,5919", "an NHS number"),
    ("lives at L S 1 0 2 Q G", "a postcode"),
    ("lives at ＬＳ１０ ２ＱＧ", "a postcode"),
    (f"lives at LS10 2{ZWSP}QG", "a postcode"),
    ("lives at LS10_2QG", "a postcode"),
    ("UPN " + " ".join(UPN), "a UPN"),
    (f"UPN {UPN[:5]}{ZWSP}{UPN[5:]}", "a UPN"),
    ("PNC ２００８／００５６５６０Ｚ", "a PNC id"),
    ("PNC 2008 005 6560 Z", "a PNC id"),
]

ORDINARY = [
    "Seen at 10:30 on 12/03/2026 with 2 siblings, room 14B",
    "Home visit 14:15 on 03/04/2026, 3 children present, 2 adults.",
    "Seen 12/03/26 10:30, room 4, bed 12.",
    "Strategy meeting 09:00 on 1 March 2026; 6 agencies attended.",
    "s47 enquiry, 3 visits, 12 weeks",
    "s47 2nd strategy meeting booked for 10 am",
    "Called at 10 am and again at 2 pm, no answer.",
    "Different dates of birth, same street",
    "Core group 15/04/2026 at 13:45, next review in 6 weeks (week 20).",
    "Flat 3, block B, floor 2; 1 dog; school year 7.",
    "CP plan started 2025-11-03, review 2026-02-03, 4 of 5 actions done.",
    "Missing 2 nights (18-19/02/2026), found 07:40 at bus stop 12.",
    "Ref case 2026/114, item 3 of 12.",
    "Weighed 14.2 kg, height 98 cm, seen 9:05.",
]


@pytest.mark.parametrize(("text", "kind"), DISGUISED)
def test_a_disguised_identifier_is_refused(db, text, kind):
    assert kind in identifiers_in_text(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.text(alphabet="0123456789", min_size=9, max_size=9),
    separators=st.lists(
        st.sampled_from(["", " ", ZWSP, "\u200d", "\ufeff", "\u00a0", "_", "-", " - ", ","]),
        min_size=9,
        max_size=9,
    ),
    full_width=st.booleans(),
)
def test_an_nhs_number_however_disguised_is_refused(db, body, separators, full_width):
    check = nhs_number_check_digit(body)
    if check is None:
        return  # no NHS number has this body
    digits = body + str(check)
    if full_width:
        digits = "".join(chr(ord(d) - ord("0") + 0xFF10) for d in digits)
    text = "NHS " + "".join(d + s for d, s in zip(digits, separators + [""], strict=True))
    assert "an NHS number" in identifiers_in_text(text)


@pytest.mark.parametrize("text", ORDINARY)
def test_an_ordinary_note_is_accepted(db, text):
    assert identifiers_in_text(text) == []


def _ordinary_notes(count: int, seed: int = 20) -> list[str]:
    """Notes a practitioner writes: dates, times, counts, rooms, in common orders."""
    rng = random.Random(seed)

    def day() -> str:
        d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.choice([2024, 2025, 2026])
        return rng.choice([f"{d:02}/{m:02}/{y}", f"{d}/{m}/{y % 100:02}", f"{y}-{m:02}-{d:02}"])

    def time() -> str:
        return rng.choice(
            [f"{rng.randint(7, 20)}:{rng.randint(0, 59):02}", f"{rng.randint(1, 12)} pm"]
        )

    def n() -> int:
        return rng.choice([rng.randint(1, 12), rng.randint(1, 400)])

    templates = [
        lambda: f"Seen at {time()} on {day()} with {n()} siblings, room {n()}{rng.choice('AB')}",
        lambda: f"Visit {day()} {time()}, {n()} adults and {n()} children present",
        lambda: f"{day()} {time()} call, {n()} mins, next contact {day()}",
        lambda: f"Meeting {day()} at {time()}; {n()} agencies; actions {n()} to {n()}",
        lambda: f"Bus {n()} at {time()}, stop {n()}, {n()} {n()} {n()} minutes late",
        lambda: f"Case {rng.randint(2020, 2026)}/{n()}, item {n()} of {n()}, page {n()}",
        lambda: f"Weight {n()}.{rng.randint(0, 9)} kg, {n()} cm, seen {day()} {time()}",
    ]
    return [rng.choice(templates)() for _ in range(count)]


def test_the_false_positive_rate_on_ordinary_notes_is_low(db):
    notes = _ordinary_notes(5000)
    refused = [note for note in notes if identifiers_in_text(note)]
    # Every refusal here is a false positive. Check digits carry the weight: a ten-digit run has
    # a 1 in 11 chance of a valid NHS check digit, so runs are only joined where a note is
    # unlikely to join them (times and dates are left as they are).
    rate = len(refused) / len(notes)
    print(f"false positives: {len(refused)} of {len(notes)} ({rate:.2%}): {refused[:5]}")
    assert rate <= 0.002, refused[:10]


# --- what the writer is shown, disguised --------------------------------------------------------


@pytest.fixture
def alice_shown(agency, other_agency):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    ids = [linked.records[s].pk for s in ("A1", "A2", "S1")]
    return {"surname": ids, "date_of_birth": ids, "postcode": ids}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Spoke to Ｓｍｉｔｈ", "the person's surname"),
        (f"Spoke to Sm{ZWSP}ith", "the person's surname"),
        ("Spoke to S m i t h", "the person's surname"),
        ("born ０１/０２/２０１５", "the person's date of birth"),
        (f"born 01/02{ZWSP}/2015", "the person's date of birth"),
    ],
)
def test_a_disguised_shown_identifier_is_refused(alice_shown, text, kind):
    assert kind in identifiers_in_text(text, shown=alice_shown)


def test_an_ordinary_note_passes_against_shown_identifiers(alice_shown):
    assert identifiers_in_text(ORDINARY[0], shown=alice_shown) == []


# --- over HTTP: the link reviewer's decision note ------------------------------------------------


@pytest.fixture
def review_item(agency, other_agency):
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    a, b = sorted((linked.records["A1"], linked.records["B1"]), key=lambda r: r.pk)
    return ReviewItem.objects.create(record_a=a, record_b=b, score=1.5, probability=0.74)


@pytest.fixture
def reviewer(member):
    user = member(Role.IG_OFFICER)
    reviewer_grant(user=user)
    return user


def _decide(client, item, note):
    return client.post(
        reverse("matching_api:review_item_decision", args=[item.pk]),
        data=json.dumps({"decision": "rejected", "note": note}),
        content_type="application/json",
    )


@pytest.mark.parametrize(
    "note",
    ["NHS ９４３４７６５９１９", f"NHS 943{ZWSP}476{ZWSP}5919", "moved to L S 1 0 2 Q G"],
)
def test_the_review_api_refuses_a_disguised_note(client, review_item, reviewer, note):
    client.force_login(reviewer)
    response = _decide(client, review_item, note)
    assert response.status_code == 400
    assert "Take " in response.json()["note"][0]
    assert not ReviewDecision.objects.exists()


def test_the_review_api_accepts_an_ordinary_note(client, review_item, reviewer):
    client.force_login(reviewer)
    response = _decide(client, review_item, ORDINARY[0])
    assert response.status_code == 201
    assert ReviewDecision.objects.get().note == ORDINARY[0]
