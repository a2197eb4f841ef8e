"""Following persons through merges."""

from collections.abc import Callable, Iterable

from matching.models import LinkageRecord, Person


def persons_merged_into(person_ids: Iterable[int]) -> dict[int, int]:
    """{id of a person merged into one of `person_ids`, directly or through a chain of merges:
    the id in `person_ids` it now is}.

    Linkage records a merge on the person merged away and leaves earlier merges pointing where
    they pointed, so B -> A -> C is a chain: what was recorded about B is about C. One query per
    link of the longest chain, and one when there is none.
    """
    found: dict[int, int] = {}
    frontier = {pid: pid for pid in person_ids}
    while frontier:
        rows = Person.objects.filter(merged_into_id__in=list(frontier)).values_list(
            "pk", "merged_into_id"
        )
        next_frontier = {}
        for pk, into in rows:
            if pk in found or pk in frontier:
                continue  # a cycle would be a linkage bug; never loop on one
            found[pk] = frontier[into]
            next_frontier[pk] = frontier[into]
        frontier = next_frontier
    return found


def persons_holding_records_in(
    dataset_ids: Iterable[int], *, order_by: Callable[[str], str]
) -> list[int]:
    """Ids of the live persons with a live record in any of `dataset_ids`, sorted by
    `order_by(reference)`. An export passes its own keyed pseudonym, so two exports' rows come
    in orders that cannot be lined up with each other."""
    people = (
        LinkageRecord.objects.filter(
            dataset_id__in=list(dataset_ids),
            person__isnull=False,
            person__is_active=True,
            record__is_retired=False,
        )
        .order_by()
        .values_list("person_id", "person__reference")
        .distinct()
    )
    return [person_id for person_id, reference in sorted(people, key=lambda p: order_by(p[1]))]
