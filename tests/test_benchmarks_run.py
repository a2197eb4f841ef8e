"""Every benchmark still runs (issue 25, benchmarks that cannot rot): each at its `--smoke` size,
in a child process as `make bench` runs it, so that a change which breaks one fails the suite and
CI. No figure is judged and nothing is written to BENCHMARKS.md. Each run writes its files in a
directory of its own (BENCH_OUT) and names its PostgreSQL databases after itself
(BENCH_DATABASE_NAME), so a developer's full run and the 1M-record database it keeps are never
touched.

The benchmarks that need PostgreSQL (and Redis and gunicorn) run when DATABASE_URL points at
PostgreSQL (and REDIS_URL at Redis), as in CI, and are skipped with the reason otherwise; in CI
a missing service fails them instead. Splink's parts run where splink is installed: it is in
requirements/bench.lock, which `make bench` installs and CI does not.

Left alone, the runs would spend most of their time migrating a fresh database a dozen times and
compressing the static files three times. A migrated SQLite file, a migrated PostgreSQL database
and the collected static files are made once per test run, by whichever test process asks first,
and every benchmark starts from copies (BENCH_SQLITE_TEMPLATE, BENCH_POSTGRES_TEMPLATE,
BENCH_STATIC_ROOT); migrations and collectstatic have tests of their own.
"""

import ast
import base64
import fcntl
import importlib.util
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.common import SMOKE_DATABASE_NAME, fresh_postgres, postgres_drop, postgres_url
from tests.workers import test_redis_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.benchmarks
# What the suite sets for itself in tests/conftest.py; a benchmark makes its own keys, as it
# would run from a shell.
TEST_KEYS = (
    "SHAREHUB_MASTER_KEYS",
    "SHAREHUB_LINKAGE_KEY",
    "SHAREHUB_AUDIT_KEY",
    "SHAREHUB_INGEST_KEYS",
)
TIMEOUT = 600  # seconds; a smoke run takes a few, however busy the machine


@dataclass(frozen=True)
class Run:
    """Benchmarks run one after the other with the same files and databases, as `make bench`
    runs them: a later one given `--reuse` keeps the database an earlier one loaded."""

    commands: tuple[tuple[str, ...], ...]  # each a module and its arguments
    needs: tuple[str, ...] = ()  # "postgres", "redis", "splink"

    @property
    def modules(self) -> list[str]:
        return [command[0] for command in self.commands]

    @property
    def name(self) -> str:
        return " then ".join(self.modules)


def run(*command: str, needs: tuple[str, ...] = ()) -> Run:
    return Run(commands=(command,), needs=needs)


def runs() -> list[Run]:
    postgres, splink = postgres_available(), splink_available()
    no_splink = () if splink else ("--no-splink",)
    return [
        run("bench.synthetic"),
        run("bench.redaction"),
        # SQLite always, PostgreSQL too where there is one.
        run("bench.ingest", "--databases", "postgres,sqlite" if postgres else "sqlite"),
        run("bench.ingest_bridge", needs=("postgres", "redis")),
        run("bench.linkage_quality", *no_splink),
        run("bench.linkage_shapes", *no_splink),
        run("bench.linkage_digest"),
        Run(
            commands=(
                ("bench.linkage_speed",),
                ("bench.summary_load", "--reuse"),
                ("bench.enrich", "--reuse"),
            ),
            needs=("postgres",),
        ),
        # A database of its own, whose records the erasure consumes.
        run("bench.erasure", needs=("postgres",)),
        run("bench.splink_baseline", needs=("splink",)),
    ]


# Modules of bench/ that run from the command line but are not benchmarks of their own.
NOT_BENCHMARKS = {
    "bench.linkage_child": "the loading half of the linkage benchmarks, run by them",
    "bench.linkage_sets": "builds linkage sets; bench.linkage_shapes builds and runs its own",
}


# --- What this machine has ------------------------------------------------------------------


def postgres_available() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def redis_available() -> bool:
    return bool(os.environ.get("REDIS_URL")) and test_redis_url() is not None


def splink_available() -> bool:
    return importlib.util.find_spec("splink") is not None


MISSING = {
    "postgres": (postgres_available, "needs PostgreSQL: set DATABASE_URL to a postgres:// URL"),
    "redis": (redis_available, "needs Redis: set REDIS_URL to a Redis that answers"),
    "splink": (splink_available, "needs Splink, in requirements/bench.lock (`make bench`)"),
}


def require(needs: tuple[str, ...]) -> None:
    for need in needs:
        available, reason = MISSING[need]
        if available():
            continue
        if need != "splink" and os.environ.get("CI"):
            pytest.fail(f"CI must run every benchmark, but this one {reason}")
        pytest.skip(reason)


