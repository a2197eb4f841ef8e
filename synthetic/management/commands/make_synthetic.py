from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from synthetic.noise import NoiseRates
from synthetic.services import synthetic_population_write


class Command(BaseCommand):
    help = (
        "Write a synthetic population's agency extracts (social care, police, health, education, "
        "housing) and its ground truth as CSV. The same seed gives byte-identical files."
    )
    # Pure file generation: no database, URLs or models, so the project's system checks have
    # nothing to say about it and should not stop test data being made.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--people", type=int, default=10_000, help="population size")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--out", type=Path, required=True, help="output directory")
        parser.add_argument(
            "--noise-scale",
            type=float,
            default=1.0,
            help="multiply every error rate (0 writes the truth without errors)",
        )

    def handle(self, *args, people, seed, out, noise_scale, **options):
        if people < 1:
            raise CommandError("--people must be at least 1")
        if noise_scale < 0:
            raise CommandError("--noise-scale cannot be negative")
        rates = NoiseRates().scaled(noise_scale)
        summary = synthetic_population_write(people=people, seed=seed, out_dir=out, rates=rates)
        for line in summary.lines():
            self.stdout.write(line)
