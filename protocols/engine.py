"""The disclosure engine: the one place that decides what a user may see of a person.

    disclose(user=, membership=, persons=, purpose=, now=) -> {person id: PersonView}
    disclose_or_deny(..., person=, action=, channel=)  the same, a refusal of `person` logged

Every page, API endpoint and export that shows person data asks here and shows what comes back,
nothing more. The decision, per record and field:

1. The protocols that apply are the user's (django-guardian `use_protocol`, given to them or to
   one of their groups, by an IG officer of the agency the user acts for: a ProtocolGrant names
   that agency) whose version is active and in force today, for this purpose, with the user's
   acting agency among its parties and their acting role among its roles.
2. A rule of one of those versions covers a record when it names the record's dataset and the
   record is within the rule's look-back.
3. A rule at "known to" or above makes the agency's involvement known, with the latest date.
4. A rule at summary discloses the fields it names; at full, every field of the dataset. Unless
   it is held back: a staged protocol before the user has recorded their assessment step for the
   person, or a rule needing consent that has not been given. A held-back rule discloses nothing
   beyond "known to", and what it would have shown is reported as withheld, with the reason.
5. Consent (consent.models.ConsentRecord) is the person's, per owning agency: for a rule of
   protocol P over agency A's dataset, read for purpose U, the latest given, refused or withdrawn
   statement about the person whose scope is P or U and which names A decides. Given and not past
   its expiry lifts the hold; anything else, or nothing recorded, keeps it. Read on every call,
   so a withdrawal holds from the next page load. A "given" statement recorded by another agency
   than A counts only once A has confirmed it, unless P's version chose that consent from others
   counts at once (ProtocolVersion.consent_from_others); until then it is as if not recorded.
6. A rule "needed unless override" also yields to the user's own safeguarding override
   (consent.models.SafeguardingOverride) for the person, held under that protocol version (made
   under it, or carried over to it when it was approved: consent.carry_over) and naming the
   rule's dataset, acting in the same agency and role, for the safeguarding purpose,
   until it expires or is ended. An override lifts only the consent hold: it shows what the rule
   shows with consent, never more, and never lifts a rule whose consent is simply "needed".
7. Several protocols: the union. Each shown field names every protocol that allowed it.

A person none of whose records is covered by any rule is not in the result: to the user they
do not exist (the views answer 404). Identity fields are decrypted only for records where a
rule discloses at least one of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property

from django.db.models import BigIntegerField, CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission

from agencies.models import Agency, Dataset, Membership
from audit.services import access_log_write
from consent.models import (
    DECISIVE_STATES,
    ConfirmationOutcome,
    ConsentConfirmation,
    ConsentRecord,
    ConsentState,
    SafeguardingOverride,
)
from core.purpose import Purpose
from matching.models import LinkageRecord, Person
from matching.persons import persons_merged_into
from matching.pseudonymise import identity_open
from protocols.fields import (
    IDENTITY,
    FieldInfo,
    catalogue_from_versions,
    dataset_versions,
    event_date_keys,
    identity_key,
)
from protocols.models import (
    CaseUnlock,
    ConsentFromOthers,
    ConsentRule,
    DatasetRule,
    ProtocolGrant,
    ProtocolVersion,
    Tier,
    VersionStatus,
    version_label,
)
from protocols.seals import open_to, sealed_from

USE_PROTOCOL = "protocols.use_protocol"


class Withholding:
    """Why a rule that would disclose a field is held back, and what the user can do."""

    ASSESSMENT = "assessment"
    CONSENT = "consent"

    TEXT = {
        ASSESSMENT: "Shared once you record that your own assessment step is done",
        CONSENT: "Consent needed",
    }


@dataclass(frozen=True)
class ConsentStanding:
    """The statement that decides consent for a person, protocol and owning agency."""

    state: str  # a decisive ConsentState
    recorded_on: date
    expires_on: date | None

    def given_on(self, day: date) -> bool:
        return self.state == ConsentState.GIVEN and (
            self.expires_on is None or day <= self.expires_on
        )

    def text_on(self, day: date) -> str:
        if self.state == ConsentState.GIVEN and not self.given_on(day):
            return f"Consent expired on {_day(self.expires_on)}"
        return f"Consent {ConsentState(self.state).label.lower()} on {_day(self.recorded_on)}"


def _day(day: date | None) -> str:
    return f"{day.day} {day:%B %Y}" if day else ""


@dataclass(frozen=True)
class Grant:
    """One rule of one in-force protocol version that the user holds."""

    version_id: int
    protocol_id: int
    protocol_reference: str
    label: str
    dataset_id: int
    agency_id: int
    tier: int
    fields: frozenset[str]
    consent: str
    lookback_days: int | None
    staged: bool
    override_max_hours: int = 0
    consent_from_others: str = ConsentFromOthers.OWNER_CONFIRMS

    def covers(self, event_date: date | None, today: date) -> bool:
        if self.lookback_days is None:
            return True
        return event_date is not None and event_date >= today - timedelta(days=self.lookback_days)

    def detail_fields(self, catalogue_keys: frozenset[str]) -> frozenset[str]:
        if self.tier >= Tier.FULL:
            return catalogue_keys
        if self.tier >= Tier.SUMMARY:
            return self.fields & catalogue_keys
        return frozenset()


@dataclass
class FieldView:
    key: str
    label: str
    value: object = None
    allowed_by: list[str] = field(default_factory=list)
    # The protocol version ids behind allowed_by, for the access log.
    allowed_versions: list[int] = field(default_factory=list)
    # Set when the field is withheld: the reason code and its text.
    withheld: str = ""
    # "identifier" or the column's type (date, category, number, boolean, text): how to read it.
    type: str = ""
    # The field's contact role (protocols.fields.FieldInfo.contact), "" for any other field: what
    # protocols.contacts reads who to contact from.
    contact: str = ""

    @property
    def shown(self) -> bool:
        return not self.withheld

    @property
    def withheld_text(self) -> str:
        return Withholding.TEXT.get(self.withheld, "")


@dataclass
class RecordView:
    record_id: int
    agency: Agency
    dataset_id: int
    dataset_name: str
    # The event date, only when a field carrying it is shown; the timeline sorts by it.
    event_date: date | None
    fields: list[FieldView]
    # The labels of the dataset's fields no protocol of the user discloses, in the dataset's
    # order: the dataset's shape, which any holder of a rule over it may know, not the record's.
    not_shared_labels: list[str] = field(default_factory=list)
    # Set by a preview of a real person (protocols.preview) on another agency's records, whose
    # values and dates it replaces with placeholders.
    masked: bool = False

    @property
    def not_shared(self) -> int:
        return len(self.not_shared_labels)

    @property
    def shown_fields(self) -> list[FieldView]:
        return [f for f in self.fields if f.shown]

    @property
    def withheld_fields(self) -> list[FieldView]:
        return [f for f in self.fields if not f.shown]


@dataclass
class Involvement:
    """ "Known to": an agency dataset holds records of the person; the latest event date."""

    agency: Agency
    dataset_id: int
    dataset_name: str
    latest: date | None
    records: int
    allowed_by: list[str]
    detail_shown: bool
    # The records behind it, for linkage's account of how each joined the person (matching.
    # confidence); never shown as such.
    record_ids: list[int] = field(default_factory=list)
    # Set by a preview of a real person on another agency's involvement (see RecordView.masked).
    masked: bool = False


@dataclass
class Withheld:
    """Detail of a dataset that a rule would show, held back, once per dataset and reason."""

    agency: Agency
    dataset_id: int
    dataset_name: str
    reason: str
    field_labels: list[str]
    field_keys: list[str] = field(default_factory=list)
    # Each protocol's label by id, in the order the rules came (two protocols may share a name
    # and number, so the labels alone cannot say which protocol).
    protocol_labels: dict[int, str] = field(default_factory=dict)
    # For consent: what the record says (refused, withdrawn, expired), "" when nothing is.
    consent_text: str = ""
    # For consent: the protocols whose rule here yields to a safeguarding override, and the
    # longest override each allows, {protocol id: hours}, with the version in force of each,
    # {protocol id: version id}. Empty outside safeguarding.
    overridable: dict[int, int] = field(default_factory=dict)
    override_versions: dict[int, int] = field(default_factory=dict)

    @property
    def reason_text(self) -> str:
        return Withholding.TEXT[self.reason]

    @property
    def protocols(self) -> list[str]:
        """The labels of the protocols holding it back, each once."""
        return list(dict.fromkeys(self.protocol_labels.values()))

    @property
    def protocol_ids(self) -> list[int]:
        return list(self.protocol_labels)


@dataclass
class PersonView:
    person: Person
    purpose: str
    involvements: list[Involvement]
    records: list[RecordView]
    withheld: list[Withheld]
    versions: set[int]
    staged_locked: bool  # a staged protocol is holding detail back until the assessment step
    # The user's safeguarding overrides that lifted a consent hold on something shown.
    overrides: set[int] = field(default_factory=set)
    # {dataset id: records a rule of the user's would cover but a seal keeps from them}
    # (protocols.seals). Never shown on a summary, where a sealed record does not exist: for a
    # protocol preview to say what is sealed. Only another agency's records are ever counted.
    sealed: dict[int, int] = field(default_factory=dict)

    @cached_property
    def shown_keys(self) -> dict[int, frozenset[str]]:
        """{record id: the keys of its fields shown}, worked out once per view."""
        return {r.record_id: frozenset(f.key for f in r.fields if f.shown) for r in self.records}

    def disclosed_by(self) -> dict[int, dict[str, list[int]]]:
        """{record id: {field key: protocol version ids that allowed it}}: what the log keeps."""
        return {
            r.record_id: {f.key: f.allowed_versions for f in r.fields if f.shown}
            for r in self.records
        }

    def _most_common(self, key: str) -> str:
        values = [
            str(f.value)
            for r in self.records
            for f in r.fields
            if f.key == key and f.shown and f.value not in (None, "")
        ]
        return Counter(values).most_common(1)[0][0] if values else ""

    @property
    def name(self) -> str:
        """The person's name as most records give it, when a protocol discloses names."""
        return " ".join(
            part
            for part in (
                self._most_common(identity_key("forename")),
                self._most_common(identity_key("surname")),
            )
            if part
        )

    @property
    def date_of_birth(self) -> str:
        return self._most_common(identity_key("date_of_birth"))

    def timeline(self) -> list[RecordView]:
        dated = sorted(
            (r for r in self.records if r.event_date),
            key=lambda r: r.event_date or date.min,
            reverse=True,
        )
        return dated + [r for r in self.records if not r.event_date]


