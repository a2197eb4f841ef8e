"""Scores, alerts and dashboards at scale: two nightly enrichment runs and the analyst's pages.

Run: python -m bench.enrich [--records 1000000] [--reuse] [--database-url URL] [--renders 50]
[--smoke].
Targets (issue 7): with 1,000,000 records loaded, a nightly run recomputes every score and alert
in under 5 minutes on PostgreSQL; the dashboard renders in under 500 ms.

The records are bench.summary_load's: the synthetic set of bench.linkage_speed loaded through
the production path into the same database with the same keys, so `--reuse` keeps what either
left (and a database this benchmark loaded serves them too). In this process, with the
production settings: the demo partnership's indicators and alert rules (synthetic.demo,
demo_risk_ensure), practitioners of children's social care and police subscribed to every rule
and holding summary_load's safeguarding protocol, so that alerts have recipients, and an analyst
holding a commissioning protocol, so that a drill-down lists people. Findings, scores, alerts
and dashboard figures left by an earlier run are emptied, then two nightly runs of
risk.services.enrich_run are timed: the first finds everything and raises every alert for the
first time, the second finds the same again and must raise none twice. The dashboard, one of
its CSV tables and a drill-down are then timed through Django's test client in-process (the
whole request, middleware and template, without a server in front).
"""

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import date

from bench.common import OUT, SMOKE_RECORDS, arguments, peak_rss_mb, postgres_url, record
from bench.linkage_runner import RECORDS_PER_PERSON
from bench.summary_load import (
    PROTOCOL_NAME,
    analyse,
    django_setup,
    keys_dir,
    readers_create,
    records_ensure,
    server_env,
    sign_in,
)

TARGET_RUN_SECONDS = 300
TARGET_DASHBOARD_MS = 500
PRACTITIONERS = 5  # in each of children's social care and police, subscribed to every rule
ANALYST_PROTOCOL = "Bench: dashboards and drill-downs"
DASHBOARD_PATH = "/insights/dashboard/"
CSV_PATH = "/insights/tables/intersections.csv"
DRILLDOWN_PATH = "/insights/people/?cell=agency:0"
STAGES = ("findings", "scores", "alerts", "insights")
# demo_risk_ensure wants the agencies by demo code; linkage_child made one of each kind.
CODE_OF_KIND = {
    "childrens_social_care": "CSC",
    "police": "POL",
    "health": "HLT",
    "education": "EDU",
    "housing": "HSG",
}


# --- Set-up: indicators, rules, recipients, the analyst ------------------------------------


def agencies_by_code() -> dict:
    from agencies.models import Agency

    found = {}
    for agency in Agency.objects.filter(is_active=True, kind__in=list(CODE_OF_KIND)).order_by("pk"):
        found.setdefault(CODE_OF_KIND[agency.kind], agency)
    missing = set(CODE_OF_KIND.values()) - set(found)
    if missing:
        raise SystemExit(f"no agency of kind {sorted(missing)}: run again without --reuse")
    return found


def practitioners_ensure(agencies: dict, per_agency: int) -> None:
    """`per_agency` practitioners in children's social care and in police, holding
    summary_load's safeguarding protocol (every dataset in full), so that persons_visible finds
    the people an alert is about."""
    from guardian.shortcuts import assign_perm

    from agencies.models import Role
    from agencies.services import user_with_membership_ensure
    from protocols.models import ProtocolGrant, ProtocolVersion

    readers_create(0)  # the protocol version in force, without summary_load's readers
    protocol = ProtocolVersion.objects.get(name=PROTOCOL_NAME).protocol
    for code in ("CSC", "POL"):
        for number in range(per_agency):
            membership = user_with_membership_ensure(
                email=f"bench-enrich-{code.lower()}-{number:02d}@bench.invalid",
                full_name=f"Bench {code} practitioner {number:02d}",
                agency=agencies[code],
                role=Role.PRACTITIONER,
            )
            assign_perm("protocols.use_protocol", membership.user, protocol)
            ProtocolGrant.objects.get_or_create(
                protocol=protocol, user=membership.user, agency=membership.agency
            )


