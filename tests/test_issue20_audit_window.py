"""Issue 20, tester's finding B: a cut of the audit trail's tail between anchors, followed by new
entries chained onto what was left, went unreported ("intact: 502 entries, checked against 6
anchors"). The write path now anchors every few entries and every few seconds, without beat, and
on SQLite the verifier reports entry ids that jump."""

import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit import anchors
from audit.models import AuditEntry
from audit.services import audit_verify
from tests.test_issue20_audit_chain import _tamper, _write, audit_key  # noqa: F401


def _cut(entries) -> None:
    ids = [e.pk for e in entries]
    _tamper(
        f"DELETE FROM audit_auditentry WHERE id IN ({', '.join(['%s'] * len(ids))})",  # noqa: S608
        ids,
    )


@pytest.mark.django_db
def test_the_testers_cut_past_the_window_and_two_new_entries_is_reported(
    audit_key,  # noqa: F811
    django_capture_on_commit_callbacks,
    settings,
):
    """Write more than the window, anchor, write more, cut them, let the app write two more.
    With a deployment's window of 10 entries (the default is now every entry)."""
    settings.SHAREHUB_AUDIT_ANCHOR_EVERY = 10
    with django_capture_on_commit_callbacks(execute=True):
        _write(25)
    call_command("audit_anchor")  # beat's anchor at 25
    with django_capture_on_commit_callbacks(execute=True):
        tail = _write(15)
    _cut(tail)
    with django_capture_on_commit_callbacks(execute=True):
        _write(2)  # the app chains them onto entry 25
    assert AuditEntry.objects.count() == 27
    # The write path anchored the cut entries (every 10): those anchors name entries now gone.
    anchored = [a for a in anchors.anchors_read()[0] if a.entries > 25]
    assert anchored and not AuditEntry.objects.filter(pk__in=[a.entry for a in anchored]).exists()
    result = audit_verify()
    assert not result.intact
    if connection.vendor == "sqlite":  # the id gap shows first there
        assert result.broken is not None and result.broken.reason == "gap"
    else:
        assert result.truncated is not None and result.truncated.anchored > 25
    with pytest.raises(CommandError, match="truncated|gap"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_the_write_path_anchors_after_its_time_window_without_beat(
    audit_key,  # noqa: F811
    settings,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    settings.SHAREHUB_AUDIT_ANCHOR_EVERY = 1000
    with django_capture_on_commit_callbacks(execute=True):
        _write(3)
    before = audit_verify().anchors
    # The last anchor this process wrote is older than the window.
    monkeypatch.setattr(anchors, "_last_written", -1e9)
    with django_capture_on_commit_callbacks(execute=True):
        (last,) = _write(1)
    after = anchors.anchors_read()[0]
    assert len(after) == before + 1
    assert after[-1].entry == last.pk


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="PostgreSQL leaves id gaps at rolled-back appends"
)
@pytest.mark.django_db
def test_a_cut_inside_the_window_shows_as_ids_that_jump_on_sqlite(
    audit_key,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        _write(25)
    call_command("audit_anchor")
    with django_capture_on_commit_callbacks(execute=True):
        tail = _write(3)
    _cut(tail)
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = _write(2)
    result = audit_verify()
    assert not result.intact
    assert result.broken is not None
    assert (result.broken.entry_id, result.broken.reason) == (first.pk, "gap")
    with pytest.raises(CommandError, match="gap"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_a_short_cut_with_the_id_sequence_reset_is_reported(
    audit_key,  # noqa: F811
    django_capture_on_commit_callbacks,
    settings,
    monkeypatch,
):
    """The second outside test: cut 5 entries after the last anchor (inside a 10-entry window),
    reset SQLite's id sequence so no gap shows, let the app write 15 more: "intact". Every
    entry is anchored now, so the cut entries' anchors outlive them."""
    # The deployment's own anchoring only: no time-window anchor falls due during the test.
    settings.SHAREHUB_AUDIT_ANCHOR_SECONDS = 3600
    monkeypatch.setattr(anchors, "_last_written", time.monotonic())
    with django_capture_on_commit_callbacks(execute=True):
        _write(20)
        tail = _write(5)
    _cut(tail)
    if connection.vendor == "sqlite":
        _tamper(
            "UPDATE sqlite_sequence SET seq = %s WHERE name = 'audit_auditentry'",
            [tail[0].pk - 1],
        )
    with django_capture_on_commit_callbacks(execute=True):
        _write(15)
    result = audit_verify()
    assert not result.intact
    with pytest.raises(CommandError, match="truncated|anchor|gap|missing"):
        call_command("audit_verify")
