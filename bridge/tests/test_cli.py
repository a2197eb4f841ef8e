"""`sharehub-bridge` as an agency's IT team runs it, against the fake ShareHub of conftest.py.

Rows with problems stay in a local CSV and never travel; the good rows' identities travel only
sealed; a push broken by the network resumes with the chunks ShareHub lacks; every failure is one
clear line that holds neither the token nor a value from a row.
"""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from conftest import TOKEN, FakeShareHub

from sharehub_bridge import __version__
from sharehub_bridge.api_client import ShareHubError, base_url_check
from sharehub_bridge.cli import main
from sharehub_bridge.preparation import Preparation, repair_lines
from sharehub_bridge.set_aside import csv_cell_safe

DEFINITION = {
    "name": "Police - domestic abuse incidents",
    "source_id_column": "id",
    "event_date_column": "incident_date",
    "columns": [
        {"column": "id", "identifier": "local_id"},
        {"column": "forename", "identifier": "forename"},
        {"column": "surname", "identifier": "surname", "required": True},
        {"column": "dob", "identifier": "date_of_birth"},
        {"column": "nhs", "identifier": "nhs_number"},
        {"column": "postcode", "identifier": "postcode"},
        {"column": "incident_date", "type": "date"},
        {"column": "risk", "type": "category", "values": ["low", "medium", "high"]},
        {"column": "notes", "type": "text"},
    ],
}
HEADER = [c["column"] for c in DEFINITION["columns"]]
GOOD_ROWS = [
    ["P001", "Amelia", "Hartwell", "14/03/1987", "943 476 5919", "sw1a 1aa", "2026-01-02", "high",
     "Seen at home"],
    ["P002", "Bartholomew", "Okonkwo", "02/11/1990", "", "LS1 4DY", "2026-01-03", "low", ""],
    ["P003", "Cressida", "Vantongeren", "29/02/2004", "4010232137", "", "2026-01-04", "medium",
     "Referred"],
    ["P004", "Desmond", "Fairweather", "07/07/1975", "", "M1 1AE", "2026-01-05", "low", ""],
    ["P005", "Evangeline", "Pemberton", "31/12/1969", "", "B1 1BB", "2026-01-06", "high", ""],
]  # fmt: skip
BAD_ROWS = [
    # No surname, which the definition requires.
    ["P006", "Zebedee", "", "01/01/1980", "", "", "2026-01-07", "low", ""],
    # A risk that is not one of the allowed values, written as a spreadsheet formula.
    ["P007", "Winifred", "Quiggley", "05/05/1985", "", "", "2026-01-08", "=HYPERLINK(1)", ""],
    # The record id of row 2 again.
    ["P001", "Thaddeus", "Ormerod", "09/09/1999", "", "", "2026-01-09", "low", ""],
]
# Identifier values as written in the file (and as the platform normalises them): none may travel
# readable.
PLAINTEXT = [
    value
    for row in GOOD_ROWS + BAD_ROWS
    for value in (row[1], row[2], row[4].replace(" ", ""), row[5])
    if value
] + ["HARTWELL", "AMELIA", "1987-03-14", "SW1A 1AA", "9434765919", "Zebedee", "HYPERLINK"]


def csv_write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def token_in_environment(monkeypatch):
    monkeypatch.setenv("SHAREHUB_TOKEN", TOKEN)
    monkeypatch.delenv("SHAREHUB_URL", raising=False)


@pytest.fixture
def hub(sharehub):
    sharehub.dataset_add(7, DEFINITION, number=2)
    return sharehub


def push(hub, path: Path, *extra: str, mode: str = "full") -> list[str]:
    return [
        "push",
        "--url",
        hub.url,
        "--dataset",
        "7",
        "--mode",
        mode,
        "--retry-pause",
        "0",
        "--poll-seconds",
        "0.01",
        *extra,
        str(path),
    ]