def analyst_ensure(agencies: dict):
    """An analyst in children's social care holding a commissioning protocol in force that
    shows a summary of every dataset, written directly as summary_load writes its protocol:
    what the drill-down needs to list anyone. The analyst's membership."""
    from guardian.shortcuts import assign_perm

    from accounts.models import User
    from agencies.models import Agency, Dataset, Role
    from agencies.services import user_with_membership_ensure
    from core.purpose import Purpose
    from protocols.fields import identity_key
    from protocols.models import (
        ConsentRule,
        DatasetRule,
        Protocol,
        ProtocolGrant,
        ProtocolVersion,
        Tier,
        VersionStatus,
    )

    parties = list(Agency.objects.filter(is_active=True).order_by("code"))
    author, _ = User.objects.get_or_create(
        email="bench-ig@bench.invalid", defaults={"full_name": "Bench IG officer"}
    )
    version = ProtocolVersion.objects.filter(name=ANALYST_PROTOCOL).first()
    if version is None:
        protocol = Protocol.objects.create(created_by=author, owner_agency=agencies["CSC"])
        version = ProtocolVersion.objects.create(
            protocol=protocol,
            number=1,
            name=ANALYST_PROTOCOL,
            purpose=Purpose.COMMISSIONING,
            lawful_basis="UK GDPR Art 6(1)(e) public task; Art 9(2)(g) substantial public interest",
            roles=[Role.ANALYST],
            valid_from=date(2020, 1, 1),
            status=VersionStatus.ACTIVE,
            author=author,
        )
    version.parties.set(parties)
    for dataset in Dataset.objects.filter(agency__in=parties):
        DatasetRule.objects.get_or_create(
            version=version,
            dataset=dataset,
            defaults={
                "tier": Tier.SUMMARY,
                "fields": [identity_key("date_of_birth")],
                "consent": ConsentRule.NONE,
            },
        )
    membership = user_with_membership_ensure(
        email="bench-analyst@bench.invalid",
        full_name="Bench analyst",
        agency=agencies["CSC"],
        role=Role.ANALYST,
    )
    assign_perm("protocols.use_protocol", membership.user, version.protocol)
    ProtocolGrant.objects.get_or_create(
        protocol=version.protocol, user=membership.user, agency=membership.agency
    )
    return membership


def risk_ensure(agencies: dict) -> dict[str, int]:
    """The demo indicators and rules (once), and how many of each there are."""
    from alerts.models import AlertRule, AlertSubscription
    from risk.models import RiskIndicator
    from synthetic.demo import demo_risk_ensure

    demo_risk_ensure(agencies, run=False)
    return {
        "indicators": RiskIndicator.objects.filter(is_active=True).count(),
        "rules": AlertRule.objects.filter(is_active=True).count(),
        "subscriptions": AlertSubscription.objects.count(),
        "subscribers": AlertSubscription.objects.values("membership").distinct().count(),
    }


