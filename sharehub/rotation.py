"""Key rotation: rewrapping data keys under a new master key, and resealing an agency's records
under a new data key. `manage.py rotate_keys` is the operator's way in.

Master key rotation touches only the DataKey rows: the data keys themselves do not change, so
nothing sealed with them needs resealing.

Data key rotation makes a new version of the agency's data key, which every seal from then on
uses, then reseals each blob of the agency still under an older version, a batch per
transaction. A blob's header names the version that sealed it (core.keys), so old and new
blobs open side by side while it runs, a rerun picks up only what is left, and an older version
is retired once no blob uses it. Plaintext exists one row at a time, inside the batch that
reseals it; progress is reported as counts, never as anything a row holds.

Ingest key rotation re-encrypts nothing: the bridge seals each upload to the current ingest
public key, and the worker opens it with the private key of the version the upload names. An
older private key can go once no upload or unfinished extract sealed under it remains;
`ingest_keys_in_use` counts them.

Linkage key rotation (recomputing match tokens) belongs to matching and is not here.
"""

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models.functions import Substr
from django.utils import timezone

from agencies.ingest.receive import upload_dir
from agencies.models import (
    Dataset,
    Extract,
    ExtractChannel,
    ExtractStatus,
    QuarantinedRow,
    SealedUpload,
    SealedUploadStatus,
    SourceRecord,
    StagedRow,
)
from core.keys import (
    AgencySealer,
    SealError,
    data_key_create,
    data_key_rewrap,
    ingest_key_versions_held,
    ingest_public_keys,
    master_keys,
    sealed_header,
    sealed_version,
)
from core.models import DataKey
from matching.pseudonymise import (
    identity_open,
    identity_seal,
    quarantine_open,
    quarantine_seal,
    release_open,
    release_seal,
)
from subject_access.models import PartRelease

BATCH_ROWS = 2000

# Progress callback: (what is being resealed, done so far, total to do).
Progress = Callable[[str, int, int], None]


class RotationError(Exception):
    """A blob could not be resealed; the message names the table and row id, nothing it holds."""


# --- Master key -----------------------------------------------------------------------------


@dataclass
class MasterRotation:
    current_version: int
    rewrapped: int
    # Master key versions that still wrap some data key; any other configured one can go.
    versions_in_use: list[int]
    versions_unused: list[int]


