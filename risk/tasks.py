"""Enrichment for the Celery workers: thin, idempotent, one run at a time.

Every run rewrites findings, scores and dashboard figures from the records as they are, and
alerts are keyed by their cause, so a redelivered task costs time, never a duplicate.
"""

from celery import shared_task

from agencies.models import Extract, ExtractStatus
from risk.models import RiskRun
from risk.services import enrich_run


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def enrich_after_extract(*, extract_id: int) -> None:
    """Find the extract's records again, then score everyone (linkage has just run)."""
    status = Extract.objects.filter(pk=extract_id).values_list("status", flat=True).first()
    if status != ExtractStatus.LOADED:
        return  # gone, or nothing of it loaded
    enrich_run(kind=RiskRun.Kind.EXTRACT, extract_id=extract_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def enrich_after_linkage() -> None:
    """A review decision moved records between persons: score everyone again."""
    enrich_run(kind=RiskRun.Kind.LINKAGE)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def enrich_after_indicators() -> None:
    """An indicator changed what it counts: find every record again."""
    enrich_run(kind=RiskRun.Kind.INDICATORS)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def enrich_nightly() -> None:
    """Periodic (beat): decay moves every score every day, so everything is found and scored."""
    enrich_run(kind=RiskRun.Kind.NIGHTLY)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def enrich_after_seals() -> None:
    """What is sealed changed: score everyone again without the sealed records' findings, end
    and withdraw the alerts that stood on them, refresh the dashboard (protocols.seals)."""
    enrich_run(kind=RiskRun.Kind.SEALS)
