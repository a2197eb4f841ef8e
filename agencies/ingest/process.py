"""Processing an extract, all or nothing and exactly once: one attempt at a time per extract,
staging thrown away and redone on every attempt, then the merge.
"""

import logging
from collections import Counter

from django.utils import timezone

from agencies.ingest.merge import extract_fail, extract_finish, extract_reject
from agencies.ingest.receive import SET_ASIDE_AS_FULL_REFRESH, extract_limits, upload_dir
from agencies.ingest.sealed import sealed_extract_stage
from agencies.ingest.staging import StagingWriter, extract_progress_save
from agencies.ingest.validation import (
    dob_order_read,
    dob_unreadable_check,
    repairs_summary,
    rows_stage,
)
from agencies.models import (
    Extract,
    ExtractChannel,
    ExtractMode,
    ExtractStatus,
    QuarantinedRow,
    StagedRow,
)
from core.keys import AgencySealer
from core.locks import LockId, advisory_lock_try
from sharehub_bridge.definitions import definition_from_version
from sharehub_bridge.readers import ExtractFileError, extract_open
from sharehub_bridge.validation import (
    IdentifierTally,
    RowValidator,
    header_check,
    set_aside_download,
)

logger = logging.getLogger(__name__)

# How many times one extract is tried: the ingest task's retries after an error
# (agencies.tasks), and the deliveries counted on the extract after a worker died.
MAX_ATTEMPTS = 3


# --- Ingesting ----------------------------------------------------------------------------------


class ExtractBusy(Exception):
    """Another live process holds this extract; the task retries later."""


def extract_ingest(*, extract_id: int) -> Extract | None:
    """Process a received extract from the start; does nothing if it already finished."""
    # One process at a time per extract (core.locks): a killed worker never blocks a retry.
    with advisory_lock_try(LockId.EXTRACT_INGEST, extract_id) as acquired:
        if not acquired:
            raise ExtractBusy(f"extract {extract_id} is being processed by another worker")
        extract = Extract.objects.select_related("dataset", "version").filter(pk=extract_id).first()
        if extract is None or extract.is_finished:
            return extract
        if extract.attempts >= MAX_ATTEMPTS:
            # Delivered again after its worker died each time (out of memory, say): stop here.
            extract_fail(extract_id=extract.pk, reason=f"{MAX_ATTEMPTS} attempts did not finish")
            extract.refresh_from_db()
            return extract
        _attempt_start(extract)
        try:
            _ingest(extract)
        except ExtractFileError as error:
            extract_reject(extract, str(error))
        return extract


def _attempt_start(extract: Extract) -> None:
    # A previous attempt may have died half way; its staging is thrown away and redone.
    StagedRow.objects.filter(extract=extract).delete()
    QuarantinedRow.objects.filter(extract=extract).delete()
    extract.status = ExtractStatus.PROCESSING
    extract.attempts += 1
    extract.started_at = timezone.now()
    extract.bytes_processed = extract.rows_read = extract.rows_loaded = 0
    extract.rows_warned = extract.rows_quarantined = extract.records_retired = 0
    extract.repairs = {}
    extract.quality = None
    extract.message = ""
    extract.save()
    logger.info("extract %s: attempt %s started", extract.pk, extract.attempts)


def _ingest(extract: Extract) -> None:
    definition = definition_from_version(extract.version)
    path = upload_dir() / extract.stored_file
    if not extract.stored_file or not path.exists():
        raise ExtractFileError(
            "The uploaded file is no longer in the upload area, so it cannot be processed. "
            "Upload it again."
        )
    sealer = AgencySealer(extract.dataset.agency_id)
    counts = {"read": 0, "loaded": 0, "warned": 0, "quarantined": 0, "dob": 0}
    dob_repairs: Counter[str] = Counter()
    quality = IdentifierTally(definition)
    writer = StagingWriter(
        extract, sealer=sealer, counts=counts, repairs=dob_repairs, quality=quality
    )
    if extract.channel == ExtractChannel.BRIDGE:
        dob_order = sealed_extract_stage(extract, definition, path, writer)
    else:
        with extract_open(path, filename=extract.filename, limits=extract_limits()) as reader:
            header_check(definition, reader.header)
            if extract.mode == ExtractMode.FULL and set_aside_download(definition, reader.header):
                raise ExtractFileError(SET_ASIDE_AS_FULL_REFRESH)
            Extract.objects.filter(pk=extract.pk).update(file_format=reader.format)
            dob_order = dob_order_read(path, extract, definition)
            validator = RowValidator(definition, reader.header, dob_order=dob_order)
            with writer:
                rows_stage(extract, reader, validator, writer)
            extract_progress_save(extract, reader.bytes_read(), counts)
    dob_unreadable_check(counts, dob_repairs)
    extract_finish(extract, counts, repairs_summary(dob_repairs, dob_order), quality.as_json())
