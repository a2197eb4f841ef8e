"""Risk indicators saved by platform admins, findings made from records, and scores from findings.

    enrich_run(kind=, extract_id=, today=)  findings -> scores, then what sharehub.pipeline
                                            puts after them: alerts -> dashboard figures

One run at a time (an advisory lock on PostgreSQL). A run after an extract finds the extract's
records again; a nightly run, or one after an indicator changed, finds every record again. Both
then score every person from every finding, because decay moves every score every day and a
merge or split moves findings between persons. Running twice gives the same rows.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from agencies.models import SourceRecord
from audit.models import AuditAction
from audit.services import access_log_write
from core.batches import in_batches
from core.locks import LockId, advisory_lock
from matching.models import Person
from risk.indicators import (
    CompiledIndicator,
    IndicatorError,
    IndicatorInput,
    indicator_checked,
    indicators_compiled,
)
from risk.models import HouseholdRisk, PersonRisk, RiskDay, RiskFinding, RiskIndicator, RiskRun
from risk.scoring import (
    BANDS,
    RISING_WINDOW_DAYS,
    FindingTerm,
    ScoreBook,
    band_of,
    contribution,
    trajectory,
    trend_of,
)
from risk.signals import scores_written

logger = logging.getLogger(__name__)

CHUNK = 5_000
CONTENT_FIELDS = (
    "kind",
    "conditions",
    "phrases",
    "text_columns",
    "weight",
    "half_life_days",
    "lookback_days",
    "is_active",
)


def indicator_save(
    *, data: IndicatorInput, by, indicator: RiskIndicator | None = None, rescore: bool = True
) -> RiskIndicator:
    """Create or change an indicator; a change to what it counts bumps its revision and has
    every record found again (after commit; `rescore=False` leaves that to the caller, who is
    saving several). Raises IndicatorError."""
    cleaned = indicator_checked(data)
    clash = RiskIndicator.objects.filter(name__iexact=cleaned["name"])
    if indicator is not None:
        clash = clash.exclude(pk=indicator.pk)
    if clash.exists():
        raise IndicatorError({"name": ["Another indicator has this name: choose another."]})
    with transaction.atomic():
        if indicator is None:
            indicator = RiskIndicator.objects.create(created_by=by, **cleaned)
            changed = True
        else:
            changed = any(getattr(indicator, f) != cleaned[f] for f in CONTENT_FIELDS) or set(
                indicator.datasets.values_list("pk", flat=True)
            ) != {d.pk for d in data.datasets}
            for name, value in cleaned.items():
                setattr(indicator, name, value)
            if changed:
                indicator.revision += 1
            indicator.save()
        indicator.datasets.set(data.datasets)
        if changed and rescore:
            from risk.tasks import enrich_after_indicators

            transaction.on_commit(lambda: enrich_after_indicators.delay())
    return indicator


def enrich_run(*, kind: str, extract_id: int | None = None, today: date | None = None) -> RiskRun:
    """Find, score, raise alerts and refresh the dashboard's figures, counting each stage."""
    today = today or timezone.localdate()
    # One run at a time: two runs replacing findings and scores at once would interleave.
    with advisory_lock(LockId.ENRICH):
        run = RiskRun.objects.create(kind=kind, extract_id=extract_id, scored_on=today)
        figures: dict[str, Any] = {}
        try:
            started = time.perf_counter()
            if extract_id is not None and kind == RiskRun.Kind.EXTRACT:
                records = SourceRecord.objects.filter(
                    Q(last_extract_id=extract_id) | Q(retired_by_id=extract_id)
                ).values_list("pk", flat=True)
                figures["findings"] = findings_refresh(record_ids=list(records))
            # Linkage moves no finding, an erasure deleted its records' findings with them, and
            # a seal hides findings from scoring without changing them.
            elif kind not in (RiskRun.Kind.LINKAGE, RiskRun.Kind.ERASURE, RiskRun.Kind.SEALS):
                figures["findings"] = findings_refresh()
            figures["seconds_findings"] = round(time.perf_counter() - started, 2)

            started = time.perf_counter()
            book = score_book_load(today=today)
            figures["persons_scored"] = scores_write(book=book, today=today)
            figures["seconds_scores"] = round(time.perf_counter() - started, 2)

            # What follows the scores, in this run and under its lock (sharehub.pipeline: alerts,
            # then the dashboard's figures), adds its own figures.
            scores_written.send(sender=RiskRun, book=book, today=today, figures=figures)
        except Exception:
            RiskRun.objects.filter(pk=run.pk).update(
                status=RiskRun.Status.FAILED, finished_at=timezone.now(), figures=figures
            )
            raise
        RiskRun.objects.filter(pk=run.pk).update(
            status=RiskRun.Status.DONE, finished_at=timezone.now(), figures=figures
        )
        run.refresh_from_db()
        return run