def risk_reset() -> None:
    """Empty what an earlier enrichment run left, so the first run here is a cold one: no
    findings, scores, alerts, profiles or snapshots. Not the indicators, rules or runs."""
    from django.db import connection

    from alerts.models import Alert, AlertDelivery, AlertEvent
    from insights.models import InsightSnapshot, PersonProfile
    from notifications.models import Notification, NotificationKind
    from risk.models import HouseholdRisk, PersonRisk, RiskDay, RiskFinding

    tables = [
        m._meta.db_table
        for m in (
            AlertEvent,
            AlertDelivery,
            Alert,
            RiskFinding,
            PersonRisk,
            HouseholdRisk,
            RiskDay,
            PersonProfile,
            InsightSnapshot,
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}")
    Notification.objects.filter(kind=NotificationKind.ALERT_RAISED).delete()


# --- The two nightly runs -------------------------------------------------------------------


@dataclass
class Run:
    label: str
    wall: float
    figures: dict
    stages: dict[str, float]
    raised_by_rule: dict[str, int]
    raised_again: int  # raised for a (rule, person) that already had an ongoing score alert
    notifications: int
    peak_rss_mb: float


def enrich_timed(label: str, *, today: date) -> Run:
    from django.db.models import Count, Max

    import alerts.raising  # noqa: F401  (imported by the run; not its time to count)
    import insights.services  # noqa: F401
    from alerts.models import Alert, RuleKind
    from notifications.models import Notification, NotificationKind
    from risk.models import RiskRun
    from risk.services import enrich_run

    score_kinds = [RuleKind.SCORE_ABOVE, RuleKind.SCORE_RISING, RuleKind.STEP_DOWN]
    mark = Alert.objects.aggregate(top=Max("pk"))["top"] or 0
    ongoing = set(
        Alert.objects.filter(
            rule__kind__in=score_kinds, condition_ended_on__isnull=True
        ).values_list("rule_id", "person_id")
    )
    notices = Notification.objects.filter(kind=NotificationKind.ALERT_RAISED)
    notices_mark = notices.aggregate(top=Max("pk"))["top"] or 0
    print(f"{label} run...", flush=True)
    started = time.perf_counter()
    run = enrich_run(kind=RiskRun.Kind.NIGHTLY, today=today)
    wall = time.perf_counter() - started
    fresh = Alert.objects.filter(pk__gt=mark)
    raised_by_rule = dict(
        fresh.values_list("rule__name").annotate(n=Count("pk")).order_by("rule__name")
    )
    raised_again = sum(
        1
        for pair in fresh.filter(rule__kind__in=score_kinds).values_list("rule_id", "person_id")
        if pair in ongoing
    )
    stages = {stage: run.figures.get(f"seconds_{stage}", 0.0) for stage in STAGES}
    result = Run(
        label=label,
        wall=wall,
        figures=run.figures,
        stages=stages,
        raised_by_rule=raised_by_rule,
        raised_again=raised_again,
        notifications=notices.filter(pk__gt=notices_mark).count(),
        peak_rss_mb=peak_rss_mb(),
    )
    print(
        f"  {wall:.1f} s ({', '.join(f'{s} {v:.1f} s' for s, v in stages.items())}); {run.figures}",
        flush=True,
    )
    return result


# --- The analyst's pages --------------------------------------------------------------------


@dataclass
class Page:
    path: str
    times_ms: list[float]
    bytes: int
    queries: int
    status: int
    notes: list[str] = field(default_factory=list)

    def cut(self, share: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.times_ms)


def page_timed(client, path: str, *, warmups: int, renders: int) -> Page:
    """`renders` GETs of `path` after `warmups`, and the SQL queries of one more."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmups):
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"GET {path} answered {response.status_code}")
    times = []
    for _ in range(renders):
        started = time.perf_counter()
        response = client.get(path)
        body = response.content  # a streamed answer counts once read
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return Page(path, times, len(body), len(queries), response.status_code)


def pages_timed(analyst, *, warmups: int, renders: int) -> list[Page]:
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    client.cookies.load(sign_in(analyst.user))
    pages = [
        page_timed(client, DASHBOARD_PATH, warmups=warmups, renders=renders),
        page_timed(client, CSV_PATH, warmups=2, renders=max(renders // 2, 1)),
        page_timed(client, DRILLDOWN_PATH, warmups=2, renders=max(renders // 5, 1)),
    ]
    listed = client.get(DRILLDOWN_PATH).content.decode().count("?purpose=commissioning")
    pages[2].notes.append(f"{listed} people listed on the page")
    return pages


# --- Figures --------------------------------------------------------------------------------


def scoring_day() -> date:
    """The day after the newest event in the records: the synthetic set is a snapshot taken
    then, so scoring on that day gives the same figures whenever the benchmark runs (on the
    calendar's today, every look-back would empty a little more each month)."""
    from datetime import timedelta

    from django.db.models import Max

    from agencies.models import SourceRecord

    newest = SourceRecord.objects.filter(is_retired=False).aggregate(day=Max("event_date"))["day"]
    return newest + timedelta(days=1)


def counts() -> dict[str, int]:
    from agencies.models import SourceRecord
    from matching.models import Person
    from risk.models import HouseholdRisk, PersonRisk, RiskFinding

    return {
        "records": SourceRecord.objects.filter(is_retired=False).count(),
        "persons": Person.objects.filter(is_active=True, merged_into__isnull=True).count(),
        "findings": RiskFinding.objects.count(),
        "persons_scored": PersonRisk.objects.count(),
        "persons_above_0": PersonRisk.objects.filter(score__gt=0).count(),
        "households_scored": HouseholdRisk.objects.count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--renders", type=int, default=50, help="timed dashboard renders")
    parser.add_argument("--warmup", type=int, default=5, help="untimed dashboard renders")
    parser.add_argument("--practitioners", type=int, default=PRACTITIONERS)
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        help="the day the runs score for (default: the day after the newest record's event)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database if it already holds the records"
    )
    parser.add_argument("--database-url", help="default: sharehub_bench on the bench server")
    args = arguments(
        parser,
        smoke_sizes={"records": SMOKE_RECORDS, "renders": 2, "warmup": 1, "practitioners": 1},
    )
    url = args.database_url or postgres_url()
    people = int(args.records / RECORDS_PER_PERSON)
    linked, load_minutes = records_ensure(url, args.records, reuse=args.reuse)

    # Notification emails go nowhere: the console backend would print one per recipient.
    env = server_env(url, keys_dir(people)) | {"EMAIL_URL": "dummymail://"}
    django_setup(env)
    agencies = agencies_by_code()
    practitioners_ensure(agencies, args.practitioners)
    analyst = analyst_ensure(agencies)
    setup = risk_ensure(agencies)
    risk_reset()
    # This machine's PostgreSQL runs without autovacuum; a server would have analysed the
    # tables before a load and between two nights.
    analyse(url)
    today = args.today or scoring_day()
    first = enrich_timed("first (cold)", today=today)
    after_first = counts()
    analyse(url)
    second = enrich_timed("second (steady)", today=today)
    after_second = counts()
    pages = pages_timed(analyst, warmups=args.warmup, renders=args.renders)
    result = {
        "linked": linked,
        "load_minutes": load_minutes,
        "setup": setup,
        "today": today,
        "runs": [vars(first), vars(second)],
        "counts": [after_first, after_second],
        "pages": [vars(p) for p in pages],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "enrich-result.json").write_text(json.dumps(result, indent=1, default=str))
    report(args, linked=linked, load_minutes=load_minutes, setup=setup, today=today,
           runs=[first, second], counts_after=[after_first, after_second], pages=pages)  # fmt: skip
    if second.raised_again:
        raise SystemExit(f"the second run raised {second.raised_again} score alerts again")


def report(
    args,
    *,
    linked: int,
    load_minutes: float | None,
    setup: dict[str, int],
    today: date,
    runs: list[Run],
    counts_after: list[dict[str, int]],
    pages: list[Page],
) -> None:
    first, second = runs
    dashboard = pages[0]
    runs_met = all(r.wall < TARGET_RUN_SECONDS for r in runs)
    dashboard_met = dashboard.cut(0.95) < TARGET_DASHBOARD_MS
    dedup = "held" if not second.raised_again else "broken"
    lines = [
        f"first (cold) run: {first.wall:.1f} s; second (steady) run: {second.wall:.1f} s; "
        f"target < {TARGET_RUN_SECONDS} s each: {'met' if runs_met else 'not met'}",
        f"dashboard: p50 {dashboard.p50:.0f} ms, p95 {dashboard.cut(0.95):.0f} ms, max "
        f"{max(dashboard.times_ms):.0f} ms over {len(dashboard.times_ms)} renders; target "
        f"< {TARGET_DASHBOARD_MS} ms: {'met' if dashboard_met else 'not met'}",
        f"second run raised {second.figures.get('alerts', {}).get('raised', 0)} alerts, "
        f"{second.raised_again} of them for a score rule and person whose alert from the first "
        f"run was still ongoing (de-duplication: {dedup})",
        f"peak RSS of the benchmark process: {first.peak_rss_mb:.0f} MB after the first run, "
        f"{second.peak_rss_mb:.0f} MB after the second",
    ]
    print("\n".join(lines))
    command = (
        f"python -m bench.enrich --records {args.records}"
        + (f" --today {args.today}" if args.today else "")
        + (" --reuse" if args.reuse else "")
    )
    origin = (
        f"loaded through the production path in this run ({load_minutes:.1f} minutes)"
        if load_minutes is not None
        else "loaded through the production path by an earlier run and kept (`--reuse`)"
    )

    day_origin = (
        "the day given with `--today`"
        if args.today
        else "the day after the newest record's event, when the synthetic set was taken, so that "
        "the figures do not drift with the calendar"
    )

    def stage_row(name: str) -> str:
        cells = [f"{r.stages[name]:.1f}" for r in runs]
        return f"| {name} | {' | '.join(cells)} |"

    other = [max(r.wall - sum(r.stages.values()), 0.0) for r in runs]
    run_rows = "\n".join(
        [stage_row(name) for name in STAGES]
        + [
            f"| other (lock, run row) | {other[0]:.1f} | {other[1]:.1f} |",
            f"| **whole run** | **{first.wall:.1f}** | **{second.wall:.1f}** |",
        ]
    )

    def alerts(run: Run, key: str) -> int:
        return int(run.figures.get("alerts", {}).get(key, 0))

    count_rows = "\n".join(
        [
            f"| live records | {counts_after[0]['records']:,} | {counts_after[1]['records']:,} |",
            f"| findings written | {first.figures.get('findings', 0):,} | "
            f"{second.figures.get('findings', 0):,} |",
            f"| persons scored (with a finding) | {first.figures.get('persons_scored', 0):,} | "
            f"{second.figures.get('persons_scored', 0):,} |",
            f"| of them scoring above 0 today | {counts_after[0]['persons_above_0']:,} | "
            f"{counts_after[1]['persons_above_0']:,} |",
            f"| households scored | {counts_after[0]['households_scored']:,} | "
            f"{counts_after[1]['households_scored']:,} |",
            f"| alerts raised | {alerts(first, 'raised'):,} | {alerts(second, 'raised'):,} |",
            f"| alerts ended | {alerts(first, 'ended'):,} | {alerts(second, 'ended'):,} |",
            f"| deliveries | {alerts(first, 'delivered'):,} | {alerts(second, 'delivered'):,} |",
            f"| notifications | {first.notifications:,} | {second.notifications:,} |",
            f"| peak RSS so far | {first.peak_rss_mb:.0f} MB | {second.peak_rss_mb:.0f} MB |",
        ]
    )
    rules = sorted(set(first.raised_by_rule) | set(second.raised_by_rule))
    rule_rows = "\n".join(
        f"| {name} | {first.raised_by_rule.get(name, 0):,} | "
        f"{second.raised_by_rule.get(name, 0):,} |"
        for name in rules
    )
    page_rows = "\n".join(
        f"| `GET {p.path}` | {len(p.times_ms)} | {p.p50:.0f} | {p.cut(0.95):.0f} | "
        f"{max(p.times_ms):.0f} | {p.bytes / 1024:.1f} KB | {p.queries} | "
        f"{'; '.join(p.notes) or '-'} |"
        for p in pages
    )
    record(
        "Enrichment: scores, alerts and dashboards (issue 7)",
        f"""
`{command}` (part of `make bench`).

The database holds {linked:,} linked records, the synthetic people of bench.linkage_speed in
five agencies' datasets,
{origin},
in the database and with the keys bench.summary_load uses. In the benchmark process, with the
production settings (`SHAREHUB_PRODUCTION=true`, DEBUG off): the demo partnership's
{setup["indicators"]} indicators and {setup["rules"]} alert rules
(`synthetic.demo.demo_risk_ensure`); {setup["subscribers"]} practitioners of children's social
care and police subscribed to every rule ({setup["subscriptions"]} subscriptions), who hold a
safeguarding protocol showing every dataset; and an analyst holding a commissioning protocol
(summary tier on every dataset). Findings, scores, alerts, profiles and snapshots of earlier
runs are emptied first, and the database is vacuumed and analysed before each run (this
machine's PostgreSQL runs with autovacuum off; a server would have done it overnight). Then
`risk.services.enrich_run(kind=NIGHTLY, today={today})` runs twice; {today} is {day_origin}.
The first run finds every indicator in every live record and raises every alert for the first
time; the second finds the same again, rescores, and must raise no alert twice. Stage seconds
are the run's own (`RiskRun.figures`); the whole run is timed around the call. Other people's
tests shared the machine's 2 cores during the runs.

{chr(10).join("- " + line for line in lines)}

| stage (seconds) | first run (cold) | second run (steady) |
| --- | --- | --- |
{run_rows}

| counts | first run | second run |
| --- | --- | --- |
{count_rows}

Alerts raised, by rule:

| rule | first run | second run |
| --- | --- | --- |
{rule_rows}

The analyst's pages, after the second run, through Django's test client in-process (the whole
request: session, middleware, view and template, but no server or network in front), signed in
as a user signs in (password, then the authentication app's code); {args.warmup} untimed renders
of the dashboard first, 2 of the others. Queries are those of one more request, counted with
`CaptureQueriesContext`.

| request | renders | p50 ms | p95 ms | max ms | size | SQL queries | notes |
| --- | --- | --- | --- | --- | --- | --- | --- |
{page_rows}
""",
    )


if __name__ == "__main__":
    main()