@dataclass
class _Shape:
    dataset: Dataset
    catalogue: list[FieldInfo]
    keys: frozenset[str]
    event_keys: frozenset[str]


def grants_for(*, user, membership: Membership | None, purpose: str, today: date) -> list[Grant]:
    """The rules of every protocol version that applies to `user` acting in `membership`.

    One query: read on every summary, search and list, so it goes straight to the rule rows
    rather than through guardian's get_objects_for_user (four queries). Only object permissions
    count, given to the user or to one of their groups; a global `use_protocol` (which nobody
    should hold) grants nothing, and a superuser holds only what they were given. Each counts
    only with a ProtocolGrant of the same holder naming the acting agency: an IG officer answers
    for their own agency's staff, so what they give does not follow a user who also works for
    another agency into their work there, nor a member of another agency added to a group.
    """
    if (
        membership is None
        or membership.agency_id is None
        or not membership.is_active
        or not user.is_authenticated
        or not user.is_active
    ):
        return []
    app_label, codename = USE_PROTOCOL.split(".")
    held = {
        "permission__codename": codename,
        "permission__content_type__app_label": app_label,
        "content_type__app_label": app_label,
        "content_type__model": "protocol",
    }
    # guardian keeps object ids as text; cast so the comparison is with the integer id.
    given_to_user = UserObjectPermission.objects.filter(user_id=user.pk, **held).values(
        id_=Cast("object_pk", BigIntegerField())
    )
    granted_to_user = ProtocolGrant.objects.filter(
        user_id=user.pk, agency_id=membership.agency_id
    ).values("protocol_id")
    # A group's grant: given by the acting agency to a group of the user's that holds it.
    granted_to_group = (
        ProtocolGrant.objects.filter(group__user=user.pk, agency_id=membership.agency_id)
        .filter(
            Exists(
                GroupObjectPermission.objects.filter(
                    group_id=OuterRef("group_id"),
                    object_pk=Cast(OuterRef("protocol_id"), CharField()),
                    **held,
                )
            )
        )
        .values("protocol_id")
    )
    rows = (
        DatasetRule.objects.filter(
            version__status=VersionStatus.ACTIVE,
            version__purpose=purpose,
            version__valid_from__lte=today,
            version__parties=membership.agency_id,
            tier__gt=Tier.HIDDEN,
        )
        .filter(Q(version__valid_to__isnull=True) | Q(version__valid_to__gte=today))
        .filter(
            (
                Q(version__protocol_id__in=given_to_user)
                & Q(version__protocol_id__in=granted_to_user)
            )
            | Q(version__protocol_id__in=granted_to_group)
        )
        .order_by("version_id", "dataset_id")
        .values_list(
            "version_id",
            "version__protocol_id",
            "version__protocol__reference",
            "version__name",
            "version__number",
            "version__roles",
            "version__staged",
            "dataset_id",
            "dataset__agency_id",
            "tier",
            "fields",
            "consent",
            "lookback_days",
            "version__override_max_hours",
            "version__consent_from_others",
        )
    )
    grants = []
    for (
        version_id,
        protocol_id,
        reference,
        name,
        number,
        roles,
        staged,
        dataset_id,
        agency_id,
        tier,
        fields,
        consent,
        lookback_days,
        override_max_hours,
        consent_from_others,
    ) in rows:
        if membership.role not in (roles or []):
            continue
        grants.append(
            Grant(
                version_id=version_id,
                protocol_id=protocol_id,
                protocol_reference=reference,
                label=version_label(name, number),
                dataset_id=dataset_id,
                agency_id=agency_id,
                tier=tier,
                fields=frozenset(fields or ()),
                consent=consent,
                lookback_days=lookback_days,
                staged=staged,
                override_max_hours=override_max_hours,
                consent_from_others=consent_from_others,
            )
        )
    return grants


