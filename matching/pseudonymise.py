"""The IG bridge: the only code that turns a record's identifiers into what ShareHub stores.

Ingest hands each row's normalised identifiers here, and linkage reads them back only through
here. The interface, and all that leaves it:

- identity_seal / identity_open: the identifiers sealed under the agency's own data key
  (AES-GCM, bound to the dataset and source record id; core.keys), for the disclosure engine
  to show to those a protocol allows;
- record_keys_compute: keyed values for linkage (matching.tokens): 64-bit HMAC-SHA256 tokens of
  each identifier at several granularities, blocking tokens and Bloom encodings of names and
  address, all under subkeys of the platform linkage key; comparable, not readable;
- quarantine_seal / quarantine_open: a rejected row as it was in the file, for its agency admin;
- release_seal / release_open: another agency's part of a subject access report, as its owner
  released it, sealed for the requesting agency (subject_access.release).

Nothing else in ShareHub holds a plaintext identifier, and nothing here logs one.
"""

import json

from core.keys import AgencySealer, agency_open
from matching.tokens import record_keys

# Made once: json.dumps with options builds an encoder per call, and this runs for every row.
_encode = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode
# A rejected row keeps the file's column order, for the download the admin fixes.
_encode_in_order = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _context(dataset_id: int, source_id: str) -> str:
    return f"source_record:{dataset_id}:{source_id}"


def identity_seal(
    sealer: AgencySealer, *, dataset_id: int, source_id: str, identifiers: dict[str, str]
) -> bytes:
    """Seal a record's normalised identifiers so only this agency's key opens them, on this row."""
    plaintext = _encode(identifiers).encode()
    return sealer.seal(plaintext, context=_context(dataset_id, source_id))


def identity_open(*, agency_id: int, dataset_id: int, source_id: str, blob: bytes) -> dict:
    """The identifiers sealed by identity_seal; only the disclosure engine should need this."""
    plaintext = agency_open(agency_id=agency_id, blob=blob, context=_context(dataset_id, source_id))
    return json.loads(plaintext)


def quarantine_seal(sealer: AgencySealer, *, extract_id: int, row_number: int, row: dict) -> bytes:
    """Seal a rejected row as it was in the file, for its agency admin to download and fix."""
    plaintext = _encode_in_order(row).encode()
    return sealer.seal(plaintext, context=f"quarantine:{extract_id}:{row_number}")


def quarantine_open(*, agency_id: int, extract_id: int, row_number: int, blob: bytes) -> dict:
    plaintext = agency_open(
        agency_id=agency_id, blob=blob, context=f"quarantine:{extract_id}:{row_number}"
    )
    return json.loads(plaintext)


def _release_context(part_id: int, number: int) -> str:
    return f"subject_access_release:{part_id}:{number}"


def release_seal(sealer: AgencySealer, *, part_id: int, number: int, content: dict) -> bytes:
    """Seal a released subject access part for the requesting agency (the sealer's), bound to
    the part and the release's number, so one release cannot pass for another."""
    return sealer.seal(_encode(content).encode(), context=_release_context(part_id, number))


def release_open(*, agency_id: int, part_id: int, number: int, blob: bytes) -> dict:
    plaintext = agency_open(
        agency_id=agency_id, blob=blob, context=_release_context(part_id, number)
    )
    return json.loads(plaintext)


def record_keys_compute(identifiers: dict[str, str]) -> bytes:
    """The record's keyed linkage values (match and blocking tokens, Bloom encodings), packed.

    Everything in them is an HMAC under the platform linkage key (matching.tokens): they can be
    compared with another record's but not read, and are safe to store beside the sealed identity.
    """
    return record_keys(identifiers)
