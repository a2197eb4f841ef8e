"""A worker killed with SIGKILL in the middle of an extract: the redelivered task loads every row
exactly once (SECURITY.md 16: acks_late, reject on worker lost, Redis visibility timeout)."""

import io
import os
import signal

import pytest

from agencies.ingest.receive import extract_receive
from agencies.models import ExtractChannel, ExtractStatus, SourceRecord, StagedRow
from tests.ingest_helpers import csv_bytes, good_row, police_dataset
from tests.workers import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROWS = 60_000
# The killed worker's task comes back once Redis's visibility timeout has passed.
WORKER_ENV = {
    "CELERY_VISIBILITY_TIMEOUT": "4",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}


def test_a_killed_worker_mid_extract_ends_with_every_row_exactly_once(agency):
    dataset = police_dataset(agency)
    content = csv_bytes([good_row(f"R{n:06d}") for n in range(ROWS)])

    with celery_worker(extra_env=WORKER_ENV) as first:
        extract = extract_receive(
            dataset=dataset,
            uploaded_by=None,
            stream=io.BytesIO(content),
            filename="big.csv",
            mode="full",
            channel=ExtractChannel.API,
        )

        def part_way():
            extract.refresh_from_db()
            return 0 < extract.rows_read < ROWS and extract.status == ExtractStatus.PROCESSING

        wait_for(part_way, timeout=60, interval=0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

    extract.refresh_from_db()
    assert extract.status == ExtractStatus.PROCESSING
    assert 0 < extract.rows_read < ROWS
    assert SourceRecord.objects.filter(dataset=dataset).count() == 0  # nothing visible yet

    with celery_worker(extra_env=WORKER_ENV):

        def finished():
            extract.refresh_from_db()
            return extract.is_finished

        wait_for(finished, timeout=180, interval=0.5)

    assert extract.status == ExtractStatus.LOADED, extract.message
    assert extract.attempts == 2
    assert extract.rows_loaded == ROWS
    records = SourceRecord.objects.filter(dataset=dataset)
    assert records.count() == ROWS
    assert records.values("source_id").distinct().count() == ROWS
    assert StagedRow.objects.filter(extract=extract).count() == 0
    assert extract.stored_file == ""
