"""Re-estimating the linkage model and re-linking everything, on a platform admin's request.

A relink is what an upgrade that changes how records are compared needs, and what a platform
admin asks for when the model's figures look wrong: the model is estimated afresh from every live
record, then every record is clustered again under it. Persons keep their ids (a merge keeps the
older person, a split keeps the id on the part holding its oldest record), and the run says how
many persons merged and split. It runs as a Celery task, one at a time, with its progress on the
run (matching.linkage.figures.STAGES).
"""

import logging

from django.db import transaction
from django.utils import timezone

from matching import scoring
from matching.housekeeping import runs_abandoned_requeue
from matching.linkage.run import linkage_run
from matching.model import model_current
from matching.models import LinkageRun, ReviewItem

logger = logging.getLogger(__name__)

IN_FLIGHT = (LinkageRun.Status.QUEUED, LinkageRun.Status.RUNNING)


class RelinkRefused(Exception):
    """A relink cannot be started now; the message says why."""


def relink_in_flight() -> LinkageRun | None:
    """The re-link waiting or running, if any, once runs whose worker died are seen to (beat
    does that every minute; the embedded default has no beat but this page)."""
    runs_abandoned_requeue()
    return _relink_in_flight()


def _relink_in_flight() -> LinkageRun | None:
    return (
        LinkageRun.objects.filter(kind=LinkageRun.Kind.RELINK, status__in=IN_FLIGHT)
        .order_by("-pk")
        .first()
    )


def relink_request(*, requested_by, membership=None, channel: str = "web") -> LinkageRun:
    """Queue a relink of everything; refused while another is waiting or running. Audited."""
    from audit.models import AuditAction
    from audit.services import audit_record

    # Outside the transaction: a dead re-link queued again must stay queued when this one is
    # refused for it.
    runs_abandoned_requeue()
    with transaction.atomic():
        # Taking turns on the row lock of the newest run keeps two admins' clicks from both
        # queueing one.
        LinkageRun.objects.select_for_update().order_by("-pk").first()
        current = _relink_in_flight()
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
        "message": run.message,
    }
