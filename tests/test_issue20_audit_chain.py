"""Issue 20, finding 8: an audit trail that someone with database access alone cannot rewrite or
cut short unseen. Entries are keyed with a secret kept outside the database, and the head hash and
count are anchored outside it; the verifier checks both."""

import base64
import hashlib
import json
import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditAction, AuditEntry
from audit.services import _canonical, audit_record, audit_verify

KEY_1 = "1:" + base64.urlsafe_b64encode(b"a" * 32).decode()
KEY_2 = "2:" + base64.urlsafe_b64encode(b"b" * 32).decode()


def _tamper(sql: str, params) -> None:
    """Change the table behind the application's back, as a database administrator could (on
    PostgreSQL the append-only trigger is switched off first, which only the owner can)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only")


def _public_hash(entry: AuditEntry) -> str:
    """The hash anyone can compute from the published source: SHA-256 of the canonical form."""
    return hashlib.sha256(_canonical(entry).encode()).hexdigest()


def _write(n: int, **extra):
    return [audit_record(action=AuditAction.SEARCH, detail={"n": i}, **extra) for i in range(n)]


def _recompute_tail(from_pk: int, *, downgrade: bool = False) -> None:
    """Rewrite every entry from `from_pk` on with the public algorithm, each pointing at the one
    before: what an attacker with the source and the database would do after an edit."""
    previous = AuditEntry.objects.filter(pk__lt=from_pk).order_by("-pk").first()
    previous_hash = previous.entry_hash if previous else "0" * 64
    for entry in AuditEntry.objects.filter(pk__gte=from_pk).order_by("pk"):
        entry.prev_hash = previous_hash
        if downgrade:
            entry.hash_key_version = 0
        entry.entry_hash = _public_hash(entry)
        columns = "prev_hash = %s, entry_hash = %s"
        params = [entry.prev_hash, entry.entry_hash]
        if downgrade:
            columns += ", hash_key_version = 0"
        _tamper(f"UPDATE audit_auditentry SET {columns} WHERE id = %s", [*params, entry.pk])  # noqa: S608
        previous_hash = entry.entry_hash


@pytest.fixture
def audit_key(monkeypatch):
    from core import keys

    monkeypatch.setenv("SHAREHUB_AUDIT_KEY", KEY_1)
    keys.audit_keys.cache_clear()
    yield
    keys.audit_keys.cache_clear()


@pytest.mark.django_db
def test_row_29_edited_and_the_tail_recomputed_with_plain_sha256_is_reported(audit_key):
    entries = _write(35)
    target = entries[28]  # row 29
    _tamper("UPDATE audit_auditentry SET outcome = %s WHERE id = %s", ["refused", target.pk])
    _recompute_tail(target.pk)
    result = audit_verify()
    assert not result.intact
    assert result.broken.entry_id == target.pk
    assert result.broken.reason == "forged"
    assert result.entries == 28
    with pytest.raises(CommandError, match=f"broken at entry {target.pk}"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_a_tail_relabelled_as_written_before_keys_is_reported(audit_key):
    entries = _write(35)
    target = entries[28]
    _tamper("UPDATE audit_auditentry SET outcome = %s WHERE id = %s", ["refused", target.pk])
    _recompute_tail(target.pk, downgrade=True)
    result = audit_verify()
    assert (result.broken.entry_id, result.broken.reason) == (target.pk, "downgraded")


@pytest.mark.django_db
def test_the_whole_chain_recomputed_without_a_key_is_caught_by_the_anchors(
    audit_key, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        entries = _write(35)
    call_command("audit_anchor")
    _tamper("UPDATE audit_auditentry SET outcome = %s WHERE id = %s", ["refused", entries[28].pk])
    _recompute_tail(entries[0].pk, downgrade=True)
    result = audit_verify()
    assert not result.intact
    assert result.broken.reason == "anchor"


@pytest.mark.django_db
def test_deleting_the_last_five_rows_is_reported_as_truncation(
    audit_key, settings, django_capture_on_commit_callbacks
):
    settings.SHAREHUB_AUDIT_ANCHOR_EVERY = 1
    with django_capture_on_commit_callbacks(execute=True):
        entries = _write(35)
    last_five = [e.pk for e in entries[-5:]]
    _tamper(
        f"DELETE FROM audit_auditentry WHERE id IN ({', '.join(['%s'] * 5)})",  # noqa: S608
        last_five,
    )
    result = audit_verify()
    assert not result.intact
    assert result.broken is None  # the 30 left chain correctly: only the anchors show the cut
    assert result.truncated is not None
    assert (result.truncated.anchored, result.truncated.found) == (35, 30)
    with pytest.raises(CommandError, match="truncated"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_the_periodic_anchor_catches_a_cut_between_interval_anchors(audit_key, settings):
    settings.SHAREHUB_AUDIT_ANCHOR_EVERY = 1000
    entries = _write(35)
    call_command("audit_anchor")  # what beat runs every few minutes
    assert audit_verify().intact and audit_verify().anchors == 1
    _tamper("DELETE FROM audit_auditentry WHERE id = %s", [entries[-1].pk])
    result = audit_verify()
    assert result.truncated is not None and result.truncated.found == 34


@pytest.mark.django_db
def test_anchors_are_a_private_append_only_file_and_a_log_line(
    audit_key, settings, caplog, django_capture_on_commit_callbacks
):
    settings.SHAREHUB_AUDIT_ANCHOR_EVERY = 10
    path = settings.SHAREHUB_AUDIT_ANCHOR_PATH
    with caplog.at_level(logging.INFO, logger="audit.anchor"):
        with django_capture_on_commit_callbacks(execute=True):
            entries = _write(20)
    lines = [json.loads(line) for line in open(path).read().splitlines()]
    # The first keyed entry, then every tenth.
    assert [a["entries"] for a in lines] == [1, 10, 20]
    assert lines[-1]["entry"] == entries[-1].pk and lines[-1]["head"] == entries[-1].entry_hash
    assert (path.stat().st_mode & 0o777) == 0o600
    assert sum("audit anchor" in r.getMessage() for r in caplog.records) == 3
    # Another anchor line with a forged mac is refused as an anchor and reported.
    forged = dict(lines[-1], entries=999)
    with open(path, "a") as handle:
        handle.write(json.dumps(forged) + "\n")
    result = audit_verify()
    assert not result.intact and result.bad_anchors == 1


@pytest.mark.django_db
def test_entries_are_keyed_and_the_key_rotates_without_rewriting(audit_key, monkeypatch):
    from core import keys

    old = _write(3)
    assert {e.hash_key_version for e in old} == {1}
    assert all(e.entry_hash != _public_hash(e) for e in old)
    monkeypatch.setenv("SHAREHUB_AUDIT_KEY", f"{KEY_2},{KEY_1}")
    keys.audit_keys.cache_clear()
    new = _write(3)
    assert {e.hash_key_version for e in new} == {2}
    assert audit_verify().intact and audit_verify().entries == 6
    monkeypatch.setenv("SHAREHUB_AUDIT_KEY", KEY_2)  # the old key dropped too early
    keys.audit_keys.cache_clear()
    result = audit_verify()
    assert (result.broken.entry_id, result.broken.reason) == (old[0].pk, "no_key")


@pytest.mark.django_db
def test_entries_written_before_keys_still_verify_and_are_covered_by_the_next_keyed_one(
    audit_key, django_capture_on_commit_callbacks, settings
):
    settings.SHAREHUB_AUDIT_ANCHOR_EVERY = 10  # so the first keyed entry's anchor is the only one
    legacy = _write(4)
    # Make them what entries written before this change look like: unkeyed, no position.
    _tamper("UPDATE audit_auditentry SET hash_key_version = 0, seq = NULL", [])
    _recompute_tail(legacy[0].pk)
    assert audit_verify().intact
    with django_capture_on_commit_callbacks(execute=True):
        keyed = _write(2)
    assert (
        keyed[0].seq == 5
        and keyed[0].prev_hash == AuditEntry.objects.get(pk=legacy[-1].pk).entry_hash
    )
    assert audit_verify().intact and audit_verify().entries == 6
    assert audit_verify().anchors == 1  # the first keyed entry is anchored as it commits
    # An edit of a legacy entry, recomputed without the key up to the keyed ones.
    _tamper("UPDATE audit_auditentry SET outcome = %s WHERE id = %s", ["refused", legacy[1].pk])
    _recompute_tail(legacy[1].pk)
    result = audit_verify()
    assert (result.broken.entry_id, result.broken.reason) == (keyed[0].pk, "forged")
    # ... and with the keyed ones relabelled as written before keys: the anchor shows it.
    _recompute_tail(legacy[1].pk, downgrade=True)
    result = audit_verify()
    assert (result.broken.entry_id, result.broken.reason) == (keyed[0].pk, "anchor")
