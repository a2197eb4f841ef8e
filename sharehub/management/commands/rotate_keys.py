from django.core.management.base import BaseCommand, CommandError

from agencies.models import Agency
from core.models import DataKey
from sharehub.rotation import BATCH_ROWS, agency_key_rotate, ingest_keys_in_use, master_key_rotate


class Command(BaseCommand):
    help = (
        "Rotate ShareHub's keys. --master rewraps every agency data key under the current (first) "
        "master key in SHAREHUB_MASTER_KEYS; --agency CODE (or --all-agencies) gives an agency a "
        "new data key and reseals its records under it. Safe to stop and run again: a rerun "
        "carries on where the last one stopped. Prints counts only, never what a record holds."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--master",
            action="store_true",
            help="Rewrap every data key under the current master key (no records are resealed).",
        )
        parser.add_argument(
            "--agency",
            action="append",
            default=[],
            metavar="CODE",
            help="Rotate this agency's data key and reseal its records (may be repeated).",
        )
        parser.add_argument(
            "--all-agencies",
            action="store_true",
            help="Rotate the data key of every agency that has one.",
        )
        parser.add_argument(
            "--linkage",
            action="store_true",
            help=(
                "Recompute every record's match and blocking tokens and Bloom encodings under the "
                "current (first) linkage key in SHAREHUB_LINKAGE_KEY, then re-link."
            ),
        )
        parser.add_argument(
            "--ingest",
            action="store_true",
            help=(
                "Report how many open bridge uploads and unfinished bridge extracts are sealed "
                "under older ingest keys (SHAREHUB_INGEST_KEYS), and which can be removed."
            ),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_ROWS,
            help=f"Rows resealed per transaction (default {BATCH_ROWS:,}).",
        )
        parser.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="Stop each agency after this many batches (to fit a window); run again to go on.",
        )

    def handle(self, *args, **options):
        agencies = self._agencies(options["agency"], options["all_agencies"])
        if not (options["master"] or agencies or options["linkage"] or options["ingest"]):
            raise CommandError(
                "Say what to rotate: --master, --agency CODE, --all-agencies, --linkage or "
                "--ingest."
            )
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["max_batches"] is not None and options["max_batches"] < 1:
            raise CommandError("--max-batches must be at least 1.")
        if options["master"]:
            self._rotate_master()
        for agency in agencies:
            self._rotate_agency(
                agency, batch_size=options["batch_size"], max_batches=options["max_batches"]
            )
        # After the data keys: it reads the identities they seal.
        if options["linkage"]:
            self._rotate_linkage()
        if options["ingest"]:
            self._report_ingest()

    def _report_ingest(self) -> None:
        usage = ingest_keys_in_use()
        self.stdout.write(
            f"Ingest key {usage.current_version} is current: the bridge seals new uploads to it."
        )
        older = {v: n for v, n in usage.in_flight_by_version.items() if v != usage.current_version}
        listed = ", ".join(f"{n} under version {v}" for v, n in older.items()) or "none"
        self.stdout.write(
            f"Open uploads and unfinished bridge extracts under older ingest keys: "
            f"{usage.in_flight_older} ({listed})."
        )
        if usage.unknown:
            self.stdout.write(
                f"{usage.unknown} open upload(s) have not sent their first chunk yet, so their "
                "key is not known: keep every key until they complete or expire (24 hours)."
            )
        if usage.versions_unused:
            unused = ", ".join(map(str, usage.versions_unused))
            self.stdout.write(
                self.style.SUCCESS(
                    f"Ingest key version(s) {unused} are used by nothing in flight and can be "
                    "removed from SHAREHUB_INGEST_KEYS."
                )
            )

    def _rotate_linkage(self) -> None:
        from core.keys import linkage_key_version
        from matching.linkage.run import linkage_run

        # Keys made under an older linkage key are stale; the run recomputes them from the
        # sealed identities, then a full run re-links (pairs compare only under one key). A
        # stopped rotation resumes: keys already under the new version are not made again.
        run = linkage_run(full=True)
        keyed, linked = run.figures.get("records_keyed", 0), run.figures.get("records", 0)
        self.stdout.write(
            f"Linkage key {linkage_key_version()} is current: {keyed:,} record(s) re-keyed, "
            f"{linked:,} linked in run {run.pk}."
        )

    def _agencies(self, codes: list[str], every: bool) -> list[Agency]:
        if every:
            if codes:
                raise CommandError("Give either --agency or --all-agencies, not both.")
            with_keys = DataKey.objects.values("agency_id")
            return list(Agency.objects.filter(pk__in=with_keys).order_by("code"))
        found = {agency.code: agency for agency in Agency.objects.filter(code__in=codes)}
        missing = sorted(set(codes) - set(found))
        if missing:
            raise CommandError(f"No agency with code {', '.join(missing)}.")
        return [found[code] for code in dict.fromkeys(codes)]

    def _rotate_master(self) -> None:
        result = master_key_rotate()
        self.stdout.write(
            f"Master key {result.current_version} is current: {result.rewrapped} data key(s) "
            "rewrapped."
        )
        in_use = ", ".join(map(str, result.versions_in_use)) or "none"
        self.stdout.write(f"Master key versions still wrapping data keys: {in_use}.")
        if result.versions_unused:
            unused = ", ".join(map(str, result.versions_unused))
            self.stdout.write(
                self.style.SUCCESS(
                    f"Master key version(s) {unused} wrap nothing any more and can be removed "
                    "from SHAREHUB_MASTER_KEYS (keep a backup until the database backups made "
                    "before now have expired)."
                )
            )

    def _rotate_agency(self, agency: Agency, *, batch_size: int, max_batches: int | None) -> None:
        def progress(label: str, done: int, total: int) -> None:
            self.stdout.write(f"  {agency.code}: {label} resealed {done:,} of {total:,}")

        result = agency_key_rotate(
            agency_id=agency.pk, batch_size=batch_size, max_batches=max_batches, progress=progress
        )
        if result.version is None:
            self.stdout.write(f"{agency.code}: no data key yet, nothing sealed; nothing to do.")
            return
        how = "new data key" if result.started else "continuing with data key"
        resealed = ", ".join(f"{count:,} {label}" for label, count in result.resealed.items())
        self.stdout.write(f"{agency.code}: {how} {result.version}; resealed {resealed}.")
        if result.retired_versions:
            retired = ", ".join(map(str, result.retired_versions))
            self.stdout.write(f"{agency.code}: retired data key version(s) {retired}.")
        if result.complete:
            self.stdout.write(self.style.SUCCESS(f"{agency.code}: rotation complete."))
            return
        reasons = []
        if result.remaining:
            reasons.append(f"{result.remaining:,} sealed value(s) still under an older key")
        if result.extracts_in_progress:
            reasons.append(f"{result.extracts_in_progress} extract(s) being ingested")
        if not reasons:
            # An ingest finished after the rows were resealed, sealing with the older key.
            in_use = ", ".join(map(str, result.versions_in_use))
            reasons.append(f"data key version(s) {in_use} still in use")
        self.stdout.write(
            self.style.WARNING(
                f"{agency.code}: not finished ({'; '.join(reasons)}). Run the same command "
                "again to carry on."
            )
        )
