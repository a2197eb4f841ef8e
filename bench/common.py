"""Shared parts of the benchmarks: where files and databases go, their arguments (`--smoke`
among them), and how results reach BENCHMARKS.md."""

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
# BENCH_OUT moves everything a benchmark writes (sets, databases, logs) elsewhere: the smoke test
# gives each benchmark a directory of its own, so it never touches a full run's files.
OUT = Path(os.environ.get("BENCH_OUT") or ROOT / "bench" / "out")
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
DATABASE_NAME = "sharehub_bench"
SMOKE_DATABASE_NAME = "sharehub_bench_smoke"

# Set by arguments() when the benchmark runs with --smoke: record() then writes nothing.
smoke = False
# Records loaded in a smoke run of the benchmarks that load them into PostgreSQL: one size for
# all, so that `--reuse` finds what bench.linkage_speed left, as in `make bench`; and no fewer,
# or the demo's alert rules (bench.enrich) name values no record holds yet.
SMOKE_RECORDS = 2000


def arguments(parser: argparse.ArgumentParser, *, smoke_sizes: dict[str, Any]) -> Any:
    """The benchmark's arguments, with `--smoke` added: a run at the small size `smoke_sizes`
    gives (arguments on the command line still win), in seconds, to show that the benchmark
    still runs. A smoke run judges no target, writes nothing to BENCHMARKS.md and uses a
    PostgreSQL database of its own (sharehub_bench_smoke), never the one a full run keeps.
    Arguments the benchmark does not know are ignored: `python -m bench` passes its own to all."""
    global smoke
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a run at a small size to show that the benchmark runs; BENCHMARKS.md untouched",
    )
    args, _ = parser.parse_known_args()
    if args.smoke:
        parser.set_defaults(**smoke_sizes)
        args, _ = parser.parse_known_args()
        smoke = True
        os.environ.setdefault("BENCH_DATABASE_NAME", SMOKE_DATABASE_NAME)
    return args


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores {cpu}, Python {platform.python_version()}".strip()


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record(section: str, body: str) -> None:
    """Replace (or add) `## section` in BENCHMARKS.md with `body`, stamped with date and commit.
    In a smoke run the section is printed instead: its figures say nothing at that size."""
    if smoke:
        print(f"\n## {section} (smoke run: not written to BENCHMARKS.md)\n\n{body.strip()}")
        return
    stamp = (
        f"_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, "
        f"commit {git_commit()}._\n\n"
    )
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    block = f"## {section}\n\n{stamp}{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: block + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + block
    BENCHMARKS_MD.write_text(text.rstrip() + "\n")


# --- Databases ------------------------------------------------------------------------------


def database_name() -> str:
    """The PostgreSQL database the benchmarks load and reuse: sharehub_bench, or what
    BENCH_DATABASE_NAME says (sharehub_bench_smoke in a smoke run)."""
    return os.environ.get("BENCH_DATABASE_NAME") or DATABASE_NAME


def postgres_url(name: str = "") -> str:
    """The PostgreSQL database `name` (default: database_name()) on the server of
    BENCH_DATABASE_URL or DATABASE_URL."""
    base = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or ("postgres://sharehub:sharehub@127.0.0.1:5432/sharehub")
    )
    name = name or database_name()
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def _postgres_admin(url: str):
    import psycopg2

    parsed = urlparse(url)
    admin = psycopg2.connect(
        host=parsed.hostname, port=parsed.port or 5432, user=parsed.username,
        password=parsed.password, dbname="postgres",
    )  # fmt: skip
    admin.autocommit = True
    return admin


def fresh_postgres(url: str) -> None:
    """The database at `url` dropped and made again, empty; or, when BENCH_POSTGRES_TEMPLATE
    names a migrated database (the smoke test's), a copy of that, so that each of a smoke run's
    many fresh databases does not cost a migration from nothing."""
    postgres_drop(url)
    name = urlparse(url).path.lstrip("/")
    template = os.environ.get("BENCH_POSTGRES_TEMPLATE")
    admin = _postgres_admin(url)
    try:
        with admin.cursor() as cursor:
            if template:
                cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            else:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()


def postgres_drop(url: str) -> None:
    """The database at `url` gone, if it was there."""
    admin = _postgres_admin(url)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}"')
    finally:
        admin.close()


def fresh_sqlite(var_dir: Path) -> None:
    """No SQLite database left in `var_dir` (the settings' SHAREHUB_VAR_DIR), so the next process
    there starts on a fresh one; a copy of BENCH_SQLITE_TEMPLATE, a migrated one, when set."""
    var_dir.mkdir(parents=True, exist_ok=True)
    for leftover in var_dir.glob("sharehub.sqlite3*"):
        leftover.unlink()
    if template := os.environ.get("BENCH_SQLITE_TEMPLATE"):
        shutil.copyfile(template, var_dir / "sharehub.sqlite3")


# --- The pipeline ---------------------------------------------------------------------------


@contextmanager
def linkage_held() -> Iterator[list[int]]:
    """While the block runs, a loaded extract is not linked, and so not enriched either (which
    follows linkage): sharehub.pipeline's call to link it is taken over, and the ids of the
    extracts it would have linked are collected in the list given, to link later or not at all.
    What the pipeline does before linkage (marking sealed records) still happens."""
    from matching.tasks import link_after_extract

    held: list[int] = []
    link_after_extract.delay = lambda *, extract_id: held.append(extract_id)  # type: ignore[method-assign]
    try:
        yield held
    finally:
        del link_after_extract.delay  # the class's own delay again
