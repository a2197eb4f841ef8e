"""`sharehub-bridge`: check an extract and send it to ShareHub from the agency's own machine.

    sharehub-bridge check --url URL --dataset ID FILE      (token in SHAREHUB_TOKEN)
    sharehub-bridge push --url URL --dataset ID --mode full|incremental FILE

Rows with problems stay on this machine in a CSV next to the file; the good rows go to ShareHub
with their identifiers sealed to ShareHub's ingest key. Nothing printed here holds a value from a
row or the token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from tqdm import tqdm

from sharehub_bridge import __version__
from sharehub_bridge.api_client import ShareHubClient, ShareHubError
from sharehub_bridge.definitions import Definition, DefinitionError, definition_parse
from sharehub_bridge.envelope import ALGORITHM, IdentitySealer, b64decode
from sharehub_bridge.preparation import (
    Preparation,
    Sealing,
    extract_prepare,
    file_sha256,
    repair_lines,
)
from sharehub_bridge.push import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_CHUNK_ATTEMPTS,
    EXTRACT_GOOD_STATUSES,
    PushState,
    PushStopped,
    Uploader,
    dataset_not_found,
    extract_wait,
    push_state_discard,
    push_state_load,
    push_state_path,
    push_state_save,
    sealed_file_digest,
)
from sharehub_bridge.readers import ExtractFileError

EXIT_OK = 0
EXIT_PROBLEMS = 1  # rows with problems, a file refused, an extract rejected or failed
EXIT_USAGE = 2  # usage, connection or API error: nothing was decided about the file
EXIT_INTERRUPTED = 130

_DESCRIPTION = """\
ShareHub's IG bridge. Run at your agency: it reads an extract with the same rules ShareHub uses,
keeps rows with problems on this machine (in a CSV next to the file, with the reasons), and sends
the good rows to ShareHub with every identifier (names, date of birth, NHS number, postcode,
phone, email, address) sealed so that only ShareHub's loading pipeline can read it.

