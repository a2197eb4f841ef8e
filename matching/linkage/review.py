"""What a run asks people: the pairs it is unsure of, into the review queue.

(matching.review is the queue itself: who may read it, and how decisions are taken.)
"""

import numpy as np
from django.conf import settings
from django.db import models

from matching import scoring
from matching.linkage.clusters import RegionResult
from matching.linkage.figures import Figures
from matching.linkage.population import Population
from matching.models import LinkageRun, ReviewItem


def review_store(
    population: Population,
    region: np.ndarray,
    result: RegionResult,
    parameters: scoring.Parameters,
    run: LinkageRun,
    figures: Figures,
) -> None:
    """Open a review item for each uncertain pair not yet decided; withdraw open items whose
    records now sit in one person through other links, or are no longer a candidate pair."""
    record_ids = population.record_ids[region]
    items = []
    for a, b, weight, reason, levels in result.review:
        first, second = sorted((int(record_ids[a]), int(record_ids[b])))
        items.append(
            ReviewItem(
                record_a_id=first,
                record_b_id=second,
                score=weight,
                probability=float(scoring.probability(np.array([weight]))[0]),
                reason=reason,
                comparison=scoring.reasons(levels, parameters),
                why=scoring.uncertain_because(levels),
                run=run,
            )
        )
    ReviewItem.objects.bulk_create(items, batch_size=2_000, ignore_conflicts=True)
    figures["review_items"] = len(items)
    # A pair withdrawn earlier and uncertain again is a question again, with today's reasons.
    asked = {(item.record_a_id, item.record_b_id): item for item in items}
    reopened = 0
    withdrawn_before = ReviewItem.objects.filter(
        status=ReviewItem.Status.WITHDRAWN, record_a_id__in={a for a, _ in asked}
    ).values_list("pk", "record_a_id", "record_b_id")
    for pk, a, b in withdrawn_before:
        item = asked.get((a, b))
        if item is not None:
            reopened += ReviewItem.objects.filter(pk=pk, status=ReviewItem.Status.WITHDRAWN).update(
                status=ReviewItem.Status.OPEN,
                score=item.score,
                probability=item.probability,
                reason=item.reason,
                comparison=item.comparison,
                why=item.why,
                run=run,
            )
    figures["review_items_reopened"] = reopened
    # Open items no longer a question: inside one person now (the links around them decided
    # it), no longer uncertain (both records were re-clustered and the pair was not asked), or
    # about a retired record. Not a pair a practitioner reported (matching.challenges): that
    # linkage is sure of it is what they dispute, and a reviewer answers them.
    person_of = dict(zip(record_ids.tolist(), population.person_ids[region].tolist(), strict=True))
    still_open = ReviewItem.objects.filter(status=ReviewItem.Status.OPEN, reported_at__isnull=True)
    withdrawn = list(
        still_open.filter(
            models.Q(record_a__is_retired=True) | models.Q(record_b__is_retired=True)
        ).values_list("pk", flat=True)
    )
    for pk, a, b in still_open.values_list("pk", "record_a_id", "record_b_id"):
        if (
            a in person_of
            and b in person_of
            and (person_of[a] == person_of[b] or (a, b) not in asked)
        ):
            withdrawn.append(pk)
    # Only items still open: a reviewer's decision saved since they were read stands.
    ReviewItem.objects.filter(
        pk__in=withdrawn, status=ReviewItem.Status.OPEN, reported_at__isnull=True
    ).update(status=ReviewItem.Status.WITHDRAWN)
    figures["review_items_withdrawn"] = len(withdrawn)
    figures["review_items_beyond_queue"] = _review_queue_trim(len(population.record_ids))
    figures["review_queue_open"] = ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).count()


REVIEW_QUEUE_MIN = 50


def _review_queue_trim(records: int) -> int:
    """Keep the open review queue to what a team can work through (SHAREHUB_REVIEW_QUEUE_SHARE
    of the live records): the pairs most likely to be one person stay, the rest are withdrawn
    (a later run asks again if one rises). Pairs a practitioner reported always stay. Returns
    how many were withdrawn."""
    cap = max(REVIEW_QUEUE_MIN, round(settings.SHAREHUB_REVIEW_QUEUE_SHARE * records))
    asked_by_linkage = ReviewItem.objects.filter(
        status=ReviewItem.Status.OPEN, reported_at__isnull=True
    )
    beyond = list(
        asked_by_linkage.order_by("-probability", "pk").values_list("pk", flat=True)[cap:]
    )
    if beyond:
        asked_by_linkage.filter(pk__in=beyond).update(status=ReviewItem.Status.WITHDRAWN)
    return len(beyond)