def test_push_keeps_rows_with_problems_at_the_agency_and_sends_identities_sealed(
    hub, tmp_path, capsys
):
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS + BAD_ROWS)

    code, out, err = run(capsys, *push(hub, path))

    assert code == 0, err
    [extract] = hub.extracts.values()
    # Several chunks, each sent once.
    assert extract.upload.chunks > 2
    assert sorted(hub.chunk_puts()) == list(range(extract.upload.chunks))
    # The good rows arrived, their identities open with the ingest key and hold what the file said.
    assert [row.source_id for row in extract.rows] == ["P001", "P002", "P003", "P004", "P005"]
    first = extract.identities[2]
    assert first["forename"] == "Amelia" and first["surname"] == "Hartwell"
    assert first["date_of_birth"] == "1987-03-14"
    assert first["nhs_number"] == "9434765919" and first["postcode"] == "SW1A 1AA"
    assert extract.rows[0].payload == {
        "incident_date": "2026-01-02",
        "risk": "high",
        "notes": "Seen at home",
    }
    # Rows with problems travel as row number, record id and reasons only.
    assert [(r.number, r.source_id) for r in extract.set_aside] == [
        (7, "P006"),
        (8, "P007"),
        (9, "P001"),
    ]
    assert "Required identifier surname is missing." in extract.set_aside[0].reasons
    assert "repeated: it is also on row 2" in " ".join(extract.set_aside[2].reasons)
    # Nothing readable outside "s": no identifier of any row, no value of a row kept back.
    for value in PLAINTEXT:
        assert value.encode() not in extract.sealed, value
    sent, kept = {"n", "id", "p", "e", "w", "r", "d", "v", "s"}, {"n", "id", "reasons"}
    for line in extract.sealed.splitlines()[1:-1]:
        assert set(json.loads(line)) in (sent, kept)
    header = extract.header
    assert (header.mode, header.definition_version, header.filename) == ("full", 2, "incidents.csv")
    assert header.envelope.key_version == 3 and header.bridge_version == __version__

    # The rows with problems are in a CSV next to the file, with reasons, safe in a spreadsheet.
    [set_aside] = tmp_path.glob("incidents.set-aside-*.csv")
    with open(set_aside, encoding="utf-8-sig", newline="") as stream:
        kept = list(csv.reader(stream))
    assert kept[0] == ["row_in_file", "reasons", *HEADER]
    assert [row[0] for row in kept[1:]] == ["7", "8", "9"]
    assert kept[1][3] == "Zebedee" and "surname is missing" in kept[1][1]
    assert kept[2][2 + HEADER.index("risk")] == "'=HYPERLINK(1)"
    assert "is not one of the allowed values" in kept[2][1]

    # The result, and the work files gone once ShareHub had the upload.
    assert "Extract 1: Loaded" in out
    assert "Loaded:              5" in out
    assert "Kept at your agency: 3 (never sent)" in out
    assert f"Extract page: {hub.url}/agency/extracts/1/" in out
    assert str(set_aside) in out
    assert list((tmp_path / ".sharehub-bridge").iterdir()) == []
    # No value from a row on the screen, nor the token.
    for value in ["Zebedee", "Amelia", "Hartwell", "HYPERLINK", TOKEN]:
        assert value not in out + err


def test_push_broken_by_the_network_resumes_with_the_missing_chunks(hub, tmp_path, capsys):
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)
    hub.chunk_failures = {1: 3}  # the connection drops on chunk 1, more often than retried
    code, out, err = run(capsys, *push(hub, path, "--chunk-attempts", "2"))

    assert code == 2
    assert "The push stopped; run the same command again to send the rest." in err
    [upload] = hub.uploads.values()
    assert sorted(upload.chunks_held) == [0] and upload.extract is None
    work = tmp_path / ".sharehub-bridge"
    assert len(list(work.glob("push-*.json"))) == 1
    assert len(list(work.glob("push-*.sealed.jsonl"))) == 1
    assert hub.chunk_puts() == [0, 1, 1]

    hub.chunk_failures = {}
    hub.requests.clear()
    code, out, err = run(capsys, *push(hub, path, "--chunk-attempts", "2"))

    assert code == 0, err
    assert "Resuming the push of incidents.csv" in out
    # Only what ShareHub lacked, on the same upload.
    assert hub.chunk_puts() == list(range(1, upload.chunks))
    assert list(hub.uploads) == [upload.id]
    assert ("POST", "/api/v1/datasets/7/sealed-uploads/") not in hub.requests
    [extract] = hub.extracts.values()
    assert len(extract.rows) == 5 and extract.identities[6]["surname"] == "Pemberton"
    assert list(work.iterdir()) == []


def test_a_chunk_refused_by_a_passing_server_error_is_sent_again(hub, tmp_path, capsys):
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)
    hub.chunk_failure = 503
    hub.chunk_failures = {1: 2}

    code, out, err = run(capsys, *push(hub, path))

    assert code == 0, err
    assert hub.chunk_puts()[:4] == [0, 1, 1, 1]
    assert err.count("ShareHub could not answer just now (HTTP 503)") == 2
    assert "Trying again" in err
    assert len(hub.extracts[1].rows) == 5


