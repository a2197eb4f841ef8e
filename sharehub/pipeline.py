"""The pipeline, in one place: which stage follows which.

    an extract uploaded (web, API or the IG bridge), queued on commit by agencies.ingest
      -> agencies.tasks.ingest_extract
    extract loaded       -> its sealed records marked (protocols.seals), in the ingest task,
                            before linkage makes them findable
                         -> matching.tasks.link_after_extract
    extract linked       -> risk.tasks.enrich_after_extract
    persons relinked     -> risk.tasks.enrich_after_linkage
      (a review decision, a platform admin's full re-link)
    what is sealed changed -> risk.tasks.enrich_after_seals, on commit
    scores written       -> alerts raised and ended (alerts.raising), then the dashboard's
                            figures (insights.services), in the same enrichment run and lock

No stage imports the one after it. Each announces that it has done its part with a signal of its
own app (agencies.signals, matching.signals, risk.signals, protocols.signals), and the receivers
here start what follows: a task queued with ids only, never a record's content (which would sit
in Redis), or, after the scores, a call inside the enrichment run, which alerts need for the
score book it holds in memory and for its lock. Retries, acknowledgement and idempotence stay
with each task; the queue is the default one for all of them.

Not a Celery chain: the ingest is queued where an upload is committed (agencies, for the web,
the API and the bridge alike) and again by beat for a stalled one, so a chain would have to be
built down there; and whether linkage follows is known only when the ingest ends (loaded,
rejected or failed for good).

Connected by sharehub.apps.SharehubConfig.ready, so in every process: the web, each worker, and
the embedded default, where CELERY_TASK_ALWAYS_EAGER runs the whole pipeline in the one process.
"""

import time
from datetime import date
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from agencies.signals import extract_loaded
from alerts.raising import alerts_evaluate
from insights.services import insights_refresh
from matching.signals import extract_linked, persons_relinked
from matching.tasks import link_after_extract
from protocols.seals import seals_mark_extract
from protocols.signals import seals_changed
from risk.scoring import ScoreBook
from risk.signals import scores_written
from risk.tasks import enrich_after_extract, enrich_after_linkage, enrich_after_seals


@receiver(extract_loaded, dispatch_uid="pipeline.seals_then_link")
def seals_then_link(sender, *, extract_id: int, **kwargs) -> None:
    # Sealed records are marked before linkage makes them findable, so a new record matching a
    # seal is never shown to another agency, not even for a moment.
    seals_mark_extract(extract_id=extract_id)
    link_after_extract.delay(extract_id=extract_id)


@receiver(extract_linked, dispatch_uid="pipeline.enrich_extract")
def enrich_extract(sender, *, extract_id: int, **kwargs) -> None:
    # The extract's records are placed in persons now: find in them again, score everyone.
    enrich_after_extract.delay(extract_id=extract_id)


@receiver(persons_relinked, dispatch_uid="pipeline.enrich_relinked")
def enrich_relinked(sender, **kwargs) -> None:
    enrich_after_linkage.delay()


@receiver(seals_changed, dispatch_uid="pipeline.enrich_seals")
def enrich_seals(sender, **kwargs) -> None:
    transaction.on_commit(enrich_after_seals.delay)


@receiver(scores_written, dispatch_uid="pipeline.alerts_then_insights")
def alerts_then_insights(
    sender, *, book: ScoreBook, today: date, figures: dict[str, Any], **kwargs
) -> None:
    started = time.perf_counter()
    figures["alerts"] = alerts_evaluate(book=book, today=today)
    figures["seconds_alerts"] = round(time.perf_counter() - started, 2)

    started = time.perf_counter()
    insights_refresh(today=today)
    figures["seconds_insights"] = round(time.perf_counter() - started, 2)