def _needs_consent(grant: Grant) -> bool:
    return grant.tier >= Tier.SUMMARY and grant.consent != ConsentRule.NONE


def consent_standings(
    *, person_ids: Iterable[int], grants: list[Grant], purpose: str
) -> dict[tuple[int, int, int], ConsentStanding]:
    """{(person id, protocol id, agency id): the deciding statement}, for the rules that need
    consent; a key that is absent has no statement, which withholds.

    Two queries. Statements recorded for a person since merged into one of `person_ids`,
    directly or through a chain of merges, count for them: a merge says the two were one human
    all along. A "given" statement recorded by an agency other than the one whose records it is
    about counts for a protocol whose consent from others waits for the owner only once that
    agency confirmed it (consent.models.ConsentConfirmation); until then it is left out, as if
    not recorded, so the statement before it (or nothing) decides. Refusals and withdrawals
    count at once, whoever records them: they only ever withhold.
    """
    needing = [g for g in grants if _needs_consent(g)]
    ids = list(person_ids)
    if not needing or not ids:
        return {}
    protocol_ids = {g.protocol_id for g in needing}
    agency_ids = {g.agency_id for g in needing}
    at_once = {g.protocol_id for g in needing if g.consent_from_others == ConsentFromOthers.AT_ONCE}
    now_is = {pid: pid for pid in ids} | persons_merged_into(ids)
    # One row per statement and agency it names, read through the link table so that whether
    # that agency confirmed it comes in the same query.
    named = ConsentRecord.agencies.through
    # django-stubs cannot see the link table's fields or the annotation: checked by the tests.
    rows = (
        named.objects.filter(  # type: ignore[misc]
            Q(consentrecord__protocol_id__in=protocol_ids) | Q(consentrecord__purpose=purpose),
            consentrecord__person_id__in=list(now_is),
            consentrecord__state__in=DECISIVE_STATES,
            agency_id__in=agency_ids,
        )
        .annotate(
            confirmed=Exists(
                ConsentConfirmation.objects.filter(
                    record_id=OuterRef("consentrecord_id"),
                    agency_id=OuterRef("agency_id"),
                    outcome=ConfirmationOutcome.CONFIRMED,
                )
            )
        )
        .values_list(
            "consentrecord__person_id",
            "consentrecord__protocol_id",
            "agency_id",
            "consentrecord__state",
            "consentrecord__recorded_at",
            "consentrecord_id",
            "consentrecord__expires_on",
            "consentrecord__recorded_by_agency_id",
            "confirmed",
        )
    )
    latest: dict[tuple[int, int, int], tuple] = {}
    for person_id, protocol_id, agency_id, state, at, pk, expires_on, by, confirmed in rows:
        person = now_is[person_id]
        unconfirmed = state == ConsentState.GIVEN and by != agency_id and not confirmed
        # A purpose-wide statement speaks for every protocol of the purpose.
        for grant_protocol in protocol_ids if protocol_id is None else (protocol_id,):
            if unconfirmed and grant_protocol not in at_once:
                continue
            key = (person, grant_protocol, agency_id)
            if key not in latest or (at, pk) > latest[key][:2]:
                latest[key] = (at, pk, state, expires_on)
    return {
        key: ConsentStanding(state, timezone.localdate(at), expires_on)
        for key, (at, _, state, expires_on) in latest.items()
    }


