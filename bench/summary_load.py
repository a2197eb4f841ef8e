"""Case summaries under load: practitioners reading summaries through gunicorn on PostgreSQL.

Run: python -m bench.summary_load [--records 1000000] [--users 20] [--requests 200] [--reuse]
[--smoke].
Target (issue 5), this 2-core machine: with 1,000,000 records loaded, 20 concurrent users on
loopback reading case summaries: p95 under 150 ms, zero errors.

The records are the synthetic set bench.linkage_speed uses, loaded the same way (the production
path, in bench.linkage_child) into a fresh database, then vacuumed and analysed; `--reuse` keeps a
database that already holds them, such as the one bench.linkage_speed leaves behind. In this
process: a protocol version in force giving practitioners full detail of every dataset, `--users`
practitioners holding it, each signed in as a user signs in (password, then the code of their
authentication app). gunicorn then serves the production settings on loopback, and one thread
per practitioner asks for summaries back to back (or `--think` seconds apart on average),
alternating the API and the page. The SQL queries of one summary are counted in-process for
persons with few and with many records.
"""

import argparse
import base64
import http.client
import ipaddress
import os
import random
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

from bench import common
from bench.common import OUT, ROOT, SMOKE_RECORDS, arguments, fresh_postgres, postgres_url, record
from bench.linkage_runner import RECORDS_PER_PERSON, synthetic_set

PURPOSE = "safeguarding"
API_PATH = "/api/v1/persons/{reference}/summary?purpose=" + PURPOSE
PAGE_PATH = "/persons/{reference}/?purpose=" + PURPOSE
PROTOCOL_NAME = "Bench: case summaries under load"
HEAVY = 20  # the persons with the most records, all in the sample
TYPICAL = 480  # and this many persons picked at random
HEAVY_SHARE = 0.1  # of requests, for one of the heavy persons
REUSE_SHARE = 0.99  # a set generated for N records holds N to within a fraction of a percent
SEED = 1
# gunicorn as docker-compose.yml runs it (gthread, 4 threads a worker) but with 2 workers, one a
# core: the best of 2 to 4 workers x 1 to 4 threads on this 2-core machine.
WORKERS = 2
THREADS = 4
KEEPALIVE = 2  # seconds gunicorn keeps an idle connection open (its default)


# --- The database ---------------------------------------------------------------------------


def _connect(url: str, dbname: str):
    import psycopg2

    parsed = urlparse(url)
    return psycopg2.connect(
        host=parsed.hostname, port=parsed.port or 5432, user=parsed.username,
        password=parsed.password, dbname=dbname,
    )  # fmt: skip


def linked_records(url: str) -> int:
    """Records linked to a person in the database at `url`; 0 when it or its tables are missing."""
    import psycopg2

    try:
        connection = _connect(url, urlparse(url).path.lstrip("/"))
    except psycopg2.OperationalError:
        return 0
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('matching_linkagerecord') IS NOT NULL")
            if not cursor.fetchone()[0]:
                return 0
            cursor.execute(
                "SELECT count(*) FROM matching_linkagerecord WHERE person_id IS NOT NULL"
            )
            return cursor.fetchone()[0]
    finally:
        connection.close()


def records_ensure(url: str, records: int, *, reuse: bool) -> tuple[int, float | None]:
    """The database at `url` holding about `records` linked records: kept when `reuse` and it
    already does, else loaded afresh. Returns the linked records and the minutes a load took."""
    linked = linked_records(url) if reuse else 0
    if linked >= records * REUSE_SHARE:
        print(f"reusing {urlparse(url).path.lstrip('/')}: {linked:,} linked records", flush=True)
        return linked, None
    started = time.perf_counter()
    load(url, int(records / RECORDS_PER_PERSON))
    return linked_records(url), (time.perf_counter() - started) / 60