def findings_refresh(*, record_ids: list[int] | None = None) -> int:
    """Find every active indicator in `record_ids` (None: every record) again; returns how many
    findings there are now for those records. Atomic: readers see the old findings or the new."""
    compiled = indicators_compiled(RiskIndicator.objects.prefetch_related("datasets"))
    by_dataset: dict[int, list[CompiledIndicator]] = {}
    for item in compiled:
        for dataset_id in item.dataset_ids:
            by_dataset.setdefault(dataset_id, []).append(item)
    made = 0
    if record_ids is not None and not by_dataset and not RiskFinding.objects.exists():
        return 0  # no indicator, and nothing found before: nothing to find again
    with transaction.atomic():
        if record_ids is None:
            RiskFinding.objects.all().delete()
        else:
            for start in range(0, len(record_ids), CHUNK):
                RiskFinding.objects.filter(record_id__in=record_ids[start : start + CHUNK]).delete()
        if not by_dataset:
            return 0
        batch: list[RiskFinding] = []
        for chunk in _record_chunks(record_ids, list(by_dataset)):
            for record_id, dataset_id, payload, event_date in chunk:
                for item in by_dataset[dataset_id]:
                    found = item.match(payload or {}, dataset_id)
                    if found is None:
                        continue
                    keys, phrase = found
                    batch.append(
                        RiskFinding(
                            indicator_id=item.id,
                            record_id=record_id,
                            revision=item.revision,
                            event_date=event_date,
                            field_keys=keys,
                            phrase=phrase,
                        )
                    )
            if len(batch) >= CHUNK:
                RiskFinding.objects.bulk_create(batch)
                made += len(batch)
                batch = []
        RiskFinding.objects.bulk_create(batch)
        made += len(batch)
    return made


def _record_chunks(record_ids: list[int] | None, dataset_ids: list[int]):
    live = SourceRecord.objects.filter(dataset_id__in=dataset_ids, is_retired=False)
    fields = ("pk", "dataset_id", "payload", "event_date")
    if record_ids is None:
        rows = live.order_by().values_list(*fields).iterator(chunk_size=CHUNK)
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        yield chunk
        return
    for start in range(0, len(record_ids), CHUNK):
        yield list(live.filter(pk__in=record_ids[start : start + CHUNK]).values_list(*fields))


def score_book_load(*, today: date) -> ScoreBook:
    """Every finding of an active indicator on a live record that linkage has placed, but for
    findings on records sealed on `today` (protocols.seals).

    The score is one partnership-wide figure shown to every agency (alerts, dashboards), so a
    sealed record counts for nobody, its own agency included: a score that rose on it would tell
    other agencies that something hidden puts the person at risk. A score per agency, in which
    the owner's sealed records still count for the owner, is out of scope for now; the owner
    still sees the record's findings among the reasons on the person's risk page."""
    from protocols.seals import sealed_findings

    indicators = {
        pk: (float(weight), half_life, lookback)
        for pk, weight, half_life, lookback in RiskIndicator.objects.filter(
            is_active=True
        ).values_list("pk", "weight", "half_life_days", "lookback_days")
    }
    person_of = "record__linkage__person_id"
    rows = (
        RiskFinding.objects.filter(
            indicator_id__in=list(indicators),
            record__is_retired=False,
            record__linkage__person__isnull=False,
        )
        .exclude(sealed_findings(today))
        .values_list(person_of, "indicator_id", "event_date", "pk")
        .iterator(chunk_size=50_000)
    )
    return ScoreBook(
        [
            (person_id, *indicators[indicator_id], event, pk)
            for person_id, indicator_id, event, pk in rows
        ]
    )


