"""What a linkage run did, per stage, and which stage it is in (for progress bars)."""

import time
from dataclasses import dataclass, field

from django.utils import timezone

from matching.models import LinkageRun

# The stages of a run in order, with how far through the run each starts (for progress bars).
STAGES = {
    "keys": 0,
    "load": 20,
    "model": 25,
    "region": 35,
    "candidates": 40,
    "scoring": 50,
    "clustering": 65,
    "persons": 75,
    "households": 92,
}


@dataclass
class Figures:
    """What a run did, per stage: counts and seconds, stored on the run and printed by benches."""

    values: dict = field(default_factory=dict)
    run_id: int | None = None

    def stage(self, name: str) -> None:
        """Say on the run which stage it is in, for the people watching its progress, and that
        its process is still alive (matching.linkage.alive)."""
        if self.run_id is not None:
            LinkageRun.objects.filter(pk=self.run_id).update(
                stage=name, heartbeat_at=timezone.now()
            )

    def time(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.values[f"{stage}_seconds"] = round(now - started, 3)
        return now

    def __setitem__(self, key: str, value) -> None:
        self.values[key] = value
