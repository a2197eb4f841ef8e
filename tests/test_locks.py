"""Advisory locks: one implementation (core.locks) and one registry of their ids."""

from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from core.locks import LockId, advisory_lock, advisory_lock_try, advisory_xact_lock

ROOT = Path(__file__).resolve().parents[1]
NOT_APP = {"tests", "bench"}

pytestmark = pytest.mark.django_db


def test_the_lock_ids_are_those_workers_of_the_release_before_take():
    # A worker of the release before and one of this release, side by side in a deployment,
    # keep each other out only while both ask PostgreSQL for the same numbers.
    assert {lock.name: lock.value for lock in LockId} == {
        "EXTRACT_INGEST": 4201,
        "ENRICH": 4207,
        "AUDIT_APPEND": 4211,
        "ERASURE": 4213,
        "LINKAGE": 0x5348_4C4B,
        "LINKAGE_RUN": 4215,
    }


def test_no_module_takes_an_advisory_lock_but_core_locks():
    takers = sorted(
        str(path.relative_to(ROOT))
        for directory in ROOT.iterdir()
        if (directory / "__init__.py").exists() and directory.name not in NOT_APP
        for path in directory.rglob("*.py")
        if "advisory_" in path.read_text() and "pg_" in path.read_text()
    )
    assert takers == ["core/locks.py"]


@pytest.mark.skipif(connection.vendor == "postgresql", reason="the embedded default only")
def test_without_postgresql_there_is_nothing_to_take():
    with advisory_lock(LockId.LINKAGE), advisory_lock_try(LockId.LINKAGE) as free:
        advisory_xact_lock(LockId.AUDIT_APPEND)
        assert free is True


@contextmanager
def _another_worker_holding(lock_id: LockId, *item: int):
    import psycopg2

    worker = psycopg2.connect(**connection.get_connection_params())
    placeholders = ", ".join(["%s"] * (1 + len(item)))
    try:
        with worker.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_lock({placeholders})", [int(lock_id), *item])
        yield
        # Let go before closing: the server drops a closed connection's locks a moment later.
        with worker.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_unlock({placeholders})", [int(lock_id), *item])
    finally:
        worker.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's advisory locks")
def test_a_lock_another_worker_holds_is_not_taken_and_a_free_one_is_let_go():
    with _another_worker_holding(LockId.EXTRACT_INGEST, 7):
        with advisory_lock_try(LockId.EXTRACT_INGEST, 7) as free:
            assert free is False
        # Another extract, and the one-key lock of the same number, are other locks.
        with advisory_lock_try(LockId.EXTRACT_INGEST, 8) as free:
            assert free is True
        with advisory_lock_try(LockId.EXTRACT_INGEST) as free:
            assert free is True
    with advisory_lock_try(LockId.EXTRACT_INGEST, 7) as free:
        assert free is True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert cursor.fetchone()[0] == 0