def analyse(url: str) -> None:
    """VACUUM and ANALYZE the database, as autovacuum would soon after a load on a server with
    the default settings. This machine's PostgreSQL runs with autovacuum off (conf.d/90-ci.conf),
    and without statistics the planner takes a person's records for 20,000 rows and starts
    parallel workers for every summary."""
    connection = _connect(url, urlparse(url).path.lstrip("/"))
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    connection.close()


def keys_dir(people: int) -> Path:
    """Where the development keys for the set of `people` live: bench.linkage_speed's directory
    for the same set, so that a database either benchmark loaded opens with these keys."""
    return OUT / f"var-linkage-speed-{people}"


def load(url: str, people: int) -> None:
    """A fresh database at `url` holding the synthetic set of `people`, ingested and linked
    through the production path by bench.linkage_child, as bench.linkage_speed does."""
    population = synthetic_set(people)
    name = urlparse(url).path.lstrip("/")
    fresh_postgres(url)
    var_dir = keys_dir(people)
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {
        "DATABASE_URL": url,
        "SHAREHUB_VAR_DIR": str(var_dir),
        "SHAREHUB_LOG_LEVEL": "WARNING",
    }
    out = var_dir / f"load-{name}.json"
    print(f"loading {population.name} into {name}...", flush=True)
    command = [sys.executable, "-m", "bench.linkage_child", str(population), "--out", str(out)]
    if subprocess.run(command, cwd=ROOT, env=env).returncode:  # noqa: S603
        raise SystemExit("loading the synthetic set failed")


# --- In-process set-up: protocol, practitioners, sessions, persons, query counts -------------


def server_env(url: str, var_dir: Path) -> dict[str, str]:
    """The environment gunicorn runs with, and this process too, so that the sessions signed in
    here are ones the server accepts: production settings (DEBUG off, manifest static files,
    secure cookies), plain HTTP on loopback behind a TLS proxy, as in docker-compose.yml.

    The keys are the development ones the load left in `var_dir`, which the records were sealed
    and the audit trail chained with; production refuses to start without an audit and an
    ingest key, so either is made there, as development would, when the load needed none."""
    keys_ensure(var_dir)
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {
        "DATABASE_URL": url,
        "SHAREHUB_PRODUCTION": "true",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_BEHIND_TLS_PROXY": "true",
        "SHAREHUB_VAR_DIR": str(var_dir),
        "SHAREHUB_MASTER_KEYS_FILE": str(var_dir / "dev-master-keys"),
        "SHAREHUB_LINKAGE_KEY_FILE": str(var_dir / "dev-linkage-key"),
        "SHAREHUB_AUDIT_KEY_FILE": str(var_dir / "dev-audit-key"),
        "SHAREHUB_INGEST_KEYS_FILE": str(var_dir / "dev-ingest-keys"),
        "DJANGO_STATIC_ROOT": os.environ.get("BENCH_STATIC_ROOT")
        or str(OUT / "static-summary-load"),
        "SHAREHUB_LOG_LEVEL": "WARNING",
    }


def keys_ensure(var_dir: Path) -> None:
    """An audit key and an ingest key pair in `var_dir` unless there already, in the format and
    file development makes them in (core.keys)."""
    from sharehub_bridge.envelope import b64encode, private_key_new

    made = {
        "dev-audit-key": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "dev-ingest-keys": lambda: b64encode(private_key_new()),
    }
    for name, key in made.items():
        path = var_dir / name
        if not path.exists():
            path.write_text(f"1:{key()}")
            path.chmod(0o600)


@dataclass
class Setup:
    cookies: list[str]  # one signed-in session cookie per practitioner
    heavy: list[tuple[str, int]]  # (reference, records) of the persons with the most records
    typical: list[str]
    queries: dict[str, dict]  # for the persons with the "fewest" and "most" records


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharehub.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # BENCH_STATIC_ROOT: collected already for this code, once for all of a smoke test's runs
    # (compressing every file takes half a minute).
    if not os.environ.get("BENCH_STATIC_ROOT"):
        call_command("collectstatic", interactive=False, verbosity=0)


