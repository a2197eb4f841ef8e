"""The rows of /audit/reads/: each read of an agency's records with what the page names of it,
looked up once per page rather than once per row (one query each for agencies, datasets,
protocol versions and what stood behind the reads).

    read_rows(reads)                         a ReadRow per RecordRead: reader, datasets,
                                             protocols and reasons
    told_flags(agency_id=, since=, limit=)   flags stored for the agency, with their questions
    flags_to_look_at(found)                  the flags computed now, with the same
    flag_readers(flags)                      each flag's reader: name, role, agency
    read_csv_lines(reads)                    the same rows for a CSV download, in batches
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from agencies.labels import readable_label
from agencies.models import Agency, Dataset, Membership, Role
from audit.models import ReadFlag, ReadQuestion, RecordRead
from oversight.selectors import Flag, read_reasons, reader_label, reasons_behind
from protocols.fields import dataset_catalogues
from protocols.models import ProtocolVersion


@dataclass
class ReadRow:
    read: RecordRead
    reader_name: str
    reader_agency: str
    reader_role: str
    dataset_names: list[str]
    protocol_names: list[str]
    reasons: list[str]  # what stood behind the read; empty: nothing recorded
    # The fields read, by the labels the reader saw them under ("Risk grade"), never by key.
    field_labels: list[str]

    @property
    def reader(self) -> str:
        return reader_label(self.reader_name, self.reader_role, self.reader_agency)

    @property
    def flagged(self) -> bool:
        return bool(getattr(self.read, "flagged", False))

    def __getattr__(self, name: str):
        # Anything else is the read's own (entry, persons, fields...).
        if name == "read":
            raise AttributeError(name)
        return getattr(self.read, name)


def read_rows(reads: list[RecordRead]) -> list[ReadRow]:
    agencies = dict(
        Agency.objects.filter(pk__in={r.entry.agency_id for r in reads}).values_list("pk", "name")
    )
    datasets = dict(
        Dataset.objects.filter(pk__in={d for r in reads for d in r.datasets}).values_list(
            "pk", "name"
        )
    )
    versions = {
        v.pk: f"{v.name} (version {v.number})"
        for v in ProtocolVersion.objects.filter(
            pk__in={v for r in reads for v in r.entry.protocol_versions if isinstance(v, int)}
        )
    }
    reasons = read_reasons({(r.entry.actor_id, r.entry.person_reference) for r in reads})
    labels = _field_labels({d for r in reads for d in r.datasets})
    roles = dict(Role.choices)
    rows = []
    for read in reads:
        entry = read.entry
        actor = entry.actor
        rows.append(
            ReadRow(
                read=read,
                reader_name=(actor.full_name or actor.email) if actor else "Not signed in",
                reader_agency=agencies.get(entry.agency_id or 0, "No agency"),
                reader_role=roles.get(entry.role, entry.role or "No role"),
                dataset_names=[datasets[d] for d in read.datasets if d in datasets],
                protocol_names=[versions[v] for v in entry.protocol_versions if v in versions],
                reasons=reasons_behind(entry, reasons),
                field_labels=[
                    labels.get(key) or readable_label(key.split(":", 1)[-1]) for key in read.fields
                ],
            )
        )
    return rows


def _field_labels(dataset_ids: set[int]) -> dict[str, str]:
    """{field key: label} over the datasets' catalogues; a key two datasets label differently
    takes the first dataset's label, which differ only when admins typed their own."""
    labels: dict[str, str] = {}
    for catalogue in dataset_catalogues(dataset_ids).values():
        for info in catalogue:
            labels.setdefault(info.key, info.label)
    return labels


@dataclass
class ToldFlag:
    flag: ReadFlag
    reader_agency: str  # empty for flags told before the reader's agency was kept
    question: ReadQuestion | None  # the first question asked about it
    reader: str = ""  # name, role and agency, as the reads' rows name readers
    detail: str = ""  # what is unusual, as found now (a live flag) or when stored


