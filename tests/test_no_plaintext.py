"""No plaintext identifier is stored, logged or sent through the broker, across ingest and linkage
(SECURITY.md rows 8 and 9).

Extracts from three agencies carry one child written with marker values nobody else has: a
made-up forename and surname, a valid NHS number, PNC id and UPN, a postcode and a street that do
not exist. The child's rows load (and one is set aside in quarantine), linkage puts the three
records into one person, and then everything ShareHub left behind is searched for the markers in
every form they could take: every row of every table, the log records, the files in the private
area, the raw SQLite file, and, with a real worker, the Redis keys, every command Redis received
and the worker's DEBUG log.

A hit is a leak to fix where the value is written, never a reason to loosen the search.
"""

import base64
import binascii
import hashlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import redis
from celery.signals import before_task_publish
from django.apps import apps
from django.conf import settings
from django.db import connection

from agencies.ingest.receive import extract_receive
from agencies.models import (
    AgencyKind,
    Extract,
    ExtractChannel,
    ExtractStatus,
    QuarantinedRow,
    SourceRecord,
)
from agencies.sealed_uploads import sealed_upload_chunk_put, sealed_upload_complete
from agencies.services import dataset_define
from matching.linkage.run import linkage_run
from matching.models import LinkageRecord, LinkageRun
from sharehub.celery import app as celery_app
from sharehub_bridge.definitions import definition_parse
from sharehub_bridge.identifiers import nhs_number_check_digit, pnc_check_letter, upn_check_letter
from sharehub_bridge.normalise import address_normalise, name_normalise, postcode_parts
from tests.bridge_helpers import chunks_of, sealed_extract, sealed_upload_open
from tests.factories import AgencyFactory
from tests.ingest_helpers import POLICE_DEFINITION, csv_bytes, upload
from tests.workers import celery_worker, require_redis, wait_for

# --- The marker child -------------------------------------------------------------------------


def _nhs_number(first9: str) -> str:
    check = nhs_number_check_digit(first9)
    assert check is not None, "pick other digits: these nine have no NHS check digit"
    return f"{first9}{check}"


FORENAME = "Zephyrinaqx"
SURNAME = "Quillbottomvw"
NHS_NUMBER = _nhs_number("748291036")  # 7482910360
POSTCODE = "ZE1 9QX"
ADDRESS = "77 Marmalade Xylophone Street"
PNC_ID = "2009/0731846" + pnc_check_letter("09", "0731846")
UPN = upn_check_letter("938412711573") + "938412711573"
DOB = date(2013, 7, 29)

# Every written form a marker could be stored or logged in. The search ignores case, so
# "zephyrinaqx" and "ZEPHYRINAQX" are covered by the first form.
MARKER_FORMS: dict[str, list[str]] = {
    "forename": [FORENAME, name_normalise(FORENAME)],
    "surname": [SURNAME, name_normalise(SURNAME)],
    "nhs_number": [
        NHS_NUMBER,
        f"{NHS_NUMBER[:3]} {NHS_NUMBER[3:6]} {NHS_NUMBER[6:]}",
        f"{NHS_NUMBER[:3]}-{NHS_NUMBER[3:6]}-{NHS_NUMBER[6:]}",
    ],
    "postcode": [POSTCODE, POSTCODE.replace(" ", "")],
    "address": [
        ADDRESS,
        address_normalise(ADDRESS),
        "Marmalade Xylophone",
        "MarmaladeXylophone",
        "Xylophone",
    ],
    "pnc_id": [PNC_ID, PNC_ID.replace("/", ""), PNC_ID[2:4] + "/" + PNC_ID[5:].lstrip("0")],
    "upn": [UPN, UPN[1:]],
    "date_of_birth": [
        DOB.isoformat(),
        DOB.strftime("%d/%m/%Y"),
        DOB.strftime("%Y%m%d"),
        DOB.strftime("%d-%b-%Y"),
    ],
}

