"""Writing to the audit trail and checking it.

    audit_record(action=, actor=, membership=, ...)   one entry, chained to the one before
    audit_verify()                                    the first broken link, or None

Appends take turns: on PostgreSQL a transaction-level advisory lock is held from reading the
last hash to committing the new entry, so fifty writers at once still make one chain, never a
fork. The lock is the transaction's, so an entry written inside a larger transaction (a consent
statement and its log) commits or rolls back with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.models import GENESIS, AuditEntry

_LOCK_ID = 4211  # the advisory lock of audit appends
VERIFY_CHUNK = 10_000


def _canonical(entry: AuditEntry) -> str:
    """The entry's content as the hash reads it: fixed keys, sorted, UTC to the microsecond."""
    return json.dumps(
        {
            "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": entry.actor_id,
            "agency": entry.agency_id,
            "role": entry.role,
            "action": entry.action,
            "channel": entry.channel,
            "purpose": entry.purpose,
            "person": entry.person_reference,
            "versions": entry.protocol_versions,
            "detail": entry.detail,
            "outcome": entry.outcome,
            "prev": entry.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )


def entry_hash_of(entry: AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry).encode()).hexdigest()


def audit_record(
    *,
    action: str,
    actor=None,
    membership=None,
    channel: str = "",
    purpose: str = "",
    person=None,
    versions: Iterable[int] = (),
    detail: dict[str, Any] | None = None,
    outcome: str = "ok",
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry. `detail` must hold no personal data: ids, keys, kinds and counts."""
    entry = AuditEntry(
        at=at or timezone.now(),
        actor=actor if actor is not None and actor.is_authenticated else None,
        agency_id=membership.agency_id if membership is not None else None,
        role=membership.role if membership is not None else "",
        action=action,
        channel=channel,
        purpose=purpose,
        person_reference=person.reference if person is not None else "",
        protocol_versions=sorted(set(versions)),
        detail=json.loads(json.dumps(detail or {}, default=str)),
        outcome=outcome,
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_ID])
        last = AuditEntry.objects.order_by("-pk").values_list("entry_hash", flat=True).first()
        entry.prev_hash = last or GENESIS
        entry.entry_hash = entry_hash_of(entry)
        entry.save(force_insert=True)
    return entry


@dataclass(frozen=True)
class BrokenLink:
    entry_id: int
    reason: str  # "changed": its content no longer gives its hash; "unlinked": prev differs


@dataclass(frozen=True)
class Verification:
    entries: int
    broken: BrokenLink | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def audit_verify() -> Verification:
    """Walk the chain in order: the first entry whose content or link does not hold."""
    previous = GENESIS
    checked = 0
    last_pk = 0
    while True:
        chunk = list(AuditEntry.objects.filter(pk__gt=last_pk).order_by("pk")[:VERIFY_CHUNK])
        if not chunk:
            return Verification(checked, None)
        for entry in chunk:
            if entry.prev_hash != previous:
                return Verification(checked, BrokenLink(entry.pk, "unlinked"))
            if entry_hash_of(entry) != entry.entry_hash:
                return Verification(checked, BrokenLink(entry.pk, "changed"))
            previous = entry.entry_hash
            checked += 1
        last_pk = chunk[-1].pk
