"""The pipeline (sharehub.pipeline): what follows what, and that no stage imports the next.

extract loaded -> link -> enrich -> alerts -> insights, wired in one module; the stages only
announce that they are done. Whichever channel brought the extract, the whole line runs: in the
test process here (the embedded default, CELERY_TASK_ALWAYS_EAGER), and through Redis and a real
worker in the worker test at the end.
"""

import ast
import io
from pathlib import Path

import pytest
from celery.signals import task_prerun
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from agencies.ingest.receive import extract_receive
from agencies.models import ExtractChannel, ExtractStatus, Role
from insights.models import InsightSnapshot
from matching.models import LinkageRun, ReviewItem
from matching.relink import relink_request
from matching.review import review_decide, reviewer_grant
from risk.models import RiskRun
from tests.bridge_helpers import bridge_push, sealed_extract
from tests.ingest_helpers import csv_bytes, good_row, police_dataset, upload
from tests.workers import celery_worker, wait_for

ROOT = Path(__file__).resolve().parent.parent

# --- No stage imports a later one ----------------------------------------------------------------

# The line, in order: a stage may use what comes before it, never what comes after.
STAGES = ("agencies", "matching", "risk", "alerts", "insights")
# Apps off the line that set a later stage going (protocols.seals: what is sealed changed, so
# everyone is scored again); they announce it as the stages do.
FEEDERS = {"protocols": ("risk", "alerts", "insights")}
# The deliberate exception (ARCHITECTURE.md): ingest seals identities and checks their shape
# with matching's own functions, so that one place decides each.
ALLOWED = {"agencies": ("matching.pseudonymise", "matching.screening")}
# Imports by a string that would get round the rule (importlib, Celery's send_task).
BY_NAME = {"import_module", "__import__", "send_task", "signature"}


def imported(source: str) -> set[str]:
    """Every module (and `module.name`) `source` imports, anywhere: at the top, inside a
    function, or by name through importlib or Celery."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args:
            called = node.func.attr if isinstance(node.func, ast.Attribute) else None
            called = node.func.id if isinstance(node.func, ast.Name) else called
            first = node.args[0]
            if called in BY_NAME and isinstance(first, ast.Constant):
                names.add(str(first.value))
    return names


def later_imports(app: str, later: tuple[str, ...]) -> list[str]:
    allowed = ALLOWED.get(app, ())
    found = []
    for path in sorted((ROOT / app).rglob("*.py")):
        for name in sorted(imported(path.read_text(encoding="utf-8"))):
            if name == "sharehub.pipeline" or name.startswith("sharehub.pipeline."):
                found.append(f"{path.relative_to(ROOT)}: {name} (the pipeline is the top)")
            elif name.split(".")[0] in later and not any(
                name == ok or name.startswith(f"{ok}.") for ok in allowed
            ):
                found.append(f"{path.relative_to(ROOT)}: {name}")
    return found


@pytest.mark.parametrize(
    "app, later",
    [(app, STAGES[position + 1 :]) for position, app in enumerate(STAGES[:-1])]
    + list(FEEDERS.items()),
)
def test_no_stage_imports_a_later_one(app, later):
    found = later_imports(app, later)
    assert not found, (
        f"{app} imports a later stage; announce with a signal of {app}'s own and start the next "
        "stage in sharehub/pipeline.py:\n" + "\n".join(found)
    )


def test_the_import_walk_finds_every_way_in():
    source = """
from matching.tasks import link_after_extract
import risk.services
from alerts import services
from . import models
def later():
    from insights.services import insights_refresh
    importlib.import_module("risk.tasks")
    app.send_task("risk.tasks.enrich_after_extract")