# What an unkeyed hash of a marker would look like (SECURITY.md row 9: pseudonyms must be keyed;
# ~10^9 NHS numbers make an unkeyed SHA-256 a lookup table). Only HMACs under the linkage key and
# AES-GCM ciphertexts may appear; these must not.
_HASHED_VALUES = {
    "forename": name_normalise(FORENAME),
    "surname": name_normalise(SURNAME),
    "nhs_number": NHS_NUMBER,
    "postcode": POSTCODE,
    "postcode_compact": POSTCODE.replace(" ", ""),
    "address": address_normalise(ADDRESS),
    "pnc_id": PNC_ID,
    "upn": UPN,
    "date_of_birth": DOB.isoformat(),
}


@dataclass(frozen=True)
class Needle:
    label: str
    text: str = ""  # searched for case-insensitively in text
    raw: bytes = b""  # searched for as bytes in binary values


def _needles() -> list[Needle]:
    needles = [
        Needle(f"{name} {form!r}", text=form)
        for name, forms in MARKER_FORMS.items()
        # The search ignores case: one needle per form, whatever its case.
        for form in {form.casefold(): form for form in reversed(forms)}.values()
    ]
    for name, value in _HASHED_VALUES.items():
        for algorithm in ("sha256", "sha1", "md5"):
            digest = hashlib.new(algorithm, value.encode()).digest()
            label = f"unkeyed {algorithm} of {name}"
            needles.append(Needle(label, text=digest.hex()[:16]))  # any truncation of 8+ bytes
            needles.append(Needle(label, raw=digest[:8]))
            needles.append(Needle(label, text=base64.b64encode(digest).decode()[:12]))
    return needles


NEEDLES = _needles()


def _everyday_needles() -> list[Needle]:
    """The national identifiers of every other child in the extracts: they must not leak either,
    and unlike names they are distinctive enough to search for (SECURITY.md row 9 asks for no
    valid NHS number anywhere)."""
    needles = []
    for n, child in enumerate(EVERYDAY):
        nhs = child["nhs"]
        for form in (nhs, f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"):
            needles.append(Needle(f"everyday child {n} nhs_number", text=form))
        needles.append(Needle(f"everyday child {n} pnc_id", text=child["pnc"]))
        needles.append(Needle(f"everyday child {n} upn", text=child["upn"]))
    return needles


_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")


def _decoded_runs(data: bytes) -> Iterator[bytes]:
    """Base64 runs inside `data`, decoded: Celery message bodies and anything else base64'd."""
    for match in _BASE64_RUN.finditer(data):
        run = match.group()
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                yield decode(run + b"=" * (-len(run) % 4))
            except (binascii.Error, ValueError):
                continue


def markers_in(value, *, depth: int = 0) -> set[str]:
    """Labels of the markers found in one value of any type a database, log or Redis gives."""
    if value is None:
        return set()
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytearray):
        value = bytes(value)
    if isinstance(value, dict | list | tuple):
        value = json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
    elif isinstance(value, bytes):
        data = value
    else:  # numbers, dates, times, UUIDs: as they would be written out
        data = str(value).encode()
    found = {needle.label for needle in NEEDLES if needle.raw and needle.raw in data}
    text = data.decode("latin-1").casefold()
    found |= {needle.label for needle in NEEDLES if needle.text and needle.text.casefold() in text}
    if depth == 0:
        for decoded in _decoded_runs(data):
            found |= markers_in(decoded, depth=1)
    return found


# --- Datasets and extracts --------------------------------------------------------------------

POLICE = {
    **POLICE_DEFINITION,
    "columns": [
        *POLICE_DEFINITION["columns"],
        {"column": "pnc", "identifier": "pnc_id"},
        {"column": "address", "identifier": "address"},
    ],
}
HEALTH = {
    "name": "Health - emergency department attendances",
    "source_id_column": "attendance_id",
    "event_date_column": "attended_on",
    "columns": [
        {"column": "attendance_id", "ignore": True},
        {"column": "nhs_no", "identifier": "nhs_number"},
        {"column": "given_name", "identifier": "forename", "required": True},
        {"column": "family_name", "identifier": "surname", "required": True},
        {"column": "birth_date", "identifier": "date_of_birth"},
        {"column": "sex", "identifier": "gender"},
        {"column": "home_postcode", "identifier": "postcode"},
        {"column": "home_address", "identifier": "address"},
        {"column": "attended_on", "type": "date", "label": "Attended on", "required": True},
        {
            "column": "department",
            "type": "category",
            "label": "Department",
            "values": ["paediatric", "adult", "minor injuries"],
        },
    ],
}
EDUCATION = {
    "name": "Education - school census",
    "source_id_column": "pupil_ref",
    "event_date_column": "census_date",
    "columns": [
        {"column": "pupil_ref", "ignore": True},
        {"column": "upn", "identifier": "upn"},
        {"column": "forename", "identifier": "forename", "required": True},
        {"column": "surname", "identifier": "surname", "required": True},
        {"column": "dob", "identifier": "date_of_birth"},
        {"column": "postcode", "identifier": "postcode"},
        {"column": "address", "identifier": "address"},
        {"column": "census_date", "type": "date", "label": "Census date", "required": True},
        {"column": "free_meals", "type": "boolean", "label": "Free school meals"},
    ],
}

