"""Extract ingestion: receive a file, then read, validate, split and load it, all or nothing.

`extract_receive` stores the upload in the private area and queues it; `extract_ingest` (run by
the Celery task) streams the file through the row validator into staging, then merges staging
into the dataset's records in one transaction. A run that dies part way is simply started again:
staging is cleared at the start of every attempt and the merge happens once, under a lock, so
every row lands exactly once however often the task is delivered.
"""

import csv
import hashlib
import hmac
import io
import json
import logging
import queue
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agencies.ingest_sealed import SealedRowCheck, sealed_rows_stage
from agencies.models import (
    Dataset,
    Extract,
    ExtractChannel,
    ExtractMode,
    ExtractStatus,
    QuarantinedRow,
    SealedUpload,
    SealedUploadStatus,
    StagedRow,
)
from agencies.uploads import upload_size_refusal
from matching.pseudonymise import identity_seal, quarantine_seal
from sharehub.keys import AgencySealer, IngestKeyMissing, derive_key, ingest_private_key
from sharehub_bridge import normalise
from sharehub_bridge.definitions import Definition, csv_cell_safe, definition_from_version
from sharehub_bridge.envelope import EnvelopeError, IdentityOpener
from sharehub_bridge.readers import ExtractFileError, ExtractLimits, extract_open
from sharehub_bridge.sealed_file import SealedExtractReader, SealedFileError, SealedHeader
from sharehub_bridge.validation import (
    CONTACT_REPAIRS,
    NHS_CHECK_DIGIT,
    SET_ASIDE_COLUMNS,
    IdentifierTally,
    RepeatedRecordIds,
    RowOutcome,
    RowValidator,
    dob_order_detect,
    free_text_repairs_take,
    header_check,
    set_aside_download,
)

logger = logging.getLogger(__name__)

BATCH_ROWS = 5000
# How many times one extract is tried: the ingest task's retries after an error
# (agencies.tasks), and the deliveries counted on the extract after a worker died.
MAX_ATTEMPTS = 3
# One encoder for every row: json.dumps with options builds a new encoder on each call.
_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
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
        return _extract_record(
            dataset, version, mode, channel, uploaded_by, filename, stored, size, checksum
        )
    except BaseException:
        # The raw file holds identifiers: it must not outlive a failed upload.
        (upload_dir() / stored).unlink(missing_ok=True)
        raise


