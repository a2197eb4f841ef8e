"""Retention erasure at scale: a night's retention run removing a share of every dataset's records.

Run: python -m bench.erasure [--records 200000] [--expire-share 0.10] [--reuse]
[--database-url URL] [--smoke].
Issue 8 sets no target; the figures are stated as measured.

The records are bench.summary_load's synthetic set, loaded and linked through the production path,
but into a database of this benchmark's own (sharehub_bench_erasure): an erasure consumes the
records it removes, and the 1M-record database the other benchmarks reuse must survive it. A
database this benchmark already erased from holds too few linked records for `--reuse`, so the
next run loads afresh. In this process, with the production settings: the demo partnership's
indicators and alert rules and bench.enrich's subscribed practitioners, then one nightly
risk.services.enrich_run, so that findings, scores and alerts exist to be erased. Then one UPDATE
ages `--expire-share` of all records (those whose id ends in the lowest digits, so every dataset
loses its share) to 60 days old, and every dataset they belong to keeps records for 30 days.
retention.services.erasure_perform then runs a retention run end to end; the stage it is in is
timed where the run records it (retention.services._stage), and its main steps by wrapping them.
"""

import argparse
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from urllib.parse import urlparse

from bench.common import SMOKE_RECORDS, arguments, database_name, peak_rss_mb, postgres_url, record
from bench.enrich import agencies_by_code, practitioners_ensure, risk_ensure, scoring_day
from bench.linkage_runner import RECORDS_PER_PERSON
from bench.summary_load import analyse, django_setup, keys_dir, records_ensure, server_env

RETENTION_DAYS = 30
AGE_DAYS = 60
PRACTITIONERS = 2  # in each of children's social care and police, so that alerts are delivered
STAGES = ("retiring", "relinking", "removing", "rescoring", "finishing")
# The steps of retention.services timed by wrapping them, and the stage each belongs to.
STEPS = {
    "_retire": "retiring",
    "linkage_run": "relinking",
    "_delete_batch": "removing",
    "_alerts_trim": "removing",
    "_quarantine_delete": "removing",
    "_persons_empty": "removing",
    "enrich_run": "rescoring",
}
SLOW_QUERY_SECONDS = 1.0
CHUNK = 5_000  # ids per query when counting rows of the aged records


def erasure_url() -> str:
    """The benchmark's own database, beside the one the others reuse: sharehub_bench_erasure."""
    return postgres_url(f"{database_name()}_erasure")


# --- Counting -------------------------------------------------------------------------------


def models_counted() -> dict:
    from agencies.models import SourceRecord
    from alerts.models import Alert
    from matching.models import LinkageRecord, SearchKey
    from risk.models import PersonRisk, RiskFinding

    return {
        "SourceRecord": SourceRecord,
        "LinkageRecord": LinkageRecord,
        "SearchKey": SearchKey,
        "RiskFinding": RiskFinding,
        "Alert": Alert,
        "PersonRisk": PersonRisk,
    }


def rows() -> dict[str, int]:
    return {name: model.objects.count() for name, model in models_counted().items()}


def rows_of(ids: list[int]) -> dict[str, int]:
    """Rows made from the records `ids`, by model."""
    found: Counter = Counter()
    models = models_counted()
    lookups = {
        "SourceRecord": "pk__in",
        "LinkageRecord": "record_id__in",
        "SearchKey": "record_id__in",
        "RiskFinding": "record_id__in",
        "Alert": "record_id__in",
    }
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for name, lookup in lookups.items():
            found[name] += models[name].objects.filter(**{lookup: chunk}).count()
    return {name: found[name] for name in lookups}


# --- Ageing ---------------------------------------------------------------------------------