FORENAMES = "Oliver Amelia Jack Isla Harry Ava George Mia Noah Emily Leo Grace".split()
SURNAMES = (
    "Smith Jones Taylor Brown Williams Wilson Patel Davies Evans Walker Wright Hughes".split()
)
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def _everyday_child(n: int) -> dict:
    """Child n of an ordinary population, so linkage has real pairs to estimate its model from."""
    first9 = f"{400000000 + n * 7919:09d}"
    while nhs_number_check_digit(first9) is None:
        first9 = f"{int(first9) + 1:09d}"
    serial = f"{100000 + n * 37:07d}"
    upn_body = f"380{4000 + n:04d}12{n:03d}"
    return {
        "forename": FORENAMES[n % len(FORENAMES)],
        "surname": SURNAMES[(n * 5) % len(SURNAMES)],
        "dob": date(2008 + n % 10, 1 + n % 12, 1 + (n * 7) % 28),
        "sex": "M" if n % 2 else "F",
        "nhs": _nhs_number(first9),
        "postcode": f"LS{1 + n % 20} {1 + n % 9}{LETTERS[n % 20]}{LETTERS[(n * 3) % 20]}",
        "address": f"{n + 1} {['Church', 'Park', 'Mill', 'Station'][n % 4]} Road",
        "pnc": f"2010/{serial}{pnc_check_letter('10', serial)}",
        "upn": upn_check_letter(upn_body) + upn_body,
    }


MARKER_CHILD = {
    "forename": FORENAME,
    "surname": SURNAME,
    "dob": DOB,
    "sex": "F",
    "nhs": NHS_NUMBER,
    "postcode": POSTCODE,
    "address": ADDRESS,
    "pnc": PNC_ID,
    "upn": UPN,
}
EVERYDAY = [_everyday_child(n) for n in range(24)]
NEEDLES += _everyday_needles()
MARKER_IDS = {"police": "INC-M1", "health": "ATT-M1", "education": "PUP-M1"}
QUARANTINED_ID = "INC-M2"


def _police_row(ref: str, child: dict, incident_date: str = "2026-01-05") -> dict:
    return {
        "incident_ref": ref,
        "forename": child["forename"],
        "surname": child["surname"],
        "dob": child["dob"].strftime("%d/%m/%Y"),
        "nhs_number": child["nhs"],
        "postcode": child["postcode"].lower(),
        "incident_date": incident_date,
        "risk_grade": "high",
        "child_present": "yes",
        "summary": "Verbal argument, child upstairs.",
        "pnc": child["pnc"],
        "address": child["address"],
    }


def _health_row(ref: str, child: dict) -> dict:
    nhs = child["nhs"]
    return {
        "attendance_id": ref,
        "nhs_no": f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}",
        "given_name": child["forename"].upper(),
        "family_name": child["surname"].upper(),
        "birth_date": child["dob"].isoformat(),
        "sex": child["sex"],
        "home_postcode": child["postcode"].replace(" ", ""),
        "home_address": child["address"],
        "attended_on": "2026-02-11",
        "department": "paediatric",
    }


def _education_row(ref: str, child: dict) -> dict:
    return {
        "pupil_ref": ref,
        "upn": child["upn"],
        "forename": child["forename"],
        "surname": child["surname"],
        "dob": child["dob"].strftime("%d-%b-%Y"),
        "postcode": child["postcode"],
        "address": child["address"] + ", Lerwick",
        "census_date": "2026-01-15",
        "free_meals": "no",
    }


