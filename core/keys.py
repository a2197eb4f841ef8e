"""Key handling, in one place: master keys from the environment and per-agency data keys.

Envelope encryption (ARCHITECTURE.md): each agency's records are sealed with AES-256-GCM under
that agency's data key; the data key is stored only wrapped (AES-GCM again) by a master key
that never leaves the environment. Associated data binds every ciphertext to its agency and to
the row it belongs to, so a ciphertext copied onto another row or agency fails to open.

Master keys: SHAREHUB_MASTER_KEYS (or _FILE) holds "version:base64key" entries separated by
commas, the current one first; older ones stay listed until rotation has rewrapped every data
key. Without it outside production, a development key is kept in var/.

Rotation of both kinds (`manage.py rotate_keys`) is driven by sharehub.rotation; the key material
it needs is made and rewrapped here.
"""

import base64
import os
import secrets
import struct
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

NONCE_BYTES = 12
# Sealed blob layout: format byte, data key version (uint32), nonce, ciphertext+tag.
BLOB_FORMAT = 1
_HEADER = struct.Struct(">BI")


class SealError(Exception):
    """A ciphertext could not be opened: wrong key, wrong row or agency, or tampered with."""


@dataclass(frozen=True)
class MasterKey:
    version: int
    key: bytes


def _parse_keys(spec: str, *, variable: str) -> list[MasterKey]:
    keys = []
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        version, _, encoded = entry.partition(":")
        key = base64.urlsafe_b64decode(encoded.encode() + b"=" * (-len(encoded) % 4))
        if not version.isdigit() or len(key) != 32:
            raise ImproperlyConfigured(
                f"{variable} entries must look like '1:<base64 of 32 random bytes>'."
            )
        keys.append(MasterKey(int(version), key))
    return keys


def _versioned_keys(variable: str, file_variable: str, dev_file: str) -> tuple[MasterKey, ...]:
    """Keys from `variable` (or the file `file_variable` names), "version:base64key" entries,
    current first; in development, a key generated once into VAR_DIR/`dev_file`."""
    spec = os.environ.get(variable, "")
    if not spec and os.environ.get(file_variable):
        with open(os.environ[file_variable]) as handle:
            spec = handle.read().strip()
    if not spec:
        if settings.PRODUCTION:
            raise ImproperlyConfigured(f"Set {variable} (or {file_variable}).")
        key_file = settings.VAR_DIR / dev_file
        if not key_file.exists():
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            key_file.write_text(f"1:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}")
            key_file.chmod(0o600)
        spec = key_file.read_text().strip()
    keys = _parse_keys(spec, variable=variable)
    if not keys:
        raise ImproperlyConfigured(f"{variable} holds no key.")
    return tuple(keys)


@lru_cache(maxsize=1)
def master_keys() -> tuple[MasterKey, ...]:
    """The configured master keys, current first."""
    return _versioned_keys("SHAREHUB_MASTER_KEYS", "SHAREHUB_MASTER_KEYS_FILE", "dev-master-keys")


def _master_key(version: int) -> bytes:
    for candidate in master_keys():
        if candidate.version == version:
            return candidate.key
    raise ImproperlyConfigured(f"Master key version {version} is not in SHAREHUB_MASTER_KEYS.")


def _wrap_associated(agency_id: int, version: int) -> bytes:
    return f"sharehub:data-key:{agency_id}:{version}".encode()


# Unwrapped data keys, per process. Keys are immutable once made, so caching cannot go stale:
# data key rotation makes new versions rather than changing old ones, and master key rotation
# changes only how a key is wrapped.
_data_key_cache: dict[tuple[int, int], bytes] = {}


def _unwrap(agency_id: int, version: int) -> bytes:
    cached = _data_key_cache.get((agency_id, version))
    if cached is not None:
        return cached
    from core.models import DataKey

    row = DataKey.objects.get(agency_id=agency_id, version=version)
    key = _unwrap_with(
        agency_id=agency_id,
        version=version,
        master_version=row.master_key_version,
        wrapped=bytes(row.wrapped_key),
    )
    _data_key_cache[(agency_id, version)] = key
    return key


