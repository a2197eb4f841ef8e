"""Finishing an extract: the threshold over the whole file, then staging merged into the dataset's
records in one transaction, or the file refused whole with nothing changed.
"""

import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agencies.ingest.receive import upload_dir, withdrawn_message
from agencies.models import (
    Dataset,
    Extract,
    ExtractChannel,
    ExtractMode,
    ExtractStatus,
    QuarantinedRow,
    StagedRow,
)
from sharehub_bridge.readers import ExtractFileError

logger = logging.getLogger(__name__)


# The advice for a file refused whole: nothing of it loaded, so sending only the rows set aside
# (as an incremental extract) would leave every good row of the file unloaded.
WHOLE_FILE_AGAIN = (
    "Fix the rows set aside in your file (the extract's page lists each one with its reasons, "
    "and the download has them too), then upload the whole file again."
)


def extract_finish(extract: Extract, counts: dict[str, int], repairs: dict, quality: dict) -> None:
    threshold = settings.SHAREHUB_QUARANTINE_THRESHOLD
    read, bad = counts["read"], counts["quarantined"]
    if read == 0:
        raise ExtractFileError(
            "The file has a header but no rows. Nothing was changed"
            + (
                ": a full refresh with no rows would retire every record of the dataset."
                if extract.mode == ExtractMode.FULL
                else "."
            )
        )
    if extract.channel == ExtractChannel.BRIDGE:
        # The rows set aside never left the agency: the bridge's own file there lists them.
        fix = (
            "Fix the rows set aside, then push the whole file again: those the bridge kept back "
            "are in its set-aside file at your agency, and those ShareHub refused are listed on "
            "the extract's page."
        )
    else:
        fix = WHOLE_FILE_AGAIN
    if extract.mode == ExtractMode.FULL and counts["loaded"] == 0:
        raise ExtractFileError(
            "No row of this full refresh could be loaded, so nothing was changed: loading it "
            f"would retire every record. {fix}"
        )
    if bad / read > threshold:
        raise ExtractFileError(
            f"{bad:,} of {read:,} rows ({bad / read:.1%}) have problems, which is over the "
            f"{threshold:.0%} limit, so no row was loaded. {fix}"
        )
    with transaction.atomic():
        # Merges of one dataset take turns, so two extracts never interleave their writes (and
        # an erasure of the dataset's records takes the same lock: retention.services).
        dataset = Dataset.objects.select_for_update().get(pk=extract.dataset_id)
        locked = Extract.objects.select_for_update().get(pk=extract.pk)
        if locked.status != ExtractStatus.PROCESSING:
            return  # finished by an earlier delivery of the same task
        if dataset.withdrawn_at is not None:
            raise ExtractFileError(withdrawn_message(dataset))
        newer = Extract.objects.filter(
            dataset_id=extract.dataset_id, status=ExtractStatus.LOADED, pk__gt=extract.pk
        ).first()
        if newer is not None:
            raise ExtractFileError(
                f"Extract {newer.number}, uploaded after this one, was loaded first, so this older "
                "extract was not applied over it. Nothing was changed. Upload it again if its "
                "records are still wanted."
            )
        retired = staging_merge(locked)
        Extract.objects.filter(pk=extract.pk).update(
            status=ExtractStatus.LOADED,
            rows_read=read,
            rows_loaded=counts["loaded"],
            rows_warned=counts["warned"],
            rows_quarantined=bad,
            records_retired=retired,
            repairs=repairs,
            quality=quality,
            bytes_processed=extract.size_bytes,
            finished_at=timezone.now(),
            stored_file="",
        )
    upload_discard(extract)
    logger.info(
        "extract %s: loaded %s rows, %s quarantined, %s retired",
        extract.pk,
        counts["loaded"],
        bad,
        retired,
    )