def _header(definition: dict) -> list[str]:
    return [column["column"] for column in definition["columns"]]


def agencies_with_extracts() -> list[tuple]:
    """Three agencies' datasets, each with an extract file holding the marker child.

    Returns (key, dataset, file bytes). Most everyday children are in two or three agencies'
    files, as in a real partnership; the police file also has the marker child on a row that
    fails validation, so the quarantine holds the markers too.
    """
    police = AgencyFactory(code="NPPOL", name="No-plaintext Police", kind=AgencyKind.POLICE)
    health = AgencyFactory(code="NPHLT", name="No-plaintext Health", kind=AgencyKind.HEALTH)
    school = AgencyFactory(code="NPEDU", name="No-plaintext Schools", kind=AgencyKind.EDUCATION)

    def define(agency, definition):
        return dataset_define(agency=agency, definition=definition_parse(definition)).dataset

    police_rows = [_police_row(f"INC-{n:03d}", c) for n, c in enumerate(EVERYDAY[:18])]
    police_rows.append(_police_row(MARKER_IDS["police"], MARKER_CHILD))
    police_rows.append(_police_row(QUARANTINED_ID, MARKER_CHILD, incident_date="not a date"))
    health_rows = [_health_row(f"ATT-{n:03d}", c) for n, c in enumerate(EVERYDAY[4:22])]
    health_rows.append(_health_row(MARKER_IDS["health"], MARKER_CHILD))
    school_rows = [_education_row(f"PUP-{n:03d}", c) for n, c in enumerate(EVERYDAY[8:])]
    school_rows.append(_education_row(MARKER_IDS["education"], MARKER_CHILD))
    return [
        ("police", define(police, POLICE), csv_bytes(police_rows, header=_header(POLICE))),
        ("health", define(health, HEALTH), csv_bytes(health_rows, header=_header(HEALTH))),
        (
            "education",
            define(school, EDUCATION),
            csv_bytes(school_rows, header=_header(EDUCATION)),
        ),
    ]


def assert_extracts_loaded(extracts: dict[str, Extract]) -> None:
    for key, extract in extracts.items():
        extract.refresh_from_db()
        assert extract.status == ExtractStatus.LOADED, (key, extract.status, extract.message)
    assert extracts["police"].rows_quarantined == 1
    quarantined = QuarantinedRow.objects.get(extract=extracts["police"])
    assert quarantined.source_id == QUARANTINED_ID
    for key, extract in extracts.items():
        assert SourceRecord.objects.filter(
            dataset=extract.dataset, source_id=MARKER_IDS[key]
        ).exists()


def bridge_receive(key: str, dataset, content: bytes) -> tuple[Extract, list[str]]:
    """The file pushed as sharehub-bridge does (sealed at the 'agency', sent in chunks, then
    completed, which queues its ingest on commit); returns the extract and what the upload
    store held in plaintext while the upload was open: it must be nothing."""
    sealed, file_sha256 = sealed_extract(
        dataset, [], content=content, mode="full", filename=f"{key}.csv"
    )
    upload = sealed_upload_open(dataset, sealed, file_sha256, mode="full")
    for index, chunk in enumerate(chunks_of(sealed, upload.chunk_bytes)):
        sealed_upload_chunk_put(
            upload_id=upload.pk, index=index, data=chunk, sha256=hashlib.sha256(chunk).hexdigest()
        )
    stored = Path(settings.MEDIA_ROOT) / "uploads" / upload.stored_file
    assert stored.read_bytes() == sealed, "the search must read the open upload's file"
    leaks = [f"while open: {leak}" for leak in file_leaks(settings.MEDIA_ROOT)]
    upload = sealed_upload_complete(upload_id=upload.pk)
    return Extract.objects.get(pk=upload.extract_id), leaks


def marker_persons() -> set:
    """The persons linkage put the marker child's records in (one, when linkage worked)."""
    return set(
        LinkageRecord.objects.filter(record__source_id__in=MARKER_IDS.values()).values_list(
            "person_id", flat=True
        )
    )


# --- Where to look ----------------------------------------------------------------------------


