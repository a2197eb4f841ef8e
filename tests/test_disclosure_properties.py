"""Property-based tests of the disclosure engine against an independent oracle.

The oracle below reads the database rows (protocol versions, dataset rules, django-guardian
object permissions, case unlocks, consent statements, safeguarding overrides, linked records) and
applies the rules as the engine's module docstring states them, without calling the engine. For
random protocols, assignments, acting roles, unlocks, consent statements and overrides, the
engine must show exactly the fields the oracle says some applicable protocol grants unheld (never
a field no protocol grants, always one that one does), see exactly the persons the oracle sees,
and report what is held back and why. A state machine changes grants, statuses, unlocks, consent,
overrides and the clock between reads; a property of its own checks that an override never shows
more than consent would; and mutation checks show the comparisons fail when the engine is broken
in the ways they are meant to catch. (tests/test_consent_properties.py checks consent and
overrides too, in a fixed world of two protocols, with an oracle of its own.)
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import assign_perm, remove_perm
from hypothesis import HealthCheck, Phase, event, find, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from accounts.models import User
from agencies.models import Agency, Dataset, DatasetVersion, Membership, Role, SourceRecord
from consent.models import (
    ConfirmationOutcome,
    ConsentConfirmation,
    ConsentRecord,
    ConsentState,
    OverrideCategory,
    SafeguardingOverride,
)
from core.purpose import Purpose
from matching.models import LinkageRecord, Person
from matching.pseudonymise import identity_open
from protocols import engine
from protocols.engine import ConsentStanding, Withholding, disclose
from protocols.models import (
    CaseUnlock,
    ConsentFromOthers,
    ConsentRule,
    DatasetRule,
    Protocol,
    ProtocolGrant,
    ProtocolVersion,
    Tier,
    VersionStatus,
)
from sharehub_bridge.definitions import IDENTIFIER_FIELDS
from tests.factories import MembershipFactory, UserFactory
from tests.ingest_helpers import POLICE_DEFINITION, csv_bytes, good_row, upload
from tests.protocol_helpers import CSC_DEFINITION, linked_people

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TODAY = NOW.date()
ROLES = [Role.PRACTITIONER, Role.ANALYST, Role.IG_OFFICER]
PERSONS = ("alice", "bob", "carol")
# Persons consent can be recorded for: the three, and inactive ones: "alice_old" (merged into
# Alice, so what was recorded about her counts for Alice), "alice_older" (merged into alice_old,
# so through her into Alice) and "ghost" (merged into nobody).
CONSENT_PERSONS = (*PERSONS, "alice_old", "alice_older", "ghost")
SLOTS = 3  # protocols per example; a slot's versions are versions of one protocol


def _keys(definition: dict) -> list[str]:
    keys = []
    for column in definition["columns"]:
        if column.get("identifier"):
            keys.append("identity:" + column["identifier"])
        elif column.get("type"):
            keys.append("field:" + column["column"])
    return keys


# A summary rule may name fields of either dataset, or none that exists: only those of its own
# dataset are disclosed.
RULE_FIELD_KEYS = sorted(set(_keys(POLICE_DEFINITION)) | set(_keys(CSC_DEFINITION))) + [
    "field:not_a_column"
]
# Days between TODAY and the records' event dates (142, 761, 92, 212 and the retired 31), either
# side of each, so look-backs fall on the boundaries.
LOOKBACKS = [0, 30, 31, 32, 91, 92, 93, 141, 142, 143, 211, 212, 213, 760, 761, 762]


# Strategies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    tier: int
    consent: str
    lookback_days: int | None
    fields: tuple[str, ...]


@dataclass(frozen=True)
class VersionSpec:
    slot: int
    status: str
    valid_from: int  # days from the day of the read
    valid_to: int | None
    purpose: str
    roles: tuple[str, ...]
    parties: tuple[str, ...]  # "csc", "police"
    staged: bool
    police: RuleSpec | None
    csc: RuleSpec | None
    override_max_hours: int = 72
    consent_from_others: str = ConsentFromOthers.OWNER_CONFIRMS


@dataclass(frozen=True)
class ConsentSpec:
    """One consent statement, written straight to the table."""

    person: str  # one of CONSENT_PERSONS
    scope: int | str  # a slot's protocol, "other" (a protocol nobody holds), or a purpose
    agencies: tuple[str, ...]  # "csc", "police": whose records it is about
    state: str
    recorded: timedelta  # recorded_at, from the read (NOW)
    expires: int | None  # expires_on, in days from TODAY
    # Which agency recorded it, and which of the agencies it names confirmed it (a "given"
    # statement about another agency's records waits for that agency, unless the protocol
    # chose consent from others at once). By default every agency confirmed it.
    recorded_by: str = "csc"
    confirmed: tuple[str, ...] = ("csc", "police")


@dataclass(frozen=True)
class OverrideSpec:
    """One safeguarding override row, written straight to the table."""

    person: str  # one of CONSENT_PERSONS
    who: str  # "user" or "colleague"
    agency: str  # "csc", "police"
    role: str
    slot: int | str  # a slot's protocol, or "other"
    started: timedelta  # started_at, from the read
    hours: int  # expires_at = started_at + hours
    ended: timedelta | None  # ended_at, from the read
    # The datasets it opened ("csc", "police"), and under which version of the protocol: the
    # one in force ("live"), or another one, replaced ("other").
    datasets: tuple[str, ...] = ("csc", "police")
    version: str = "live"


@dataclass(frozen=True)
class Case:
    versions: tuple[VersionSpec, ...]
    holders: tuple[str, ...]  # who is given each slot's protocol
    agency: str  # the acting membership
    role: str
    membership_active: bool
    superuser: bool
    unlocks: frozenset[tuple[str, str]]  # (user or colleague, person)
    purpose: str
    consents: tuple[ConsentSpec, ...] = ()
    overrides: tuple[OverrideSpec, ...] = ()
    # The agency whose IG officer gave each slot's protocol ("csc", "police" or "both"); by
    # default the acting agency.
    granted_by: tuple[str, ...] = ()


# Most draws favour the protocol applying, so that examples disclose something often enough;
# every way of not applying still comes up.
rule_specs = st.builds(
    RuleSpec,
    tier=st.sampled_from([Tier.FULL, Tier.SUMMARY, Tier.SUMMARY, Tier.KNOWN_TO, Tier.HIDDEN]),
    consent=st.sampled_from(
        [ConsentRule.NONE] * 4 + [ConsentRule.NEEDED, ConsentRule.UNLESS_OVERRIDE]
    ),
    lookback_days=st.sampled_from([None] * 8 + LOOKBACKS + [365, 1000]),
    fields=st.lists(st.sampled_from(RULE_FIELD_KEYS), unique=True, max_size=8).map(tuple),
)
# For cases about consent: rules that disclose, mostly needing consent. (Hypothesis draws the
# first of a list more often than the rest: it comes first.)
consent_rule_specs = st.builds(
    RuleSpec,
    tier=st.sampled_from([Tier.FULL, Tier.SUMMARY, Tier.SUMMARY, Tier.KNOWN_TO]),
    consent=st.sampled_from(
        [ConsentRule.NEEDED] * 2 + [ConsentRule.UNLESS_OVERRIDE] * 3 + [ConsentRule.NONE]
    ),
    lookback_days=st.sampled_from([None] * 24 + LOOKBACKS),
    fields=st.lists(st.sampled_from(RULE_FIELD_KEYS), unique=True, max_size=8).map(tuple),
)
# For cases about overrides: rules that disclose, mostly yielding to one.
override_rule_specs = st.builds(
    RuleSpec,
    tier=st.sampled_from([Tier.FULL, Tier.SUMMARY, Tier.SUMMARY]),
    consent=st.sampled_from(
        [ConsentRule.UNLESS_OVERRIDE] * 5 + [ConsentRule.NEEDED] * 2 + [ConsentRule.NONE]
    ),
    lookback_days=st.sampled_from([None] * 24 + LOOKBACKS),
    fields=st.lists(st.sampled_from(RULE_FIELD_KEYS), unique=True, max_size=8).map(tuple),
)
# The state machine's protocols: any rules, or rules mostly needing consent.
machine_rules = st.one_of(rule_specs, override_rule_specs)

NOT_ACTIVE = [
    VersionStatus.SUSPENDED,
    VersionStatus.DRAFT,
    VersionStatus.SUPERSEDED,
    VersionStatus.AWAITING_APPROVAL,
    VersionStatus.WITHDRAWN,
]
PURPOSES = [Purpose.SAFEGUARDING, Purpose.COMMISSIONING]
purposes = st.sampled_from([Purpose.SAFEGUARDING] * 3 + [Purpose.COMMISSIONING])
# What keeps a version from applying to the reader: nothing (most often), exactly one of the
# conditions, or all of them drawn at random.
SPOILS = [None] * 10 + ["status", "not_yet", "expired", "purpose", "role", "party", "random"]


@st.composite
def version_specs(
    draw,
    slot=None,
    agency="csc",
    role=Role.PRACTITIONER,
    purpose=Purpose.SAFEGUARDING,
    spoils=SPOILS,
    rules=rule_specs,
) -> VersionSpec:
    """A version that applies to a reader acting as `role` in `agency` for `purpose`, unless
    spoiled."""
    spoil = draw(st.sampled_from(spoils))
    randomly = spoil == "random"
    if spoil == "status" or (randomly and draw(st.booleans())):
        status = draw(st.sampled_from(NOT_ACTIVE))
    else:
        status = VersionStatus.ACTIVE
    valid_from = draw(st.sampled_from([-1000, -200, -30, -1, 0]))
    valid_to = draw(st.one_of(st.none(), st.sampled_from([0, 1, 60, 500])))
    if spoil == "not_yet" or (randomly and draw(st.booleans())):
        valid_from = draw(st.sampled_from([1, 45]))
    if spoil == "expired" or (randomly and draw(st.booleans())):
        valid_to = -1
    if valid_to is not None:
        valid_to = max(valid_from, valid_to)
    if spoil == "purpose" or randomly:
        purpose = draw(
            st.sampled_from(PURPOSES if randomly else [p for p in PURPOSES if p != purpose])
        )
    others = [r for r in [*ROLES, "platform_admin"] if r != role]
    roles = draw(st.lists(st.sampled_from(others), unique=True, max_size=2))
    if not (spoil == "role" or (randomly and draw(st.booleans()))):
        roles.insert(draw(st.integers(0, len(roles))), role)
    other_agency = "police" if agency == "csc" else "csc"
    if spoil == "party" or (randomly and draw(st.booleans())):
        parties = draw(st.sampled_from([(other_agency,), ()]))
    else:
        parties = draw(st.sampled_from([(agency, other_agency), (other_agency, agency), (agency,)]))
    return VersionSpec(
        slot=draw(st.integers(0, SLOTS - 1)) if slot is None else slot,
        status=status,
        valid_from=valid_from,
        valid_to=valid_to,
        purpose=purpose,
        roles=tuple(roles),
        parties=parties,
        staged=draw(st.sampled_from([False, False, True])),
        police=draw(rules) if draw(st.sampled_from([True] * 3 + [False])) else None,
        csc=draw(rules) if draw(st.sampled_from([True] * 3 + [False])) else None,
        override_max_hours=draw(st.sampled_from([72, 72, 1, 24, 720])),
        consent_from_others=draw(st.sampled_from(ConsentFromOthers.values)),
    )


# Recorded times, from the read: several at the same instant (the later row decides), and one
# at 00:30 in London on the day of the read, 23:30 the day before in UTC.
RECORDED = [
    timedelta(0),
    timedelta(0),
    timedelta(hours=-1),
    timedelta(hours=-12, minutes=-30),
    timedelta(days=-1),
    timedelta(days=-30),
    timedelta(days=-400),
]
CONSENT_AGENCIES = [("csc", "police")] * 3 + [("csc",), ("police",), ()]
# Which agencies confirmed a statement: none, one (answered "declined" by the other, or not yet
# answered), or both.
CONFIRMED = [(), (), ("csc",), ("police",), ("csc", "police")]


@st.composite
def consent_histories(draw, slots: Iterable[int] = (0,), purpose=Purpose.SAFEGUARDING, sizes=(1,)):
    """Statements mostly about the protocols of `slots` or `purpose`, by persons with records;
    sometimes about a protocol nobody holds, another purpose, or a person merged into nobody.
    Most are one history: about the same person, scope and agencies, so that each changes what
    the one before said."""
    others = [p for p in PURPOSES if p != purpose]
    persons = st.sampled_from(
        ["alice"] * 4 + ["bob", "carol", "carol", "alice_old", "alice_older", "ghost"]
    )
    scopes = st.sampled_from([*slots] * 4 + [purpose] * 2 + ["other", *others])
    about = (draw(persons), draw(scopes), draw(st.sampled_from(CONSENT_AGENCIES)))
    history = []
    for _ in range(draw(st.sampled_from(sizes))):
        if draw(st.sampled_from([True, True, False])):
            person, scope, agencies = about
        else:
            person, scope, agencies = (
                draw(persons),
                draw(scopes),
                draw(st.sampled_from(CONSENT_AGENCIES)),
            )
        history.append(
            ConsentSpec(
                person=person,
                scope=scope,
                agencies=agencies,
                state=draw(
                    st.sampled_from(
                        [ConsentState.GIVEN] * 4
                        + [ConsentState.REFUSED, ConsentState.WITHDRAWN, ConsentState.NOT_SOUGHT]
                    )
                ),
                recorded=draw(st.sampled_from(RECORDED)),
                expires=draw(st.sampled_from([None] * 3 + [-100, -1, -1, 0, 1, 100])),
                recorded_by=draw(st.sampled_from(["csc", "csc", "police"])),
                confirmed=draw(st.sampled_from(CONFIRMED)),
            )
        )
    return tuple(history)


# What keeps an override from lifting anything: nothing (most often), exactly one condition, or
# several drawn at random. "time": expired, expiring at the read, not yet begun, or ended early.
OVERRIDE_SPOILED = [
    "colleague",
    "agency",
    "role",
    "protocol",
    "person",
    "time",
    "version",
    "random",
]
OVERRIDE_SPOILS = [None] * 8 + OVERRIDE_SPOILED
DATASET_CHOICES = [("csc", "police"), ("csc",), ("police",), ()]


@st.composite
def override_specs(
    draw, agency="csc", role=Role.PRACTITIONER, slots=(0,), spoils=OVERRIDE_SPOILS, opens=None
) -> OverrideSpec:
    """An override in force for the user acting as `role` in `agency`, under the protocol of one
    of `slots`, unless spoiled; opening `opens`, mostly, when given."""
    spoil = draw(st.sampled_from(spoils))
    randomly = spoil == "random"

    def spoiled(way: str) -> bool:
        return spoil == way or (randomly and draw(st.booleans()))

    hours = draw(st.sampled_from([1, 24, 72]))
    started = -timedelta(minutes=draw(st.sampled_from([0, 30, 59])))
    ended = None
    if spoiled("time"):
        when = draw(st.sampled_from(["expired", "expires_now", "not_started", "ended"]))
        if when == "expired":
            started = -timedelta(hours=hours, minutes=draw(st.sampled_from([1, 90])))
        elif when == "expires_now":
            started = -timedelta(hours=hours)
        elif when == "not_started":
            started = timedelta(minutes=draw(st.sampled_from([1, 90])))
        else:
            ended = -timedelta(minutes=draw(st.sampled_from([0, 1])))
    return OverrideSpec(
        person=draw(st.sampled_from(["alice_old", "alice_older", "ghost"]))
        if spoiled("person")
        else draw(st.sampled_from(["alice"] * 4 + ["bob", "carol"])),
        who="colleague" if spoiled("colleague") else "user",
        agency=("police" if agency == "csc" else "csc") if spoiled("agency") else agency,
        role=draw(st.sampled_from([r for r in ROLES if r != role])) if spoiled("role") else role,
        slot="other" if spoiled("protocol") else draw(st.sampled_from(list(slots))),
        started=started,
        hours=hours,
        ended=ended,
        # Sometimes fewer datasets (consent was given for the rest when it began) or others
        # (where its rule does not yield), which it must not open.
        datasets=draw(st.sampled_from([opens or DATASET_CHOICES[0]] * 2 + DATASET_CHOICES)),
        version="other" if spoiled("version") else "live",
    )


# Whose IG officer gives a protocol: mostly CSC (where the machine's reader starts), the police,
# or both.
GRANTED_BY = st.sampled_from(["csc", "csc", "police", "both"])
# "global" is the permission given model-wide, which the engine must ignore (protocols are
# assigned one by one); "colleague" and "other_group" give it to someone else.
holders = st.sampled_from(
    ["user"] * 4 + ["group"] * 3 + ["none", "colleague", "other_group", "global"]
)
UNLOCKS = [(who, person) for who in ("user", "colleague") for person in PERSONS]

# What a case is about: anything (protocols, grants, roles, dates, a little consent); consent
# (protocols that apply and need it, and statements to decide it); or overrides (protocols that
# apply and yield to one, for safeguarding, and overrides in force or spoiled one way).
ANY, CONSENT, OVERRIDES = "any", "consent", "overrides"


@st.composite
def cases(draw, about: str | None = None) -> Case:
    """A random world, about anything, consent or overrides (drawn, unless `about` says)."""
    if about is None:
        about = draw(st.sampled_from([ANY, ANY, CONSENT, OVERRIDES]))
    agency = draw(st.sampled_from(["csc", "csc", "police"]))
    role = draw(st.sampled_from([Role.PRACTITIONER, Role.PRACTITIONER, *ROLES[1:]]))
    holder = st.sampled_from(["user", "user", "group", "none"])
    versions_drawn, statements_drawn = [1, 1, 2, 3], [1, 2, 3, 4, 5, 6]
    overrides_drawn, override_spoils = [0, 1, 1, 2, 3], OVERRIDE_SPOILS
    if about == CONSENT:
        purpose = draw(st.sampled_from([Purpose.SAFEGUARDING] * 5 + [Purpose.COMMISSIONING]))
        spoils, rules = [None] * 4 + SPOILS[10:], consent_rule_specs
    elif about == OVERRIDES:
        purpose = Purpose.SAFEGUARDING
        spoils, rules = [None] * 4 + SPOILS[10:], override_rule_specs
        statements_drawn = [0, 0, 0, 1, 2]
        overrides_drawn, override_spoils = [1, 2, 2, 3], [None] * 2 + OVERRIDE_SPOILED
    else:
        purpose = draw(purposes)
        spoils, rules, holder = SPOILS, rule_specs, holders
        versions_drawn, statements_drawn = [1, 2, 2, 3, 3, 4], [0, 0, 1, 2, 3]
    # Mostly one protocol per version; sometimes several versions of one protocol.
    versions = tuple(
        draw(
            version_specs(
                slot=draw(st.sampled_from([i % SLOTS] * 3 + list(range(SLOTS)))),
                agency=agency,
                role=role,
                purpose=purpose,
                # About consent or overrides, the first version applies, and is given to the
                # user or their group (below).
                spoils=[None] if about != ANY and i == 0 else spoils,
                rules=rules,
            )
        )
        for i in range(draw(st.sampled_from(versions_drawn)))
    )
    given_to = list(draw(st.tuples(*[holder] * SLOTS)))
    other_agency = "police" if agency == "csc" else "csc"
    granted_by = list(
        draw(st.tuples(*[st.sampled_from([agency] * 4 + [other_agency, "both"])] * SLOTS))
    )
    if about != ANY:
        given_to[versions[0].slot] = draw(st.sampled_from(["user", "group"]))
        granted_by[versions[0].slot] = agency
    # Statements and overrides are mostly about the first protocol; overrides about it open the
    # datasets where its rule yields, as consent.overrides.override_start records.
    first = versions[0]
    slots = [first.slot] * 4 + sorted({v.slot for v in versions})
    opens = tuple(
        d
        for d in ("csc", "police")
        if getattr(first, d) and getattr(first, d).consent == ConsentRule.UNLESS_OVERRIDE
    )
    overrides = override_specs(agency, role, slots, override_spoils, opens)
    return Case(
        versions=versions,
        holders=tuple(given_to),
        granted_by=tuple(granted_by),
        agency=agency,
        role=role,
        membership_active=draw(st.sampled_from([True] * (9 if about == ANY else 19) + [False])),
        superuser=draw(st.booleans()),
        unlocks=draw(st.frozensets(st.sampled_from(UNLOCKS))),
        purpose=purpose,
        consents=draw(consent_histories(slots, purpose, statements_drawn)),
        overrides=tuple(draw(overrides) for _ in range(draw(st.sampled_from(overrides_drawn)))),
    )


# The world: built once per test function ------------------------------------------------------


@dataclass
class World:
    agencies: dict[str, Agency]
    datasets: dict[str, Dataset]
    people: dict[str, Person]  # CONSENT_PERSONS
    persons: list[Person]  # every person, inactive ones too: the engine must drop those
    user_id: int
    colleague_id: int
    group: Group
    other_group: Group
    retired_id: int
    user_row: User  # for writing permissions and unlocks; reads fetch the user afresh
    colleague_row: User
    record_ids: dict[tuple[int, str], int]  # (dataset id, source id) -> record id
    decrypted: list[int] = field(default_factory=list)  # record ids the engine opened

    def user(self) -> User:
        return User.objects.get(pk=self.user_id)


@pytest.fixture
def world(agency, other_agency, monkeypatch) -> World:
    """CSC (`agency`) and police (`other_agency`) with Alice, Bob and Carol linked across them
    (tests.protocol_helpers.linked_people), and:

    - Bob's record without an event date, which only rules without a look-back cover;
    - a retired police record still linked to Alice, which nothing may show;
    - the user, a member of both agencies in three roles, in the MASH group; a colleague, in
      another group, who authors the protocols and has unlocks and overrides of their own;
    - "alice_old", an inactive person merged into Alice, and "alice_older", merged into
      alice_old, whose consent statements count for Alice; and "ghost", an inactive person
      linkage left behind, merged into nobody.
    """
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    SourceRecord.objects.filter(pk=linked.records["B1"].pk).update(event_date=None)
    upload(linked.police, csv_bytes([good_row("A9", incident_date="2026-05-01")]))
    retired = SourceRecord.objects.get(dataset=linked.police, source_id="A9")
    assert LinkageRecord.objects.filter(record=retired).update(person=linked.alice) == 1
    SourceRecord.objects.filter(pk=retired.pk).update(is_retired=True)
    ghost = Person.objects.filter(is_active=False, merged_into=None).order_by("pk").first()
    assert ghost is not None
    alice_old = Person.objects.create(is_active=False, merged_into=linked.alice)
    alice_older = Person.objects.create(is_active=False, merged_into=alice_old)

    user = UserFactory()
    for member_of in (agency, other_agency):
        for role in ROLES:
            MembershipFactory(user=user, agency=member_of, role=role)
    colleague = UserFactory()
    MembershipFactory(user=colleague, agency=agency, role=Role.PRACTITIONER)
    group = Group.objects.create(name="MASH")
    other_group = Group.objects.create(name="Early help")
    user.groups.add(group)
    colleague.groups.add(other_group)

    found = World(
        agencies={"csc": agency, "police": other_agency},
        datasets={"csc": linked.csc, "police": linked.police},
        people={
            "alice": linked.alice,
            "bob": linked.bob,
            "carol": linked.carol,
            "alice_old": alice_old,
            "alice_older": alice_older,
            "ghost": ghost,
        },
        persons=list(Person.objects.all()),
        user_id=user.pk,
        colleague_id=colleague.pk,
        group=group,
        other_group=other_group,
        retired_id=retired.pk,
        user_row=user,
        colleague_row=colleague,
        record_ids={
            (r.dataset_id, r.source_id): r.pk for r in SourceRecord.objects.filter(is_retired=False)
        },
    )
    assert len(found.persons) > 3  # linkage made others, since deactivated

    def recording_identity_open(**kwargs):
        found.decrypted.append(found.record_ids[kwargs["dataset_id"], kwargs["source_id"]])
        return identity_open(**kwargs)

    # Observe (not change) which identities the engine decrypts: only records showing one.
    monkeypatch.setattr(engine, "identity_open", recording_identity_open)
    return found


@contextmanager
def scratch():
    """Whatever an example writes is rolled back at its end, whether it passes or fails."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def holder_of(world: World, name: str):
    return {
        "user": world.user_row,
        "colleague": world.colleague_row,
        "group": world.group,
        "other_group": world.other_group,
    }[name]


