"""Building blocks for protocol and disclosure tests: linked people across two agencies and
protocols put in force directly (the approval workflow has tests of its own)."""

from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts.models import User
from agencies.models import Dataset, Membership, Role, SourceRecord
from agencies.services import dataset_define
from core.purpose import Purpose
from matching.linkage.run import linkage_run
from matching.models import Household, LinkageRecord, LinkageRun, Person, PersonEvent
from protocols.models import (
    ConsentRule,
    DatasetRule,
    Protocol,
    ProtocolGrant,
    ProtocolVersion,
    Tier,
    VersionStatus,
)
from sharehub_bridge.definitions import definition_parse
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload

CSC_DEFINITION = {
    "name": "Children's social care - referrals",
    "source_id_column": "referral_id",
    "event_date_column": "referral_date",
    "columns": [
        {"column": "referral_id", "ignore": True},
        {"column": "forename", "identifier": "forename", "required": True},
        {"column": "surname", "identifier": "surname", "required": True},
        {"column": "dob", "identifier": "date_of_birth"},
        {"column": "postcode", "identifier": "postcode"},
        {"column": "referral_date", "type": "date", "label": "Referral date", "required": True},
        {
            "column": "category_of_need",
            "type": "category",
            "label": "Category of need",
            "values": ["abuse or neglect", "family dysfunction", "other"],
        },
        {"column": "cp_plan", "type": "boolean", "label": "Child protection plan"},
        {"column": "case_notes", "type": "text", "label": "Case notes"},
    ],
}
CSC_HEADER = [c["column"] for c in CSC_DEFINITION["columns"]]


def csc_row(ref: str, **overrides) -> dict:
    row = {
        "referral_id": ref,
        "forename": "Alice",
        "surname": "Smith",
        "dob": "01/02/2015",
        "postcode": "LS6 2AB",
        "referral_date": "2026-03-01",
        "category_of_need": "abuse or neglect",
        "cp_plan": "no",
        "case_notes": "Referred by school nurse.",
    }
    row.update(overrides)
    return row


@dataclass
class Linked:
    police: Dataset
    csc: Dataset
    alice: Person  # police A1, A2 and social care S1
    bob: Person  # police B1 only, same household as Alice
    carol: Person  # social care S2 only, another household
    records: dict[str, SourceRecord]


def linked_people(police_agency, csc_agency) -> Linked:
    """Alice (two police records, one social care), her brother Bob (police), Carol (social care).

    Records go through ingest and key making for real; persons are set here so that the tests do
    not depend on a model estimated from five records.
    """
    police = police_dataset(police_agency)
    csc = dataset_define(agency=csc_agency, definition=definition_parse(CSC_DEFINITION)).dataset
    upload(
        police,
        csv_bytes(
            [
                good_row("A1", incident_date="2026-01-10"),
                good_row("A2", incident_date="2024-05-01", risk_grade="medium"),
                good_row("B1", forename="Bob", dob="03/04/2012", nhs_number=""),
            ]
        ),
    )
    upload(
        csc,
        csv_bytes(
            [
                csc_row("S1"),
                csc_row(
                    "S2",
                    forename="Carol",
                    surname="Brown",
                    dob="05/06/2010",
                    postcode="LS1 1AA",
                    referral_date="2025-11-01",
                ),
            ],
            header=CSC_HEADER,
        ),
    )
    linkage_run(full=True)
    records = {
        r.source_id: r
        for r in SourceRecord.objects.filter(dataset__in=[police, csc]).select_related("dataset")
    }
    run = LinkageRun.objects.create(kind=LinkageRun.Kind.FULL, status=LinkageRun.Status.DONE)
    LinkageRecord.objects.update(person=None)
    home = Household.objects.create()
    elsewhere = Household.objects.create()
    people = {}
    for name, members, household in (
        ("alice", ["A1", "A2", "S1"], home),
        ("bob", ["B1"], home),
        ("carol", ["S2"], elsewhere),
    ):
        person = Person.objects.create(household=household)
        PersonEvent.objects.create(
            person=person, kind=PersonEvent.Kind.CREATED, run=run, records=len(members)
        )
        LinkageRecord.objects.filter(record__in=[records[m] for m in members]).update(
            person=person, linked_at=timezone.now()
        )
        people[name] = person
    Person.objects.exclude(pk__in=[p.pk for p in people.values()]).update(is_active=False)
    return Linked(police=police, csc=csc, records=records, **people)