def table_leaks() -> tuple[list[str], dict[str, int]]:
    """Every row of every table, model or not; returns the hits and the rows read per table."""
    model_tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    tables = set(connection.introspection.table_names())
    assert model_tables <= tables, f"tables missing: {sorted(model_tables - tables)}"
    if connection.vendor == "sqlite":
        tables |= {"sqlite_master", "sqlite_sequence"}
    leaks, rows_read = [], {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in sorted(tables):
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608 - names from introspection
            columns = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
            rows_read[table] = len(rows)
            for number, row in enumerate(rows, start=1):
                for column, value in zip(columns, row, strict=True):
                    for label in sorted(markers_in(value)):
                        where = f"id {row[0]}" if columns[0] == "id" else f"row {number}"
                        leaks.append(f"table {table}.{column} ({where}): {label}")
    return leaks, rows_read


_READ_FILE = "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())"


def sqlite_file_leaks(*, must_hold: bytes = b"") -> list[str]:
    """The database file itself, free pages and the write-ahead log included: plaintext that was
    written and deleted again (staging, say) would still be readable there. `must_hold`: bytes
    committed rows are known to hold, proving the files were read where the rows are."""
    if connection.vendor != "sqlite":
        return []
    leaks = []
    held = not must_hold
    name = connection.settings_dict["NAME"]
    for suffix in ("", "-wal", "-journal"):
        path = Path(f"{name}{suffix}")
        if not path.is_file():
            continue
        # Read by another process: closing any descriptor of the database file in this process
        # would drop this process's SQLite locks (POSIX locks are per process), and the worker
        # writing next could then corrupt the database.
        data = subprocess.run(
            [sys.executable, "-c", _READ_FILE, str(path)], capture_output=True, check=True
        ).stdout
        held = held or must_hold in data
        # Pages are raw bytes: search them as bytes, not for base64.
        for label in sorted(markers_in(data, depth=1)):
            leaks.append(f"SQLite file {path.name}: {label}")
    assert held, f"{must_hold!r} not in the SQLite files: the search read the wrong files"
    return leaks


def file_leaks(root: Path) -> list[str]:
    leaks = []
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            for label in sorted(markers_in(path.read_bytes())):
                leaks.append(f"file {path}: {label}")
    return leaks


def log_leaks(records: Iterable[logging.LogRecord], where: str) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    standard = set(vars(logging.makeLogRecord({})))
    leaks = []
    for record in records:
        try:
            text = formatter.format(record)
        except Exception:  # a record whose args do not fit its format: search what there is
            text = f"{record.msg} {record.args!r}"
        # args and extras too: a structured handler (JSON logs, an error tracker) sends them
        # whole, even when the message does not show them.
        extras = {k: v for k, v in vars(record).items() if k not in standard}
        text += f" {record.args!r} {extras!r}"
        for label in sorted(markers_in(text)):
            leaks.append(f"{where}: {record.name} {record.pathname}:{record.lineno}: {label}")
    return leaks


def text_leaks(text: str, where: str) -> list[str]:
    leaks = []
    for number, line in enumerate(text.splitlines(), start=1):
        for label in sorted(markers_in(line)):
            leaks.append(f"{where} line {number}: {label}")
    return leaks


@contextmanager
def every_logger_at_debug(handler: logging.Handler):
    """Let every logger that exists emit DEBUG records into `handler`, then put them back.

    caplog.set_level covers the root logger; this reaches loggers that set their own level or
    do not propagate to the root (some of Celery's).
    """
    changed = []
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger) or name.startswith("django.db.backends"):
            continue
        changed.append((logger, logger.level))
        if logger.level > logging.DEBUG:
            logger.setLevel(logging.DEBUG)
        if not logger.propagate and handler not in logger.handlers:
            logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level in changed:
            logger.setLevel(level)
            if not logger.propagate and handler in logger.handlers:
                logger.removeHandler(handler)


def capture_all_logs(caplog) -> None:
    # SQL statements and their parameters are logged by django.db.backends at DEBUG, and only
    # when settings.DEBUG is on, which production never runs with (settings.LOGGING also holds
    # that logger at WARNING). Counting those statements would be a false positive, so the SQL
    # log stays off here; everything else logs at DEBUG.
    caplog.set_level(logging.INFO, logger="django.db.backends")
    # Second: set_level also sets the capturing handler's level, which must end at DEBUG.
    caplog.set_level(logging.DEBUG)
    assert caplog.handler.level == logging.DEBUG


