"""Finding the people a search query may be about, without a plaintext index.

The query is normalised as ingest normalises a record and keyed with the same linkage keys
(matching.tokens), so it can be compared with records' keys but nobody can read the index. Records
sharing any indexed keyed value with the query (an identifier, the surname, the date of birth, the
postcode, or a sound-alike block) are candidates; each is scored against the query with the
linkage model's comparisons, so a misspelt name or a swapped day and month still ranks high.

Nothing here decides who may see whom: practitioner search lists a candidate only as far as the
disclosure engine shows them to the searcher (protocols.search), and subject access finds people
under its own rule (subject_access.services).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db.models import Q

from matching import scoring
from matching.model import model_current
from matching.models import SearchKey
from matching.pseudonymise import record_keys_compute
from matching.tokens import RECORD_DTYPE, SEARCH_FIELDS, keys_from_packed, search_signed
from sharehub_bridge import normalise
from sharehub_bridge.identifiers import nhs_number_is_valid, pnc_id_is_valid, upn_is_valid

# Candidate records read per query: more than a surname-only search of a common name needs to
# rank the right people first, few enough to answer in milliseconds.
MAX_CANDIDATES = 3000
MAX_RESULTS = 25
# Below this match weight a candidate shares too little with the query to be worth showing.
MIN_WEIGHT = 2.0


class SearchError(ValueError):
    """A query that cannot be searched; `problems` maps each input to what to fix."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class SearchQuery:
    forename: str = ""
    surname: str = ""
    date_of_birth: str = ""
    postcode: str = ""
    identifier: str = ""


def query_identifiers(query: SearchQuery) -> tuple[dict[str, str], list[str]]:
    """The query as ingest would store a record's identifiers, and the kinds of input given.

    Raises SearchError naming each input that cannot be read. Messages never repeat the input.
    """
    problems: dict[str, str] = {}
    identifiers: dict[str, str] = {}
    kinds: list[str] = []
    for name in ("forename", "surname"):
        value = normalise.text_clean(getattr(query, name))
        if value:
            if len(value) > 100:
                problems[name] = "Shorten the name to 100 characters or fewer."
            else:
                identifiers[name] = value
                kinds.append(name)
    if query.date_of_birth.strip():
        parsed = normalise.date_parse(query.date_of_birth)
        if parsed is None:
            problems["date_of_birth"] = (
                f"Enter the date of birth as a real date, {normalise.DATE_FORMATS_HELP}."
            )
        else:
            identifiers["date_of_birth"] = parsed.isoformat()
            kinds.append("date_of_birth")
    if query.postcode.strip():
        postcode = normalise.postcode_normalise(query.postcode)
        if normalise.postcode_parts(postcode) is None:
            problems["postcode"] = "Enter a full UK postcode, like AB1 2CD."
        else:
            identifiers["postcode"] = postcode
            kinds.append("postcode")
    if query.identifier.strip():
        kind, value = _identifier_kind(query.identifier)
        if kind is None:
            problems["identifier"] = (
                "Enter a valid NHS number (10 digits), UPN (a letter and 12 characters) or "
                "PNC id (like 2008/0056560Z); check the digits, as its check digit is wrong or "
                "it has the wrong length."
            )
        else:
            identifiers[kind] = value
            kinds.append(kind)
    if problems:
        raise SearchError(problems)
    if not identifiers:
        raise SearchError(
            {"": "Enter a name, a date of birth, a postcode or an identifier to search for."}
        )
    if set(identifiers) == {"forename"}:
        raise SearchError(
            {
                "surname": "Add a surname, a date of birth or a postcode: a forename alone is too "
                "common to search on."
            }
        )
    return identifiers, kinds


def _identifier_kind(text: str) -> tuple[str | None, str]:
    digits, valid = normalise.nhs_number_normalise(text)
    if valid and nhs_number_is_valid(digits):
        return "nhs_number", digits
    upn = normalise.upn_normalise(text)
    if upn_is_valid(upn):
        return "upn", upn
    pnc = normalise.pnc_id_normalise(text)
    if pnc_id_is_valid(pnc):
        return "pnc_id", pnc
    return None, ""


def search_candidates(query_row: np.ndarray) -> list[tuple[int, int, bytes]]:
    """(record id, person id, keys) of records sharing an indexed keyed value with the query."""
    condition = Q()
    for name in SEARCH_FIELDS:
        value = search_signed(int(query_row[name]))
        if value is not None:
            condition |= Q(**{name: value})
    if not condition:
        return []
    found = SearchKey.objects.filter(condition, record__person__isnull=False).values_list(
        "record_id", "record__person_id", "record__keys"
    )[:MAX_CANDIDATES]
    return [(record, person, bytes(keys)) for record, person, keys in found]


def search_parameters() -> scoring.Parameters:
    """The linkage model's parameters, which a query is weighed with as a pair of records is."""
    _, parameters = model_current()
    if parameters is not None:
        return parameters
    # Before linkage has estimated a model: the starting values every estimate begins from.
    return scoring.Parameters(
        m=[list(c.m_start) for c in scoring.COMPARISONS],
        u=[list(c.u_start) for c in scoring.COMPARISONS],
        prior=1e-4,
    )


def persons_matching(query: SearchQuery) -> tuple[dict[int, float], list[int], list[str]]:
    """({person id: weight}, person ids best first, kinds of input) for `query`, over every
    record, before any disclosure decision: for a subject access request, which finds people
    under subject_access's own rule. Practitioner search does not use it: it scores only what
    the engine shows the searcher (protocols.search). Raises SearchError."""
    identifiers, kinds = query_identifiers(query)
    query_row = np.frombuffer(record_keys_compute(identifiers), dtype=RECORD_DTYPE)[0]
    del identifiers
    found = search_candidates(query_row)
    if not found:
        return {}, [], kinds
    packed = query_row.tobytes() + b"".join(keys for _, _, keys in found)
    keys = keys_from_packed(packed)
    right = np.arange(1, len(found) + 1)
    levels = scoring.comparison_levels(keys, np.zeros(len(found), dtype=np.int64), right)
    parameters = search_parameters()
    weights = scoring.match_weights(levels, parameters) - parameters.prior_weight()
    best: dict[int, float] = {}
    for (_, person_id, _), weight in zip(found, weights, strict=True):
        if weight >= MIN_WEIGHT and weight > best.get(person_id, -np.inf):
            best[person_id] = float(weight)
    ranked = sorted(best, key=lambda p: -best[p])[: MAX_RESULTS * 4]
    return best, ranked, kinds