def crowd(linked: Linked, *, per_group: int = 5) -> None:
    """`per_group` more people known to the police only, to social care only and to both, each
    with copies of Alice's records, so that no dashboard count of `linked_people` is small
    enough to be suppressed (a suppressed count has no drill-down list)."""
    from core.keys import AgencySealer
    from matching.pseudonymise import identity_open, identity_seal

    home = Household.objects.create()

    def copy(original: SourceRecord, source_id: str, person: Person) -> None:
        dataset = original.dataset
        identity = identity_open(
            agency_id=dataset.agency_id,
            dataset_id=dataset.pk,
            source_id=original.source_id,
            blob=bytes(original.identity),
        )
        record = SourceRecord.objects.create(
            dataset=dataset,
            source_id=source_id,
            identity=identity_seal(
                AgencySealer(dataset.agency_id),
                dataset_id=dataset.pk,
                source_id=source_id,
                identifiers=identity,
            ),
            payload=original.payload,
            event_date=original.event_date,
            first_extract_id=original.first_extract_id,
            last_extract_id=original.last_extract_id,
            updated_at=timezone.now(),
        )
        template = LinkageRecord.objects.get(record=original)
        LinkageRecord.objects.create(
            record=record,
            agency_id=template.agency_id,
            dataset_id=template.dataset_id,
            keys=template.keys,
            key_version=template.key_version,
            keys_made_at=template.keys_made_at,
            person=person,
            linked_at=timezone.now(),
        )

    for group, originals in (("P", ["A1"]), ("C", ["S1"]), ("B", ["A1", "S1"])):
        for number in range(per_group):
            person = Person.objects.create(household=home)
            for original in originals:
                copy(linked.records[original], f"{group}{original}-{number}", person)


def protocol_in_force(
    *,
    author,
    parties,
    rules: list[dict],
    purpose=Purpose.SAFEGUARDING,
    roles=(Role.PRACTITIONER,),
    valid_from=date(2020, 1, 1),
    valid_to=None,
    staged=False,
    status=VersionStatus.ACTIVE,
    name="Test protocol",
) -> ProtocolVersion:
    """A protocol version with `rules` ({dataset, tier, fields, consent, lookback_days}),
    put straight into `status`."""
    protocol = Protocol.objects.create(created_by=author, owner_agency=parties[0])
    version = ProtocolVersion.objects.create(
        protocol=protocol,
        number=1,
        name=name,
        purpose=purpose,
        lawful_basis="UK GDPR Art 6(1)(e)",
        roles=list(roles),
        valid_from=valid_from,
        valid_to=valid_to,
        staged=staged,
        status=status,
        author=author,
    )
    version.parties.set(parties)
    for rule in rules:
        DatasetRule.objects.create(
            version=version,
            dataset=rule["dataset"],
            tier=rule.get("tier", Tier.FULL),
            fields=list(rule.get("fields", ())),
            consent=rule.get("consent", ConsentRule.NONE),
            lookback_days=rule.get("lookback_days"),
        )
    return version


