"""Retention and erasure: records past their dataset's retention period, or withdrawn by their
agency, are removed with everything ShareHub made from them.

What "made from them" means, table by table (tests/test_retention.py walks every relation of
the models to check nothing is missed):
- the record itself (agencies.SourceRecord): the sealed identity and the payload;
- its keyed tokens, blocking keys and Bloom encodings (matching.LinkageRecord) and its search
  keys (matching.SearchKey);
- its links: other records' "linked with" pointers to it are cleared, and linkage re-clusters
  the people it belonged to first, so a person held together only by the record splits;
- review items about it and the decisions on them (matching.ReviewItem, ReviewDecision);
- risk findings on it (risk.RiskFinding); alerts it raised (alerts.Alert.record); an alert
  raised on a score loses the record's findings from its reasons, and goes with them if
  nothing else stood behind it; scores, household scores and the dashboards' figures are
  computed again without it;
- rows of its extracts set aside at loading (agencies.QuarantinedRow), which hold sealed rows;
- a person left with no record: their score, dashboard profile and alerts, and the person with
  their linkage history unless an accountability record names them (consent, an override, a
  case unlock): then an inactive reference stays, holding nothing about them. Having been read
  does not keep them: the audit trail names the person read by reference, not by a key.

What stays, by design: the audit trail, reads included (who saw which record, as ids and field
keys, and whom, as a reference; accountability outlives the data it was about), the extracts'
upload records (file name, counts) and the erasure's own counts.

Order matters. Records are first retired, which takes them out of every read at once; linkage
then runs, as it needs their links to know whose persons to re-cluster; then rows are deleted in
batches; then scores are computed again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from agencies.models import (
    EXTRACT_FINAL_STATUSES,
    Dataset,
    Extract,
    ExtractMode,
    ExtractStatus,
    Membership,
    QuarantinedRow,
    SourceRecord,
)
from alerts.models import Alert
from audit.models import AuditAction
from audit.services import audit_record
from core.batches import in_batches
from core.locks import LockId, advisory_lock
from matching.linkage.run import linkage_run
from matching.models import LinkageRecord, LinkageRun, Person, PersonEvent, ReviewDecision
from notifications.models import Notification
from retention.models import ErasureKind, ErasureRun, ErasureStage, ErasureStatus
from risk.models import RiskRun
from risk.services import enrich_run

logger = logging.getLogger(__name__)

BATCH = 2_000

# What a run counts, by the model label Django's deletion reports, under a name for the page.
COUNTED = {
    "agencies.SourceRecord": "records",
    "matching.LinkageRecord": "linkage_keys",
    "matching.SearchKey": "search_keys",
    "matching.ReviewItem": "review_items",
    "matching.ReviewDecision": "review_decisions",
    "risk.RiskFinding": "findings",
    "alerts.Alert": "alerts",
    "alerts.AlertDelivery": "alert_deliveries",
    "alerts.AlertEvent": "alert_events",
    "agencies.QuarantinedRow": "rows_set_aside",
    "matching.Person": "persons",
    "matching.PersonEvent": "person_events",
    "notifications.Notification": "notifications",
}
FIGURE_LABELS = {
    "records": "Records",
    "linkage_keys": "Keyed tokens and encodings",
    "search_keys": "Search keys",
    "links_cleared": "Links from other records",
    "review_items": "Link review items",
    "review_decisions": "Link review decisions",
    "findings": "Risk findings",
    "alerts": "Alerts",
    "alert_reasons_trimmed": "Alerts that lost a reason",
    "alert_deliveries": "Alert deliveries",
    "alert_events": "Alert history entries",
    "rows_set_aside": "Rows set aside at loading",
    "persons": "People left with no record",
    "person_events": "Linkage history entries",
    "notifications": "Notifications about them",
    "persons_kept_as_reference": "People kept as an empty reference",
}


class ErasureRefused(Exception):
    """A withdrawal or a retention change cannot be made; the message says why and what to do."""


# --- Which records -------------------------------------------------------------------------


def _retention_cutoffs(now: datetime) -> list[tuple[int, datetime]]:
    """Each dataset, and the moment before which what it was sent has passed its period."""
    return [
        (dataset_id, now - timedelta(days=days))
        for dataset_id, days in Dataset.objects.values_list("pk", "retention_days")
    ]


def expired_records(*, now: datetime | None = None) -> QuerySet[SourceRecord]:
    """Records of every dataset whose retention period has passed since an extract last sent
    them (or retired them)."""
    expired = Q(pk__in=[])
    for dataset_id, cutoff in _retention_cutoffs(now or timezone.now()):
        expired |= Q(dataset_id=dataset_id, updated_at__lt=cutoff)
    return SourceRecord.objects.filter(expired)


def withdrawn_records(*, dataset: Dataset, extract: Extract | None = None):
    """A dataset's records, or those an extract loaded or last changed (a record it loaded is
    the extract's even if a later extract sent it again: the agency is taking back the file)."""
    records = SourceRecord.objects.filter(dataset=dataset)
    if extract is not None:
        records = records.filter(Q(first_extract=extract) | Q(last_extract=extract))
    return records