def overrides_active(
    *,
    user,
    membership: Membership | None,
    person_ids: Iterable[int],
    grants: list[Grant],
    purpose: str,
    now: datetime,
) -> dict[tuple[int, int, int], int]:
    """{(person id, protocol version id, dataset id): override id} of the user's overrides in
    force at `now`, made acting in the same agency and role, where a rule would yield to one.

    An override lifts only what its reviewer is shown it opened: the datasets withheld when it
    began, under the version it is held under. A later version holds it only once approving
    that version carried it over (consent.carry_over); a dataset the protocol covers later
    needs an override of its own. One query, or none.
    """
    ids = list(person_ids)
    yielding = {g.version_id for g in grants if g.consent == ConsentRule.UNLESS_OVERRIDE}
    if (
        purpose != Purpose.SAFEGUARDING
        or not yielding
        or not ids
        or membership is None
        or membership.agency_id is None
    ):
        return {}
    rows = (
        SafeguardingOverride.objects.active_at(now)
        .filter(
            user_id=user.pk,
            agency_id=membership.agency_id,
            role=membership.role,
            person_id__in=ids,
            version_id__in=yielding,
        )
        .values_list("person_id", "version_id", "dataset_ids", "pk")
    )
    return {
        (person_id, version_id, dataset_id): pk
        for person_id, version_id, dataset_ids, pk in rows
        for dataset_id in dataset_ids or ()
    }


def disclose(
    *, user, membership: Membership | None, persons: Iterable[Person], purpose: str, now: datetime
) -> dict[int, PersonView]:
    """What `user`, acting in `membership` for `purpose` at `now`, may see of each of `persons`.

    Persons the user may not see at all are left out. A fixed number of queries whatever the
    number of persons or records.
    """
    people = {p.pk: p for p in persons if p.is_active}
    # The partnership's date, as the protocol pages read validity: at 00:30 in London in summer
    # the UTC date is still yesterday's.
    today = timezone.localdate(now)
    grants = grants_for(user=user, membership=membership, purpose=purpose, today=today)
    if not people or not grants:
        return {}
    by_dataset: dict[int, list[Grant]] = {}
    for grant in grants:
        by_dataset.setdefault(grant.dataset_id, []).append(grant)
    shapes = _shapes(by_dataset)
    rows = _record_rows(people, by_dataset, agency_id=membership.agency_id, today=today)  # type: ignore[union-attr]
    staged = any(g.staged for g in grants)
    unlocked = (
        set(
            CaseUnlock.objects.filter(user=user, person_id__in=list(people)).values_list(
                "person_id", flat=True
            )
        )
        if staged
        else set()
    )
    standings = consent_standings(person_ids=people, grants=grants, purpose=purpose)
    overrides = overrides_active(
        user=user,
        membership=membership,
        person_ids=people,
        grants=grants,
        purpose=purpose,
        now=now,
    )
    return _views(
        by_dataset=by_dataset,
        shapes=shapes,
        people=people,
        rows=rows,
        unlocked=unlocked,
        standings=standings,
        overrides=overrides,
        purpose=purpose,
        today=today,
    )


