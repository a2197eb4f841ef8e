"""Writing to the audit trail and checking it.

    audit_record(action=, actor=, membership=, ...)     one entry, chained to the one before
    access_log_write(user=, membership=, action=, ...)  one read of person data, or its refusal
    audit_verify()                                      the first broken link, a cut tail, or None

The head and count written outside the database, and read back by audit_verify: audit.anchors.

Appends take turns: on PostgreSQL a transaction-level advisory lock is held from reading the
last hash to committing the new entry, so fifty writers at once still make one chain, never a
fork. The lock is the transaction's, so an entry written inside a larger transaction (a consent
statement and its log) commits or rolls back with it.

Someone with the database alone must not be able to rewrite history (SECURITY.md row 19):
- each entry's hash is an HMAC-SHA256 under the audit key (core.keys.audit_keys), which is
  kept outside the database; an entry records its key version, so the key rotates without
  rewriting anything. Entries written before keys keep their plain SHA-256 hash and still
  verify; the first keyed entry chains onto them, so they are covered too, and an unkeyed entry
  after a keyed one is a forgery ("downgraded");
- the head hash and the entry count are anchored outside the database: a line in an append-only
  file the deployment names (SHAREHUB_AUDIT_ANCHOR_PATH), MACed under the same key, and a log
  line, at the first keyed entry, every SHAREHUB_AUDIT_ANCHOR_EVERY entries (after commit) and
  every few minutes (audit.tasks.anchor). The verifier compares the chain with every anchor: a
  chain recomputed from the start no longer gives the anchored heads, and a cut tail holds fewer
  entries than were anchored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.anchors import (
    Anchor,
    UnknownAuditKey,
    anchor_due,
    anchor_write,
    anchors_read,
    keyed_mac,
)
from audit.models import GENESIS, UNKEYED, AuditEntry
from audit.reads import record_reads_write
from core.keys import audit_key
from core.locks import LockId, advisory_xact_lock

VERIFY_CHUNK = 10_000


def _canonical(entry: AuditEntry) -> str:
    """The entry's content as the hash reads it: fixed keys, sorted, UTC to the microsecond.
    A keyed entry's key version and position are part of it; an unkeyed one's form is the one
    entries were written with before keys, unchanged."""
    content = {
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
    }
    if entry.hash_key_version != UNKEYED:
        content["key"] = entry.hash_key_version
        content["seq"] = entry.seq
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def public_hash_of(entry: AuditEntry) -> str:
    """Plain SHA-256 of the entry's content: how entries were hashed before keys, and what
    anyone with the source could compute."""
    return hashlib.sha256(_canonical(entry).encode()).hexdigest()


def entry_hash_of(entry: AuditEntry) -> str:
    """The entry's hash: an HMAC under its audit key version, or plain SHA-256 if unkeyed."""
    if entry.hash_key_version == UNKEYED:
        return public_hash_of(entry)
    return keyed_mac(entry.hash_key_version, b"sharehub:audit-entry:", _canonical(entry))


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
    return audit_append(entry)


def audit_append(entry: AuditEntry) -> AuditEntry:
    """Chain `entry` (built, not saved) onto the end of the trail and save it, with the reads
    of each agency's records it shows (audit.reads) and, when one is due, an anchor after
    commit. audit_record builds the entry; the migration that carried protocols.AccessLog's
    rows into the trail (0014) appends what it built itself."""
    with transaction.atomic():
        advisory_xact_lock(LockId.AUDIT_APPEND)
        last = (
            AuditEntry.objects.order_by("-pk")
            .values("entry_hash", "seq", "hash_key_version")
            .first()
        )
        if last is None:
            entry.prev_hash, entry.seq = GENESIS, 1
        elif last["seq"] is None:
            # The first keyed entry after entries written before keys: counted once.
            entry.prev_hash, entry.seq = last["entry_hash"], AuditEntry.objects.count() + 1
        else:
            entry.prev_hash, entry.seq = last["entry_hash"], last["seq"] + 1
        entry.hash_key_version = audit_key().version
        entry.entry_hash = entry_hash_of(entry)
        entry.save(force_insert=True)
        record_reads_write(entry)
        first_keyed = last is None or last["hash_key_version"] == UNKEYED
        every = max(1, settings.SHAREHUB_AUDIT_ANCHOR_EVERY)
        if first_keyed or entry.seq % every == 0 or anchor_due():
            # After commit: an anchor must never name an entry that was rolled back.
            transaction.on_commit(
                partial(anchor_write, entry_id=entry.pk, entries=entry.seq, head=entry.entry_hash),
                robust=True,
            )
    return entry