def staging_merge(extract: Extract) -> int:
    """Move staged rows into the dataset's records in one statement; returns how many retired."""
    record_table = "agencies_sourcerecord"
    staged_table = StagedRow._meta.db_table
    quarantine_table = QuarantinedRow._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        # `WHERE true` lets SQLite parse an upsert from a SELECT; PostgreSQL ignores it.
        cursor.execute(
            f"""
            INSERT INTO {record_table} (dataset_id, source_id, identity, payload, event_date,
                warnings, first_extract_id, last_extract_id, is_retired, retired_by_id, updated_at)
            SELECT %s, source_id, identity, payload, event_date, warnings, %s, %s, %s, NULL, %s
            FROM {staged_table} WHERE extract_id = %s AND true
            ON CONFLICT (dataset_id, source_id) DO UPDATE SET
                identity = excluded.identity,
                payload = excluded.payload,
                event_date = excluded.event_date,
                warnings = excluded.warnings,
                last_extract_id = excluded.last_extract_id,
                is_retired = excluded.is_retired,
                retired_by_id = NULL,
                updated_at = excluded.updated_at
            """,  # noqa: S608 - table names are ours; values are parameters
            [extract.dataset_id, extract.pk, extract.pk, False, now, extract.pk],
        )
        retired = 0
        if extract.mode == ExtractMode.FULL:
            # Records missing from a full refresh are retired, never deleted: what was known
            # stays explainable, and a later extract can bring them back.
            cursor.execute(
                f"""
                UPDATE {record_table} SET is_retired = %s, retired_by_id = %s, updated_at = %s
                WHERE dataset_id = %s AND is_retired = %s AND last_extract_id <> %s
                AND source_id NOT IN (
                    SELECT source_id FROM {quarantine_table}
                    WHERE extract_id = %s AND source_id <> ''
                )
                """,  # noqa: S608
                [True, extract.pk, now, extract.dataset_id, False, extract.pk, extract.pk],
            )
            retired = cursor.rowcount
        cursor.execute(f"DELETE FROM {staged_table} WHERE extract_id = %s", [extract.pk])  # noqa: S608
    return retired


def extract_reject(extract: Extract, message: str) -> None:
    with transaction.atomic():
        StagedRow.objects.filter(extract=extract).delete()
        Extract.objects.filter(pk=extract.pk).update(
            status=ExtractStatus.REJECTED,
            message=message,
            # Nothing of a rejected file is in the dataset: the counts of the attempt (rows that
            # would have loaded) must not read as if they were. Rows read and rows set aside
            # stay, with their reasons, so the admin can fix them.
            rows_loaded=0,
            rows_warned=0,
            records_retired=0,
            repairs={},
            finished_at=timezone.now(),
            stored_file="",
        )
    upload_discard(extract)
    logger.info("extract %s: rejected", extract.pk)


def extract_fail(*, extract_id: int, reason: str) -> None:
    """Mark an extract failed after its retries ran out; staging goes, the dataset is unchanged."""
    with transaction.atomic():
        StagedRow.objects.filter(extract_id=extract_id).delete()
        stored_file = (
            Extract.objects.filter(pk=extract_id).values_list("stored_file", flat=True).first()
        )
        Extract.objects.filter(
            pk=extract_id, status__in=[ExtractStatus.RECEIVED, ExtractStatus.PROCESSING]
        ).update(
            status=ExtractStatus.FAILED,
            stored_file="",
            rows_loaded=0,
            rows_warned=0,
            records_retired=0,
            repairs={},
            message=(
                "ShareHub could not process this extract because of an internal error "
                f"({reason}). Nothing was changed. Upload it again; if it fails again, "
                "contact the platform admin."
            ),
            finished_at=timezone.now(),
        )
    if stored_file:
        (upload_dir() / stored_file).unlink(missing_ok=True)


def upload_discard(extract: Extract) -> None:
    # The raw file holds plaintext identifiers: it goes as soon as the extract is finished. The
    # row already says so (stored_file is cleared with the final status, in one transaction).
    if extract.stored_file:
        (upload_dir() / extract.stored_file).unlink(missing_ok=True)
