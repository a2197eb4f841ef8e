"""No path round the disclosure engine to a sealed identity (SECURITY.md row 18, issue 20).

A record's identifiers are stored only sealed under its agency's data key, and opened by
matching.pseudonymise.identity_open (over core.keys.agency_open, AES-GCM). Whoever can call
those can read any agency's identities whatever the protocols say. So every module that names
them is on one of the lists below, each with its reason, and this test reads the source (ast, not
imports: a call in a branch no test reaches counts as much as any other) of every module of the
project, tests and migrations aside. A new caller fails here until it is listed, which means
until someone has argued, in review, why it is not a way round the engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {"tests", "migrations", "node_modules", "build", "static", "templates", "var"}

# What opens a sealed identity, at each layer: the identity itself, a rejected row as the file
# had it (its identifiers included), the raw open of any agency blob, and the key material under
# them. A module that names one of these (imports it, calls it, passes it on) uses it.
IDENTITY_OPENERS = {"identity_open"}
ROW_OPENERS = {"quarantine_open"}
# Another agency's part of a subject access report, released by its owner and sealed for the
# requesting agency (finding 1): identities too, once released.
RELEASE_OPENERS = {"release_open"}
RAW_OPENERS = {"agency_open", "AESGCM", "_unwrap", "_unwrap_with", "_master_key", "decrypt"}
# The IG bridge channel (issue 23): identities arrive sealed to the ingest key, and whoever holds
# its private key and an opener reads every identity of an upload. Only the ingest task may.
INGEST_OPENERS = {"IdentityOpener", "ingest_private_key", "ingest_private_keys"}

# Where the design says a sealed identity may be opened (ARCHITECTURE.md, SECURITY.md row 18).
ENGINE_AND_RELEASE = {
    # The disclosure engine: the one place that decides what a user sees.
    "protocols/engine.py",
    # Subject access: an agency's own records, and others' parts once their owner releases them
    # (finding 1 of issue 20 builds the release step in this app).
    "subject_access/",
    # Key rotation: opens and reseals every blob under the new key, showing nothing.
    "sharehub/rotation.py",
    "sharehub/management/commands/rotate_keys.py",
    # Where sealing and opening are defined.
    "matching/pseudonymise.py",
}
# Linkage keys: the keyed tokens are computed from the identifiers in the linkage worker and
# nothing is shown (SECURITY.md row 18 names "linkage keys" among the allowed places).
LINKAGE_KEYS = {"matching/linkage/keys.py"}
# An agency admin downloads their own agency's rejected rows to fix them: the agency's own data,
# back to its own admin, never another agency's.
OWN_AGENCY_REJECTED_ROWS = {"agencies/ingest/quarantine.py"}
# Key handling, in one place.
KEY_MODULE = {"core/keys.py"}

# Callers today that go round the engine, each to be removed by the finding named. When the
# finding is fixed, its entry must go: the test fails on an entry that no longer calls.
# (Issue 20 finding 3 took link review's opening, matching/review.py, into the engine:
# protocols.engine.link_review_identities.)
PENDING_REMOVAL: dict[str, str] = {}

ALLOWED: dict[str, set[str]] = {
    name: ENGINE_AND_RELEASE | LINKAGE_KEYS | KEY_MODULE | set(PENDING_REMOVAL)
    for name in IDENTITY_OPENERS
}
ALLOWED.update(
    {
        name: {
            "matching/pseudonymise.py",
            "sharehub/rotation.py",
            *OWN_AGENCY_REJECTED_ROWS,
            *KEY_MODULE,
        }
        for name in ROW_OPENERS
    }
)
ALLOWED.update(
    {
        name: {"matching/pseudonymise.py", "sharehub/rotation.py", "subject_access/"}
        for name in RELEASE_OPENERS
    }
)
# The bridge's envelope: where the ingest key's AES-GCM is defined, as the agency's is in keys.
INGEST_ENVELOPE = {"bridge/src/sharehub_bridge/envelope.py"}
ALLOWED.update(
    {name: {"matching/pseudonymise.py", *KEY_MODULE, *INGEST_ENVELOPE} for name in RAW_OPENERS}
)
# The ingest task opens a sealed extract's identities and seals them again under the agency's
# key at once (agencies.ingest.sealed); the keys module holds the private keys.
ALLOWED.update(
    {name: {"agencies/ingest/sealed.py", *KEY_MODULE, *INGEST_ENVELOPE} for name in INGEST_OPENERS}
)


def project_modules() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0].startswith(".") or any(part in SKIPPED_DIRS for part in parts):
            continue
        found.append(path)
    return found


def names_used(source: str) -> set[str]:
    """Every sensitive name the source imports, reads or calls, however it is reached
    (`from x import identity_open`, `pseudonymise.identity_open(...)`, `getattr` aside)."""
    watched = IDENTITY_OPENERS | ROW_OPENERS | RELEASE_OPENERS | RAW_OPENERS | INGEST_OPENERS
    used = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            used.update(alias.name for alias in node.names if alias.name in watched)
        elif isinstance(node, ast.Name) and node.id in watched:
            used.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in watched:
            used.add(node.attr)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value in watched - {"decrypt"}
        ):
            # getattr(module, "identity_open") or an import by string.
            used.add(node.value)
    return used


def _allowed(relative: str, name: str) -> bool:
    return any(
        relative == entry or (entry.endswith("/") and relative.startswith(entry))
        for entry in ALLOWED[name]
    )


def callers() -> dict[str, set[str]]:
    """{module path: the sensitive names it uses}, over the whole project."""
    found = {}
    for path in project_modules():
        used = names_used(path.read_text())
        if used:
            found[path.relative_to(ROOT).as_posix()] = used
    return found


def test_the_scanner_finds_every_way_of_reaching_an_opener():
    assert names_used("from matching.pseudonymise import identity_open\n") == {"identity_open"}
    assert names_used("import matching.pseudonymise as p\np.identity_open(blob=b'')\n") == {
        "identity_open"
    }
    assert names_used("opener = getattr(p, 'identity_open')\n") == {"identity_open"}
    assert names_used("AESGCM(key).decrypt(n, c, a)\n") == {"AESGCM", "decrypt"}
    assert names_used("from protocols.engine import disclose\n") == set()


def test_only_the_engine_subject_access_and_key_paths_open_a_sealed_identity():
    unlisted = {
        f"{module}: {name}"
        for module, names in callers().items()
        for name in names
        if not _allowed(module, name)
    }
    assert not unlisted, (
        "These modules open sealed identities outside the disclosure engine, the subject access "
        "release path and the key paths. Ask the engine (protocols.engine.disclose) instead: "
        + ", ".join(sorted(unlisted))
    )


def test_every_caller_awaiting_removal_still_calls_or_its_entry_goes():
    found = callers()
    stale = [
        f"{module} ({finding})"
        for module, finding in PENDING_REMOVAL.items()
        if not (found.get(module, set()) & IDENTITY_OPENERS)
    ]
    assert not stale, (
        "No longer opens a sealed identity: delete its PENDING_REMOVAL entry in "
        f"tests/test_sealed_identity_guard.py: {', '.join(stale)}"
    )


def test_todays_callers_are_the_ones_this_file_knows():
    """What the lists above stand for today, so a report can name them."""
    identity_callers = sorted(m for m, names in callers().items() if names & IDENTITY_OPENERS)
    assert "protocols/engine.py" in identity_callers
    assert all(_allowed(m, "identity_open") for m in identity_callers), identity_callers
