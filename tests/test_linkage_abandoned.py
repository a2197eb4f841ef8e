"""A linkage run whose worker died is marked abandoned and its work queued again within minutes,
not left "running" until the broker's visibility timeout gives the task back (issue 25).

Dead means: on PostgreSQL, nobody holds the run's own advisory lock (the server drops it with the
dead worker's connection); on SQLite, its heartbeat is older than the staleness window. A live run
is never touched. tests/test_linkage_worker.py kills a real worker in the middle of linkage.
"""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from agencies.models import Role
from core.locks import LockId
from matching import tasks
from matching.housekeeping import MAX_ATTEMPTS, runs_abandoned_requeue
from matching.linkage.alive import HEARTBEAT_STALE_AFTER
from matching.linkage.run import linkage_run
from matching.models import LinkageRecord, LinkageRun
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload

STALE = HEARTBEAT_STALE_AFTER + timedelta(minutes=1)


@contextmanager
def held_by_another_session(run: LinkageRun):
    """The run's lock held from a second connection, as a live worker holds it (PostgreSQL)."""
    import psycopg2

    worker = psycopg2.connect(**connection.get_connection_params())
    try:
        with worker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [int(LockId.LINKAGE_RUN), run.pk])
        yield
    finally:
        worker.close()  # as a killed worker's connection goes: the server drops the lock


def running(kind=LinkageRun.Kind.INCREMENTAL, *, heard_ago=STALE, **fields) -> LinkageRun:
    """A run left "running" at stage scoring, last heard from `heard_ago`."""
    return LinkageRun.objects.create(
        kind=kind,
        status=LinkageRun.Status.RUNNING,
        stage="scoring",
        heartbeat_at=timezone.now() - heard_ago,
        **fields,
    )


@pytest.fixture
def loaded(agency):
    """An extract loaded and linked, as the run that died was linking it."""
    dataset = police_dataset(agency)
    rows = [good_row("P1"), good_row("P2", forename="Jacob", surname="Okafor", nhs_number="")]
    return upload(dataset, csv_bytes(rows))


def test_a_run_whose_worker_died_is_abandoned_and_its_work_run_again(
    loaded, django_capture_on_commit_callbacks
):
    dead = running(extract=loaded)
    with django_capture_on_commit_callbacks(execute=True):  # tasks run in-process here
        assert runs_abandoned_requeue() == 1

    dead.refresh_from_db()
    assert dead.status == LinkageRun.Status.ABANDONED and dead.is_finished
    assert dead.message == "The worker stopped part way; its work was queued to run again."
    assert dead.finished_at is not None and dead.stage == ""
    # The same task with the same extract ran again, and linked every record once.
    again = LinkageRun.objects.filter(extract=loaded, pk__gt=dead.pk).get()
    assert again.status == LinkageRun.Status.DONE
    assert LinkageRecord.objects.filter(person__isnull=False).count() == 2
    # Nothing is left to find the next time.
    assert runs_abandoned_requeue() == 0


def test_a_live_run_is_left_alone(loaded, django_capture_on_commit_callbacks):
    if connection.vendor == "postgresql":
        # The lock decides, whatever the clock says: a stage can take many minutes.
        live = running(extract=loaded, heard_ago=timedelta(hours=5))
        with held_by_another_session(live), django_capture_on_commit_callbacks(execute=True):
            assert runs_abandoned_requeue() == 0
    else:
        live = running(extract=loaded, heard_ago=timedelta(minutes=2))
        with django_capture_on_commit_callbacks(execute=True):
            assert runs_abandoned_requeue() == 0

    live.refresh_from_db()
    assert (live.status, live.stage, live.message) == (LinkageRun.Status.RUNNING, "scoring", "")
    assert not LinkageRun.objects.filter(pk__gt=live.pk).exists()


@pytest.mark.skipif(
    "sqlite" in django_settings.DATABASES["default"]["ENGINE"], reason="no lock to ask on SQLite"
)
def test_on_postgresql_a_free_lock_means_dead_however_fresh_the_heartbeat(
    loaded, django_capture_on_commit_callbacks
):
    dead = running(extract=loaded, heard_ago=timedelta(seconds=1))
    with held_by_another_session(dead):
        assert runs_abandoned_requeue() == 0  # held: alive
    # The worker's connection is gone, so is its lock: dead at once, not minutes later.
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_abandoned_requeue() == 1
    dead.refresh_from_db()
    assert dead.status == LinkageRun.Status.ABANDONED


def test_a_run_alive_holds_its_lock_and_writes_its_heartbeat(loaded):
    run = linkage_run(extract_id=loaded.pk)
    assert run.status == LinkageRun.Status.DONE
    assert run.heartbeat_at is not None and run.heartbeat_at >= run.started_at
    if connection.vendor == "postgresql":
        # Given back when the run ended: nothing holds it now.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s",
                [int(LockId.LINKAGE_RUN)],
            )
            assert cursor.fetchone()[0] == 0


