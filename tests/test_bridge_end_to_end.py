"""The IG bridge against a running ShareHub, as an agency's IT team would use it.

`sharehub-bridge push` (the installed command, a process of its own) sends a police extract to
ShareHub served by gunicorn, with a real Celery worker behind it and Redis between. The file
holds the marker child of tests.test_no_plaintext on a good row and on a row with a problem.
Checked: the row with a problem stays in the set-aside file at the 'agency' and nowhere on the
platform; the good rows load; while the upload waits for the worker, the upload store and the
queued task hold no identifier in any readable form; afterwards no table, log or output does.
Then the set-aside file, fixed, is pushed back as it is and loads.
"""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings

from agencies.models import (
    Extract,
    ExtractChannel,
    ExtractStatus,
    QuarantinedRow,
    Role,
    SourceRecord,
)
from agencies.services import dataset_define
from agencies.tokens import api_token_create
from sharehub.celery import app as celery_app
from sharehub_bridge.definitions import definition_parse
from tests.factories import AgencyFactory
from tests.test_no_plaintext import (
    EVERYDAY,
    MARKER_CHILD,
    MARKER_IDS,
    POLICE,
    QUARANTINED_ID,
    _police_row,
    file_leaks,
    markers_in,
    redis_key_leaks,
    table_leaks,
    text_leaks,
)
from tests.workers import celery_worker, require_redis, wait_for, web_server

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _write_csv(path: Path, rows: list[dict]) -> Path:
    header = [column["column"] for column in POLICE["columns"]]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _push(url: str, token: str, dataset_id: int, file: Path, mode: str, work: Path):
    """The bridge as installed (its console script, in this virtualenv), in a process of its
    own; returns the Popen, its output going to files beside the work directory."""
    script = Path(sys.executable).with_name("sharehub-bridge")
    out = (work.parent / f"{file.stem}.out").open("w")
    return subprocess.Popen(  # noqa: S603
        [
            str(script), "push", "--url", url, "--dataset", str(dataset_id), "--mode", mode,
            "--work-dir", str(work), "--poll-seconds", "0.3", "--quiet", str(file),
        ],
        env={"PATH": "/usr/bin:/bin", "SHAREHUB_TOKEN": token, "PYTHONUNBUFFERED": "1"},
        stdout=out, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_the_bridge_pushes_to_a_running_sharehub_and_bad_rows_stay_at_the_agency(member, tmp_path):
    redis_url = require_redis()
    police = AgencyFactory(code="E2EPOL", name="End-to-end Police", kind="police")
    dataset = dataset_define(agency=police, definition=definition_parse(POLICE)).dataset
    admin = member(Role.AGENCY_ADMIN, in_agency=police)
    _, token = api_token_create(agency=police, name="bridge", created_by=admin)
    rows = [_police_row(f"INC-{n:03d}", child) for n, child in enumerate(EVERYDAY[:18])]
    # A keying slip in one NHS number: the row loads, and the data quality counts it invalid.
    slipped = rows[0]["nhs_number"]
    rows[0]["nhs_number"] = slipped[:-1] + str((int(slipped[-1]) + 1) % 10)
    marker_row = _police_row(MARKER_IDS["police"], MARKER_CHILD)
    # The officer typed the child's name into the summary: redacted before it leaves.
    marker_row["summary"] = (
        f"{MARKER_CHILD['forename']} {MARKER_CHILD['surname']} was upstairs; "
        f"{MARKER_CHILD['forename']}'s school told."
    )
    rows.append(marker_row)
    # The marker child again, on a row whose incident date is no date: it must never leave.
    rows.append(_police_row(QUARANTINED_ID, MARKER_CHILD, incident_date="not a date"))
    agency_dir = tmp_path / "agency"
    agency_dir.mkdir()
    extract_file = _write_csv(agency_dir / "incidents.csv", rows)
    work = agency_dir / ".bridge-work"
    leaks: list[str] = []

    celery_app.conf.task_always_eager = False
    redis.Redis.from_url(redis_url).delete(celery_app.conf.task_default_queue)
    with web_server() as url:
        push = _push(url, token, dataset.pk, extract_file, "full", work)
        # No worker yet: the upload is complete and its ingest waits in Redis, so the upload
        # store and the queue can be searched while the sealed file is there.
        received = wait_for(
            lambda: Extract.objects.filter(dataset=dataset, status=ExtractStatus.RECEIVED).first(),
            timeout=120,
        )
        assert received.channel == ExtractChannel.BRIDGE
        stored = Path(settings.MEDIA_ROOT) / "uploads" / received.stored_file
        assert stored.is_file() and stored.stat().st_size > 1000
        leaks += [f"while queued: {leak}" for leak in file_leaks(settings.MEDIA_ROOT)]
        # The message is sent once the extract's row is committed, so a moment after it shows.
        queue = celery_app.conf.task_default_queue
        wait_for(lambda: redis.Redis.from_url(redis_url).llen(queue) == 1, timeout=30)
        leaks += redis_key_leaks(redis_url, "queued")

        with celery_worker() as worker:
            assert push.wait(timeout=180) == 0, (work.parent / "incidents.out").read_text()
            extract = Extract.objects.get(pk=received.pk)
            assert extract.status == ExtractStatus.LOADED, extract.message
            # The set-aside file, its bad cell fixed, goes back as it is (incremental).
            set_aside_files = sorted(agency_dir.glob("incidents.set-aside-*.csv"))
            assert len(set_aside_files) == 1, list(agency_dir.iterdir())
            set_aside = set_aside_files[0]
            with set_aside.open(newline="", encoding="utf-8-sig") as handle:
                kept = list(csv.DictReader(handle))
            fixed = agency_dir / "incidents-fixed.csv"
            with fixed.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(kept[0]), lineterminator="\r\n")
                writer.writeheader()
                writer.writerows([{**row, "incident_date": "2026-01-06"} for row in kept])
            again = _push(url, token, dataset.pk, fixed, "incremental", work)
            assert again.wait(timeout=180) == 0, (work.parent / "incidents-fixed.out").read_text()
        web_logs = sorted(Path(settings.VAR_DIR).glob("web-*.log"))

    output = (agency_dir / "incidents.out").read_text()
    assert "loaded" in output.lower()
    # The row with a problem: at the agency, with its reason and its values, and on the platform
    # only as a row number, a record id and a reason.
    assert [row["row_in_file"] for row in kept] == [str(len(rows) + 1)]
    assert kept[0]["incident_ref"] == QUARANTINED_ID
    assert kept[0]["forename"] == MARKER_CHILD["forename"]
    assert "Incident date" in kept[0]["reasons"]
    assert markers_in(set_aside.read_bytes()), "the set-aside file should hold the row as it was"
    held_back = QuarantinedRow.objects.get(extract=extract)
    assert (held_back.row_number, held_back.source_id) == (len(rows) + 1, QUARANTINED_ID)
    assert held_back.sealed_row is None and "Incident date" in " ".join(held_back.reasons)
    assert (extract.rows_read, extract.rows_loaded, extract.rows_quarantined) == (20, 19, 1)
    assert extract.repairs["free_text"] == {"name": 3, "rows": 1}
    assert extract.quality["rows"] == 19
    assert extract.quality["identifiers"]["nhs_number"] == {"present": 19, "invalid": 1}
    summary = SourceRecord.objects.get(dataset=dataset, source_id=MARKER_IDS["police"]).payload
    assert summary["summary"] == "[name] [name] was upstairs; [name]'s school told."
    # Loaded: the good rows, then the fixed row; nothing left in the upload store or work dir.
    records = SourceRecord.objects.filter(dataset=dataset, is_retired=False)
    assert records.count() == 20
    assert records.filter(source_id=QUARANTINED_ID).exists()
    assert not list((Path(settings.MEDIA_ROOT) / "uploads").glob("*"))
    assert not work.exists() or not any(work.iterdir())

    leaks += table_leaks()[0]
    leaks += file_leaks(settings.MEDIA_ROOT)
    leaks += text_leaks(worker.log_path.read_text(), "worker log")
    for log in web_logs:
        leaks += text_leaks(log.read_text(), f"web log {log.name}")
    for name in ("incidents.out", "incidents-fixed.out"):
        leaks += text_leaks((agency_dir / name).read_text(), f"bridge output {name}")
    leaks += redis_key_leaks(redis_url, "after the run")
    assert not leaks, "plaintext identifiers found:\n" + "\n".join(leaks)
