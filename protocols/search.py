"""Finding a person for a practitioner: what matching.search finds, as far as the disclosure
engine shows it to the searcher.

matching.search reads and keys the query and finds the candidate records, without a plaintext
index. Results go through the disclosure engine: a person the user's protocols do not cover is
never listed, and a name shows only if a protocol discloses names.

The index finds candidates among all records, but a person is listed, ranked and banded only on
the identifiers the engine shows the searcher: each record's keys are made again from its
disclosed identifiers alone (or are its stored keys, when every identifier it has is disclosed).
A postcode or an NHS number the searcher may not see cannot put a person in the list, move them
up it, or change their band; and the band (strong or possible) is all that is shown of a score,
so no fine-grained number is there to probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from agencies.models import Agency
from audit.models import AuditAction
from audit.services import access_log_write
from matching import scoring
from matching.models import LinkageRecord, Person
from matching.pseudonymise import record_keys_compute
from matching.search import (
    MAX_RESULTS,
    MIN_WEIGHT,
    SearchQuery,
    query_identifiers,
    search_candidates,
    search_parameters,
)
from matching.tokens import RECORD_DTYPE, SEARCH_FIELDS, keys_from_packed
from protocols.engine import PersonView, RecordView, disclose
from protocols.fields import IDENTITY, dataset_catalogues, identity_key

# At or above this weight (evidence of about 2^12 to 1 from what the searcher is shown) a result
# is a strong match: a full name with the date of birth, or an NHS number, UPN or PNC id; a
# surname with a date of birth or a postcode alone is a possible one.
STRONG_WEIGHT = 12.0


class MatchBand:
    STRONG = "strong"
    POSSIBLE = "possible"

    LABELS = {STRONG: "Strong match", POSSIBLE: "Possible match"}


def match_band(weight: float) -> str:
    return MatchBand.STRONG if weight >= STRONG_WEIGHT else MatchBand.POSSIBLE


@dataclass
class SearchResult:
    view: PersonView
    # A MatchBand: the score itself is never shown, so it is not kept here either.
    band: str

    @property
    def person(self) -> Person:
        return self.view.person

    @property
    def band_label(self) -> str:
        return MatchBand.LABELS[self.band]

    @property
    def known_to(self) -> list[Agency]:
        """The agencies the searcher may see know the person, each once."""
        return list({i.agency.pk: i.agency for i in self.view.involvements}.values())

    @property
    def date_of_birth(self) -> date | None:
        """The date of birth the engine shows, as a date (identifiers are stored normalised:
        ISO), or None when none is shown."""
        try:
            return date.fromisoformat(self.view.date_of_birth)
        except ValueError:
            return None


class SearchResults(list[SearchResult]):
    """The people a search shows, best first. `capped` when more people the searcher may see
    matched than the MAX_RESULTS shown, so the page can say the list is not everyone."""

    limit = MAX_RESULTS

    def __init__(self, results=(), *, capped: bool = False):
        super().__init__(results)
        self.capped = capped


def person_search(
    *, user, membership, query: SearchQuery, purpose: str, now, channel: str
) -> tuple[SearchResults, list[str]]:
    """People matching `query` whom the user may see, best first (at most MAX_RESULTS, capped
    says whether more matched), and the kinds of input used.

    Logged: who searched, for what purpose, the kinds of input (never the terms), the persons
    shown and the protocol versions that showed them. A query that cannot be read raises
    SearchError and is not a search.
    """
    results, kinds = _ranked(
        user=user, membership=membership, query=query, purpose=purpose, now=now
    )
    access_log_write(
        user=user,
        membership=membership,
        action=AuditAction.SEARCH,
        channel=channel,
        purpose=purpose,
        versions=sorted({v for r in results for v in r.view.versions}),
        query_kinds=kinds,
        results=[r.person.reference for r in results],
        fields={"results": {r.person.reference: _shown_logged(r.view) for r in results}},
    )
    return results, kinds


# What a result row shows of a person's records (templates/protocols/search.html): the name and
# date of birth, and a badge per agency that knows them.
_RESULT_KEYS = frozenset(identity_key(k) for k in ("forename", "surname", "date_of_birth"))


def _shown_logged(view: PersonView) -> dict:
    """The record ids and field keys a result row shows, and the datasets behind its badges: so
    each owning agency's IG officers see the search among the reads of their records."""
    return {
        "fields": {
            str(record.record_id): keys
            for record in view.records
            if (keys := sorted(f.key for f in record.shown_fields if f.key in _RESULT_KEYS))
        },
        "known_to": sorted({i.dataset_id for i in view.involvements}),
    }