def _unwrap_with(*, agency_id: int, version: int, master_version: int, wrapped: bytes) -> bytes:
    try:
        return AESGCM(_master_key(master_version)).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_associated(agency_id, version)
        )
    except InvalidTag as error:
        raise SealError(f"Data key {version} of agency {agency_id} does not unwrap.") from error


def data_key_wrap(*, agency_id: int, version: int, key: bytes) -> tuple[int, bytes]:
    """Wrap `key` under the current master key; returns (master key version, wrapped bytes)."""
    master = master_keys()[0]
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(master.key).encrypt(nonce, key, _wrap_associated(agency_id, version))
    return master.version, nonce + sealed


def current_data_key_version(agency_id: int) -> int:
    """The agency's newest data key version, creating version 1 on first use."""
    from core.models import DataKey

    latest = DataKey.objects.filter(agency_id=agency_id).order_by("-version").first()
    if latest is not None:
        return latest.version
    with transaction.atomic():
        key = AESGCM.generate_key(bit_length=256)
        master_version, wrapped = data_key_wrap(agency_id=agency_id, version=1, key=key)
        row, _ = DataKey.objects.get_or_create(
            agency_id=agency_id,
            version=1,
            defaults={"wrapped_key": wrapped, "master_key_version": master_version},
        )
    return row.version


def data_key_create(*, agency_id: int) -> int:
    """Make the agency's next data key version, which every seal from now on uses; returns it.

    Older versions stay, so what they sealed keeps opening until rotation has resealed it
    (sharehub.rotation).
    """
    from core.models import DataKey

    with transaction.atomic():
        latest = (
            DataKey.objects.select_for_update()
            .filter(agency_id=agency_id)
            .order_by("-version")
            .first()
        )
        version = (latest.version if latest else 0) + 1
        key = AESGCM.generate_key(bit_length=256)
        master_version, wrapped = data_key_wrap(agency_id=agency_id, version=version, key=key)
        DataKey.objects.create(
            agency_id=agency_id,
            version=version,
            wrapped_key=wrapped,
            master_key_version=master_version,
        )
    return version


def data_key_rewrap(*, data_key_id: int) -> bool:
    """Rewrap one data key under the current master key; False if it already was (or is gone).

    Its own transaction, with the row locked, so a crash or a second operator leaves every key
    wrapped under one master key or the other, never neither.
    """
    from core.models import DataKey

    current = master_keys()[0].version
    with transaction.atomic():
        row = DataKey.objects.select_for_update().filter(pk=data_key_id).first()
        if row is None or row.master_key_version == current:
            return False
        key = _unwrap_with(
            agency_id=row.agency_id,
            version=row.version,
            master_version=row.master_key_version,
            wrapped=bytes(row.wrapped_key),
        )
        master_version, wrapped = data_key_wrap(
            agency_id=row.agency_id, version=row.version, key=key
        )
        # The old wrapping is about to be overwritten: prove the new one gives the key back.
        if key != _unwrap_with(
            agency_id=row.agency_id,
            version=row.version,
            master_version=master_version,
            wrapped=wrapped,
        ):
            raise SealError(f"Rewrapping data key {row.version} of agency {row.agency_id} failed.")
        row.wrapped_key = wrapped
        row.master_key_version = master_version
        row.save(update_fields=["wrapped_key", "master_key_version"])
    return True


class AgencySealer:
    """Seals and opens one agency's data with its current key; cheap to reuse for many rows."""

    def __init__(self, agency_id: int):
        self.agency_id = agency_id
        self.version = current_data_key_version(agency_id)
        self._aead = AESGCM(_unwrap(agency_id, self.version))

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        header = _HEADER.pack(BLOB_FORMAT, self.version)
        associated = _associated(self.agency_id, context)
        return header + nonce + self._aead.encrypt(nonce, plaintext, header + associated)


def sealed_version(blob: bytes) -> int:
    """The data key version a sealed blob was made with (from its header; needs no key)."""
    header = bytes(blob[: _HEADER.size])
    if len(header) < _HEADER.size:
        raise SealError("Sealed value is truncated.")
    blob_format, version = _HEADER.unpack(header)
    if blob_format != BLOB_FORMAT:
        raise SealError(f"Unknown sealed value format {blob_format}.")
    return version


