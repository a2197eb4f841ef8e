"""Keyed pseudonyms of a record's identifiers, for privacy-preserving linkage.

record_keys packs what linkage knows of one record into one fixed row (RECORD_DTYPE), every value
in it keyed under a subkey of the platform linkage key (core.keys.derive_key):

- exact fields: a 64-bit HMAC-SHA256 of a normalised identifier at one granularity (the NHS
  number; the surname and its parts; the forename, canonical and as an initial; the date of
  birth, its year and month, its year; the postcode and its district; ...). Two records agree
  on a field when their values are equal; matching.scoring reads levels of agreement from them.
- blocking fields: keyed combinations (the Soundex of the surname with the year and month of
  birth, ...) that decide which pairs of records are compared at all (matching.candidates), so
  linkage is not a comparison of every pair.
- Bloom encodings (Schnell, Bachteler & Reiher 2009, "Privacy-preserving record linkage using
  Bloom filters"): the bigrams of names and addresses, and the digits of the date of birth, set
  keyed bits, so the Dice coefficient of two encodings approximates the similarity of the
  plaintexts and a typo costs a little agreement instead of all of it.

Only these outputs leave the module: no plaintext identifier, and never a key. Every output is
keyed (SECURITY.md row 9): without the linkage key nobody can compute the token of a guessed NHS
number or name, which an unkeyed SHA-256 of 10^9 possible NHS numbers would allow in minutes.
A known limit: field-level Bloom encodings of short, skewed fields (forenames, surnames) remain
open to frequency analysis by someone who holds many of them, so they stay inside ShareHub like
the exact tokens and are not released in exports.
"""

import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np

from core.keys import derive_key
from sharehub_bridge.identifiers import pnc_id_is_valid, upn_is_valid
from sharehub_bridge.normalise import (
    address_normalise,
    address_parts,
    date_parse,
    dob_plausibility,
    forename_canonical,
    forename_variants,
    gender_normalise,
    name_normalise,
    nhs_number_normalise,
    pnc_id_normalise,
    postcode_parts,
    soundex,
    surname_parts,
    upn_normalise,
)

# Unit separator: never in a normalised value, so ("ab", "c") and ("a", "bc") hash differently.
SEPARATOR = "\x1f"


@dataclass(frozen=True)
class _Parsed:
    """A record's identifiers read once, in the forms the rules combine; "" where missing."""

    surname: str
    forename: str  # canonical first forename: Bob, Rob, Robert -> robert
    forename_plain: str  # normalised first forename, for its initial and its Soundex
    middle: str  # canonical first middle name (other names, or the forename field's second word)
    middle_plain: str
    dob: date | None  # the full date, when it is known
    dob_ym: str  # "YYYY-MM": the year and month, also of a date known only that far
    dob_y: str  # "YYYY"
    postcode: str  # a UK postcode, or another country's postal code as written
    outward: str  # the UK outward code ("LS6"), "" for another country's code
    nhs: str
    upn: str
    pnc: str
    house: str  # house number, with the flat: "4/59"
    street: str  # street name: "mount way"


def _usable_dob(value: str) -> date | None:
    dob = date_parse(value) if value else None
    # Placeholder dates (1900-01-01) and pre-1900 dates are what systems fill in when the date is
    # not known: two different people sharing one is no evidence, so they take part in no rule.
    # (Checked "as of" the date itself so that only those two tests can fail.)
    if dob is None or dob_plausibility(dob, on=dob) is not None:
        return None
    return dob


_PARTIAL_DOB = re.compile(r"(\d{4})(?:-(\d{2}))?")


def _dob_parts(value: str) -> tuple[date | None, str, str]:
    """(full date, "YYYY-MM", "YYYY") of a stored date of birth, which ingest keeps as far as it
    could be read (normalise.dob_read): a full date, a year and month, or a year."""
    dob = _usable_dob(value)
    if dob is not None:
        return dob, dob.strftime("%Y-%m"), str(dob.year)
    match = _PARTIAL_DOB.fullmatch(value.strip()) if value else None
    if match is None or int(match.group(1)) < 1900:
        return None, "", ""
    year, month = match.group(1), match.group(2)
    return None, f"{year}-{month}" if month and 1 <= int(month) <= 12 else "", year


def _pnc_canonical(value: str) -> str:
    pnc = pnc_id_normalise(value)
    if not pnc_id_is_valid(pnc):
        return ""
    # One form for the long (2008/0056560Z) and short (08/56560Z) spellings of one id: the short
    # form drops the century, so the token does too.
    year, _, rest = pnc.partition("/")
    return f"{year[-2:]}/{rest[:-1].lstrip('0') or '0'}{rest[-1]}"