def _ranked(
    *, user, membership, query: SearchQuery, purpose: str, now
) -> tuple[SearchResults, list[str]]:
    identifiers, kinds = query_identifiers(query)
    query_row = np.frombuffer(record_keys_compute(identifiers), dtype=RECORD_DTYPE)[0]
    del identifiers
    person_ids = list(dict.fromkeys(person for _, person, _ in search_candidates(query_row)))
    if not person_ids:
        return SearchResults(), kinds
    persons = Person.objects.filter(pk__in=person_ids, is_active=True)
    views = disclose(user=user, membership=membership, persons=persons, purpose=purpose, now=now)
    weights = _disclosed_weights(query_row, list(views.values()))
    # Ties go by person id, which says nothing about anyone's identifiers.
    ranked = sorted(weights, key=lambda p: (-weights[p], p))
    # Whether more matched says only that more people the searcher may see do: nothing of them.
    return SearchResults(
        (SearchResult(views[p], match_band(weights[p])) for p in ranked[:MAX_RESULTS]),
        capped=len(ranked) > MAX_RESULTS,
    ), kinds


def _disclosed_identifiers(record: RecordView) -> dict[str, str]:
    return {
        f.key.removeprefix(IDENTITY): str(f.value)
        for f in record.shown_fields
        if f.key.startswith(IDENTITY) and f.value not in (None, "")
    }


def _disclosed_keys(views: list[PersonView]) -> tuple[list[int], list[bytes]]:
    """(person id, packed keys) of each record the views show an identifier of, the keys made
    from those identifiers alone. A record whose every identifier is shown keeps its stored
    keys, which are the same thing; only a partly shown one has its keys made again, from the
    values the engine returned (nothing is opened here)."""
    records = [
        (view.person.pk, record, _disclosed_identifiers(record))
        for view in views
        for record in view.records
    ]
    records = [(person, record, shown) for person, record, shown in records if shown]
    if not records:
        return [], []
    catalogues = dataset_catalogues({record.dataset_id for _, record, _ in records})
    identity_keys = {
        dataset: {f.key for f in catalogue if f.is_identity}
        for dataset, catalogue in catalogues.items()
    }
    whole = [
        record.record_id
        for _, record, _ in records
        if identity_keys.get(record.dataset_id, set()) <= {f.key for f in record.shown_fields}
    ]
    stored = dict(
        LinkageRecord.objects.filter(record_id__in=whole).values_list("record_id", "keys")
    )
    persons, packed = [], []
    for person, record, shown in records:
        keys = stored.get(record.record_id)
        if keys is None or len(keys) != RECORD_DTYPE.itemsize:
            keys = record_keys_compute(shown)
        packed.append(bytes(keys))
        persons.append(person)
        del shown
    return persons, packed


def _disclosed_weights(query_row: np.ndarray, views: list[PersonView]) -> dict[int, float]:
    """{person id: best match weight of the query against one of their records, as far as the
    searcher is shown it}, for persons at or above MIN_WEIGHT. A record counts only if its shown
    identifiers share an indexed value with the query, the rule that makes a candidate."""
    persons, packed = _disclosed_keys(views)
    if not persons:
        return {}
    keys = keys_from_packed(query_row.tobytes() + b"".join(packed))
    right = np.arange(1, len(persons) + 1)
    shares = np.zeros(len(persons), dtype=bool)
    for name in SEARCH_FIELDS:
        wanted = int(query_row[name])
        if wanted:
            shares |= keys[name][right] == wanted
    levels = scoring.comparison_levels(keys, np.zeros(len(persons), dtype=np.int64), right)
    parameters = search_parameters()
    weights = scoring.match_weights(levels, parameters) - parameters.prior_weight()
    best: dict[int, float] = {}
    for person, weight, shared in zip(persons, weights.tolist(), shares.tolist(), strict=True):
        if shared and weight >= MIN_WEIGHT and weight > best.get(person, -np.inf):
            best[person] = float(weight)
    return best