# --- The tests --------------------------------------------------------------------------------


def test_the_search_finds_each_marker_in_every_shape():
    assert markers_in("a ZEPHYRINAQX b") == {"forename 'Zephyrinaqx'"}
    assert "nhs_number '748 291 0360'" in markers_in(memoryview(b"x748 291 0360y"))
    assert "postcode 'ZE19QX'" in markers_in({"p": ["ze19qx"]})
    assert "address 'Xylophone'" in markers_in(base64.b64encode(b'{"a": "xylophone street"}'))
    sha = hashlib.sha256(NHS_NUMBER.encode()).digest()
    assert "unkeyed sha256 of nhs_number" in markers_in(b"\x00" + sha[:8] + b"\x01")
    assert "unkeyed sha256 of nhs_number" in markers_in(sha.hex()[:32].upper())
    assert markers_in(date(2013, 7, 29)) == {"date_of_birth '2013-07-29'"}
    assert markers_in(f"pnc={EVERYDAY[3]['pnc']}") == {"everyday child 3 pnc_id"}
    assert markers_in("Alice Smith 9434765919 LS6 2AB 2015-02-01") == set()
    assert postcode_parts(POSTCODE) is not None, "the marker postcode must read as a postcode"


def test_no_plaintext_identifier_after_ingest_and_linkage_in_process(db, caplog, capfd):
    capture_all_logs(caplog)
    with every_logger_at_debug(caplog.handler):
        extracts = {
            key: upload(dataset, content, mode="full", filename=f"{key}.csv")
            for key, dataset, content in agencies_with_extracts()
        }
        # Each loaded extract queued its own (incremental) linkage run; a full run goes over
        # everything again.
        full = linkage_run(full=True)

    assert_extracts_loaded(extracts)
    incremental = LinkageRun.objects.filter(
        kind=LinkageRun.Kind.INCREMENTAL, extract__in=[*extracts.values()]
    )
    assert incremental.count() == len(extracts), "ingest did not queue linkage for each extract"
    assert full.status == LinkageRun.Status.DONE
    persons = marker_persons()
    assert len(persons) == 1 and None not in persons, f"marker records not linked: {persons}"

    leaks, rows_read = table_leaks()
    for table in ("agencies_sourcerecord", "agencies_quarantinedrow", "matching_linkagerecord"):
        assert rows_read[table] > 0, f"nothing in {table}: the search would prove nothing"
    leaks += sqlite_file_leaks()
    leaks += log_leaks(caplog.records, "log")
    out, err = capfd.readouterr()
    leaks += text_leaks(out, "stdout") + text_leaks(err, "stderr")
    leaks += file_leaks(settings.MEDIA_ROOT)
    assert not leaks, "plaintext identifiers found:\n" + "\n".join(leaks)


def test_no_plaintext_identifier_through_the_bridge_channel_in_process(db, caplog, capfd):
    """The same three files pushed through the IG bridge channel: the identities arrive sealed
    to the ingest key, are opened only inside the ingest task, and nothing is left behind."""
    from django.test import TestCase

    capture_all_logs(caplog)
    leaks: list[str] = []
    with every_logger_at_debug(caplog.handler):
        extracts = {}
        for key, dataset, content in agencies_with_extracts():
            with TestCase.captureOnCommitCallbacks(execute=True):
                extracts[key], open_leaks = bridge_receive(key, dataset, content)
            leaks += open_leaks
        full = linkage_run(full=True)

    assert_extracts_loaded(extracts)
    assert all(e.channel == ExtractChannel.BRIDGE for e in extracts.values())
    # The row the bridge kept back never left the 'agency': its reasons only, nothing sealed.
    assert QuarantinedRow.objects.get(source_id=QUARANTINED_ID).sealed_row is None
    assert full.status == LinkageRun.Status.DONE
    persons = marker_persons()
    assert len(persons) == 1 and None not in persons, f"marker records not linked: {persons}"

    table_hits, rows_read = table_leaks()
    for table in ("agencies_sourcerecord", "agencies_sealedupload", "matching_linkagerecord"):
        assert rows_read[table] > 0, f"nothing in {table}: the search would prove nothing"
    leaks += table_hits
    leaks += sqlite_file_leaks()
    leaks += log_leaks(caplog.records, "log")
    out, err = capfd.readouterr()
    leaks += text_leaks(out, "stdout") + text_leaks(err, "stderr")
    leaks += file_leaks(settings.MEDIA_ROOT)
    assert not leaks, "plaintext identifiers found:\n" + "\n".join(leaks)