# --- Made once per test run: a migrated database of each kind, the static files --------------


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    """A directory every test process of this run shares (pytest-xdist's workers each have a
    base temporary directory of their own, in one directory of the run)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def made_once(shared: Path, name: str, make: Callable[[], str]) -> str:
    """What `make` returns, made by the first test process of the run to ask for `name`; the
    others wait for it and read it back."""
    done = shared / f"{name}.done"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            done.write_text(make())
        return done.read_text()


def manage(env: dict[str, str], *command: str) -> None:
    completed = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in (*TEST_KEYS, "REDIS_URL")}


def sqlite_template(shared: Path) -> str:
    def make() -> str:
        var_dir = shared / "sqlite-template"
        env = clean_env() | {"SHAREHUB_VAR_DIR": str(var_dir), "SHAREHUB_LOG_LEVEL": "WARNING"}
        env.pop("DATABASE_URL", None)
        manage(env, "migrate", "--no-input", "-v0")
        return str(var_dir / "sharehub.sqlite3")

    return made_once(shared, "sqlite-template", make)


def postgres_template(shared: Path) -> str:
    def make() -> str:
        name = f"{SMOKE_DATABASE_NAME}_template"
        env = clean_env() | {
            "SHAREHUB_VAR_DIR": str(shared / "postgres-template"),
            "SHAREHUB_LOG_LEVEL": "WARNING",
            "DATABASE_URL": postgres_url(name),
        }
        env.pop("BENCH_POSTGRES_TEMPLATE", None)
        fresh_postgres(postgres_url(name))
        manage(env, "migrate", "--no-input", "-v0")
        return name

    return made_once(shared, "postgres-template", make)


def static_root(shared: Path) -> str:
    """The static files, hashed names and manifest as the production settings' storage writes
    them, for the production server of summary_load and the pages of enrich and erasure. Less
    the compressed copies of every file, which take that storage half a minute and which
    nothing of a smoke run asks for: collected with Django's manifest storage, whose manifest
    WhiteNoise's storage reads."""

    def key() -> str:
        return "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()

    def make() -> str:
        root = shared / "static"
        env = clean_env() | {
            "SHAREHUB_VAR_DIR": str(shared / "static-var"),
            "SHAREHUB_LOG_LEVEL": "WARNING",
            "SHAREHUB_PRODUCTION": "true",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_STATIC_ROOT": str(root),
            # Production refuses to start without keys; collecting files uses none of them.
            "SHAREHUB_MASTER_KEYS": key(),
            "SHAREHUB_LINKAGE_KEY": key(),
            "SHAREHUB_AUDIT_KEY": key(),
            "SHAREHUB_INGEST_PUBLIC_KEYS": "1:" + base64.b64encode(bytes(32)).decode(),
        }
        env.pop("DATABASE_URL", None)
        completed = subprocess.run(  # noqa: S603
            [sys.executable, "-c", COLLECT_UNCOMPRESSED],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        return str(root)

    return made_once(shared, "static", make)


COLLECT_UNCOMPRESSED = """
import os, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")
django.setup()
from django.conf import settings
from django.core.management import call_command
manifest = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": manifest}}
call_command("collectstatic", interactive=False, verbosity=0)
"""


# --- The runs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("benchmarks", runs(), ids=lambda run: run.name)
def test_the_benchmark_runs_at_its_smoke_size(benchmarks, shared_dir, tmp_path):
    require(benchmarks.needs)
    postgres = postgres_available()
    database = f"{SMOKE_DATABASE_NAME}_{benchmarks.modules[0].removeprefix('bench.')}"
    env = clean_env() | {
        "BENCH_OUT": str(tmp_path / "out"),
        "BENCH_DATABASE_NAME": database,
        "BENCH_SQLITE_TEMPLATE": sqlite_template(shared_dir),
        "SHAREHUB_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    if postgres:
        env["BENCH_POSTGRES_TEMPLATE"] = postgres_template(shared_dir)
    if {"bench.summary_load", "bench.enrich", "bench.erasure"} & set(benchmarks.modules):
        env["BENCH_STATIC_ROOT"] = static_root(shared_dir)
    if "redis" in benchmarks.needs:
        env["BENCH_REDIS_URL"] = os.environ["REDIS_URL"]
    benchmarks_md = (ROOT / "BENCHMARKS.md").read_text()
    try:
        for module, *arguments in benchmarks.commands:
            command = [sys.executable, "-m", module, "--smoke", *arguments]
            completed = subprocess.run(  # noqa: S603
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT
            )
            output = f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
            assert completed.returncode == 0, f"{' '.join(command[1:])} failed:\n{output}"
    finally:
        if postgres:
            for name in (database, f"{database}_erasure"):
                postgres_drop(postgres_url(name))
    assert (ROOT / "BENCHMARKS.md").read_text() == benchmarks_md, "a smoke run wrote its figures"


def test_every_benchmark_has_a_smoke_run():
    """A benchmark added to bench/ is run here too, or said not to be one."""
    from bench.__main__ import BENCHMARKS as MAKE_BENCH

    runnable = set()
    for path in (ROOT / "bench").glob("*.py"):
        tree = ast.parse(path.read_text())
        if any(
            isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body
        ):
            runnable.add(f"bench.{path.stem}")
    tested = {module for run in runs() for module in run.modules}
    assert set(MAKE_BENCH) <= tested
    assert runnable - {"bench.__main__"} == tested | set(NOT_BENCHMARKS)
