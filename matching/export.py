"""The linked dataset for analysts: which records are one person, and which persons one household.

What an analyst gets is decided by the disclosure engine (protocols.engine), as for a case
summary: a row for each record the engine discloses to them, acting in their membership, for the
purpose they state (commissioning or evaluation). Nothing the engine holds back (a dataset no
protocol names, a record outside a rule's look-back, a rule waiting for consent) is written, and
an analyst whose protocols share nothing for the purpose is refused before anything is recorded.
This is the deliberate second exception to "matching never imports protocols" after the review
queue: the export is matching's, the decision the engine's.

Each agency answers for its own records, so the source record id is written only for records of
the analyst's own agency (they join the export back to their own data by it). Every other id,
and every person and household, appears under a pseudonym: HMAC-SHA256 under a random key drawn
for the export and then dropped (never stored, never logged). Two exports therefore share no
pseudonym, and no pseudonym equals a reference, an id or a match token that ShareHub keeps.

The platform admin's command (manage.py export_linkage) still writes every live record with its
source id, for checking linkage itself; it names the admin and its purpose in the audit trail.

Two analysts' exports must not line up row by row, or every pseudonym in one maps to the other
by position. So an analyst's rows come in the order of the person pseudonym, which is keyed for
the one export, and the link score is cut to one decimal place: an exact score is near enough
unique to join two files on (agency, dataset, score) whatever their order.

Rows are written as they are read, so a large population takes the memory of one batch (and the
export's list of person ids and references, which sets the order).
"""

import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from django.utils import timezone

from agencies.models import Membership, Role
from core.purpose import Purpose
from matching.models import LinkageExport, LinkageRecord, Person
from matching.persons import persons_holding_records_in
from matching.screening import identifiers_in_text, screen_problem
from protocols.engine import disclose, grants_for
from sharehub_bridge.definitions import csv_cell_safe

EXPORT_HEADER = (
    "agency_code",
    "dataset",
    "source_record_id",
    "person_pseudonym",
    "household_pseudonym",
    "link_score",
)
# An analyst's purposes (ARCHITECTURE.md): planning services and evaluating them.
EXPORT_PURPOSES = (Purpose.COMMISSIONING, Purpose.EVALUATION)
PURPOSE_MAX_LENGTH = LinkageExport._meta.get_field("purpose").max_length or 200
CHUNK_ROWS = 5_000
PERSONS_PER_BATCH = 500
# The analyst's export gives the link score to one decimal place (see the module's docstring).
ANALYST_SCORE_FORMAT = "{:.1f}"
PLATFORM_SCORE_FORMAT = "{:.4f}"


class ExportError(ValueError):
    """An export that cannot be made as asked; the message says what to change, and `field`
    names the input at fault ("purpose", "statement")."""

    def __init__(self, message: str, *, field: str = "statement") -> None:
        super().__init__(message)
        self.field = field


class ExportRefused(ExportError):
    """The caller's protocols disclose nothing for the purpose: a refusal, not a typing error."""


@dataclass(frozen=True)
class _Row:
    agency_id: int
    agency_code: str
    dataset_id: int
    dataset_name: str
    source_id: str
    person: str
    household: str | None
    score: float | None


def export_statement_clean(statement: str | None) -> str:
    """What the export is for, in the maker's words: required, short, and with no identifier."""
    statement = (statement or "").strip()
    if not statement:
        raise ExportError(
            'Say what the export is for, for example "Evaluation of the early help offer, 2026".'
        )
    if len(statement) > PURPOSE_MAX_LENGTH:
        raise ExportError(
            f"The purpose is {len(statement)} characters; shorten it to {PURPOSE_MAX_LENGTH} "
            "or fewer."
        )
    if kinds := identifiers_in_text(statement):
        raise ExportError(screen_problem(kinds, what="purpose"))
    return statement


# The command's name for the same check (its --purpose is the statement).
export_purpose_clean = export_statement_clean