def master_key_rotate() -> MasterRotation:
    """Rewrap every data key not yet under the current (first) master key. Safe to rerun."""
    current = master_keys()[0].version
    pending = list(
        DataKey.objects.exclude(master_key_version=current)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rewrapped = sum(data_key_rewrap(data_key_id=pk) for pk in pending)
    in_use = sorted(set(DataKey.objects.values_list("master_key_version", flat=True)))
    configured = [key.version for key in master_keys()]
    return MasterRotation(
        current_version=current,
        rewrapped=rewrapped,
        versions_in_use=in_use,
        versions_unused=[v for v in configured if v not in in_use and v != current],
    )


# --- Agency data key ------------------------------------------------------------------------


@dataclass
class AgencyRotation:
    agency_id: int
    version: int | None  # the version everything is being resealed under; None: no key yet
    started: bool = False  # True if this run made the new version, False if it resumed one
    resealed: dict[str, int] = field(default_factory=dict)
    remaining: int = 0  # blobs still under an older version when this run stopped
    extracts_in_progress: int = 0  # extracts being ingested, which may still seal the old way
    retired_versions: list[int] = field(default_factory=list)
    versions_in_use: list[int] = field(default_factory=list)
    complete: bool = True  # every older version retired: nothing is left to do


@dataclass(frozen=True)
class _SealedColumn:
    """One place an agency's sealed blobs live, and how to reseal one of its rows."""

    label: str
    model: type[models.Model]
    blob_field: str
    # The columns after pk and the blob that reseal() needs, in order.
    context_fields: tuple[str, ...]
    scope: Callable[[int], models.Q]
    reseal: Callable[[AgencySealer, bytes, tuple], bytes] | None


def _identity_reseal(sealer: AgencySealer, blob: bytes, context: tuple) -> bytes:
    dataset_id, source_id = context
    identifiers = identity_open(
        agency_id=sealer.agency_id, dataset_id=dataset_id, source_id=source_id, blob=blob
    )
    return identity_seal(
        sealer, dataset_id=dataset_id, source_id=source_id, identifiers=identifiers
    )


def _quarantine_reseal(sealer: AgencySealer, blob: bytes, context: tuple) -> bytes:
    extract_id, row_number = context
    row = quarantine_open(
        agency_id=sealer.agency_id, extract_id=extract_id, row_number=row_number, blob=blob
    )
    return quarantine_seal(sealer, extract_id=extract_id, row_number=row_number, row=row)


def _release_reseal(sealer: AgencySealer, blob: bytes, context: tuple) -> bytes:
    part_id, number = context
    content = release_open(agency_id=sealer.agency_id, part_id=part_id, number=number, blob=blob)
    return release_seal(sealer, part_id=part_id, number=number, content=content)


def _agency_sealed_rows(agency_id: int) -> models.Q:
    # Rows the IG bridge kept back at the agency have reasons here but no sealed row.
    return _agency_extracts(agency_id) & models.Q(sealed_row__isnull=False)


def _agency_releases(agency_id: int) -> models.Q:
    # A released subject access part is sealed for the agency that asked for it.
    return models.Q(part__request__agency_id=agency_id)


def _agency_datasets(agency_id: int) -> models.Q:
    return models.Q(dataset_id__in=Dataset.objects.filter(agency_id=agency_id).values("pk"))


def _agency_extracts(agency_id: int) -> models.Q:
    return models.Q(
        extract_id__in=Extract.objects.filter(dataset__agency_id=agency_id).values("pk")
    )


# Every column that holds blobs sealed under an agency's data key. A new one must be added here,
# or rotation would retire a key that still has data under it.
SEALED_COLUMNS = (
    _SealedColumn(
        "identities",
        SourceRecord,
        "identity",
        ("dataset_id", "source_id"),
        _agency_datasets,
        _identity_reseal,
    ),
    _SealedColumn(
        "rejected rows",
        QuarantinedRow,
        "sealed_row",
        ("extract_id", "row_number"),
        _agency_sealed_rows,
        _quarantine_reseal,
    ),
    _SealedColumn(
        "released subject access parts",
        PartRelease,
        "content",
        ("part_id", "number"),
        _agency_releases,
        _release_reseal,
    ),
    # Staged rows live only while their extract is ingested, and the ingest that wrote them
    # merges or deletes them; they are never resealed, only looked at before retiring a key.
    _SealedColumn("staged rows", StagedRow, "identity", (), _agency_extracts, None),
)


def _with_header(column: _SealedColumn, agency_id: int) -> models.QuerySet:
    header = Substr(column.blob_field, 1, len(sealed_header(0)), output_field=models.BinaryField())
    return (
        column.model._default_manager.filter(column.scope(agency_id))
        .annotate(sealed_header=header)
        .order_by()
    )


def sealed_versions_in_use(*, agency_id: int) -> list[int]:
    """The data key versions the agency's stored blobs were sealed under (from their headers)."""
    versions: set[int] = set()
    for column in SEALED_COLUMNS:
        headers = _with_header(column, agency_id).values_list("sealed_header", flat=True).distinct()
        versions.update(sealed_version(bytes(header)) for header in headers)
    return sorted(versions)


def _reseal_column(
    column: _SealedColumn,
    sealer: AgencySealer,
    *,
    batch_size: int,
    max_batches: int | None,
    progress: Progress | None,
) -> tuple[int, int, int]:
    """Reseal what is left of one column; returns (rows resealed, rows still to do, batches)."""
    reseal = column.reseal
    if reseal is None:
        return 0, 0, 0
    pending = _with_header(column, sealer.agency_id).exclude(
        sealed_header=sealed_header(sealer.version)
    )
    to_do = pending.count()
    done = batches = 0
    after = 0
    while to_do and (max_batches is None or batches < max_batches):
        # Read inside the transaction that writes the batch back, rows locked (PostgreSQL), so an
        # ingest merging into the same records waits instead of having its write overwritten.
        with transaction.atomic():
            batch = list(
                pending.select_for_update()
                .filter(pk__gt=after)
                .order_by("pk")
                .values_list("pk", column.blob_field, *column.context_fields)[:batch_size]
            )
            if not batch:
                break
            resealed = []
            for pk, blob, *context in batch:
                try:
                    new_blob = reseal(sealer, bytes(blob), tuple(context))
                except SealError as error:
                    raise RotationError(
                        f"{column.model._meta.label} row {pk} does not open, so its batch was "
                        "not resealed."
                    ) from error
                resealed.append(column.model(pk=pk, **{column.blob_field: new_blob}))
            column.model._default_manager.bulk_update(resealed, [column.blob_field])
        after = batch[-1][0]
        done += len(batch)
        batches += 1
        if progress is not None:
            progress(column.label, done, to_do)
    return done, max(to_do - done, 0), batches


def _rotation_target(agency_id: int) -> tuple[int | None, bool]:
    """The version to reseal under, and whether it was made just now.

    A rotation in progress is one whose older versions are not all retired: a rerun finishes it
    rather than making yet another version."""
    keys = list(
        DataKey.objects.filter(agency_id=agency_id)
        .order_by("-version")
        .values_list("version", "retired_at")
    )
    if not keys:
        return None, False
    newest = keys[0][0]
    if any(retired_at is None for _, retired_at in keys[1:]):
        return newest, False
    return data_key_create(agency_id=agency_id), True


def agency_key_rotate(
    *,
    agency_id: int,
    batch_size: int = BATCH_ROWS,
    max_batches: int | None = None,
    progress: Progress | None = None,
) -> AgencyRotation:
    """Give the agency a new data key and reseal everything of it under that key.

    Resumable: if a previous run stopped part way (crash, `max_batches`), this one carries on
    with the same new version and skips what was already resealed. The old version is retired
    only when no stored blob uses it and no extract of the agency is being ingested (an ingest
    that began before the new key may still seal with the old one).
    """
    version, started = _rotation_target(agency_id)
    result = AgencyRotation(agency_id=agency_id, version=version, started=started)
    if version is None:
        return result
    sealer = AgencySealer(agency_id)
    if sealer.version != version:
        raise RotationError(
            f"Agency {agency_id} has data key {sealer.version}, newer than {version} being "
            "rotated to; is another rotation running?"
        )
    batches = 0
    for column in SEALED_COLUMNS:
        done, left, used = _reseal_column(
            column,
            sealer,
            batch_size=batch_size,
            max_batches=None if max_batches is None else max_batches - batches,
            progress=progress,
        )
        batches += used
        if column.reseal is not None:
            result.resealed[column.label] = done
        result.remaining += left
    result.extracts_in_progress = Extract.objects.filter(
        dataset__agency_id=agency_id, status=ExtractStatus.PROCESSING
    ).count()
    # Looked at after the extracts are: an ingest that finished in between has its blobs seen here.
    result.versions_in_use = sealed_versions_in_use(agency_id=agency_id)
    older = DataKey.objects.filter(
        agency_id=agency_id, version__lt=version, retired_at__isnull=True
    )
    if not result.remaining and not result.extracts_in_progress:
        retiring = older.exclude(version__in=result.versions_in_use)
        result.retired_versions = sorted(retiring.values_list("version", flat=True))
        retiring.update(retired_at=timezone.now())
    result.complete = not older.exists()
    return result


# --- Ingest key -------------------------------------------------------------------------------


@dataclass
class IngestKeyUsage:
    current_version: int
    # Open uploads and bridge extracts not yet ingested, by the ingest key version they name.
    in_flight_by_version: dict[int, int]
    # Open uploads whose first chunk (with the version) has not arrived: any key may be theirs.
    unknown: int
    versions_unused: list[int]

    @property
    def in_flight_older(self) -> int:
        return sum(n for v, n in self.in_flight_by_version.items() if v != self.current_version)


def _sealed_key_version(stored_file: str) -> int | None:
    """The ingest key version in a sealed file's header line, None if it has not arrived."""
    if not stored_file:
        return None
    try:
        with (upload_dir() / stored_file).open("rb") as stream:
            return int(json.loads(stream.readline(64 * 1024))["key_version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ingest_keys_in_use() -> IngestKeyUsage:
    """Which ingest key versions uploads still in flight were sealed under, so an operator knows
    when an older private key can leave SHAREHUB_INGEST_KEYS. Reads only each file's header."""
    current = ingest_public_keys()[0].version
    files = list(
        SealedUpload.objects.filter(status=SealedUploadStatus.OPEN).values_list(
            "stored_file", flat=True
        )
    ) + list(
        Extract.objects.filter(
            channel=ExtractChannel.BRIDGE,
            status__in=[ExtractStatus.RECEIVED, ExtractStatus.PROCESSING],
        ).values_list("stored_file", flat=True)
    )
    by_version: Counter[int] = Counter()
    unknown = 0
    for stored_file in files:
        version = _sealed_key_version(stored_file)
        if version is None:
            unknown += 1
        else:
            by_version[version] += 1
    held = ingest_key_versions_held()
    unused = [] if unknown else [v for v in held if v != current and v not in by_version]
    return IngestKeyUsage(
        current_version=current,
        in_flight_by_version=dict(sorted(by_version.items())),
        unknown=unknown,
        versions_unused=unused,
    )