def _extract_record(
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


def _dob_order(path: Path, extract: Extract, definition: Definition) -> str:
    with extract_open(path, filename=extract.filename, limits=extract_limits()) as reader:
        return dob_order_detect(definition, reader)


# --- Staging ------------------------------------------------------------------------------------


class StagingWriter:
    """Writes staged and quarantined rows in batches: COPY on PostgreSQL, bulk insert elsewhere.

    On PostgreSQL a thread of its own (with its own connection) does the COPY, so the database
    takes one batch while this process validates and seals the next: the two cores both work.
    Use as a context manager; leaving it waits for the last batch and raises its error, if any.

    `load` and `set_aside` are how both channels (a file, a sealed extract from the bridge) hand
    it a row: they count it in `counts`, `repairs` and `quality` the same way for both.
    """

    def __init__(
        self,
        extract: Extract,
        *,
        sealer: AgencySealer,
        counts: dict[str, int],
        repairs: Counter,
        quality: IdentifierTally,
    ):
        self.extract = extract
        self.sealer = sealer
        self.counts = counts
        self.repairs = repairs
        self.quality = quality
        self.staged: list[tuple] = []
        self.quarantined: list[QuarantinedRow] = []
        self.postgres = connection.vendor == "postgresql"
        self._batches: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "StagingWriter":
        # A second connection sees only committed rows, so the thread is used only when this
        # one is not inside a transaction (as in a worker, where the extract row is committed).
        if self.postgres and not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._copy_loop, name="staging-copy")
            self._thread.start()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join()
            self._thread = None
        if exc_type is None:  # an error already leaving the block is the one to report
            self._raise_copy_error()

    def load(self, number: int, outcome: RowOutcome) -> None:
        """A row that loads: counted, its identity sealed under the agency's key, staged."""
        counts = self.counts
        counts["loaded"] += 1
        counts["warned"] += bool(outcome.warnings)
        counts["dob"] += outcome.has_dob
        self.repairs.update(outcome.repairs)
        self.quality.add(outcome)
        identity = identity_seal(
            self.sealer,
            dataset_id=self.extract.dataset_id,
            source_id=outcome.source_id,
            identifiers=outcome.identifiers,
        )
        self.stage(number, outcome, identity)

    def set_aside(
        self, number: int, source_id: str, reasons: list[str], sealed: bytes | None
    ) -> None:
        """A row that does not load: counted and kept with its reasons (and, when it came in a
        file, the row itself, sealed)."""
        self.counts["quarantined"] += 1
        self.quarantine(number, source_id, reasons, sealed)

    def stage(self, number: int, outcome: RowOutcome, identity: bytes) -> None:
        self.staged.append(
            (
                number,
                outcome.source_id,
                identity,
                outcome.payload,
                outcome.event_date,
                outcome.warnings,
            )
        )

    def quarantine(
        self, number: int, source_id: str, reasons: list[str], sealed: bytes | None
    ) -> None:
        self.quarantined.append(
            QuarantinedRow(
                extract=self.extract,
                row_number=number,
                source_id=source_id,
                reasons=reasons,
                sealed_row=sealed,
            )
        )

    def pending(self) -> int:
        return len(self.staged) + len(self.quarantined)

    def flush(self) -> None:
        self._raise_copy_error()
        if self.staged:
            if self._thread is not None:
                self._batches.put(self.staged)
                self.staged = []
            elif self.postgres:
                self._copy(self.staged)
                self.staged.clear()
            else:
                StagedRow.objects.bulk_create(
                    [
                        StagedRow(
                            extract=self.extract,
                            row_number=number,
                            source_id=source_id,
                            identity=identity,
                            payload=payload,
                            event_date=event_date,
                            warnings=warnings,
                        )
                        for number, source_id, identity, payload, event_date, warnings in (
                            self.staged
                        )
                    ],
                    batch_size=1000,
                )
                self.staged.clear()
        if self.quarantined:
            QuarantinedRow.objects.bulk_create(self.quarantined, batch_size=1000)
            self.quarantined.clear()

    def _raise_copy_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _copy_loop(self) -> None:
        try:
            while (batch := self._batches.get()) is not None:
                if self._error is None:
                    self._copy(batch)
        except BaseException as error:  # handed to the ingesting thread, which raises it
            self._error = error
            while self._batches.get() is not None:  # let the producer finish and stop
                pass
        finally:
            connection.close()  # this thread's own connection

    def _copy(self, batch: list[tuple]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        extract_id = self.extract.pk
        for number, source_id, identity, payload, event_date, warnings in batch:
            writer.writerow(
                (
                    extract_id,
                    number,
                    source_id,
                    "\\x" + identity.hex(),
                    _json(payload),
                    event_date.isoformat() if event_date else "",
                    _json(warnings) if warnings else "[]",
                )
            )
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {StagedRow._meta.db_table} "
                "(extract_id, row_number, source_id, identity, payload, event_date, warnings) "
                "FROM STDIN WITH (FORMAT csv)",
                buffer,
            )


# --- Ingesting ----------------------------------------------------------------------------------


@contextmanager
def _extract_lock(extract_id: int) -> Iterator[bool]:
    """One process at a time per extract. On PostgreSQL a session advisory lock, which the server
    drops by itself if the holder's connection dies, so a killed worker never blocks a retry.
    The embedded default runs tasks in-process, one at a time, and needs none."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, extract_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, extract_id])


LOCK_NAMESPACE = 4201  # first key of the two-key advisory lock space, for extract ingestion


class ExtractBusy(Exception):
    """Another live process holds this extract; the task retries later."""


def extract_ingest(*, extract_id: int) -> Extract | None:
    """Process a received extract from the start; does nothing if it already finished."""
    with _extract_lock(extract_id) as acquired:
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
            _finish_rejected(extract, str(error))
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
        dob_order = _ingest_sealed(extract, definition, path, writer)
    else:
        with extract_open(path, filename=extract.filename, limits=extract_limits()) as reader:
            header_check(definition, reader.header)
            if extract.mode == ExtractMode.FULL and set_aside_download(definition, reader.header):
                raise ExtractFileError(SET_ASIDE_AS_FULL_REFRESH)
            Extract.objects.filter(pk=extract.pk).update(file_format=reader.format)
            dob_order = _dob_order(path, extract, definition)
            validator = RowValidator(definition, reader.header, dob_order=dob_order)
            with writer:
                _stage_rows(extract, reader, validator, writer)
            _progress(extract, reader.bytes_read(), counts)
    _dob_unreadable_check(counts, dob_repairs)
    _finish(extract, counts, _repairs_summary(dob_repairs, dob_order), quality.as_json())


def _repairs_summary(dob_repairs: Counter, dob_order: str) -> dict[str, Any]:
    """Damaged dates of birth repaired (or kept in part), NHS numbers failing their check digit,
    contact details left out and identifiers taken out of free text, among the rows loaded: the
    extract's result says how many, so the agency can fix its source."""
    repairs: dict[str, Any] = {}
    nhs_failures = dob_repairs.pop(NHS_CHECK_DIGIT, 0)
    contacts = {
        name: count for kind, name in CONTACT_REPAIRS.items() if (count := dob_repairs.pop(kind, 0))
    }
    free_text = free_text_repairs_take(dob_repairs)
    if dob_repairs:
        repairs["date_of_birth"] = dict(dob_repairs)
    if nhs_failures:
        repairs["nhs_number"] = {"check_digit": nhs_failures}
    if contacts:
        repairs["contacts"] = contacts
    if free_text:
        repairs["free_text"] = free_text
    if dob_order != normalise.DOB_ORDER_DAY_FIRST:
        repairs["date_of_birth_order"] = dob_order
    return repairs