"""
    assert imported(source) == {
        "matching.tasks.link_after_extract",
        "risk.services",
        "alerts.services",
        "insights.services.insights_refresh",
        "risk.tasks",
        "risk.tasks.enrich_after_extract",
    }


# --- Each channel's extract goes down the whole line, in the process -------------------------


@pytest.fixture
def pipeline_tasks():
    """(task name, args, kwargs) of every task run, in the order they ran."""
    ran = []

    def record(sender=None, args=None, kwargs=None, **extra):
        ran.append((sender.name, tuple(args or ()), dict(kwargs or {})))

    task_prerun.connect(record, weak=False)
    yield ran
    task_prerun.disconnect(record)


def assert_down_the_whole_line(extract, ran):
    assert extract.status == ExtractStatus.LOADED
    assert [name for name, _, _ in ran] == [
        "agencies.tasks.ingest_extract",
        "matching.tasks.link_after_extract",
        "risk.tasks.enrich_after_extract",
    ]
    # Ids only: a task's arguments sit in Redis, where no record's content may go.
    assert all(args == () and kwargs == {"extract_id": extract.pk} for _, args, kwargs in ran)
    linked = LinkageRun.objects.get(extract=extract)
    assert linked.status == LinkageRun.Status.DONE
    enriched = RiskRun.objects.get(kind=RiskRun.Kind.EXTRACT, extract=extract)
    assert enriched.status == RiskRun.Status.DONE
    # Alerts and the dashboard's figures ran in the enrichment run and were counted there (as a
    # set: PostgreSQL's jsonb keeps no key order).
    assert {"alerts", "seconds_alerts", "seconds_insights"} <= set(enriched.figures)
    assert InsightSnapshot.objects.exists()


def test_a_web_upload_is_linked_then_enriched(client, member, agency, pipeline_tasks):
    dataset = police_dataset(agency)
    client.force_login(member(Role.AGENCY_ADMIN))
    content = csv_bytes([good_row("W1"), good_row("W2", forename="Bob")])
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("agencies:extract_upload", args=[dataset.pk]),
            {"file": SimpleUploadedFile("extract.csv", content), "mode": "incremental"},
        )
    assert response.status_code == 302
    assert_down_the_whole_line(dataset.extracts.get(), pipeline_tasks)


def test_a_bridge_push_is_linked_then_enriched(agency, pipeline_tasks):
    dataset = police_dataset(agency)
    sealed, file_sha256 = sealed_extract(dataset, [good_row("B1"), good_row("B2", forename="Bob")])
    _, extract = bridge_push(dataset, sealed, file_sha256)
    assert extract.channel == ExtractChannel.BRIDGE
    extract.refresh_from_db()
    assert_down_the_whole_line(extract, pipeline_tasks)


def test_an_extract_that_did_not_load_goes_no_further(agency, pipeline_tasks):
    dataset = police_dataset(agency)
    extract = upload(dataset, b"not,the,columns\r\n1,2,3\r\n")
    assert extract.status == ExtractStatus.REJECTED
    assert [name for name, _, _ in pipeline_tasks] == ["agencies.tasks.ingest_extract"]
    assert not LinkageRun.objects.exists() and not RiskRun.objects.exists()


def rescored() -> int:
    return RiskRun.objects.filter(kind=RiskRun.Kind.LINKAGE, status=RiskRun.Status.DONE).count()


def test_a_review_decision_and_a_relink_have_everyone_scored_again(agency, member, pipeline_tasks):
    dataset = police_dataset(agency)
    upload(dataset, csv_bytes([good_row("R1"), good_row("R2", forename="Alicia", nhs_number="")]))
    first, second = dataset.records.order_by("pk")
    item = ReviewItem.objects.create(
        record_a=first, record_b=second, score=1.5, probability=0.74, comparison={}
    )
    reviewer = member(Role.IG_OFFICER)
    reviewer_grant(user=reviewer)
    pipeline_tasks.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        review_decide(item=item, user=reviewer, decision="rejected", channel="web")
    assert [name for name, _, _ in pipeline_tasks] == [
        "matching.tasks.relink_after_decision",
        "risk.tasks.enrich_after_linkage",
    ]
    assert rescored() == 1

    pipeline_tasks.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        relink_request(requested_by=member(Role.PLATFORM_ADMIN))
    assert [name for name, _, _ in pipeline_tasks] == [
        "matching.tasks.relink_everything",
        "risk.tasks.enrich_after_linkage",
    ]
    assert rescored() == 2


# --- Through Redis and a real worker --------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_whole_line(agency):
    """The receivers are connected in the worker's process too (sharehub.apps), so the stages it
    runs queue the next ones through Redis."""
    dataset = police_dataset(agency)
    with celery_worker() as worker:
        extract = extract_receive(
            dataset=dataset,
            uploaded_by=None,
            stream=io.BytesIO(csv_bytes([good_row("Q1"), good_row("Q2", forename="Bob")])),
            filename="extract.csv",
            mode="incremental",
            channel=ExtractChannel.API,
        )

        def enriched():
            return RiskRun.objects.filter(
                kind=RiskRun.Kind.EXTRACT, extract=extract, status=RiskRun.Status.DONE
            ).first()

        run = wait_for(enriched, timeout=120, interval=0.5)
    assert "alerts" in run.figures and "seconds_insights" in run.figures
    assert LinkageRun.objects.get(extract=extract).status == LinkageRun.Status.DONE
    log = worker.log_path.read_text()
    for task in (
        "agencies.tasks.ingest_extract",
        "matching.tasks.link_after_extract",
        "risk.tasks.enrich_after_extract",
    ):
        assert f"Task {task}[" in log, task