def give(world: World, name: str, protocol: Protocol, by: str = "csc") -> None:
    """The permission, and the grant naming the agency (or "both") whose IG officer gave it."""
    if name == "none":
        return
    if name == "global":
        assign_perm("protocols.use_protocol", world.user_row)
        return
    holder = holder_of(world, name)
    assign_perm("protocols.use_protocol", holder, protocol)
    holder_is = {"group": holder} if isinstance(holder, Group) else {"user": holder}
    for agency in ("csc", "police") if by == "both" else (by,):
        ProtocolGrant.objects.get_or_create(
            protocol=protocol, agency=world.agencies[agency], **holder_is
        )


def version_create(
    world: World, protocol: Protocol, number: int, spec: VersionSpec, status: str, today: date
) -> ProtocolVersion:
    valid_from = today + timedelta(days=spec.valid_from)
    version = ProtocolVersion.objects.create(
        protocol=protocol,
        number=number,
        name=f"Protocol {protocol.pk}",
        purpose=spec.purpose,
        lawful_basis="UK GDPR Art 6(1)(e)",
        roles=list(spec.roles),
        valid_from=valid_from,
        valid_to=None if spec.valid_to is None else today + timedelta(days=spec.valid_to),
        staged=spec.staged,
        override_max_hours=spec.override_max_hours,
        consent_from_others=spec.consent_from_others,
        status=status,
        author_id=world.colleague_id,
    )
    version.parties.set([world.agencies[p] for p in spec.parties])
    rules = []
    for name in ("police", "csc"):
        rule_spec = getattr(spec, name)
        if rule_spec is not None:
            rules.append(
                DatasetRule(
                    version=version,
                    dataset=world.datasets[name],
                    tier=rule_spec.tier,
                    fields=list(rule_spec.fields),
                    consent=rule_spec.consent,
                    lookback_days=rule_spec.lookback_days,
                )
            )
    DatasetRule.objects.bulk_create(rules)
    return version


