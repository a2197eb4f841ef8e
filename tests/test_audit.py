"""The audit trail: one entry for every read and change, a hash chain that shows any edit, and on
PostgreSQL a database that refuses UPDATE and DELETE."""

import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agencies.models import Membership, Role
from audit.models import GENESIS, AuditAction, AuditEntry
from audit.services import audit_record, audit_verify
from core.purpose import Purpose
from protocols.summary import case_summary
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.protocol_helpers import police_shared_with_a_practitioner

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger is PostgreSQL's"
)


def _entries(n):
    return [audit_record(action=AuditAction.SEARCH, detail={"n": i}) for i in range(n)]


@pytest.mark.django_db
def test_entries_chain_from_the_genesis_hash():
    first, second, third = _entries(3)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.entry_hash and third.prev_hash == second.entry_hash
    assert audit_verify().intact and audit_verify().entries == 3


def _tamper(sql: str, params) -> None:
    """Change the table behind the application's back, as someone with the owner's password
    could; on PostgreSQL the trigger has to be switched off first, which only the owner can."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The foreign keys' checks wait for the end of the transaction; run them now, as
            # ALTER TABLE cannot run with checks pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "column, value",
    [
        ("action", "summary"),
        ("person_reference", "ABCDEFGHJK"),
        ("outcome", "not_found"),
        ("role", "ig_officer"),
    ],
)
def test_the_verifier_finds_a_row_changed_in_the_database(column, value):
    entries = _entries(6)
    target = entries[3]
    _tamper(f"UPDATE audit_auditentry SET {column} = %s WHERE id = %s", [value, target.pk])  # noqa: S608
    result = audit_verify()
    assert not result.intact
    assert (result.broken.entry_id, result.broken.reason) == (target.pk, "changed")
    assert result.entries == 3
    with pytest.raises(CommandError, match=f"broken at entry {target.pk}"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_the_verifier_finds_a_removed_row_and_a_rehashed_one():
    entries = _entries(5)
    _tamper("DELETE FROM audit_auditentry WHERE id = %s", [entries[2].pk])
    result = audit_verify()
    assert (result.broken.entry_id, result.broken.reason) == (entries[3].pk, "unlinked")


@pytest.mark.django_db
def test_rehashing_a_changed_row_breaks_the_next_link():
    from audit.services import entry_hash_of

    entries = _entries(4)
    changed = AuditEntry.objects.get(pk=entries[1].pk)
    changed.outcome = "not_found"
    _tamper(
        "UPDATE audit_auditentry SET outcome = %s, entry_hash = %s WHERE id = %s",
        ["not_found", entry_hash_of(changed), changed.pk],
    )
    result = audit_verify()
    assert (result.broken.entry_id, result.broken.reason) == (entries[2].pk, "unlinked")


@pytest.mark.django_db
def test_every_edit_is_detected_whichever_row():
    entries = _entries(8)
    for target in entries:
        original = AuditEntry.objects.get(pk=target.pk).detail
        _tamper("UPDATE audit_auditentry SET detail = %s WHERE id = %s", ['{"n": 99}', target.pk])
        assert audit_verify().broken.entry_id == target.pk
        _tamper(
            "UPDATE audit_auditentry SET detail = %s WHERE id = %s",
            [f'{{"n": {original["n"]}}}', target.pk],
        )
        assert audit_verify().intact


@postgres_only
@pytest.mark.django_db
def test_postgresql_refuses_update_and_delete():
    (entry,) = _entries(1)
    for statement in (
        "UPDATE audit_auditentry SET outcome = 'x' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement, [entry.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(outcome="x")
    assert audit_verify().intact


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_fifty_writers_at_once_make_one_chain():
    errors = []

    def write(n):
        try:
            audit_record(action=AuditAction.SEARCH, detail={"writer": n})
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEntry.objects.count() == 50
    prevs = list(AuditEntry.objects.values_list("prev_hash", flat=True))
    assert len(set(prevs)) == 50, "two entries chained to the same predecessor: a fork"
    assert audit_verify().intact


@pytest.fixture
def world(db, agency, other_agency, member):
    linked, practitioner, _ = police_shared_with_a_practitioner(agency, other_agency, member)
    return linked, practitioner


def test_each_read_writes_exactly_one_entry_with_what_it_showed(world, member):
    linked, practitioner = world
    membership = Membership.objects.get(user=practitioner)
    before = AuditEntry.objects.count()
    summary = case_summary(
        user=practitioner, membership=membership, person=linked.alice,
        purpose=Purpose.SAFEGUARDING, channel="web",
    )  # fmt: skip
    (entry,) = AuditEntry.objects.order_by("pk")[before:]
    # The trail is the one log of reads: this entry is the read, with what it showed.
    assert AuditEntry.objects.reads().get() == entry
    assert (entry.action, entry.actor_id, entry.person_reference, entry.outcome) == (
        AuditAction.SUMMARY, practitioner.pk, linked.alice.reference, "ok",
    )  # fmt: skip
    shown = [summary.view, *summary.household_members]
    assert entry.protocol_versions == sorted(set().union(*(v.versions for v in shown)))
    assert {str(r) for r in summary.view.disclosed_by()} <= set(entry.detail["fields"])
    # A denial is one entry too.
    stranger = member(Role.PRACTITIONER)
    case_summary(
        user=stranger, membership=stranger.memberships.get(), person=linked.alice,
        purpose=Purpose.SAFEGUARDING, channel="web",
    )  # fmt: skip
    denial = AuditEntry.objects.latest("pk")
    assert (denial.actor_id, denial.outcome) == (stranger.pk, "not_found")
    assert audit_verify().intact


def test_uploads_sign_ins_and_failed_sign_ins_are_recorded(db, agency, member, client):
    admin = member(Role.AGENCY_ADMIN, email="admin@example.org", password="a-good-password-1")
    dataset = police_dataset(agency)
    extract = upload(dataset, csv_bytes([good_row("U1")]), user=admin)
    uploaded = AuditEntry.objects.get(action=AuditAction.UPLOAD)
    assert uploaded.detail["extract"] == extract.pk and uploaded.actor_id == admin.pk
    assert "Alice" not in str(uploaded.detail)
    client.post("/accounts/sign-in/", {"username": "admin@example.org", "password": "wrong"})
    failed = AuditEntry.objects.get(action=AuditAction.LOGIN_FAILED)
    assert failed.actor is None and "admin@example.org" not in str(failed.detail)
    client.force_login(admin)  # force_login sends user_logged_in too
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN, actor=admin).exists()
    assert audit_verify().intact


def test_nothing_personal_is_kept_in_the_trail(world):
    linked, practitioner = world
    from matching.search import SearchQuery
    from protocols.search import person_search

    membership = Membership.objects.get(user=practitioner)
    person_search(
        user=practitioner,
        membership=membership,
        query=SearchQuery(surname="Smith", forename="Alice", date_of_birth="01/02/2015"),
        purpose=Purpose.SAFEGUARDING,
        now=timezone.now(),
        channel="web",
    )
    dump = str(list(AuditEntry.objects.values()))
    # The date of birth in each form it could take: a bare "2015" can turn up by chance inside an
    # entry's SHA-256 hash, which is hex.
    for value in ("Smith", "Alice", "01/02/2015", "2015-02-01", "9434765919", "LS6"):
        assert value not in dump


def test_ig_officers_verify_search_and_export_their_agencys_trail(world, client, member):
    linked, practitioner = world
    membership = Membership.objects.get(user=practitioner)
    for _ in range(3):
        case_summary(
            user=practitioner, membership=membership, person=linked.alice,
            purpose=Purpose.SAFEGUARDING, channel="web",
        )  # fmt: skip
    outsider = member(Role.PRACTITIONER, in_agency=linked.police.agency)
    audit_record(action=AuditAction.SEARCH, actor=outsider, membership=outsider.memberships.get())
    ig = member(Role.IG_OFFICER)
    client.force_login(ig)
    page = client.get("/audit/", {"person": linked.alice.reference})
    assert page.status_code == 200
    assert page.content.decode().count(linked.alice.reference) >= 3
    assert outsider.full_name.encode() not in client.get("/audit/").content
    intact = client.get("/audit/", {"verify": "1"})
    assert b"The chain is intact" in intact.content
    export = client.get("/audit/export.csv", {"action": "summary"})
    rows = export.content.decode().splitlines()
    assert rows[0].startswith("entry,at (UTC),member of staff") and len(rows) == 4
    assert AuditEntry.objects.filter(action=AuditAction.EXPORT, actor=ig).exists()
    target = AuditEntry.objects.filter(action=AuditAction.SUMMARY).first()
    _tamper("UPDATE audit_auditentry SET outcome = %s WHERE id = %s", ["not_found", target.pk])
    broken = client.get("/audit/", {"verify": "1"})
    assert f"broken at entry {target.pk}".encode() in broken.content


def test_an_enumeration_of_summaries_is_flagged(world, member):
    linked, practitioner = world
    membership = Membership.objects.get(user=practitioner)
    from oversight.selectors import unusual_access

    assert [f.kind for f in unusual_access(agency_id=membership.agency_id)] == []
    # 200 summaries in ten minutes: stepping through records one by one.
    start = timezone.now() - timedelta(minutes=10)
    for n in range(200):
        audit_record(
            action=AuditAction.SUMMARY, actor=practitioner, membership=membership,
            person=linked.carol, at=start + timedelta(seconds=3 * n),
        )  # fmt: skip
    kinds = {f.kind for f in unusual_access(agency_id=membership.agency_id)}
    assert {"burst", "many", "no_reason"} <= kinds
