"""Periodic and chained jobs that must not overlap take a PostgreSQL advisory lock (STYLE.md 4).

A session lock, waited for, released on exit or when the connection dies with its worker.
SQLite runs tasks in-process, one at a time, so there is nothing to take.
"""

from contextlib import contextmanager

from django.db import connection


@contextmanager
def advisory_lock(lock_id: int):
    """Hold the advisory lock `lock_id` for the block (PostgreSQL); do nothing elsewhere."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock_id])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