def flag_readers(flags: list[ReadFlag], agencies: dict[int, str] | None = None) -> dict[int, str]:
    """{flag id: its reader by reader_label}: the user's name, their role in the agency they
    read for, and that agency. Flags fetched with select_related("actor") and `agencies`
    ({id: name}) given leave one query however many flags."""
    if agencies is None:
        agencies = _agency_names(flags)
    roles = dict(Role.choices)
    role_of: dict[tuple[int | None, int | None], str] = {
        (user_id, agency_id): roles.get(role, role)
        for user_id, agency_id, role in Membership.objects.filter(
            user_id__in={f.actor_id for f in flags}
        ).values_list("user_id", "agency_id", "role")
    }
    readers = {}
    for flag in flags:
        user = flag.actor
        readers[flag.pk] = reader_label(
            (user.full_name or user.email) if user else "",
            role_of.get((flag.actor_id, flag.reader_agency_id), ""),
            agencies.get(flag.reader_agency_id or 0, ""),
        )
    return readers


def _agency_names(flags: list[ReadFlag]) -> dict[int, str]:
    return dict(
        Agency.objects.filter(pk__in={f.reader_agency_id for f in flags}).values_list("pk", "name")
    )


def _flag_rows(flags: list[ReadFlag], details: dict[int, str], readers: dict[int, str] | None):
    agencies = _agency_names(flags)
    if readers is None:
        readers = flag_readers(flags, agencies)
    asked: dict[int, ReadQuestion] = {}
    for question in ReadQuestion.objects.filter(flag__in=flags).order_by("asked_at"):
        asked.setdefault(question.flag_id, question)
    return [
        ToldFlag(
            flag,
            agencies.get(flag.reader_agency_id or 0, ""),
            asked.get(flag.pk),
            readers.get(flag.pk, ""),
            details.get(flag.pk, flag.detail),
        )
        for flag in flags
    ]


def told_flags(*, agency_id: int, since: datetime, limit: int) -> list[ToldFlag]:
    """The agency's stored flags since `since`, newest first, with their first questions."""
    flags = list(
        ReadFlag.objects.filter(agency_id=agency_id, at__gte=since).select_related("actor")[:limit]
    )
    return _flag_rows(flags, {}, None)


def flags_to_look_at(found: list[tuple[Flag, ReadFlag]]) -> list[ToldFlag]:
    """The flags computed now (oversight.flags.read_flags_store) as the page lists them: the
    reader as the live flag names them, what is unusual as of now, and the stored flag to ask
    about, with its first question if one was asked."""
    flags = [stored for _, stored in found]
    readers = {stored.pk: flag.actor for flag, stored in found}
    details = {stored.pk: flag.detail for flag, stored in found}
    return _flag_rows(flags, details, readers)


CSV_HEADER = ["entry", "at (UTC)", "reader", "reader's role", "reader's agency", "kind of read",
              "persons", "datasets", "fields", "records", "protocols", "purpose",
              "behind it", "flagged"]  # fmt: skip
CSV_BATCH = 1000


def read_csv_lines(reads: QuerySet[RecordRead]) -> Iterator[list]:
    """The reads page's rows as CSV cells (not yet made safe: the caller does), looked up a
    batch at a time so a long download keeps to a few queries per thousand rows."""
    last: tuple | None = None
    while True:
        batch = reads
        if last is not None:
            at, pk = last
            batch = batch.filter(Q(at__lt=at) | Q(at=at, pk__lt=pk))
        chunk = list(batch[:CSV_BATCH])
        if not chunk:
            return
        for row in read_rows(chunk):
            read = row.read
            yield [
                read.entry_id,
                read.at.isoformat(),
                row.reader_name,
                row.reader_role,
                row.reader_agency,
                read.entry.get_action_display(),
                " ".join(read.persons) or read.entry.person_reference,
                "; ".join(row.dataset_names),
                "; ".join(row.field_labels),
                read.records,
                "; ".join(row.protocol_names),
                read.entry.purpose,
                "; ".join(row.reasons)
                or ("nothing recorded" if read.entry.person_reference else ""),
                "yes" if row.flagged else "",
            ]
        last = (chunk[-1].at, chunk[-1].pk)
