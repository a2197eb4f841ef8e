"""Which agency owns the records and datasets an audit entry names, asked of the app holding them.

The trail is the layer every app writes to, so it imports none of them; yet each entry's reads
of an agency's records (audit.reads) are filed under the agency that owns them. agencies, which
holds datasets and records, registers the answer when it starts (AgenciesConfig.ready):

    owner_lookup_register(OwnerLookup(datasets=, records=))   once, at start-up
    owner_lookup()                                            the registered lookup

A registered function rather than a signal: an entry needs exactly one answer, from one app, in
the same transaction as the entry, and a missing answer is a fault to report, not a silence.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class OwnerLookup:
    # {dataset id: its agency's id}, for those of the ids that exist, in the database's order.
    datasets: Callable[[Collection[int]], dict[int, int]]
    # {record id: (its agency's id, its dataset's id)}, likewise.
    records: Callable[[Collection[int]], dict[int, tuple[int, int]]]


_registered: list[OwnerLookup] = []


def owner_lookup_register(lookup: OwnerLookup) -> None:
    """Register the lookup, replacing any before it (a second ready() gives the same one)."""
    _registered[:] = [lookup]


def owner_lookup() -> OwnerLookup:
    if not _registered:
        raise ImproperlyConfigured(
            "No app has registered who owns datasets and records (audit.owners): agencies does, "
            "in AgenciesConfig.ready(), so it must be in INSTALLED_APPS."
        )
    return _registered[0]
