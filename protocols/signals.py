"""What protocols announce to the stages that depend on them. They do not know who listens:
sharehub.pipeline connects the receivers."""

from django.dispatch import Signal

# The set of sealed records changed (a rule marked, a version with rules coming into force,
# suspended or resumed). Sent inside the transaction that changed it; a receiver that queues
# work queues it on commit.
seals_changed = Signal()
