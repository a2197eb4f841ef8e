"""Reading the audit trail: IG officers' searches, and access that looks unusual.

An IG officer reads the entries of people acting for their own agency: each agency answers for
its own staff. And, since each agency answers for its own records too, the reads of their
agency's records by anyone, whichever agency the reader acts for (`record_reads`).

Access is flagged for a look, not judged, on the same rules for both (`unusual_access` for the
agency's staff, `unusual_reads` for readers of its records):

- bursts: a user opening many more case summaries in a day than their usual daily count (the
  mean over the 30 days before), or `BURST_COUNT` or more within `BURST_MINUTES` minutes, which
  is what stepping through records one by one looks like;
- no recorded reason: a summary of a person about whom the reader had no alert, made no consent
  request and no safeguarding override. Often fine (a referral by phone), so it is listed for
  review, not refused;
- out of hours: a read before `WORKING_HOURS[0]` or from `WORKING_HOURS[1]` o'clock (local
  time), or at a weekend. Emergency duty teams work then, so again a look, not a verdict: one
  flag per reader and day, at their first such read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connections
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone

from agencies.models import Agency, Role
from alerts.models import AlertDelivery
from audit.models import AuditAction, AuditEntry, ReadFlag, RecordRead
from consent.models import ConsentRequest, SafeguardingOverride
from protocols.models import Protocol, ProtocolVersion

BURST_COUNT = 50
BURST_MINUTES = 10
DAILY_FACTOR = 3
DAILY_MINIMUM = 20
USUAL_DAYS = 30
WORKING_HOURS = (8, 18)  # local time, Monday to Friday


@dataclass
class AuditQuery:
    user: str = ""  # part of a name or email
    person: str = ""  # a ShareHub reference
    protocol: int | None = None  # a Protocol id: entries under any of its versions
    action: str = ""
    since: date | None = None
    until: date | None = None


def audit_entries(*, agency_id: int, query: AuditQuery) -> QuerySet[AuditEntry]:
    entries: QuerySet[AuditEntry] = AuditEntry.objects.filter(agency_id=agency_id)
    entries = entries.select_related("actor")
    if query.user:
        entries = entries.filter(
            Q(actor__email__icontains=query.user) | Q(actor__full_name__icontains=query.user)
        )
    if query.person:
        entries = entries.filter(person_reference=query.person.strip().upper())
    if query.protocol:
        entries = with_protocol(entries, query.protocol)
    if query.action:
        entries = entries.filter(action=query.action)
    if query.since:
        entries = entries.filter(at__date__gte=query.since)
    if query.until:
        entries = entries.filter(at__date__lte=query.until)
    return entries.order_by("-pk")


def protocol_choices(*, agency_id: int) -> list[tuple[int, str]]:
    """The protocols the agency is or was party to, as an IG officer knows them: the latest
    version's name and the reference ("MASH sharing (P89YNPET)"), by name."""
    latest: dict[int, tuple[int, str, str]] = {}
    for protocol_id, number, name, reference in ProtocolVersion.objects.filter(
        parties__pk=agency_id
    ).values_list("protocol_id", "number", "name", "protocol__reference"):
        if protocol_id not in latest or number > latest[protocol_id][0]:
            latest[protocol_id] = (number, name, reference)
    return sorted(
        ((pk, f"{name} ({reference})") for pk, (_, name, reference) in latest.items()),
        key=lambda choice: choice[1].lower(),
    )


def with_protocol(entries: QuerySet[AuditEntry], protocol_id: int) -> QuerySet[AuditEntry]:
    """Entries under any version of the protocol, and its changes that name no version (given
    to or taken from someone: detail["protocol"] holds its reference)."""
    protocol = Protocol.objects.filter(pk=protocol_id).first()
    if protocol is None:
        return entries.none()
    versions = list(protocol.versions.values_list("pk", flat=True))
    return with_protocol_versions(entries, versions, also=Q(detail__protocol=protocol.reference))


