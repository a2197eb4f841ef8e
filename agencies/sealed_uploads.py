"""Sealed uploads: the IG bridge's extracts, received in resumable, checksummed chunks.

The bridge (sharehub-bridge, bridge/PROTOCOL.md) sends a sealed extract: every identity in it is
sealed to the ingest public key, so this module, the web tier it runs in and the upload store
handle only ciphertext. Chunks are written in place into one file in the private upload area, in
any order; completing the upload checks the whole file and hands it to ingestion as an Extract of
the bridge channel, through the same record-and-queue path as a web upload.
"""

import hashlib
import hmac
import logging
import os
import uuid
from datetime import datetime, timedelta
from typing import cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agencies.ingest.receive import extract_record_create, extract_refusal, upload_dir
from agencies.models import (
    Dataset,
    DatasetVersion,
    ExtractChannel,
    ExtractStatus,
    SealedUpload,
    SealedUploadStatus,
)
from agencies.uploads import upload_size_refusal

logger = logging.getLogger(__name__)

UPLOAD_LIFETIME = timedelta(hours=24)
SHA256_HEX = 64


class SealedUploadError(ValueError):
    """The request cannot be accepted; str() says what to do, never a value from a row."""


class ChunkConflict(SealedUploadError):
    """A chunk already held arrived again with different bytes."""


def _is_sha256(text: str) -> bool:
    return len(text) == SHA256_HEX and all(c in "0123456789abcdef" for c in text)


def sealed_upload_create(
    *,
    dataset: Dataset,
    uploaded_by,
    mode: str,
    filename: str,
    file_sha256: str,
    definition_version: int,
    size: int,
    sha256: str,
) -> SealedUpload:
    """Open an upload and make room for its file; nothing is queued until it is completed."""
    if refused := extract_refusal(dataset, mode):
        raise SealedUploadError(refused)
    # extract_refusal refuses a dataset with no definition.
    version = cast(DatasetVersion, dataset.current_version)
    if definition_version != version.number:
        raise SealedUploadError(
            f"The dataset's definition changed since the bridge read it (version "
            f"{definition_version}; it is now version {version.number}). Run sharehub-bridge "
            "push again."
        )
    file_sha256, sha256 = file_sha256.lower(), sha256.lower()
    if not (_is_sha256(file_sha256) and _is_sha256(sha256)):
        raise SealedUploadError("file_sha256 and sha256 must be SHA-256 digests in hex.")
    if size < 1:
        raise SealedUploadError("The sealed extract must be at least 1 byte.")
    if refused := upload_size_refusal(size):
        raise SealedUploadError(refused)
    stored = f"{uuid.uuid4().hex}.sealed"
    path = upload_dir() / stored
    # Made empty and private at once; chunks are written into it at their offsets.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        return SealedUpload.objects.create(
            dataset=dataset,
            uploaded_by=uploaded_by,
            mode=mode,
            filename=os.path.basename(filename.replace("\\", "/"))[:255],
            file_sha256=file_sha256,
            definition_version=definition_version,
            size_bytes=size,
            sha256=sha256,
            chunk_bytes=settings.SHAREHUB_SEALED_CHUNK_BYTES,
            stored_file=stored,
            expires_at=timezone.now() + UPLOAD_LIFETIME,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _chunk_span(upload: SealedUpload, index: int) -> tuple[int, int]:
    """(offset, length) of chunk `index`."""
    count = upload.chunk_count
    if not 0 <= index < count:
        raise SealedUploadError(f"Chunk index must be from 0 to {count - 1} for this upload.")
    offset = index * upload.chunk_bytes
    return offset, min(upload.chunk_bytes, upload.size_bytes - offset)


def _open_or_refuse(upload: SealedUpload) -> None:
    if upload.status == SealedUploadStatus.EXPIRED or upload.expires_at <= timezone.now():
        raise SealedUploadError(
            "This upload expired (uploads must be completed within 24 hours) and its chunks "
            "were deleted. Run sharehub-bridge push again."
        )
    if upload.status != SealedUploadStatus.OPEN:
        raise SealedUploadError("This upload is complete; it takes no more chunks.")


