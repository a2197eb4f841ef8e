"""Reading a file's rows: the date of birth order, every row through the row validator, record ids
derived where the file has none, and what was repaired.
"""

import hashlib
import hmac
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from agencies.ingest.receive import extract_limits
from agencies.ingest.staging import BATCH_ROWS, extract_progress_save, json_compact
from agencies.models import (
    Extract,
)
from core.keys import derive_key
from matching.pseudonymise import quarantine_seal
from sharehub_bridge import normalise
from sharehub_bridge.definitions import Definition
from sharehub_bridge.readers import ExtractFileError, extract_open
from sharehub_bridge.validation import (
    CONTACT_REPAIRS,
    NHS_CHECK_DIGIT,
    RepeatedRecordIds,
    dob_order_detect,
    free_text_repairs_take,
)


def dob_order_read(path: Path, extract: Extract, definition: Definition) -> str:
    with extract_open(path, filename=extract.filename, limits=extract_limits()) as reader:
        return dob_order_detect(definition, reader)


def repairs_summary(dob_repairs: Counter, dob_order: str) -> dict[str, Any]:
    """Damaged dates of birth repaired (or kept in part), NHS numbers failing their check digit,
    contact details left out and identifiers taken out of free text, among the rows loaded: the
    extract's result says how many, so the agency can fix its source."""
    repairs: dict[str, Any] = {}
    nhs_failures = dob_repairs.pop(NHS_CHECK_DIGIT, 0)
    contacts = {
        name: count for kind, name in CONTACT_REPAIRS.items() if (count := dob_repairs.pop(kind, 0))
    }
    free_text = free_text_repairs_take(dob_repairs)
    if dob_repairs:
        repairs["date_of_birth"] = dict(dob_repairs)
    if nhs_failures:
        repairs["nhs_number"] = {"check_digit": nhs_failures}
    if contacts:
        repairs["contacts"] = contacts
    if free_text:
        repairs["free_text"] = free_text
    if dob_order != normalise.DOB_ORDER_DAY_FIRST:
        repairs["date_of_birth_order"] = dob_order
    return repairs


def dob_unreadable_check(counts: dict[str, int], repairs: Counter) -> None:
    """A file whose dates of birth mostly cannot be read is written in a format ShareHub does not
    know (spreadsheet day numbers, say): loading it would replace every stored date of birth
    with none. Refused whole, like a file with too many bad rows."""
    unreadable, written = repairs.get("unreadable", 0), counts["dob"]
    threshold = settings.SHAREHUB_QUARANTINE_THRESHOLD
    if written and unreadable / written > threshold:
        raise ExtractFileError(
            f"{unreadable:,} of {written:,} dates of birth ({unreadable / written:.1%}) could "
            f"not be read at all, which is over the {threshold:.0%} limit, so nothing was "
            f"loaded. Export them as {normalise.DATE_FORMATS_HELP} (not as spreadsheet day "
            "numbers) and upload the whole file again."
        )


def source_id_derive(dataset_id: int) -> Callable[[dict[str, str]], str]:
    """For a file with no record id column: each row's record id, made from the dataset and the
    row's normalised identifiers, so the same person's row gets the same id in the next full
    refresh. An HMAC under a key of its own, never a plain hash: identifiers are few enough to
    guess, and the id is stored as it is. Rows with the same identifiers in one file are told
    apart by their order: the first keeps the id, the next get "-2", "-3"."""
    key = derive_key(DERIVED_ID_PURPOSE)
    repeats: Counter[str] = Counter()

    def derive(identifiers: dict[str, str]) -> str:
        message = json_compact([dataset_id, sorted(identifiers.items())]).encode()
        base = hmac.new(key, message, hashlib.sha256).hexdigest()
        repeats[base] += 1
        return base if repeats[base] == 1 else f"{base}-{repeats[base]}"

    return derive


DERIVED_ID_PURPOSE = "derived-record-id"


def rows_stage(extract, reader, validator, writer) -> None:
    """Validate every row and hand it to the writer, staged or set aside."""
    counts = writer.counts
    repeated = RepeatedRecordIds()
    derived_id = None if extract.version.source_id_column else source_id_derive(extract.dataset_id)
    for row in reader.rows():
        counts["read"] += 1
        outcome = validator.validate(row)
        if derived_id is not None:
            outcome.source_id = derived_id(outcome.identifiers)
        repeated.check(row.number, outcome)
        if outcome.errors:
            writer.set_aside(
                row.number,
                outcome.source_id if len(outcome.source_id) <= 200 else "",
                outcome.errors + outcome.warnings,
                quarantine_seal(
                    writer.sealer, extract_id=extract.pk, row_number=row.number, row=row.values
                ),
            )
        else:
            writer.load(row.number, outcome)
        if writer.pending() >= BATCH_ROWS:
            writer.flush()
            extract_progress_save(extract, reader.bytes_read(), counts)
    writer.flush()
