"""How housekeeping tells a linkage run whose worker died from a slow one.

On PostgreSQL a run holds an advisory lock of its own (core.locks.LockId.LINKAGE_RUN, with the
run's id) from before its row can be seen until it has written how it ended (matching.linkage.run).
The server drops the lock when the holder's connection dies with its worker, so a run still
"running" whose lock is free has no process any more: the server says so itself, at once, however
long the run's stages take.

SQLite has no lock to ask (tasks run in the one process there), so a run writes a heartbeat as it
starts and as it enters each stage, and is taken for dead when that is older than
HEARTBEAT_STALE_AFTER. A heartbeat alone would not do on PostgreSQL: the window must outlast the
longest stage at a million records (minutes), or a slow run would be taken for dead and its work
run a second time beside it, so a dead worker would be found only after many minutes more.
"""

from datetime import datetime, timedelta

from django.db import connection

from core.locks import LockId, advisory_lock_try
from matching.models import LinkageRun

# Far longer than any stage at the sizes the embedded default serves (seconds at 100,000).
HEARTBEAT_STALE_AFTER = timedelta(minutes=15)


def run_is_dead(run: LinkageRun, *, now: datetime) -> bool:
    """Whether a running run's process is gone. On PostgreSQL the lock is taken for a moment to
    find out, so a sweep beside this one asking at the same moment finds it held."""
    if connection.vendor == "postgresql":
        if run.heartbeat_at is None:
            # Started by a worker of the release before, which holds only the linkage lock (so
            # that a deployment does not take its live runs for dead).
            with advisory_lock_try(LockId.LINKAGE) as free:
                return free
        with advisory_lock_try(LockId.LINKAGE_RUN, run.pk) as free:
            return free
    return (run.heartbeat_at or run.started_at) < now - HEARTBEAT_STALE_AFTER