def with_protocol_versions(
    entries: QuerySet[AuditEntry], versions: list[int], *, also: Q | None = None
) -> QuerySet[AuditEntry]:
    """Entries whose protocol versions include any of `versions` (or that match `also`).
    PostgreSQL's jsonb containment where there is one; SQLite has no JSON containment (Django
    raises NotSupportedError), so there the array is read with json_each. Either way an exact
    element, never a substring (1 is not 11)."""
    versions = [int(v) for v in versions]
    match = also if also is not None else Q(pk__in=[])
    if connections[entries.db].vendor == "postgresql":
        for version in versions:
            match |= Q(protocol_versions__contains=[version])
        return entries.filter(match)
    if versions:
        # Only placeholders are joined in; the versions are bound parameters.
        placeholders = ", ".join(["%s"] * len(versions))
        has_version = RawSQL(  # noqa: S611  # nosec B611 - placeholders only; values bound
            "EXISTS (SELECT 1 FROM json_each(audit_auditentry.protocol_versions) AS v "  # noqa: S608
            f"WHERE v.type = 'integer' AND v.value IN ({placeholders}))",
            versions,
            output_field=BooleanField(),
        )
        entries = entries.alias(has_version=has_version)
        match |= Q(has_version=True)
    return entries.filter(match)


@dataclass
class Flag:
    kind: str
    actor_id: int
    actor: str
    detail: str
    at: datetime
    person_reference: str = ""
    reader_agency_id: int | None = None  # whom the reader acted for


def unusual_access(*, agency_id: int, now: datetime | None = None) -> list[Flag]:
    """Flags over the last day for the agency's staff."""
    now = now or timezone.now()
    since = now - timedelta(days=1)
    summaries = list(
        AuditEntry.objects.filter(
            agency_id=agency_id, action=AuditAction.SUMMARY, outcome="ok", at__gte=since
        )
        .select_related("actor")
        .order_by("at")
    )
    actors = {e.actor_id for e in summaries if e.actor_id is not None}
    usual = Counter(
        AuditEntry.objects.filter(
            agency_id=agency_id,
            action=AuditAction.SUMMARY,
            actor_id__in=actors,
            at__gte=since - timedelta(days=USUAL_DAYS),
            at__lt=since,
        ).values_list("actor_id", flat=True)
    )
    return _flags(summaries, usual, label=_staff_name, noun="case summaries")


def unusual_reads(*, agency_id: int, now: datetime | None = None) -> list[Flag]:
    """Flags over the last day for whoever read the agency's records, of any agency: the same
    rules, counted over the reads (case summaries, risk pages, alerts, searches, explain pages,
    exports) that showed its records."""
    now = now or timezone.now()
    since = now - timedelta(days=1)
    entries = [
        read.entry
        for read in RecordRead.objects.filter(
            agency_id=agency_id, at__gte=since, entry__actor__isnull=False
        )
        .select_related("entry", "entry__actor")
        .order_by("at", "pk")
    ]
    actors = {e.actor_id for e in entries}
    usual = Counter(
        RecordRead.objects.filter(
            agency_id=agency_id,
            entry__actor_id__in=actors,
            at__gte=since - timedelta(days=USUAL_DAYS),
            at__lt=since,
        ).values_list("entry__actor_id", flat=True)
    )
    return _flags(entries, usual, label=_reader_label(entries), noun="reads of your records")


def _staff_name(entry: AuditEntry) -> str:
    return (entry.actor.full_name or entry.actor.email) if entry.actor is not None else ""


def reader_label(name: str, role: str, agency: str) -> str:
    """A reader as the reads page names them everywhere (rows, flags, questions): name, role and
    agency. The owner agency's IG officer answers for its records, so sees who read them."""
    return ", ".join(part for part in (name or "Not signed in", role, agency) if part)


