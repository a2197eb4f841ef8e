import logging

from celery import shared_task

from agencies.ingest import ExtractBusy, extract_fail, extract_ingest

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_ATTEMPTS)
def ingest_extract(self, *, extract_id: int) -> None:
    """Ingest one extract. Safe to deliver twice: a finished extract is left alone, and a run
    that died part way starts again from the file."""
    try:
        extract_ingest(extract_id=extract_id)
    except ExtractBusy as busy:
        raise self.retry(countdown=30, exc=busy) from busy
    except Exception as error:
        if self.request.retries >= MAX_ATTEMPTS or self.request.is_eager:
            logger.exception("extract %s: failed for good", extract_id)
            extract_fail(extract_id=extract_id, reason=type(error).__name__)
            if self.request.is_eager:
                return
            raise
        logger.warning(
            "extract %s: attempt failed (%s), will retry", extract_id, type(error).__name__
        )
        raise self.retry(countdown=10 * (self.request.retries + 1), exc=error) from error
