"""Housekeeping of linkage runs: a run whose worker died is marked abandoned and its work queued
again, within a minute or two rather than when the broker gives the task back (Redis's visibility
timeout, an hour by default); a queued re-link no worker ever started is closed.

Beat runs it every minute (matching.tasks.requeue_abandoned_linkage_runs), and the linkage page
does too, for the embedded default, which has no beat. Two sweeps at once are harmless: a dead
run is claimed with a conditional update, so its work is queued once whichever claims it. Queuing
the work again is safe because linkage is idempotent under its lock (matching.tasks): the run
that follows reads the data as it is and links every record not yet placed.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from matching.linkage.alive import run_is_dead
from matching.models import LinkageRun

logger = logging.getLogger(__name__)

# Runs of one piece of work (an extract's linkage, a decision's, a re-link) whose worker died:
# the third is not queued again but failed, so a run that kills its worker every time (one that
# outgrows the worker's memory, say) does not go round for ever.
MAX_ATTEMPTS = 3
# A queued re-link no worker has started after this long was lost (the broker was down, or its
# message was): it is closed so that another can be asked for.
QUEUED_FOR_TOO_LONG = timedelta(minutes=30)

REQUEUED = "The worker stopped part way; its work was queued to run again."
GIVEN_BACK = (
    "The worker stopped part way; the task queue gave its work back to the workers when its "
    "visibility timeout had passed."
)
NOT_QUEUED_BY_US = "The process running it stopped part way. Nothing queues this kind of run again."
NOT_REQUEUED: dict[str, str] = {
    LinkageRun.Kind.ERASURE: (
        "The worker stopped part way; the erasure it was part of runs it again when the erasure "
        "is retried, tonight at the latest."
    ),
    LinkageRun.Kind.FULL: (
        "The process running it stopped part way. Nothing queues this kind of run again: run the "
        "command that started it again."
    ),
    LinkageRun.Kind.INCREMENTAL: (
        "The process running it stopped part way. The next linkage run links the records it left."
    ),
}


def runs_abandoned_requeue(*, now: datetime | None = None) -> int:
    """Mark abandoned the running runs whose worker died and queue their work again (or fail
    them, after MAX_ATTEMPTS), and close queued re-links that never started. Returns how many
    runs it ended."""
    now = now or timezone.now()
    ended = 0
    in_flight = LinkageRun.objects.filter(
        status__in=[LinkageRun.Status.QUEUED, LinkageRun.Status.RUNNING]
    ).order_by("pk")
    for run in in_flight:
        if run.status == LinkageRun.Status.QUEUED:
            ended += _queued_lost_close(run, now)
        elif run_is_dead(run, now=now):
            ended += _abandon(run, now)
    if ended:
        logger.warning("ended %s linkage runs whose worker died or never started", ended)
    return ended


def _queued_lost_close(run: LinkageRun, now: datetime) -> int:
    if run.started_at >= now - QUEUED_FOR_TOO_LONG:
        return 0
    return LinkageRun.objects.filter(pk=run.pk, status=LinkageRun.Status.QUEUED).update(
        status=LinkageRun.Status.FAILED,
        finished_at=now,
        stage="",
        message=(
            "No worker started it within 30 minutes: its task was lost. Ask for the re-link "
            "again; if it is lost again, the task queue's log says why."
        ),
    )


def _abandon(run: LinkageRun, now: datetime) -> int:
    task, arguments = _work_of(run)
    earlier = _earlier_attempts(run) if task is not None else 0
    if task is None:
        status, message = LinkageRun.Status.ABANDONED, NOT_REQUEUED.get(run.kind, NOT_QUEUED_BY_US)
    elif (run.heartbeat_at or run.started_at) < now - _visibility_timeout():
        # Dead for longer than the broker keeps an unacknowledged task from the queue (a run
        # left "running" before this sweep existed): its task is back on the queue already.
        task = None
        status, message = LinkageRun.Status.ABANDONED, GIVEN_BACK
    elif earlier + 1 >= MAX_ATTEMPTS:
        task = None
        status = LinkageRun.Status.FAILED
        message = (
            f"The worker stopped part way, as it had on the {earlier} runs of this work before, "
            "so it was not queued again. The worker's log says why; a worker stopped for using "
            "too much memory is the usual cause."
        )
    else:
        status, message = LinkageRun.Status.ABANDONED, REQUEUED
    with transaction.atomic():
        # Unchanged since it was found dead: a sweep beside this one, or a re-link delivered
        # again and running it afresh, has not got there first.
        claimed = LinkageRun.objects.filter(
            pk=run.pk, status=LinkageRun.Status.RUNNING, heartbeat_at=run.heartbeat_at
        ).update(status=status, finished_at=now, stage="", message=message)
        if not claimed or task is None:
            return claimed
        if run.kind == LinkageRun.Kind.RELINK:
            # A re-link's task carries its run, which has ended: the work goes on as a new run,
            # queued as the admin's own was, so its page shows progress from the start.
            again = LinkageRun.objects.create(
                kind=LinkageRun.Kind.RELINK,
                status=LinkageRun.Status.QUEUED,
                requested_by_id=run.requested_by_id,
            )
            arguments = {"run_id": again.pk}
            LinkageRun.objects.filter(pk=run.pk).update(
                message=(
                    "The worker stopped part way; the re-link was queued to run again, as run "
                    f"{again.pk}."
                )
            )
        transaction.on_commit(lambda: _enqueue(run.pk, task, arguments))
    logger.warning("linkage run %s: its worker died; its work was queued again", run.pk)
    return claimed


def _visibility_timeout() -> timedelta:
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    return timedelta(seconds=options.get("visibility_timeout", 60 * 60))


def _work_of(run: LinkageRun) -> tuple[Any, dict[str, int]]:
    """The task that does a run's work, with its ids, or None when no task of ours started it
    (a command's full run, an erasure's, which retention retries)."""
    from matching.tasks import link_after_extract, relink_after_decision, relink_everything

    if run.kind == LinkageRun.Kind.INCREMENTAL and run.extract_id is not None:
        return link_after_extract, {"extract_id": run.extract_id}
    if run.kind == LinkageRun.Kind.DECISION and run.review_item_id is not None:
        return relink_after_decision, {"review_item_id": run.review_item_id}
    if run.kind == LinkageRun.Kind.RELINK:
        return relink_everything, {"run_id": run.pk}
    return None, {}


def _earlier_attempts(run: LinkageRun) -> int:
    """How many runs of the same work died before this one."""
    abandoned = LinkageRun.objects.filter(
        kind=run.kind, status=LinkageRun.Status.ABANDONED, pk__lt=run.pk
    )
    if run.kind == LinkageRun.Kind.INCREMENTAL:
        return abandoned.filter(extract=run.extract_id).count()
    if run.kind == LinkageRun.Kind.DECISION:
        return abandoned.filter(review_item_id=run.review_item_id).count()
    # Re-links take turns (matching.relink), so the abandoned ones since the last that ended
    # otherwise are this one's earlier attempts.
    last_otherwise = (
        LinkageRun.objects.filter(kind=run.kind, pk__lt=run.pk)
        .exclude(status=LinkageRun.Status.ABANDONED)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return abandoned.filter(pk__gt=last_otherwise or 0).count()


def _enqueue(run_id: int, task: Any, arguments: dict[str, int]) -> None:
    try:
        task.delay(**arguments)
    except OperationalError:  # the broker is down; the next sweep cannot see this run: say so
        logger.exception("linkage run %s: its work could not be queued again", run_id)
        LinkageRun.objects.filter(pk=run_id).update(
            message=(
                "The worker stopped part way, and the task queue did not answer when its work "
                "was queued again; the broker gives the worker's task back within the hour."
            )
        )
        if "run_id" in arguments:
            LinkageRun.objects.filter(
                pk=arguments["run_id"], status=LinkageRun.Status.QUEUED
            ).update(
                status=LinkageRun.Status.FAILED,
                finished_at=timezone.now(),
                message="The task queue did not answer: ask for the re-link again.",
            )
    except Exception as error:  # noqa: BLE001 - run in-process (embedded): its run says it failed
        # The class only: a database error's text can quote the row it failed on.
        logger.error(  # noqa: TRY400
            "linkage run %s: its work, run again, failed (%s)", run_id, type(error).__name__
        )
