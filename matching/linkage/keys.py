"""Keys: each record's packed keyed values (matching.tokens), made from its sealed identity, and
the search keys drawn from them."""

from django.db import connection
from django.utils import timezone

from agencies.models import Dataset, SourceRecord
from core.keys import linkage_key_version
from matching.models import LinkageRecord, SearchKey
from matching.pseudonymise import identity_open, record_keys_compute
from matching.tokens import RECORD_DTYPE, SEARCH_FIELDS, search_rows

KEYS_BATCH = 2_000


def keys_refresh(*, record_ids: list[int] | None = None) -> list[int]:
    """(Re)compute the packed keys of records whose keys are missing, stale or asked for.

    Stale means made under an older linkage key, or before an extract last rewrote the record.
    Opens each identity in memory only for as long as its keys take to compute. Returns the ids
    of the records keyed.
    """
    version = linkage_key_version()
    records = SourceRecord.objects.filter(is_retired=False)
    if record_ids is not None:
        records = records.filter(pk__in=record_ids)
    if record_ids is None:
        # Only those that need it: no keys, keys under an old linkage key, or a record an extract
        # rewrote after its keys were made.
        from django.db.models import F, Q
        from django.db.models.functions import Length

        records = records.annotate(keys_length=Length("linkage__keys")).filter(
            Q(linkage__isnull=True)
            | ~Q(linkage__key_version=version)
            | Q(updated_at__gt=F("linkage__keys_made_at"))
            # Keys packed in an older layout (a release added a field): made again.
            | ~Q(keys_length=RECORD_DTYPE.itemsize)
        )
    agency_of = dict(Dataset.objects.values_list("pk", "agency_id"))
    done: list[int] = []
    now = timezone.now()
    # (record id, agency id, dataset id, keys, key version, made at, link rule): rows, not
    # model instances, which cost more to build than the keys do to compute.
    batch: list[tuple] = []
    for record_id, dataset, source_id, blob in records.values_list(
        "pk", "dataset_id", "source_id", "identity"
    ).iterator(chunk_size=KEYS_BATCH):
        identifiers = identity_open(
            agency_id=agency_of[dataset], dataset_id=dataset, source_id=source_id, blob=bytes(blob)
        )
        batch.append(
            (
                record_id,
                agency_of[dataset],
                dataset,
                record_keys_compute(identifiers),
                version,
                now,
                "",
            )
        )
        del identifiers
        if len(batch) >= KEYS_BATCH:
            done += _keys_write(batch)
            batch = []
    if batch:
        done += _keys_write(batch)
    return done


def _keys_write(rows: list[tuple]) -> list[int]:
    """Insert or replace keys in one statement per batch (Django's bulk_create spends longer
    building the SQL for 2,000 rows than the database takes to run it)."""
    _upsert(
        LinkageRecord._meta.db_table,
        ("record_id", "agency_id", "dataset_id", "keys", "key_version", "keys_made_at"),
        rows,
        # A new row's link rule starts empty; a replaced one keeps its own.
        insert_only=("link_rule",),
    )
    _search_keys_write(rows)
    return [row[0] for row in rows]


def _search_keys_write(rows: list[tuple]) -> None:
    """The keyed values search looks records up by (matching.models.SearchKey), beside the keys
    they come from, so that only a change of keys writes their indexes."""
    found = search_rows([row[0] for row in rows], b"".join(row[3] for row in rows))
    _upsert(SearchKey._meta.db_table, ("record_id", *SEARCH_FIELDS), found)


def _upsert(
    table: str, columns: tuple[str, ...], rows: list[tuple], *, insert_only: tuple[str, ...] = ()
) -> None:
    """Insert `rows` or replace the rows with their record_id, in one statement; `columns` are
    replaced on conflict, the `insert_only` ones (whose values end each row) only inserted."""
    names = ", ".join(columns + insert_only)
    update = ", ".join(f"{name} = excluded.{name}" for name in columns if name != "record_id")
    sql = (
        f"INSERT INTO {table} ({names}) VALUES %s "  # noqa: S608 - names are ours
        f"ON CONFLICT (record_id) DO UPDATE SET {update}"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            execute_values(cursor.cursor, sql, rows, page_size=len(rows))
        else:
            placeholders = "(" + ", ".join(["%s"] * (len(columns) + len(insert_only))) + ")"
            cursor.executemany(sql.replace("%s", placeholders), rows)