def _postcode_of(identifiers: dict[str, str]) -> tuple[str, str, str] | None:
    parts = postcode_parts(identifiers.get("postcode", ""))
    if parts is None and identifiers.get("address"):
        # Some extracts (a school census) carry the postcode only at the end of the address.
        words = identifiers["address"].replace(",", " ").split()
        for tail in (" ".join(words[-2:]), words[-1]) if words else ():
            parts = postcode_parts(tail)
            if parts:
                break
    return parts


# Another country's postal code (an Australian 2074, an American 98101): compared whole. Letters
# and digits, at least one digit, three to ten of them.
_POSTAL_CODE = re.compile(r"(?=[A-Z]*\d)[A-Z\d]{3,10}")


def _postal_code(value: str) -> str:
    compact = "".join(value.split()).upper().replace("-", "")
    return compact if _POSTAL_CODE.fullmatch(compact) else ""


def _middle_name(identifiers: dict[str, str], forename_field: str) -> str:
    """The first middle name: from other names, or the forename field's second word."""
    other = name_normalise(identifiers.get("other_names", ""))
    if other:
        return other.partition(" ")[0]
    return forename_field.partition(" ")[2].partition(" ")[0]


def _parse(identifiers: dict[str, str]) -> _Parsed:
    forename_field = name_normalise(identifiers.get("forename", ""))
    first = forename_field.partition(" ")[0]
    middle = _middle_name(identifiers, forename_field)
    parts = _postcode_of(identifiers)
    nhs, nhs_valid = nhs_number_normalise(identifiers.get("nhs_number", ""))
    upn = upn_normalise(identifiers.get("upn", ""))
    dob, dob_ym, dob_y = _dob_parts(identifiers.get("date_of_birth", ""))
    address = address_parts(identifiers.get("address", ""))
    return _Parsed(
        surname=name_normalise(identifiers.get("surname", "")),
        forename=forename_canonical(first) if first else "",
        forename_plain=first,
        middle=forename_canonical(middle) if middle else "",
        middle_plain=middle,
        dob=dob,
        dob_ym=dob_ym,
        dob_y=dob_y,
        postcode=parts[0] if parts else _postal_code(identifiers.get("postcode", "")),
        outward=parts[1] if parts else "",
        nhs=nhs if nhs_valid else "",  # nhs_number_is_valid decided nhs_valid
        upn=upn if upn and upn_is_valid(upn) else "",
        pnc=_pnc_canonical(identifiers["pnc_id"]) if identifiers.get("pnc_id") else "",
        house=address.house,
        street=address.street,
    )


def _swapped(dob: date) -> date | None:
    if dob.day <= 12 and dob.day != dob.month:
        return date(dob.year, dob.day, dob.month)
    return None


def _dob_and_swap(dob: date) -> tuple[str, ...]:
    """The date and its day/month swap, unordered (sorted), so 03/12 and 12/03 give one value;
    just the date when it cannot be swapped."""
    swapped = _swapped(dob)
    return tuple(sorted({dob.isoformat(), (swapped or dob).isoformat()}))


def _block_inputs(p: _Parsed) -> dict[str, tuple[str, ...]]:
    """Block name -> the values it joins; a block with any value missing does not apply.

    A record takes part in every block it has the values for, so one with no date of birth is
    reached through its name and address, and one with no address through its name and date of
    birth: whatever identifiers a record has, some block brings it to its other records.
    """
    surname_sound = soundex(p.surname) if p.surname else ""
    forename_sound = soundex(p.forename) if p.forename else ""
    dob_pair = "|".join(_dob_and_swap(p.dob)) if p.dob else ""
    return {
        # Surname typos that keep its sound (Smith/Smyth), a forename changed or misspelt, and a
        # wrong day. Not the year alone: at a million records its blocks made a pair in three.
        "sy": (surname_sound, p.dob_ym),
        # The date of birth (or its day/month swap) with one more thing, for both names written
        # differently (transliterated, swapped, misspelt): the forename's initial, the house
        # number or the postcode. The date alone made a pair in three at a million records.
        "dfi": (dob_pair, p.forename_plain[:1]),
        "dh": (dob_pair, p.house),
        "dp": (dob_pair, p.postcode),
        # A changed (marriage, adoption) or badly misspelt surname; canonical so Bob meets Robert.
        "fd": (forename_sound, p.dob.isoformat() if p.dob else ""),
        # A wrong year of birth, when the names' sounds and the district agree.
        "nn": (forename_sound, surname_sound, p.outward),
        # No date of birth to go on (a tax or tenancy extract), or a wrong one: the same name.
        "fs": (p.forename, p.surname),
        # The same home with a misspelt forename or surname, no date of birth needed. The house
        # number with the sound of a name keeps these blocks to a household or two.
        "hs": (p.house, surname_sound),
        "hf": (p.house, forename_sound),
        # Both names misspelt in ways that keep their sound, with nothing else to go on; in
        # either order, for names keyed the wrong way round.
        "ss": tuple(sorted((forename_sound, surname_sound))),
    }


