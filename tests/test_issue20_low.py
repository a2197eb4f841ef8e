"""Issue 20's low findings: formula-safe export headers and names (9), alerts from what the
recipient may see (10), production refusing to start without its keys (12), password reset
limits (13), and a demo that leaves no plaintext source files behind (15)."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import secrets
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import remove_perm

from agencies.models import Dataset, DatasetVersion, Role
from alerts.models import Alert, AlertDelivery, RuleKind
from alerts.rules import RuleInput, rule_save, subscription_set
from core.purpose import Purpose
from protocols.models import Tier
from risk.models import RiskRun
from risk.services import enrich_run
from sharehub_bridge.definitions import DefinitionError, definition_parse
from tests.ingest_helpers import POLICE_DEFINITION
from tests.protocol_helpers import give, linked_people, protocol_in_force
from tests.test_alerts import high_risk_indicator
from tests.test_settings import run_manage

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# --- finding 9: formula-safe headers, and names that cannot start a formula -----------------------


@pytest.fixture
def analyst_world(db, agency, other_agency, member):
    linked = linked_people(other_agency, agency)
    analyst = member(Role.ANALYST)
    version = protocol_in_force(
        author=analyst,
        parties=[agency, other_agency],
        purpose=Purpose.COMMISSIONING,
        roles=(Role.ANALYST,),
        rules=[
            {
                "dataset": linked.police,
                "tier": Tier.SUMMARY,
                "fields": ["field:incident_date", "field:risk_grade"],
            }
        ],
    )
    give(version, analyst)
    return linked, analyst


def test_export_header_cells_cannot_run_as_formulas(analyst_world, client):
    """A dataset named, or a field labelled, before names were checked (or by a platform admin
    in the database) reaches the header: it is written as text, like the body's cells."""
    linked, analyst = analyst_world
    Dataset.objects.filter(pk=linked.police.pk).update(name='=HYPERLINK("http://x.test","ok")')
    version = DatasetVersion.objects.filter(dataset=linked.police).latest("number")
    for column in version.columns:
        if column["column"] == "risk_grade":
            column["label"] = "@SUM(1+1)"
        if column["column"] == "incident_date":
            column["label"] = "-2+3"
    version.save(update_fields=["columns"])
    client.force_login(analyst)
    choices = [f"{linked.police.pk}|field:incident_date", f"{linked.police.pk}|field:risk_grade"]
    response = client.post(
        "/insights/export/",
        {"purpose": "commissioning", "statement": "Needs assessment", "chosen": choices},
    )
    assert response.status_code == 200
    content = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(content)))
    assert len(rows) > 1
    for row in rows:
        unsafe = [cell for cell in row if cell.startswith(FORMULA_STARTS)]
        assert not unsafe, unsafe
    assert any("HYPERLINK" in cell for cell in rows[0]), rows[0]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_dataset_names_and_labels_that_start_like_a_formula_are_refused(start):
    named = {**POLICE_DEFINITION, "name": f"{start}cmd|' /C calc'!A0"}
    with pytest.raises(DefinitionError) as error:
        definition_parse(named)
    assert any("dataset name" in p and "start" in p for p in error.value.problems), error.value
    columns = [dict(c) for c in POLICE_DEFINITION["columns"]]
    next(c for c in columns if c["column"] == "risk_grade")["label"] = f"{start}SUM(1)"
    with pytest.raises(DefinitionError) as error:
        definition_parse({**POLICE_DEFINITION, "columns": columns})
    assert any('"risk_grade"' in p and "label" in p for p in error.value.problems), error.value
    if not start.strip():
        return  # a column name is stored stripped: "\tscore" is "score"
    # A label left empty falls back to the column's name, which is checked the same way.
    columns = [dict(c) for c in POLICE_DEFINITION["columns"]]
    columns.append({"column": f"{start}score", "type": "number"})
    with pytest.raises(DefinitionError) as error:
        definition_parse({**POLICE_DEFINITION, "columns": columns})
    assert any("Give it a label" in p for p in error.value.problems), error.value