# --- Through Redis and a real worker ----------------------------------------------------------

# Put into the worker's environment (PYTHONPATH): Celery's worker sets the root logger to the
# --loglevel the test helper gives it (INFO) after Django has configured logging, so the worker's
# DEBUG records (ours, Celery's and kombu's, which include each task's message body) appear only
# if something lowers the level again once Celery has set it up.
WORKER_DEBUG_LOGGING = """
import logging

try:
    from celery.signals import after_setup_logger, after_setup_task_logger
except ImportError:
    pass
else:

    def _everything_at_debug(logger=None, **kwargs):
        logging.getLogger().setLevel(logging.DEBUG)
        if logger is not None:
            logger.setLevel(logging.DEBUG)

    after_setup_logger.connect(_everything_at_debug, weak=False)
    after_setup_task_logger.connect(_everything_at_debug, weak=False)
"""


class RedisMonitor:
    """Every command Redis receives while it runs (MONITOR): what the test process and the
    worker publish, consume and acknowledge, whoever sends it."""

    def __init__(self, url: str):
        self.url = url
        self.commands: list[str] = []
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        try:
            with redis.Redis.from_url(self.url).monitor() as monitor:
                self._started.set()
                for command in monitor.listen():
                    self.commands.append(command["command"])
                    if self._stop.is_set():
                        return
        except Exception as error:  # MONITOR refused (disabled, ACL): reported, not fatal
            self.error = error
            self._started.set()

    def __enter__(self) -> "RedisMonitor":
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        redis.Redis.from_url(self.url).ping()  # wakes the listener so it sees the stop
        self._thread.join(10)