# --- Bloom encodings ------------------------------------------------------------------------------


def _qgrams(value: str, q: int) -> set[str]:
    # Padded with spaces so the first and last letters weigh like the middle ones; a space inside
    # a value (two forenames, "yyyy mm dd") makes word boundaries look the same.
    padded = " " * (q - 1) + value + " " * (q - 1)
    return {padded[i : i + q] for i in range(len(padded) - q + 1)}


def bloom_encode(value: str, *, field: str, bits: int, hashes: int, q: int = 2) -> bytes:
    """A Bloom filter of `value`'s padded q-grams under the field's own key, in ceil(bits/8) bytes.

    `value` is encoded as given; callers normalise it first (record_keys does). Each q-gram sets
    `hashes` bits chosen by double hashing, (h1 + i*h2) mod bits, as in Schnell et al.: h1 and h2
    are the two halves of one HMAC-SHA256 under derive_key("bloom:" + field), two independent
    keyed functions at the cost of one HMAC. A per-field key means the same bigram sets different
    bits in a surname and a forename. "" gives an empty filter.
    """
    if bits <= 0:
        raise ValueError("bits must be positive")
    size = (bits + 7) // 8  # the spare high bits of a last partial byte always 0
    if not value:
        return bytes(size)
    return bloom_elements(_qgrams(value, q), field=field, bits=bits, hashes=hashes)


def bloom_elements(elements: set[str], *, field: str, bits: int, hashes: int) -> bytes:
    """A Bloom filter of a set of strings under the field's own key (see bloom_encode)."""
    size = (bits + 7) // 8
    key = derive_key("bloom:" + field)
    filter_bits = 0
    for element in elements:
        filter_bits |= _gram_bits(key, element, bits, hashes)
    return filter_bits.to_bytes(size)


@lru_cache(maxsize=1 << 16)
def _gram_bits(key: bytes, gram: str, bits: int, hashes: int) -> int:
    # The bits one q-gram sets depend only on the key and the gram, and names and addresses are
    # drawn from a few thousand bigrams, so each is hashed once per process rather than per row.
    # The cache holds keyed values and dies with the process, like the key itself.
    digest = _hmac_for(key).digest(gram.encode())
    h1 = int.from_bytes(digest[:16])
    h2 = int.from_bytes(digest[16:])
    mask = 0
    for i in range(hashes):
        mask |= 1 << ((h1 + i * h2) % bits)
    return mask


class _HmacSha256:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once.

    Byte for byte hmac.digest(key, message, "sha256") (a test checks it), at less than half the
    cost: the library call sets up both pads again for every message, and linkage makes a few
    dozen HMACs per record for millions of records.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


@lru_cache(maxsize=64)
def _hmac_for(key: bytes) -> _HmacSha256:
    return _HmacSha256(key)


def _bloom_values(identifiers: dict[str, str], p: _Parsed) -> dict[str, str]:
    return {
        # Spelling, not canonical: the encodings are for typos; nicknames are the exact fields'.
        "forename": name_normalise(identifiers.get("forename", "")),
        "surname": p.surname,
        "address": address_normalise(identifiers.get("address", "")),
    }


# --- Packed record keys, for linkage at scale -------------------------------------------------
# Linkage compares millions of pairs, so each record's keyed values are packed into one fixed
# row that numpy reads straight from the database: 64-bit keyed tokens per field (0 = missing)
# and Bloom encodings as 64-bit words. 64 bits suffice for agreement tests: two different values
# collide with probability 2^-64 per comparison. Names and addresses are the fields with typos,
# so they get Bloom encodings; the rest compare by exact tokens at several granularities (full
# date, year and month, year; full postcode, district), which is what partial agreement means
# for them.