Give the API token in the SHAREHUB_TOKEN environment variable rather than --token, so it stays
out of your shell history and of the process list. Exit codes: 0 done, 1 rows with problems or
the file or extract refused, 2 a usage, connection or ShareHub error (nothing was decided).
"""

_CHECK_HELP = """\
Read FILE as ShareHub would and say what would load: rows read, rows that would load, rows with
problems and why, warnings and identifier repairs. Nothing is sent. The rows with problems are
written to a CSV next to FILE (or in --set-aside-dir) for you to fix. Exit code 0 when every row
would load, 1 when some rows have problems or the file cannot be read, 2 on a usage or
connection error. Use --definition to check without a connection, against a definition saved
with `sharehub-bridge definition`.
"""

_PUSH_HELP = """\
Check FILE, keep its rows with problems on this machine, and send the good rows to ShareHub with
their identities sealed, in checksummed chunks; then wait for ShareHub's result and print it.
If the connection fails part way, run the same command again: it sends only what ShareHub does
not have yet (state kept in --work-dir). Exit code 0 when the extract loaded, 1 when ShareHub
rejected it (its message says why) or the file cannot be read, 2 on a usage or connection error.
"""


class UsageProblem(Exception):
    """Something to fix in how the command was run; str() says what."""


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        # A column name the console's code page lacks (Windows, output redirected to a file)
        # is shown as "?" rather than ending the run.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    parser = parser_build()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except (UsageProblem, ShareHubError, PushStopped) as problem:
        _error(str(problem))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("Stopped. Run the same command again to carry on.")
        return EXIT_INTERRUPTED


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharehub-bridge",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sharehub-bridge {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    check = commands.add_parser(
        "check",
        help="read and check a file as ShareHub would; send nothing",
        description=_CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _file_argument(check)
    _connection_arguments(check, required=False)
    check.add_argument(
        "--definition",
        type=Path,
        metavar="FILE.json",
        help="check offline against this saved dataset definition instead of asking ShareHub",
    )
    _set_aside_argument(check)
    _quiet_argument(check)
    check.set_defaults(run=check_run)

    push = commands.add_parser(
        "push",
        help="check a file, keep its rows with problems here, and send the good rows to ShareHub",
        description=_PUSH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _file_argument(push)
    _connection_arguments(push, required=True)
    push.add_argument(
        "--mode",
        required=True,
        choices=["full", "incremental"],
        help="full: FILE holds every current record, and records not in it are retired; "
        "incremental: FILE holds new and changed records only",
    )
    push.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="where the push keeps its state and the sealed copy it is sending (default: a "
        ".sharehub-bridge folder next to FILE); both are deleted once ShareHub has the upload",
    )
    _set_aside_argument(push)
    push.add_argument(
        "--chunk-attempts",
        type=_positive_int,
        default=DEFAULT_CHUNK_ATTEMPTS,
        metavar="N",
        help=f"tries per chunk on a network or server problem (default {DEFAULT_CHUNK_ATTEMPTS})",
    )
    push.add_argument(
        "--retry-pause",
        type=float,
        default=DEFAULT_BACKOFF_SECONDS,
        metavar="SECONDS",
        help="pause before the first retry, doubled for each one after "
        f"(default {DEFAULT_BACKOFF_SECONDS:g})",
    )
    push.add_argument(
        "--poll-seconds",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often to ask ShareHub for the result (default 2)",
    )
    push.add_argument(
        "--wait-minutes",
        type=float,
        default=120.0,
        metavar="MINUTES",
        help="how long to wait for the result before leaving ShareHub to finish (default 120)",
    )
    _quiet_argument(push)
    push.set_defaults(run=push_run)

    definition = commands.add_parser(
        "definition",
        help="save a dataset's definition, for `check --definition` without a connection",
        description="Fetch the dataset's current definition from ShareHub and write it as JSON.",
    )
    _connection_arguments(definition, required=True)
    definition.add_argument(
        "--output", type=Path, metavar="FILE.json", help="write here (default: print it)"
    )
    definition.set_defaults(run=definition_run)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="the extract: CSV (UTF-8 or Windows-1252), Excel .xlsx, or JSON Lines",
    )


def _connection_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_argument_group("connection to ShareHub")
    group.add_argument(
        "--url",
        default=os.environ.get("SHAREHUB_URL"),
        help="ShareHub's address, such as https://sharehub.example.org (or SHAREHUB_URL)",
    )
    group.add_argument(
        "--token",
        default=None,
        help="an agency admin's API token; better in the SHAREHUB_TOKEN environment variable",
    )
    group.add_argument(
        "--dataset",
        type=int,
        metavar="ID",
        help="the dataset's number (in the address of its page on ShareHub)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for ShareHub to answer one request (default 60)",
    )
    group.add_argument(
        "--ca-bundle",
        type=Path,
        metavar="FILE",
        default=os.environ.get("SHAREHUB_CA_BUNDLE") or None,
        help="CA certificates (PEM) to trust, when your network inspects TLS "
        "(or SHAREHUB_CA_BUNDLE); the system's certificates are used otherwise",
    )
    parser.set_defaults(connection_required=required)


def _set_aside_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set-aside-dir",
        type=Path,
        metavar="DIR",
        help="where to write the CSV of rows with problems (default: next to FILE)",
    )


def _quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def check_run(args: argparse.Namespace) -> int:
    path = _file_check(args.file)
    if args.definition is not None:
        definition, version = definition_from_file(args.definition)
    else:
        client = _client(args)
        definition, version = dataset_definition(client, args.dataset)
    try:
        found = _prepare(path, definition, args, sealing=None)
    except ExtractFileError as refused:
        print(f"The file cannot be loaded: {refused}")
        return EXIT_PROBLEMS
    _summary_print(found, definition, version)
    if found.rows_read == 0:
        print("The file has a header but no rows: ShareHub would refuse it.")
        return EXIT_PROBLEMS
    return EXIT_PROBLEMS if found.rows_set_aside else EXIT_OK


def push_run(args: argparse.Namespace) -> int:
    path = _file_check(args.file)
    client = _client(args)
    document = client.get(f"datasets/{args.dataset}/", not_found=dataset_not_found(args.dataset))
    definition, version = dataset_definition_read(document, args.dataset)
    if args.mode == "incremental" and not definition.source_id_column:
        # ShareHub refuses it too; said here before the whole file is read and sealed.
        _fail(
            f"Dataset {args.dataset} has no record id column, so it takes full refreshes only: "
            "records are matched from one refresh to the next by the person's details. Push the "
            "whole file with --mode full."
        )
    work_dir = _work_dir(args.work_dir or path.parent / ".sharehub-bridge")
    checksum = file_sha256(path)
    state_path = push_state_path(
        work_dir, url=client.base_url, dataset=args.dataset, mode=args.mode, file_sha256=checksum
    )
    state = _state_resumable(state_path, definition_version=version)
    if state is not None:
        found = Preparation.from_json(state.preparation)
        print(f"Resuming the push of {path.name} started at {state.started_at}.")
        _summary_print(found, definition, version)
    else:
        try:
            state, found = _seal(client, args, path, definition, version, state_path, checksum)
        except ExtractFileError as refused:
            print(f"The file cannot be loaded, so nothing was sent: {refused}")
            return EXIT_PROBLEMS
        _summary_print(found, definition, version)
        if found.rows_read == 0:
            push_state_discard(state_path, state)
            print("The file has a header but no rows, so nothing was sent.")
            return EXIT_PROBLEMS
        limit = document.get("set_aside_limit")
        if isinstance(limit, (int, float)) and found.rows_set_aside / found.rows_read > limit:
            # ShareHub would refuse the whole file after it arrived: not sent at all.
            push_state_discard(state_path, state)
            share = found.rows_set_aside / found.rows_read
            print(
                f"{found.rows_set_aside:,} of {found.rows_read:,} rows ({share:.1%}) have "
                f"problems, over ShareHub's limit of {limit:.0%}, so nothing was sent. Fix the "
                "rows in the set-aside file, then push the whole file again."
            )
            return EXIT_PROBLEMS
    print(
        f"Sending {found.rows_ready:,} rows to ShareHub, identities sealed"
        + (
            f"; {found.rows_set_aside:,} rows with problems stay here (only their row "
            "numbers, record ids and reasons are sent)."
            if found.rows_set_aside
            else "."
        )
    )
    uploader = Uploader(
        client=client,
        state=state,
        state_path=state_path,
        filename=path.name,
        bar=_bar_factory(args),
        attempts=args.chunk_attempts,
        backoff=args.retry_pause,
        say=_error,
    )
    extract_id = uploader.send()
    # ShareHub holds the whole upload: the local sealed copy of the records is no longer needed.
    push_state_discard(state_path, state)
    print("ShareHub has the upload. Waiting for it to load...")
    result = extract_wait(
        client,
        extract_id,
        bar=_bar_factory(args),
        poll_seconds=args.poll_seconds,
        wait_seconds=args.wait_minutes * 60,
        attempts=args.chunk_attempts,
        backoff=args.retry_pause,
    )
    _result_print(result, found, client)
    return EXIT_OK if result.get("status") in EXTRACT_GOOD_STATUSES else EXIT_PROBLEMS


def definition_run(args: argparse.Namespace) -> int:
    client = _client(args)
    document = client.get(f"datasets/{args.dataset}/", not_found=dataset_not_found(args.dataset))
    dataset_definition_read(document, args.dataset)  # refuse one without a usable definition
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"Saved the definition of dataset {args.dataset} to {args.output}.")
    return EXIT_OK


def _error(message: str) -> None:
    print(f"sharehub-bridge: {message}", file=sys.stderr)


def _fail(message: str) -> NoReturn:
    raise UsageProblem(message)


def _file_check(path: Path) -> Path:
    if not path.is_file():
        _fail(f"There is no file {path}.")
    return path.resolve()


def _client(args: argparse.Namespace) -> ShareHubClient:
    token = args.token or os.environ.get("SHAREHUB_TOKEN", "")
    missing = [
        name
        for name, given in (("--url", args.url), ("--dataset", args.dataset), ("--token", token))
        if given in (None, "")
    ]
    if missing:
        extra = " (or --definition FILE.json to check offline)" if args.run is check_run else ""
        _fail(
            f"Give {', '.join(missing)}{extra}. The token is best given in the SHAREHUB_TOKEN "
            "environment variable."
        )
    token = token.strip()
    if not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        # Checked here: the HTTP library would refuse it with the token in its error message.
        _fail(
            "The API token holds spaces, line breaks or other characters a token never has: "
            "copy it again from ShareHub."
        )
    if args.ca_bundle is not None and not Path(args.ca_bundle).is_file():
        _fail(f"There is no CA bundle file {args.ca_bundle}.")
    return ShareHubClient(args.url, token, timeout=args.timeout, ca_bundle=args.ca_bundle)


def dataset_definition(client: ShareHubClient, dataset: int) -> tuple[Definition, int]:
    document = client.get(f"datasets/{dataset}/", not_found=dataset_not_found(dataset))
    return dataset_definition_read(document, dataset)


def dataset_definition_read(document: Any, dataset: int | None) -> tuple[Definition, int]:
    """The Definition in a dataset document of the API (GET /api/v1/datasets/<id>/), built as
    the platform's definition_from_version builds it, and its version number."""
    if not isinstance(document, dict) or "version" not in document:
        _fail("ShareHub's answer is not a dataset: check --url is ShareHub's address.")
    version = document["version"]
    if not version:
        _fail(
            f"Dataset {dataset if dataset is not None else document.get('id')} has no definition "
            "yet: define its columns on ShareHub first."
        )
    try:
        definition = definition_parse(
            {
                "name": document.get("name"),
                "source_id_column": version.get("source_id_column"),
                "event_date_column": version.get("event_date_column"),
                "columns": version.get("columns"),
            },
            stored=True,
        )
    except DefinitionError as error:
        _fail("The dataset's definition cannot be used: " + " ".join(error.problems))
    return definition, int(version.get("number") or 0)


