"""Who to contact (issue 21, item 4): contact columns in a definition, how ingest reads them, and
what a user is shown of them through the disclosure engine (protocols.contacts)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agencies.mapping import mapping_propose
from agencies.models import Dataset, Role, SourceRecord
from agencies.services import dataset_define
from agencies.tokens import api_token_create
from core.purpose import Purpose
from matching.linkage.run import linkage_run
from matching.models import Household, LinkageRecord, LinkageRun, Person, PersonEvent
from protocols.contacts import Contact, involvement_contacts, record_contact
from protocols.engine import FieldView, PersonView, RecordView, disclose_view
from protocols.fields import dataset_catalogue, payload_key
from protocols.models import ConsentRule, Tier
from sharehub_bridge.definitions import DefinitionError, definition_from_version, definition_parse
from sharehub_bridge.readers import Row
from synthetic import contacts as synthetic_contacts
from synthetic import names as synthetic_names
from tests.ingest_helpers import POLICE_DEFINITION, csv_bytes, good_row, upload
from tests.protocol_helpers import give, protocol_in_force

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)

CONTACT_COLUMNS = [
    {"column": "oic", "type": "text", "label": "Officer in the case", "contact": "lead_worker"},
    {"column": "team", "type": "text", "label": "Team", "contact": "team"},
    {"column": "team_phone", "type": "text", "label": "Team phone", "contact": "team_phone"},
    {"column": "team_email", "type": "text", "label": "Team email", "contact": "team_email"},
]
# The police definition of the ingest tests with the agency's contact details, and an "other
# local id" that some systems fill with the person's own phone number or email address.
POLICE_WITH_CONTACTS = {
    **POLICE_DEFINITION,
    "columns": [
        *POLICE_DEFINITION["columns"],
        {"column": "person_ref", "identifier": "local_id"},
        *CONTACT_COLUMNS,
    ],
}
HEADER = [c["column"] for c in POLICE_WITH_CONTACTS["columns"]]
CONTACT_KEYS = {payload_key(c["column"]): c["contact"] for c in CONTACT_COLUMNS}


def contact_row(ref: str, **overrides) -> dict:
    row = good_row(
        ref,
        person_ref="P-77",
        oic="DC Rhodri Penhaligon",
        team="Public Protection Unit",
        team_phone="01632 960201",
        team_email="ppu@police.northbridge.example",
    )
    row.update(overrides)
    return row


def define(agency, data=POLICE_WITH_CONTACTS) -> Dataset:
    return dataset_define(agency=agency, definition=definition_parse(data)).dataset


def with_column(column: dict, *, replace: str | None = None) -> dict:
    """The police definition with `column` added, or put in place of the column `replace`."""
    columns = [c for c in POLICE_DEFINITION["columns"] if c["column"] != replace]
    return {**POLICE_DEFINITION, "columns": [*columns, column]}


def problems(data: dict) -> str:
    with pytest.raises(DefinitionError) as raised:
        definition_parse(data)
    return " ".join(raised.value.problems)


# --- The definition -------------------------------------------------------------------------


def test_a_contact_role_is_kept_with_the_column_and_read_back_from_the_version(db, agency):
    dataset = define(agency)
    version = dataset.current_version
    stored = {c["column"]: c.get("contact", "") for c in version.columns}
    assert stored["oic"] == "lead_worker"
    assert stored["team_email"] == "team_email"
    assert stored["summary"] == "" and stored["forename"] == ""
    again = definition_from_version(version)
    assert {s.column: s.contact for s in again.columns if s.contact} == {
        "oic": "lead_worker",
        "team": "team",
        "team_phone": "team_phone",
        "team_email": "team_email",
    }
    # The same definition again makes no new version.
    assert define(agency).current_version.number == 1


def test_a_version_saved_before_contacts_existed_still_loads_with_none(db, agency):
    """Stored columns without a "contact" key are the versions of every dataset defined before:
    no migration rewrites them, they read as having no contact column."""
    dataset = define(agency, POLICE_DEFINITION)
    version = dataset.current_version
    assert all("contact" not in column for column in version.columns)
    assert all(not spec.contact for spec in definition_from_version(version).columns)
    assert all(info.contact == "" for info in dataset_catalogue(dataset))


def test_the_catalogue_says_which_fields_are_contacts_as_the_newest_mapping_does(db, agency):
    dataset = define(agency)
    catalogue = {info.key: info.contact for info in dataset_catalogue(dataset)}
    assert {key: role for key, role in catalogue.items() if role} == CONTACT_KEYS
    # A newer version that makes the team an ordinary field: the catalogue follows it.
    columns = [
        {k: v for k, v in c.items() if k != "contact"} if c["column"] == "team" else c
        for c in POLICE_WITH_CONTACTS["columns"]
    ]
    define(agency, {**POLICE_WITH_CONTACTS, "columns": columns})
    catalogue = {info.key: info.contact for info in dataset_catalogue(dataset)}
    assert catalogue[payload_key("team")] == ""
    assert catalogue[payload_key("oic")] == "lead_worker"


def test_a_contact_column_cannot_be_an_identifier(db):
    text = problems(
        with_column(
            {"column": "surname", "identifier": "surname", "contact": "lead_worker"},
            replace="surname",
        )
    )
    assert 'Column "surname" is mapped as an identifier, so it cannot also be the lead worker' in (
        text
    )
    assert "never the person's" in text


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (
            {"column": "oic", "ignore": True, "contact": "lead_worker"},
            'Column "oic" is ignored, so it cannot be the lead worker',
        ),
        (
            {"column": "phone", "type": "number", "label": "Phone", "contact": "team_phone"},
            'Column "phone" is the team phone, so its type must be "text"',
        ),
        (
            {"column": "oic", "type": "text", "label": "OIC", "contact": "officer"},
            '"contact" must be one of: lead_worker, team, team_phone, team_email',
        ),
        (
            {"column": "oic", "type": "text", "label": "OIC", "contact": ["lead_worker"]},
            '"contact" must be one of',
        ),
    ],
)
def test_a_contact_role_needs_a_free_text_column_and_a_known_role(db, column, expected):
    assert expected in problems(with_column(column))


def test_each_contact_role_comes_from_one_column(db):
    data = {
        **POLICE_DEFINITION,
        "columns": [
            *POLICE_DEFINITION["columns"],
            {"column": "oic", "type": "text", "label": "OIC", "contact": "lead_worker"},
            {"column": "worker", "type": "text", "label": "Worker", "contact": "lead_worker"},
        ],
    }
    assert "The lead worker is mapped from 2 columns (oic, worker); map it from one." in problems(
        data
    )


def test_the_record_id_column_cannot_be_a_contact(db):
    data = {**with_column({"column": "ref", "type": "text", "contact": "team"})}
    data["source_id_column"] = "ref"
    data["columns"] = [c for c in data["columns"] if c["column"] != "incident_ref"]
    assert 'The record id column "ref" cannot also be the team.' in problems(data)


def test_a_sample_file_gets_contact_roles_proposed_from_its_column_names():
    header = ["case_ref", "surname", "allocated_worker", "Team", "Team Phone", "team_email"]
    rows = [
        Row(
            number=n,
            values={
                "case_ref": f"C{n}",
                "surname": "Smith",
                "allocated_worker": "Ama Quarshie",
                "Team": "Referral and Assessment",
                "Team Phone": "01632960101",
                "team_email": "ra@csc.example",
            },
        )
        for n in range(1, 30)
    ]
    proposal = mapping_propose(header, rows)
    roles = {c["column"]: (c.get("type"), c.get("contact")) for c in proposal["columns"]}
    assert roles["allocated_worker"] == ("text", "lead_worker")
    assert roles["Team"] == ("text", "team")
    # Digits alone would be proposed as a number and lose the leading 0.
    assert roles["Team Phone"] == ("text", "team_phone")
    assert roles["team_email"] == ("text", "team_email")
    assert proposal["source_id_column"] == "case_ref"
    definition_parse({**proposal, "name": "Referrals"})


# --- The mapping form, the definition page and the API ----------------------------------------


@pytest.fixture
def admin_client(client, member):
    client.force_login(member(Role.AGENCY_ADMIN))
    return client


def mapping_data(page) -> dict:
    form = page.context["form"]
    data = {k: v for k, v in form.initial.items() if v not in (None, False)}
    data["columns"] = form.column_names
    return data


def test_an_admin_marks_a_column_as_lead_worker_in_the_mapping_form(admin_client, agency):
    dataset = define(agency, with_column({"column": "oic", "type": "text", "label": "OIC"}))
    url = reverse("agencies:dataset_mapping", args=[dataset.pk])
    page = admin_client.get(url)
    html = page.content.decode()
    index = page.context["form"].column_names.index("oic")
    assert f'<label class="govuk-label" for="id_contact_{index}">Is oic a contact detail?' in html
    assert "Yes, the lead worker&#x27;s name" in html
    data = mapping_data(page)
    data[f"contact_{index}"] = "lead_worker"
    response = admin_client.post(url, data)
    assert response.status_code == 302
    version = dataset.current_version
    assert version.number == 2
    assert next(c for c in version.columns if c["column"] == "oic")["contact"] == "lead_worker"

    detail = admin_client.get(reverse("agencies:dataset_detail", args=[dataset.pk]))
    html = detail.content.decode()
    assert 'data-testid="contact-columns"' in html and "Lead worker: oic" in html
    assert '<td class="govuk-table__cell" data-testid="contact-oic">Lead worker</td>' in html
    # Opened again, the form shows the role chosen.
    again = admin_client.get(url)
    assert again.context["form"].initial[f"contact_{index}"] == "lead_worker"


def test_the_form_refuses_a_contact_on_an_identifier_column_and_saves_nothing(admin_client, agency):
    dataset = define(agency, POLICE_DEFINITION)
    url = reverse("agencies:dataset_mapping", args=[dataset.pk])
    page = admin_client.get(url)
    data = mapping_data(page)
    data[f"contact_{page.context['form'].column_names.index('surname')}"] = "team"
    response = admin_client.post(url, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "There is a problem" in html
    assert "is mapped as an identifier, so it cannot also be the team" in html
    assert dataset.versions.count() == 1


def test_the_definition_page_says_when_no_column_is_a_contact(admin_client, agency):
    dataset = define(agency, POLICE_DEFINITION)
    html = admin_client.get(reverse("agencies:dataset_detail", args=[dataset.pk])).content.decode()
    assert "No column is mapped as a contact detail" in html


def test_the_definition_page_says_what_each_column_is_in_words(admin_client, agency):
    """Tester's finding L6 (issue 21): a contact column read "Officer in case (text:
    officer_in_case, text, Officer in case, lead_worker, Lead worker)", the column's own
    settings listed as if they were a category's values."""
    dataset = define(
        agency,
        with_column(
            {
                "column": "officer_in_case",
                "type": "text",
                "label": "Officer in case",
                "contact": "lead_worker",
            }
        ),
    )
    html = admin_client.get(reverse("agencies:dataset_detail", args=[dataset.pk])).content.decode()

    def role(column: str) -> str:
        cell = f'<td class="govuk-table__cell" data-testid="role-{column}">'
        return html.split(cell, 1)[1].split("</td>", 1)[0]

    assert role("officer_in_case") == "Officer in case (free text; contact detail: lead worker)"
    assert role("risk_grade") == "Risk grade (category: standard, medium, high)"
    assert role("summary") == "Summary (free text)"
    assert role("dob") == "Identifier: Date of birth"
    assert role("incident_ref") == "Ignored"
    assert "officer_in_case, text" not in html


