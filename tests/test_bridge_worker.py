"""The bridge channel's exactly-once guarantee: a worker killed with SIGKILL in the middle of a
sealed extract, and the redelivered task loads every row exactly once, the rows the bridge kept
at the agency counted once too (as tests/test_ingest_worker.py for a web upload)."""

import hashlib
import os
import signal

import pytest

from agencies.models import (
    Extract,
    ExtractChannel,
    ExtractStatus,
    QuarantinedRow,
    SourceRecord,
    StagedRow,
)
from agencies.sealed_uploads import sealed_upload_chunk_put, sealed_upload_complete
from tests.bridge_helpers import chunks_of, sealed_extract, sealed_upload_open
from tests.ingest_helpers import good_row, police_dataset
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = 60_000
KEPT_AT_AGENCY = 300  # every 200th row has a risk grade the definition does not allow
WORKER_ENV = {
    "CELERY_VISIBILITY_TIMEOUT": "4",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}


def test_a_killed_worker_mid_sealed_extract_ends_with_every_row_exactly_once(agency, settings):
    settings.SHAREHUB_SEALED_CHUNK_BYTES = 4 * 1024 * 1024
    dataset = police_dataset(agency)
    rows = [
        good_row(f"R{n:06d}", **({"risk_grade": "extreme"} if n % 200 == 0 else {}))
        for n in range(ROWS)
    ]
    sealed, file_sha256 = sealed_extract(dataset, rows, mode="full")
    upload = sealed_upload_open(dataset, sealed, file_sha256, mode="full")
    chunks = chunks_of(sealed, upload.chunk_bytes)
    assert len(chunks) > 1
    for index, chunk in enumerate(chunks):
        sealed_upload_chunk_put(
            upload_id=upload.pk, index=index, data=chunk, sha256=hashlib.sha256(chunk).hexdigest()
        )

    with celery_worker(extra_env=WORKER_ENV) as first:
        upload = sealed_upload_complete(upload_id=upload.pk)  # queues the ingest on commit
        extract = Extract.objects.get(pk=upload.extract_id)
        assert extract.channel == ExtractChannel.BRIDGE

        def part_way():
            extract.refresh_from_db()
            return 0 < extract.rows_read < ROWS and extract.status == ExtractStatus.PROCESSING

        wait_for(part_way, timeout=60, interval=0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

    extract.refresh_from_db()
    assert extract.status == ExtractStatus.PROCESSING
    assert 0 < extract.rows_read < ROWS
    assert 0 < extract.bytes_processed < extract.size_bytes
    assert SourceRecord.objects.filter(dataset=dataset).count() == 0  # nothing visible yet

    with celery_worker(extra_env=WORKER_ENV):

        def finished():
            extract.refresh_from_db()
            return extract.is_finished

        wait_for(finished, timeout=180, interval=0.5)

    assert extract.status == ExtractStatus.LOADED, extract.message
    assert extract.attempts == 2
    assert extract.rows_read == ROWS
    assert extract.rows_loaded == ROWS - KEPT_AT_AGENCY
    assert extract.rows_quarantined == KEPT_AT_AGENCY
    records = SourceRecord.objects.filter(dataset=dataset)
    assert records.count() == ROWS - KEPT_AT_AGENCY
    assert records.values("source_id").distinct().count() == ROWS - KEPT_AT_AGENCY
    kept = QuarantinedRow.objects.filter(extract=extract)
    assert kept.count() == kept.values("row_number").distinct().count() == KEPT_AT_AGENCY
    assert not kept.filter(sealed_row__isnull=False).exists()
    assert StagedRow.objects.filter(extract=extract).count() == 0
    assert extract.stored_file == ""
    assert not any(settings.MEDIA_ROOT.glob("uploads/*.sealed")), "the sealed file goes"