def _records_by_dataset(run: ErasureRun, now: datetime) -> list[tuple[int, QuerySet]]:
    """The run's records, a query per dataset: each is retired under its dataset's lock."""
    if run.kind == ErasureKind.RETENTION or run.dataset is None:
        return [
            (dataset_id, SourceRecord.objects.filter(dataset_id=dataset_id, updated_at__lt=cutoff))
            for dataset_id, cutoff in _retention_cutoffs(now)
        ]
    return [(run.dataset.pk, withdrawn_records(dataset=run.dataset, extract=run.extract))]


# --- Asking for a withdrawal ------------------------------------------------------------------


@dataclass(frozen=True)
class WithdrawalPreview:
    records: int
    later_extracts_also_sent: int
    extracts: int
    # Why it cannot be withdrawn as things stand, or "" (the page then shows no button).
    refusal: str
    full_refresh: bool


def withdrawal_preview(*, dataset: Dataset, extract: Extract | None = None) -> WithdrawalPreview:
    records = withdrawn_records(dataset=dataset, extract=extract)
    later = 0
    if extract is not None:
        later = records.filter(first_extract=extract).exclude(last_extract=extract).count()
    return WithdrawalPreview(
        records=records.count(),
        later_extracts_also_sent=later,
        extracts=1 if extract is not None else dataset.extracts.count(),
        refusal=_refusal(dataset, extract),
        full_refresh=extract is not None and extract.mode == ExtractMode.FULL,
    )


def _refusal(dataset: Dataset, extract: Extract | None) -> str:
    if dataset.withdrawn_at is not None:
        return (
            f"The dataset was already withdrawn on "
            f"{timezone.localtime(dataset.withdrawn_at):%d %b %Y}."
        )
    if extract is not None and extract.status == ExtractStatus.WITHDRAWN:
        return f"Extract {extract.number} was already withdrawn."
    if extract is not None and extract.status != ExtractStatus.LOADED:
        return (
            f"Extract {extract.number} was not loaded ({extract.get_status_display().lower()}), "
            "so nothing of it is held and there is nothing to withdraw."
        )
    in_flight = list(
        dataset.extracts.exclude(status__in=EXTRACT_FINAL_STATUSES)
        .order_by("number")
        .values_list("number", flat=True)
    )
    if in_flight:
        return (
            f"Extract {', '.join(map(str, in_flight))} of this dataset is still being "
            "processed. Withdraw once it has finished, so that nothing it loads is missed."
        )
    return ""