def test_a_formula_like_name_is_refused_on_the_web_form_and_the_api(client, member, agency):
    from agencies.tokens import api_token_create

    admin = member(Role.AGENCY_ADMIN)
    client.force_login(admin)
    data = {"name": "=1+2", "columns": ["ref", "surname"], "source_id_column": "ref"}
    data.update({"role_0": "ignore", "role_1": "identifier:surname"})
    page = client.post(reverse("agencies:dataset_create"), data)
    assert page.status_code == 400
    html = page.content.decode()
    assert "There is a problem" in html and "dataset name" in html
    assert not Dataset.objects.filter(agency=agency).exists()
    token = api_token_create(agency=agency, name="nightly", created_by=admin)[1]
    answer = client.post(
        reverse("agencies_api:dataset_list"),
        data=json.dumps({**POLICE_DEFINITION, "name": "@cmd"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert answer.status_code == 400
    assert any("dataset name" in p for p in answer.json()["problems"])
    # An ordinary name with a hyphen inside is fine.
    assert definition_parse({**POLICE_DEFINITION, "name": "Police - incidents"}).name


# --- finding 10: score alerts from the findings each recipient may see ----------------------------

DAY = date(2026, 1, 20)


@pytest.fixture
def alert_world(db, agency, other_agency, member):
    linked = linked_people(other_agency, agency)
    admin = member(Role.PLATFORM_ADMIN)
    # Sees police records in full: the high risk grade that makes Alice's score.
    full_reader = member(Role.PRACTITIONER)
    # Sees that police know Alice, nothing of what the records say.
    known_to_reader = member(Role.PRACTITIONER)
    full = protocol_in_force(
        author=full_reader,
        parties=[agency, other_agency],
        rules=[{"dataset": linked.police}, {"dataset": linked.csc}],
    )
    give(full, full_reader)
    narrow = protocol_in_force(
        author=full_reader,
        parties=[agency, other_agency],
        name="Known to only",
        rules=[{"dataset": linked.police, "tier": Tier.KNOWN_TO}, {"dataset": linked.csc}],
    )
    give(narrow, known_to_reader)
    indicator = high_risk_indicator(admin, linked)
    return {
        "linked": linked,
        "admin": admin,
        "full": full_reader.memberships.get(),
        "known_to": known_to_reader.memberships.get(),
        "full_version": full,
        "indicator": indicator,
    }


def _subscribed_rule(world, **fields):
    rule = rule_save(by=world["admin"], data=RuleInput(**fields))
    for who in ("full", "known_to"):
        subscription_set(membership=world[who], rule=rule, subscribed=True)
    return rule


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": RuleKind.SCORE_ABOVE, "threshold": 20},
        {"kind": RuleKind.SCORE_RISING, "rise": 15, "window_days": 30},
    ],
)
def test_a_score_alert_reaches_only_recipients_who_may_see_the_findings_behind_it(
    alert_world, fields
):
    rule = _subscribed_rule(alert_world, name="Score rule", **fields)
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    alice = alert_world["linked"].alice
    alert = Alert.objects.get(rule=rule, person=alice)
    delivered_to = set(
        AlertDelivery.objects.filter(alert=alert).values_list("membership_id", flat=True)
    )
    # Both may see Alice (police know her; social care holds her referral), but only one may
    # see the risk grade her score comes from: to the other the alert would say what the
    # records are withheld from saying.
    assert delivered_to == {alert_world["full"].pk}


def test_a_new_event_alert_needs_the_event_disclosed_to_its_recipient(alert_world):
    linked = alert_world["linked"]
    rule = _subscribed_rule(
        alert_world,
        name="New high-risk incident, open to social care",
        kind=RuleKind.NEW_EVENT_WHILE_OPEN,
        indicator=alert_world["indicator"],
        open_agency=linked.csc.agency,
        open_within_days=365,
        new_within_days=14,
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    alert = Alert.objects.get(rule=rule)
    assert set(
        AlertDelivery.objects.filter(alert=alert).values_list("membership_id", flat=True)
    ) == {alert_world["full"].pk}


def test_a_recipient_whose_protocol_lapses_before_delivery_gets_nothing(alert_world):
    rule = _subscribed_rule(alert_world, name="Above 20", kind=RuleKind.SCORE_ABOVE, threshold=20)
    remove_perm(
        "protocols.use_protocol", alert_world["full"].user, alert_world["full_version"].protocol
    )
    enrich_run(kind=RiskRun.Kind.NIGHTLY, today=DAY)
    assert Alert.objects.filter(rule=rule).exists()
    assert not AlertDelivery.objects.exists()


# --- finding 12: production refuses to start without its keys ------------------------------------


def _key() -> str:
    return "1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _production(**changes: str | None) -> dict[str, str]:
    env = {
        "SHAREHUB_PRODUCTION": "true",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "sharehub.example.org",
        "SHAREHUB_MASTER_KEYS": _key(),
        "SHAREHUB_LINKAGE_KEY": _key(),
        "SHAREHUB_AUDIT_KEY": _key(),
        "SHAREHUB_INGEST_KEYS": _key(),
    }
    env.update(changes)
    return {k: v for k, v in env.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"SHAREHUB_MASTER_KEYS": None}, "SHAREHUB_MASTER_KEYS"),
        ({"SHAREHUB_LINKAGE_KEY": None}, "SHAREHUB_LINKAGE_KEY"),
        ({"SHAREHUB_AUDIT_KEY": None}, "SHAREHUB_AUDIT_KEY"),
        ({"SHAREHUB_INGEST_KEYS": None}, "SHAREHUB_INGEST_KEYS"),
        ({"SHAREHUB_INGEST_KEYS": "1:tooshort"}, "SHAREHUB_INGEST_KEYS"),
        ({"SHAREHUB_AUDIT_KEY": "1:tooshort"}, "SHAREHUB_AUDIT_KEY"),
        ({"SHAREHUB_MASTER_KEYS": "1:tooshort"}, "SHAREHUB_MASTER_KEYS"),
        ({"DJANGO_SECRET_KEY": "x"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + "a" * 50}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "ab" * 30}, "DJANGO_SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_without_keys_or_with_a_weak_secret_key(changes, named):
    result = run_manage("check", **_production(**changes))
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr and named in result.stderr, result.stderr


def test_production_starts_with_every_key_set():
    result = run_manage("check", **_production())
    assert result.returncode == 0, result.stderr


def test_keys_may_come_from_mounted_files(tmp_path):
    master, linkage = tmp_path / "master", tmp_path / "linkage"
    master.write_text(_key())
    linkage.write_text(_key())
    env = _production(SHAREHUB_MASTER_KEYS=None, SHAREHUB_LINKAGE_KEY=None)
    env.update(
        {"SHAREHUB_MASTER_KEYS_FILE": str(master), "SHAREHUB_LINKAGE_KEY_FILE": str(linkage)}
    )
    result = run_manage("check", **env)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def broken_master_keys():
    from core.keys import linkage_keys, master_keys

    previous = os.environ.get("SHAREHUB_MASTER_KEYS")
    os.environ["SHAREHUB_MASTER_KEYS"] = "1:not-a-key"
    master_keys.cache_clear()
    linkage_keys.cache_clear()
    try:
        yield
    finally:
        if previous is None:
            del os.environ["SHAREHUB_MASTER_KEYS"]
        else:
            os.environ["SHAREHUB_MASTER_KEYS"] = previous
        master_keys.cache_clear()
        linkage_keys.cache_clear()


def test_healthz_is_not_ok_when_the_keys_do_not_load(client, db, broken_master_keys):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ok" and body["checks"]["keys"] != "ok"
    # The answer says what failed, not the key or its value.
    assert "not-a-key" not in response.content.decode()


def test_healthz_checks_the_keys_and_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "keys": "ok"}}