def scores_write(*, book: ScoreBook, today: date) -> int:
    """Replace every person's and household's score with the book's on `today`."""
    now_scores = book.scores_on(today)
    before_scores = book.scores_on(today - timedelta(days=RISING_WINDOW_DAYS))
    ids = book.person_ids.tolist()
    households = dict(
        in_batches(
            ids,
            lambda chunk: Person.objects.filter(pk__in=chunk).values_list("pk", "household_id"),
            size=CHUNK,
        )
    )
    person_rows = []
    household_sum: dict[int, float] = {}
    household_members: dict[int, int] = {}
    bands = {key: 0 for key, _, _ in BANDS}
    for position, person_id in enumerate(ids):
        score = round(float(now_scores[position]), 2)
        before = round(float(before_scores[position]), 2)
        household_id = households.get(person_id)
        person_rows.append(
            PersonRisk(
                person_id=person_id,
                household_id=household_id,
                score=score,
                score_before=before,
                findings=int(book.findings_per_person[position]),
                scored_on=today,
            )
        )
        if score > 0:
            bands[band_of(score)] += 1
        if household_id is not None:
            household_sum[household_id] = household_sum.get(household_id, 0.0) + score
            household_members[household_id] = household_members.get(household_id, 0) + 1
    with transaction.atomic():
        PersonRisk.objects.all().delete()
        PersonRisk.objects.bulk_create(person_rows, batch_size=CHUNK)
        HouseholdRisk.objects.all().delete()
        HouseholdRisk.objects.bulk_create(
            [
                HouseholdRisk(
                    household_id=household_id,
                    score=round(total, 2),
                    members_scored=household_members[household_id],
                    scored_on=today,
                )
                for household_id, total in household_sum.items()
            ],
            batch_size=CHUNK,
        )
        RiskDay.objects.update_or_create(
            day=today,
            defaults={
                "bands": bands,
                "people_scored": sum(bands.values()),
                "households_scored": sum(1 for s in household_sum.values() if s > 0),
            },
        )
    return len(person_rows)


def persons_terms(person_ids) -> dict[int, list[tuple[RiskFinding, FindingTerm]]]:
    """Each person's live findings, newest first, with what each adds to their score; one
    query for all of them."""
    findings = (
        RiskFinding.objects.filter(
            record__linkage__person_id__in=list(person_ids),
            record__is_retired=False,
            indicator__is_active=True,
        )
        .select_related("indicator", "record__dataset__agency")
        .annotate(person_id=F("record__linkage__person_id"))
        .order_by("-event_date", "pk")
    )
    found: dict[int, list[tuple[RiskFinding, FindingTerm]]] = {pid: [] for pid in person_ids}
    for finding in findings:
        term = FindingTerm(
            float(finding.indicator.weight),
            finding.indicator.half_life_days,
            finding.indicator.lookback_days,
            finding.event_date,
        )
        found[finding.person_id].append((finding, term))
    return found


# --- one person's risk, as a reader may see it ----------------------------------------------------


@dataclass
class Reason:
    indicator: str
    dataset: str
    agency: str
    event_date: date | None
    phrase: str
    adds: float
    field_labels: list[str]


@dataclass
class RiskPage:
    view: Any  # protocols.engine.PersonView
    score: float
    score_before: float
    trend: str
    reasons: list[Reason]
    trajectory: list[tuple[date, float]]
    household_score: float | None = None
    household_members_shown: int = 0