def _record_rows(
    people: dict[int, Person],
    by_dataset: dict[int, list[Grant]],
    *,
    agency_id: int | None,
    today: date,
    version_id: int | None = None,
):
    """The records of `people` in the datasets the grants name, as _views() reads them, each
    with whether it is sealed from a user acting for `agency_id` (protocols.seals; with
    `version_id`, that version's seals counted as if it were in force, for a preview)."""
    return (
        LinkageRecord.objects.filter(
            person_id__in=list(people),
            dataset_id__in=list(by_dataset),
            record__is_retired=False,
        )
        .annotate(sealed=sealed_from(agency_id, today=today, version_id=version_id))
        .order_by("record_id")
        .values_list(
            "person_id",
            "record_id",
            "dataset_id",
            "record__source_id",
            "record__identity",
            "record__payload",
            "record__event_date",
            "sealed",
        )
    )


def _views(
    *,
    by_dataset: dict[int, list[Grant]],
    shapes: dict[int, _Shape],
    people: dict[int, Person],
    rows: Iterable[tuple],
    unlocked: set[int],
    standings: dict[tuple[int, int, int], ConsentStanding],
    overrides: dict[tuple[int, int, int], int],
    purpose: str,
    today: date,
) -> dict[int, PersonView]:
    """The decision itself, shared by disclose() and the preview entry points below: what the
    grants show of each record row (person id, record id, dataset id, source id, sealed
    identity or an identity already open, payload, event date)."""
    builders: dict[int, _PersonBuilder] = {}
    sealed: dict[int, Counter[int]] = {}
    for person_id, record_id, dataset_id, source_id, identity, payload, event_date, seal in rows:
        shape = shapes[dataset_id]
        covering = [g for g in by_dataset[dataset_id] if g.covers(event_date, today)]
        if not covering:
            continue
        if seal:
            # Sealed from this user's agency under any protocol, consent or override: not even
            # "known to". Counted only for a preview (PersonView.sealed).
            sealed.setdefault(person_id, Counter())[dataset_id] += 1
            continue
        builder = builders.get(person_id)
        if builder is None:
            builder = builders[person_id] = _PersonBuilder(people[person_id], purpose, today)
        held = {
            g.version_id: _held_back(
                g,
                unlocked=person_id in unlocked,
                consent=standings.get((person_id, g.protocol_id, g.agency_id)),
                override=overrides.get((person_id, g.version_id, g.dataset_id)),
                purpose=purpose,
                today=today,
            )
            for g in covering
        }
        builder.add(
            shape=shape,
            grants=covering,
            held=held,
            record=_RecordData(record_id, source_id, identity, payload, event_date),
        )
    views = {person_id: builder.build() for person_id, builder in builders.items()}
    for person_id, view in views.items():
        view.sealed = dict(sealed.get(person_id, {}))
    return views


def disclose_view(
    *, user, membership: Membership | None, person: Person, purpose: str, now: datetime
) -> PersonView | None:
    """The one person's view, or None when the user may not see them (answer 404)."""
    return disclose(
        user=user, membership=membership, persons=[person], purpose=purpose, now=now
    ).get(person.pk)


def disclose_or_deny(
    *,
    user,
    membership: Membership | None,
    person: Person,
    purpose: str,
    now: datetime,
    action: str,
    channel: str,
    others: Iterable[Person] = (),
) -> dict[int, PersonView]:
    """disclose() of `person` and of `others` read with them (their household). When the user
    may not see `person`, what they attempted (`action`, an audit.models.READ_ACTIONS read) is
    logged as refused before the caller answers "not found": a refused read is on the record
    wherever it is made. What is shown is the caller's to log, since only it knows what it
    showed of the views."""
    views = disclose(
        user=user, membership=membership, persons=[person, *others], purpose=purpose, now=now
    )
    if person.pk not in views:
        access_log_write(
            user=user,
            membership=membership,
            action=action,
            channel=channel,
            purpose=purpose,
            person=person,
            found=False,
        )
    return views


def agencies_visible(
    *,
    user,
    membership: Membership | None,
    person_ids: Iterable[int],
    purpose: str,
    now: datetime,
) -> dict[int, set[int]]:
    """{person id: ids of the agencies the user may see are involved with them}, for those of
    `person_ids` the user may see at all (a rule covers one of their records). The same
    coverage test as disclose(), without reading or decrypting any record: one query for the
    grants and one per 5,000 persons. What "known to" would show, and nothing more.
    """
    ids = list(dict.fromkeys(person_ids))
    today = timezone.localdate(now)
    grants = grants_for(user=user, membership=membership, purpose=purpose, today=today)
    if not ids or not grants:
        return {}
    by_dataset: dict[int, list[Grant]] = {}
    for grant in grants:
        by_dataset.setdefault(grant.dataset_id, []).append(grant)
    visible: dict[int, set[int]] = {}
    for start in range(0, len(ids), 5000):
        rows = (
            LinkageRecord.objects.filter(
                person_id__in=ids[start : start + 5000],
                person__is_active=True,
                dataset_id__in=list(by_dataset),
                record__is_retired=False,
            )
            .filter(open_to(membership.agency_id, today=today))  # type: ignore[union-attr]
            .values_list("person_id", "dataset_id", "agency_id", "record__event_date")
        )
        for person_id, dataset_id, agency_id, event_date in rows:
            if any(g.covers(event_date, today) for g in by_dataset[dataset_id]):
                visible.setdefault(person_id, set()).add(agency_id)
    return visible


