import logging
import traceback

from celery import shared_task

from agencies.ingest.housekeeping import extracts_stalled_requeue, uploads_orphaned_sweep
from agencies.ingest.merge import extract_fail
from agencies.ingest.process import MAX_ATTEMPTS, ExtractBusy, extract_ingest
from agencies.models import Extract, ExtractStatus
from agencies.signals import extract_loaded

logger = logging.getLogger(__name__)


class IngestAttemptFailed(Exception):
    """What is retried in place of the real error, whose message may quote a row's content
    (a database error can include the offending line). Only the error's type is carried."""


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_ATTEMPTS,
    ignore_result=True,
)
def ingest_extract(self, *, extract_id: int) -> None:
    """Ingest one extract. Safe to deliver twice: a finished extract is left alone, and a run
    that died part way starts again from the file."""
    try:
        extract_ingest(extract_id=extract_id)
    except ExtractBusy:
        raise self.retry(countdown=30, exc=IngestAttemptFailed("ExtractBusy")) from None
    except Exception as error:
        kind = type(error).__name__
        # The traceback's frames, never the message: logs must not hold personal data.
        frames = "".join(traceback.format_tb(error.__traceback__))
        if self.request.retries >= MAX_ATTEMPTS or self.request.is_eager:
            logger.error("extract %s: failed for good (%s)\n%s", extract_id, kind, frames)
            extract_fail(extract_id=extract_id, reason=kind)
            return
        logger.warning("extract %s: attempt failed (%s), will retry\n%s", extract_id, kind, frames)
        raise self.retry(
            countdown=10 * (self.request.retries + 1), exc=IngestAttemptFailed(kind)
        ) from None
    # What follows a loaded extract (sharehub.pipeline: seals, then linkage) follows every
    # delivery that finds it loaded; a redelivery links again and finds nothing new. Looked up
    # afresh: the extract may have loaded in an earlier delivery.
    if Extract.objects.filter(pk=extract_id, status=ExtractStatus.LOADED).exists():
        extract_loaded.send(sender=Extract, extract_id=extract_id)


@shared_task(ignore_result=True)
def requeue_stalled_extracts() -> None:
    """Periodic (beat): stalled extracts sent again, orphaned raw files removed. Idempotent."""
    extracts_stalled_requeue()
    uploads_orphaned_sweep()


@shared_task(ignore_result=True)
def sealed_uploads_expire() -> None:
    """Periodic (beat): bridge uploads not completed in time deleted with their chunks."""
    from agencies.sealed_uploads import sealed_uploads_expire as expire

    expire()
