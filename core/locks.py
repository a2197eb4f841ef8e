"""PostgreSQL advisory locks, and the one registry of their ids (STYLE.md 4).

Periodic and chained jobs that must not overlap take one. A session lock, waited for
(`advisory_lock`) or taken only if it is free (`advisory_lock_try`), is released on leaving the
block, and by the server itself when the holder's connection dies with its worker, so a killed
worker never blocks a retry. A transaction lock (`advisory_xact_lock`) is released when the
transaction ends. SQLite runs tasks in-process, one at a time, so there is nothing to take there:
each of these does nothing, and the try always succeeds.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum, unique

from django.db import connection


@unique
class LockId(IntEnum):
    """Every advisory lock of the service, so that no two uses ever share an id. PostgreSQL is
    asked for these very numbers: a changed one would let a worker of the release before and one
    of this release run side by side during a deployment."""

    # One process at a time per extract: the extract's id is the second key of the pair.
    EXTRACT_INGEST = 4201
    # One enrichment run at a time.
    ENRICH = 4207
    # Audit appends take turns, from reading the chain's last entry to writing the next one.
    AUDIT_APPEND = 4211
    # One erasure run at a time.
    ERASURE = 4213
    # One linkage run at a time: two runs assigning persons at once would undo each other.
    LINKAGE = 0x5348_4C4B  # "SHLK"
    # A linkage run's worker is alive: held while the run (its id the second key) runs, so that
    # housekeeping can tell a run whose worker died from a slow one (matching.linkage.alive).
    LINKAGE_RUN = 4215


def _key(lock_id: LockId, item: int | None) -> tuple[str, list[int]]:
    # One 64-bit key, or a pair of 32-bit keys (the lock's id and one item of its kind); the
    # server keeps the two kinds apart, so they never meet.
    if item is None:
        return "%s", [int(lock_id)]
    return "%s, %s", [int(lock_id), item]


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def advisory_lock(lock_id: LockId, item: int | None = None) -> Iterator[None]:
    """Hold the session lock `lock_id` (for `item`, if given) for the block, waiting for it."""
    if not _postgresql():
        yield
        return
    placeholders, key = _key(lock_id, item)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_lock({placeholders})", key)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_advisory_unlock({placeholders})", key)


@contextmanager
def advisory_lock_try(lock_id: LockId, item: int | None = None) -> Iterator[bool]:
    """Take the session lock `lock_id` (for `item`, if given) for the block if it is free, without
    waiting; the block is told whether it was. A lock that was free is released on leaving."""
    if not _postgresql():
        yield True
        return
    placeholders, key = _key(lock_id, item)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_try_advisory_lock({placeholders})", key)
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT pg_advisory_unlock({placeholders})", key)


def advisory_xact_lock(lock_id: LockId) -> None:
    """Take the transaction lock `lock_id`, waiting for it; it is held until the transaction
    ends. Call it inside `transaction.atomic()`."""
    if not _postgresql():
        return
    placeholders, key = _key(lock_id, None)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_advisory_xact_lock({placeholders})", key)
