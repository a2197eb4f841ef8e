"""protocols.AccessLog's rows into the audit trail, which becomes the one log of who read what.

Every read since the trail began is in both already: access_log_write wrote the trail's entry
and then the row, in one call. A row counts as in the trail when an entry of the same reader,
agency, role, action, channel, purpose, person and outcome was written up to WINDOW before it
and no earlier row has taken it. The rows left (reads from before the trail began) are appended
at the end of the chain, each as an entry with the time of the read it records and
detail["carried_from"] saying where it came from (so its time, earlier than the entry before
it, is explained): no entry already chained is rewritten, and the new ones are keyed, chained
and anchored as any other (audit.services.audit_append, which needs the audit key kept outside
the database, hence the live code; the migration depends on the migrations of the tables that
code reads).

Reversing rebuilds the rows from the trail's reads; the appended entries stay, as the trail is
append-only.
"""

import json
from collections import defaultdict, deque
from datetime import timedelta

from django.db import migrations

# access_log_write writes the entry a moment before the row; a writer waiting for the append
# lock makes that longer, never an hour.
WINDOW = timedelta(hours=1)
# The actions protocols.AccessLog recorded (audit.models.READ_ACTIONS when this was written).
READ_ACTIONS = [
    "search",
    "summary",
    "unlock",
    "override",
    "consent",
    "consent_request",
    "risk",
    "alert",
    "drilldown",
]
BATCH = 500


def _rows_not_in_trail(AccessLog, AuditEntry) -> list[int]:
    """The ids of the rows no entry of the trail records: rows and entries walked together in
    time order, each entry waiting (by what it records) for the row written just after it."""
    entries = (
        AuditEntry.objects.filter(action__in=READ_ACTIONS, detail__has_key="query_kinds")
        .order_by("at", "pk")
        .values_list(
            "at",
            "actor_id",
            "agency_id",
            "role",
            "action",
            "channel",
            "purpose",
            "person_reference",
            "outcome",
        )
        .iterator(chunk_size=2000)
    )
    rows = (
        AccessLog.objects.order_by("at", "pk")
        .values_list(
            "pk",
            "at",
            "user_id",
            "agency_id",
            "role",
            "action",
            "channel",
            "purpose",
            "person__reference",
            "found",
        )
        .iterator(chunk_size=2000)
    )
    waiting: dict[tuple, deque] = defaultdict(deque)
    entry = next(entries, None)
    missing = []
    for pk, at, user_id, agency_id, role, action, channel, purpose, reference, found in rows:
        while entry is not None and entry[0] <= at:
            waiting[tuple(entry[1:])].append(entry[0])
            entry = next(entries, None)
        outcome = "ok" if found else "not_found"
        key = (user_id, agency_id, role, action, channel, purpose, reference or "", outcome)
        queue = waiting.get(key)
        while queue and queue[0] < at - WINDOW:
            queue.popleft()
        if queue:
            queue.popleft()
        else:
            missing.append(pk)
    return missing


def access_log_into_trail(apps, schema_editor):
    AccessLog = apps.get_model("protocols", "AccessLog")
    if not AccessLog.objects.exists():
        return  # a new installation: nothing to carry, and no need to walk the trail
    missing = _rows_not_in_trail(AccessLog, apps.get_model("audit", "AuditEntry"))
    if not missing:
        return
    from audit.models import AuditEntry
    from audit.services import audit_append

    for start in range(0, len(missing), BATCH):
        batch = AccessLog.objects.filter(pk__in=missing[start : start + BATCH])
        for row in batch.select_related("person").order_by("at", "pk"):
            detail = {
                "fields": row.fields,
                "query_kinds": row.query_kinds,
                "results": row.results,
                "carried_from": "protocols.AccessLog",
            }
            audit_append(
                AuditEntry(
                    at=row.at,
                    actor_id=row.user_id,
                    agency_id=row.agency_id,
                    role=row.role,
                    action=row.action,
                    channel=row.channel,
                    purpose=row.purpose,
                    person_reference=row.person.reference if row.person_id else "",
                    protocol_versions=sorted(set(row.versions)),
                    detail=json.loads(json.dumps(detail, default=str)),
                    outcome="ok" if row.found else "not_found",
                )
            )


def access_log_from_trail(apps, schema_editor):
    """The rows again, one per read in the trail (its person and agency where they still
    exist; a read by nobody signed in has no row, as the table needs a user)."""
    AccessLog = apps.get_model("protocols", "AccessLog")
    AuditEntry = apps.get_model("audit", "AuditEntry")
    Person = apps.get_model("matching", "Person")
    Agency = apps.get_model("agencies", "Agency")
    agencies = set(Agency.objects.values_list("pk", flat=True))
    reads = AuditEntry.objects.filter(
        action__in=READ_ACTIONS, detail__has_key="query_kinds", actor__isnull=False
    ).order_by("pk")
    last = 0
    while True:
        chunk = list(reads.filter(pk__gt=last)[:BATCH])
        if not chunk:
            return
        last = chunk[-1].pk
        persons = dict(
            Person.objects.filter(
                reference__in={e.person_reference for e in chunk if e.person_reference}
            ).values_list("reference", "pk")
        )
        made = AccessLog.objects.bulk_create(
            AccessLog(
                user_id=e.actor_id,
                agency_id=e.agency_id if e.agency_id in agencies else None,
                role=e.role,
                action=e.action,
                channel=e.channel,
                purpose=e.purpose,
                person_id=persons.get(e.person_reference),
                found=e.outcome != "not_found",
                versions=e.protocol_versions,
                fields=e.detail.get("fields", {}),
                query_kinds=e.detail.get("query_kinds", []),
                results=e.detail.get("results", []),
            )
            for e in chunk
        )
        # `at` is set on creation (auto_now_add); the read's own time is put back after.
        for row, e in zip(made, chunk, strict=True):
            row.at = e.at
        AccessLog.objects.bulk_update(made, ["at"])


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0013_readflags_told_before"),
        ("protocols", "0009_sealed_records"),
        # audit_append derives the reads of each agency's records from agencies' tables.
        ("agencies", "0014_extract_quality"),
        ("matching", "0007_record_apart"),
    ]

    operations = [migrations.RunPython(access_log_into_trail, access_log_from_trail)]