def export_purposes_available(*, user, membership: Membership | None) -> list[str]:
    """The export purposes for which one of the user's protocols shares records with them."""
    today = timezone.localdate()
    return [
        purpose
        for purpose in EXPORT_PURPOSES
        if grants_for(user=user, membership=membership, purpose=purpose, today=today)
    ]


def linkage_export_start(
    *, user, membership: Membership | None, purpose: str, statement: str, channel: str
) -> tuple[LinkageExport, Iterator[str]]:
    """Check the request, record the export, and return it with its CSV text in chunks.

    Raises ExportError for a missing or wrong purpose or statement, and ExportRefused (audited
    as denied) when the user's protocols share no record for the purpose, before any byte is
    sent. The row count is written when the last chunk has been read, or when the reader stops
    early: it then says how many rows actually left.
    """
    if purpose not in EXPORT_PURPOSES:
        raise ExportError(
            "Choose what the export is for: planning and commissioning services, or "
            "evaluating services.",
            field="purpose",
        )
    statement = export_statement_clean(statement)
    now = timezone.now()
    grants = grants_for(
        user=user, membership=membership, purpose=purpose, today=timezone.localdate(now)
    )
    if not grants:
        _audit(
            actor=user,
            membership=membership,
            channel=channel,
            purpose=purpose,
            detail={"kind": "linkage", "reason": "no protocol for the purpose"},
            outcome="denied",
        )
        raise ExportRefused(
            f"None of your protocols shares records for {Purpose(purpose).label.lower()}, so "
            "there is nothing to export. Ask your IG officer which protocol covers this work.",
            field="purpose",
        )
    export = LinkageExport.objects.create(purpose=statement, made_by=user, channel=channel, rows=0)
    _audit(
        actor=user,
        membership=membership,
        channel=channel,
        purpose=purpose,
        versions={g.version_id for g in grants},
        # The datasets shared: each owner's IG officers see the export among reads of theirs.
        detail={
            "kind": "linkage",
            "export": export.pk,
            "statement": statement,
            "datasets": sorted({g.dataset_id for g in grants}),
        },
    )
    key = _export_key()
    rows = _disclosed_rows(
        key=key,
        user=user,
        membership=membership,
        purpose=purpose,
        now=now,
        dataset_ids={g.dataset_id for g in grants},
    )
    own_agency = membership.agency_id if membership is not None else None
    return export, _chunks(
        export, rows, key=key, own_agency=own_agency, score_format=ANALYST_SCORE_FORMAT
    )


def linkage_export_platform_start(*, admin, statement: str) -> tuple[LinkageExport, Iterator[str]]:
    """Every live linked record with its source id, for a platform admin checking linkage
    (manage.py export_linkage), named and audited with its purpose. Raises ExportRefused for
    anyone who is not an active platform admin."""
    statement = export_statement_clean(statement)
    membership = (
        Membership.objects.filter(user=admin, role=Role.PLATFORM_ADMIN, is_active=True).first()
        if admin is not None and admin.is_active
        else None
    )
    if membership is None:
        raise ExportRefused(
            "Only an active platform admin may export every agency's linked records; name one "
            "with --by.",
            field="by",
        )
    export = LinkageExport.objects.create(
        purpose=statement, made_by=admin, channel="command", rows=0
    )
    _audit(
        actor=admin,
        membership=membership,
        channel="command",
        detail={
            "kind": "linkage",
            "export": export.pk,
            "statement": statement,
            "scope": "every agency",
        },
    )
    return export, _chunks(
        export,
        _every_row(),
        key=_export_key(),
        own_agency=None,
        every_id=True,
        score_format=PLATFORM_SCORE_FORMAT,
    )


def linkage_export_write(stream: TextIO, *, admin, statement: str) -> LinkageExport:
    """Write the platform admin's export as CSV to `stream` (a text stream opened with
    newline=""); returns the LinkageExport row that records it."""
    export, chunks = linkage_export_platform_start(admin=admin, statement=statement)
    for chunk in chunks:
        stream.write(chunk)
    return export