def readers_create(count: int) -> list[tuple]:
    """A protocol version in force giving practitioners of every agency full detail of every
    dataset for safeguarding, and `count` practitioners holding it, spread over the agencies.
    A second run finds and tops up what the first made. (user, membership) pairs."""
    from guardian.shortcuts import assign_perm

    from accounts.models import User
    from agencies.models import Agency, Dataset, Membership, Role
    from protocols.models import (
        ConsentRule,
        DatasetRule,
        Protocol,
        ProtocolGrant,
        ProtocolVersion,
        Tier,
        VersionStatus,
    )

    agencies = list(Agency.objects.filter(is_active=True).order_by("code"))
    author, _ = User.objects.get_or_create(
        email="bench-ig@bench.invalid", defaults={"full_name": "Bench IG officer"}
    )
    version = ProtocolVersion.objects.filter(name=PROTOCOL_NAME).first()
    if version is None:
        protocol = Protocol.objects.create(created_by=author, owner_agency=agencies[0])
        version = ProtocolVersion.objects.create(
            protocol=protocol,
            number=1,
            name=PROTOCOL_NAME,
            purpose=PURPOSE,
            lawful_basis="UK GDPR Art 6(1)(e); Children Act 1989 s47",
            roles=[Role.PRACTITIONER],
            valid_from=date(2020, 1, 1),
            status=VersionStatus.ACTIVE,
            author=author,
        )
    version.parties.set(agencies)
    for dataset in Dataset.objects.filter(agency__in=agencies):
        DatasetRule.objects.get_or_create(
            version=version,
            dataset=dataset,
            defaults={"tier": Tier.FULL, "consent": ConsentRule.NONE},
        )
    pairs = []
    for number in range(count):
        user, _ = User.objects.get_or_create(
            email=f"bench-practitioner-{number:02d}@bench.invalid",
            defaults={"full_name": f"Bench practitioner {number:02d}"},
        )
        membership, _ = Membership.objects.get_or_create(
            user=user, agency=agencies[number % len(agencies)], role=Role.PRACTITIONER
        )
        assign_perm("protocols.use_protocol", user, version.protocol)
        # Given by the reader's own agency: the engine counts a grant only for that agency.
        ProtocolGrant.objects.get_or_create(
            protocol=version.protocol, user=user, agency=membership.agency
        )
        pairs.append((user, membership))
    return pairs


def sign_in(user, *, address: str = "127.0.0.1") -> str:
    """Sign `user` in as they would: the sign-in page with their email address and password,
    which django-axes' lockout and the sign-in rate limit see as they see anyone's, then the
    second factor's page with the code their authentication app shows. The cookie of the signed-in
    session. Through Django's test client in this process, as tests/test_security.py signs in;
    the session is in the database gunicorn reads. The user is given a new random password and,
    if they have none, an authentication app set up (a confirmed TOTP device) first."""
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.two_factor import DEVICE_NAME

    password = secrets.token_urlsafe(24)
    user.set_password(password)
    user.save(update_fields=["password"])
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name=DEVICE_NAME, confirmed=True, tolerance=settings.OTP_TOTP_TOLERANCE
        )
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR=address)
    answer = client.post(reverse("accounts:login"), {"username": user.email, "password": password})
    if answer.status_code != 302:
        raise SystemExit(f"signing in {user.email} answered {answer.status_code}")
    # The app's code now, or the next step's (within the tolerance) if a sign-in of this user
    # less than a step ago used it: a code is good once.
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if totp.t() <= device.last_t:
        totp.time += device.step
    answer = client.post(reverse("accounts:two_factor_verify"), {"code": f"{totp.token():06d}"})
    if answer.status_code != 302:
        raise SystemExit(f"the second factor of {user.email} answered {answer.status_code}")
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def persons_sample() -> tuple[list[tuple[str, int]], list[str], tuple[str, int]]:
    """The HEAVY persons with the most records, TYPICAL at random, and the person with the fewest
    records who has a household (as the heavy ones do, so that their query counts compare)."""
    from django.db.models import Count

    from matching.models import Person

    people = Person.objects.filter(is_active=True, merged_into__isnull=True)
    counted = people.annotate(n=Count("records")).filter(n__gt=0)
    heavy = list(counted.order_by("-n", "pk").values_list("reference", "n")[:HEAVY])
    fewest = counted.filter(household__isnull=False).order_by("n", "pk")
    typical = list(counted.order_by("?").values_list("reference", flat=True)[:TYPICAL])
    return heavy, typical, fewest.values_list("reference", "n")[0]