def persons_visible(
    *,
    user,
    membership: Membership | None,
    person_ids: Iterable[int],
    purpose: str,
    now: datetime,
) -> set[int]:
    """Which of `person_ids` the user may see at all: who an alert may go to (see
    agencies_visible)."""
    return set(
        agencies_visible(
            user=user, membership=membership, person_ids=person_ids, purpose=purpose, now=now
        )
    )


def identifiers_shown(
    *,
    user,
    membership: Membership | None,
    person_ids: Iterable[int],
    purpose: str,
    now: datetime,
    names: Iterable[str] = ("surname", "date_of_birth", "postcode"),
) -> dict[str, set[int]]:
    """{identifier name: ids of the records of `person_ids` whose value of it `user` is shown}
    for each of `names`: what a note the user writes may be screened against
    (matching.screening). Judging a note against a withheld identifier would answer "is this
    their date of birth?" for someone not shown it, so only what disclose() shows counts."""
    persons = Person.objects.filter(pk__in=list(person_ids))
    views = disclose(user=user, membership=membership, persons=persons, purpose=purpose, now=now)
    wanted = {identity_key(name): name for name in names}
    shown: dict[str, set[int]] = {name: set() for name in wanted.values()}
    for view in views.values():
        for record in view.records:
            for field_view in record.shown_fields:
                if field_view.key in wanted:
                    shown[wanted[field_view.key]].add(record.record_id)
    return shown


def finding_disclosed(view: PersonView, *, record_id: int, field_keys: Iterable[str]) -> bool:
    """Whether a derived fact about a record (a risk reason, an alert's cause) may be shown with
    `view`: only when every field it was derived from is shown of that record, so a score's
    reasons never say more than the record itself would."""
    shown = view.shown_keys.get(record_id)
    return shown is not None and all(key in shown for key in field_keys)


def link_review_identifiers_visible(*, user, review_permission: str) -> bool:
    """Whether a link reviewer sees the identifiers of the two records of a review item.

    Linkage review is its own purpose, not case work: a reviewer cannot judge "same person?"
    from weights alone, and sees the identifiers of the pair in front of them, never the case
    detail. It is decided here so that every disclosure of an identifier is decided in this
    module; the grant is the review permission (matching.review.reviewer_grant), held by people
    the partnership names for data quality.
    """
    return bool(user.is_authenticated and user.is_active and user.has_perm(review_permission))


def link_review_identities(*, user, review_permission: str, records) -> list[dict] | None:
    """The identifiers of a review item's two records, opened for a link reviewer to compare,
    or None when the user may not see them (link_review_identifiers_visible).

    Opened here so that every opening of a sealed identity for a reader is in this module; the
    caller (matching.review.identifier_comparison) shows whether each identifier agrees and how
    it differs, never the values.
    """
    if not link_review_identifiers_visible(user=user, review_permission=review_permission):
        return None
    return [
        identity_open(
            agency_id=record.dataset.agency_id,
            dataset_id=record.dataset_id,
            source_id=record.source_id,
            blob=bytes(record.identity),
        )
        for record in records
    ]


@dataclass(frozen=True)
class _Hold:
    """What stands between a covering rule and its fields: nothing (reason ""), or a reason."""

    reason: str = ""
    # Consent holds: the deciding statement, and which protocols an override would lift.
    consent: ConsentStanding | None = None
    overridable_hours: int = 0
    # Set when a consent hold was lifted by the user's override rather than by consent.
    override_id: int | None = None


_OPEN = _Hold()


def _held_back(
    grant: Grant,
    *,
    unlocked: bool,
    consent: ConsentStanding | None,
    override: int | None,
    purpose: str,
    today: date,
) -> _Hold:
    if grant.tier < Tier.SUMMARY:
        return _OPEN
    if grant.staged and not unlocked:
        return _Hold(Withholding.ASSESSMENT)
    if grant.consent == ConsentRule.NONE:
        return _OPEN
    if consent is not None and consent.given_on(today):
        return _OPEN
    yields = grant.consent == ConsentRule.UNLESS_OVERRIDE and purpose == Purpose.SAFEGUARDING
    if yields and override is not None:
        return _Hold(override_id=override)
    return _Hold(
        Withholding.CONSENT,
        consent=consent,
        overridable_hours=grant.override_max_hours if yields else 0,
    )


def _shapes(by_dataset: dict[int, list[Grant]]) -> dict[int, _Shape]:
    datasets = Dataset.objects.filter(pk__in=list(by_dataset)).select_related("agency")
    versions = dataset_versions(by_dataset)
    shapes = {}
    for dataset in datasets:
        found = versions.get(dataset.pk, [])
        catalogue = catalogue_from_versions(found)
        shapes[dataset.pk] = _Shape(
            dataset=dataset,
            catalogue=catalogue,
            keys=frozenset(f.key for f in catalogue),
            event_keys=event_date_keys(found),
        )
    return shapes