def test_a_resumed_push_after_the_definition_changed_starts_again(hub, tmp_path, capsys):
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)
    hub.chunk_failures = {0: 9}
    assert run(capsys, *push(hub, path, "--chunk-attempts", "1"))[0] == 2
    hub.dataset_add(7, DEFINITION, number=3)
    hub.chunk_failures = {}

    code, out, err = run(capsys, *push(hub, path))

    assert code == 0, err
    assert "Resuming" not in out
    assert len(hub.uploads) == 2
    assert hub.extracts[1].header.definition_version == 3


def test_a_wrong_token_is_one_clear_line(hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SHAREHUB_TOKEN", "not-the-token-8842")
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)

    code, out, err = run(capsys, *push(hub, path))

    assert code == 2
    assert "did not accept the API token (HTTP 401): it is wrong, expired or revoked" in err
    assert "not-the-token-8842" not in out + err
    assert len(err.strip().splitlines()) == 1


def test_a_token_with_a_line_break_is_refused_before_it_is_sent(hub, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SHAREHUB_TOKEN", "half-of-it\nother-half-9931")
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)

    code, out, err = run(capsys, *push(hub, path))

    assert code == 2
    assert "copy it again from ShareHub" in err
    assert "9931" not in out + err
    assert hub.requests == []


def test_an_unknown_dataset_says_so(hub, tmp_path, capsys):
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)
    argv = push(hub, path)
    argv[argv.index("--dataset") + 1] = "99"

    code, out, err = run(capsys, *argv)

    assert code == 2
    assert "ShareHub has no dataset 99 for your agency (HTTP 404)" in err


def test_an_upload_refused_shows_sharehubs_reason_and_leaves_nothing_behind(hub, tmp_path, capsys):
    hub.upload_refusal = {"detail": "The dataset is withdrawn: extracts are no longer taken."}
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)

    code, out, err = run(capsys, *push(hub, path))

    assert code == 2
    assert (
        "ShareHub refused the request (HTTP 400): The dataset is withdrawn: extracts are no "
        "longer taken." in err
    )
    assert list((tmp_path / ".sharehub-bridge").iterdir()) == []


def test_an_extract_rejected_by_sharehub_exits_1_with_its_message(hub, tmp_path, capsys):
    hub.threshold = 0.1
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS + BAD_ROWS)

    code, out, err = run(capsys, *push(hub, path))

    assert code == 1
    assert "Extract 1: Rejected" in out
    assert "Refused by ShareHub" not in out
    assert "ShareHub says: 3 of 8 rows could not be loaded" in out


def test_check_exit_codes_and_what_it_prints(hub, tmp_path, capsys):
    good = csv_write(tmp_path / "good.csv", GOOD_ROWS)
    code, out, err = run(capsys, "check", "--url", hub.url, "--dataset", "7", str(good))
    assert code == 0, err
    assert "Rows read:           5" in out and "Would load:          5" in out
    assert "With problems:       0 (0.0%)" in out
    assert not list(tmp_path.glob("*.set-aside-*"))

    mixed = csv_write(tmp_path / "mixed.csv", GOOD_ROWS + BAD_ROWS)
    code, out, err = run(capsys, "check", "--url", hub.url, "--dataset", "7", str(mixed))
    assert code == 1
    assert "With problems:       3 (37.5%)" in out
    assert "row 7: Required identifier surname is missing." in out
    [set_aside] = tmp_path.glob("mixed.set-aside-*.csv")
    assert f"Rows with problems are in {set_aside}" in out
    for value in ["Zebedee", "Winifred", "HYPERLINK", "Amelia"]:
        assert value not in out + err
    # Nothing is sent by a check.
    assert all(method == "GET" for method, _ in hub.requests)
    assert not hub.uploads

    wrong_columns = csv_write(tmp_path / "wrong.csv", [r[:-1] for r in GOOD_ROWS], HEADER[:-1])
    code, out, err = run(capsys, "check", "--url", hub.url, "--dataset", "7", str(wrong_columns))
    assert code == 1
    assert "The file cannot be loaded: The file's columns do not match" in out
    assert "it lacks the columns notes" in out

    code, out, err = run(capsys, "check", "--dataset", "7", str(good))
    assert code == 2
    assert "Give --url (or --definition FILE.json to check offline)" in err

    code, out, err = run(capsys, "check", "--url", hub.url, "--dataset", "7", "missing.csv")
    assert code == 2 and "There is no file missing.csv." in err


def test_check_reports_a_sharehub_it_cannot_reach(tmp_path, capsys):
    good = csv_write(tmp_path / "good.csv", GOOD_ROWS)
    # A port nothing listens on.
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{free.getsockname()[1]}"

    code, out, err = run(capsys, "check", "--url", url, "--dataset", "7", str(good))

    assert code == 2
    assert "refused the connection: check --url and that ShareHub is running." in err