# --- finding 13: password reset limits ----------------------------------------------------------


@pytest.fixture
def one_hour():
    """The limits count in fixed one-hour windows: start at the start of one."""
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    with time_machine.travel(start, tick=False):
        yield


def _reset(client, email, ip, capture):
    with capture(execute=True):
        return client.post(reverse("accounts:password_reset"), {"email": email}, REMOTE_ADDR=ip)


def test_reset_emails_for_one_address_stop_at_the_limit_from_any_client(
    client, member, settings, one_hour, django_capture_on_commit_callbacks
):
    settings.SHAREHUB_RATE_LIMITS = {
        **settings.SHAREHUB_RATE_LIMITS,
        "password_reset": (5, 60 * 60),
        "password_reset_address": (3, 60 * 60),
    }
    user = member(Role.PRACTITIONER)
    answers = [
        _reset(client, user.email.upper() if n % 2 else user.email, f"198.51.100.{n}",
               django_capture_on_commit_callbacks)
        for n in range(20)
    ]  # fmt: skip
    assert {a.status_code for a in answers} == {302}
    assert {a["Location"] for a in answers} == {reverse("accounts:password_reset_done")}
    assert len(mail.outbox) == 3
    # An unknown address is answered the same way, and sends nothing.
    unknown = [
        _reset(client, "nobody@agency.test", f"203.0.113.{n}", django_capture_on_commit_callbacks)
        for n in range(5)
    ]
    assert [a.status_code for a in unknown] == [302] * 5
    assert len(mail.outbox) == 3
    # The next window starts again.
    with time_machine.travel(timezone.now() + timedelta(hours=1), tick=False):
        _reset(client, user.email, "198.51.100.99", django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 4


def test_reset_requests_from_one_client_are_limited(
    client, member, settings, one_hour, django_capture_on_commit_callbacks
):
    settings.SHAREHUB_RATE_LIMITS = {
        **settings.SHAREHUB_RATE_LIMITS,
        "password_reset": (5, 60 * 60),
        "password_reset_address": (3, 60 * 60),
    }
    user = member(Role.PRACTITIONER)
    codes = [
        _reset(
            client, f"guess{n}@agency.test", "192.0.2.7", django_capture_on_commit_callbacks
        ).status_code
        for n in range(5)
    ]
    assert codes == [302] * 5
    refused = _reset(client, user.email, "192.0.2.7", django_capture_on_commit_callbacks)
    assert refused.status_code == 429
    assert mail.outbox == []
    # Another client is not held back by this one.
    assert (
        _reset(client, user.email, "192.0.2.8", django_capture_on_commit_callbacks).status_code
        == 302
    )
    assert len(mail.outbox) == 1


def test_the_limits_are_counted_without_the_address_typed(
    client, member, settings, one_hour, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    user = member(Role.PRACTITIONER)
    _reset(client, user.email, "192.0.2.9", django_capture_on_commit_callbacks)
    keys = list(getattr(cache, "_cache", {}))
    assert keys, "no counter kept"
    assert not [k for k in keys if user.email.split("@")[0] in str(k).lower()]


# --- finding 15: the demo leaves no plaintext source files ---------------------------------------


def test_the_demo_leaves_no_plaintext_source_files_behind(
    db, settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    import synthetic.demo as demo

    settings.VAR_DIR = tmp_path
    # A directory an earlier version of the demo left behind is cleared too.
    old = tmp_path / "demo-synthetic-150-2026"
    old.mkdir()
    (old / "ground_truth.csv").write_text("record,person\n")
    seen: list[tuple[int, list[int]]] = []
    real_load = demo.synthetic_load

    def watching_load(*, out_dir, **kwargs):
        files = sorted(Path(out_dir).iterdir())
        assert files, "the loader was given an empty directory"
        seen.append(
            (
                stat.S_IMODE(Path(out_dir).stat().st_mode),
                [stat.S_IMODE(f.stat().st_mode) for f in files],
            )
        )
        return real_load(out_dir=out_dir, **kwargs)

    monkeypatch.setattr(demo, "synthetic_load", watching_load)
    with django_capture_on_commit_callbacks(execute=True):
        demo.demo_load(people=150)
    # While loading, only the owner could read the files...
    assert seen, "the synthetic population was not loaded"
    for directory_mode, file_modes in seen:
        assert directory_mode == 0o700, oct(directory_mode)
        assert all(mode & 0o077 == 0 for mode in file_modes), [oct(m) for m in file_modes]
    # ...and once loaded, nothing of them is left.
    left = [
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file() and (p.suffix in (".csv", ".json") or "ground_truth" in p.name)
    ]
    assert left == [], left
    assert not re.search("demo-synthetic", " ".join(p.name for p in tmp_path.iterdir()))