def _audit(**fields) -> None:
    # audit/ sits above matching/ (ARCHITECTURE.md: imports point one way), hence the late import.
    from audit.models import AuditAction
    from audit.services import audit_record

    audit_record(action=AuditAction.EXPORT, **fields)


def _export_key() -> bytes:
    """The export's own key: its pseudonyms and its row order, dropped when the export ends."""
    return secrets.token_bytes(32)


def _pseudonym(key: bytes, kind: bytes, value: str | None) -> str:
    if not value:
        return ""
    # The kind keeps a person, a household and a record with the same text apart.
    return hmac.new(key, kind + b":" + value.encode(), hashlib.sha256).hexdigest()


def _disclosed_rows(
    *, key: bytes, user, membership, purpose: str, now, dataset_ids: set[int]
) -> Iterator[_Row]:
    """The records the engine discloses to the user, person by person in the order of their
    pseudonym in this export, in batches."""
    person_ids = persons_holding_records_in(
        dataset_ids, order_by=lambda reference: _pseudonym(key, b"person", reference)
    )
    for start in range(0, len(person_ids), PERSONS_PER_BATCH):
        batch_ids = person_ids[start : start + PERSONS_PER_BATCH]
        batch = list(Person.objects.filter(pk__in=batch_ids).select_related("household"))
        views = disclose(user=user, membership=membership, persons=batch, purpose=purpose, now=now)
        shown = [record for view in views.values() for record in view.records]
        facts = {
            record_id: (source_id, score)
            for record_id, source_id, score in LinkageRecord.objects.filter(
                record_id__in=[record.record_id for record in shown]
            ).values_list("record_id", "record__source_id", "link_score")
        }
        for person_id in batch_ids:
            view = views.get(person_id)
            if view is None:
                continue
            household = view.person.household
            # Within a person too, an order of the export's own (a record's pseudonym).
            for record in sorted(
                view.records, key=lambda r: _pseudonym(key, b"row", str(r.record_id))
            ):
                source_id, score = facts[record.record_id]
                yield _Row(
                    agency_id=record.agency.pk,
                    agency_code=record.agency.code,
                    dataset_id=record.dataset_id,
                    dataset_name=record.dataset_name,
                    source_id=source_id,
                    person=view.person.reference,
                    household=household.reference if household is not None else None,
                    score=score,
                )


def _every_row() -> Iterator[_Row]:
    """Every live record that belongs to a person, in record order, read in chunks."""
    rows = (
        LinkageRecord.objects.filter(record__is_retired=False, person__isnull=False)
        .order_by("record_id")
        .values_list(
            "record__dataset__agency_id",
            "record__dataset__agency__code",
            "record__dataset_id",
            "record__dataset__name",
            "record__source_id",
            "person__reference",
            "person__household__reference",
            "link_score",
        )
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for row in rows:
        yield _Row(*row)


def _chunks(
    export: LinkageExport,
    rows: Iterator[_Row],
    *,
    key: bytes,
    own_agency: int | None,
    score_format: str,
    every_id: bool = False,
) -> Iterator[str]:
    def pseudonym(kind: bytes, value: str | None) -> str:
        return _pseudonym(key, kind, value)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    written = 0
    try:
        writer.writerow(EXPORT_HEADER)
        for row in rows:
            if every_id or row.agency_id == own_agency:
                source_id = csv_cell_safe(row.source_id)
            else:
                source_id = pseudonym(b"record", f"{row.dataset_id}:{row.source_id}")
            writer.writerow(
                (
                    csv_cell_safe(row.agency_code),
                    csv_cell_safe(row.dataset_name),
                    source_id,
                    pseudonym(b"person", row.person),
                    pseudonym(b"household", row.household),
                    "" if row.score is None else score_format.format(row.score),
                )
            )
            written += 1
            if written % CHUNK_ROWS == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
    finally:
        LinkageExport.objects.filter(pk=export.pk).update(rows=written)
        export.rows = written