def protocol_create(world: World) -> Protocol:
    return Protocol.objects.create(
        created_by_id=world.colleague_id, owner_agency=world.agencies["csc"]
    )


LIVE = {VersionStatus.ACTIVE, VersionStatus.SUSPENDED}
OPEN = {VersionStatus.DRAFT, VersionStatus.AWAITING_APPROVAL}


def protocol_unheld(world: World) -> Protocol:
    """A protocol with a draft version, which nobody holds: statements and overrides naming it
    must lift nothing."""
    protocol = protocol_create(world)
    ProtocolVersion.objects.create(
        protocol=protocol,
        number=1,
        name=f"Protocol {protocol.pk}",
        purpose=Purpose.SAFEGUARDING,
        lawful_basis="UK GDPR Art 6(1)(e)",
        roles=[Role.PRACTITIONER],
        valid_from=TODAY,
        status=VersionStatus.DRAFT,
        author_id=world.colleague_id,
    )
    return protocol


def consent_create(
    world: World,
    *,
    person: str,
    scope: Protocol | str,
    agencies: Iterable[str],
    state: str,
    recorded_at: datetime,
    expires_on: date | None,
    replaces: ConsentRecord | None = None,
    recorded_by: str = "csc",
    confirmed: Iterable[str] = ("csc", "police"),
) -> ConsentRecord:
    """A consent statement about `person` for a protocol or a purpose (`scope`), recorded by
    `recorded_by` and confirmed by the agencies `confirmed` among those it names (the others
    named, except the recorder, declined it)."""
    protocol = scope if isinstance(scope, Protocol) else None
    record = ConsentRecord.objects.create(
        person=world.people[person],
        protocol=protocol,
        purpose="" if protocol else scope,
        state=state,
        expires_on=expires_on,
        recorded_by_id=world.colleague_id,
        recorded_by_agency=world.agencies[recorded_by],
        recorded_at=recorded_at,
        replaces=replaces,
    )
    record.agencies.set([world.agencies[a] for a in agencies])
    # Not confirmed: declined by the police, not yet answered by CSC.
    ConsentConfirmation.objects.bulk_create(
        ConsentConfirmation(
            record=record,
            agency=world.agencies[a],
            outcome=ConfirmationOutcome.CONFIRMED
            if a in confirmed
            else ConfirmationOutcome.DECLINED,
            by_id=world.colleague_id,
        )
        for a in agencies
        if a != recorded_by and (a in confirmed or a == "police")
    )
    return record