def sealed_header(version: int) -> bytes:
    """The first bytes of every blob sealed under data key `version`, to find them in SQL."""
    return _HEADER.pack(BLOB_FORMAT, version)


def _associated(agency_id: int, context: str) -> bytes:
    # Binds a ciphertext to its agency and to its table and row (`context`).
    return f"sharehub:{agency_id}:{context}".encode()


def agency_open(*, agency_id: int, blob: bytes, context: str) -> bytes:
    """Open a blob sealed for `agency_id` and `context` (its table and row); raise if it is not."""
    blob = bytes(blob)
    if len(blob) < _HEADER.size + NONCE_BYTES + 16:
        raise SealError("Sealed value is truncated.")
    header = blob[: _HEADER.size]
    blob_format, version = _HEADER.unpack(header)
    if blob_format != BLOB_FORMAT:
        raise SealError(f"Unknown sealed value format {blob_format}.")
    nonce = blob[_HEADER.size : _HEADER.size + NONCE_BYTES]
    associated = _associated(agency_id, context)
    try:
        return AESGCM(_unwrap(agency_id, version)).decrypt(
            nonce, blob[_HEADER.size + NONCE_BYTES :], header + associated
        )
    except InvalidTag as error:
        raise SealError("Sealed value does not open for this agency and row.") from error


# --- Linkage key ----------------------------------------------------------------------------------
# One platform-wide secret under which every match token, blocking token and Bloom encoding is
# keyed (SECURITY.md row 9: there are only ~10^9 NHS numbers, so an unkeyed hash is a lookup
# table). SHAREHUB_LINKAGE_KEY (or _FILE) is "version:base64key" like SHAREHUB_MASTER_KEYS,
# current first. Changing it means recomputing every token from the sealed identities.


@lru_cache(maxsize=1)
def linkage_keys() -> tuple[MasterKey, ...]:
    """The configured linkage keys, current first."""
    return _versioned_keys("SHAREHUB_LINKAGE_KEY", "SHAREHUB_LINKAGE_KEY_FILE", "dev-linkage-key")


def linkage_key() -> bytes:
    """The current linkage key; use derive_key for anything that hashes with it."""
    return linkage_keys()[0].key


def linkage_key_version() -> int:
    """The current linkage key's version, to store beside tokens made under it."""
    return linkage_keys()[0].version


@lru_cache(maxsize=256)
def _hkdf(key: bytes, purpose: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"sharehub:linkage", info=purpose.encode()
    ).derive(key)


def derive_key(purpose: str) -> bytes:
    """A 32-byte subkey of the current linkage key for one purpose ("match", "block", ...).

    Separate subkeys keep the uses apart: a value hashed for blocking can never be compared
    with, or replayed as, a match token or a Bloom bit pattern, and an export can get a key of
    its own ("export:<id>") that reveals nothing about the others.
    """
    # Keyed on the key itself, so a changed linkage key (tests, rotation) never meets a stale
    # subkey; HKDF per call would cost more than the HMACs it feeds.
    return _hkdf(linkage_key(), purpose)


# --- Audit key ------------------------------------------------------------------------------------
# Every audit entry's hash is an HMAC under this key (SECURITY.md row 19), so someone with the
# database alone cannot recompute the chain after an edit. SHAREHUB_AUDIT_KEY (or _FILE) is
# "version:base64key" like SHAREHUB_MASTER_KEYS, current first; each entry records the version it
# was keyed with, so rotating means putting a new key first and keeping the old ones listed for as
# long as the entries they keyed are to be verified. Nothing is rewritten.


@lru_cache(maxsize=1)
def audit_keys() -> tuple[MasterKey, ...]:
    """The configured audit keys, current first."""
    return _versioned_keys("SHAREHUB_AUDIT_KEY", "SHAREHUB_AUDIT_KEY_FILE", "dev-audit-key")


def audit_key() -> MasterKey:
    """The current audit key, which new entries and anchors are keyed with."""
    return audit_keys()[0]


def audit_key_of(version: int) -> MasterKey | None:
    """The audit key of `version`; None if SHAREHUB_AUDIT_KEY no longer lists it."""
    return next((key for key in audit_keys() if key.version == version), None)


