"""Shared by the linkage benchmarks: synthetic sets, fresh databases and the child process."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import OUT, ROOT, fresh_postgres, fresh_sqlite, postgres_url

RECORDS_PER_PERSON = 3.87  # the generator's records per person, measured at 5,000 and 100,000


SEED = 1


def synthetic_set(people: int, *, without_nhs: bool = False) -> Path:
    """bench/out/synthetic-N for seed 1, generated unless a matching set is already there; with
    NHS numbers blanked on request.

    Same directory and seed as bench.synthetic, so the benchmarks reuse each other's sets.
    Generated in a child process so generation's memory is not counted in a peak RSS.
    """
    source = OUT / f"synthetic-{people}"
    manifest = source / "manifest.json"
    meta = json.loads(manifest.read_text()) if manifest.exists() else {}
    if meta.get("people") != people or meta.get("seed") != SEED:
        print(f"generating {people:,} synthetic people...", flush=True)
        subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", "make_synthetic", "--people", str(people),
             "--seed", str(SEED), "--out", str(source)],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
            env={**os.environ, "SHAREHUB_LOG_LEVEL": "WARNING"},
        )  # fmt: skip
    if not without_nhs:
        return source
    target = OUT / f"synthetic-{people}-no-nhs"
    if not (target / "manifest.json").exists():
        target.mkdir(parents=True, exist_ok=True)
        for path in source.iterdir():
            if path.suffix != ".csv" or path.name.startswith("ground_truth"):
                (target / path.name).write_bytes(path.read_bytes())
                continue
            with path.open(newline="") as inp, (target / path.name).open("w", newline="") as out:
                reader = csv.DictReader(inp)
                writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [])
                writer.writeheader()
                for row in reader:
                    if "nhs_number" in row:
                        row["nhs_number"] = ""
                    writer.writerow(row)
    return target


def delta_extract(population: Path, rows: int) -> Path:
    """`rows` health attendances of people already known, under new record ids: a new dataset
    (school nursing) whose records must link into existing persons."""
    target = OUT / f"delta-{population.name}-{rows}.csv"
    if target.exists():
        return target
    with (population / "health_attendances.csv").open(newline="") as inp:
        all_rows = list(csv.DictReader(inp))
    step = max(len(all_rows) // rows, 1)
    chosen = all_rows[::step][:rows]
    with target.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(chosen[0]))
        writer.writeheader()
        for number, row in enumerate(chosen):
            row["attendance_id"] = f"SN{number:07d}"
            writer.writerow(row)
    return target


def child_run(
    population: Path, *, database: str, label: str, delta: Path | None = None, full_rerun=False
) -> dict:
    """Run bench.linkage_child on a fresh database; its JSON result."""
    var_dir = OUT / f"var-linkage-{label}"
    var_dir.mkdir(parents=True, exist_ok=True)
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
    out = var_dir / "result.json"
    command = [sys.executable, "-m", "bench.linkage_child", str(population), "--out", str(out)]
    if delta:
        command += ["--delta", str(delta)]
    if full_rerun:
        command.append("--full-rerun")
    completed = subprocess.run(command, cwd=ROOT, env=env)  # noqa: S603
    if completed.returncode:
        raise SystemExit(f"linkage child run {label} failed")
    result = json.loads(out.read_text())
    extracts = [*result["extracts"], *([result["delta"]] if "delta" in result else [])]
    if failed := [f"{e['file']} {e['status']}" for e in extracts if e["status"] != "loaded"]:
        raise SystemExit(f"linkage child run {label}: not every extract loaded ({failed})")
    return result


def predicted_clusters(result: dict) -> dict[tuple[str, str], int]:
    return {(agency, source_id): person for agency, source_id, person in result["predicted"]}