def queries_count(user, membership, reference: str, cookie: str) -> dict:
    """SQL queries for one summary: case_summary alone, and the whole API and page requests
    (session, user, membership, protocols, summary, audit entry), in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from protocols.summary import case_summary, person_by_reference

    # Once first, so that what a worker does once (content types, data keys) is not counted; then
    # with the person read again, as a request reads it.
    person = person_by_reference(reference)
    case_summary(user=user, membership=membership, person=person, purpose=PURPOSE, channel="api")
    person = person_by_reference(reference)
    with CaptureQueriesContext(connection) as summary_queries:
        found = case_summary(
            user=user, membership=membership, person=person, purpose=PURPOSE, channel="api"
        )
    if found is None:
        raise SystemExit(f"the bench protocol does not cover person {reference}")
    counts = {"case_summary": len(summary_queries), "records": len(found.view.records)}
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    client.cookies.load(cookie)
    for kind, path in (("api", API_PATH), ("page", PAGE_PATH)):
        with CaptureQueriesContext(connection) as request_queries:
            response = client.get(path.format(reference=reference))
        if response.status_code != 200:
            raise SystemExit(f"{kind} summary of {reference} answered {response.status_code}")
        counts[kind] = len(request_queries)
    return counts


def setup_make(users: int) -> Setup:
    from core.keys import SealError

    pairs = readers_create(users)
    # Each practitioner at a desk of their own, as the sign-in rate limit counts per address.
    cookies = [
        sign_in(user, address=str(ipaddress.ip_address("10.0.0.1") + number))
        for number, (user, _) in enumerate(pairs)
    ]
    heavy, typical, fewest = persons_sample()
    user, membership = pairs[0]
    try:
        queries = {
            label: queries_count(user, membership, reference, cookies[0])
            for label, reference in (("fewest", fewest[0]), ("most", heavy[0][0]))
        }
    except SealError:
        raise SystemExit(
            "the records do not open with the keys in bench/out: run again without --reuse"
        ) from None
    return Setup(cookies, heavy, typical, queries)


# --- gunicorn and the practitioners ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(connection: http.client.HTTPConnection, path: str, cookie: str = "") -> int:
    """GET `path` as a browser behind the TLS proxy would; the status, once the body is read."""
    headers = {"X-Forwarded-Proto": "https"} | ({"Cookie": cookie} if cookie else {})
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


def processes() -> dict[int, tuple[str, list[str]]]:
    """Every process: its command name and the fields of /proc/PID/stat after it."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name, rest = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            found[int(entry.name)] = (name.split("(", 1)[1], rest.split())
    return found


def tree_cpu(root: int | None) -> float:
    """CPU seconds used so far by process `root`, its children still running and the children
    it has reaped: all of gunicorn, or all of PostgreSQL, however often backends came and went."""
    total = 0
    for pid, (_, fields) in processes().items():
        if pid == root:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        elif int(fields[1]) == root:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def postmaster() -> int | None:
    """The local PostgreSQL server's first process: a postgres whose parent is not one."""
    found = processes()
    for pid, (name, fields) in found.items():
        if name == "postgres" and found.get(int(fields[1]), ("",))[0] != "postgres":
            return pid
    return None


def cpu_busy() -> float:
    """CPU seconds the whole machine has spent on anything but idling and waiting, so far."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def healthy(port: int) -> bool:
    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        return fetch(probe, "/healthz") == 200
    except OSError:
        return False
    finally:
        probe.close()


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int, threads: int):
    """gunicorn serving sharehub.wsgi on a free loopback port until the block ends: its port and
    its pid."""
    port = free_port()
    log = OUT / "summary-load-gunicorn.log"
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "sharehub.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(threads), "--timeout", "120",
        "--error-logfile", str(log),
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while not healthy(port):
            if server.poll() is not None:
                raise SystemExit(f"gunicorn exited with {server.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not answer within 60 s; see {log}")
            time.sleep(0.2)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class Result:
    kind: str  # "api" or "page"
    heavy: bool  # for one of the persons with the most records
    seconds: float
    status: int  # 0 when the connection failed


def practitioner(
    port: int, cookie: str, setup: Setup, *, seed: int, requests: int, think: float
) -> list[Result]:
    """One practitioner's `requests`, alternating the API and the page, one in 1/HEAVY_SHARE for
    one of the heavy persons; back to back, or `think` seconds apart on average.

    A connection idle for longer than gunicorn's keep-alive has been closed by the server; as a
    browser does, the request goes again on a new one (and its time counts from the first try).
    Any other failure to connect or answer is an error."""
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    idle_since = time.perf_counter()
    results = []
    for index in range(requests):
        heavy = rng.random() < HEAVY_SHARE
        reference = rng.choice(setup.heavy)[0] if heavy else rng.choice(setup.typical)
        kind = "api" if (index + seed) % 2 == 0 else "page"
        path = (API_PATH if kind == "api" else PAGE_PATH).format(reference=reference)
        started = time.perf_counter()
        stale = connection.sock is not None and started - idle_since >= KEEPALIVE
        try:
            status = fetch(connection, path, cookie)
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            status = 0
            if stale and isinstance(error, ConnectionError):  # RemoteDisconnected among them
                try:
                    status = fetch(connection, path, cookie)
                except (OSError, http.client.HTTPException):
                    connection.close()
        idle_since = time.perf_counter()
        results.append(Result(kind, heavy, idle_since - started, status))
        if think:
            time.sleep(rng.expovariate(1 / think))
    connection.close()
    return results


def load_run(
    port: int, setup: Setup, *, requests: int, phase: int, think: float = 0
) -> tuple[list[Result], float]:
    """Every practitioner at once, each in a thread of its own; their results, and the seconds
    from the first request to the last answer."""
    users = len(setup.cookies)
    started = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        futures = [
            pool.submit(
                practitioner,
                port,
                cookie,
                setup,
                seed=phase * users + n,
                requests=requests,
                think=think,
            )
            for n, cookie in enumerate(setup.cookies)
        ]
        results = [result for future in futures for result in future.result()]
    return results, time.perf_counter() - started


# --- Figures --------------------------------------------------------------------------------


def percentiles(results: list[Result]) -> tuple[float, float, float]:
    """p50, p95 and p99 in milliseconds (of a single request, its time for all three)."""
    times = [r.seconds for r in results] * (2 if len(results) == 1 else 1)
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def figures_row(label: str, results: list[Result], wall: float | None = None) -> str:
    if not results:  # a smoke run's few requests may miss one kind altogether
        return f"| {label} | 0 | - | - | - | - | - | 0 |"
    p50, p95, p99 = percentiles(results)
    rate = f"{len(results) / wall:.1f}" if wall else "-"
    return (
        f"| {label} | {len(results):,} | {p50:.0f} | {p95:.0f} | {p99:.0f} | "
        f"{max(r.seconds for r in results) * 1000:.0f} | {rate} | "
        f"{sum(r.status != 200 for r in results)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per user")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per user")
    parser.add_argument(
        "--think", type=float, default=0, help="mean seconds between a user's requests"
    )
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database if it already holds the records"
    )
    parser.add_argument("--database-url", help="default: sharehub_bench on the bench server")
    args = arguments(
        parser, smoke_sizes={"records": SMOKE_RECORDS, "users": 2, "requests": 4, "warmup": 1}
    )
    url = args.database_url or postgres_url()
    people = int(args.records / RECORDS_PER_PERSON)
    linked, load_minutes = records_ensure(url, args.records, reuse=args.reuse)
    analyse(url)

    env = server_env(url, keys_dir(people))
    django_setup(env)
    setup = setup_make(args.users)
    results, wall, cpu = measure(env, setup, args)
    report(args, linked=linked, load_minutes=load_minutes, setup=setup, results=results, wall=wall,
           cpu=cpu)  # fmt: skip
    failed = sorted({r.status for r in results if r.status != 200})
    if common.smoke and failed:
        # A handful of requests cannot overload anything: an error is a broken benchmark.
        raise SystemExit(f"smoke run: requests answered {failed}, not 200")


@dataclass
class Cpu:
    """CPU seconds used during the timed requests."""

    gunicorn: float
    postgres: float  # the local server, whoever it served
    client: float  # this process: the practitioners' threads
    machine: float  # everything, other people's work on the machine included


def measure(env: dict[str, str], setup: Setup, args) -> tuple[list[Result], float, Cpu]:
    """The timed requests under gunicorn, after a warm-up: their results, the seconds they took
    and the CPU they used."""
    database = postmaster()

    def snapshot(server: int) -> tuple[float, ...]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return tree_cpu(server), tree_cpu(database), usage.ru_utime + usage.ru_stime, cpu_busy()

    with gunicorn(env, workers=args.workers, threads=args.threads) as (port, server):
        load_run(port, setup, requests=args.warmup, phase=0)
        before = snapshot(server)
        results, wall = load_run(port, setup, requests=args.requests, phase=1, think=args.think)
        after = snapshot(server)
    return results, wall, Cpu(*(end - start for start, end in zip(before, after, strict=True)))


def report(
    args,
    *,
    linked: int,
    load_minutes: float | None,
    setup: Setup,
    results: list[Result],
    wall: float,
    cpu: Cpu,
) -> None:
    errors = sum(r.status != 200 for r in results)
    p50, p95, p99 = percentiles(results)
    met = p95 < 150 and not errors
    ms = 1000 / len(results)  # CPU seconds in all to milliseconds a request
    others = (cpu.machine - cpu.gunicorn - cpu.postgres - cpu.client) / wall
    heavy_records = [n for _, n in setup.heavy]
    fewest, most = setup.queries["fewest"], setup.queries["most"]
    statuses = sorted({r.status for r in results if r.status != 200})
    lines = [
        f"{len(results):,} requests in {wall:.1f} s = {len(results) / wall:.1f} per second; "
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms; {errors} errors"
        + (f" (statuses {statuses})" if statuses else ""),
        f"target p95 < 150 ms with no errors: {'met' if met else 'not met'}",
        f"SQL queries per summary (case_summary): {fewest['case_summary']} for a person with "
        f"{fewest['records']} record(s), {most['case_summary']} for one with {most['records']}",
        f"CPU per request: gunicorn {cpu.gunicorn * ms:.1f} ms, PostgreSQL "
        f"{cpu.postgres * ms:.1f} ms, load client {cpu.client * ms:.1f} ms; other work on the "
        f"machine meanwhile kept {others:.2f} of its {os.cpu_count()} cores busy",
    ]
    if not args.think:
        per_request = (cpu.gunicorn + cpu.postgres + cpu.client) * ms
        lines.append(
            f"with {args.users} requests always in flight the mean latency is {args.users} / "
            f"throughput = {args.users / len(results) * wall * 1000:.0f} ms (Little's law), and "
            f"{per_request:.1f} ms of CPU a request caps throughput on {os.cpu_count()} cores at "
            f"{os.cpu_count() * 1000 / per_request:.0f} a second"
        )
    print("\n".join(lines))
    command = (
        f"python -m bench.summary_load --records {args.records} --users {args.users} "
        f"--requests {args.requests}"
        + (f" --think {args.think:g}" if args.think else "")
        + (" --reuse" if args.reuse else "")
    )
    rows = [
        figures_row("all", results, wall),
        figures_row("API (JSON)", [r for r in results if r.kind == "api"]),
        figures_row("page (HTML)", [r for r in results if r.kind == "page"]),
        figures_row(f"{HEAVY} persons with most records", [r for r in results if r.heavy]),
        figures_row(f"{TYPICAL} persons at random", [r for r in results if not r.heavy]),
    ]
    queries = "\n".join(
        f"| {label} | {q['records']} | {q['case_summary']} | {q['api']} | {q['page']} |"
        for label, q in (("fewest records, in a household", fewest), ("most records", most))
    )
    origin = (
        f"loaded through the production path as there in this run ({load_minutes:.0f} minutes)"
        if load_minutes is not None
        else "loaded through the production path as there by an earlier run and kept (`--reuse`)"
    )
    pacing = (
        f"with pauses of {args.think:g} s on average between a user's requests"
        if args.think
        else f"back to back with no pause, so that {args.users} are always in flight"
    )
    record(
        "Case summaries under load (issue 5)",
        f"""
`{command}` (part of `make bench`).

The database holds {linked:,} linked records, the synthetic people of bench.linkage_speed in five
agencies' datasets,
{origin},
then vacuumed and analysed as autovacuum would have done on a server with default settings (this
machine's PostgreSQL runs with autovacuum off). `--reuse` keeps a database already holding them,
such as the one bench.linkage_speed leaves, instead of loading again. {args.users} practitioners,
spread over the agencies, hold a protocol version in force showing every dataset in full for
safeguarding, and sign in through the sign-in and second-factor pages (in the benchmark process,
with Django's test client) before the timed requests. gunicorn, {args.workers} workers x
{args.threads} threads (gthread), serves the production settings (`SHAREHUB_PRODUCTION=true`, DEBUG
off) on loopback as behind docker-compose.yml's TLS-terminating proxy: plain HTTP with
`X-Forwarded-Proto: https`. Of 2 to 4 workers x 1 to 4 threads, 2 x 4 (the default) did best
here: a process per core, and threads to overlap waits on the database.

One client thread per practitioner, in the benchmark process on the same 2 cores as gunicorn and
PostgreSQL, sends {args.requests} requests after {args.warmup} untimed ones,
{pacing}.
They alternate `GET /api/v1/persons/<reference>/summary?purpose=safeguarding` (JSON) and the page
`/persons/<reference>/?purpose=safeguarding`. One request in {round(1 / HEAVY_SHARE)} is for one
of the {HEAVY} persons with the most records ({min(heavy_records)} to {max(heavy_records)} each),
the rest for {TYPICAL} persons picked at random. Latency runs from sending a request to reading
the whole answer; any answer but 200 is an error. CPU comes from /proc for gunicorn, the local
PostgreSQL server (all its processes, so other work on the server counts too) and the whole
machine, and from getrusage for the client.

{chr(10).join("- " + line for line in lines)}

| requests | count | p50 ms | p95 ms | p99 ms | max ms | per second | errors |
| --- | --- | --- | --- | --- | --- | --- | --- |
{chr(10).join(rows)}

SQL queries for one summary, counted in-process with `CaptureQueriesContext` once a first
summary has filled the process's caches: `case_summary` alone, and the whole request (session,
user, membership, protocols, summary, audit entry):

| person | records | case_summary | API request | page request |
| --- | --- | --- | --- | --- |
{queries}
""",
    )


if __name__ == "__main__":
    main()