# Exact fields, each an HMAC under derive_key("field") over (namespace, value). Fields that hold
# the same kind of value share a namespace, so that one record's middle name can be compared with
# another's forename, or one half of a double-barrelled surname with a whole surname.
EXACT_FIELDS = (
    "nhs",
    "upn",
    "pnc",
    "forename",  # canonical (Bob -> robert)
    "forename_alt",  # a nickname's other full name (Sam: samantha, and samuel), in the namespace
    "forename_initial",
    "middle",  # canonical first middle name, in the forename namespace
    "middle_initial",  # in the initial namespace, beside forename_initial
    "surname",
    "surname_first",  # the first and last parts of a double-barrelled or compound surname,
    "surname_last",  # in the surname namespace; both the surname itself when it is one word
    "forename_sound",  # Soundex codes: phonetic spellings (Steven, Stephen; Laub, Lob)
    "surname_sound",
    "names_unordered",  # forename and surname as a set: agrees when they were keyed swapped
    "dob",
    "dob_ym",  # also of a date known only to the month (an impossible day was keyed)
    "dob_y",  # also of a date known only to the year
    "dob_decade",
    "dob_md",  # day and month: agrees when only the year was mistyped (1968 for 1986)
    "dob_pair",  # the date and its day/month swap, unordered: agrees when one was swapped
    "postcode",  # a UK postcode, or another country's postal code as written
    "outward",
    "gender",
    "address_key",  # house number (with flat) and full UK postcode: the same dwelling
    "dwelling",  # house number (with flat) and street: the same dwelling, without a postcode
    "street",  # the street's name: neighbours, or the same home with the number mistyped
    "house",  # the house number (with flat) alone, for an address whose postcode is wrong
)
_NAMESPACE = {
    "middle": "forename",
    "middle_initial": "forename_initial",
    "forename_alt": "forename",
    "surname_first": "surname",
    "surname_last": "surname",
    # One namespace for both names' sounds, so names keyed the wrong way round and misspelt
    # still compare (Tiller Robert, Robert Tillr).
    "forename_sound": "sound",
    "surname_sound": "sound",
}
# Blocking fields: a pair is compared only if it shares one of these or an exact identifier.
BLOCK_FIELDS = (
    "block_sy",
    "block_dfi",
    "block_dh",
    "block_dp",
    "block_fd",
    "block_nn",
    "block_fs",
    "block_hs",
    "block_hf",
    "block_ss",
)
# The date of birth's digits by position ("0:1", "1:9", ... of 19680619): dates one keyed digit
# apart share seven of their eight, where their exact tokens share nothing.
BLOOM_LAYOUT = {"forename": 256, "surname": 256, "address": 512, "dob": 64}
BLOOM_HASHES = {"forename": 10, "surname": 10, "address": 8, "dob": 2}

