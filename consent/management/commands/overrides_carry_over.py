from django.core.management.base import BaseCommand

from consent.carry_over import overrides_left_behind


class Command(BaseCommand):
    help = (
        "Carry over to its protocol's live version, or end, every safeguarding override still "
        "in force under a version since replaced: those left from before an approval carried "
        "overrides over (issue 21). Each holder whose override ends is told; each step is "
        "audited. Running it again does nothing more."
    )

    def handle(self, *args, **options):
        steps = overrides_left_behind()
        ended = sum(1 for step in steps if step.ended)
        self.stdout.write(f"{len(steps) - ended} carried over, {ended} ended.")
