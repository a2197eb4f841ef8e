"""Identities sealed at the agency so that only ShareHub's ingest pipeline can open them.

The bridge seals each row's identifiers to the platform's ingest public key: one ephemeral X25519
key pair per upload, its shared secret with the platform key stretched by HKDF-SHA256 into one
AES-256-GCM key, and each row sealed under that key. The web tier, the upload store and any proxy
on the way see only ciphertext; the private key is held by the pipeline alone (sharehub.keys),
which opens the identities inside the ingest task and seals them again under the agency's own
data key.

A row's nonce is its row number (unique within a file, and the key is new for every upload), and
its associated data names the dataset, row and record id, so a sealed identity moved onto another
row or record fails to open.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ALGORITHM = "X25519-HKDF-SHA256-AES-256-GCM"
SALT_BYTES = 16
KEY_BYTES = 32

# Made once: this runs for every row of files with millions of rows.
_encode = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode


class EnvelopeError(Exception):
    """A sealed identity could not be opened: wrong key, wrong row, or tampered with."""


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def public_key_raw(private_key: bytes) -> bytes:
    """The 32-byte public key of a 32-byte X25519 private key."""
    return (
        X25519PrivateKey.from_private_bytes(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def private_key_new() -> bytes:
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def _row_key(shared: bytes, *, salt: bytes, dataset_id: int, key_version: int) -> AESGCM:
    info = f"sharehub-bridge/1 identities|dataset={dataset_id}|key={key_version}".encode()
    key = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(shared)
    return AESGCM(key)


def _nonce(row_number: int) -> bytes:
    return row_number.to_bytes(12, "big")


def _associated(dataset_id: int, row_number: int, source_id: str) -> bytes:
    return f"{dataset_id}:{row_number}:{source_id}".encode()


@dataclass(frozen=True)
class EnvelopeHeader:
    """What the platform needs, besides its private key, to open an upload's identities."""

    key_version: int
    ephemeral_public_key: bytes
    salt: bytes


class IdentitySealer:
    """Seals the identities of one upload to the platform's ingest public key (bridge side)."""

    def __init__(self, *, public_key: bytes, key_version: int, dataset_id: int):
        ephemeral = X25519PrivateKey.generate()
        salt = os.urandom(SALT_BYTES)
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public_key))
        self.header = EnvelopeHeader(
            key_version=key_version,
            ephemeral_public_key=ephemeral.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            ),
            salt=salt,
        )
        self.dataset_id = dataset_id
        self._aead = _row_key(shared, salt=salt, dataset_id=dataset_id, key_version=key_version)

    def seal(self, *, row_number: int, source_id: str, identifiers: dict[str, str]) -> bytes:
        return self._aead.encrypt(
            _nonce(row_number),
            _encode(identifiers).encode(),
            _associated(self.dataset_id, row_number, source_id),
        )


class IdentityOpener:
    """Opens the identities of one upload with the ingest private key (platform side, in the
    ingest task only)."""

    def __init__(self, *, private_key: bytes, header: EnvelopeHeader, dataset_id: int):
        try:
            peer = X25519PublicKey.from_public_bytes(header.ephemeral_public_key)
            shared = X25519PrivateKey.from_private_bytes(private_key).exchange(peer)
        except ValueError as error:
            raise EnvelopeError("The upload's key exchange is not valid.") from error
        self.dataset_id = dataset_id
        self._aead = _row_key(
            shared, salt=header.salt, dataset_id=dataset_id, key_version=header.key_version
        )

    def open(self, *, row_number: int, source_id: str, sealed: bytes) -> dict[str, str]:
        try:
            plaintext = self._aead.decrypt(
                _nonce(row_number), sealed, _associated(self.dataset_id, row_number, source_id)
            )
        except (InvalidTag, ValueError, OverflowError) as error:
            raise EnvelopeError(f"The identity of row {row_number} does not open.") from error
        identifiers = json.loads(plaintext)
        if not isinstance(identifiers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in identifiers.items()
        ):
            raise EnvelopeError(f"The identity of row {row_number} is not a set of identifiers.")
        return identifiers