_WORDS = struct.Struct(f"<{len(EXACT_FIELDS) + len(BLOCK_FIELDS)}Q")
RECORD_DTYPE = np.dtype(
    [(name, "<u8") for name in EXACT_FIELDS + BLOCK_FIELDS]
    + [(f"bloom_{name}", "<u8", bits // 64) for name, bits in BLOOM_LAYOUT.items()]
)


# Fields search looks records up by (matching.search), copied into matching.models.SearchKey.
SEARCH_FIELDS = (
    "nhs", "upn", "pnc", "surname", "dob", "postcode", "block_sy", "block_fd", "block_dfi",
)  # fmt: skip


def search_signed(value: int) -> int | None:
    """A 64-bit key as the signed integer a database column holds; None for 0 (missing)."""
    value = int(value)
    if value == 0:
        return None
    return value - (1 << 64) if value >= 1 << 63 else value


def search_rows(record_ids: list[int], packed: bytes) -> list[tuple]:
    """(record id, *SEARCH_FIELDS values) for matching.models.SearchKey, from packed keys."""
    rows = np.frombuffer(packed, dtype=RECORD_DTYPE)
    columns = [rows[name].astype(np.int64).tolist() for name in SEARCH_FIELDS]
    return [
        (record_id, *(value or None for value in values))
        for record_id, *values in zip(record_ids, *columns, strict=True)
    ]


Keys = dict[str, np.ndarray]
"""Packed record keys as one contiguous array per RECORD_DTYPE field, indexed alike. Columns
rather than the structured array: comparing pairs gathers one field at a time, and a gather from
a contiguous column is several times faster than one strided across 300-byte rows."""


def keys_from_packed(packed: bytes | bytearray | memoryview) -> Keys:
    rows = np.frombuffer(packed, dtype=RECORD_DTYPE)
    return {name: np.ascontiguousarray(rows[name]) for name in RECORD_DTYPE.names or ()}


def keys_take(keys: Keys, positions: np.ndarray) -> Keys:
    return {name: column[positions] for name, column in keys.items()}


def keys_count(keys: Keys) -> int:
    return len(keys["nhs"])


def _keyed64(key: bytes, parts: tuple[str, ...]) -> int:
    if not all(parts):
        return 0
    digest = _hmac_for(key).digest(SEPARATOR.join(parts).encode())
    value = int.from_bytes(digest[:8], "little")
    return value or 1  # 0 means missing


def _forename_alternative(plain: str, canonical: str) -> str:
    """A nickname of several full names has its canonical key (the first alphabetically) and,
    here, the next: Sammy is samantha and samuel, so it must meet Samuel too. "" when the name
    stands for one name only."""
    names = forename_variants(plain) - {plain, canonical} if plain else set()
    return min(names) if names else ""


def _dob_digits(dob: date | None) -> set[str]:
    return (
        {f"{position}:{digit}" for position, digit in enumerate(dob.strftime("%Y%m%d"))}
        if dob
        else set()
    )


def _surname_ends(surname: str) -> tuple[str, str]:
    """The first and last meaningful parts of a surname ("smith jones" -> smith, jones)."""
    parts = surname_parts(surname)[1:] or surname_parts(surname)
    return (parts[0], parts[-1]) if parts else ("", "")


def record_keys(identifiers: dict[str, str]) -> bytes:
    """One record's keyed linkage values packed as a RECORD_DTYPE row (see above)."""
    p = _parse(identifiers)
    dob = p.dob
    bloom_values = _bloom_values(identifiers, p)
    surname_first, surname_last = _surname_ends(p.surname)
    exact_values = {
        "nhs": p.nhs,
        "upn": p.upn,
        "pnc": p.pnc,
        "forename": p.forename,
        "forename_alt": _forename_alternative(p.forename_plain, p.forename),
        "forename_initial": p.forename_plain[:1],
        # An initial alone is compared as an initial: two people may share one.
        "middle": p.middle if len(p.middle_plain) > 1 else "",
        "middle_initial": p.middle_plain[:1],
        "surname": p.surname,
        "surname_first": surname_first,
        "surname_last": surname_last,
        "forename_sound": soundex(p.forename_plain) if p.forename_plain else "",
        "surname_sound": soundex(p.surname) if p.surname else "",
        "names_unordered": "|".join(sorted((p.forename, p.surname)))
        if p.forename and p.surname
        else "",
        "dob": dob.isoformat() if dob else "",
        "dob_ym": p.dob_ym,
        "dob_y": p.dob_y,
        # A father and son of one name are decades apart; a keying slip in the year seldom is.
        "dob_decade": p.dob_y[:3],
        "dob_md": dob.strftime("%m-%d") if dob else "",
        "dob_pair": "|".join(_dob_and_swap(dob)) if dob else "",
        "postcode": p.postcode,
        "outward": p.outward,
        "gender": gender_normalise(identifiers.get("gender", "")),
        # Only a UK postcode is specific enough to name a dwelling with a house number: another
        # country's postal code covers a town (FEBRL's, American ZIP codes).
        "address_key": f"{p.house}|{p.postcode}" if p.house and p.outward else "",
        "dwelling": f"{p.house}|{p.street}" if p.house and p.street else "",
        "street": p.street,
        "house": p.house,
    }
    blocks = _block_inputs(p)  # hashed as "block_<name>", the RECORD_DTYPE field
    field_key = derive_key("field")
    block_key = derive_key("block")
    words = [
        _keyed64(field_key, (_NAMESPACE.get(name, name), exact_values[name]))
        for name in EXACT_FIELDS
    ]
    words += [
        _keyed64(block_key, (name, *blocks[name.removeprefix("block_")])) for name in BLOCK_FIELDS
    ]
    # The Bloom words' byte order does not matter as long as it is the same for every record:
    # they are only ANDed and bit-counted.
    blooms = b"".join(
        bloom_encode(bloom_values[name], field=name, bits=bits, hashes=BLOOM_HASHES[name])
        if name != "dob"
        else bloom_elements(
            _dob_digits(dob), field="dob_digits", bits=bits, hashes=BLOOM_HASHES[name]
        )
        for name, bits in BLOOM_LAYOUT.items()
    )
    return _WORDS.pack(*words) + blooms
