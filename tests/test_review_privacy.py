"""Link review reads are audited, decided pairs stay with their deciders and IG officers, and a
reviewer sees whether identifiers agree rather than the values themselves (issue 20, finding 3).
"""

import pytest
from django.urls import reverse

from agencies.models import Role, SourceRecord
from audit.models import AuditAction, AuditEntry
from matching.linkage.run import linkage_run
from matching.models import LinkageRecord, ReviewItem
from matching.review import review_decide, reviewer_grant
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload


@pytest.fixture
def records(agency):
    dataset = police_dataset(agency)
    upload(
        dataset,
        csv_bytes(
            [
                good_row(
                    "R1",
                    forename="Alice",
                    surname="Smithers",
                    dob="01/02/2015",
                    nhs_number="9434765919",
                    postcode="LS6 2AB",
                ),
                good_row(
                    "R2",
                    forename="Alicia",
                    surname="Smithers",
                    dob="02/01/2015",
                    nhs_number="9434765919",
                    postcode="LS6 3XY",
                ),
            ]
        ),  # fmt: skip
    )
    linkage_run(full=True)
    return {r.source_id: r for r in SourceRecord.objects.filter(dataset=dataset)}


@pytest.fixture
def item(records) -> ReviewItem:
    a, b = sorted(records.values(), key=lambda r: r.pk)
    return ReviewItem.objects.create(record_a=a, record_b=b, score=1.5, probability=0.74)


def a_reviewer(member, role=Role.PRACTITIONER, **fields):
    user = member(role, **fields)
    reviewer_grant(user=user)
    return user


def reads(action=AuditAction.REVIEW_READ):
    return list(AuditEntry.objects.filter(action=action).order_by("pk"))


def test_every_read_of_an_item_and_an_explanation_is_audited(client, member, item):
    reviewer = a_reviewer(member)
    client.force_login(reviewer)
    reference = LinkageRecord.objects.filter(record=item.record_a).get().person.reference
    urls = [
        reverse("matching:review_item", args=[item.pk]),
        reverse("matching_api:review_item_detail", args=[item.pk]),
        reverse("matching:person_explain", args=[reference]),
        reverse("matching_api:person_explain", args=[reference]),
    ]
    for url in urls:
        assert client.get(url).status_code == 200, url
    entries = reads()
    assert len(entries) == 4
    for entry in entries[:2]:
        assert entry.actor == reviewer
        assert entry.detail["review_item"] == item.pk
        assert entry.detail["records"] == [item.record_a_id, item.record_b_id]
    for entry in entries[2:]:
        assert entry.person_reference == reference
        assert item.record_a_id in entry.detail["records"]
    text = " ".join(str(entry.detail) for entry in entries)
    for identifier in ("Alice", "Smithers", "9434765919", "LS6", "2015"):
        assert identifier not in text


def test_a_decided_pair_is_for_its_deciders_and_ig_officers(client, member, item):
    decider = a_reviewer(member)
    review_decide(item=item, user=decider, decision="confirmed", channel="web")
    other = a_reviewer(member)
    ig_officer = a_reviewer(member, Role.IG_OFFICER)
    page = reverse("matching:review_item", args=[item.pk])
    api = reverse("matching_api:review_item_detail", args=[item.pk])
    decision = reverse("matching_api:review_item_decision", args=[item.pk])

    client.force_login(other)
    assert client.get(page).status_code == 404
    assert client.get(api).status_code == 404
    assert client.post(page, {"decision": "rejected"}).status_code == 404
    response = client.post(decision, {"decision": "rejected"}, content_type="application/json")
    assert response.status_code == 404
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.CONFIRMED
    # The refusal is on record too, with no identifier.
    refused = reads()[-1]
    assert (refused.actor, refused.outcome) == (other, "denied")

    for user in (decider, ig_officer):
        client.force_login(user)
        assert client.get(page).status_code == 200
        assert client.get(api).status_code == 200


def test_the_page_says_where_identifiers_agree_without_showing_the_values(client, member, item):
    client.force_login(a_reviewer(member))
    page = client.get(reverse("matching:review_item", args=[item.pk])).content.decode()
    table = page[page.index('data-testid="identifiers"') :]
    table = table[: table.index("</table>")]
    # The same surname and NHS number on both: said, not shown.
    for value in ("Smithers", "SMITHERS", "9434765919", "943 476 5919"):
        assert value not in page
    assert "Surname" in table and "NHS number" in table
    assert table.count("Same on both") == 2
    # What differs is described: the day and month swapped, the same postcode district.
    assert "Day and month swapped" in table
    assert "Same district" in table
    for value in ("2015", "LS6", "2AB", "3XY"):
        assert value not in table
    # Alice and Alicia: the reviewer learns how alike they are, not the names.
    assert "Alicia" not in page and "Alice" not in page

    data = client.get(reverse("matching_api:review_item_detail", args=[item.pk])).json()
    compared = {row["label"]: row for row in data["identifiers"]}
    assert compared["Surname"]["agreement"] == "same"
    assert compared["Date of birth"]["agreement"] == "different"
    body = str(data)
    for value in ("Smithers", "SMITHERS", "9434765919", "Alice", "2015"):
        assert value not in body
