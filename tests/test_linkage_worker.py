"""A worker killed with SIGKILL in the middle of linkage, four agencies' extracts uploaded at once:
beat's job finds the run dead, marks it abandoned and queues its work again, and every record
ends linked exactly once - without waiting for the broker's visibility timeout (an hour), which
would otherwise be what brings the task back (issue 25)."""

import os
import signal
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agencies.models import AgencyKind, Extract, ExtractStatus, SourceRecord
from matching.housekeeping import REQUEUED, runs_abandoned_requeue
from matching.linkage.alive import HEARTBEAT_STALE_AFTER
from matching.models import LinkageRecord, LinkageRun, Person
from sharehub.celery import app as celery_app
from synthetic.loading import synthetic_load
from synthetic.services import synthetic_population_write
from tests.factories import AgencyFactory
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PEOPLE = 4_000  # about 14,000 records in the four extracts: linkage takes seconds, not less
# The production default, said out loud: the killed worker's task does not come back from
# Redis during the test, so it is beat's job that has the work run again.
WORKER_ENV = {"CELERY_VISIBILITY_TIMEOUT": str(60 * 60)}
# After the keys are written and before persons are: the stages of a run on 14,000 records take
# from a tenth of a second to two (the model's estimate), so any of them, not one, is waited for.
MID_LINKAGE = {"load", "model", "region", "candidates", "scoring", "clustering", "persons"}


@contextmanager
def through_redis():
    """Tasks queued in the block go to Redis for the next worker, as from beat's process."""
    celery_app.conf.task_always_eager = False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = True


def test_a_worker_killed_mid_linkage_costs_a_sweep_not_the_visibility_timeout(tmp_path):
    synthetic_population_write(people=PEOPLE, seed=25, out_dir=tmp_path)
    agencies = {
        "social_care": AgencyFactory(code="CSC", kind=AgencyKind.CHILDRENS_SOCIAL_CARE),
        "police": AgencyFactory(code="POL", kind=AgencyKind.POLICE),
        "health": AgencyFactory(code="HLT", kind=AgencyKind.HEALTH),
        "housing": AgencyFactory(code="HSG", kind=AgencyKind.HOUSING),
    }

    # All four uploaded, their ingests queued, before the worker starts: the worker alone writes
    # from here on (two processes writing at once can trip SQLite).
    with through_redis():
        extracts = synthetic_load(out_dir=tmp_path, agencies=agencies)
    assert len(extracts) == 4

    with celery_worker(extra_env=WORKER_ENV) as first:

        def linking_part_way():
            return LinkageRun.objects.filter(
                status=LinkageRun.Status.RUNNING, stage__in=MID_LINKAGE
            ).first()

        killed = wait_for(linking_part_way, timeout=240, interval=0.02)
        # Alive while its worker is: the sweep leaves a live run alone.
        assert runs_abandoned_requeue() == 0
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

    killed.refresh_from_db()
    assert killed.status == LinkageRun.Status.RUNNING  # what the history showed for ever
    assert killed.extract_id in {extract.pk for extract in extracts}

    # Beat's job, as beat runs it: the work goes through Redis to the next worker. On PostgreSQL
    # the dead worker's lock is free as soon as the server has seen its connection close; on
    # SQLite the run's heartbeat must first be older than the staleness window.
    if connection.vendor == "postgresql":
        later = None
    else:
        later = timezone.now() + HEARTBEAT_STALE_AFTER + timedelta(minutes=1)
    with through_redis():
        wait_for(lambda: runs_abandoned_requeue(now=later), timeout=30, interval=0.5)
    killed.refresh_from_db()
    assert (killed.status, killed.message) == (LinkageRun.Status.ABANDONED, REQUEUED)

    with celery_worker(extra_env=WORKER_ENV):

        def all_linked():
            in_flight = LinkageRun.objects.filter(
                status__in=[LinkageRun.Status.QUEUED, LinkageRun.Status.RUNNING]
            )
            linked = {
                extract_id
                for extract_id in LinkageRun.objects.filter(
                    status=LinkageRun.Status.DONE, pk__gt=killed.pk
                ).values_list("extract_id", flat=True)
            }
            return not in_flight.exists() and linked >= {extract.pk for extract in extracts}

        wait_for(all_linked, timeout=240, interval=0.5)

    assert all(
        status == ExtractStatus.LOADED
        for status in Extract.objects.values_list("status", flat=True)
    )
    records = SourceRecord.objects.filter(is_retired=False)
    assert records.count() > 10_000
    # Every record is in exactly one person (one linkage row each, which names one person), and
    # the killed run left no person without records behind.
    assert LinkageRecord.objects.filter(person__isnull=False).count() == records.count()
    assert LinkageRecord.objects.filter(person__isnull=True).count() == 0
    assert not Person.objects.filter(is_active=True, records__isnull=True).exists()
    # The killed run's extract was linked again by a run of its own; the killed run says why.
    again = LinkageRun.objects.filter(extract_id=killed.extract_id, pk__gt=killed.pk)
    assert again.filter(status=LinkageRun.Status.DONE).exists()
    killed.refresh_from_db()
    assert killed.status == LinkageRun.Status.ABANDONED