def _reader_label(entries: list[AuditEntry]):
    """Each entry's reader by reader_label, from one query for the agencies' names."""
    names: dict[int | None, str] = dict(
        Agency.objects.filter(pk__in={e.agency_id for e in entries}).values_list("pk", "name")
    )
    roles = dict(Role.choices)

    def label(entry: AuditEntry) -> str:
        return reader_label(
            _staff_name(entry),
            roles.get(entry.role, entry.role or "No role"),
            names.get(entry.agency_id, "No agency"),
        )

    return label


def _flags(entries: list[AuditEntry], usual: Counter, *, label, noun: str) -> list[Flag]:
    """Bursts, many in a day, and reads without a recorded reason, over `entries` (in time
    order, one reader's each counted apart); `usual` counts each reader's over USUAL_DAYS."""
    flags: list[Flag] = []
    by_actor: dict[int, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        if entry.actor_id is not None:
            by_actor[entry.actor_id].append(entry)
    window = timedelta(minutes=BURST_MINUTES)
    for actor_id, mine in by_actor.items():
        name = label(mine[0])
        start = 0
        for end, entry in enumerate(mine):
            while entry.at - mine[start].at > window:
                start += 1
            if end - start + 1 >= BURST_COUNT:
                flags.append(
                    Flag(
                        "burst",
                        actor_id,
                        name,
                        f"{end - start + 1} {noun} within {BURST_MINUTES} minutes",
                        entry.at,
                    )
                )
                break
        mean = usual.get(actor_id, 0) / USUAL_DAYS
        if len(mine) >= DAILY_MINIMUM and len(mine) > DAILY_FACTOR * mean:
            flags.append(
                Flag(
                    "many",
                    actor_id,
                    name,
                    f"{len(mine)} {noun} in the last day; usually {mean:.1f} a day",
                    mine[-1].at,
                )
            )
    flags.extend(_without_reason(entries, label))
    flags.extend(_out_of_hours(entries, label))
    agency_of = {e.actor_id: e.agency_id for e in entries}
    for flag in flags:
        flag.reader_agency_id = agency_of.get(flag.actor_id)
    return flags


def out_of_hours(at: datetime) -> bool:
    local = timezone.localtime(at)
    start, end = WORKING_HOURS
    return local.weekday() >= 5 or not start <= local.hour < end


def _out_of_hours(entries: list[AuditEntry], label) -> list[Flag]:
    flags = []
    seen = set()
    for entry in entries:
        if entry.actor_id is None or entry.actor_id in seen or not out_of_hours(entry.at):
            continue
        seen.add(entry.actor_id)
        flags.append(
            Flag(
                "out_of_hours",
                entry.actor_id,
                label(entry),
                f"{entry.get_action_display()} at {timezone.localtime(entry.at):%H:%M on %A}, "
                "outside working hours",
                entry.at,
            )
        )
    return flags


def read_reasons(pairs: set[tuple[int | None, str]]) -> dict[tuple[int, str], list[str]]:
    """What stood behind each (reader, person reference): an alert delivered to them about the
    person, a consent request or a safeguarding override of theirs; pairs with none are absent."""
    pairs = {(a, r) for a, r in pairs if a is not None and r}
    if not pairs:
        return {}
    references = {reference for _, reference in pairs}
    actors = {actor for actor, _ in pairs}
    found: dict[tuple[int, str], list[str]] = defaultdict(list)
    for label, rows in (
        (
            "an alert",
            AlertDelivery.objects.filter(
                membership__user_id__in=actors, alert__person__reference__in=references
            ).values_list("membership__user_id", "alert__person__reference"),
        ),
        (
            "a consent request",
            ConsentRequest.objects.filter(
                requested_by_id__in=actors, person__reference__in=references
            ).values_list("requested_by_id", "person__reference"),
        ),
        (
            "a safeguarding override",
            SafeguardingOverride.objects.filter(
                user_id__in=actors, person__reference__in=references
            ).values_list("user_id", "person__reference"),
        ),
    ):
        for key in set(rows):
            if key in pairs and label not in found[key]:
                found[key].append(label)
    return dict(found)


# An IG officer's "view as" preview of a real person is a read, but the protocol version they
# are reviewing stands behind it, as an alert or a consent request stands behind a summary.
PREVIEW_REASON = "a protocol version under review (preview)"


def reasons_behind(entry: AuditEntry, reasons: dict[tuple[int, str], list[str]]) -> list[str]:
    """What stood behind one read: the preview's protocol version, and the reader's alerts,
    consent requests and overrides about the person (`reasons` from read_reasons)."""
    found = list(reasons.get((entry.actor_id or 0, entry.person_reference), []))
    if entry.action == AuditAction.PROTOCOL_PREVIEW:
        found.insert(0, PREVIEW_REASON)
    return found


def _without_reason(entries: list[AuditEntry], label) -> list[Flag]:
    reasons = read_reasons({(e.actor_id, e.person_reference) for e in entries})
    flags = []
    seen = set()
    for entry in entries:
        key = (entry.actor_id, entry.person_reference)
        if not entry.person_reference or reasons_behind(entry, reasons) or key in seen:
            continue
        seen.add(key)
        flags.append(
            Flag(
                "no_reason",
                entry.actor_id or 0,
                label(entry),
                f"{entry.get_action_display()} of person {entry.person_reference}: no alert, "
                "consent request or override of theirs about this person",
                entry.at,
                entry.person_reference,
            )
        )
    return flags


# The audit actions that read records (the kinds of read an owner agency can filter by).
READ_KINDS = [
    AuditAction.SEARCH,
    AuditAction.SUMMARY,
    AuditAction.UNLOCK,
    AuditAction.OVERRIDE,
    AuditAction.RISK,
    AuditAction.ALERT,
    AuditAction.DRILLDOWN,
    AuditAction.EXPORT,
    AuditAction.REVIEW_READ,
]


@dataclass
class ReadsQuery:
    person: str = ""  # a ShareHub reference
    since: date | None = None
    until: date | None = None
    reader_agency: int | None = None
    reader: str = ""  # part of the reader's name or email
    kind: str = ""  # an AuditAction of READ_KINDS
    flagged_only: bool = False


def record_reads(*, agency_id: int, query: ReadsQuery | None = None) -> QuerySet[RecordRead]:
    """Reads of the agency's records by anyone, newest first, each annotated `flagged`: a flag
    told to the agency (ReadFlag) covers its reader, day and (for "no reason") person."""
    query = query or ReadsQuery()
    flags = ReadFlag.objects.filter(
        agency_id=agency_id, actor_id=OuterRef("entry__actor_id"), day=OuterRef("day")
    ).filter(Q(person_reference="") | Q(person_reference=OuterRef("entry__person_reference")))
    reads = (
        RecordRead.objects.filter(agency_id=agency_id)
        .select_related("entry", "entry__actor")
        .annotate(day=TruncDate("at"))
        .annotate(flagged=Exists(flags))
    )
    if query.person:
        reference = query.person.strip().upper()
        # A search's read names its persons in `persons`, not the entry: quoted, so that one
        # reference never matches inside another.
        reads = reads.filter(
            Q(entry__person_reference=reference) | Q(persons__icontains=f'"{reference}"')
        )
    if query.since:
        reads = reads.filter(at__date__gte=query.since)
    if query.until:
        reads = reads.filter(at__date__lte=query.until)
    if query.reader_agency:
        reads = reads.filter(entry__agency_id=query.reader_agency)
    if query.reader:
        reads = reads.filter(
            Q(entry__actor__full_name__icontains=query.reader)
            | Q(entry__actor__email__icontains=query.reader)
        )
    if query.kind:
        reads = reads.filter(entry__action=query.kind)
    if query.flagged_only:
        reads = reads.filter(flagged=True)
    return reads.order_by("-at", "-pk")