def person_risk(
    *, user, membership, person, purpose: str, channel: str, now=None
) -> RiskPage | None:
    """A person's score as far as the reader may see it: only findings on records whose every
    field the indicator read is disclosed to them (protocols.engine.finding_disclosed) count, so
    the score and its reasons never say more than the records would. None: not found (logged).
    """
    from protocols.engine import disclose_or_deny, finding_disclosed
    from protocols.fields import identity_key

    now = now or timezone.now()
    today = timezone.localdate(now)
    members = (
        list(Person.objects.filter(household_id=person.household_id, is_active=True))
        if person.household_id
        else [person]
    )
    views = disclose_or_deny(
        user=user,
        membership=membership,
        person=person,
        others=members,
        purpose=purpose,
        now=now,
        action=AuditAction.RISK,
        channel=channel,
    )
    view = views.get(person.pk)
    if view is None:
        return None
    shown_terms = []
    reasons = []
    labels = {(r.record_id, f.key): f.label for r in view.records for f in r.fields}
    dated = {r.record_id: r.event_date for r in view.records}
    logged: dict[str, list[str]] = {}
    terms = persons_terms([m.pk for m in members if m.pk in views])
    for finding, term in terms[person.pk]:
        if not finding_disclosed(view, record_id=finding.record_id, field_keys=finding.field_keys):
            continue
        shown_terms.append(term)
        adds = round(contribution(term, today), 1)
        reasons.append(
            Reason(
                indicator=finding.indicator.name,
                dataset=finding.record.dataset.name,
                agency=finding.record.dataset.agency.name,
                # The date only where the record's own date is shown.
                event_date=dated.get(finding.record_id),
                phrase=finding.phrase,
                adds=adds,
                field_labels=[labels.get((finding.record_id, k), k) for k in finding.field_keys],
            )
        )
        logged.setdefault(str(finding.record_id), []).extend(finding.field_keys)
    days = [today - timedelta(days=30 * n) for n in range(12, -1, -1)]
    points = trajectory(shown_terms, days)
    score = round(sum(contribution(t, today) for t in shown_terms), 1)
    before = round(
        sum(contribution(t, today - timedelta(days=RISING_WINDOW_DAYS)) for t in shown_terms), 1
    )
    # The household's score, from the members shared with the reader and only the findings
    # they may see of each: a child's risk often sits with an adult of the household.
    household_score = score
    household_shown = 1
    household_logged: dict[str, dict] = {}
    for member in members:
        member_view = views.get(member.pk)
        if member.pk == person.pk or member_view is None:
            continue
        household_shown += 1
        for finding, term in terms[member.pk]:
            if finding_disclosed(
                member_view, record_id=finding.record_id, field_keys=finding.field_keys
            ):
                household_score += contribution(term, today)
                # The member's record, under the member's reference (audit.reads).
                member_fields = household_logged.setdefault(member.reference, {"fields": {}})
                member_fields["fields"].setdefault(str(finding.record_id), []).extend(
                    finding.field_keys
                )
    # The name at the top of the page is made from the records whose name fields the reader is
    # shown (PersonView.name): those records are read too, for each agency owning one, even
    # when no reason is shared (issue 20, finding E).
    name_keys = {identity_key("forename"), identity_key("surname")}
    named = {
        str(r.record_id): sorted(k for k in view.shown_keys[r.record_id] if k in name_keys)
        for r in view.records
        if view.shown_keys[r.record_id] & name_keys
    }
    logged_fields: dict[str, Any] = {**named, "reasons": logged}
    if household_logged:
        logged_fields["household"] = household_logged
    access_log_write(
        user=user,
        membership=membership,
        action=AuditAction.RISK,
        channel=channel,
        purpose=purpose,
        person=person,
        versions=sorted(set().union(*(v.versions for v in views.values()))),
        fields=logged_fields,
    )
    reasons.sort(key=lambda r: -r.adds)
    return RiskPage(
        view=view,
        score=score,
        score_before=before,
        trend=trend_of(score - before),
        reasons=reasons,
        trajectory=list(zip(days, points, strict=True)),
        household_score=round(household_score, 1) if person.household_id else None,
        household_members_shown=household_shown,
    )