@pytest.fixture
def token(member, agency):
    return api_token_create(agency=agency, name="nightly", created_by=member(Role.AGENCY_ADMIN))[1]


def test_the_api_defines_contact_columns_and_refuses_a_contact_identifier(client, token):
    url = reverse("agencies_api:dataset_list")
    created = client.post(
        url,
        json.dumps(POLICE_WITH_CONTACTS),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert created.status_code == 201
    columns = created.json()["version"]["columns"]
    assert {c["column"]: c["contact"] for c in columns if "contact" in c} == {
        "oic": "lead_worker",
        "team": "team",
        "team_phone": "team_phone",
        "team_email": "team_email",
    }
    bad = with_column({"column": "pnc", "identifier": "pnc_id", "contact": "team_phone"})
    refused = client.post(
        url, json.dumps(bad), content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
    )
    assert refused.status_code == 400
    assert any("cannot also be the team phone" in p for p in refused.json()["problems"])


# --- Ingest -------------------------------------------------------------------------------------


def payload_of(dataset, source_id: str) -> dict:
    return SourceRecord.objects.get(dataset=dataset, source_id=source_id).payload


def test_contact_values_are_kept_as_text_in_the_payload(db, agency):
    dataset = define(agency)
    extract = upload(dataset, csv_bytes([contact_row("I1")], header=HEADER))
    assert extract.rows_loaded == 1 and extract.rows_warned == 0
    payload = payload_of(dataset, "I1")
    assert payload["oic"] == "DC Rhodri Penhaligon"
    assert payload["team"] == "Public Protection Unit"
    assert payload["team_phone"] == "01632 960201"  # the leading 0 kept: text, not a number
    assert payload["team_email"] == "ppu@police.northbridge.example"
    assert extract.repairs.get("contacts") is None


def test_a_phone_or_email_that_is_not_one_is_left_out_with_a_counted_warning(db, agency):
    dataset = define(agency)
    rows = [
        contact_row("I1", team_phone="call the desk", team_email="ppu at police"),
        contact_row("I2", team_phone="101"),
        contact_row("I3", team_phone="+44 (0)1632 960201 ext 22", team_email="PPU@Police.Example"),
    ]
    extract = upload(dataset, csv_bytes(rows, header=HEADER))
    assert extract.rows_loaded == 3 and extract.rows_quarantined == 0
    assert extract.rows_warned == 2
    assert extract.repairs["contacts"] == {"not_phone": 2, "not_email": 1}
    first = SourceRecord.objects.get(dataset=dataset, source_id="I1")
    assert "team_phone" not in first.payload and "team_email" not in first.payload
    assert first.payload["team"] == "Public Protection Unit"
    assert first.warnings == [
        "Team phone (team_phone) is not a UK phone number, so it is left out of the contact "
        "details.",
        "Team email (team_email) is not an email address, so it is left out of the contact "
        "details.",
    ]
    third = payload_of(dataset, "I3")
    assert third["team_phone"] == "+44 (0)1632 960201 ext 22"
    assert third["team_email"] == "PPU@Police.Example"


def test_a_contact_that_is_the_persons_own_identifier_is_not_kept(db, agency):
    """A team phone or email equal to the person's own (here in the dataset's local id, the
    only identifier such a value can be mapped as), or a lead worker who is the person, would
    be the person's identifier in plain text: dropped, with a warning that does not quote it."""
    dataset = define(agency)
    rows = [
        contact_row("I1", person_ref="07700 900123", team_phone="+44 7700 900123"),
        contact_row(
            "I2", person_ref="Alice.Smith@mail.example", team_email="alice.smith@MAIL.example"
        ),
        contact_row("I3", oic="alice  SMITH"),
        contact_row("I4", oic="Smith, Alice"),
        contact_row("I5", oic="Alice Smithson"),
    ]
    extract = upload(dataset, csv_bytes(rows, header=HEADER))
    assert extract.rows_loaded == 5
    assert extract.repairs["contacts"] == {"subject_identifier": 4}
    assert "team_phone" not in payload_of(dataset, "I1")
    assert "team_email" not in payload_of(dataset, "I2")
    assert "oic" not in payload_of(dataset, "I3")
    assert "oic" not in payload_of(dataset, "I4")
    assert payload_of(dataset, "I5")["oic"] == "Alice Smithson"
    warnings = SourceRecord.objects.get(dataset=dataset, source_id="I1").warnings
    assert warnings == [
        "Team phone (team_phone), the team phone, is the same as the person's own name or "
        "another of their identifiers on this row, so it is not kept: contact columns hold "
        "your agency's details, never the person's."
    ]
    every_warning = " ".join(
        w for ws in SourceRecord.objects.values_list("warnings", flat=True) for w in ws
    )
    for value in ("900123", "mail.example", "Alice", "Smith"):
        assert value not in every_warning


def test_the_extract_page_and_api_say_how_many_contacts_were_left_out(admin_client, agency):
    dataset = define(agency)
    rows = [
        contact_row("I1", team_phone="n/a"),
        contact_row("I2", team_phone="n/a", oic="Alice Smith"),
        contact_row("I3", team_email="none"),
    ]
    extract = upload(dataset, csv_bytes(rows, header=HEADER))
    html = admin_client.get(reverse("agencies:extract_detail", args=[extract.pk])).content.decode()
    assert "Contact details left out" in html
    assert "2 team phone numbers are not a UK phone number" in html
    assert "1 team email address is not an email address" in html
    assert "1 contact detail was the same as the person&#x27;s own name" in html
    progress = admin_client.get(reverse("agencies:extract_progress", args=[extract.pk])).json()
    assert len(progress["contact_warnings"]) == 3
    assert progress["repair_counts"]["contacts"] == {
        "not_phone": 2,
        "not_email": 1,
        "subject_identifier": 1,
    }


# --- What a user is shown: protocols.contacts ---------------------------------------------------


def link(records: dict[str, list[SourceRecord]]) -> dict[str, Person]:
    """One person per name, holding exactly the records given (linkage's own guess undone, as
    tests.protocol_helpers.linked_people does)."""
    linkage_run(full=True)
    run = LinkageRun.objects.create(kind=LinkageRun.Kind.FULL, status=LinkageRun.Status.DONE)
    LinkageRecord.objects.update(person=None)
    home = Household.objects.create()
    people = {}
    for name, held in records.items():
        person = Person.objects.create(household=home)
        PersonEvent.objects.create(
            person=person, kind=PersonEvent.Kind.CREATED, run=run, records=len(held)
        )
        LinkageRecord.objects.filter(record__in=held).update(
            person=person, linked_at=timezone.now()
        )
        people[name] = person
    Person.objects.exclude(pk__in=[p.pk for p in people.values()]).update(is_active=False)
    return people


@pytest.fixture
def known_to_police(agency, other_agency, member):
    """Alice's three police records with contacts (latest 2026-01-10, then 2025-02-01 and
    2024-05-01, loaded in that order), and a practitioner of `agency` to share them with."""
    police = define(other_agency)
    upload(
        police,
        csv_bytes(
            [
                contact_row("A1", incident_date="2026-01-10"),
                contact_row(
                    "A2",
                    incident_date="2024-05-01",
                    oic="DC Old Case",
                    team="Old Team",
                    team_phone="01632 960999",
                    team_email="old@police.example",
                ),
                contact_row(
                    "A3",
                    incident_date="2025-02-01",
                    oic="",
                    team="",
                    team_phone="",
                    team_email="",
                ),
            ],
            header=HEADER,
        ),
    )
    records = {r.source_id: r for r in SourceRecord.objects.filter(dataset=police)}
    people = link({"alice": list(records.values())})
    practitioner = member(Role.PRACTITIONER)
    return police, records, people["alice"], practitioner


def view_under(practitioner, person, police, **rule) -> PersonView | None:
    version = protocol_in_force(
        author=practitioner,
        parties=[practitioner.memberships.get().agency, police.agency],
        rules=[{"dataset": police, **rule}],
    )
    give(version, practitioner)
    return disclose_view(
        user=practitioner,
        membership=practitioner.memberships.get(),
        person=person,
        purpose=Purpose.SAFEGUARDING,
        now=NOW,
    )


def test_the_contact_comes_from_the_latest_record_by_event_date(db, known_to_police):
    police, _, alice, practitioner = known_to_police
    view = view_under(practitioner, alice, police, tier=Tier.FULL)
    assert involvement_contacts(view) == {
        police.pk: Contact(
            lead_worker="DC Rhodri Penhaligon",
            team="Public Protection Unit",
            phone="01632 960201",
            email="ppu@police.northbridge.example",
        )
    }


def test_only_the_contact_fields_a_protocol_shares_are_shown(db, known_to_police):
    police, _, alice, practitioner = known_to_police
    shared = ("incident_date", "oic", "team")
    view = view_under(
        practitioner,
        alice,
        police,
        tier=Tier.SUMMARY,
        fields=[payload_key(c) for c in shared],
    )
    assert involvement_contacts(view) == {
        police.pk: Contact(lead_worker="DC Rhodri Penhaligon", team="Public Protection Unit")
    }


def test_no_contact_is_shown_at_known_to_or_while_consent_holds_it_back(db, known_to_police):
    police, _, alice, practitioner = known_to_police
    assert involvement_contacts(view_under(practitioner, alice, police, tier=Tier.KNOWN_TO)) == {}
    held = view_under(practitioner, alice, police, tier=Tier.FULL, consent=ConsentRule.NEEDED)
    assert held.involvements and involvement_contacts(held) == {}


def test_a_summary_without_contact_fields_shows_no_contact(db, known_to_police):
    police, _, alice, practitioner = known_to_police
    view = view_under(
        practitioner, alice, police, tier=Tier.SUMMARY, fields=[payload_key("incident_date")]
    )
    assert view.records and involvement_contacts(view) == {}


def test_without_the_event_date_the_record_loaded_last_gives_the_contact(db, known_to_police):
    """The timeline's order: a date the user is not shown orders nothing, so among records
    without one the one loaded last counts (A3 shows no contact, so A1 or A2)."""
    police, records, alice, practitioner = known_to_police
    view = view_under(practitioner, alice, police, tier=Tier.SUMMARY, fields=[payload_key("oic")])
    last = max(records["A1"], records["A2"], key=lambda r: r.pk)
    assert involvement_contacts(view) == {police.pk: Contact(lead_worker=last.payload["oic"])}


def test_a_malformed_phone_loaded_before_the_column_was_a_contact_is_not_shown(db, agency):
    """Values loaded while the column was plain text were never checked as a phone or email:
    they are read again before they are shown as a link."""
    record = RecordView(
        record_id=1,
        agency=agency,
        dataset_id=7,
        dataset_name="Police",
        event_date=date(2026, 1, 1),
        fields=[
            FieldView(
                "field:team_phone", "Team phone", "ring the front desk", contact="team_phone"
            ),
            FieldView("field:team_email", "Team email", "not an address", contact="team_email"),
            FieldView("field:team", "Team", "  Public   Protection ", contact="team"),
        ],
        not_shared_labels=[],
    )
    assert record_contact(record) == Contact(team="Public Protection")


def test_the_include_renders_a_compact_contact_line_with_links(db, known_to_police):
    police, _, alice, practitioner = known_to_police
    view = view_under(practitioner, alice, police, tier=Tier.FULL)
    html = render_to_string(
        "protocols/_contact.html", {"contact": involvement_contacts(view).get(police.pk)}
    )
    assert 'data-testid="contact"' in html
    assert "Contact: <span" in html
    assert '<span data-contact="lead_worker">DC Rhodri Penhaligon</span>, ' in html
    assert '<span data-contact="team">Public Protection Unit</span>, ' in html
    assert (
        '<a class="govuk-link" href="tel:+441632960201" data-contact="team_phone">'
        '<span class="govuk-visually-hidden">Phone </span>01632 960201</a>, '
    ) in html
    assert (
        '<a class="govuk-link" href="mailto:ppu@police.northbridge.example" '
        'data-contact="team_email"><span class="govuk-visually-hidden">Email </span>'
        "ppu@police.northbridge.example</a></span>"
    ) in html
    nothing = render_to_string(
        "protocols/_contact.html", {"contact": involvement_contacts(view).get(police.pk + 1)}
    )
    assert nothing.strip() == ""


def test_a_phone_link_keeps_the_extension():
    contact = Contact(phone="0113 496 0000 ext. 214", email="a.b+mash@x.example")
    assert contact.phone_href == "tel:+441134960000;ext=214"
    assert contact.email_href == "mailto:a.b%2Bmash@x.example"
    assert [p.kind for p in contact.parts] == ["team_phone", "team_email"]
    assert not Contact()


# --- Properties ---------------------------------------------------------------------------------

ROLES = ("lead_worker", "team", "team_phone", "team_email")
CONTACT_VALUES = {
    "lead_worker": ("Ama Quarshie", "DC Rhodri Penhaligon", ""),
    "team": ("Referral and Assessment", "Public Protection Unit", ""),
    "team_phone": ("01632 960101", "0113 496 0000 ext 5", "not a phone", ""),
    "team_email": ("ra@csc.example", "ppu@police.example", "nope", ""),
}


# What a withheld field would hold, were the engine ever to leave its value in the view: none
# of it may come through.
SECRET_VALUES = {
    "lead_worker": "Secret Worker",
    "team": "Secret Team",
    "team_phone": "01632 960666",
    "team_email": "secret@police.example",
    "": "Secret note",
}


@st.composite
def field_views(draw):
    role = draw(st.sampled_from(ROLES + ("",)))
    withheld = draw(st.sampled_from(["", "", "consent", "assessment"]))
    if withheld:
        value = draw(st.sampled_from([None, SECRET_VALUES[role]]))
    else:
        value = draw(st.sampled_from(CONTACT_VALUES.get(role, ("High", "2026-01-01", None))))
    return FieldView(
        key=f"field:{role or 'other'}",
        label=role or "Other",
        value=value,
        withheld=withheld,
        contact=role,
    )


@st.composite
def person_views(draw):
    records = []
    for record_id in draw(st.lists(st.integers(1, 10_000), unique=True, max_size=8)):
        records.append(
            RecordView(
                record_id=record_id,
                agency=None,
                dataset_id=draw(st.sampled_from([1, 2, 3])),
                dataset_name="",
                event_date=draw(st.none() | st.dates(date(2020, 1, 1), date(2026, 6, 1))),
                fields=draw(st.lists(field_views(), max_size=6)),
                not_shared_labels=[],
            )
        )
    return PersonView(
        person=None,
        purpose=Purpose.SAFEGUARDING,
        involvements=[],
        records=records,
        withheld=[],
        versions=set(),
        staged_locked=False,
    )


ATTRIBUTES = {
    "lead_worker": "lead_worker",
    "team": "team",
    "team_phone": "phone",
    "team_email": "email",
}


@settings(max_examples=400, deadline=None)
@given(view=person_views())
def test_every_contact_shown_comes_whole_from_one_shown_record_and_the_latest(view):
    """For any view: each value of a contact is the value of a shown field of that role, all
    from one record of the dataset, and that record is the latest (shown event date, then
    record id) of the dataset's records showing any usable contact detail."""
    contacts = involvement_contacts(view)
    for dataset_id, contact in contacts.items():
        assert contact
        candidates = [r for r in view.records if r.dataset_id == dataset_id and record_contact(r)]
        source = max(
            candidates,
            key=lambda r: (r.event_date is not None, r.event_date or date.min, r.record_id),
        )
        assert record_contact(source) == contact
        shown = {
            (f.contact, str(f.value).strip())
            for f in source.fields
            if f.shown and f.contact and f.value is not None
        }
        for role, attribute in ATTRIBUTES.items():
            value = getattr(contact, attribute)
            if value:
                assert any(
                    r == role and (v == value or " ".join(v.split()) == value) for r, v in shown
                )
    with_contact = {r.dataset_id for r in view.records if record_contact(r)}
    assert set(contacts) == with_contact
    # Nothing withheld, and nothing that is not a contact, ever comes through.
    for contact in contacts.values():
        for part in contact.parts:
            assert part.text not in SECRET_VALUES.values()
            assert part.text not in ("High", "2026-01-01")


POLICE_KEYS = [
    payload_key(c["column"]) for c in POLICE_WITH_CONTACTS["columns"] if c.get("type")
] + ["identity:forename", "identity:surname"]


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tier=st.sampled_from([Tier.KNOWN_TO, Tier.SUMMARY, Tier.FULL]),
    fields=st.sets(st.sampled_from(POLICE_KEYS)),
    consent=st.sampled_from([ConsentRule.NONE, ConsentRule.NONE, ConsentRule.NEEDED]),
    lookback=st.sampled_from([None, 200]),
)
def test_no_contact_value_appears_that_the_protocol_does_not_share(
    known_to_police, tier, fields, consent, lookback
):
    """Through the real engine, for random tiers, field lists, consent rules and look-backs:
    a contact detail is shown exactly when the rule shares its field unheld, and its value is
    that of the latest record the rule covers that has one."""
    from django.db import transaction

    police, records, alice, practitioner = known_to_police
    with transaction.atomic():
        view = view_under(
            practitioner,
            alice,
            police,
            tier=tier,
            fields=sorted(fields),
            consent=consent,
            lookback_days=lookback,
        )
        transaction.set_rollback(True)
    assert view is not None
    contacts = involvement_contacts(view)
    granted = (
        set(POLICE_KEYS) if tier == Tier.FULL else set(fields) if tier == Tier.SUMMARY else set()
    )
    if consent == ConsentRule.NEEDED:
        granted = set()
    roles = {role for key, role in CONTACT_KEYS.items() if key in granted}
    if not roles:
        assert contacts == {}
        return
    # A1 (2026-01-10) is covered by either look-back; A2 (2024-05-01) only with none; A3 has
    # no contact. With the event date shown, A1 is the latest; without it, the one loaded last.
    dated = payload_key("incident_date") in granted
    covered = [records["A1"]] if lookback else [records["A1"], records["A2"]]
    source = records["A1"] if dated else max(covered, key=lambda r: r.pk)
    expected = Contact(
        **{
            ATTRIBUTES[role]: source.payload[column]
            for key, role in CONTACT_KEYS.items()
            if role in roles
            for column in [key.removeprefix("field:")]
        }
    )
    assert contacts == {police.pk: expected}


