"""One log of reads (issue 24, item 2): the audit trail. protocols.AccessLog's rows arrive in it
by a migration that rewrites no chained entry, and a refusal is logged by the engine."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from agencies.models import Membership, Role
from audit.models import AuditAction, AuditEntry
from audit.services import access_log_write, audit_record, audit_verify
from core.purpose import Purpose
from matching.models import Person
from protocols.engine import disclose_or_deny
from tests.protocol_helpers import police_shared_with_a_practitioner

BEFORE = [("audit", "0013_readflags_told_before"), ("protocols", "0009_sealed_records")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _leaves():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_the_access_log_rows_arrive_in_the_audit_trail(agency, member):
    leaves = _leaves()
    old = _migrate(BEFORE)
    try:
        AccessLog = old.get_model("protocols", "AccessLog")
        reader = member(Role.PRACTITIONER, full_name="Pat Reader")
        membership = Membership.objects.get(user=reader)
        alice, bob = Person.objects.create(), Person.objects.create()
        long_ago = timezone.now() - timedelta(days=400)

        def row(person, *, found=True, at=None, **fields):
            made = AccessLog.objects.create(
                user_id=reader.pk,
                agency_id=agency.pk,
                role=Role.PRACTITIONER,
                action=fields.pop("action", "summary"),
                channel="web",
                purpose=Purpose.SAFEGUARDING,
                person_id=person.pk if person else None,
                found=found,
                **fields,
            )
            if at is not None:  # `at` is set on creation; a read from before the trail
                AccessLog.objects.filter(pk=made.pk).update(at=at)
            return made

        # Before the trail began: reads of Alice and Bob, a refusal, a search listing Bob.
        row(alice, at=long_ago, versions=[3], fields={"11": ["field:risk_grade"]})
        row(bob, at=long_ago + timedelta(minutes=1), found=False)
        row(
            None,
            at=long_ago + timedelta(minutes=2),
            action="search",
            query_kinds=["surname"],
            results=[bob.reference],
        )
        # Since then: each read went to the trail and then to the table, as access_log_write
        # did; the trail holds other entries too.
        audit_record(action=AuditAction.LOGIN, actor=reader, membership=membership)
        access_log_write(
            user=reader,
            membership=membership,
            action=AuditAction.SUMMARY,
            channel="web",
            purpose=Purpose.SAFEGUARDING,
            person=alice,
            versions=[3],
            fields={"11": ["field:risk_grade"]},
        )
        row(alice, versions=[3], fields={"11": ["field:risk_grade"]})
        chained = dict(AuditEntry.objects.values_list("pk", "entry_hash"))
        assert audit_verify().intact
    finally:
        _migrate(leaves)

    # Nothing chained was rewritten; the three reads from before the trail were appended.
    assert dict(AuditEntry.objects.filter(pk__in=chained).values_list("pk", "entry_hash")) == (
        chained
    )
    carried = list(AuditEntry.objects.exclude(pk__in=chained).order_by("pk"))
    assert [(e.action, e.person_reference, e.outcome) for e in carried] == [
        ("summary", alice.reference, "ok"),
        ("summary", bob.reference, "not_found"),
        ("search", "", "ok"),
    ]
    assert [e.at for e in carried] == [
        long_ago,
        long_ago + timedelta(minutes=1),
        long_ago + timedelta(minutes=2),
    ]
    first = carried[0]
    assert (first.actor, first.agency_id, first.role, first.channel, first.purpose) == (
        reader,
        agency.pk,
        Role.PRACTITIONER,
        "web",
        Purpose.SAFEGUARDING,
    )
    assert first.protocol_versions == [3]
    assert first.detail == {
        "fields": {"11": ["field:risk_grade"]},
        "query_kinds": [],
        "results": [],
        "carried_from": "protocols.AccessLog",
    }
    assert carried[2].detail["results"] == [bob.reference]
    # Every row is one read of the trail, the one written since the trail began once only.
    assert AuditEntry.objects.reads().count() == 4
    assert AuditEntry.objects.reads().filter(person_reference=alice.reference).count() == 2
    assert audit_verify().intact


@pytest.mark.django_db(transaction=True)
def test_going_back_rebuilds_the_access_log_from_the_trail(agency, member):
    reader = member(Role.PRACTITIONER)
    membership = Membership.objects.get(user=reader)
    alice = Person.objects.create()
    read = access_log_write(
        user=reader,
        membership=membership,
        action=AuditAction.RISK,
        channel="api",
        purpose=Purpose.SAFEGUARDING,
        person=alice,
        versions=[5],
        fields={"reasons": {"7": ["field:risk_grade"]}},
    )
    refused = access_log_write(
        user=reader,
        membership=membership,
        action=AuditAction.CONSENT,
        channel="web",
        purpose=Purpose.SAFEGUARDING,
        person=alice,
        found=False,
    )
    leaves = _leaves()
    try:
        old = _migrate(BEFORE)
        rows = list(old.get_model("protocols", "AccessLog").objects.order_by("at", "pk"))
        assert [(r.action, r.person_id, r.found, r.at) for r in rows] == [
            ("risk", alice.pk, True, read.at),
            ("consent", alice.pk, False, refused.at),
        ]
        assert (rows[0].user_id, rows[0].agency_id, rows[0].channel) == (
            reader.pk,
            agency.pk,
            "api",
        )
        assert rows[0].versions == [5] and rows[0].fields == {
            "reasons": {"7": ["field:risk_grade"]}
        }
    finally:
        _migrate(leaves)
    # Forward again: both rows are found in the trail, so nothing is appended.
    assert AuditEntry.objects.count() == 2


def test_the_engine_logs_a_refusal_and_nothing_for_a_person_shown(db, agency, other_agency, member):
    linked, practitioner, _ = police_shared_with_a_practitioner(agency, other_agency, member)
    stranger = member(Role.PRACTITIONER)

    def ask(user):
        return disclose_or_deny(
            user=user,
            membership=Membership.objects.get(user=user),
            person=linked.alice,
            others=[linked.bob],
            purpose=Purpose.SAFEGUARDING,
            now=timezone.now(),
            action=AuditAction.RISK,
            channel="web",
        )

    assert linked.alice.pk in ask(practitioner)
    assert not AuditEntry.objects.reads().exists()  # what is shown is the caller's to log
    assert ask(stranger) == {}
    (refusal,) = AuditEntry.objects.reads()
    assert (refusal.actor, refusal.action, refusal.person_reference, refusal.outcome) == (
        stranger,
        AuditAction.RISK,
        linked.alice.reference,
        "not_found",
    )
