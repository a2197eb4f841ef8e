"""Receiving an extract: the upload stored in the private area, refused or recorded, and queued."""

import hashlib
import uuid
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agencies.models import (
    Dataset,
    Extract,
    ExtractChannel,
    ExtractMode,
    ExtractStatus,
)
from agencies.uploads import upload_size_refusal
from sharehub_bridge.readers import ExtractFileError, ExtractLimits

COPY_CHUNK = 1024 * 1024


def extract_limits() -> ExtractLimits:
    return ExtractLimits(max_bytes=settings.SHAREHUB_UPLOAD_MAX_BYTES)


def upload_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- Receiving --------------------------------------------------------------------------------


class UploadTooLarge(ExtractFileError):
    pass


def _store_upload(stream: IO[bytes]) -> tuple[str, int, str]:
    """Copy the upload into the private area, hashing as it goes; refuse past the size limit."""
    name = f"{uuid.uuid4().hex}.upload"
    target = upload_dir() / name
    digest = hashlib.sha256()
    size = 0
    try:
        with target.open("wb") as out:
            while chunk := stream.read(COPY_CHUNK):
                size += len(chunk)
                if refusal := upload_size_refusal(size):
                    raise UploadTooLarge(refusal)
                digest.update(chunk)
                out.write(chunk)
        target.chmod(0o600)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return name, size, digest.hexdigest()


FULL_REFRESH_ONLY = (
    "This dataset has no record id column, so it takes full refreshes only: records are matched "
    "from one refresh to the next by the person's details, and a file of changes only could not "
    "say which record a corrected row replaces. Upload the whole file as a full refresh."
)


# The download holds only the rows set aside: as a full refresh it would retire every other record.
SET_ASIDE_AS_FULL_REFRESH = (
    "This file is a download of rows set aside (it starts with row_in_file and reasons), so it "
    "holds only those rows: as a full refresh it would retire every other record, so nothing "
    "was changed. Upload it as an incremental extract, or fix the rows in your whole file and "
    "upload that as a full refresh."
)


def withdrawn_message(dataset: Dataset) -> str:
    return (
        f"The dataset {dataset.name} was withdrawn on "
        f"{timezone.localtime(dataset.withdrawn_at):%d %b %Y}, so it takes no more extracts. "
        "To share these records again, define a new dataset."
    )


def _same_file_in_effect(dataset: Dataset, checksum: str, mode: str) -> Extract | None:
    """The extract this file would only repeat: the same file in flight, or the same file and
    mode as the dataset's latest loaded extract. An older file sent again after a newer one
    loaded (a roll-back), or sent in the other mode, is a new extract."""
    in_flight = Extract.objects.filter(
        dataset=dataset,
        checksum=checksum,
        status__in=[ExtractStatus.RECEIVED, ExtractStatus.PROCESSING],
    ).first()
    if in_flight is not None:
        return in_flight
    latest = (
        Extract.objects.filter(dataset=dataset, status=ExtractStatus.LOADED).order_by("-id").first()
    )
    if latest is not None and latest.checksum == checksum and latest.mode == mode:
        return latest
    return None


def extract_refusal(dataset: Dataset, mode: str) -> str:
    """Why no extract of `dataset` can be taken in `mode`, or "": asked before anything is
    stored, by every channel (web, API, command line and the bridge's sealed uploads)."""
    if mode not in ExtractMode.values:
        return f"Mode must be one of: {', '.join(ExtractMode.values)}."
    if dataset.withdrawn_at is not None:
        return withdrawn_message(dataset)
    version = dataset.current_version
    if version is None:
        return "Define the dataset's columns before uploading an extract."
    if mode == ExtractMode.INCREMENTAL and not version.source_id_column:
        return FULL_REFRESH_ONLY
    return ""


@transaction.atomic
def extract_receive(
    *,
    dataset: Dataset,
    uploaded_by,
    stream: IO[bytes],
    filename: str,
    mode: str,
    channel: str = ExtractChannel.WEB,
) -> Extract:
    """Store an uploaded file and queue it for ingestion; a file already loaded changes nothing.

    Raises ExtractFileError (nothing stored) when the file is over the size limit or the dataset
    has no definition yet.
    """
    if refused := extract_refusal(dataset, mode):
        raise ExtractFileError(refused)
    version = dataset.current_version
    stored, size, checksum = _store_upload(stream)
    try:
        return extract_record_create(
            dataset, version, mode, channel, uploaded_by, filename, stored, size, checksum
        )
    except BaseException:
        # The raw file holds identifiers: it must not outlive a failed upload.
        (upload_dir() / stored).unlink(missing_ok=True)
        raise


def extract_record_create(
    dataset, version, mode, channel, uploaded_by, filename, stored, size, checksum
) -> Extract:
    from agencies.tasks import ingest_extract

    fields = {
        "dataset": dataset,
        "version": version,
        "mode": mode,
        "channel": channel,
        "uploaded_by": uploaded_by,
        "filename": Path(filename).name[:255],
        "size_bytes": size,
        "checksum": checksum,
    }
    earlier = _same_file_in_effect(dataset, checksum, mode)
    if earlier is None:
        try:
            with transaction.atomic():
                extract = Extract.objects.create(**fields, stored_file=stored)
                _upload_audited(extract)
        except IntegrityError:  # the same file arrived twice at the same moment
            earlier = Extract.objects.get(
                dataset=dataset,
                checksum=checksum,
                status__in=[ExtractStatus.RECEIVED, ExtractStatus.PROCESSING],
            )
        else:
            # robust: if the broker is down the upload still succeeds; the periodic requeue
            # (agencies.tasks.requeue_stalled_extracts) sends it once the broker is back.
            transaction.on_commit(lambda: ingest_extract.delay(extract_id=extract.pk), robust=True)
            return extract
    (upload_dir() / stored).unlink(missing_ok=True)
    now = timezone.now()
    duplicate = Extract.objects.create(
        **fields,
        status=ExtractStatus.DUPLICATE,
        duplicate_of=earlier,
        message=(
            f"This file is identical to extract {earlier.number}, uploaded "
            f"{timezone.localtime(earlier.uploaded_at):%d %b %Y at %H:%M}. Nothing was changed."
        ),
        started_at=now,
        finished_at=now,
    )
    _upload_audited(duplicate)
    return duplicate


def _upload_audited(extract: Extract) -> None:
    """The upload in the audit trail: who, which dataset and extract, its size and checksum."""
    from audit.models import AuditAction
    from audit.services import audit_record

    audit_record(
        action=AuditAction.UPLOAD,
        actor=extract.uploaded_by,
        channel=extract.channel,
        detail={
            "agency": extract.dataset.agency_id,
            "dataset": extract.dataset_id,
            "extract": extract.pk,
            "mode": extract.mode,
            "bytes": extract.size_bytes,
            "sha256": extract.checksum,
            "status": extract.status,
        },
    )