def override_create(
    world: World,
    *,
    person: str,
    who: str,
    agency: str,
    role: str,
    protocol: Protocol,
    started_at: datetime,
    hours: int,
    ended_at: datetime | None = None,
    datasets: Iterable[str] = ("csc", "police"),
    version: str = "live",
) -> SafeguardingOverride:
    """An override under the protocol's version in force (or its latest), or for "other" under
    another version of it, since replaced, opening `datasets`."""
    if version == "live":
        made_under = protocol.versions.order_by(
            models.Case(
                models.When(status=VersionStatus.ACTIVE, then=0),
                models.When(status=VersionStatus.SUSPENDED, then=1),
                default=2,
            ),
            "-number",
        ).first()
    else:
        made_under = ProtocolVersion.objects.create(
            protocol=protocol,
            number=protocol.versions.count() + 1,
            name=f"Protocol {protocol.pk}",
            purpose=Purpose.SAFEGUARDING,
            lawful_basis="UK GDPR Art 6(1)(e)",
            roles=list(ROLES),
            valid_from=TODAY - timedelta(days=2000),
            status=VersionStatus.SUPERSEDED,
            author_id=world.colleague_id,
        )
    return SafeguardingOverride.objects.create(
        person=world.people[person],
        user=holder_of(world, who),
        agency=world.agencies[agency],
        role=role,
        protocol=protocol,
        version=made_under,
        category=OverrideCategory.SIGNIFICANT_HARM,
        justification="Police report a risk of significant harm tonight.",
        hours=hours,
        started_at=started_at,
        expires_at=started_at + timedelta(hours=hours),
        ended_at=ended_at,
        dataset_ids=[world.datasets[d].pk for d in datasets],
    )


def case_build(world: World, case: Case) -> dict[int | str, Protocol]:
    """Write the case's protocols, permissions, unlocks, consent statements, overrides and user
    flags (inside scratch()). Returns the protocols by slot, and "other", nobody's."""
    protocols: dict[int | str, Protocol] = {}
    for slot in range(SLOTS):
        specs = [v for v in case.versions if v.slot == slot]
        if not specs:
            continue
        protocol = protocol_create(world)
        taken: set[str] = set()
        for number, spec in enumerate(specs, start=1):
            # A protocol has at most one live and one open version: extra ones were replaced.
            group = "live" if spec.status in LIVE else "open" if spec.status in OPEN else ""
            status = spec.status
            if group and group in taken:
                status = VersionStatus.SUPERSEDED
            taken.add(group)
            version_create(world, protocol, number, spec, status, TODAY)
        by = case.granted_by[slot] if case.granted_by else case.agency
        give(world, case.holders[slot], protocol, by)
        protocols[slot] = protocol
    protocols["other"] = protocol_unheld(world)
    for consent in case.consents:
        consent_create(
            world,
            person=consent.person,
            scope=protocols.get(consent.scope, protocols["other"])
            if isinstance(consent.scope, int) or consent.scope == "other"
            else consent.scope,
            agencies=consent.agencies,
            state=consent.state,
            recorded_at=NOW + consent.recorded,
            expires_on=None if consent.expires is None else TODAY + timedelta(days=consent.expires),
            recorded_by=consent.recorded_by,
            confirmed=consent.confirmed,
        )
    for override in case.overrides:
        override_create(
            world,
            person=override.person,
            who=override.who,
            agency=override.agency,
            role=override.role,
            protocol=protocols.get(override.slot, protocols["other"]),
            started_at=NOW + override.started,
            hours=override.hours,
            ended_at=None if override.ended is None else NOW + override.ended,
            datasets=override.datasets,
            version=override.version,
        )
    CaseUnlock.objects.bulk_create(
        CaseUnlock(user=holder_of(world, who), person=world.people[person], step="assessment")
        for who, person in case.unlocks
    )
    # Rolled back with the rest at the end of the example.
    if case.superuser:
        User.objects.filter(pk=world.user_id).update(is_superuser=True)
    if not case.membership_active:
        Membership.objects.filter(
            user_id=world.user_id, agency=world.agencies[case.agency], role=case.role
        ).update(is_active=False)
    return protocols


def membership_of(world: World, agency: str, role: str) -> Membership:
    return Membership.objects.get(user_id=world.user_id, agency=world.agencies[agency], role=role)


# The oracle -------------------------------------------------------------------------------------


@dataclass
class Expected:
    visible: set[int] = field(default_factory=set)
    record_person: dict[int, int] = field(default_factory=dict)  # covered records only
    # (record id, field key) shown -> sorted labels of the versions that grant it unheld.
    shown: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    values: dict[tuple[int, str], object] = field(default_factory=dict)
    # (record id, field key) granted only by held-back rules -> the reasons.
    withheld: dict[tuple[int, str], set[str]] = field(default_factory=dict)
    # person -> dataset -> (covered records, latest event date, labels, detail shown)
    involvements: dict[int, dict[int, tuple]] = field(default_factory=dict)
    versions: dict[int, set[int]] = field(default_factory=dict)
    staged_locked: dict[int, bool] = field(default_factory=dict)
    # person -> {(dataset, reason): (field keys, field labels, protocol labels, {protocol id:
    # label}, and for rules an override would lift {protocol id: longest override allowed} and
    # {protocol id: version in force})}, fields shown on another record of the dataset left out.
    withheld_summary: dict[int, dict[tuple[int, str], tuple]] = field(default_factory=dict)
    # person -> {(dataset, reason): what the deciding statements of the rules held there say};
    # the engine names one of them, or nothing when none has a statement.
    consent_texts: dict[int, dict[tuple[int, str], set[str]]] = field(default_factory=dict)
    # person -> {(version, dataset): the user's overrides in force made under the version and
    # opening the dataset, one of which lifted a consent hold on something shown}.
    overrides: dict[int, dict[tuple[int, int], set[int]]] = field(default_factory=dict)
    event_dates: dict[int, date | None] = field(default_factory=dict)  # records with detail
    not_shared: dict[int, int] = field(default_factory=dict)
    decrypted: set[int] = field(default_factory=set)
    # How the consent of rules needing it was decided, for the statistics.
    consent_outcomes: set[str] = field(default_factory=set)


@dataclass
class HeldEntry:
    """What the rules held back for one reason would show of a person's dataset."""

    keys: set[str] = field(default_factory=set)
    protocols: set[str] = field(default_factory=set)  # version labels
    protocol_labels: dict[int, str] = field(default_factory=dict)
    overridable: dict[int, int] = field(default_factory=dict)
    override_versions: dict[int, int] = field(default_factory=dict)
    texts: set[str] = field(default_factory=set)  # what the deciding statements say


OVERRIDE_SUFFIX = ", under your safeguarding override"