def withdrawal_request(
    *, user, membership: Membership, dataset: Dataset, extract: Extract | None = None
) -> ErasureRun:
    """Queue the erasure of a dataset's records, or of one extract's; refuses (changing nothing)
    while an extract of the dataset is still being processed, or if it is already withdrawn."""
    from retention.tasks import erase_withdrawn

    if dataset.agency_id != membership.agency_id:
        raise ErasureRefused("Only the agency that sent a dataset may withdraw it.")
    with transaction.atomic():
        # The same row lock as an extract's merge: no merge can start while this is decided.
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if extract is not None:
            extract = Extract.objects.get(pk=extract.pk)
        refusal = _refusal(dataset, extract)
        if refusal:
            raise ErasureRefused(refusal)
        try:
            with transaction.atomic():
                run = ErasureRun.objects.create(
                    kind=ErasureKind.EXTRACT if extract is not None else ErasureKind.DATASET,
                    agency_id=dataset.agency_id,
                    dataset=dataset,
                    extract=extract,
                    requested_by=user,
                )
        except IntegrityError:
            raise ErasureRefused(
                "A withdrawal from this dataset is already under way. Wait for it to finish."
            ) from None
        if extract is None:
            # From now on no extract is taken for it, and none in flight can merge (ingest
            # checks this under the same lock).
            Dataset.objects.filter(pk=dataset.pk).update(withdrawn_at=timezone.now())
        audit_record(
            action=AuditAction.WITHDRAWAL,
            actor=user,
            membership=membership,
            channel="web",
            detail={
                "erasure": run.pk,
                "kind": run.kind,
                "dataset": dataset.pk,
                "extract": extract.pk if extract is not None else None,
            },
        )
        transaction.on_commit(lambda: erase_withdrawn.delay(erasure_id=run.pk), robust=True)
    return run


def retention_newly_expired(*, dataset: Dataset, days: int, now: datetime | None = None) -> int:
    """How many of the dataset's records a period of `days` would erase tonight that the
    current period would not: what someone shortening it must see before saving."""
    now = now or timezone.now()
    return dataset.records.filter(
        updated_at__lt=now - timedelta(days=days),
        updated_at__gte=now - timedelta(days=dataset.retention_days),
    ).count()


def retention_period_set(*, user, membership: Membership, dataset: Dataset, days: int) -> None:
    if dataset.withdrawn_at is not None:
        raise ErasureRefused("The dataset was withdrawn: it holds no records to keep.")
    before = dataset.retention_days
    Dataset.objects.filter(pk=dataset.pk).update(retention_days=days)
    dataset.retention_days = days
    audit_record(
        action=AuditAction.RETENTION,
        actor=user,
        membership=membership,
        channel="web",
        detail={"dataset": dataset.pk, "days_before": before, "days": days},
    )


# --- Running an erasure -----------------------------------------------------------------------


def retention_run_start() -> ErasureRun:
    return ErasureRun.objects.create(kind=ErasureKind.RETENTION)


def erasure_perform(*, erasure_id: int) -> ErasureRun | None:
    """Carry out a queued (or interrupted) erasure. Safe to call twice: every step reads what is
    still there, and the run keeps its counts and the people to check across attempts, so a
    second call finishes what the first left and removes nothing more."""
    with advisory_lock(LockId.ERASURE):
        run = ErasureRun.objects.select_related("dataset", "extract").filter(pk=erasure_id).first()
        if run is None or run.status == ErasureStatus.DONE:
            return run
        ErasureRun.objects.filter(pk=run.pk).update(
            status=ErasureStatus.RUNNING, started_at=run.started_at or timezone.now()
        )
        try:
            figures = _erase(run)
        except Exception as error:  # noqa: BLE001 - recorded on the run, retried nightly
            # The class only, and not raised on to Celery, which would log its text: a database
            # error quotes the values of the row it failed on.
            logger.error("erasure %s failed: %s", run.pk, type(error).__name__)  # noqa: TRY400
            ErasureRun.objects.filter(pk=run.pk).update(
                status=ErasureStatus.FAILED,
                finished_at=timezone.now(),
                message=(
                    "The erasure stopped part way. The records not yet removed are out of use; "
                    "tonight's run finishes removing them."
                ),
            )
            run.refresh_from_db()
            return run
        _finish(run, figures)
        run.refresh_from_db()
        return run


def _stage(run: ErasureRun, stage: str, figures: Counter, by_agency: Counter) -> None:
    ErasureRun.objects.filter(pk=run.pk).update(
        stage=stage, figures=dict(figures), records_by_agency=dict(by_agency)
    )


