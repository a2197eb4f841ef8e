"""How many of a dataset's records linkage joined to another agency's: a figure of the data quality
page, taken when the linkage that follows an extract finishes and kept on that extract.

    extract_linked_share_store(extract_id=)   after an extract's linkage (matching.tasks)
    dataset_linked_counts(dataset_id=, agency_id=)   (current records, linked elsewhere)

A record counts as linked when its person also holds a current record of another agency. Another
agency's sealed record counts for nobody (as on the insights dashboards): the figure is read by
the dataset's own agency, and a record sealed from it must not move its figures.
"""

from django.db.models import Exists, OuterRef
from django.utils import timezone

from agencies.models import Extract, ExtractStatus, SourceRecord
from matching.models import LinkageRecord

# The review queue's exception (ARCHITECTURE.md): matching asks protocols which records are sealed.
from protocols.seals import sealed_q


def dataset_linked_counts(*, dataset_id: int, agency_id: int) -> tuple[int, int]:
    """The dataset's current records, and how many of them share a person with a current,
    unsealed record of another agency. Two counting queries, whatever the dataset's size."""
    current = SourceRecord.objects.filter(dataset_id=dataset_id, is_retired=False)
    elsewhere = (
        LinkageRecord.objects.filter(
            person_id=OuterRef("linkage__person_id"),
            person__is_active=True,
            record__is_retired=False,
        )
        .exclude(agency_id=agency_id)
        .exclude(sealed_q(today=timezone.localdate()))
    )
    records = current.count()
    linked = current.filter(linkage__person__isnull=False).filter(Exists(elsewhere)).count()
    return records, linked


def extract_linked_share_store(*, extract_id: int) -> None:
    """Keep on a loaded extract the dataset's linked counts as they are now. Safe to run again:
    it stores the counts of the moment, which a redelivered task may find a little later."""
    extract = (
        Extract.objects.filter(pk=extract_id, status=ExtractStatus.LOADED)
        .select_related("dataset")
        .first()
    )
    if extract is None:
        return  # gone, withdrawn, or never loaded: nothing to measure
    records, linked = dataset_linked_counts(
        dataset_id=extract.dataset_id, agency_id=extract.dataset.agency_id
    )
    Extract.objects.filter(pk=extract.pk).update(
        records_after_linkage=records, records_linked_elsewhere=linked
    )