# --- The synthetic data and the demo ------------------------------------------------------------


def test_synthetic_staff_are_never_named_like_the_population():
    """A worker named like a person in the extracts would be taken for them (and dropped)."""
    pool = {s.casefold() for surnames in synthetic_names.SURNAMES.values() for s in surnames}
    pool |= {s.casefold() for s in synthetic_names.WB_DOUBLE_BARRELLED}
    teams = [
        *synthetic_contacts.SOCIAL_CARE_TEAMS,
        *synthetic_contacts.POLICE_TEAMS.values(),
        synthetic_contacts.POLICE_OTHER_TEAM,
    ]
    for team in teams:
        for worker in team.staff:
            words = worker.split()
            surname = " ".join(words[2:] if words[0] in {"DC", "DS", "PC", "PS"} else words[1:])
            parts = {surname, *surname.replace("-", " ").split()}
            assert not {p.casefold() for p in parts} & pool, worker


def test_the_demo_shows_a_csc_practitioner_who_to_call_at_the_police(
    db, settings, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    from agencies.models import Membership

    settings.VAR_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--people", "150")
    csc = Membership.objects.get(user__email="practitioner@csc.demo.sharehub.example")
    police = Dataset.objects.get(agency__code="POL")
    social_care = Dataset.objects.get(agency__code="CSC")
    for dataset, worker in ((police, "officer_in_case"), (social_care, "allocated_worker")):
        roles = {info.name: info.contact for info in dataset_catalogue(dataset) if info.contact}
        assert roles == {
            worker: "lead_worker",
            "team": "team",
            "team_phone": "team_phone",
            "team_email": "team_email",
        }
    person_ids = set(
        LinkageRecord.objects.filter(dataset_id=police.pk, person__is_active=True).values_list(
            "person_id", flat=True
        )
    )
    shown = 0
    for person in Person.objects.filter(pk__in=sorted(person_ids)[:20]):
        view = disclose_view(
            user=csc.user,
            membership=csc,
            person=person,
            purpose=Purpose.SAFEGUARDING,
            now=timezone.now(),
        )
        if view is None:
            continue
        contact = involvement_contacts(view).get(police.pk)
        if contact:
            shown += 1
            assert contact.lead_worker and contact.team and contact.phone and contact.email
            assert contact.phone.startswith("01632 960")
    assert shown > 0
