"""What the enrichment stage announces when it has done its part. It does not know what follows:
sharehub.pipeline connects the next stage."""

from django.dispatch import Signal

# Every person's score is written, inside the enrichment run and its lock: `book` (the
# risk.scoring.ScoreBook the scores came from, in memory), `today`, and `figures`, the run's
# figures, to which a receiver adds its own (they are kept on the RiskRun even if a later
# receiver fails). A receiver's error fails the run.
scores_written = Signal()