def test_check_offline_against_a_saved_definition(hub, tmp_path, capsys):
    saved = tmp_path / "definition.json"
    code, out, err = run(
        capsys, "definition", "--url", hub.url, "--dataset", "7", "--output", str(saved)
    )
    assert code == 0, err
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS + BAD_ROWS[:1])
    hub.requests.clear()

    code, out, err = run(capsys, "check", "--definition", str(saved), str(path))

    assert code == 1
    assert "Would load:          5" in out and "definition version 2" in out
    assert hub.requests == []
    # A definition as written for the API works too.
    written = tmp_path / "written.json"
    written.write_text(json.dumps(DEFINITION), encoding="utf-8")
    assert run(capsys, "check", "--definition", str(written), str(path))[0] == 1


def test_dates_of_birth_written_month_first_are_read_that_way(hub, tmp_path, capsys):
    # Five or more dates that can only be month first turn the whole file, so the ambiguous
    # 03/04/1999 is the 4th of March.
    dates = ["12/31/1980", "06/19/1968", "01/25/2001", "07/14/1995", "10/30/1977", "03/04/1999"]
    rows = [
        [f"M{n}", "Ottilie", "Brackenbury", dob, "", "", "2026-02-01", "low", ""]
        for n, dob in enumerate(dates)
    ]
    path = csv_write(tmp_path / "us.csv", rows)

    code, out, err = run(capsys, *push(hub, path, mode="incremental"))

    assert code == 0, err
    extract = hub.extracts[1]
    assert extract.header.dob_order == "mdy"
    assert [extract.identities[n]["date_of_birth"] for n in range(2, 8)] == [
        "1980-12-31",
        "1968-06-19",
        "2001-01-25",
        "1995-07-14",
        "1977-10-30",
        "1999-03-04",
    ]
    assert all(not row.warnings for row in extract.rows)
    assert "written month first" in out


def test_push_reads_an_excel_workbook(hub, tmp_path, capsys):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in GOOD_ROWS[:3]:
        sheet.append(row)
    path = tmp_path / "incidents.xlsx"
    workbook.save(path)

    code, out, err = run(capsys, *push(hub, path))

    assert code == 0, err
    extract = hub.extracts[1]
    assert extract.header.file_format == "xlsx"
    assert [extract.identities[n]["surname"] for n in (2, 3, 4)] == [
        "Hartwell",
        "Okonkwo",
        "Vantongeren",
    ]
    assert b"Hartwell" not in extract.sealed


