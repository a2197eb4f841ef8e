"""What the agencies stage announces when it has done its part. It does not know what follows:
sharehub.pipeline connects the next stage. Ids only, never a row's content."""

from django.dispatch import Signal

# An extract is loaded (status LOADED): sent by the ingest task after every delivery that finds
# it so, a redelivery included, with `extract_id`. Not inside a transaction: the rows are in.
extract_loaded = Signal()