def access_log_write(
    *,
    user,
    membership,
    action: str,
    channel: str,
    purpose: str,
    person=None,
    found: bool = True,
    versions: Iterable[int] = (),
    fields: dict[str, Any] | None = None,
    query_kinds: Iterable[str] = (),
    results: Iterable[str] = (),
) -> AuditEntry:
    """Log one read of person data (one of READ_ACTIONS), or its refusal (found=False: the
    person was asked for and not shown): the one log of who read what, which subject access,
    the audit pages and the reads of each agency's records (audit.reads) all read.

    Kept as the protocol versions, the record ids and field keys shown, the kinds of search
    terms and the references listed; never a value."""
    return audit_record(
        action=action,
        actor=user,
        membership=membership,
        channel=channel,
        purpose=purpose,
        person=person,
        versions=versions,
        detail={
            "fields": fields or {},
            "query_kinds": list(query_kinds),
            "results": list(results),
        },
        outcome="ok" if found else "not_found",
    )


@dataclass(frozen=True)
class BrokenLink:
    entry_id: int
    # "changed": its content no longer gives its hash; "forged": its hash is the plain SHA-256
    # anyone can compute, not the keyed one; "downgraded": unkeyed after a keyed entry;
    # "unlinked": prev (or position) differs; "no_key": its key version is not configured;
    # "anchor": it differs from what an anchor outside the database recorded for it;
    # "missing": an anchored entry is gone from the middle of the chain; "gap": on SQLite, its id
    # does not follow the entry before it (ids are not reused, rollbacks leave none): deleted.
    reason: str


@dataclass(frozen=True)
class Truncation:
    anchored: int  # entries an anchor counted
    anchored_entry: int  # the head entry it named
    found: int  # entries the chain holds


@dataclass(frozen=True)
class Verification:
    entries: int
    broken: BrokenLink | None
    anchors: int = 0  # anchors the chain was checked against
    truncated: Truncation | None = None
    bad_anchors: int = 0  # anchor lines whose MAC does not hold

    @property
    def intact(self) -> bool:
        return self.broken is None and self.truncated is None and self.bad_anchors == 0


def _entry_fault(entry: AuditEntry, *, previous: str, position: int, keyed_seen: bool) -> str:
    if entry.prev_hash != previous:
        return "unlinked"
    if entry.hash_key_version == UNKEYED:
        if keyed_seen:
            return "downgraded"
        return "" if public_hash_of(entry) == entry.entry_hash else "changed"
    try:
        keyed = entry_hash_of(entry)
    except UnknownAuditKey:
        return "no_key"
    if not hmac.compare_digest(keyed, entry.entry_hash):
        return "forged" if public_hash_of(entry) == entry.entry_hash else "changed"
    if entry.seq != position:
        return "unlinked"
    return ""


def audit_verify() -> Verification:
    """Walk the chain in order: the first entry whose content, key or link does not hold, or
    that differs from an anchor; then whether the anchors counted more than the chain holds."""
    anchors, bad = anchors_read()
    by_entry: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        by_entry.setdefault(anchor.entry, []).append(anchor)

    def result(broken=None, truncated=None) -> Verification:
        return Verification(checked, broken, len(anchors), truncated, bad)

    previous = GENESIS
    checked = 0
    keyed_seen = False
    last_pk = 0
    gaps_mean_deletion = connection.vendor == "sqlite"
    while True:
        chunk = list(AuditEntry.objects.filter(pk__gt=last_pk).order_by("pk")[:VERIFY_CHUNK])
        if not chunk:
            break
        for entry in chunk:
            fault = _entry_fault(
                entry, previous=previous, position=checked + 1, keyed_seen=keyed_seen
            )
            if not fault and gaps_mean_deletion and checked and entry.pk != last_pk + 1:
                fault = "gap"
            if fault:
                return result(BrokenLink(entry.pk, fault))
            for anchor in by_entry.pop(entry.pk, ()):
                if anchor.head != entry.entry_hash or anchor.entries != checked + 1:
                    return result(BrokenLink(entry.pk, "anchor"))
            keyed_seen = keyed_seen or entry.hash_key_version != UNKEYED
            previous = entry.entry_hash
            checked += 1
            last_pk = entry.pk
    # Anchors left name entries the table no longer holds.
    for entry_id, left in sorted(by_entry.items()):
        anchor = max(left, key=lambda a: a.entries)
        if entry_id > last_pk or anchor.entries > checked:
            furthest = max(
                (a for group in by_entry.values() for a in group), key=lambda a: a.entries
            )
            return result(truncated=Truncation(furthest.entries, furthest.entry, checked))
        return result(BrokenLink(entry_id, "missing"))
    return result()
