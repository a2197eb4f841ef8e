"""Linkage work for the Celery workers: thin, idempotent, and safe to deliver twice.

A linkage run reads the data as it is when it runs (records, keys, every review decision), so
running one twice gives the same persons; a redelivered task costs time, never correctness.
Runs take turns (matching.linkage holds an advisory lock on PostgreSQL).
"""

from celery import shared_task

from agencies.models import Extract, ExtractStatus
from matching.housekeeping import runs_abandoned_requeue
from matching.linkage.run import linkage_run
from matching.linked_share import extract_linked_share_store
from matching.models import LinkageRun, ReviewItem
from matching.signals import extract_linked, persons_relinked


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def link_after_extract(*, extract_id: int) -> None:
    """Link the records an extract added or changed."""
    status = Extract.objects.filter(pk=extract_id).values_list("status", flat=True).first()
    if status != ExtractStatus.LOADED:
        return  # gone, or nothing of it was loaded: nothing to link
    linkage_run(extract_id=extract_id)
    # The data quality page's share of the dataset linked to other agencies, as this run left it.
    extract_linked_share_store(extract_id=extract_id)
    extract_linked.send(sender=LinkageRun, extract_id=extract_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def relink_after_decision(*, review_item_id: int) -> None:
    """Rebuild persons with a reviewer's decision on a pair: same person, or different people."""
    status = ReviewItem.objects.filter(pk=review_item_id).values_list("status", flat=True).first()
    if status not in (ReviewItem.Status.CONFIRMED, ReviewItem.Status.REJECTED):
        return  # gone, or no longer decided: nothing to apply
    # The run re-clusters the two records' persons (and any a decision ties to them), not
    # everything: a reviewer's day of decisions must not cost a day of full runs.
    linkage_run(kind=LinkageRun.Kind.DECISION, review_item_id=review_item_id)
    persons_relinked.send(sender=LinkageRun)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def relink_everything(*, run_id: int) -> None:
    """Estimate the model afresh and re-link every record (a platform admin's relink)."""
    from matching.relink import relink_run

    run = relink_run(run_id=run_id)
    if run is None or run.status != LinkageRun.Status.DONE:
        return
    persons_relinked.send(sender=LinkageRun)


@shared_task(ignore_result=True)
def requeue_abandoned_linkage_runs() -> None:
    """Periodic (beat): linkage runs whose worker died marked abandoned and their work queued
    again (matching.housekeeping). Idempotent."""
    runs_abandoned_requeue()