def _erase(run: ErasureRun) -> Counter:
    # Counts carry over from an earlier attempt; how far this attempt has got does not.
    figures = Counter(run.figures)
    for key in ("records_found", "batches", "batches_done"):
        figures.pop(key, None)
    by_agency = Counter(run.records_by_agency)
    marked_at = timezone.now()
    _stage(run, ErasureStage.RETIRING, figures, by_agency)
    record_ids = _retire(run, marked_at)
    figures["records_found"] = len(record_ids)
    persons = set(run.persons_to_check)
    linked_now = False
    for person_id, retired_from in in_batches(
        record_ids,
        lambda batch: LinkageRecord.objects.filter(record_id__in=batch).values_list(
            "person_id", "retired_from_person_id"
        ),
        size=BATCH,
    ):
        linked_now |= person_id is not None
        persons.update(p for p in (person_id, retired_from) if p is not None)
    ErasureRun.objects.filter(pk=run.pk).update(persons_to_check=sorted(persons))

    _stage(run, ErasureStage.RELINKING, figures, by_agency)
    if linked_now:
        figures["linkage_run"] = linkage_run(kind=LinkageRun.Kind.ERASURE).pk

    figures["batches"] = -(-len(record_ids) // BATCH)
    _stage(run, ErasureStage.REMOVING, figures, by_agency)
    # Linkage and scoring take turns with removal: a run that read a record before it was
    # retired must not write a review item or finding about it after it is gone. (PostgreSQL's
    # session locks stack, so the rescoring below may take scoring's lock again.)
    with advisory_lock(LockId.LINKAGE), advisory_lock(LockId.ENRICH):
        for start in range(0, len(record_ids), BATCH):
            batch = record_ids[start : start + BATCH]
            _delete_batch(batch, marked_at, figures, by_agency)
            figures["batches_done"] += 1
            _stage(run, ErasureStage.REMOVING, figures, by_agency)
        _alerts_trim(figures)
        _quarantine_delete(run, marked_at, figures)
        _persons_empty(persons, figures)

    if figures["records"] or figures["alerts"] or figures["alert_reasons_trimmed"]:
        _stage(run, ErasureStage.RESCORING, figures, by_agency)
        figures["risk_run"] = enrich_run(kind=RiskRun.Kind.ERASURE).pk
    ErasureRun.objects.filter(pk=run.pk).update(records_by_agency=dict(by_agency))
    return figures


def _retire(run: ErasureRun, marked_at: datetime) -> list[int]:
    """Take the records out of every read (searches, summaries, scores all skip retired
    records) and return their ids, in order. updated_at is left alone: it is how removal tells
    a record an extract sent again meanwhile (newer than marked_at), which it then leaves."""
    ids: list[int] = []
    for dataset_id, records in _records_by_dataset(run, marked_at):
        with transaction.atomic():
            Dataset.objects.select_for_update().filter(pk=dataset_id).first()
            ids.extend(records.values_list("pk", flat=True))
            records.filter(is_retired=False).update(is_retired=True)
    return sorted(ids)


def _delete_batch(batch: list[int], marked_at: datetime, figures: Counter, by_agency: Counter):
    with transaction.atomic():
        # The datasets' rows first, in order, as an extract's merge locks its dataset's row:
        # no merge can send one of these records again between the check and the delete.
        dataset_ids = set(
            SourceRecord.objects.filter(pk__in=batch).values_list("dataset_id", flat=True)
        )
        list(Dataset.objects.select_for_update().filter(pk__in=dataset_ids).order_by("pk"))
        # Still retired and not sent again since they were marked (an extract that sends a
        # record again un-retires it and sets updated_at): those are current again, and stay.
        rows = list(
            SourceRecord.objects.filter(
                pk__in=batch, is_retired=True, updated_at__lt=marked_at
            ).values_list("pk", "dataset__agency_id")
        )
        doomed = [pk for pk, _ in rows]
        if not doomed:
            return
        by_agency.update(str(agency_id) for _, agency_id in rows)
        alerts_gone = set(Alert.objects.filter(record_id__in=doomed).values_list("pk", flat=True))
        figures["links_cleared"] += (
            LinkageRecord.objects.filter(linked_with_id__in=doomed)
            .exclude(record_id__in=doomed)
            .count()
        )
        # Decisions protect their review items (they are a reviewer's record of work); about
        # records that no longer exist, they go with the items.
        pair = Q(item__record_a_id__in=doomed) | Q(item__record_b_id__in=doomed)
        _count(ReviewDecision.objects.filter(pair).delete(), figures)
        _count(SourceRecord.objects.filter(pk__in=doomed).delete(), figures)
        _notifications_delete(alerts=alerts_gone, persons=(), figures=figures)


def _alerts_trim(figures: Counter) -> None:
    """Alerts raised on a score name the findings they stood on, by indicator and record: pairs
    whose record no longer exists leave, and an alert with none left goes (a new-event alert
    went with its record). Read from what is still there, so a retry after a failure trims what
    the first attempt erased, and a record whose findings went when it was retired long before
    is seen too."""
    alerts = list(Alert.objects.exclude(finding_keys=[]).values_list("pk", "finding_keys"))
    named = sorted({pair[1] for _, keys in alerts for pair in keys})
    existing = set(
        in_batches(
            named,
            lambda batch: SourceRecord.objects.filter(pk__in=batch).values_list("pk", flat=True),
            size=BATCH,
        )
    )
    gone, trimmed = [], []
    for pk, keys in alerts:
        kept = [pair for pair in keys if pair[1] in existing]
        if len(kept) == len(keys):
            continue
        if kept:
            trimmed.append(Alert(pk=pk, finding_keys=kept))
        else:
            gone.append(pk)
    Alert.objects.bulk_update(trimmed, ["finding_keys"], batch_size=BATCH)
    figures["alert_reasons_trimmed"] += len(trimmed)
    if gone:
        _count(Alert.objects.filter(pk__in=gone).delete(), figures)
        _notifications_delete(alerts=gone, persons=(), figures=figures)


def _notifications_delete(*, alerts, persons, figures: Counter) -> None:
    """Notifications pointing at an erased alert, or naming an erased person by reference: the
    message says nothing else, but it would outlive what it was about and lead to a 404."""
    links = [f"/alerts/{alert_id}/" for alert_id in alerts]
    for start in range(0, len(links), BATCH):
        _count(Notification.objects.filter(link__in=links[start : start + BATCH]).delete(), figures)
    references = list(persons)
    for start in range(0, len(references), 200):
        about = Q(pk__in=[])
        for reference in references[start : start + 200]:
            about |= Q(message__contains=reference)
        _count(Notification.objects.filter(about).delete(), figures)


def _quarantine_delete(run: ErasureRun, marked_at: datetime, figures: Counter) -> None:
    """Rows set aside at loading are sealed rows of the file, identifiers and all."""
    if run.kind == ErasureKind.EXTRACT:
        rows = QuarantinedRow.objects.filter(extract=run.extract)
    elif run.kind == ErasureKind.DATASET:
        rows = QuarantinedRow.objects.filter(extract__dataset=run.dataset)
    else:
        expired = Q(pk__in=[])
        for dataset_id, cutoff in _retention_cutoffs(marked_at):
            expired |= Q(extract__dataset_id=dataset_id, extract__uploaded_at__lt=cutoff)
        rows = QuarantinedRow.objects.filter(expired)
    _count(rows.delete(), figures)


# What names a person and goes with them: their own rows, and the linkage history between
# people (a merge into them, another person's "split from" them), whose pointers at an erased
# person are cleared. Anything else naming a person (consent, an override, a case unlock) is
# accountability, and keeps them as an empty reference. The audit trail's reads name a person by
# reference only, so a person who was only read goes (issue 24).
_PERSON_OWN = {
    ("matching", "personevent", "person"),
    ("matching", "personevent", "other"),
    ("matching", "person", "merged_into"),
    ("risk", "personrisk", "person"),
    ("insights", "personprofile", "person"),
    ("alerts", "alert", "person"),
}


def _persons_empty(candidates: set[int], figures: Counter) -> None:
    """People left with no record lose what was made from their records, and go with their
    history (and the merged-away people pointing at them) unless accountability names them."""
    recordless = Person.objects.filter(records__isnull=True)
    emptied = set(recordless.filter(pk__in=candidates).values_list("pk", flat=True))
    frontier = set(emptied)
    while frontier:  # people merged into an emptied person hold nothing either
        frontier = (
            set(recordless.filter(merged_into__in=frontier).values_list("pk", flat=True)) - emptied
        )
        emptied |= frontier
    if not emptied:
        return
    alerts = set(Alert.objects.filter(person_id__in=emptied).values_list("pk", flat=True))
    _count(Alert.objects.filter(pk__in=alerts).delete(), figures)
    Person.objects.filter(pk__in=emptied).update(is_active=False, household=None)
    removable = Person.objects.filter(pk__in=emptied)
    for relation in _reverse_relations(Person):
        model = relation.related_model
        key = (model._meta.app_label, model._meta.model_name, relation.field.name)
        if key in _PERSON_OWN:
            continue
        named = model._base_manager.filter(**{f"{relation.field.name}__in": emptied})
        removable = removable.exclude(pk__in=named.values(relation.field.name))
    gone = dict(removable.values_list("pk", "reference"))
    with transaction.atomic():
        PersonEvent.objects.filter(other_id__in=gone).exclude(person_id__in=gone).update(other=None)
        Person.objects.filter(merged_into_id__in=gone).update(merged_into=None)
        _count(PersonEvent.objects.filter(person_id__in=gone).delete(), figures)
        # Score and profile rows cascade; the next scoring rewrites them anyway.
        _count(Person.objects.filter(pk__in=gone).delete(), figures)
        _notifications_delete(alerts=alerts, persons=gone.values(), figures=figures)
    figures["persons_kept_as_reference"] += len(emptied) - len(gone)


def _reverse_relations(model) -> list:
    """Every foreign key and one-to-one pointing at `model`, those declared related_name="+"
    too (which _meta.related_objects leaves out): a table added later that names a person
    keeps them, without this list having to know of it."""
    return [
        field
        for field in model._meta.get_fields(include_hidden=True)
        if field.auto_created and not field.concrete and (field.one_to_many or field.one_to_one)
    ]


def _count(deleted: tuple[int, dict[str, int]], figures: Counter) -> None:
    for label, number in deleted[1].items():
        if label in COUNTED and number:
            figures[COUNTED[label]] += number


def _finish(run: ErasureRun, figures: Counter) -> None:
    now = timezone.now()
    with transaction.atomic():
        if run.kind == ErasureKind.EXTRACT and run.extract_id is not None:
            Extract.objects.filter(pk=run.extract_id).update(
                status=ExtractStatus.WITHDRAWN,
                message=(
                    f"Withdrawn on {timezone.localtime(now):%d %b %Y}: "
                    f"{figures['records']:,} records it loaded were erased, with everything "
                    "made from them."
                ),
            )
        elif run.kind == ErasureKind.DATASET:
            Extract.objects.filter(dataset=run.dataset_id, status=ExtractStatus.LOADED).update(
                status=ExtractStatus.WITHDRAWN,
                message=f"Withdrawn with the whole dataset on {timezone.localtime(now):%d %b %Y}.",
            )
        ErasureRun.objects.filter(pk=run.pk).update(
            status=ErasureStatus.DONE,
            stage=ErasureStage.DONE,
            finished_at=now,
            figures=dict(figures),
            message="",
            persons_to_check=[],
        )
        audit_record(
            action=AuditAction.ERASURE,
            channel="task",
            detail={
                "erasure": run.pk,
                "kind": run.kind,
                "dataset": run.dataset_id,
                "extract": run.extract_id,
                **{key: int(value) for key, value in figures.items()},
            },
        )
    logger.info("erasure %s (%s): %s", run.pk, run.kind, dict(figures))


def erasure_figures(run: ErasureRun) -> list[tuple[str, int]]:
    """What the page lists: each kind of row removed, in a fixed order, leaving out zeros."""
    return [
        (label, run.figures[key]) for key, label in FIGURE_LABELS.items() if run.figures.get(key)
    ]
