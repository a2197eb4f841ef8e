"""Staging: rows sealed and written in batches to the staging and set-aside tables."""

import csv
import io
import json
import queue
import threading
from collections import Counter

from django.db import connection

from agencies.models import (
    Extract,
    QuarantinedRow,
    StagedRow,
)
from core.keys import AgencySealer
from matching.pseudonymise import identity_seal
from sharehub_bridge.validation import (
    IdentifierTally,
    RowOutcome,
)

# One encoder for every row: json.dumps with options builds a new encoder on each call.
json_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

BATCH_ROWS = 5000


# --- Staging ------------------------------------------------------------------------------------


class StagingWriter:
    """Writes staged and quarantined rows in batches: COPY on PostgreSQL, bulk insert elsewhere.

    On PostgreSQL a thread of its own (with its own connection) does the COPY, so the database
    takes one batch while this process validates and seals the next: the two cores both work.
    Use as a context manager; leaving it waits for the last batch and raises its error, if any.

    `load` and `set_aside` are how both channels (a file, a sealed extract from the bridge) hand
    it a row: they count it in `counts`, `repairs` and `quality` the same way for both.
    """

    def __init__(
        self,
        extract: Extract,
        *,
        sealer: AgencySealer,
        counts: dict[str, int],
        repairs: Counter,
        quality: IdentifierTally,
    ):
        self.extract = extract
        self.sealer = sealer
        self.counts = counts
        self.repairs = repairs
        self.quality = quality
        self.staged: list[tuple] = []
        self.quarantined: list[QuarantinedRow] = []
        self.postgres = connection.vendor == "postgresql"
        self._batches: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "StagingWriter":
        # A second connection sees only committed rows, so the thread is used only when this
        # one is not inside a transaction (as in a worker, where the extract row is committed).
        if self.postgres and not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._copy_loop, name="staging-copy")
            self._thread.start()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join()
            self._thread = None
        if exc_type is None:  # an error already leaving the block is the one to report
            self._raise_copy_error()

    def load(self, number: int, outcome: RowOutcome) -> None:
        """A row that loads: counted, its identity sealed under the agency's key, staged."""
        counts = self.counts
        counts["loaded"] += 1
        counts["warned"] += bool(outcome.warnings)
        counts["dob"] += outcome.has_dob
        self.repairs.update(outcome.repairs)
        self.quality.add(outcome)
        identity = identity_seal(
            self.sealer,
            dataset_id=self.extract.dataset_id,
            source_id=outcome.source_id,
            identifiers=outcome.identifiers,
        )
        self.stage(number, outcome, identity)

    def set_aside(
        self, number: int, source_id: str, reasons: list[str], sealed: bytes | None
    ) -> None:
        """A row that does not load: counted and kept with its reasons (and, when it came in a
        file, the row itself, sealed)."""
        self.counts["quarantined"] += 1
        self.quarantine(number, source_id, reasons, sealed)

    def stage(self, number: int, outcome: RowOutcome, identity: bytes) -> None:
        self.staged.append(
            (
                number,
                outcome.source_id,
                identity,
                outcome.payload,
                outcome.event_date,
                outcome.warnings,
            )
        )

    def quarantine(
        self, number: int, source_id: str, reasons: list[str], sealed: bytes | None
    ) -> None:
        self.quarantined.append(
            QuarantinedRow(
                extract=self.extract,
                row_number=number,
                source_id=source_id,
                reasons=reasons,
                sealed_row=sealed,
            )
        )

    def pending(self) -> int:
        return len(self.staged) + len(self.quarantined)

    def flush(self) -> None:
        self._raise_copy_error()
        if self.staged:
            if self._thread is not None:
                self._batches.put(self.staged)
                self.staged = []
            elif self.postgres:
                self._copy(self.staged)
                self.staged.clear()
            else:
                StagedRow.objects.bulk_create(
                    [
                        StagedRow(
                            extract=self.extract,
                            row_number=number,
                            source_id=source_id,
                            identity=identity,
                            payload=payload,
                            event_date=event_date,
                            warnings=warnings,
                        )
                        for number, source_id, identity, payload, event_date, warnings in (
                            self.staged
                        )
                    ],
                    batch_size=1000,
                )
                self.staged.clear()
        if self.quarantined:
            QuarantinedRow.objects.bulk_create(self.quarantined, batch_size=1000)
            self.quarantined.clear()

    def _raise_copy_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _copy_loop(self) -> None:
        try:
            while (batch := self._batches.get()) is not None:
                if self._error is None:
                    self._copy(batch)
        except BaseException as error:  # handed to the ingesting thread, which raises it
            self._error = error
            while self._batches.get() is not None:  # let the producer finish and stop
                pass
        finally:
            connection.close()  # this thread's own connection

    def _copy(self, batch: list[tuple]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        extract_id = self.extract.pk
        for number, source_id, identity, payload, event_date, warnings in batch:
            writer.writerow(
                (
                    extract_id,
                    number,
                    source_id,
                    "\\x" + identity.hex(),
                    json_compact(payload),
                    event_date.isoformat() if event_date else "",
                    json_compact(warnings) if warnings else "[]",
                )
            )
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {StagedRow._meta.db_table} "
                "(extract_id, row_number, source_id, identity, payload, event_date, warnings) "
                "FROM STDIN WITH (FORMAT csv)",
                buffer,
            )


def extract_progress_save(extract: Extract, bytes_read: int, counts: dict[str, int]) -> None:
    Extract.objects.filter(pk=extract.pk).update(
        bytes_processed=bytes_read,
        rows_read=counts["read"],
        rows_loaded=counts["loaded"],
        rows_warned=counts["warned"],
        rows_quarantined=counts["quarantined"],
    )
