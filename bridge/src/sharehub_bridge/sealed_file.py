"""The sealed extract: what the bridge sends in place of the agency's file.

A UTF-8 JSON Lines file, written by the bridge (`SealedExtractWriter`) and read by the platform's
ingest task (`sealed_extract_read`), so both sides share one definition of it:

1. a header line: {"format": FORMAT, "dataset", "definition_version", "mode", "filename",
   "file_format", "file_sha256", "file_bytes", "dob_order", "bridge_version", "key_version",
   "ephemeral_public_key", "salt"} (keys base64);
2. one line per row that passed validation: {"n": row number, "id": record id, "p": the record
   (payload, as the validator made it), "e": event date (ISO) or null, "w": warnings, "r":
   repairs, "d": 1 if it had a date of birth, "v": the names of its identifiers that failed their
   rule (validation.IDENTIFIER_RULES; names only, for the extract's data quality), "s": its
   identifiers sealed (base64)};
3. one line per row kept back at the agency: {"n", "id" (record id, or "" when it had none or an
   unusable one), "reasons"}: reasons only, never a value, so the platform can say which rows and
   why, and a full refresh does not retire the records they hold;
4. a last line: {"end": true, "rows_read", "rows_sent", "rows_set_aside"}; a file without it was
   cut short and is refused.

Identifiers appear only inside "s". Everything else is the record as the platform would have kept
it from the raw file: payloads are sensitive and travel only over TLS to the platform.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from sharehub_bridge.envelope import (
    EnvelopeHeader,
    IdentitySealer,
    b64decode,
    b64encode,
)
from sharehub_bridge.validation import RowOutcome

FORMAT = "sharehub-sealed-extract/1"
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class SealedFileError(ValueError):
    """The sealed extract is not one the platform can read; str() says what is wrong, never a
    value from a row."""


@dataclass(frozen=True)
class SealedHeader:
    dataset: int
    definition_version: int
    mode: str
    filename: str
    file_format: str
    file_sha256: str
    file_bytes: int
    dob_order: str
    bridge_version: str
    envelope: EnvelopeHeader


@dataclass(frozen=True, slots=True)
class SealedRow:
    number: int
    source_id: str
    payload: dict[str, Any]
    event_date: str | None
    warnings: list[str]
    repairs: list[str]
    has_dob: bool
    sealed_identity: bytes
    identifiers_invalid: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SetAsideRow:
    number: int
    source_id: str
    reasons: list[str]


@dataclass
class SealedTotals:
    rows_read: int = 0
    rows_sent: int = 0
    rows_set_aside: int = 0


class SealedExtractWriter:
    """Writes a sealed extract line by line to a binary stream (bridge side)."""

    def __init__(self, stream: IO[bytes], header: SealedHeader, sealer: IdentitySealer):
        self.stream = stream
        self.sealer = sealer
        self.totals = SealedTotals()
        envelope = header.envelope
        self._line(
            {
                "format": FORMAT,
                "dataset": header.dataset,
                "definition_version": header.definition_version,
                "mode": header.mode,
                "filename": header.filename,
                "file_format": header.file_format,
                "file_sha256": header.file_sha256,
                "file_bytes": header.file_bytes,
                "dob_order": header.dob_order,
                "bridge_version": header.bridge_version,
                "key_version": envelope.key_version,
                "ephemeral_public_key": b64encode(envelope.ephemeral_public_key),
                "salt": b64encode(envelope.salt),
            }
        )

    def _line(self, data: dict[str, Any]) -> None:
        self.stream.write(_encode(data).encode() + b"\n")

    def row(self, number: int, outcome: RowOutcome) -> None:
        sealed = self.sealer.seal(
            row_number=number, source_id=outcome.source_id, identifiers=outcome.identifiers
        )
        self._line(
            {
                "n": number,
                "id": outcome.source_id,
                "p": outcome.payload,
                "e": outcome.event_date.isoformat() if outcome.event_date else None,
                "w": outcome.warnings,
                "r": outcome.repairs,
                "d": int(outcome.has_dob),
                "v": list(outcome.identifiers_invalid),
                "s": b64encode(sealed),
            }
        )
        self.totals.rows_read += 1
        self.totals.rows_sent += 1

    def set_aside(self, number: int, source_id: str, reasons: list[str]) -> None:
        self._line({"n": number, "id": source_id, "reasons": reasons})
        self.totals.rows_read += 1
        self.totals.rows_set_aside += 1

    def end(self) -> None:
        self._line(
            {
                "end": True,
                "rows_read": self.totals.rows_read,
                "rows_sent": self.totals.rows_sent,
                "rows_set_aside": self.totals.rows_set_aside,
            }
        )


def _header_read(line: bytes) -> SealedHeader:
    try:
        data = json.loads(line)
        if data.get("format") != FORMAT:
            raise SealedFileError(
                f"This is not a sealed extract this ShareHub reads (expected format {FORMAT})."
            )
        return SealedHeader(
            dataset=int(data["dataset"]),
            definition_version=int(data["definition_version"]),
            mode=str(data["mode"]),
            filename=str(data["filename"]),
            file_format=str(data["file_format"]),
            file_sha256=str(data["file_sha256"]),
            file_bytes=int(data["file_bytes"]),
            dob_order=str(data["dob_order"]),
            bridge_version=str(data["bridge_version"]),
            envelope=EnvelopeHeader(
                key_version=int(data["key_version"]),
                ephemeral_public_key=b64decode(data["ephemeral_public_key"]),
                salt=b64decode(data["salt"]),
            ),
        )
    except SealedFileError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SealedFileError("The sealed extract's first line is not a valid header.") from error


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("not a list of strings")
    return value


def _row_read(data: dict[str, Any]) -> SealedRow | SetAsideRow:
    number = data["n"]
    source_id = data["id"]
    if not isinstance(number, int) or number < 1 or not isinstance(source_id, str):
        raise TypeError("row number or record id")
    if "reasons" in data:
        return SetAsideRow(number, source_id, _strings(data["reasons"]))
    payload, event_date = data["p"], data["e"]
    if not isinstance(payload, dict) or not (event_date is None or isinstance(event_date, str)):
        raise TypeError("payload or event date")
    return SealedRow(
        number=number,
        source_id=source_id,
        payload=payload,
        event_date=event_date,
        warnings=_strings(data["w"]),
        repairs=_strings(data["r"]),
        has_dob=bool(data["d"]),
        sealed_identity=b64decode(data["s"]),
        # Bridges older than data quality do not send it: their rows count as all valid.
        identifiers_invalid=tuple(_strings(data.get("v", []))),
    )


class SealedExtractReader:
    """Reads a sealed extract (platform side): `header`, then `rows()` yields SealedRow and
    SetAsideRow in file order and checks the last line's totals; `totals` is filled at the end."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        first = stream.readline()
        if not first:
            raise SealedFileError("The sealed extract is empty.")
        self.header = _header_read(first)
        self.totals = SealedTotals()

    def bytes_read(self) -> int:
        return self.stream.tell()

    def rows(self) -> Iterator[SealedRow | SetAsideRow]:
        seen = SealedTotals()
        line_number = 1
        for line in self.stream:
            line_number += 1
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise TypeError("not an object")
                if data.get("end") is True:
                    if (
                        data.get("rows_read") != seen.rows_read
                        or data.get("rows_sent") != seen.rows_sent
                        or data.get("rows_set_aside") != seen.rows_set_aside
                    ):
                        raise SealedFileError(
                            "The sealed extract's totals do not match its rows: it was changed "
                            "or cut on the way. Push the file again."
                        )
                    if self.stream.read(1):
                        raise SealedFileError(
                            "The sealed extract goes on after its last line. Push the file again."
                        )
                    self.totals = seen
                    return
                row = _row_read(data)
            except SealedFileError:
                raise
            except (ValueError, KeyError, TypeError) as error:
                raise SealedFileError(
                    f"Line {line_number} of the sealed extract is not a row the bridge writes."
                ) from error
            seen.rows_read += 1
            if isinstance(row, SetAsideRow):
                seen.rows_set_aside += 1
            else:
                seen.rows_sent += 1
            yield row
        raise SealedFileError(
            "The sealed extract stops before its last line: the upload was cut short. "
            "Push the file again."
        )


def sealed_extract_read(stream: IO[bytes]) -> SealedExtractReader:
    return SealedExtractReader(stream)
