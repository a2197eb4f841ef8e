"""Anchors of the audit trail outside the database (SECURITY.md row 19).

The head entry's id and hash and the count of entries up to it, one JSON line each, appended to
the file SHAREHUB_AUDIT_ANCHOR_PATH names (a write-once mount, or a file shipped off the host)
and written to the log (logger "audit.anchor"). Each line carries a MAC under the audit key, so
a line added by someone without the key is told apart. audit.services writes one after the
first keyed entry, every SHAREHUB_AUDIT_ANCHOR_EVERY (1) entries and, from the write path, at the
first entry after SHAREHUB_AUDIT_ANCHOR_SECONDS (30) without an anchor from that process; beat
writes the current head every few minutes (audit_anchor); audit_verify reads them all back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEntry
from core.keys import audit_key, audit_key_of

logger = logging.getLogger(__name__)
anchor_logger = logging.getLogger("audit.anchor")

# When this process last wrote an anchor (time.monotonic()), for the write path's time window;
# None before its first, so a process's first entry is anchored.
_last_written: float | None = None


class UnknownAuditKey(Exception):
    """An entry names an audit key version that SHAREHUB_AUDIT_KEY no longer lists."""


def keyed_mac(version: int, purpose: bytes, message: str) -> str:
    key = audit_key_of(version)
    if key is None:
        raise UnknownAuditKey(version)
    return hmac.new(key.key, purpose + message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Anchor:
    at: str
    entries: int  # how many entries the chain held up to and including `entry`
    entry: int  # the id of the head entry
    head: str  # its hash
    key: int


def _anchor_mac(anchor: dict[str, Any]) -> str:
    body = json.dumps(
        {k: anchor[k] for k in ("at", "entries", "entry", "head", "key")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return keyed_mac(anchor["key"], b"sharehub:audit-anchor:", body)


def _anchor_path() -> Path:
    return Path(settings.SHAREHUB_AUDIT_ANCHOR_PATH)


def anchor_write(*, entry_id: int, entries: int, head: str) -> Anchor:
    """Append one anchor line (and log it). Never raises: the entry is committed already, and
    a failure is an error in the log, which the next anchor makes good."""
    global _last_written
    _last_written = time.monotonic()
    key = audit_key()
    line: dict[str, Any] = {
        "at": timezone.now().astimezone(UTC).isoformat(timespec="seconds"),
        "entries": entries,
        "entry": entry_id,
        "head": head,
        "key": key.version,
    }
    line["mac"] = _anchor_mac(line)
    path = _anchor_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_APPEND: each line lands whole at the end, whichever process writes it.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(line, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        logger.error("audit anchor not written to %s: %s", path, type(error).__name__)
    anchor_logger.info(
        "audit anchor: %s entries, head entry %s %s (key %s)", entries, entry_id, head, key.version
    )
    return Anchor(line["at"], entries, entry_id, head, key.version)


def anchor_due() -> bool:
    """Whether this process has written no anchor for SHAREHUB_AUDIT_ANCHOR_SECONDS: the write
    path then anchors the entry it writes, so a busy trail is anchored within seconds without
    beat, and a quiet one at its next entry."""
    return (
        _last_written is None
        or time.monotonic() - _last_written >= settings.SHAREHUB_AUDIT_ANCHOR_SECONDS
    )


def audit_anchor() -> Anchor | None:
    """Anchor the current head, unless the last anchor already names it (beat runs this every
    few minutes, so a quiet trail's tail is anchored too). None if there is nothing to anchor."""
    head = AuditEntry.objects.order_by("-pk").values("pk", "seq", "entry_hash").first()
    if head is None:
        return None
    anchors, _ = anchors_read()
    if anchors and anchors[-1].entry == head["pk"]:
        return None
    entries = head["seq"] if head["seq"] is not None else AuditEntry.objects.count()
    return anchor_write(entry_id=head["pk"], entries=entries, head=head["entry_hash"])


def anchors_read() -> tuple[list[Anchor], int]:
    """The anchors in the file whose MAC holds, in file order, and how many lines did not."""
    path = _anchor_path()
    if not path.exists():
        return [], 0
    anchors: list[Anchor] = []
    bad = 0
    with path.open() as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                good = hmac.compare_digest(_anchor_mac(line), str(line["mac"]))
                anchor = Anchor(
                    str(line["at"]),
                    int(line["entries"]),
                    int(line["entry"]),
                    str(line["head"]),
                    int(line["key"]),
                )
            except (ValueError, KeyError, TypeError, UnknownAuditKey):
                good = False
            if good:
                anchors.append(anchor)
            else:
                bad += 1
    return anchors, bad