def records_age(share: float) -> tuple[list[int], dict[str, int]]:
    """Age `share` of all records to AGE_DAYS old in one UPDATE and give every dataset they
    belong to a RETENTION_DAYS period. The aged ids, and how many records each dataset lost."""
    from django.db import connection, transaction
    from django.utils import timezone

    from agencies.models import Dataset, SourceRecord

    now = timezone.now()
    per_mille = round(share * 1000)
    table = SourceRecord._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET updated_at = %s WHERE mod(id, 1000) < %s "  # noqa: S608
            "RETURNING id, dataset_id",
            [now - timedelta(days=AGE_DAYS), per_mille],
        )
        aged = cursor.fetchall()
        datasets = sorted({dataset_id for _, dataset_id in aged})
        Dataset.objects.filter(pk__in=datasets).update(retention_days=RETENTION_DAYS)
        # A dataset's period applies to all its records: the others must be recent, as they are
        # after a load; one sent long ago (an old --reuse database) is made current again.
        cursor.execute(
            f"UPDATE {table} SET updated_at = %s WHERE dataset_id = ANY(%s) "  # noqa: S608
            "AND updated_at < %s AND mod(id, 1000) >= %s",
            [now, datasets, now - timedelta(days=RETENTION_DAYS - 1), per_mille],
        )
        stale = cursor.rowcount
    if stale:
        print(f"  {stale:,} older un-aged records made current", flush=True)
    by_dataset = Counter(dataset_id for _, dataset_id in aged)
    names = dict(
        Dataset.objects.filter(pk__in=datasets).values_list("pk", "agency__code").order_by()
    )
    per_dataset = {names[pk]: n for pk, n in sorted(by_dataset.items())}
    return sorted(record_id for record_id, _ in aged), per_dataset


# --- The timed run --------------------------------------------------------------------------


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux clear_refs), so the next reading is the erasure's own
    rather than the set-up's enrichment run's. False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as control:
            control.write("5")
    except OSError:
        return False
    return True


def erasure_timed(*, today: date) -> dict:
    """One retention run through retention.services.erasure_perform, timed as a whole, per stage
    (from the moment the run records it enters one to the next) and per step, with the peak RSS
    of each stage and every SQL statement this process sent that took longer than
    SLOW_QUERY_SECONDS. Its rescoring scores for `today`, the set-up's day, so that alerts end
    because records went, not because the calendar moved on from the synthetic set's day."""
    from django.db import connection

    from matching.models import LinkageRun
    from retention import services
    from retention.models import ErasureRun
    from risk.models import RiskRun

    marks: list[tuple[str, float]] = []
    peaks: dict[str, float] = {}
    steps: dict[str, float] = defaultdict(float)
    slow: list[tuple[float, str]] = []
    originals = {name: getattr(services, name) for name in [*STEPS, "_stage", "_finish"]}

    def mark(stage: str) -> None:
        if marks:
            peaks[marks[-1][0]] = peak_rss_mb()
            reset_peak_rss()
        marks.append((stage, time.perf_counter()))

    def stage_marked(run, stage, *args):
        if not marks or marks[-1][0] != stage:
            mark(stage)
        originals["_stage"](run, stage, *args)

    def finish_marked(run, figures):
        mark("finishing")
        originals["_finish"](run, figures)

    def step_timed(name):
        def timed(*args, **kwargs):
            if name == "enrich_run":
                kwargs.setdefault("today", today)
            started = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                steps[name] += time.perf_counter() - started

        return timed

    def query_timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seconds = time.perf_counter() - started
            if seconds >= SLOW_QUERY_SECONDS:
                slow.append((seconds, " ".join(sql.split())))

    services._stage = stage_marked
    services._finish = finish_marked
    for name in STEPS:
        setattr(services, name, step_timed(name))
    reset = reset_peak_rss()
    try:
        run = services.retention_run_start()
        print(f"erasure {run.pk}...", flush=True)
        with connection.execute_wrapper(query_timed):
            started = time.perf_counter()
            run = services.erasure_perform(erasure_id=run.pk)
            ended = time.perf_counter()
        if marks:
            peaks[marks[-1][0]] = peak_rss_mb()
    finally:
        for name, original in originals.items():
            setattr(services, name, original)
    stages = {stage: 0.0 for stage in STAGES}
    bounds = [*marks, ("end", ended)]
    for (stage, at), (_, until) in zip(bounds, bounds[1:], strict=False):
        stages[stage] += until - at
    run = ErasureRun.objects.get(pk=run.pk)
    linkage = LinkageRun.objects.filter(pk=run.figures.get("linkage_run")).first()
    risk = RiskRun.objects.filter(pk=run.figures.get("risk_run")).first()
    result = {
        "run": run,
        "wall": ended - started,
        "before_first_stage": (marks[0][1] if marks else ended) - started,
        "stages": stages,
        "peaks": peaks,
        "steps": dict(steps),
        "linkage_figures": linkage.figures if linkage else {},
        "risk_figures": risk.figures if risk else {},
        "slow": sorted(slow, reverse=True),
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_reset": reset,
    }
    print(
        f"  {result['wall']:.1f} s ({', '.join(f'{s} {v:.1f} s' for s, v in stages.items())}); "
        f"{run.status}; {run.figures}",
        flush=True,
    )
    return result