@dataclass
class _RecordData:
    record_id: int
    source_id: str
    identity: bytes | dict
    payload: dict
    event_date: date | None


class _PersonBuilder:
    def __init__(self, person: Person, purpose: str, today: date):
        self.person = person
        self.purpose = purpose
        self.today = today
        self.records: list[RecordView] = []
        self.involvements: dict[int, Involvement] = {}
        self.withheld: dict[tuple[int, str], Withheld] = {}
        self.versions: set[int] = set()
        self.staged_locked = False
        self.overrides: set[int] = set()

    def add(
        self, *, shape: _Shape, grants: list[Grant], held: dict[int, _Hold], record: _RecordData
    ):
        dataset = shape.dataset
        involvement = self.involvements.get(dataset.pk)
        if involvement is None:
            involvement = self.involvements[dataset.pk] = Involvement(
                agency=dataset.agency,
                dataset_id=dataset.pk,
                dataset_name=dataset.name,
                latest=None,
                records=0,
                allowed_by=[],
                detail_shown=False,
            )
        involvement.records += 1
        involvement.record_ids.append(record.record_id)
        if record.event_date and (
            involvement.latest is None or record.event_date > involvement.latest
        ):
            involvement.latest = record.event_date
        for grant in grants:
            if grant.label not in involvement.allowed_by:
                involvement.allowed_by.append(grant.label)
            self.versions.add(grant.version_id)

        shown_by: dict[str, list[str]] = {}
        shown_versions: dict[str, list[int]] = {}
        withheld_by: dict[str, str] = {}
        for grant in grants:
            granted = grant.detail_fields(shape.keys)
            hold = held[grant.version_id]
            reason = hold.reason
            label = grant.label
            if hold.override_id is not None and granted:
                label = f"{grant.label}, under your safeguarding override"
                self.overrides.add(hold.override_id)
            # In the dataset's own order, so withheld lists read like the record does.
            for info in shape.catalogue:
                if info.key not in granted:
                    continue
                if reason:
                    withheld_by.setdefault(info.key, reason)
                    self._withhold(shape, grant, hold, info)
                else:
                    shown_by.setdefault(info.key, []).append(label)
                    shown_versions.setdefault(info.key, []).append(grant.version_id)
            if reason == Withholding.ASSESSMENT and granted:
                self.staged_locked = True
        if not shown_by:
            return
        involvement.detail_shown = True
        identity: dict = {}
        if isinstance(record.identity, dict):
            # A preview's made-up person (disclose_synthetic): placeholders, nothing sealed.
            identity = record.identity
        elif any(key.startswith(IDENTITY) for key in shown_by):
            identity = identity_open(
                agency_id=dataset.agency_id,
                dataset_id=dataset.pk,
                source_id=record.source_id,
                blob=bytes(record.identity),
            )
        payload = record.payload or {}
        fields = []
        not_shared: list[str] = []
        for info in shape.catalogue:
            if info.key in shown_by:
                value = (identity if info.is_identity else payload).get(info.name)
                fields.append(
                    FieldView(
                        info.key,
                        info.label,
                        value,
                        shown_by[info.key],
                        shown_versions[info.key],
                        type=info.type,
                        contact=info.contact,
                    )
                )
            elif info.key in withheld_by:
                fields.append(
                    FieldView(info.key, info.label, withheld=withheld_by[info.key], type=info.type)
                )
            else:
                not_shared.append(info.label)
        del identity
        self.records.append(
            RecordView(
                record_id=record.record_id,
                agency=dataset.agency,
                dataset_id=dataset.pk,
                dataset_name=dataset.name,
                event_date=record.event_date if shape.event_keys & shown_by.keys() else None,
                fields=fields,
                not_shared_labels=not_shared,
            )
        )

    def _withhold(self, shape: _Shape, grant: Grant, hold: _Hold, info: FieldInfo) -> None:
        reason = hold.reason
        entry = self.withheld.get((shape.dataset.pk, reason))
        if entry is None:
            entry = self.withheld[(shape.dataset.pk, reason)] = Withheld(
                agency=shape.dataset.agency,
                dataset_id=shape.dataset.pk,
                dataset_name=shape.dataset.name,
                reason=reason,
                field_labels=[],
            )
        entry.protocol_labels.setdefault(grant.protocol_id, grant.label)
        if hold.consent is not None and not entry.consent_text:
            entry.consent_text = hold.consent.text_on(self.today)
        if hold.overridable_hours:
            entry.overridable[grant.protocol_id] = hold.overridable_hours
            entry.override_versions[grant.protocol_id] = grant.version_id
        if info.key not in entry.field_keys:
            entry.field_keys.append(info.key)
            entry.field_labels.append(info.label)

    def build(self) -> PersonView:
        shown = {(r.dataset_id, f.key) for r in self.records for f in r.fields if f.shown}
        withheld = []
        for entry in self.withheld.values():
            # A field another protocol shows for this dataset is not withheld from the user.
            kept = [
                (key, label)
                for key, label in zip(entry.field_keys, entry.field_labels, strict=True)
                if (entry.dataset_id, key) not in shown
            ]
            entry.field_keys = [key for key, _ in kept]
            entry.field_labels = [label for _, label in kept]
            if kept:
                withheld.append(entry)
        return PersonView(
            person=self.person,
            purpose=self.purpose,
            involvements=sorted(
                self.involvements.values(), key=lambda i: (i.agency.name, i.dataset_name)
            ),
            records=self.records,
            withheld=withheld,
            versions=self.versions,
            staged_locked=self.staged_locked,
            overrides=self.overrides,
        )


