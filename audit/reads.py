"""Which agency's records each audit entry shows (issue 20): each agency answers for its own
records, whoever reads them.

    record_reads_write(entry)   RecordRead rows for a new entry (audit.services calls it): case
                                summaries, risk pages, alerts, search results, explain pages,
                                exports, dashboard drill-downs, and the assessment steps and
                                safeguarding overrides that open datasets (references only)

Who owns each record and dataset is asked of the lookup agencies registers (audit.owners). The
flags of unusual reading found over these rows, and telling of them: oversight.flags.
"""

from __future__ import annotations

from typing import Any

from audit.models import AuditEntry, RecordRead
from audit.owners import owner_lookup


def _named_records(fields: dict, reference: str):
    """From an entry's detail["fields"] (case summary, risk page, alert, search results, explain
    page): {record id: (person reference, field keys)} and {dataset id: person references} for
    "known to" badges."""
    records: dict[int, tuple[str, set[str]]] = {}
    datasets: dict[int, set[str]] = {}

    def add_records(mapping, person: str) -> None:
        if not isinstance(mapping, dict):
            return
        for key, value in mapping.items():
            if str(key).isdigit():
                keys = records.setdefault(int(key), (person, set()))[1]
                keys.update(str(k) for k in (value or ()))

    def add_known(ids, person: str) -> None:
        for dataset_id in ids or ():
            if isinstance(dataset_id, int):
                datasets.setdefault(dataset_id, set()).add(person)

    add_records(fields, reference)
    add_records(fields.get("reasons"), reference)
    add_known(fields.get("known_to"), reference)
    # Other persons shown beside the one read: household members on a case summary, and each
    # person a search or a drill-down listed ("results"), each {reference: {"fields": ...,
    # "known_to": ...}}; a drill-down names no field, only the datasets of its cell's agencies.
    for others in (fields.get("household"), fields.get("results")):
        if isinstance(others, dict):
            for member, seen in others.items():
                if isinstance(seen, dict):
                    add_records(seen.get("fields"), str(member))
                    add_known(seen.get("known_to"), str(member))
    return records, datasets


# What a reviewer sees of each record on a person's explain page (matching.explain): its
# agency's own record id and how it was linked, no identifier.
EXPLAIN_KEYS = ["source_id", "link"]


def _shown(entry: AuditEntry) -> dict | None:
    """The entry's detail["fields"], or for an explain read the same form made from the ids of
    the records it showed."""
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    if detail.get("explain") and isinstance(detail.get("records"), list):
        return {str(r): EXPLAIN_KEYS for r in detail["records"] if isinstance(r, int)}
    fields = detail.get("fields")
    return fields if isinstance(fields, dict) else None


# What a linked export (matching.export) writes of each shared record besides pseudonyms.
LINKAGE_EXPORT_KEYS = ["agency", "dataset", "link_score"]


def _exported(entry: AuditEntry) -> dict[int, set[str]]:
    """{dataset id: field keys} an export entry names: the datasets a linked export's
    protocols share ("datasets"), or the "dataset id|key" choices of a de-identified one."""
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    if entry.action != "export":
        return {}
    exported: dict[int, set[str]] = {}
    if detail.get("kind") == "linkage":
        for dataset_id in detail.get("datasets") or ():
            if isinstance(dataset_id, int):
                exported.setdefault(dataset_id, set()).update(LINKAGE_EXPORT_KEYS)
    elif detail.get("kind") == "deidentified":
        for choice in detail.get("fields") or ():
            dataset_id, _, key = str(choice).partition("|")
            if dataset_id.isdigit() and key:
                exported.setdefault(int(dataset_id), set()).add(key)
    return exported


def _export_reads_write(entry: AuditEntry, exported: dict[int, set[str]]) -> None:
    """One RecordRead per agency whose datasets an export takes values from. The rows leave as
    a stream after the entry is written, so it names the datasets and keys, not the persons or
    a count of records (records=0, shown as an export on /audit/reads/)."""
    owners: dict[int, set[str]] = {}
    owned: dict[int, set[int]] = {}
    for dataset_id, agency_id in owner_lookup().datasets(exported).items():
        owners.setdefault(agency_id, set()).update(exported[dataset_id])
        owned.setdefault(agency_id, set()).add(dataset_id)
    RecordRead.objects.bulk_create(
        RecordRead(
            entry=entry,
            agency_id=agency_id,
            at=entry.at,
            persons=[],
            fields=sorted(keys),
            records=0,
            known_to_only=False,
            datasets=sorted(owned[agency_id]),
        )
        for agency_id, keys in owners.items()
    )


def _opened(entry: AuditEntry) -> list[int]:
    """The dataset ids an assessment step or a safeguarding override opens to the reader
    (detail["fields"]["opens"], written by protocols.summary.case_unlock and the override's
    log): no record is shown yet, but from now on its detail is, so its owner is told."""
    if entry.action not in ("unlock", "override"):
        return []
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    fields = detail.get("fields")
    opens = fields.get("opens") if isinstance(fields, dict) else None
    return [d for d in opens or () if isinstance(d, int)]


def _opened_reads_write(entry: AuditEntry, opened: list[int]) -> None:
    """One RecordRead per agency whose datasets the step or override opens: no field or
    record yet (records=0), the datasets named."""
    owned: dict[int, set[int]] = {}
    for dataset_id, agency_id in owner_lookup().datasets(opened).items():
        owned.setdefault(agency_id, set()).add(dataset_id)
    persons = [entry.person_reference] if entry.person_reference else []
    RecordRead.objects.bulk_create(
        RecordRead(
            entry=entry,
            agency_id=agency_id,
            at=entry.at,
            persons=persons,
            fields=[],
            records=0,
            known_to_only=False,
            datasets=sorted(datasets),
        )
        for agency_id, datasets in owned.items()
    )


def record_reads_write(entry: AuditEntry) -> None:
    """One RecordRead per agency whose records the entry shows (at any tier, "known to" too),
    or whose values an export takes."""
    if entry.outcome != "ok":
        return
    exported = _exported(entry)
    if exported:
        _export_reads_write(entry, exported)
        return
    opened = _opened(entry)
    if opened:
        _opened_reads_write(entry, opened)
        return
    fields = _shown(entry)
    if not fields:
        return
    records, datasets = _named_records(fields, entry.person_reference)
    if not records and not datasets:
        return
    lookup = owner_lookup()
    owners: dict[int, dict[str, Any]] = {}

    def owner(agency_id: int) -> dict[str, Any]:
        return owners.setdefault(
            agency_id, {"persons": set(), "fields": set(), "records": 0, "datasets": set()}
        )

    if records:
        for record_id, (agency_id, dataset_id) in lookup.records(records).items():
            person, keys = records[record_id]
            read = owner(agency_id)
            read["persons"].add(person)
            read["fields"].update(keys)
            read["records"] += 1
            read["datasets"].add(dataset_id)
    if datasets:
        for dataset_id, agency_id in lookup.datasets(datasets).items():
            owner(agency_id)["persons"].update(datasets[dataset_id])
            owner(agency_id)["datasets"].add(dataset_id)
    RecordRead.objects.bulk_create(
        RecordRead(
            entry=entry,
            agency_id=agency_id,
            at=entry.at,
            persons=sorted(p for p in read["persons"] if p),
            fields=sorted(read["fields"]),
            records=read["records"],
            known_to_only=not read["records"],
            datasets=sorted(read["datasets"]),
        )
        for agency_id, read in owners.items()
    )