def give(version: ProtocolVersion, holder, *, agency=None) -> None:
    """Give the protocol to a user or group, as given by `agency`'s IG officer; by default by
    every agency the holder (or a member of the group) works in, so the grant applies whichever
    of their agencies they act for (protocols.models.ProtocolGrant)."""
    assign_perm("protocols.use_protocol", holder, version.protocol)
    if agency is not None:
        agencies = [agency.pk]
    else:
        users = [holder] if isinstance(holder, User) else list(holder.user_set.all())
        agencies = sorted(
            set(
                Membership.objects.filter(
                    user__in=users, agency__isnull=False, is_active=True
                ).values_list("agency_id", flat=True)
            )
        ) or [version.protocol.owner_agency_id]
    holder_is = {"user": holder} if isinstance(holder, User) else {"group": holder}
    for agency_id in agencies:
        ProtocolGrant.objects.get_or_create(
            protocol=version.protocol, agency_id=agency_id, **holder_is
        )


def police_shared_with_a_practitioner(agency, other_agency, member):
    """Alice's family linked across the police (`other_agency`) and social care (`agency`), and
    a social care practitioner given a protocol that shares the police records: the world many
    tests read from. Returns (linked, practitioner, version)."""
    linked = linked_people(other_agency, agency)
    practitioner = member(Role.PRACTITIONER)
    version = protocol_in_force(
        author=practitioner, parties=[agency, other_agency], rules=[{"dataset": linked.police}]
    )
    give(version, practitioner)
    return linked, practitioner, version


SMITH_FORENAMES = (
    "Adam", "Beth", "Cara", "Dan", "Ella", "Finn", "Gina", "Hugo", "Iris", "Jack",
    "Kate", "Liam", "Mia", "Noah", "Olive", "Paul", "Rosa", "Seth", "Tara", "Uma",
    "Vic", "Will", "Xena", "Yusuf", "Zara", "Owen", "Nina", "Leo",
)  # fmt: skip


def more_smiths(linked: Linked, count: int, *, dataset: Dataset | None = None) -> list[Person]:
    """`count` more people called Smith (up to 28), each known to `dataset` (the police's by
    default, or social care's) by one record and placed in a person of their own, none at
    Alice's postcode, with her NHS number or with a risk grade that scores: a search on the
    surname then finds more people than a results page lists. Their records go through ingest
    for real (keys and search rows); linked_people's persons are set back afterwards, as the
    linkage run after the extract may have regrouped them."""
    dataset = dataset or linked.police

    def who(n: int) -> dict:
        return {
            "forename": SMITH_FORENAMES[n],
            "dob": f"{n + 1:02d}/03/2013",
            "postcode": "LS8 1AA",
        }

    if dataset == linked.csc:
        content = csv_bytes([csc_row(f"X{n}", **who(n)) for n in range(count)], header=CSC_HEADER)
    else:
        content = csv_bytes(
            [
                good_row(f"X{n}", nhs_number="", risk_grade="standard", **who(n))
                for n in range(count)
            ]
        )
    upload(dataset, content, filename="more-smiths.csv")
    people = []
    for record in SourceRecord.objects.filter(dataset=dataset, source_id__regex=r"^X\d+$").order_by(
        "pk"
    ):
        person = Person.objects.create()
        LinkageRecord.objects.filter(record=record).update(person=person, linked_at=timezone.now())
        people.append(person)
    assert len(people) == count
    placed = {"alice": ["A1", "A2", "S1"], "bob": ["B1"], "carol": ["S2"]}
    for name, members in placed.items():
        LinkageRecord.objects.filter(record__in=[linked.records[m] for m in members]).update(
            person=getattr(linked, name)
        )
    keep = [linked.alice.pk, linked.bob.pk, linked.carol.pk, *(p.pk for p in people)]
    Person.objects.filter(pk__in=keep).update(is_active=True)
    Person.objects.exclude(pk__in=keep).update(is_active=False)
    return people


def audit_append_queries(entries: int = 1) -> int:
    """The queries `entries` audit appends cost beyond those every backend makes: on PostgreSQL
    each takes an advisory lock first (audit.services), so pinned query counts add these."""
    return entries if connection.vendor == "postgresql" else 0