def test_work_that_kills_its_worker_every_time_is_failed_after_the_last_attempt(
    loaded, django_capture_on_commit_callbacks
):
    for _ in range(MAX_ATTEMPTS - 1):
        earlier = running(extract=loaded)
        LinkageRun.objects.filter(pk=earlier.pk).update(status=LinkageRun.Status.ABANDONED)
    last = running(extract=loaded)

    with django_capture_on_commit_callbacks(execute=True):
        assert runs_abandoned_requeue() == 1

    last.refresh_from_db()
    assert last.status == LinkageRun.Status.FAILED
    assert last.message.startswith(
        f"The worker stopped part way, as it had on the {MAX_ATTEMPTS - 1} runs of this work "
        "before, so it was not queued again."
    )
    assert not LinkageRun.objects.filter(pk__gt=last.pk).exists()  # not queued again


def test_another_extracts_abandoned_runs_do_not_count(loaded, django_capture_on_commit_callbacks):
    for _ in range(MAX_ATTEMPTS):
        other = running()  # no extract: another piece of work
        LinkageRun.objects.filter(pk=other.pk).update(status=LinkageRun.Status.ABANDONED)
    dead = running(extract=loaded)
    with django_capture_on_commit_callbacks(execute=True):
        runs_abandoned_requeue()
    dead.refresh_from_db()
    assert dead.status == LinkageRun.Status.ABANDONED


def test_a_run_dead_for_longer_than_the_visibility_timeout_is_not_queued_again(
    loaded, settings, django_capture_on_commit_callbacks
):
    # Left "running" before beat looked for such runs: the broker has given its task back.
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    dead = running(extract=loaded, heard_ago=timedelta(seconds=timeout + 60))
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert runs_abandoned_requeue() == 1
    dead.refresh_from_db()
    assert dead.status == LinkageRun.Status.ABANDONED
    assert "gave its work back to the workers" in dead.message
    assert queued == [] and not LinkageRun.objects.filter(pk__gt=dead.pk).exists()


def test_a_decision_run_is_queued_again_with_its_review_item(
    loaded, django_capture_on_commit_callbacks
):
    run = linkage_run(kind=LinkageRun.Kind.DECISION, review_item_id=12345)
    assert run.review_item_id == 12345  # recorded, so that the same task can be queued again
    dead = running(LinkageRun.Kind.DECISION, review_item_id=12345)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        runs_abandoned_requeue()
    dead.refresh_from_db()
    assert (dead.status, dead.message) == (
        LinkageRun.Status.ABANDONED,
        "The worker stopped part way; its work was queued to run again.",
    )
    assert len(queued) == 1  # relink_after_decision(review_item_id=12345): gone, so it exits


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        (LinkageRun.Kind.ERASURE, "the erasure it was part of runs it again"),
        (LinkageRun.Kind.FULL, "run the command that started it again"),
    ],
)
def test_a_run_no_task_of_linkage_started_is_abandoned_but_not_queued(
    db, kind, says, django_capture_on_commit_callbacks
):
    dead = running(kind)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert runs_abandoned_requeue() == 1
    dead.refresh_from_db()
    assert dead.status == LinkageRun.Status.ABANDONED and says in dead.message
    assert queued == [] and not LinkageRun.objects.filter(pk__gt=dead.pk).exists()


def test_the_history_page_and_the_progress_api_say_abandoned_in_words(
    client, member, loaded, django_capture_on_commit_callbacks
):
    dead = running(extract=loaded)
    with django_capture_on_commit_callbacks(execute=True):
        runs_abandoned_requeue()
    client.force_login(member(Role.PLATFORM_ADMIN))

    history = client.get(reverse("matching:linkage_status")).content.decode()
    assert "Abandoned</strong>" in history
    assert "The worker stopped part way; its work was queued to run again." in history
    page = client.get(reverse("matching:linkage_run", args=[dead.pk])).content.decode()
    assert "Abandoned:</strong> The worker stopped part way; its work was queued" in page
    progress = client.get(reverse("matching:linkage_run_progress", args=[dead.pk])).json()
    assert progress["status"] == "abandoned" and progress["status_label"] == "Abandoned"
    assert progress["finished"] is True and progress["percent"] == 100
    dead.refresh_from_db()
    assert progress["message"] == dead.message


def test_beat_runs_the_sweep_every_minute(loaded, django_capture_on_commit_callbacks):
    entry = django_settings.CELERY_BEAT_SCHEDULE["requeue-abandoned-linkage-runs"]
    # Within a minute of the worker's death on PostgreSQL, well inside the five minutes asked.
    assert entry["task"] == tasks.requeue_abandoned_linkage_runs.name and entry["schedule"] <= 60
    dead = running(extract=loaded)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.requeue_abandoned_linkage_runs.delay()
    dead.refresh_from_db()
    assert dead.status == LinkageRun.Status.ABANDONED