# --- Main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--expire-share", type=float, default=0.10)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database if it already holds the records"
    )
    parser.add_argument(
        "--database-url", help="default: sharehub_bench_erasure on the bench server"
    )
    args = arguments(parser, smoke_sizes={"records": SMOKE_RECORDS})
    url = args.database_url = args.database_url or erasure_url()
    if urlparse(url).path.lstrip("/") == urlparse(postgres_url()).path.lstrip("/"):
        raise SystemExit("the erasure would consume the database the other benchmarks reuse")
    people = int(args.records / RECORDS_PER_PERSON)
    linked, load_minutes = records_ensure(url, args.records, reuse=args.reuse)

    env = server_env(url, keys_dir(people)) | {"EMAIL_URL": "dummymail://"}
    django_setup(env)
    from risk.models import RiskFinding, RiskRun
    from risk.services import enrich_run

    agencies = agencies_by_code()
    practitioners_ensure(agencies, PRACTITIONERS)
    setup = risk_ensure(agencies)
    analyse(url)
    today = scoring_day()
    if not RiskFinding.objects.exists():
        print(f"nightly enrichment for {today}...", flush=True)
        started = time.perf_counter()
        enrich_run(kind=RiskRun.Kind.NIGHTLY, today=today)
        print(f"  {time.perf_counter() - started:.1f} s", flush=True)
    before = rows()
    print(f"rows before: {before}", flush=True)

    print(f"ageing {args.expire_share:.0%} of the records...", flush=True)
    aged, per_dataset = records_age(args.expire_share)
    of_aged_before = rows_of(aged)
    print(f"  {len(aged):,} aged: {per_dataset}; their rows {of_aged_before}", flush=True)
    from retention.services import expired_records

    expired = expired_records().count()
    analyse(url)  # as autovacuum would have after the day's loads, on a server

    erasure = erasure_timed(today=today)
    after = rows()
    of_aged_after = rows_of(aged)
    print(f"rows after: {after}; of the aged records {of_aged_after}", flush=True)
    report(
        args,
        linked=linked,
        load_minutes=load_minutes,
        setup=setup,
        aged=len(aged),
        expired=expired,
        per_dataset=per_dataset,
        before=before,
        after=after,
        of_aged_before=of_aged_before,
        of_aged_after=of_aged_after,
        erasure=erasure,
        today=today,
    )