def sealed_upload_chunk_put(
    *, upload_id: uuid.UUID, index: int, data: bytes, sha256: str
) -> SealedUpload:
    """Write one chunk at its place in the upload's file; sending a chunk again is harmless."""
    with transaction.atomic():
        # Locked while the chunk is written and recorded, so two copies of one chunk, or a
        # chunk and the completion, never interleave.
        upload = SealedUpload.objects.select_for_update().get(pk=upload_id)
        _open_or_refuse(upload)
        offset, length = _chunk_span(upload, index)
        if len(data) != length:
            raise SealedUploadError(
                f"Chunk {index} must be {length:,} bytes long; {len(data):,} arrived. Send it "
                "again."
            )
        digest = hashlib.sha256(data).hexdigest()
        if not hmac.compare_digest(digest, sha256.strip().lower()):
            raise SealedUploadError(
                f"Chunk {index} does not match its X-Chunk-SHA256: it was changed or cut on the "
                "way. Send it again."
            )
        path = upload_dir() / upload.stored_file
        if index in upload.received:
            with path.open("rb") as held:
                held.seek(offset)
                if hashlib.sha256(held.read(length)).hexdigest() != digest:
                    raise ChunkConflict(
                        f"Chunk {index} is already held with different content. Start the push "
                        "again as a new upload."
                    )
            return upload
        descriptor = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(descriptor, data, offset)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        upload.received = sorted({*upload.received, index})
        upload.save(update_fields=["received"])
    return upload


@transaction.atomic
def sealed_upload_complete(*, upload_id: uuid.UUID) -> SealedUpload:
    """Check the whole file and queue it as an extract of the bridge channel; completing again
    answers the same extract."""
    upload = SealedUpload.objects.select_for_update().select_related("dataset").get(pk=upload_id)
    if upload.status == SealedUploadStatus.COMPLETE:
        return upload
    _open_or_refuse(upload)
    missing = [i for i in range(upload.chunk_count) if i not in set(upload.received)]
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise SealedUploadError(
            f"{len(missing):,} chunk(s) have not arrived yet ({shown}). Send them, then complete "
            "the upload."
        )
    path = upload_dir() / upload.stored_file
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1024 * 1024):
            digest.update(block)
    if path.stat().st_size != upload.size_bytes or digest.hexdigest() != upload.sha256:
        raise SealedUploadError(
            "The chunks together do not make the file announced (its size or SHA-256 differs). "
            "Run sharehub-bridge push again."
        )
    dataset = upload.dataset
    version = dataset.current_version
    if refused := extract_refusal(dataset, upload.mode):
        raise SealedUploadError(refused)
    if version is None or version.number != upload.definition_version:
        raise SealedUploadError(
            "The dataset's definition changed while the extract was being pushed. Run "
            "sharehub-bridge push again."
        )
    # Same record-and-queue path as a web upload: the duplicate check goes by the agency's own
    # file (file_sha256), so the same file pushed again is a duplicate as it would be on the web.
    extract = extract_record_create(
        dataset,
        version,
        upload.mode,
        ExtractChannel.BRIDGE,
        upload.uploaded_by,
        upload.filename,
        upload.stored_file,
        upload.size_bytes,
        upload.file_sha256,
    )
    upload.status = SealedUploadStatus.COMPLETE
    upload.extract = extract
    if extract.status == ExtractStatus.DUPLICATE:
        upload.stored_file = ""  # extract_record_create deleted it: nothing new to load
    upload.save(update_fields=["status", "extract", "stored_file"])
    return upload


def sealed_uploads_expire(*, now: datetime | None = None) -> int:
    """Delete the uploads not completed in time, and their files; returns how many."""
    expired = 0
    candidates = SealedUpload.objects.filter(
        status=SealedUploadStatus.OPEN, expires_at__lte=now or timezone.now()
    ).values_list("pk", flat=True)
    for upload_id in list(candidates):
        with transaction.atomic():
            upload = (
                SealedUpload.objects.select_for_update()
                .filter(pk=upload_id, status=SealedUploadStatus.OPEN)
                .first()
            )
            if upload is None:
                continue  # completed in the meantime
            stored = upload.stored_file
            upload.status = SealedUploadStatus.EXPIRED
            upload.stored_file = ""
            upload.received = []
            upload.save(update_fields=["status", "stored_file", "received"])
        if stored:
            (upload_dir() / stored).unlink(missing_ok=True)
        expired += 1
    if expired:
        logger.info("expired %s sealed uploads not completed in time", expired)
    return expired


def sealed_files_open() -> set[str]:
    """The upload-area files of sealed uploads still open, which the orphan sweep must keep."""
    return set(
        SealedUpload.objects.filter(status=SealedUploadStatus.OPEN).values_list(
            "stored_file", flat=True
        )
    )
