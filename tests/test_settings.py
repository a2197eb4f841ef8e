"""The settings module under different environments, each checked in a fresh interpreter."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SHAREHUB_", "DATABASE_URL", "REDIS_URL"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def show(setting_expr: str, **env: str) -> str:
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        f"from django.conf import settings; print({setting_expr})",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def production_env(**extra: str) -> dict[str, str]:
    return {
        "SHAREHUB_PRODUCTION": "true",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "sharehub.example.org",
        # Production refuses to start without its keys (issue 20 finding 12).
        "SHAREHUB_MASTER_KEYS": "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "SHAREHUB_LINKAGE_KEY": "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "SHAREHUB_AUDIT_KEY": "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "SHAREHUB_INGEST_KEYS": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        **extra,
    }


def test_with_no_settings_it_runs_on_sqlite_with_tasks_in_process():
    assert show("settings.DATABASES['default']['ENGINE']") == "django.db.backends.sqlite3"
    assert show("settings.CELERY_TASK_ALWAYS_EAGER") == "True"
    assert show("settings.DEBUG") == "False"


def test_database_and_redis_urls_switch_to_postgres_and_a_real_broker():
    env = {
        "DATABASE_URL": "postgres://u:p@db.internal:5432/sharehub",
        "REDIS_URL": "redis://cache.internal:6379/0",
    }
    assert show("settings.DATABASES['default']['ENGINE']", **env) == (
        "django.db.backends.postgresql"
    )
    assert show("settings.CELERY_TASK_ALWAYS_EAGER", **env) == "False"
    assert show("settings.CELERY_BROKER_URL", **env) == "redis://cache.internal:6379/0"


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", SHAREHUB_PRODUCTION="true")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_refuses_debug():
    result = run_manage("check", **production_env(DJANGO_DEBUG="true"))
    assert result.returncode != 0
    assert "DJANGO_DEBUG must not be on" in result.stderr


def test_secret_key_can_come_from_a_mounted_file(tmp_path):
    key = secrets.token_urlsafe(60)
    key_file = tmp_path / "secret"
    key_file.write_text(key)
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    assert show("settings.SECRET_KEY", DJANGO_SECRET_KEY_FILE=str(key_file), **env) == key


def test_deployment_checks_pass_at_warning_level_in_production():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_demo_loader_is_refused_in_production():
    result = run_manage("load_demo", **production_env())
    assert result.returncode != 0
    assert "refused when SHAREHUB_PRODUCTION is true" in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/sign-in/", "/healthz", "/no-such-page/"])
def test_every_response_carries_a_policy_that_allows_no_inline_script(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