def _ingest_sealed(extract, definition, path, writer: "StagingWriter") -> str:
    """Stage a sealed extract from the IG bridge; returns the date of birth order it was read
    with. A file that cannot be trusted as a whole is refused with nothing of it kept."""
    with path.open("rb") as stream:
        try:
            reader = SealedExtractReader(stream)
            header = reader.header
            _sealed_header_check(extract, header)
            opener = IdentityOpener(
                private_key=_ingest_private_key(header.envelope.key_version),
                header=header.envelope,
                dataset_id=extract.dataset_id,
            )
            Extract.objects.filter(pk=extract.pk).update(file_format=header.file_format[:8])
            with writer:
                sealed_rows_stage(
                    extract=extract,
                    reader=reader,
                    opener=opener,
                    check=SealedRowCheck(definition),
                    writer=writer,
                    progress=lambda: _progress(extract, reader.bytes_read(), writer.counts),
                    batch_rows=BATCH_ROWS,
                    dob_order=header.dob_order,
                    derived_id=(
                        None
                        if extract.version.source_id_column
                        else source_id_derive(extract.dataset_id)
                    ),
                )
        except (SealedFileError, EnvelopeError) as error:
            # Rows set aside before the fault was found are of a file refused whole.
            QuarantinedRow.objects.filter(extract=extract).delete()
            message = str(error)
            if isinstance(error, EnvelopeError):
                message += (
                    " The sealed extract was changed on the way or sealed to another ShareHub."
                )
            message += " Nothing was loaded."
            if "again" not in message:
                message += " Run sharehub-bridge push again."
            raise ExtractFileError(message) from error
        _progress(extract, reader.bytes_read(), writer.counts)
    return header.dob_order


def _sealed_header_check(extract: Extract, header: SealedHeader) -> None:
    if header.dataset != extract.dataset_id:
        raise ExtractFileError(
            "The sealed extract was made for another dataset. Nothing was loaded; push it to "
            "the dataset it was made for."
        )
    if header.definition_version != extract.version.number:
        raise ExtractFileError(
            "The dataset's definition changed after the bridge read it; run sharehub-bridge "
            "push again."
        )
    if header.mode != extract.mode or header.file_sha256 != extract.checksum:
        raise ExtractFileError(
            "The sealed extract does not match the upload it came with (its mode or file "
            "checksum differs). Nothing was loaded; run sharehub-bridge push again."
        )
    if header.dob_order not in (normalise.DOB_ORDER_DAY_FIRST, normalise.DOB_ORDER_MONTH_FIRST):
        raise ExtractFileError(
            "The sealed extract names a date of birth order ShareHub does not know. Nothing was "
            "loaded; update sharehub-bridge and push again."
        )


def _ingest_private_key(version: int) -> bytes:
    try:
        return ingest_private_key(version)
    except IngestKeyMissing as error:
        raise ExtractFileError(
            f"The extract was sealed under ingest key version {version}, which this ShareHub no "
            "longer holds (the key was rotated). Nothing was loaded; run sharehub-bridge push "
            "again: it seals to the current key."
        ) from error


def _dob_unreadable_check(counts: dict[str, int], repairs: Counter) -> None:
    """A file whose dates of birth mostly cannot be read is written in a format ShareHub does not
    know (spreadsheet day numbers, say): loading it would replace every stored date of birth
    with none. Refused whole, like a file with too many bad rows."""
    unreadable, written = repairs.get("unreadable", 0), counts["dob"]
    threshold = settings.SHAREHUB_QUARANTINE_THRESHOLD
    if written and unreadable / written > threshold:
        raise ExtractFileError(
            f"{unreadable:,} of {written:,} dates of birth ({unreadable / written:.1%}) could "
            f"not be read at all, which is over the {threshold:.0%} limit, so nothing was "
            f"loaded. Export them as {normalise.DATE_FORMATS_HELP} (not as spreadsheet day "
            "numbers) and upload the whole file again."
        )


