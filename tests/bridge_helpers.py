"""Sealed extracts for the bridge channel's tests, made as the bridge makes them: the package's
readers and validation, sealed_file and envelope, with no Django in between (the sharehub-bridge
command line is built elsewhere; these tests need only what it sends)."""

import hashlib
import io
import tempfile
from pathlib import Path

from django.test import TestCase

from agencies.models import Extract, SealedUpload
from agencies.sealed_uploads import (
    sealed_upload_chunk_put,
    sealed_upload_complete,
    sealed_upload_create,
)
from core.keys import ingest_public_key
from sharehub_bridge import __version__
from sharehub_bridge.definitions import definition_from_version
from sharehub_bridge.envelope import IdentitySealer
from sharehub_bridge.readers import extract_open
from sharehub_bridge.sealed_file import SealedExtractWriter, SealedHeader
from sharehub_bridge.validation import RowValidator, dob_order_detect, header_check
from tests.ingest_helpers import csv_bytes


def sealed_extract(
    dataset,
    rows: list[dict],
    *,
    mode: str = "incremental",
    filename: str = "extract.csv",
    content: bytes | None = None,
    public_key: tuple[int, bytes] | None = None,
    definition_version: int | None = None,
    dataset_id: int | None = None,
) -> tuple[bytes, str]:
    """(the sealed extract, sha256 of the agency's file) for `rows` of `dataset`'s definition."""
    version = dataset.current_version
    definition = definition_from_version(version)
    content = csv_bytes(rows) if content is None else content
    key_version, key = public_key or ingest_public_key()
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / filename
        path.write_bytes(content)
        with extract_open(path, filename=filename) as sample:
            dob_order = dob_order_detect(definition, sample)
        with extract_open(path, filename=filename) as reader:
            header_check(definition, reader.header)
            sealer = IdentitySealer(
                public_key=key, key_version=key_version, dataset_id=dataset_id or dataset.pk
            )
            header = SealedHeader(
                dataset=dataset_id or dataset.pk,
                definition_version=definition_version or version.number,
                mode=mode,
                filename=filename,
                file_format=reader.format,
                file_sha256=hashlib.sha256(content).hexdigest(),
                file_bytes=len(content),
                dob_order=dob_order,
                bridge_version=__version__,
                envelope=sealer.header,
            )
            writer = SealedExtractWriter(out, header, sealer)
            validator = RowValidator(definition, reader.header, dob_order=dob_order)
            seen: set[str] = set()
            for row in reader.rows():
                outcome = validator.validate(row)
                if outcome.source_id in seen:
                    outcome.errors.append("The record id is repeated.")
                seen.add(outcome.source_id)
                if outcome.errors:
                    source_id = outcome.source_id if len(outcome.source_id) <= 200 else ""
                    writer.set_aside(row.number, source_id, outcome.errors + outcome.warnings)
                else:
                    writer.row(row.number, outcome)
            writer.end()
    return out.getvalue(), hashlib.sha256(content).hexdigest()


def chunks_of(sealed: bytes, chunk_bytes: int) -> list[bytes]:
    return [sealed[i : i + chunk_bytes] for i in range(0, len(sealed), chunk_bytes)] or [b""]


def sealed_upload_open(dataset, sealed: bytes, file_sha256: str, *, mode="incremental", user=None):
    return sealed_upload_create(
        dataset=dataset,
        uploaded_by=user,
        mode=mode,
        filename="extract.csv",
        file_sha256=file_sha256,
        definition_version=dataset.current_version.number,
        size=len(sealed),
        sha256=hashlib.sha256(sealed).hexdigest(),
    )


def bridge_push(dataset, sealed: bytes, file_sha256: str, *, mode="incremental", user=None):
    """Open, send in chunks and complete a sealed upload; the ingest runs in-process on commit.
    Returns (the upload, its extract)."""
    upload: SealedUpload = sealed_upload_open(dataset, sealed, file_sha256, mode=mode, user=user)
    for index, chunk in enumerate(chunks_of(sealed, upload.chunk_bytes)):
        sealed_upload_chunk_put(
            upload_id=upload.pk, index=index, data=chunk, sha256=hashlib.sha256(chunk).hexdigest()
        )
    with TestCase.captureOnCommitCallbacks(execute=True):
        upload = sealed_upload_complete(upload_id=upload.pk)
    extract = Extract.objects.get(pk=upload.extract_id)
    return upload, extract
