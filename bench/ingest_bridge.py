"""Extract ingestion end to end through real processes: the IG bridge beside an API upload.

Run: python -m bench.ingest_bridge [--rows N] [--smoke]. Target (issue 23): at 1,000,000 rows
the bridge plus the server load at least 13,000 rows/s end to end, on PostgreSQL.

Both channels load the same synthetic health extract as bench.ingest, each into a fresh
PostgreSQL database with a gunicorn server, one Celery worker process (concurrency 1) and a
queue of its own, as in production:
- bridge: `sharehub-bridge push` is timed from start to its exit, which comes once it has read,
  checked and sealed the file, uploaded it in chunks and seen the extract loaded (it polls the
  extract every 0.5 s, so up to half a second of the time is waiting for the poll);
- API: the file is posted to /api/v1/datasets/<id>/extracts/ and the time runs until the extract
  is loaded (polled every 0.2 s).
Linkage follows a loaded extract in the worker; the clock stops at "loaded", and the processes
are then stopped, so this times ingestion only (bench.linkage_speed times linkage).
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

from bench.common import OUT, ROOT, arguments, fresh_postgres, postgres_url, record
from bench.ingest import bench_files

SETUP = """
import json, os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")
django.setup()
from pathlib import Path
from django.core.management import call_command
call_command("migrate", verbosity=0)
from accounts.models import User
from agencies.models import Membership, Role
from agencies.services import agency_create_or_update, dataset_define
from agencies.tokens import api_token_create
from synthetic.loading import synthetic_definitions
health = next(d for d in synthetic_definitions(Path(sys.argv[1])) if d.agency_kind == "health")
agency = agency_create_or_update(code="HLT", name="Bench Health", kind="health")
dataset = dataset_define(agency=agency, definition=health.definition).dataset
admin = User.objects.create_user(email="bench-admin@example.org", password=None)
Membership.objects.create(user=admin, agency=agency, role=Role.AGENCY_ADMIN)
_, token = api_token_create(agency=agency, name="bench", created_by=admin)
print(json.dumps({"dataset": dataset.pk, "token": token}))
"""

RESULT = """
import json, os, sys, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")
django.setup()
from agencies.models import Extract
e = Extract.objects.order_by("-pk").first()
print(json.dumps({"status": e.status, "read": e.rows_read, "loaded": e.rows_loaded,
    "set_aside": e.rows_quarantined, "records": e.dataset.records.count(),
    "started": e.started_at.timestamp() if e.started_at else None,
    "finished": e.finished_at.timestamp() if e.finished_at else None,
    "uploaded": e.uploaded_at.timestamp()}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _child(code: str, env: dict, *args: str) -> dict:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"bench step failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextmanager
def _processes(env: dict, port: int, logs: Path):
    """gunicorn and one Celery worker, stopped (with the linkage that follows) at the end."""
    started = []
    for name, command in (
        ("web", [sys.executable, "-m", "gunicorn", "sharehub.wsgi", "--bind",
                 f"127.0.0.1:{port}", "--workers", "2", "--timeout", "600"]),
        ("worker", [sys.executable, "-m", "celery", "-A", "sharehub", "worker",
                    "--pool=prefork", "--concurrency=1", "--loglevel=WARNING",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"]),
    ):  # fmt: skip
        log = (logs / f"{name}.log").open("w")
        started.append(
            subprocess.Popen(  # noqa: S603
                command,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)  # noqa: S310
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not answer within 60 s") from None
                time.sleep(0.5)
        yield
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _environment(channel: str) -> tuple[dict, Path]:
    var_dir = OUT / f"var-bridge-{channel}"
    var_dir.mkdir(parents=True, exist_ok=True)
    url = postgres_url()
    fresh_postgres(url)
    redis = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {
        "SHAREHUB_VAR_DIR": str(var_dir),
        "SHAREHUB_LOG_LEVEL": "WARNING",
        "SHAREHUB_REQUIRE_OTP": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": url,
        "REDIS_URL": redis,
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
    }
    return env, var_dir


def run_bridge(population: Path, extract: Path) -> dict:
    env, var_dir = _environment("bridge")
    setup = _child(SETUP, env, str(population))
    port = _free_port()
    work = var_dir / "bridge-work"
    with _processes(env, port, var_dir):
        start = time.perf_counter()
        push = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "sharehub_bridge.cli", "push", "--url",
             f"http://127.0.0.1:{port}", "--dataset", str(setup["dataset"]), "--mode", "full",
             "--work-dir", str(work), "--poll-seconds", "0.5", "--quiet", str(extract)],
            cwd=ROOT, env=env | {"SHAREHUB_TOKEN": setup["token"]}, capture_output=True,
            text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start
    if push.returncode:
        output = push.stdout[-2000:] + push.stderr[-2000:]
        raise SystemExit(f"sharehub-bridge push failed:\n{output}")
    return {"seconds": seconds, **_child(RESULT, env)}


def run_api(population: Path, extract: Path) -> dict:
    env, var_dir = _environment("api")
    setup = _child(SETUP, env, str(population))
    port = _free_port()
    with _processes(env, port, var_dir):
        start = time.perf_counter()
        upload = subprocess.run(  # noqa: S603
            ["curl", "-sS", "-f", "-H", f"Authorization: Token {setup['token']}",
             "-F", f"file=@{extract}", "-F", "mode=full",
             f"http://127.0.0.1:{port}/api/v1/datasets/{setup['dataset']}/extracts/"],
            capture_output=True, text=True,
        )  # fmt: skip
        if upload.returncode:
            raise SystemExit(f"API upload failed: {upload.stderr[-2000:]}")
        extract_id = json.loads(upload.stdout)["id"]
        while True:
            request = urllib.request.Request(  # noqa: S310
                f"http://127.0.0.1:{port}/api/v1/extracts/{extract_id}/",
                headers={"Authorization": f"Token {setup['token']}"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                status = json.load(answer)["status"]
            if status not in ("received", "processing"):
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - start
    return {"seconds": seconds, **_child(RESULT, env)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--channels", default="bridge,api")
    args = arguments(parser, smoke_sizes={"rows": 300})
    OUT.mkdir(parents=True, exist_ok=True)
    population, extract = bench_files(args.rows)
    size_mb = extract.stat().st_size / 1024**2
    lines = []
    runs = {"bridge": run_bridge, "api": run_api}
    for channel in args.channels.split(","):
        figures = runs[channel](population, extract)
        if figures["status"] != "loaded":
            raise SystemExit(f"{channel}: the extract ended {figures['status']}")
        rate = figures["read"] / figures["seconds"]
        server = figures["finished"] - figures["started"]
        print(
            f"{channel}: {figures['read']:,} rows in {figures['seconds']:.1f} s end to end = "
            f"{rate:,.0f} rows/s (ingest task {server:.1f} s), {figures['status']}, "
            f"{figures['loaded']:,} loaded, {figures['set_aside']:,} set aside",
            flush=True,
        )
        target = "13,000 rows/s" if channel == "bridge" else "-"
        lines.append(
            f"| {channel} | {figures['read']:,} | {figures['seconds']:.1f} | {rate:,.0f} | "
            f"{server:.1f} | {figures['loaded']:,} | {figures['set_aside']:,} | {target} |"
        )
    record(
        "Extract ingestion end to end: IG bridge and API",
        f"""
`python -m bench.ingest_bridge --rows {args.rows}` (part of `make bench`): the same
{args.rows:,}-row synthetic health extract ({size_mb:.0f} MB CSV) as above, loaded as a full refresh
into a fresh PostgreSQL database through real processes: gunicorn (2 workers), one Celery worker
(concurrency 1) and Redis. "bridge" is `sharehub-bridge push` from start to exit (read, check,
seal to the ingest key, chunked upload, then polling every 0.5 s until loaded); "API" is a
multipart upload to the extracts endpoint, timed until the extract is loaded. "ingest task" is
the extract's own started-to-finished time in the worker. The linkage that follows is stopped.

| channel | rows | seconds end to end | rows/s | ingest task s | loaded | set aside | target |
| --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(lines)}
""",
    )


if __name__ == "__main__":
    main()