def _on(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def consent_text(statement: ConsentRecord, today: date) -> str:
    """What a withheld entry says of the statement that keeps consent from being given."""
    if statement.state == ConsentState.GIVEN and statement.expires_on is not None:
        if today > statement.expires_on:
            return f"Consent expired on {_on(statement.expires_on)}"
    word = {"given": "given", "refused": "refused", "withdrawn": "withdrawn"}[statement.state]
    return f"Consent {word} on {_on(timezone.localdate(statement.recorded_at))}"


def protocols_held(user: User, agency_id: int) -> set[int]:
    """Protocols the user holds use_protocol on, themselves or through a group, each with a
    grant of the same holder made by the agency they act for."""
    content_type = ContentType.objects.get_for_model(Protocol)
    permission = Permission.objects.get(content_type=content_type, codename="use_protocol")
    direct = {
        int(pk)
        for pk in UserObjectPermission.objects.filter(
            user=user, permission=permission, content_type=content_type
        ).values_list("object_pk", flat=True)
    } & set(
        ProtocolGrant.objects.filter(user=user, agency_id=agency_id).values_list(
            "protocol_id", flat=True
        )
    )
    grouped = {
        (group_id, int(pk))
        for group_id, pk in GroupObjectPermission.objects.filter(
            group__in=user.groups.all(), permission=permission, content_type=content_type
        ).values_list("group_id", "object_pk")
    } & set(
        ProtocolGrant.objects.filter(group__isnull=False, agency_id=agency_id).values_list(
            "group_id", "protocol_id"
        )
    )
    return direct | {pk for _, pk in grouped}


def dataset_shape(dataset_id: int) -> tuple[dict[str, str], set[str]]:
    """Field key -> label of every field any version of the dataset carried; event date keys."""
    labels: dict[str, str] = {}
    event_keys = set()
    for version in DatasetVersion.objects.filter(dataset_id=dataset_id).order_by("-number"):
        for column in version.columns:
            if column.get("identifier"):
                name = column["identifier"]
                labels.setdefault("identity:" + name, IDENTIFIER_FIELDS[name])
            elif column.get("type"):
                labels.setdefault(
                    "field:" + column["column"], column.get("label") or column["column"]
                )
        if version.event_date_column:
            event_keys.add("field:" + version.event_date_column)
    return labels, event_keys


def oracle(
    *, user: User, membership: Membership, persons: Iterable[Person], purpose: str, now: datetime
) -> Expected:
    expected = Expected()
    today = timezone.localdate(now)
    if not (membership.is_active and membership.agency_id and user.is_active):
        return expected
    applying = []
    for version in ProtocolVersion.objects.filter(
        protocol_id__in=protocols_held(user, membership.agency_id)
    ).prefetch_related("parties", "rules"):
        if (
            version.status == VersionStatus.ACTIVE
            and version.valid_from <= today
            and (version.valid_to is None or today <= version.valid_to)
            and version.purpose == purpose
            and membership.agency_id in {a.pk for a in version.parties.all()}
            and membership.role in version.roles
        ):
            applying.append(version)
    applying.sort(key=lambda v: v.pk)
    unlocked = set(CaseUnlock.objects.filter(user=user).values_list("person_id", flat=True))
    people = {p.pk for p in persons if p.is_active}
    shapes: dict[int, tuple[dict[str, str], set[str]]] = {}
    owner = dict(Dataset.objects.values_list("pk", "agency_id"))
    merged_into = dict(Person.objects.values_list("pk", "merged_into_id"))

    def now_is(person_id: int | None) -> int | None:
        """Whom, of the persons read, a statement about `person_id` is about: themselves, or
        the first reached through merges."""
        seen = set()
        while person_id is not None and person_id not in seen:
            if person_id in people:
                return person_id
            seen.add(person_id)
            person_id = merged_into[person_id]
        return None

    # Statements that decide (not "not sought"), whom they are about now, their agencies, and
    # the agencies that confirmed them.
    statements = [
        (
            c,
            now_is(c.person_id),
            {a.pk for a in c.agencies.all()},
            {
                f.agency_id
                for f in c.confirmations.all()
                if f.outcome == ConfirmationOutcome.CONFIRMED
            },
        )
        for c in ConsentRecord.objects.filter(
            state__in=[ConsentState.GIVEN, ConsentState.REFUSED, ConsentState.WITHDRAWN]
        ).prefetch_related("agencies", "confirmations")
    ]
    # The user's own overrides, made acting in this agency and role, in force now.
    in_force = [
        o
        for o in SafeguardingOverride.objects.all()
        if o.user_id == user.pk
        and o.agency_id == membership.agency_id
        and o.role == membership.role
        and o.ended_at is None
        and o.started_at <= now < o.expires_at
    ]

    def deciding(
        person_id: int, protocol_id: int, agency_id: int, at_once: bool
    ) -> ConsentRecord | None:
        """The latest statement about the person (or one merged into them) whose scope is the
        protocol or the purpose and which names the agency; "given" by another agency only if
        the agency confirmed it, or the protocol takes consent from others at once."""
        found = [
            c
            for c, about, agency_ids, confirmed in statements
            if about == person_id
            and (c.protocol_id == protocol_id if c.protocol_id else c.purpose == purpose)
            and agency_id in agency_ids
            and (
                c.state != ConsentState.GIVEN
                or c.recorded_by_agency_id == agency_id
                or at_once
                or agency_id in confirmed
            )
        ]
        return max(found, key=lambda c: (c.recorded_at, c.pk), default=None)

    def covers(dataset_rule: DatasetRule, record: SourceRecord) -> bool:
        if dataset_rule.dataset_id != record.dataset_id or dataset_rule.tier < Tier.KNOWN_TO:
            return False
        if dataset_rule.lookback_days is None:
            return True
        return record.event_date is not None and record.event_date >= today - timedelta(
            days=dataset_rule.lookback_days
        )

    def held_back(
        version: ProtocolVersion, dataset_rule: DatasetRule, person_id: int
    ) -> tuple[str, ConsentRecord | None, set[int]]:
        """For a rule at summary or full: the reason it is held ("" if not), the statement
        that decided consent when consent holds it, and the overrides that lift it."""
        if version.staged and person_id not in unlocked:
            return Withholding.ASSESSMENT, None, set()
        if dataset_rule.consent == ConsentRule.NONE:
            return "", None, set()
        statement = deciding(
            person_id,
            version.protocol_id,
            owner[dataset_rule.dataset_id],
            version.consent_from_others == ConsentFromOthers.AT_ONCE,
        )
        expected.consent_outcomes.add(statement.state if statement else "nothing recorded")
        if statement is not None and statement.state == ConsentState.GIVEN:
            if statement.expires_on is None or today <= statement.expires_on:
                return "", None, set()
            expected.consent_outcomes.add("expired")
        if dataset_rule.consent == ConsentRule.UNLESS_OVERRIDE and purpose == Purpose.SAFEGUARDING:
            # Made under this version, opening this dataset.
            lifting = {
                o.pk
                for o in in_force
                if o.person_id == person_id
                and o.version_id == version.pk
                and dataset_rule.dataset_id in o.dataset_ids
            }
            if lifting:
                return "", None, lifting
        return Withholding.CONSENT, statement, set()

    shown_datasets: dict[int, set[tuple[int, str]]] = {}  # person -> (dataset, key) shown
    held_summary: dict[int, dict[tuple[int, str], HeldEntry]] = {}
    links = LinkageRecord.objects.filter(person_id__in=people, record__is_retired=False)
    for link in links.select_related("record").order_by("record_id"):
        record, person_id = link.record, link.person_id
        covering = [(v, r) for v in applying for r in v.rules.all() if covers(r, record)]
        if not covering:
            continue
        if record.dataset_id not in shapes:
            shapes[record.dataset_id] = dataset_shape(record.dataset_id)
        labels, event_keys = shapes[record.dataset_id]
        expected.visible.add(person_id)
        expected.record_person[record.pk] = person_id
        expected.versions.setdefault(person_id, set()).update(v.pk for v, _ in covering)
        shown: dict[str, list[str]] = {}
        held: dict[str, set[str]] = {}
        for version, dataset_rule in covering:
            if dataset_rule.tier >= Tier.FULL:
                granted = set(labels)
            elif dataset_rule.tier >= Tier.SUMMARY:
                granted = set(dataset_rule.fields) & set(labels)
            else:
                continue
            reason, statement, lifting = held_back(version, dataset_rule, person_id)
            if reason == Withholding.ASSESSMENT and granted:
                # Only a staged rule that would show a field here asks for the assessment step.
                expected.staged_locked[person_id] = True
            label = version.label
            if lifting and granted:
                label += OVERRIDE_SUFFIX
                expected.overrides.setdefault(person_id, {})[
                    (version.pk, dataset_rule.dataset_id)
                ] = lifting
            if reason and granted:
                entry = held_summary.setdefault(person_id, {}).setdefault(
                    (record.dataset_id, reason), HeldEntry()
                )
                entry.keys.update(granted)
                entry.protocols.add(version.label)
                entry.protocol_labels[version.protocol_id] = version.label
                if (
                    reason == Withholding.CONSENT
                    and dataset_rule.consent == ConsentRule.UNLESS_OVERRIDE
                    and purpose == Purpose.SAFEGUARDING
                ):
                    entry.overridable[version.protocol_id] = version.override_max_hours
                    entry.override_versions[version.protocol_id] = version.pk
                if statement is not None:
                    entry.texts.add(consent_text(statement, today))
            for key in granted:
                if reason:
                    held.setdefault(key, set()).add(reason)
                else:
                    shown.setdefault(key, []).append(label)
        for key, by in shown.items():
            expected.shown[(record.pk, key)] = sorted(by)
            shown_datasets.setdefault(person_id, set()).add((record.dataset_id, key))
        for key, reasons in held.items():
            if key not in shown:
                expected.withheld[(record.pk, key)] = reasons
        involvements = expected.involvements.setdefault(person_id, {})
        count, latest, by, detail = involvements.get(record.dataset_id, (0, None, set(), False))
        if record.event_date and (latest is None or record.event_date > latest):
            latest = record.event_date
        involvements[record.dataset_id] = (
            count + 1,
            latest,
            by | {v.label for v, _ in covering},
            detail or bool(shown),
        )
        if shown:
            expected.event_dates[record.pk] = record.event_date if event_keys & set(shown) else None
            expected.not_shared[record.pk] = len(labels) - len(set(shown) | set(held))
            identity = {}
            if any(key.startswith("identity:") for key in shown):
                expected.decrypted.add(record.pk)
                identity = identity_open(
                    agency_id=record.dataset.agency_id,
                    dataset_id=record.dataset_id,
                    source_id=record.source_id,
                    blob=bytes(record.identity),
                )
            for key in shown:
                kind, name = key.split(":", 1)
                source = identity if kind == "identity" else record.payload
                expected.values[(record.pk, key)] = source.get(name)
    for person_id, entries in held_summary.items():
        for (dataset_id, reason), entry in entries.items():
            labels = shapes[dataset_id][0]
            left = {
                k for k in entry.keys if (dataset_id, k) not in shown_datasets.get(person_id, ())
            }
            if left:
                expected.withheld_summary.setdefault(person_id, {})[(dataset_id, reason)] = (
                    left,
                    {labels[k] for k in left},
                    entry.protocols,
                    entry.protocol_labels,
                    entry.overridable,
                    entry.override_versions,
                )
                expected.consent_texts.setdefault(person_id, {})[(dataset_id, reason)] = entry.texts
    for involvements in expected.involvements.values():
        for dataset_id, (count, latest, by, detail) in involvements.items():
            involvements[dataset_id] = (count, latest, sorted(by), detail)
    return expected


# Comparing the engine with the oracle -----------------------------------------------------------


def mismatches(views: dict, expected: Expected, decrypted: list[int]) -> list[str]:
    """Every way the engine's answer differs from the oracle's; empty when they agree."""
    problems: list[str] = []

    def check(what: str, got, want) -> None:
        if got != want:
            problems.append(f"{what}: engine {got!r}, oracle {want!r}")

    check("visible persons", set(views), expected.visible)
    shown: dict[tuple[int, str], list[str]] = {}
    values: dict[tuple[int, str], object] = {}
    withheld: dict[tuple[int, str], str] = {}
    for person_id, view in views.items():
        check(f"person {person_id} view is theirs", view.person.pk, person_id)
        for record in view.records:
            check(
                f"record {record.record_id} belongs to person {person_id}",
                expected.record_person.get(record.record_id),
                person_id,
            )
            check(f"record {record.record_id} has a shown field", bool(record.shown_fields), True)
            for f in record.fields:
                key = (record.record_id, f.key)
                if key in shown or key in withheld:
                    problems.append(f"{key} appears twice (shown and/or withheld)")
                if f.shown:
                    shown[key] = sorted(f.allowed_by)
                    values[key] = f.value
                else:
                    withheld[key] = f.withheld
                    check(f"{key} withheld carries no value", f.value, None)
            check(
                f"record {record.record_id} event date",
                record.event_date,
                expected.event_dates.get(record.record_id),
            )
            check(
                f"record {record.record_id} not shared",
                record.not_shared,
                expected.not_shared.get(record.record_id),
            )
        check(
            f"person {person_id} involvements",
            {
                i.dataset_id: (i.records, i.latest, sorted(i.allowed_by), i.detail_shown)
                for i in view.involvements
            },
            expected.involvements.get(person_id, {}),
        )
        check(f"person {person_id} versions", view.versions, expected.versions.get(person_id))
        check(
            f"person {person_id} staged_locked",
            view.staged_locked,
            expected.staged_locked.get(person_id, False),
        )
        check(
            f"person {person_id} withheld summary",
            {
                (w.dataset_id, w.reason): (
                    set(w.field_keys),
                    set(w.field_labels),
                    set(w.protocols),
                    {pid: w.protocol_labels.get(pid) for pid in w.protocol_ids},
                    w.overridable,
                    w.override_versions,
                )
                for w in view.withheld
            },
            expected.withheld_summary.get(person_id, {}),
        )
        for w in view.withheld:
            texts = expected.consent_texts.get(person_id, {}).get((w.dataset_id, w.reason), set())
            if w.consent_text not in texts and (w.consent_text or texts):
                problems.append(
                    f"person {person_id} dataset {w.dataset_id} {w.reason} consent text: "
                    f"engine {w.consent_text!r}, oracle one of {sorted(texts)}"
                )
        # An override for each (version, dataset) whose consent hold one lifted, and no other.
        lifting = expected.overrides.get(person_id, {})
        stray = view.overrides - set().union(*lifting.values())
        if stray:
            problems.append(f"person {person_id} overrides {sorted(stray)} lifted nothing")
        for (version_id, dataset_id), pks in lifting.items():
            if not pks & view.overrides:
                problems.append(
                    f"person {person_id}: none of overrides {sorted(pks)}, which lift version "
                    f"{version_id} on dataset {dataset_id}, in {sorted(view.overrides)}"
                )
    extra = sorted(set(shown) - set(expected.shown))
    missing = sorted(set(expected.shown) - set(shown))
    if extra:
        problems.append(f"shown though no applicable protocol grants them unheld: {extra}")
    if missing:
        problems.append(f"granted unheld by an applicable protocol but not shown: {missing}")
    for key in set(shown) & set(expected.shown):
        check(f"{key} allowed_by", shown[key], expected.shown[key])
        check(f"{key} value", values[key], expected.values[key])
    # A record is listed only when it shows something; its withheld fields are then listed too.
    listed = {record_id for record_id, _ in shown}
    check(
        "withheld fields of listed records",
        set(withheld),
        {k for k in expected.withheld if k[0] in listed},
    )
    for key, reason in withheld.items():
        if reason not in expected.withheld.get(key, ()):
            problems.append(f"{key} withheld for {reason!r}, oracle {expected.withheld.get(key)}")
    check("records whose identity was opened", set(decrypted), expected.decrypted)
    if len(decrypted) != len(set(decrypted)):
        problems.append(f"identity opened more than once for a record: {sorted(decrypted)}")
    return problems


def read_and_compare(
    world: World, *, membership: Membership, purpose: str, now: datetime
) -> tuple[list[str], Expected]:
    user = world.user()
    world.decrypted.clear()
    views = disclose(
        user=user, membership=membership, persons=world.persons, purpose=purpose, now=now
    )
    decrypted = list(world.decrypted)
    expected = oracle(
        user=user, membership=membership, persons=world.persons, purpose=purpose, now=now
    )
    problems = mismatches(views, expected, decrypted)
    # The retired record is never in a view, whatever protocol applies.
    for view in views.values():
        if any(r.record_id == world.retired_id for r in view.records):
            problems.append("the retired record is shown")
    return problems, expected


def case_compare(world: World, case: Case) -> tuple[list[str], Expected]:
    with scratch():
        case_build(world, case)
        return read_and_compare(
            world,
            membership=membership_of(world, case.agency, case.role),
            purpose=case.purpose,
            now=NOW,
        )


FIXTURE_SETTINGS = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# 1. Random protocols, one read ------------------------------------------------------------------


@settings(max_examples=300, **FIXTURE_SETTINGS)
@given(case=cases())
def test_engine_discloses_exactly_what_the_oracle_allows(world, case):
    problems, expected = case_compare(world, case)
    assert not problems, "\n".join(problems)
    # How often the interesting outcomes come up (pytest --hypothesis-show-statistics).
    event(f"persons visible: {len(expected.visible)}")
    event(f"fields shown: {'some' if expected.shown else 'none'}")
    reasons = set().union(*expected.withheld.values()) if expected.withheld else set()
    for reason in sorted(reasons) or ["nothing"]:
        event(f"withheld: {reason}")
    if any(len(labels) > 1 for labels in expected.shown.values()):
        event("a field shown under several protocols")
    for outcome in sorted(expected.consent_outcomes):
        event(f"consent decided: {outcome}")
    if expected.overrides:
        event("an override lifted a consent hold")


# 2. An override never shows more than consent would -------------------------------------------


def shown_values(views: dict) -> dict[tuple[int, str], object]:
    return {
        (r.record_id, f.key): f.value
        for view in views.values()
        for r in view.records
        for f in r.shown_fields
    }


def override_widening(world: World, case: Case) -> tuple[list, bool]:
    """What the user sees in the case's world, with its overrides, that they would not see in
    the same world with no overrides and consent given, without expiry, by every person under
    every protocol about every agency; and whether an override lifted anything."""

    def read() -> dict:
        return disclose(
            user=world.user(),
            membership=membership_of(world, case.agency, case.role),
            persons=world.persons,
            purpose=case.purpose,
            now=NOW,
        )

    with scratch():
        case_build(world, case)
        views = read()
        with_overrides = shown_values(views)
        lifted = any(view.overrides for view in views.values())
        SafeguardingOverride.objects.all().delete()
        for protocol in Protocol.objects.all():
            for person in PERSONS:
                # Recorded at the read, after every statement of the case: it decides.
                consent_create(
                    world,
                    person=person,
                    scope=protocol,
                    agencies=["csc", "police"],
                    state=ConsentState.GIVEN,
                    recorded_at=NOW,
                    expires_on=None,
                )
        views = read()
        with_consent = shown_values(views)
        assert not any(view.overrides for view in views.values())
    widened = sorted(
        (key, value)
        for key, value in with_overrides.items()
        if key not in with_consent or with_consent[key] != value
    )
    return widened, lifted


@settings(max_examples=100, **FIXTURE_SETTINGS)
@given(case=st.sampled_from([OVERRIDES, OVERRIDES, CONSENT, ANY]).flatmap(cases))
def test_an_override_never_shows_more_than_consent_would(world, case):
    widened, lifted = override_widening(world, case)
    assert not widened, f"shown under an override but not with consent: {widened}"
    event(f"an override lifted something: {lifted}")


# 3. A state machine: grants, statuses, unlocks, consent, overrides and the clock between reads -


class DisclosureMachine(RuleBasedStateMachine):
    """Each step changes one thing; after every step (the invariant) the user reads everyone
    and the engine is compared with the oracle.

    SECURITY.md asks for a state machine that grants, revokes and withdraws consent between
    reads: here consent is given, refused, withdrawn or recorded as not sought (for a protocol or
    a purpose, about some agencies), overrides start and end, and the clock moves past their
    expiry. A withdrawal must hold from the very next read.
    """

    world: World  # set by the test before running

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.protocols: list[Protocol] = []
        self.now = NOW
        self.agency = "csc"
        self.role = Role.PRACTITIONER
        self.purpose = Purpose.SAFEGUARDING
        self.given: list[ConsentRecord] = []

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize(
        specs=st.lists(
            # Mostly in force for the first acting role, given to the user or their group.
            st.tuples(
                version_specs(slot=0, spoils=[None] * 12 + SPOILS[10:], rules=machine_rules),
                st.sampled_from(["user", "user", "group", "none"]),
                GRANTED_BY,
            ),
            min_size=1,
            max_size=SLOTS,
        )
    )
    def protocols_given(self, specs):
        for spec, holder, by in specs:
            protocol = protocol_create(self.world)
            version_create(self.world, protocol, 1, spec, spec.status, NOW.date())
            give(self.world, holder, protocol, by)
            self.protocols.append(protocol)

    @rule(index=st.integers(0, SLOTS - 1), holder=holders, by=GRANTED_BY)
    def grant(self, index, holder, by):
        give(self.world, holder, self.protocols[index % len(self.protocols)], by)

    @rule(index=st.integers(0, SLOTS - 1), holder=st.sampled_from(["user", "group", "global"]))
    def revoke(self, index, holder):
        if holder == "global":
            remove_perm("protocols.use_protocol", self.world.user_row)
        else:
            remove_perm(
                "protocols.use_protocol",
                holder_of(self.world, holder),
                self.protocols[index % len(self.protocols)],
            )

    @rule(index=st.integers(0, SLOTS - 1))
    def suspend(self, index):
        ProtocolVersion.objects.filter(
            protocol=self.protocols[index % len(self.protocols)], status=VersionStatus.ACTIVE
        ).update(status=VersionStatus.SUSPENDED)

    @rule(index=st.integers(0, SLOTS - 1))
    def resume(self, index):
        ProtocolVersion.objects.filter(
            protocol=self.protocols[index % len(self.protocols)], status=VersionStatus.SUSPENDED
        ).update(status=VersionStatus.ACTIVE)

    @rule(index=st.integers(0, SLOTS - 1))
    def withdraw(self, index):
        ProtocolVersion.objects.filter(
            protocol=self.protocols[index % len(self.protocols)], status__in=LIVE
        ).update(status=VersionStatus.WITHDRAWN)

    @rule(index=st.integers(0, SLOTS - 1), spec=version_specs(slot=0, rules=machine_rules))
    def new_version_in_force(self, index, spec):
        """A new version is approved: it replaces the live one, with different rules. An
        override made under the old one lifts nothing under it."""
        protocol = self.protocols[index % len(self.protocols)]
        protocol.versions.filter(status__in=LIVE).update(status=VersionStatus.SUPERSEDED)
        number = protocol.versions.count() + 1
        version_create(self.world, protocol, number, spec, VersionStatus.ACTIVE, NOW.date())

    @rule(who=st.sampled_from(["user", "user", "colleague"]), person=st.sampled_from(PERSONS))
    def unlock(self, who, person):
        CaseUnlock.objects.get_or_create(
            user=holder_of(self.world, who),
            person=self.world.people[person],
            defaults={"step": "initial_assessment"},
        )

    @rule(joined=st.booleans())
    def group_membership(self, joined):
        if joined:
            self.world.user_row.groups.add(self.world.group)
        else:
            self.world.user_row.groups.remove(self.world.group)

    @rule(days=st.sampled_from([0, -1, 1, -60, 30, 120, -400, 400]))
    def date_moves(self, days):
        """Time passes (or a read is replayed): versions come into force and expire, records
        age past their look-back."""
        self.now = NOW + timedelta(days=days)

    @rule(
        agency=st.sampled_from(["csc", "police"]),
        role=st.sampled_from(ROLES),
        purpose=purposes,
    )
    def user_acts_as(self, agency, role, purpose):
        self.agency, self.role, self.purpose = agency, role, purpose

    @rule(
        person=st.sampled_from(["alice", "alice", "bob", "carol", "alice_old", "alice_older"]),
        state=st.sampled_from([ConsentState.GIVEN] * 3 + list(ConsentState)),
        scope=st.sampled_from([0, 0, 1, 2, Purpose.SAFEGUARDING, Purpose.COMMISSIONING]),
        agencies=st.sampled_from([("csc", "police"), ("csc",), ("police",), ()]),
        expires=st.sampled_from([None, None, -1, 0, 1, 30]),
        backdated=st.sampled_from([0, 0, 0, 1, 7]),
        recorded_by=st.sampled_from(["csc", "csc", "police"]),
        confirmed=st.sampled_from(CONFIRMED),
    )
    def consent_recorded(
        self, person, state, scope, agencies, expires, backdated, recorded_by, confirmed
    ):
        """A statement of consent, perhaps entered days after it was made, by either agency,
        and confirmed by some of the agencies it names."""
        record = consent_create(
            self.world,
            person=person,
            scope=self.protocols[scope % len(self.protocols)] if isinstance(scope, int) else scope,
            agencies=agencies,
            state=state,
            recorded_at=self.now - timedelta(days=backdated),
            expires_on=None
            if expires is None
            else timezone.localdate(self.now) + timedelta(days=expires),
            recorded_by=recorded_by,
            confirmed=confirmed,
        )
        if state == ConsentState.GIVEN:
            self.given.append(record)

    @precondition(lambda self: self.given)
    @rule(index=st.integers(0, 20))
    def consent_withdrawn(self, index):
        """The person withdraws consent they gave: same scope and agencies, recorded now."""
        given = self.given.pop(index % len(self.given))
        consent_create(
            self.world,
            person=next(k for k, p in self.world.people.items() if p.pk == given.person_id),
            scope=given.protocol or given.purpose,
            agencies=[k for k, a in self.world.agencies.items() if a in given.agencies.all()],
            state=ConsentState.WITHDRAWN,
            recorded_at=self.now,
            expires_on=None,
            replaces=given,
        )

    @rule(
        person=st.sampled_from(["alice", "alice", "bob", "carol", "alice_old"]),
        who=st.sampled_from(["user", "user", "user", "colleague"]),
        agency=st.sampled_from(["acting"] * 3 + ["csc", "police"]),
        role=st.sampled_from(["acting"] * 3 + ROLES),
        index=st.integers(0, SLOTS - 1),
        hours=st.sampled_from([1, 24, 72]),
        datasets=st.sampled_from([("csc", "police")] * 3 + [("csc",), ("police",)]),
    )
    def override_started(self, person, who, agency, role, index, hours, datasets):
        """An override under the version in force, opening some datasets."""
        override_create(
            self.world,
            person=person,
            who=who,
            agency=self.agency if agency == "acting" else agency,
            role=self.role if role == "acting" else role,
            protocol=self.protocols[index % len(self.protocols)],
            started_at=self.now,
            hours=hours,
            datasets=datasets,
        )

    @rule(index=st.integers(0, 20))
    def override_ended(self, index):
        """An override ends early: the practitioner is done, or IG finds it not justified."""
        running = list(SafeguardingOverride.objects.filter(ended_at__isnull=True).order_by("pk"))
        if running:
            override = running[index % len(running)]
            override.ended_at = self.now
            override.save(update_fields=["ended_at"])

    @rule(hours=st.sampled_from([1, 23, 24, 71, 72, 73]))
    def clock_moves_on(self, hours):
        """Hours pass: overrides run out, and at midnight consent expires."""
        self.now += timedelta(hours=hours)

    @precondition(lambda self: self.protocols)
    @invariant()
    def read_matches_oracle(self):
        problems, expected = read_and_compare(
            self.world,
            membership=membership_of(self.world, self.agency, self.role),
            purpose=self.purpose,
            now=self.now,
        )
        assert not problems, "\n".join(problems)
        event(f"read: {'fields shown' if expected.shown else 'nothing shown'}")
        if expected.withheld:
            event("read: fields withheld")
        for outcome in sorted(expected.consent_outcomes):
            event(f"read: consent decided: {outcome}")
        if expected.overrides:
            event("read: an override lifted a consent hold")


MACHINE_SETTINGS = settings(max_examples=30, stateful_step_count=20, **FIXTURE_SETTINGS)


def test_reads_between_changes_match_the_oracle(world):
    DisclosureMachine.world = world
    run_state_machine_as_test(DisclosureMachine, settings=MACHINE_SETTINGS)


# 4. The comparisons are not vacuous: a broken engine fails them -----------------------------------


def staged_and_consent_case() -> Case:
    """A staged protocol at full for police (no unlock) and a summary of case notes needing
    consent: correct engines show nothing of either."""

    def in_force(slot: int, *, staged: bool, police=None, csc=None) -> VersionSpec:
        return VersionSpec(
            slot=slot,
            status=VersionStatus.ACTIVE,
            valid_from=-30,
            valid_to=None,
            purpose=Purpose.SAFEGUARDING,
            roles=(Role.PRACTITIONER,),
            parties=("csc", "police"),
            staged=staged,
            police=police,
            csc=csc,
        )

    return Case(
        versions=(
            in_force(0, staged=True, police=RuleSpec(Tier.FULL, ConsentRule.NONE, None, ())),
            in_force(
                1,
                staged=False,
                csc=RuleSpec(Tier.SUMMARY, ConsentRule.NEEDED, None, ("field:case_notes",)),
            ),
        ),
        holders=("user", "group", "none"),
        agency="csc",
        role=Role.PRACTITIONER,
        membership_active=True,
        superuser=False,
        unlocks=frozenset({("colleague", "alice")}),
        purpose=Purpose.SAFEGUARDING,
    )


def test_a_grant_is_caught_following_its_holder_into_another_agency(world, monkeypatch):
    """Given by the police's IG officer, a protocol opens nothing to the user acting for CSC
    (issue 20, finding 6); an engine that ignores which agency gave a grant fails the
    comparison."""
    case = replace(
        staged_and_consent_case(),
        versions=(
            VersionSpec(
                slot=0,
                status=VersionStatus.ACTIVE,
                valid_from=-30,
                valid_to=None,
                purpose=Purpose.SAFEGUARDING,
                roles=(Role.PRACTITIONER,),
                parties=("csc", "police"),
                staged=False,
                police=RuleSpec(Tier.FULL, ConsentRule.NONE, None, ()),
                csc=None,
            ),
        ),
        holders=("user", "none", "none"),
        granted_by=("police", "csc", "csc"),
    )
    problems, expected = case_compare(world, case)
    assert problems == [] and not expected.visible
    assert not case_compare(world, replace(case, granted_by=("both", "csc", "csc")))[0]

    class AnyAgency:
        """ProtocolGrant as an engine would read it that ignored the granting agency."""

        class objects:
            @staticmethod
            def filter(*args, **kwargs):
                kwargs.pop("agency_id", None)
                return ProtocolGrant.objects.filter(*args, **kwargs)

    monkeypatch.setattr(engine, "ProtocolGrant", AnyAgency)
    problems, _ = case_compare(world, case)
    assert any("visible persons" in p for p in problems)


def test_held_back_rules_are_caught_when_the_engine_ignores_them(world, monkeypatch):
    case = staged_and_consent_case()
    assert case_compare(world, case)[0] == []
    monkeypatch.setattr(engine, "_held_back", lambda grant, **_: engine._OPEN)
    problems, _ = case_compare(world, case)
    assert any("shown though no applicable protocol grants them unheld" in p for p in problems)
    alice_a1 = SourceRecord.objects.get(dataset=world.datasets["police"], source_id="A1").pk
    carol = SourceRecord.objects.get(dataset=world.datasets["csc"], source_id="S2").pk
    text = "\n".join(problems)
    assert f"({alice_a1}, 'field:summary')" in text  # staged, no unlock
    assert f"({carol}, 'field:case_notes')" in text  # consent needed


_grants_for = engine.grants_for
_held_back = engine._held_back
_overrides_active = engine.overrides_active


def _acting_as_practitioner(membership):
    if membership is None:
        return None
    copy = Membership(pk=membership.pk, user_id=membership.user_id, agency_id=membership.agency_id)
    copy.role, copy.is_active = Role.PRACTITIONER, membership.is_active
    return copy


def _consent_everywhere(*, person_ids, grants, purpose):
    given = ConsentStanding(ConsentState.GIVEN, TODAY, None)
    return {(p, g.protocol_id, g.agency_id): given for p in person_ids for g in grants}


def _overrides_for_every_consent_rule(**kw):
    """Overrides read for rules needing consent as well as for those yielding to one."""
    grants = [
        replace(g, consent=ConsentRule.UNLESS_OVERRIDE) if g.consent == ConsentRule.NEEDED else g
        for g in kw.pop("grants")
    ]
    return _overrides_active(grants=grants, **kw)


def _override_lifts_needed_too(grant, *, override, purpose, **kw):
    hold = _held_back(grant, override=override, purpose=purpose, **kw)
    if hold.reason == Withholding.CONSENT and override is not None and purpose == "safeguarding":
        return engine._Hold(override_id=override)
    return hold


def _override_lifts_assessment_too(grant, *, override, purpose, **kw):
    """The override checked before the assessment step of a staged protocol."""
    if override is not None and grant.consent == ConsentRule.UNLESS_OVERRIDE:
        if purpose == Purpose.SAFEGUARDING and grant.tier >= Tier.SUMMARY:
            return engine._Hold(override_id=override)
    return _held_back(grant, override=override, purpose=purpose, **kw)


def _overrides_of_anyone(*, user, **kw):
    """Every user's overrides count, as if each were the reader's."""
    found = {}
    for someone in User.objects.filter(pk__in=SafeguardingOverride.objects.values("user_id")):
        found.update(_overrides_active(user=someone, **kw))
    return found


def _overrides_opening_every_dataset(**kw):
    """An override opens every dataset its version covers, not only those it opened."""
    found = _overrides_active(**kw)
    datasets = {g.dataset_id for g in kw["grants"]}
    return {
        (person_id, version_id, dataset_id): pk
        for (person_id, version_id, _), pk in found.items()
        for dataset_id in datasets
    }


def _overrides_following_the_protocol(*, user, membership, person_ids, grants, purpose, now):
    """An override made under one version of a protocol lifts the datasets it opened under
    whichever version of it is in force."""
    if purpose != Purpose.SAFEGUARDING or membership is None:
        return {}
    found = {}
    for override in SafeguardingOverride.objects.filter(
        user_id=user.pk,
        agency_id=membership.agency_id,
        role=membership.role,
        person_id__in=list(person_ids),
        ended_at__isnull=True,
        started_at__lte=now,
        expires_at__gt=now,
    ):
        for g in grants:
            if g.protocol_id == override.protocol_id and g.dataset_id in override.dataset_ids:
                found[(override.person_id, g.version_id, g.dataset_id)] = override.pk
    return found


# Each mutant: the cases searched (the mix of test 1, its cases about consent or overrides, or
# those of them where the mutant could show), and what it breaks, as [(engine attribute,
# replacement)].
MUTANTS = {
    "staged and consent rules never held back": (
        None,
        [("_held_back", lambda grant, **_: engine._OPEN)],
    ),
    "consent taken as given": (None, [("consent_standings", _consent_everywhere)]),
    "look-back ignored": (None, [("Grant.covers", lambda self, event_date, today: True)]),
    "summary shows every field": (
        None,
        [
            (
                "Grant.detail_fields",
                lambda self, keys: keys if self.tier >= Tier.SUMMARY else frozenset(),
            )
        ],
    ),
    "the acting role ignored": (
        None,
        [
            (
                "grants_for",
                lambda **kw: _grants_for(
                    **{**kw, "membership": _acting_as_practitioner(kw["membership"])}
                ),
            )
        ],
    ),
    "override lifts NEEDED rules too": (
        OVERRIDES,
        [
            ("overrides_active", _overrides_for_every_consent_rule),
            ("_held_back", _override_lifts_needed_too),
        ],
    ),
    # Only "given" statements are read: a later refusal or withdrawal changes nothing.
    "refused/withdrawn ignored (any given counts)": (
        CONSENT,
        [("DECISIVE_STATES", (ConsentState.GIVEN,))],
    ),
    "expiry ignored": (
        CONSENT,
        [("ConsentStanding.given_on", lambda self, day: self.state == ConsentState.GIVEN)],
    ),
    "another user's override counts": (OVERRIDES, [("overrides_active", _overrides_of_anyone)]),
    "an override opens every dataset of its version": (
        OVERRIDES,
        [("overrides_active", _overrides_opening_every_dataset)],
    ),
    "an override follows its protocol to other versions": (
        cases(about=OVERRIDES).filter(lambda c: any(o.version != "live" for o in c.overrides)),
        [("overrides_active", _overrides_following_the_protocol)],
    ),
}


def mutate(monkeypatch, mutant: str) -> st.SearchStrategy[Case]:
    """Break the engine as `mutant` says; the cases to search."""
    search, patches = MUTANTS[mutant]
    for name, replacement in patches:
        target = engine
        if "." in name:
            owner, name = name.split(".")
            target = getattr(engine, owner)
        monkeypatch.setattr(target, name, replacement)
    return search if isinstance(search, st.SearchStrategy) else cases(about=search)


# Derandomized: each search draws the same cases every run, so it takes the same time and never
# fails by bad luck; a change to the strategies or the engine draws others.
MUTANT_SEARCH = settings(
    max_examples=1000,
    phases=[Phase.generate],
    database=None,
    derandomize=True,
    **FIXTURE_SETTINGS,
)


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_random_cases_catch_a_broken_engine(world, monkeypatch, mutant):
    """The random search of test 1, against an engine broken one way, soon finds a difference.
    (It stops at the first; 1000 is a bound, not what it takes.)"""
    search = mutate(monkeypatch, mutant)
    found = find(
        search,
        lambda case: bool(case_compare(world, case)[0]),
        settings=MUTANT_SEARCH,
    )
    assert case_compare(world, found)[0]


def test_random_cases_catch_an_override_that_widens_access(world, monkeypatch):
    """The search of test 2 (among its cases where the first protocol is staged), against an
    engine whose overrides also lift the assessment step (which consent never does), finds
    what an override widened."""
    monkeypatch.setattr(engine, "_held_back", _override_lifts_assessment_too)
    found = find(
        cases(about=OVERRIDES).filter(lambda case: case.versions[0].staged),
        lambda case: bool(override_widening(world, case)[0]),
        settings=MUTANT_SEARCH,
    )
    widened, lifted = override_widening(world, found)
    assert widened and lifted


def withdrawal_case() -> Case:
    """Full police detail needing consent, which Alice gave an hour before the read."""
    return Case(
        versions=(
            VersionSpec(
                slot=0,
                status=VersionStatus.ACTIVE,
                valid_from=-30,
                valid_to=None,
                purpose=Purpose.SAFEGUARDING,
                roles=(Role.PRACTITIONER,),
                parties=("csc", "police"),
                staged=False,
                police=RuleSpec(Tier.FULL, ConsentRule.NEEDED, None, ()),
                csc=None,
            ),
        ),
        holders=("user", "none", "none"),
        agency="csc",
        role=Role.PRACTITIONER,
        membership_active=True,
        superuser=False,
        unlocks=frozenset(),
        purpose=Purpose.SAFEGUARDING,
        consents=(
            ConsentSpec("alice", 0, ("police",), ConsentState.GIVEN, timedelta(hours=-1), None),
        ),
    )


def read_withdraw_read(world: World) -> tuple[list[str], list[str], Expected]:
    """Read, Alice withdraws her consent, read again: the problems of each read."""
    case = withdrawal_case()
    membership = membership_of(world, case.agency, case.role)
    with scratch():
        protocols = case_build(world, case)
        before, expected = read_and_compare(
            world, membership=membership, purpose=case.purpose, now=NOW
        )
        assert expected.shown, "Alice's police records are shown with her consent"
        consent_create(
            world,
            person="alice",
            scope=protocols[0],
            agencies=["police"],
            state=ConsentState.WITHDRAWN,
            recorded_at=NOW,
            expires_on=None,
        )
        after, expected = read_and_compare(
            world, membership=membership, purpose=case.purpose, now=NOW
        )
    return before, after, expected


def test_a_withdrawal_holds_from_the_next_read(world, monkeypatch):
    """Consent is read on every call: the read after a withdrawal holds the detail back. An
    engine that remembers a person's consent between calls fails the comparison there (the
    state machine of test 3 withdraws consent between reads at random)."""
    before, after, expected = read_withdraw_read(world)
    assert before == [] and after == []
    assert not expected.shown and expected.withheld

    remembered: dict = {}
    consent_standings = engine.consent_standings

    def consent_remembered(*, person_ids, grants, purpose):
        key = (tuple(sorted(person_ids)), purpose)
        if key not in remembered:
            remembered[key] = consent_standings(
                person_ids=person_ids, grants=grants, purpose=purpose
            )
        return remembered[key]

    monkeypatch.setattr(engine, "consent_standings", consent_remembered)
    before, after, _ = read_withdraw_read(world)
    assert before == []
    assert any("shown though no applicable protocol grants them unheld" in p for p in after)


# 5. Found by these tests (fixed): "today" is ShareHub's local date, not UTC's ----------------


def test_validity_dates_are_read_on_the_local_date(world):
    """00:30 on 2 June in London is 23:30 on 1 June UTC. A version valid to 1 June is shown as
    expired on its page from midnight, so it must disclose nothing then."""
    late = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)
    spec = VersionSpec(
        slot=0,
        status=VersionStatus.ACTIVE,
        valid_from=-30,
        valid_to=0,  # to 1 June
        purpose=Purpose.SAFEGUARDING,
        roles=(Role.PRACTITIONER,),
        parties=("csc", "police"),
        staged=False,
        police=None,
        csc=RuleSpec(Tier.FULL, ConsentRule.NONE, None, ()),
    )
    with scratch():
        protocol = protocol_create(world)
        version = version_create(world, protocol, 1, spec, spec.status, TODAY)
        give(world, "user", protocol)
        assert timezone.localdate(late) == date(2026, 6, 2)
        assert version.status_label_on(timezone.localdate(late)) == "Expired"
        views = disclose(
            user=world.user(),
            membership=membership_of(world, "csc", Role.PRACTITIONER),
            persons=world.persons,
            purpose=Purpose.SAFEGUARDING,
            now=late,
        )
        assert views == {}