def report(
    args,
    *,
    linked: int,
    load_minutes: float | None,
    setup: dict[str, int],
    aged: int,
    expired: int,
    per_dataset: dict[str, int],
    before: dict[str, int],
    after: dict[str, int],
    of_aged_before: dict[str, int],
    of_aged_after: dict[str, int],
    erasure: dict,
    today: date,
) -> None:
    from retention.models import ErasureStatus
    from retention.services import FIGURE_LABELS

    run = erasure["run"]
    figures = run.figures
    erased = int(figures.get("records", 0))
    left = {name: n for name, n in of_aged_after.items() if n}
    checks = {
        "the run finished": run.status == ErasureStatus.DONE,
        f"records found expired before the run ({expired:,}) = records aged ({aged:,})": (
            expired == aged
        ),
        f"records erased ({erased:,}) = records aged ({aged:,})": erased == aged,
        "no SourceRecord, LinkageRecord, SearchKey, RiskFinding or Alert row of an aged record "
        "remains" + (f" (left: {left})" if left else ""): not left,
        f"SourceRecord rows fell by the records aged ({before['SourceRecord']:,} - {aged:,} = "
        f"{after['SourceRecord']:,})": before["SourceRecord"] - aged == after["SourceRecord"],
    }
    verified = all(checks.values())
    wall = erasure["wall"]
    peaks = erasure["peaks"]
    max_peak = max([erasure["peak_rss_mb"], *peaks.values()])
    linkage = erasure["linkage_figures"]
    risk_alerts = erasure["risk_figures"].get("alerts", {})
    scale = 1_000_000 / linked if linked else 0
    lines = [
        f"retention run erasing {erased:,} of {before['SourceRecord']:,} records "
        f"({args.expire_share:.0%}): {wall:.1f} s end to end "
        f"({erased / wall if wall else 0:,.0f} records erased a second); no target set",
        f"peak RSS of the benchmark process during the erasure: {max_peak:.0f} MB, in "
        f"{max(peaks, key=peaks.get) if peaks else '-'}"
        + ("" if erasure["peak_rss_reset"] else " (could not reset: the process's peak so far)"),
        f"verification: {'passed' if verified else 'FAILED'}",
        f"estimate, by proportion only (not measured): a 1,000,000-record night erasing the same "
        f"share would take about {wall * scale / 60:.1f} minutes, assuming every stage grows "
        f"linearly with the records; relinking grows with the region re-clustered and its "
        f"candidate pairs, which need not grow linearly",
    ]
    if linkage:
        lines.insert(
            1,
            f"relinking re-clustered a region of {linkage.get('region_records', 0):,} of the "
            f"{linkage.get('records', 0):,} remaining records "
            f"({linkage.get('candidate_pairs', 0):,} candidate pairs, "
            f"{linkage.get('blocks_skipped_as_too_big', 0)} blocks skipped as too big; "
            f"{linkage.get('persons_split', 0)} persons split, "
            f"{linkage.get('persons_merged', 0)} merged)",
        )
    print("\n".join(lines))
    command = (
        f"python -m bench.erasure --records {args.records} --expire-share {args.expire_share:g}"
        + (" --reuse" if args.reuse else "")
    )
    origin = (
        f"loaded and linked through the production path in this run ({load_minutes:.1f} minutes)"
        if load_minutes is not None
        else "loaded and linked through the production path by an earlier run and kept (`--reuse`)"
    )
    steps = erasure["steps"]
    stage_rows = [f"| lock and run row | {erasure['before_first_stage']:.1f} | | |"]
    for stage in STAGES:
        inside = [f"`{name}` {steps[name]:.1f} s" for name in STEPS if STEPS[name] == stage]
        if stage == "relinking":
            inside += [
                f"{key.removesuffix('_seconds')} {value:.1f} s"
                for key, value in erasure["linkage_figures"].items()
                if key.endswith("_seconds") and value >= 0.05
            ]
        if stage == "rescoring":
            inside += [
                f"{key.removeprefix('seconds_')} {value:.1f} s"
                for key, value in erasure["risk_figures"].items()
                if key.startswith("seconds_")
            ]
            if risk_alerts:
                inside.append(
                    f"alerts raised {risk_alerts.get('raised', 0):,}, "
                    f"ended {risk_alerts.get('ended', 0):,}"
                )
        notes = "; ".join(inside) or ("`_finish`, the audit entry" if stage == "finishing" else "")
        peak = f"{peaks[stage]:.0f}" if stage in peaks else "-"
        stage_rows.append(f"| {stage} | {erasure['stages'][stage]:.1f} | {peak} | {notes} |")
    stage_rows.append(f"| **whole run** | **{wall:.1f}** | **{max_peak:.0f}** | |")
    removed_rows = "\n".join(
        f"| {label} (`{key}`) | {int(figures[key]):,} |"
        for key, label in FIGURE_LABELS.items()
        if key in figures
    )
    count_rows = "\n".join(
        f"| {name} | {before[name]:,} | {of_aged_before.get(name, '-'):,} | {after[name]:,} | "
        f"{of_aged_after.get(name, '-'):,} |"
        if name in of_aged_before
        else f"| {name} | {before[name]:,} | - | {after[name]:,} | - |"
        for name in before
    )
    spread = ", ".join(f"{code} {n:,}" for code, n in per_dataset.items())
    check_rows = "\n".join(f"- {'ok' if ok else 'FAILED'}: {text}" for text, ok in checks.items())
    slow_rows = "\n".join(
        f"| {seconds:.1f} | `{sql[:160]}{'...' if len(sql) > 160 else ''}` |"
        for seconds, sql in erasure["slow"][:8]
    )
    slow_part = (
        f"""
Statements this process sent during the run that took {SLOW_QUERY_SECONDS:g} s or more (Django's
`execute_wrapper`; COPY and other work outside the ORM's cursor is not seen), slowest first:

| seconds | statement (first 160 characters) |
| --- | --- |
{slow_rows}
"""
        if slow_rows
        else f"\nNo statement of the run took {SLOW_QUERY_SECONDS:g} s or more.\n"
    )
    record(
        "Retention erasure (issue 8)",
        f"""
`{command}` (part of `make bench`).

The database, `{urlparse(args.database_url).path.lstrip("/")}` (the benchmark's own: an erasure
consumes its records, so the 1M-record `{database_name()}` the other benchmarks reuse is never
touched), holds {linked:,} linked
records, the synthetic people of bench.linkage_speed in five agencies' datasets,
{origin}.
In the benchmark process, with the production settings: the demo partnership's
{setup["indicators"]} indicators and {setup["rules"]} alert rules, {setup["subscribers"]}
practitioners subscribed to them, and one nightly `enrich_run` so that findings, scores and
alerts exist. Then a single UPDATE sets `updated_at` to {AGE_DAYS} days ago on {aged:,} records
({args.expire_share:.0%} of all, those whose id modulo 1,000 is below
{round(args.expire_share * 1000)}, so that each dataset loses its share:
{spread}),
and each of those datasets keeps records for {RETENTION_DAYS} days; their other records were
loaded or sent within the period.
The database is vacuumed and analysed (this machine's PostgreSQL runs with autovacuum off), then
`retention_run_start()` and `erasure_perform(erasure_id=...)` run as the nightly task runs them.
Stage seconds run from the moment the run records it entered a stage (`_stage`) to the next;
the steps named inside a stage are timed by wrapping those functions of retention.services, and
linkage's and scoring's own stage seconds come from their runs' figures. Peak RSS is this
process's, reset (Linux `clear_refs`) as each stage starts, so each is that stage's own; the
enrichment before the run does not count. Both the set-up's nightly run and the erasure's
rescoring score for {today}, the day after the newest event (as bench.enrich does): the wrapper
passes that day to the `enrich_run` the service calls, which would otherwise score for the
calendar's today and end alerts because the synthetic set's day is months past, not because
records went. Other people's tests may have shared the machine's 2 cores.

{chr(10).join("- " + line for line in lines)}

| stage | seconds | peak RSS MB | of which |
| --- | --- | --- | --- |
{chr(10).join(stage_rows)}

Rows removed, by kind (`ErasureRun.figures`):

| kind | rows |
| --- | --- |
{removed_rows}

Rows before and after, in all and of the aged records (counted by their ids):

| table | before | of aged, before | after | of aged, after |
| --- | --- | --- | --- | --- |
{count_rows}

Verification:

{check_rows}
{slow_part}""",
    )
    if not verified:
        raise SystemExit("the erasure left rows of the aged records or erased the wrong number")


if __name__ == "__main__":
    main()
