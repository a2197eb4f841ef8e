"""Extract ingestion: a 1,000,000-row synthetic extract on PostgreSQL and on SQLite.

Run: python -m bench.ingest [--rows N] [--databases postgres,sqlite] [--smoke]. Targets
(issue 3): at least 20,000 rows/s on PostgreSQL and peak RSS under 400 MB on this 2-core machine.

The extract is the synthetic generator's health attendances (the largest, with NHS numbers,
names, dates of birth, postcodes and typed fields), cut to N rows. Each database run is a fresh
child process with a fresh database: migrate, define the dataset, then time `extract_receive`
(copy to the upload area with SHA-256) plus the ingest task, in-process as on the embedded
default. On the embedded default linkage and enrichment would follow in the same call; the
pipeline is stopped after ingestion (bench.common.linkage_held), and the child fails if any
linkage or enrichment run happened all the same, so that the time is ingestion's alone
(bench.linkage_speed times linkage). Peak RSS is the child's `ru_maxrss`, which includes Django
and the migration.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import OUT, ROOT, arguments, fresh_postgres, fresh_sqlite, postgres_url, record

PEOPLE_PER_HEALTH_ROW = 1 / 2.5  # the generator writes ~2.56 health rows per person

CHILD = """
import json, os, sys, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")
django.setup()
from pathlib import Path
from django.core.management import call_command
call_command("migrate", verbosity=0)
from agencies.ingest.receive import extract_receive
from agencies.models import ExtractChannel
from agencies.services import agency_create_or_update, dataset_define
from matching.models import LinkageRun
from risk.models import RiskRun
from synthetic.loading import synthetic_definitions
from bench.common import linkage_held, peak_rss_mb
population, extract_file = Path(sys.argv[1]), Path(sys.argv[2])
health = next(d for d in synthetic_definitions(population) if d.agency_kind == "health")
agency = agency_create_or_update(code="HLT", name="Bench Health", kind="health")
dataset = dataset_define(agency=agency, definition=health.definition).dataset
with linkage_held() as held:
    start = time.perf_counter()
    with extract_file.open("rb") as stream:
        extract = extract_receive(dataset=dataset, uploaded_by=None, stream=stream,
            filename=extract_file.name, mode="full", channel=ExtractChannel.COMMAND)
    seconds = time.perf_counter() - start
if LinkageRun.objects.exists() or RiskRun.objects.exists():
    sys.exit("linkage or enrichment ran inside the timed ingest: it times more than ingestion")
extract.refresh_from_db()
print(json.dumps({"seconds": seconds, "status": extract.status, "read": extract.rows_read,
    "loaded": extract.rows_loaded, "quarantined": extract.rows_quarantined,
    "task_seconds": (extract.finished_at - extract.started_at).total_seconds()
        if extract.started_at and extract.finished_at else None,
    "linkage_held": len(held), "records": dataset.records.count(),
    "peak_rss_mb": peak_rss_mb(), "message": extract.message}))
"""


def bench_files(rows: int) -> tuple[Path, Path]:
    """The synthetic population directory and an extract of exactly `rows` health rows."""
    people = int(rows * PEOPLE_PER_HEALTH_ROW) + 1000
    population = OUT / f"synthetic-{people}"
    if not (population / "manifest.json").exists():
        print(f"generating {people:,} synthetic people...", flush=True)
        subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "make_synthetic", "--people", str(people),
             "--seed", "1", "--out", str(population)],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    extract = OUT / f"health-{rows}.csv"
    if not extract.exists():
        with (
            (population / "health_attendances.csv").open(newline="") as source,
            extract.open("w", newline="") as target,
        ):
            reader, writer = csv.reader(source), csv.writer(target)
            writer.writerow(next(reader))
            written = 0
            for row in reader:
                if written == rows:
                    break
                writer.writerow(row)
                written += 1
        if written < rows:
            extract.unlink()
            raise SystemExit(f"the population has only {written:,} health rows")
    return population, extract


def run_one(database: str, population: Path, extract: Path) -> dict:
    var_dir = OUT / f"var-{database}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {
        "SHAREHUB_VAR_DIR": str(var_dir),
        "SHAREHUB_LOG_LEVEL": "WARNING",
    }
    if database == "postgres":
        url = postgres_url()
        fresh_postgres(url)
        env["DATABASE_URL"] = url
    else:
        fresh_sqlite(var_dir)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", CHILD, str(population), str(extract)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        raise SystemExit(f"{database} run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", default="postgres,sqlite")
    args = arguments(parser, smoke_sizes={"rows": 300})
    OUT.mkdir(parents=True, exist_ok=True)
    population, extract = bench_files(args.rows)
    size_mb = extract.stat().st_size / 1024**2
    lines = []
    for database in args.databases.split(","):
        figures = run_one(database, population, extract)
        if figures["status"] != "loaded":
            raise SystemExit(f"{database}: the extract ended {figures['status']}: "
                             f"{figures['message']}")  # fmt: skip
        rate = figures["read"] / figures["seconds"]
        print(
            f"{database}: {figures['read']:,} rows in {figures['seconds']:.1f} s = "
            f"{rate:,.0f} rows/s (ingest task {figures['task_seconds']:.1f} s), peak RSS "
            f"{figures['peak_rss_mb']:.0f} MB, {figures['status']}, {figures['loaded']:,} "
            f"loaded, {figures['quarantined']:,} set aside; linkage held back",
            flush=True,
        )
        target = "20,000 rows/s; < 400 MB" if database == "postgres" else "-; < 400 MB"
        lines.append(
            f"| {database} | {figures['read']:,} | {figures['seconds']:.1f} | {rate:,.0f} | "
            f"{figures['task_seconds']:.1f} | {figures['peak_rss_mb']:.0f} MB | "
            f"{figures['loaded']:,} | {figures['quarantined']:,} | {target} |"
        )
    record(
        "Extract ingestion",
        f"""
`python -m bench.ingest --rows {args.rows}` (part of `make bench`): a {args.rows:,}-row synthetic
health extract ({size_mb:.0f} MB CSV, 13 columns: NHS number, names, date of birth, postcode and
typed fields) loaded as a full refresh into a fresh database, in one process with tasks
in-process. Time covers storing the upload with its SHA-256, reading, validating, normalising,
sealing each identity with AES-GCM, staging (COPY on PostgreSQL, bulk inserts on SQLite), the
final merge and marking sealed records; "ingest task" is the extract's own started-to-finished
time within it. The linkage and enrichment that follow a loaded extract are held back, and the
run fails if either ran: this is ingestion alone (bench.linkage_speed times linkage). Peak RSS
is the child process's `ru_maxrss` (Django, migrations and all).

| database | rows | seconds | rows/s | ingest task s | peak RSS | loaded | set aside | target |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(lines)}
""",
    )


if __name__ == "__main__":
    main()
