"""Re-estimating the linkage model and re-linking everything, on a platform admin's request.

A relink is what an upgrade that changes how records are compared needs, and what a platform
admin asks for when the model's figures look wrong: the model is estimated afresh from every live
record, then every record is clustered again under it. Persons keep their ids (a merge keeps the
older person, a split keeps the id on the part holding its oldest record), and the run says how
many persons merged and split. It runs as a Celery task, one at a time, with its progress on the
run (matching.linkage.figures.STAGES).
"""

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from core.locks import LockId, advisory_lock_try
from matching import scoring
from matching.linkage.run import linkage_run
from matching.model import model_current
from matching.models import LinkageRun, ReviewItem

logger = logging.getLogger(__name__)

IN_FLIGHT = (LinkageRun.Status.QUEUED, LinkageRun.Status.RUNNING)


class RelinkRefused(Exception):
    """A relink cannot be started now; the message says why."""


# A queued relink no worker has started after this long was lost (the broker was down, or its
# message was): it is closed so that another can be asked for.
QUEUED_FOR_TOO_LONG = timedelta(minutes=30)
# On the embedded default (no advisory locks to ask) a run still "running" after this long died
# with its process; a relink of a million records takes minutes.
RUNNING_FOR_TOO_LONG = timedelta(hours=6)


def _abandoned(run: LinkageRun, now) -> bool:
    if run.status == LinkageRun.Status.QUEUED:
        return run.started_at < now - QUEUED_FOR_TOO_LONG
    if connection.vendor == "postgresql":
        # A running run holds the linkage lock (matching.linkage.run); if it can be taken, the
        # worker that held it is gone (PostgreSQL drops a dead connection's locks).
        with advisory_lock_try(LockId.LINKAGE) as free:
            return free
    return run.started_at < now - RUNNING_FOR_TOO_LONG


def runs_abandoned_close() -> int:
    """Mark failed the runs whose worker died or whose task never arrived, so that they neither
    show progress for ever nor stop a new relink being asked for. Returns how many."""
    now = timezone.now()
    closed = 0
    for run in LinkageRun.objects.filter(status__in=IN_FLIGHT).order_by("pk"):
        if _abandoned(run, now):
            closed += LinkageRun.objects.filter(pk=run.pk, status=run.status).update(
                status=LinkageRun.Status.FAILED,
                finished_at=now,
                stage="",
                figures={**run.figures, "abandoned": True},
            )
    if closed:
        logger.warning("closed %s abandoned linkage runs", closed)
    return closed


def relink_in_flight() -> LinkageRun | None:
    runs_abandoned_close()
    return (
        LinkageRun.objects.filter(kind=LinkageRun.Kind.RELINK, status__in=IN_FLIGHT)
        .order_by("-pk")
        .first()
    )


def relink_request(*, requested_by, membership=None, channel: str = "web") -> LinkageRun:
    """Queue a relink of everything; refused while another is waiting or running. Audited."""
    from audit.models import AuditAction
    from audit.services import audit_record

    with transaction.atomic():
        # Taking turns on the row lock of the newest run keeps two admins' clicks from both
        # queueing one.
        LinkageRun.objects.select_for_update().order_by("-pk").first()
        current = relink_in_flight()
        if current is not None:
            raise RelinkRefused(
                f"A re-link (run {current.pk}) is already {current.get_status_display().lower()}. "
                "Wait for it to finish; its page shows how far it has got."
            )
        run = LinkageRun.objects.create(
            kind=LinkageRun.Kind.RELINK, status=LinkageRun.Status.QUEUED, requested_by=requested_by
        )
        audit_record(
            action=AuditAction.RELINK,
            actor=requested_by,
            membership=membership,
            channel=channel,
            detail={"linkage_run": run.pk},
        )
        if channel != "command":
            transaction.on_commit(lambda: _enqueue(run.pk))
    return run


def _enqueue(run_id: int) -> None:
    from matching.tasks import relink_everything

    try:
        relink_everything.delay(run_id=run_id)
    except Exception:  # the broker is down: say so on the run rather than leave it queued
        logger.exception("linkage run %s could not be queued", run_id)
        LinkageRun.objects.filter(pk=run_id, status=LinkageRun.Status.QUEUED).update(
            status=LinkageRun.Status.FAILED,
            finished_at=timezone.now(),
            figures={"not_queued": True},
        )


def relink_run(*, run_id: int) -> LinkageRun | None:
    """Carry out a queued relink (or one whose worker died part way): estimate the model afresh
    and re-cluster every record. A finished or unknown run is left alone."""
    run = LinkageRun.objects.filter(pk=run_id, kind=LinkageRun.Kind.RELINK).first()
    if run is None or run.is_finished:
        return run
    return linkage_run(full=True, reestimate=True, kind=LinkageRun.Kind.RELINK, run=run)


def linkage_overview() -> dict:
    """What the linkage page shows: the model in use and how it was estimated, the latest runs,
    the open review queue. Counts and figures only, never an identifier."""
    from agencies.models import Dataset

    model, parameters = model_current()
    runs = list(LinkageRun.objects.select_related("requested_by").order_by("-pk")[:20])
    fit = model.fit if model is not None else {}
    names = dict(Dataset.objects.values_list("pk", "name"))
    labels = {context.name: context.label for context in scoring.CONTEXTS}
    return {
        "model": model,
        "fit": fit,
        "datasets_seen": [
            (names.get(int(dataset), f"Dataset {dataset} (withdrawn)"), count)
            for dataset, count in fit.get("datasets", {}).items()
        ],
        "contexts": [
            (labels.get(name, name), share)
            for name, share in (parameters.contexts.items() if parameters else [])
        ],
        "runs": runs,
        "in_flight": relink_in_flight(),
        "review_open": ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).count(),
    }


def run_progress_data(run: LinkageRun) -> dict:
    figures = run.figures or {}
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "stage": run.stage,
        "finished": run.is_finished,
        "percent": run.progress_percent,
        "persons_merged": figures.get("persons_merged"),
        "persons_split": figures.get("persons_split"),
    }