def redis_key_leaks(url: str, when: str) -> list[str]:
    """Every key left in the test Redis database, read whole whatever its type."""
    client = redis.Redis.from_url(url)
    leaks = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [part for pair in client.hgetall(key).items() for part in pair]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        else:
            values = []
        for value in [key, *values]:
            for label in sorted(markers_in(value)):
                leaks.append(f"Redis key {key!r} ({kind}, {when}): {label}")
    return leaks


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("channel", [ExtractChannel.API, ExtractChannel.BRIDGE])
def test_no_plaintext_identifier_through_redis_and_a_real_worker(caplog, capfd, tmp_path, channel):
    redis_url = require_redis()
    leaks: list[str] = []
    capture_all_logs(caplog)
    customize = tmp_path / "worker-site"
    customize.mkdir()
    (customize / "sitecustomize.py").write_text(WORKER_DEBUG_LOGGING)
    worker_env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(customize), os.environ.get("PYTHONPATH")])),
        "SHAREHUB_LOG_LEVEL": "DEBUG",
    }

    published = []

    def on_publish(sender=None, body=None, headers=None, **kwargs):
        published.append((sender, body, headers))

    before_task_publish.connect(on_publish, weak=False)
    try:
        with every_logger_at_debug(caplog.handler), RedisMonitor(redis_url) as monitor:
            # The files are received before the worker starts, so their messages wait in Redis
            # to be searched there. (Receiving while the worker writes would also trip SQLite,
            # which cannot take two writers.) The celery_worker helper would turn eager off only
            # once it runs.
            celery_app.conf.task_always_eager = False
            # Messages an earlier worker test left behind (a linkage task queued as its worker
            # stopped) share this run's queue; they are not this test's to count.
            redis.Redis.from_url(redis_url).delete(celery_app.conf.task_default_queue)
            extracts = {}
            for key, dataset, content in agencies_with_extracts():
                if channel == ExtractChannel.BRIDGE:
                    extracts[key], open_leaks = bridge_receive(key, dataset, content)
                    leaks += open_leaks
                    continue
                extracts[key] = extract_receive(
                    dataset=dataset,
                    uploaded_by=None,
                    stream=io.BytesIO(content),
                    filename=f"{key}.csv",
                    mode="full",
                    channel=ExtractChannel.API,
                )
            ids = [extract.pk for extract in extracts.values()]
            queued = redis.Redis.from_url(redis_url).lrange(
                celery_app.conf.task_default_queue, 0, -1
            )
            assert len(queued) == len(ids), "the ingest messages are not waiting in Redis"
            # The search reads into the base64 message bodies, where task arguments travel.
            for message in queued:
                assert any(b'"extract_id"' in body for body in _decoded_runs(message)), message
            leaks += redis_key_leaks(redis_url, "queued")

            def all_finished():
                return Extract.objects.filter(pk__in=ids, status__in=[
                    ExtractStatus.LOADED, ExtractStatus.REJECTED, ExtractStatus.FAILED
                ]).count() == len(ids)  # fmt: skip

            def all_linked():
                return LinkageRun.objects.filter(
                    extract_id__in=ids, status=LinkageRun.Status.DONE
                ).values("extract_id").distinct().count() == len(ids)  # fmt: skip

            with celery_worker(extra_env=worker_env) as worker:
                wait_for(all_finished, timeout=120, interval=0.5)
                assert_extracts_loaded(extracts)
                wait_for(all_linked, timeout=120, interval=0.5)
    finally:
        before_task_publish.disconnect(on_publish)

    assert not LinkageRun.objects.filter(status=LinkageRun.Status.FAILED).exists()
    persons = marker_persons()
    assert len(persons) == 1 and None not in persons, f"marker records not linked: {persons}"

    # What the test process published (the ingest tasks): ids, nothing else.
    ingest_sent = [
        body for sender, body, _ in published if sender == "agencies.tasks.ingest_extract"
    ]
    assert len(ingest_sent) == len(extracts), published
    for sender, body, headers in published:
        args, kwargs, _embed = body
        assert not args and set(kwargs) <= {"extract_id"}, (sender, body)
        assert all(isinstance(value, int) for value in kwargs.values()), (sender, body)
        assert not markers_in(headers), (sender, headers)

    worker_log = worker.log_path.read_text()
    # The worker did log at DEBUG and did run the linkage it queued itself: at DEBUG Celery logs
    # each task it hands to the pool with its headers, the arguments' repr among them.
    assert re.search(r"DEBUG/(MainProcess|ForkPoolWorker)", worker_log), "worker not at DEBUG"
    assert "matching.tasks.link_after_extract" in worker_log

    leaks += text_leaks(worker_log, f"worker log {worker.log_path.name}")
    leaks += redis_key_leaks(redis_url, "after the run")
    if monitor.error is not None:
        warnings.warn(
            f"Redis MONITOR unavailable, commands not searched: {monitor.error}", stacklevel=1
        )
    else:
        # MONITOR saw both publishers: the test process's ingest tasks, the worker's linkage.
        for task in ("agencies.tasks.ingest_extract", "matching.tasks.link_after_extract"):
            assert any(task in command for command in monitor.commands), task
        # The linkage tasks the worker sent carried the extract's id and nothing else.
        linkage_bodies = [
            body
            for command in monitor.commands
            if "matching.tasks.link_after_extract" in command
            and command.upper().startswith("LPUSH")
            for body in _decoded_runs(command.encode())
            if body.startswith(b"[[], {")
        ]
        assert len(linkage_bodies) >= len(ids), monitor.commands
        for body in linkage_bodies:
            assert re.match(rb'\[\[\], \{"extract_id": \d+\}, ', body), body
        for number, command in enumerate(monitor.commands, start=1):
            for label in sorted(markers_in(command)):
                leaks.append(f"Redis command {number} ({command[:40]}...): {label}")
    leaks += table_leaks()[0]
    leaks += sqlite_file_leaks(must_hold=MARKER_IDS["police"].encode())
    leaks += log_leaks(caplog.records, "test-process log")
    out, err = capfd.readouterr()
    leaks += text_leaks(out, "stdout") + text_leaks(err, "stderr")
    leaks += file_leaks(settings.MEDIA_ROOT)
    assert not leaks, "plaintext identifiers found:\n" + "\n".join(leaks)
