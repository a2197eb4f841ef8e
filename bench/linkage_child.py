"""The part of the linkage benchmarks that runs inside Django, in a child process of its own.

`python -m bench.linkage_child DIR --out RESULT.json [--delta FILE] [--full-rerun]` loads the
synthetic extracts in DIR into a fresh database through the production path (extract_receive,
the ingest task, then the linkage task and the enrichment after each extract, in-process as on
the embedded default) and writes what happened: seconds per extract and per stage (ingest,
linkage and enrichment apart, from the runs' own start and finish), linkage figures, predicted
persons. The parent picks the database (DATABASE_URL) and reads the JSON; nothing here writes
BENCHMARKS.md.
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import django


def _seconds(runs) -> float:
    """Seconds between each run's own start and finish, summed (linkage or enrichment)."""
    return sum((r.finished_at - r.started_at).total_seconds() for r in runs if r.finished_at)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("synthetic_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--delta", type=Path, help="a further extract to link after the rest")
    parser.add_argument("--full-rerun", action="store_true")
    parser.add_argument(
        "--order", help="a set's agencies in the order to load them, comma-separated"
    )
    parser.add_argument(
        "--at-once",
        action="store_true",
        help="ingest every extract first and link them all in one run, as a busy worker would",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from agencies.ingest.receive import extract_receive
    from agencies.models import Agency, ExtractChannel, ExtractMode
    from agencies.services import agency_create_or_update, dataset_define
    from bench.common import peak_rss_mb
    from matching.linkage.run import linkage_run
    from matching.models import LinkageRecord, LinkageRun
    from risk.models import RiskRun
    from synthetic.demo import SYNTHETIC_HOLDERS
    from synthetic.loading import synthetic_definitions

    kinds = {"social_care": "childrens_social_care"}
    agencies = {
        synthetic_kind: agency_create_or_update(
            code=code, name=f"Bench {code}", kind=kinds.get(synthetic_kind, synthetic_kind)
        )
        for synthetic_kind, code in SYNTHETIC_HOLDERS.items()
    }
    result: dict = {"extracts": [], "runs": []}

    def upload(agency, definition, path: Path) -> dict:
        dataset = dataset_define(agency=agency, definition=definition).dataset
        linkage_before = set(LinkageRun.objects.values_list("pk", flat=True))
        enrichment_before = set(RiskRun.objects.values_list("pk", flat=True))
        started = time.perf_counter()
        with path.open("rb") as stream:
            extract = extract_receive(
                dataset=dataset,
                uploaded_by=None,
                stream=stream,
                filename=path.name,
                mode=ExtractMode.FULL,
                channel=ExtractChannel.COMMAND,
            )
        total = time.perf_counter() - started
        extract.refresh_from_db()
        runs = list(LinkageRun.objects.exclude(pk__in=linkage_before).order_by("pk"))
        link_seconds = _seconds(runs)
        # Enrichment follows linkage in the same call on the embedded default: its own figure,
        # not ingest's.
        enrich_seconds = _seconds(RiskRun.objects.exclude(pk__in=enrichment_before))
        entry = {
            "file": path.name,
            "status": extract.status,
            "rows": extract.rows_read,
            "seconds": total,
            "ingest_seconds": total - link_seconds - enrich_seconds,
            "link_seconds": link_seconds,
            "enrich_seconds": enrich_seconds,
            "runs": [r.figures for r in runs],
        }
        print(
            f"  {path.name}: {extract.rows_read:,} rows, ingest {entry['ingest_seconds']:.1f} s, "
            f"link {link_seconds:.1f} s, enrich {enrich_seconds:.1f} s ({extract.status})",
            flush=True,
        )
        return entry

    manifest = json.loads((args.synthetic_dir / "manifest.json").read_text())
    if "definition" in manifest["datasets"][0]:
        # A benchmark set (bench.linkage_sets): agencies and definitions come with it.
        _set_load(args, manifest, upload, result)
        args.out.write_text(json.dumps(result))
        return

    started = time.perf_counter()
    definitions = synthetic_definitions(args.synthetic_dir)
    for item in definitions:
        result["extracts"].append(upload(agencies[item.agency_kind], item.definition, item.path))
    result["end_to_end_seconds"] = time.perf_counter() - started
    result["peak_rss_mb_after_load"] = peak_rss_mb()

    if args.delta:
        health = next(d for d in definitions if d.agency_kind == "health")
        definition = dataclasses.replace(health.definition, name="School nursing")
        result["delta"] = upload(agencies["health"], definition, args.delta)

    if args.full_rerun:
        started = time.perf_counter()
        run = linkage_run(full=True)
        result["full_rerun"] = {"seconds": time.perf_counter() - started, "figures": run.figures}

    code_kind = {code: kind for kind, code in SYNTHETIC_HOLDERS.items()}
    agency_kind = {pk: code_kind[code] for pk, code in Agency.objects.values_list("pk", "code")}
    result["predicted"] = [
        [agency_kind[agency], source_id, person]
        for agency, source_id, person in LinkageRecord.objects.filter(
            record__is_retired=False
        ).values_list("agency_id", "record__source_id", "person_id")
    ]
    result["peak_rss_mb"] = peak_rss_mb()
    args.out.write_text(json.dumps(result))


def _set_load(args, manifest: dict, upload, result: dict) -> None:
    """Load a benchmark set in the order asked (or the manifest's), then read the persons back."""
    from agencies.models import Agency, Extract
    from agencies.services import agency_create_or_update
    from bench.common import linkage_held, peak_rss_mb
    from matching.linkage.run import linkage_run
    from matching.models import LinkageRecord, LinkageRun, ReviewItem
    from sharehub_bridge.definitions import definition_parse

    datasets = {entry["agency"]: entry for entry in manifest["datasets"]}
    order = args.order.split(",") if args.order else list(datasets)
    started = time.perf_counter()
    # --at-once: nothing is linked until every extract is in; one run then links them all.
    with linkage_held() if args.at_once else nullcontext():
        for code in order:
            entry = datasets[code]
            agency = agency_create_or_update(
                code=code.upper(), name=f"Bench set {code}", kind="other"
            )
            definition = definition_parse(entry["definition"])
            result["extracts"].append(
                upload(agency, definition, args.synthetic_dir / entry["file"])
            )
    if args.at_once:
        run_started = time.perf_counter()
        run = linkage_run()
        result["at_once_run"] = {
            "seconds": time.perf_counter() - run_started,
            "figures": run.figures,
        }
    if args.full_rerun:
        run_started = time.perf_counter()
        run = linkage_run(full=True)
        result["full_rerun"] = {
            "seconds": time.perf_counter() - run_started,
            "figures": run.figures,
        }
    result["end_to_end_seconds"] = time.perf_counter() - started
    result["review_items_open"] = ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).count()
    result["extract_outcomes"] = [
        {
            "file": extract.filename,
            "status": extract.status,
            "rows_read": extract.rows_read,
            "rows_loaded": extract.rows_loaded,
            "rows_warned": extract.rows_warned,
            "rows_quarantined": extract.rows_quarantined,
            "repairs": extract.repairs,
            "message": extract.message,
        }
        for extract in Extract.objects.order_by("pk")
    ]
    result["last_run"] = LinkageRun.objects.order_by("-pk").values("figures").first()
    code_of = {pk: code.lower() for pk, code in Agency.objects.values_list("pk", "code")}
    result["predicted"] = [
        [code_of[agency], source_id, person]
        for agency, source_id, person in LinkageRecord.objects.filter(
            record__is_retired=False
        ).values_list("agency_id", "record__source_id", "person_id")
    ]
    result["peak_rss_mb"] = peak_rss_mb()


if __name__ == "__main__":
    sys.exit(main())
