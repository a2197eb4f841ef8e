"""Housekeeping: extracts never picked up are sent again; raw upload files nothing points to go."""

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from agencies.ingest.receive import upload_dir
from agencies.models import (
    Extract,
    ExtractStatus,
    SealedUpload,
    SealedUploadStatus,
)

logger = logging.getLogger(__name__)


# --- Housekeeping -------------------------------------------------------------------------------

STALLED_AFTER = timedelta(minutes=10)
ORPHAN_AFTER = timedelta(hours=1)


def extracts_stalled_requeue(*, now: datetime | None = None) -> int:
    """Send again the extracts that were stored but never picked up (the broker was down when
    they were queued, or their message was lost); returns how many. Sending twice is harmless:
    an extract is processed once whatever the number of deliveries."""
    from agencies.tasks import ingest_extract

    cutoff = (now or timezone.now()) - STALLED_AFTER
    stalled = list(
        Extract.objects.filter(status=ExtractStatus.RECEIVED, uploaded_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    for extract_id in stalled:
        ingest_extract.delay(extract_id=extract_id)
    if stalled:
        logger.warning("requeued %s stalled extracts", len(stalled))
    return len(stalled)


def uploads_orphaned_sweep(*, now: datetime | None = None) -> int:
    """Delete raw upload files no extract in flight points to (left by a process that died
    between finishing an extract and deleting its file); returns how many. They hold
    identifiers, so they must not linger."""
    cutoff = ((now or timezone.now()) - ORPHAN_AFTER).timestamp()
    in_flight = set(
        Extract.objects.filter(
            status__in=[ExtractStatus.RECEIVED, ExtractStatus.PROCESSING]
        ).values_list("stored_file", flat=True)
    )
    # A bridge upload still receiving chunks keeps its file for up to a day; its expiry
    # (agencies.sealed_uploads) deletes it, not this.
    in_flight |= set(
        SealedUpload.objects.filter(status=SealedUploadStatus.OPEN).values_list(
            "stored_file", flat=True
        )
    )
    removed = 0
    for path in [*upload_dir().glob("*.upload"), *upload_dir().glob("*.sealed")]:
        if path.name not in in_flight and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        logger.warning("removed %s orphaned upload files", removed)
    return removed