def test_importing_the_bridge_pulls_in_no_django():
    script = (
        "import sys, sharehub_bridge.cli\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'rest_framework', 'requests', 'celery'})\n"
        "print(heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"sharehub-bridge {__version__}"
    with pytest.raises(SystemExit):
        main(["push", "--help"])
    assert "run the same command again" in capsys.readouterr().out


def test_the_address_must_be_https_unless_sharehub_is_on_this_machine():
    assert base_url_check("https://sharehub.example.org/api/v1/") == "https://sharehub.example.org"
    assert base_url_check("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    with pytest.raises(ShareHubError, match="must start with https://"):
        base_url_check("http://sharehub.example.org")
    with pytest.raises(ShareHubError, match="ShareHub's address"):
        base_url_check("sharehub.example.org")


def test_cells_a_spreadsheet_would_run_are_neutralised():
    assert csv_cell_safe("=1+1") == "'=1+1"
    assert csv_cell_safe("-2") == "'-2"
    assert csv_cell_safe("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell_safe("Smith") == "Smith"
    assert csv_cell_safe(None) == ""


def test_check_counts_warnings_and_repairs_without_showing_values(hub, tmp_path, capsys):
    swapped = ["P008", "Florence", "Abernathy", "07/23/1971", "9434765918", "", "2026-01-10",
               "low", ""]  # fmt: skip
    path = csv_write(tmp_path / "incidents.csv", [*GOOD_ROWS, swapped])

    code, out, err = run(capsys, "check", "--url", hub.url, "--dataset", "7", str(path))

    assert code == 0, err
    assert "With warnings:       1" in out
    assert "1 date of birth had day and month the other way round" in out
    assert "1 NHS number fails its check digit" in out
    for value in ["07/23/1971", "1971-07-23", "9434765918", "Abernathy"]:
        assert value not in out + err


def test_repair_lines_count_free_text_redactions():
    found = Preparation(
        filename="x.csv",
        repairs={"redacted_name": 3, "redacted_postcode": 1, "redacted_row": 2, "swapped": 1},
    )

    lines = repair_lines(found)

    assert lines == [
        "1 date of birth had day and month the other way round from the rest of the file (such "
        "as 06/19/1968 in a day-first file), and were read with them swapped back.",
        "Free text: 4 of the person's own identifiers in 2 rows are replaced with placeholders "
        "before sending.",
    ]


def test_rows_refused_by_sharehubs_own_check_are_pointed_to_the_extract_page(hub, tmp_path, capsys):
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS + BAD_ROWS[:1])
    ingest = hub._ingest

    def ingest_refusing_one_more(upload, sealed):
        extract = ingest(upload, sealed)
        extract.final["rows_quarantined"] += 1
        extract.final["rows_loaded"] -= 1
        return extract

    hub._ingest = ingest_refusing_one_more

    code, out, err = run(capsys, *push(hub, path))

    assert code == 0, err
    assert "Kept at your agency: 1 (never sent)" in out
    assert "Refused by ShareHub: 1 (the extract's page lists them with reasons)" in out


def test_a_chunk_lost_by_sharehub_before_completing_is_sent_again(hub, tmp_path, capsys):
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)
    complete = hub._upload_complete
    lost = []

    def complete_after_losing_chunk_2_once(upload_id, **kwargs):
        upload = hub.uploads[upload_id]
        if not lost:
            lost.append(upload.chunks_held.pop(2))
        return complete(upload_id, **kwargs)

    hub._upload_complete = complete_after_losing_chunk_2_once

    code, out, err = run(capsys, *push(hub, path))

    assert code == 0, err
    assert hub.chunk_puts().count(2) == 2
    assert len(hub.extracts[1].rows) == 5


def test_an_upload_whose_whole_does_not_check_out_is_sent_anew_next_time(hub, tmp_path, capsys):
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)
    complete = hub._upload_complete
    calls = []

    def refuse_the_first_upload(upload_id, **kwargs):
        calls.append(upload_id)
        if len(calls) == 1:
            return 400, {"detail": "The file's checksum does not match."}
        return complete(upload_id, **kwargs)

    hub._upload_complete = refuse_the_first_upload

    code, out, err = run(capsys, *push(hub, path))
    assert code == 2
    assert "The file's checksum does not match. Run the same command again" in err

    code, out, err = run(capsys, *push(hub, path))
    assert code == 0, err
    assert len(hub.uploads) == 2 and calls[0] != calls[1]


def test_a_redirect_is_reported_not_followed_so_the_token_goes_nowhere_else(hub, tmp_path, capsys):
    elsewhere = FakeShareHub().start()
    try:
        hub.redirect_location = f"{elsewhere.url}/api/v1/datasets/7/"
        path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS)

        code, out, err = run(capsys, "check", "--url", hub.url, "--dataset", "7", str(path))

        assert code == 2
        assert f"answered with a redirect (HTTP 302) to {elsewhere.url}" in err
        assert "Use that address as --url." in err
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_the_set_aside_file_is_never_written_into_a_file_or_link_already_there(tmp_path):
    """Found by the outside review of issue 23: a planted file or symlink under the next name
    received the rows, readable by others."""
    from sharehub_bridge.set_aside import SetAsideFile

    planted = tmp_path / "x.set-aside.csv"
    planted.write_text("planted\n")
    planted.chmod(0o644)
    victim = tmp_path / "victim.txt"
    victim.write_text("")
    (tmp_path / "x.set-aside-2.csv").symlink_to(victim)
    with SetAsideFile(planted, ["id", "name"]) as set_aside:
        set_aside.write(2, ["Required identifier surname is missing."], {"id": "A", "name": "B"})
    assert set_aside.path == tmp_path / "x.set-aside-3.csv"
    assert planted.read_text() == "planted\n" and victim.read_text() == ""
    assert set_aside.path.stat().st_mode & 0o777 == 0o600
    assert "Required identifier surname is missing." in set_aside.path.read_text(
        encoding="utf-8-sig"
    )


def test_push_sends_nothing_when_more_rows_have_problems_than_sharehub_takes(hub, tmp_path, capsys):
    """Found by the outside review of issue 23: a file ShareHub would refuse whole for its
    rows with problems was sealed and uploaded first."""
    for document in hub.datasets.values():
        document["set_aside_limit"] = 0.1
    path = csv_write(tmp_path / "incidents.csv", GOOD_ROWS + BAD_ROWS)

    code, out, err = run(capsys, *push(hub, path))

    assert code == 1, err
    assert "over ShareHub's limit of 10%, so nothing was sent" in out
    assert not hub.extracts and not [m for m, _ in hub.requests if m in ("POST", "PUT")]
    assert list(tmp_path.glob("incidents.set-aside-*.csv"))