def source_id_derive(dataset_id: int) -> Callable[[dict[str, str]], str]:
    """For a file with no record id column: each row's record id, made from the dataset and the
    row's normalised identifiers, so the same person's row gets the same id in the next full
    refresh. An HMAC under a key of its own, never a plain hash: identifiers are few enough to
    guess, and the id is stored as it is. Rows with the same identifiers in one file are told
    apart by their order: the first keeps the id, the next get "-2", "-3"."""
    key = derive_key(DERIVED_ID_PURPOSE)
    repeats: Counter[str] = Counter()

    def derive(identifiers: dict[str, str]) -> str:
        message = _json([dataset_id, sorted(identifiers.items())]).encode()
        base = hmac.new(key, message, hashlib.sha256).hexdigest()
        repeats[base] += 1
        return base if repeats[base] == 1 else f"{base}-{repeats[base]}"

    return derive


DERIVED_ID_PURPOSE = "derived-record-id"


def _stage_rows(extract, reader, validator, writer) -> None:
    """Validate every row and hand it to the writer, staged or set aside."""
    counts = writer.counts
    repeated = RepeatedRecordIds()
    derived_id = None if extract.version.source_id_column else source_id_derive(extract.dataset_id)
    for row in reader.rows():
        counts["read"] += 1
        outcome = validator.validate(row)
        if derived_id is not None:
            outcome.source_id = derived_id(outcome.identifiers)
        repeated.check(row.number, outcome)
        if outcome.errors:
            writer.set_aside(
                row.number,
                outcome.source_id if len(outcome.source_id) <= 200 else "",
                outcome.errors + outcome.warnings,
                quarantine_seal(
                    writer.sealer, extract_id=extract.pk, row_number=row.number, row=row.values
                ),
            )
        else:
            writer.load(row.number, outcome)
        if writer.pending() >= BATCH_ROWS:
            writer.flush()
            _progress(extract, reader.bytes_read(), counts)
    writer.flush()


def _progress(extract: Extract, bytes_read: int, counts: dict[str, int]) -> None:
    Extract.objects.filter(pk=extract.pk).update(
        bytes_processed=bytes_read,
        rows_read=counts["read"],
        rows_loaded=counts["loaded"],
        rows_warned=counts["warned"],
        rows_quarantined=counts["quarantined"],
    )


# The advice for a file refused whole: nothing of it loaded, so sending only the rows set aside
# (as an incremental extract) would leave every good row of the file unloaded.
WHOLE_FILE_AGAIN = (
    "Fix the rows set aside in your file (the extract's page lists each one with its reasons, "
    "and the download has them too), then upload the whole file again."
)


def _finish(extract: Extract, counts: dict[str, int], repairs: dict, quality: dict) -> None:
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
        retired = _merge(locked)
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
    _discard_upload(extract)
    logger.info(
        "extract %s: loaded %s rows, %s quarantined, %s retired",
        extract.pk,
        counts["loaded"],
        bad,
        retired,
    )


def _merge(extract: Extract) -> int:
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


def _finish_rejected(extract: Extract, message: str) -> None:
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
    _discard_upload(extract)
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


def _discard_upload(extract: Extract) -> None:
    # The raw file holds plaintext identifiers: it goes as soon as the extract is finished. The
    # row already says so (stored_file is cleared with the final status, in one transaction).
    if extract.stored_file:
        (upload_dir() / extract.stored_file).unlink(missing_ok=True)


# --- Quarantine download ------------------------------------------------------------------------


def quarantine_csv_rows(extract: Extract) -> Iterable[list[str]]:
    """The rejected rows as they were uploaded, with the reasons first, for the admin to fix."""
    from matching.pseudonymise import quarantine_open

    header = None
    agency_id = extract.dataset.agency_id
    # Rows the IG bridge kept back never left the agency: they are in the bridge's own file there.
    held = extract.quarantine.filter(sealed_row__isnull=False).order_by("row_number")
    for row in held.iterator(chunk_size=2000):
        values = quarantine_open(
            agency_id=agency_id,
            extract_id=extract.pk,
            row_number=row.row_number,
            blob=bytes(row.sealed_row or b""),
        )
        if header is None:
            header = list(values)
            if tuple(header[: len(SET_ASIDE_COLUMNS)]) == SET_ASIDE_COLUMNS:
                # A download sent back and set aside again: its old row_in_file and reasons
                # make way for this extract's.
                header = header[len(SET_ASIDE_COLUMNS) :]
            yield [csv_cell_safe(c) for c in [*SET_ASIDE_COLUMNS, *header]]
        yield [
            csv_cell_safe(c)
            for c in [row.row_number, " ".join(row.reasons), *(values.get(h, "") for h in header)]
        ]


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
