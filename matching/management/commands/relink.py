import threading

from django.core.management.base import BaseCommand, CommandError

from matching.linkage.run import linkage_run
from matching.models import LinkageRun
from matching.relink import RelinkRefused, relink_request


class Command(BaseCommand):
    help = (
        "Estimate the linkage model afresh and re-link every record, showing progress. Persons "
        "keep their references; the run says how many merged and split. Run after an upgrade "
        "that changes how records are compared."
    )

    def handle(self, *args, **options):
        try:
            run = relink_request(requested_by=None, channel="command")
        except RelinkRefused as refused:
            raise CommandError(str(refused)) from refused
        self.stdout.write(
            f"Linkage run {run.pk}: re-estimating the model and re-linking everything."
        )
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(run.pk, done), daemon=True)
        watcher.start()
        try:
            run = linkage_run(full=True, reestimate=True, kind=LinkageRun.Kind.RELINK, run=run)
        finally:
            done.set()
            watcher.join()
        if run.finished_at is None:  # linkage_run returns its run finished, or raises
            raise CommandError(f"Linkage run {run.pk} did not finish.")
        figures = run.figures
        self.stdout.write(
            f"Done in {(run.finished_at - run.started_at).total_seconds():.0f} s: "
            f"{figures.get('records', 0):,} records, model {figures.get('model_status', '?')}"
            + (
                f" ({figures['model_refused_because']})"
                if figures.get("model_refused_because")
                else ""
            )
            + f"; {figures.get('persons_merged', 0):,} persons merged, "
            f"{figures.get('persons_split', 0):,} split, {figures.get('persons_created', 0):,} "
            f"created; {figures.get('review_items', 0):,} pairs for review."
        )

    def _watch(self, run_id: int, done: threading.Event) -> None:
        # Its own connection, closed when done: the run's stage is written as it moves on.
        from django.db import connection

        seen = ""
        try:
            while not done.wait(1.0):
                run = LinkageRun.objects.filter(pk=run_id).first()
                if run is not None and run.stage and run.stage != seen:
                    seen = run.stage
                    self.stdout.write(f"  {run.progress_percent:3d}%  {seen}")
        finally:
            connection.close()