def definition_from_file(path: Path) -> tuple[Definition, int]:
    """A saved dataset document (`sharehub-bridge definition`) or a definition as written for
    ShareHub's API ({"name", "source_id_column", "columns", ...})."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        _fail(f"There is no definition file {path}.")
    except (OSError, ValueError) as error:
        _fail(f"The definition file {path} is not JSON ({type(error).__name__}).")
    if isinstance(data, dict) and "version" in data:
        return dataset_definition_read(data, data.get("id"))
    try:
        return definition_parse(data, stored=True), 0
    except DefinitionError as error:
        _fail(f"The definition file {path} cannot be used: " + " ".join(error.problems))


def _work_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.name == "posix":
            # The sealed copy holds the records: readable by this account only.
            path.chmod(0o700)
    except OSError as error:
        _fail(f"The work directory {path} cannot be used ({error.strerror}); give --work-dir.")
    return path


def _set_aside_path(args: argparse.Namespace, path: Path) -> Path:
    folder = args.set_aside_dir or path.parent
    stamp = datetime.now().astimezone().strftime("%Y%m%d-%H%M%S")
    return folder / f"{path.stem}.set-aside-{stamp}.csv"


def _bar_factory(args: argparse.Namespace) -> Callable[..., tqdm]:
    def bar(*, total: float, desc: str, initial: float = 0, unit: str = "B") -> tqdm:
        byte_units = unit == "B"
        return tqdm(
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            unit_scale=byte_units,
            unit_divisor=1024 if byte_units else 1000,
            # None: shown on a terminal, left out of logs and scheduled tasks.
            disable=True if args.quiet else None,
            leave=False,
            file=sys.stderr,
        )

    return bar


def _prepare(
    path: Path,
    definition: Definition,
    args: argparse.Namespace,
    *,
    sealing: Sealing | None,
    known_sha256: str = "",
) -> Preparation:
    bar = _bar_factory(args)(total=path.stat().st_size, desc="Reading")
    done = 0

    def progress(bytes_read: int) -> None:
        nonlocal done
        if bytes_read > done:
            bar.update(bytes_read - done)
            done = bytes_read

    try:
        return extract_prepare(
            path,
            definition,
            set_aside_path=_set_aside_path(args, path),
            sealing=sealing,
            progress=progress,
            known_sha256=known_sha256,
        )
    finally:
        bar.close()


def _state_resumable(state_path: Path, *, definition_version: int) -> PushState | None:
    """The state of an earlier push of the same file that can carry on, or None (a stale one is
    discarded: the definition changed, or its sealed copy is gone or altered)."""
    state = push_state_load(state_path)
    if state is None:
        # A state file cut short or from another version: start afresh, its sealed copy too.
        state_path.with_suffix(".sealed.jsonl").unlink(missing_ok=True)
        push_state_discard(state_path, None)
        return None
    sealed = Path(state.sealed_file)
    usable = (
        state.definition_version == definition_version
        and sealed.is_file()
        and sealed_file_digest(sealed) == (state.sealed_bytes, state.sealed_sha256)
    )
    if not usable:
        push_state_discard(state_path, state)
        return None
    return state


def _seal(
    client: ShareHubClient,
    args: argparse.Namespace,
    path: Path,
    definition: Definition,
    version: int,
    state_path: Path,
    checksum: str,
) -> tuple[PushState, Preparation]:
    key = client.get("ingest-key/")
    try:
        if key.get("algorithm") != ALGORITHM:
            _fail(
                f"ShareHub seals identities with {key.get('algorithm')}, which this bridge "
                f"({__version__}) does not know: install the bridge version ShareHub offers."
            )
        sealer = IdentitySealer(
            public_key=b64decode(key["public_key"]),
            key_version=int(key["key_version"]),
            dataset_id=args.dataset,
        )
    except (KeyError, TypeError, ValueError):
        _fail("ShareHub's ingest key is not one the bridge can use: tell its administrators.")
    sealed_path = state_path.with_suffix(".sealed.jsonl")
    # Readable by this account only (os.O_BINARY: no newline translation on Windows).
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
    descriptor = os.open(sealed_path, flags, 0o600)
    try:
        with os.fdopen(descriptor, "wb", buffering=1024 * 1024) as stream:
            found = _prepare(
                path,
                definition,
                args,
                sealing=Sealing(
                    stream=stream,
                    sealer=sealer,
                    dataset=args.dataset,
                    definition_version=version,
                    mode=args.mode,
                ),
                known_sha256=checksum,
            )
    except BaseException:
        sealed_path.unlink(missing_ok=True)
        raise
    size, checksum = sealed_file_digest(sealed_path)
    state = PushState(
        url=client.base_url,
        dataset=args.dataset,
        mode=args.mode,
        file_sha256=found.file_sha256,
        definition_version=version,
        sealed_file=str(sealed_path),
        sealed_bytes=size,
        sealed_sha256=checksum,
        preparation=found.to_json(),
    )
    push_state_save(state_path, state)
    return state, found


def _field(label: str, value: str) -> None:
    print(f"{label + ':':<21}{value}")


def _summary_print(found: Preparation, definition: Definition, version: int) -> None:
    label = found.file_format.upper() if found.file_format else "file"
    _field("File", f"{found.filename} ({label}, {found.file_bytes:,} bytes)")
    _field("Dataset", definition.name + (f" (definition version {version})" if version else ""))
    _field("Rows read", f"{found.rows_read:,}")
    _field("Would load", f"{found.rows_ready:,}")
    share = f" ({found.rows_set_aside / found.rows_read:.1%})" if found.rows_read else ""
    _field("With problems", f"{found.rows_set_aside:,}{share}")
    _field("With warnings", f"{found.rows_warned:,} (they load; the warnings say what to fix)")
    for line in repair_lines(found):
        print(f"  {line}")
    if found.rows_set_aside:
        print(f"Rows with problems are in {found.set_aside_path}")
        print("  (kept on this machine; fix them and push that file as an incremental extract)")
        print("The most common problems:")
        for reason, rows in list(found.reasons.items())[:10]:
            print(f"  {rows:>7,} {'row ' if rows == 1 else 'rows'}: {reason}")
        print("The first rows with problems:")
        for number, reasons in found.first_problems:
            print(f"  row {number}: {' '.join(reasons)}")


def _result_print(result: dict[str, Any], found: Preparation, client: ShareHubClient) -> None:
    label = result.get("status_label") or result.get("status")
    # Named as ShareHub's pages name it: its number within the dataset (1, 2, 3 ...).
    print(f"Extract {result.get('number') or result.get('id')}: {label}")
    _field("Rows read", f"{found.rows_read:,} in the file")
    _field("Loaded", f"{int(result.get('rows_loaded') or 0):,}")
    _field("Kept at your agency", f"{found.rows_set_aside:,} (never sent)")
    # Rows the bridge sent that ShareHub's own check of each row refused: their values are not
    # in the local set-aside file, so the extract's page is where to find which and why.
    refused = int(result.get("rows_quarantined") or 0) - found.rows_set_aside
    if refused > 0:
        _field("Refused by ShareHub", f"{refused:,} (the extract's page lists them with reasons)")
    _field("With warnings", f"{int(result.get('rows_warned') or 0):,}")
    if result.get("records_retired"):
        _field("Records retired", f"{int(result['records_retired']):,}")
    for line in [
        *(result.get("repairs") or []),
        *(result.get("contact_warnings") or []),
        result.get("free_text") or "",
    ]:
        if line:
            print(f"  {line}")
    if result.get("message"):
        print(f"ShareHub says: {result['message']}")
    link = next((result[k] for k in ("page_url", "url", "html_url") if result.get(k)), None)
    if isinstance(link, str):
        if link.startswith("/"):
            link = client.base_url + link
        print(f"Extract page: {link}")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
