"""The rows of /audit/reads/: each read of an agency's records with what the page names of it,
looked up once per page rather than once per row (one query each for agencies, datasets,
protocol versions and what stood behind the reads).

    read_rows(reads)                         a ReadRow per RecordRead: reader, datasets,
                                             protocols and reasons
    told_flags(agency_id=, since=, limit=)   flags told to the agency, with their questions
    read_csv_lines(reads)                    the same rows for a CSV download, in batches
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from agencies.labels import readable_label
from agencies.models import Agency, Dataset, Role
from audit.models import ReadFlag, ReadQuestion, RecordRead
from audit.selectors import read_reasons


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
    def flagged(self) -> bool:
        return bool(getattr(self.read, "flagged", False))

    def __getattr__(self, name: str):
        # Anything else is the read's own (entry, persons, fields...).
        if name == "read":
            raise AttributeError(name)
        return getattr(self.read, name)


def read_rows(reads: list[RecordRead]) -> list[ReadRow]:
    from protocols.models import ProtocolVersion

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
                reasons=reasons.get((entry.actor_id or 0, entry.person_reference), []),
                field_labels=[
                    labels.get(key) or readable_label(key.split(":", 1)[-1]) for key in read.fields
                ],
            )
        )
    return rows


def _field_labels(dataset_ids: set[int]) -> dict[str, str]:
    """{field key: label} over the datasets' catalogues; a key two datasets label differently
    takes the first dataset's label, which differ only when admins typed their own."""
    from protocols.fields import dataset_catalogues

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


def told_flags(*, agency_id: int, since: datetime, limit: int) -> list[ToldFlag]:
    flags = list(ReadFlag.objects.filter(agency_id=agency_id, at__gte=since)[:limit])
    agencies = dict(
        Agency.objects.filter(pk__in={f.reader_agency_id for f in flags}).values_list("pk", "name")
    )
    asked: dict[int, ReadQuestion] = {}
    for question in ReadQuestion.objects.filter(flag__in=flags).order_by("asked_at"):
        asked.setdefault(question.flag_id, question)
    return [
        ToldFlag(flag, agencies.get(flag.reader_agency_id or 0, ""), asked.get(flag.pk))
        for flag in flags
    ]


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