# Preview: what one version would show a holder, before it is in force (protocols.preview).
# The same decision as disclose(), with the grants made from the version rather than read from
# the user's permissions: an approver sees what practitioners will see, not an imitation.

# The reference a preview's made-up person is shown under: lower case, which matching never
# issues, so it can never be a real person's.
SYNTHETIC_REFERENCE = "example"


def version_grants(
    *, version: ProtocolVersion, role: str, agency_id: int, purpose: str
) -> list[Grant]:
    """The rules of `version` as grants_for() would give them to a holder of its protocol
    acting in `role` for `agency_id` for `purpose`, whatever the version's status and dates
    (a draft is previewed before it is in force). Nothing when the role or agency is not among
    the version's or the purpose is not its own, as grants_for() would count nothing."""
    if (
        role not in (version.roles or [])
        or purpose != version.purpose
        or not version.parties.filter(pk=agency_id).exists()
    ):
        return []
    rows = (
        DatasetRule.objects.filter(version=version, tier__gt=Tier.HIDDEN)
        .order_by("dataset_id")
        .values_list(
            "dataset_id", "dataset__agency_id", "tier", "fields", "consent", "lookback_days"
        )
    )
    return [
        Grant(
            version_id=version.pk,
            protocol_id=version.protocol_id,
            protocol_reference=version.protocol.reference,
            label=version.label,
            dataset_id=dataset_id,
            agency_id=dataset_agency_id,
            tier=tier,
            fields=frozenset(fields or ()),
            consent=consent,
            lookback_days=lookback_days,
            staged=version.staged,
            override_max_hours=version.override_max_hours,
            consent_from_others=version.consent_from_others,
        )
        for dataset_id, dataset_agency_id, tier, fields, consent, lookback_days in rows
    ]


def _grouped(grants: list[Grant]) -> dict[int, list[Grant]]:
    by_dataset: dict[int, list[Grant]] = {}
    for grant in grants:
        by_dataset.setdefault(grant.dataset_id, []).append(grant)
    return by_dataset


def disclose_as_holder(
    *,
    grants: list[Grant],
    persons: Iterable[Person],
    purpose: str,
    now: datetime,
    agency_id: int,
    version_id: int | None = None,
) -> dict[int, PersonView]:
    """What a holder of `grants` (version_grants) acting for `agency_id` would see of each of
    `persons`: their real records and real consent, with no assessment step recorded and no
    safeguarding override, which a new holder has not got; records sealed from that agency left
    out and counted (PersonView.sealed), with `version_id`'s seals counted as if it were in
    force. Persons the grants do not reach are left out."""
    people = {p.pk: p for p in persons if p.is_active}
    if not people or not grants:
        return {}
    by_dataset = _grouped(grants)
    today = timezone.localdate(now)
    return _views(
        by_dataset=by_dataset,
        shapes=_shapes(by_dataset),
        people=people,
        rows=_record_rows(
            people, by_dataset, agency_id=agency_id, today=today, version_id=version_id
        ),
        unlocked=set(),
        standings=consent_standings(person_ids=people, grants=grants, purpose=purpose),
        overrides={},
        purpose=purpose,
        today=today,
    )


def disclose_synthetic(
    *, grants: list[Grant], dataset_ids: Iterable[int], purpose: str, now: datetime
) -> PersonView | None:
    """What a holder of `grants` would see of a made-up person with one record, dated today, in
    each of `dataset_ids`, every field of it filled with a placeholder naming the field
    ("[Date of birth]"): the shape of what is shown, with no real person's data. Built in
    memory and never saved; no consent is recorded for it and no assessment step, so what
    waits for either shows as withheld. Each record's id is minus its dataset's, so that two
    versions previewed for the same made-up person name the same records. None when the
    grants reach none of the datasets."""
    by_dataset = _grouped(grants)
    wanted = sorted(set(dataset_ids) & set(by_dataset))
    if not wanted:
        return None
    shapes = _shapes({dataset_id: by_dataset[dataset_id] for dataset_id in wanted})
    person = Person(reference=SYNTHETIC_REFERENCE)
    today = timezone.localdate(now)
    rows = []
    for dataset_id in wanted:
        catalogue = shapes[dataset_id].catalogue
        identity = {f.name: f"[{f.label}]" for f in catalogue if f.is_identity}
        payload = {f.name: f"[{f.label}]" for f in catalogue if not f.is_identity}
        # Placeholders match no seal's value: which records a seal keeps from the holder is
        # shown beside the preview in words (protocols.seals.seal_lines), not as a record.
        rows.append((0, -dataset_id, dataset_id, "example", identity, payload, today, False))
    return _views(
        by_dataset=by_dataset,
        shapes=shapes,
        people={0: person},
        rows=rows,
        unlocked=set(),
        standings={},
        overrides={},
        purpose=purpose,
        today=today,
    ).get(0)
