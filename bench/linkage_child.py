"""The part of the linkage benchmarks that runs inside Django, in a child process of its own.

`python -m bench.linkage_child DIR --out RESULT.json [--delta FILE] [--full-rerun]` loads the
synthetic extracts in DIR into a fresh database through the production path (extract_receive,
the ingest task, then the linkage task after each extract, in-process as on the embedded default)
and writes what happened: seconds per extract and per stage, linkage figures, predicted persons.
The parent picks the database (DATABASE_URL) and reads the JSON; nothing here writes BENCHMARKS.md.
"""

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("synthetic_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--delta", type=Path, help="a further extract to link after the rest")
    parser.add_argument("--full-rerun", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from agencies.ingest import extract_receive
    from agencies.models import Agency, ExtractChannel, ExtractMode
    from agencies.services import agency_create_or_update, dataset_define
    from bench.common import peak_rss_mb
    from matching.linkage import linkage_run
    from matching.models import LinkageRecord, LinkageRun
    from sharehub.demo import SYNTHETIC_HOLDERS
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
        runs_before = set(LinkageRun.objects.values_list("pk", flat=True))
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
        runs = list(LinkageRun.objects.exclude(pk__in=runs_before).order_by("pk"))
        link_seconds = sum((r.finished_at - r.started_at).total_seconds() for r in runs)
        entry = {
            "file": path.name,
            "status": extract.status,
            "rows": extract.rows_read,
            "seconds": total,
            "ingest_seconds": total - link_seconds,
            "link_seconds": link_seconds,
            "runs": [r.figures for r in runs],
        }
        print(
            f"  {path.name}: {extract.rows_read:,} rows, ingest {entry['ingest_seconds']:.1f} s, "
            f"link {link_seconds:.1f} s ({extract.status})",
            flush=True,
        )
        return entry

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


if __name__ == "__main__":
    sys.exit(main())
