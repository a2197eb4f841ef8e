"""Start a real `celery worker` process for end-to-end tests, against the test database.

The worker is a separate OS process, so it sees only committed rows: tests that use it need
`transactional_db`. It consumes a queue of its own, so nothing else on the same Redis interferes.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection

from sharehub.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def test_redis_url() -> str | None:
    """REDIS_URL if set, else a local Redis if one answers; None when there is none."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=1):
            return url
    except OSError:
        return None


test_redis_url.__test__ = False  # a helper, not a test, despite its name


def test_broker_configure() -> str:
    """Point this test process's Celery app at the test Redis and a queue of this run's own.

    Called once from tests/conftest.py before any task is sent: Celery caches its queues and
    router on first use, so changing them later in the session would not take effect. A queue of
    our own keeps any other worker on the same Redis from taking the tests' tasks.
    """
    queue = f"test-{uuid.uuid4().hex[:12]}"
    redis_url = test_redis_url()
    celery_app.conf.update(task_default_queue=queue)
    if redis_url:
        celery_app.conf.update(broker_url=redis_url, result_backend=redis_url)
    return queue


test_broker_configure.__test__ = False


def require_redis() -> str:
    url = test_redis_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the worker tests, but no Redis answers at REDIS_URL.")
        pytest.skip("no Redis on this machine: set REDIS_URL to run the worker tests")
    return url


def _database_url_for_tests() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


@contextmanager
def celery_worker(*, extra_env: dict[str, str] | None = None, ready_timeout: float = 60):
    """Run a worker process for the duration of the block; yields the Popen.

    Inside the block, tasks sent from the test go through Redis to that worker instead of running
    in-process.
    """
    redis_url = require_redis()
    queue = celery_app.conf.task_default_queue
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_tests(),
        "REDIS_URL": redis_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "SHAREHUB_VAR_DIR": str(settings.VAR_DIR),
        "SHAREHUB_PRIVATE_DIR": str(settings.MEDIA_ROOT),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log_path = Path(settings.VAR_DIR) / f"{queue}-{uuid.uuid4().hex[:6]}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "sharehub", "worker",
            "--pool=prefork", "--concurrency=1", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-n", f"{log_path.stem}@%h",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    celery_app.conf.task_always_eager = False
    try:
        _wait_until_ready(process, log_path, ready_timeout)
        process.log_path = log_path
        yield process
    finally:
        _stop(process)
        log.close()
        celery_app.conf.task_always_eager = True


def _stop(process: subprocess.Popen) -> None:
    """Stop a process started in a session of its own, children too: politely, then not."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_ready(process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited at start:\n{log_path.read_text()[-3000:]}")
        if " ready." in log_path.read_text():
            return
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.2):
    """Poll until predicate() is truthy; return its value or fail the test with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"gave up waiting after {timeout}s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def web_server(*, extra_env: dict[str, str] | None = None, ready_timeout: float = 60):
    """Run ShareHub under gunicorn, as deployed, against the test database for the duration of
    the block; yields its base URL. Like the worker, it sees only committed rows, and the tasks
    it queues go to the test's own queue (a worker started with celery_worker takes them)."""
    redis_url = require_redis()
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_tests(),
        "REDIS_URL": redis_url,
        "CELERY_TASK_DEFAULT_QUEUE": celery_app.conf.task_default_queue,
        "SHAREHUB_VAR_DIR": str(settings.VAR_DIR),
        "SHAREHUB_PRIVATE_DIR": str(settings.MEDIA_ROOT),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log_path = Path(settings.VAR_DIR) / f"web-{uuid.uuid4().hex[:8]}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "sharehub.wsgi", "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--threads", "4", "--timeout", "120",
            "--access-logfile", "-", "--error-logfile", "-",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start:\n{log_path.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    tail = log_path.read_text()[-3000:]
                    raise RuntimeError(f"gunicorn not listening:\n{tail}") from None
                time.sleep(0.2)
        process.log_path = log_path
        yield url
    finally:
        _stop(process)
        log.close()