# --- Ingest keys ----------------------------------------------------------------------------------
# X25519 key pairs the IG bridge seals identities to at the agency (sharehub_bridge.envelope), so
# the web tier, the upload store and any proxy on the way hold only ciphertext. The private keys
# are for the ingest pipeline alone: SHAREHUB_INGEST_KEYS (or _FILE) is "version:base64 private
# key" entries, current first; a web tier that must not hold them gets SHAREHUB_INGEST_PUBLIC_KEYS
# ("version:base64 public key", current first) instead. Rotating means putting a new key first and
# keeping the old one listed until no upload sealed under it is still in flight
# (`manage.py rotate_keys --ingest` says how many are).


class IngestKeyMissing(ImproperlyConfigured):
    """The ingest private key an upload was sealed under is not held by this process."""


def _ingest_key_bytes(encoded: str) -> bytes:
    # Standard base64 (what the bridge and the API speak) or its URL-safe form.
    text = encoded.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return b""


def _ingest_keys_parse(spec: str, *, variable: str) -> tuple[MasterKey, ...]:
    keys = []
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        version, _, encoded = entry.partition(":")
        key = _ingest_key_bytes(encoded)
        if not version.isdigit() or len(key) != 32:
            raise ImproperlyConfigured(
                f"{variable} entries must look like '1:<base64 of a 32-byte X25519 key>' "
                "(how to make one: Keys, in the README)."
            )
        keys.append(MasterKey(int(version), key))
    if not keys:
        raise ImproperlyConfigured(f"{variable} holds no key.")
    return tuple(keys)


def _setting_spec(variable: str) -> str:
    spec = os.environ.get(variable, "")
    file_variable = f"{variable}_FILE"
    if not spec and os.environ.get(file_variable):
        with open(os.environ[file_variable]) as handle:
            spec = handle.read().strip()
    return spec


@lru_cache(maxsize=1)
def ingest_private_keys() -> tuple[MasterKey, ...]:
    """The ingest private keys this process holds, current first. Only the ingest pipeline
    should call this; in development a key pair is made once into VAR_DIR/dev-ingest-keys."""
    from sharehub_bridge.envelope import b64encode, private_key_new

    spec = _setting_spec("SHAREHUB_INGEST_KEYS")
    if not spec:
        if settings.PRODUCTION:
            raise IngestKeyMissing(
                "Set SHAREHUB_INGEST_KEYS (or SHAREHUB_INGEST_KEYS_FILE) on the ingest worker."
            )
        key_file = settings.VAR_DIR / "dev-ingest-keys"
        if not key_file.exists():
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            key_file.write_text(f"1:{b64encode(private_key_new())}")
            key_file.chmod(0o600)
        spec = key_file.read_text().strip()
    return _ingest_keys_parse(spec, variable="SHAREHUB_INGEST_KEYS")


@lru_cache(maxsize=1)
def ingest_public_keys() -> tuple[MasterKey, ...]:
    """The ingest public keys, current first: from SHAREHUB_INGEST_PUBLIC_KEYS where the web
    tier holds no private key, else derived from the private keys (one process holds both)."""
    from sharehub_bridge.envelope import public_key_raw

    spec = _setting_spec("SHAREHUB_INGEST_PUBLIC_KEYS")
    if spec:
        return _ingest_keys_parse(spec, variable="SHAREHUB_INGEST_PUBLIC_KEYS")
    return tuple(MasterKey(key.version, public_key_raw(key.key)) for key in ingest_private_keys())


def ingest_public_key() -> tuple[int, bytes]:
    """The current ingest public key, (version, 32 bytes), which the bridge seals to."""
    current = ingest_public_keys()[0]
    return current.version, current.key


def ingest_key_versions_held() -> list[int]:
    """The versions of the ingest private keys this process holds, current first: what key
    rotation reports, without handing the keys themselves out."""
    return [key.version for key in ingest_private_keys()]


def ingest_private_key(version: int) -> bytes:
    """The ingest private key of `version`; IngestKeyMissing if this process does not hold it."""
    for key in ingest_private_keys():
        if key.version == version:
            return key.key
    raise IngestKeyMissing(
        f"The upload was sealed under ingest key version {version}, which SHAREHUB_INGEST_KEYS "
        "no longer lists."
    )
