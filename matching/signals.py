"""What the linkage stage announces when it has done its part. It does not know what follows:
sharehub.pipeline connects the next stage. Ids only, never a record's content."""

from django.dispatch import Signal

# Linkage placed a loaded extract's records in persons: `extract_id`.
extract_linked = Signal()
# A review decision or a platform admin's full re-link moved records between persons.
persons_relinked = Signal()
