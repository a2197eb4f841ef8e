"""The linkage model: when to estimate it, how, and whether the estimate may be used.

Linkage must not depend on the order agencies' extracts arrive in (LINKAGE.md). So:
- the model is estimated afresh when records of an agency it has not seen arrive, or when any
  agency's records have grown or shrunk by a quarter since it was estimated (the mix of pairs
  changed), not only when the records double;
- EM runs on candidate pairs between datasets where there are enough of them: a first agency
  with no duplicates has only non-matches among its own pairs, but two agencies that know the
  same people always have matches between them;
- a fit that fails scoring.model_check is refused, and the prior m-probabilities are used with
  a prior share of matches counted from strict rules; the run's figures say which, and why;
- a run that estimates a new model re-clusters everything under it (matching.linkage.run), so the
  persons in the end are those the final model gives, whatever came first; and every sample
  is drawn by the records' content, not their ids (which follow the load order).
"""

import time

import numpy as np

from matching import scoring
from matching.candidates import candidate_pairs, pair_levels
from matching.models import LinkageModel
from matching.tokens import keys_take

EM_SAMPLE = 3_000_000
# Enough pairs between datasets to estimate from them alone.
MIN_CROSS_PAIRS = 1_000
# A dataset this much bigger or smaller than when the model was estimated changes the mix.
RESTALE_CHANGE = 0.25
RESTALE_MIN_RECORDS = 50
# Strict rules that almost never join two people, and the share of true matches they find:
# their count over that share is the prior number of matches when EM's fit is refused.
STRICT_RULE_RECALL = 0.8


def model_current() -> tuple[LinkageModel | None, scoring.Parameters | None]:
    model = LinkageModel.objects.order_by("-pk").first()
    if model is None:
        return None, None
    try:
        return model, scoring.Parameters.from_json(model.parameters)
    except ValueError:
        return None, None  # estimated for other comparisons: estimate afresh


def _counts(ids: np.ndarray) -> dict[str, int]:
    distinct, counts = np.unique(ids, return_counts=True)
    return {str(d): int(c) for d, c in zip(distinct.tolist(), counts.tolist(), strict=True)}


def content_hash(keys) -> np.ndarray:
    """A 64-bit value per record from its keyed values alone: equal for equal records, the same
    whatever id or position the record has."""
    mixed = np.zeros(len(keys["surname"]), dtype=np.uint64)
    if not len(mixed):
        return mixed  # no records: reshape(0, -1) below could not tell the width
    # Every field and every Bloom word: records equal in a few fields but not all would tie, and
    # a tie is broken by position, which follows the load order.
    for number, name in enumerate(sorted(keys)):
        column = np.asarray(keys[name]).astype(np.uint64, copy=False)
        words = column.reshape(len(mixed), -1) if column.ndim > 1 else column[:, None]
        for word in range(words.shape[1]):
            mixed = pair_mix(mixed ^ (words[:, word] + np.uint64(number * 64 + word)))
    return mixed


def pair_mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads bits so that sorting by the result looks random."""
    x = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def model_stale(model: LinkageModel | None, agency_ids: np.ndarray) -> str:
    """Why the model should be estimated again for records of these agencies ("" if not): an
    agency it has not seen, or one whose records have grown or shrunk by a quarter. A new
    dataset of a known agency (a school nursing extract beside the attendances) changes the mix
    of pairs only as much as its records do."""
    if model is None:
        return "there was no model for the current comparisons"
    trained: dict[str, int] = model.fit.get("agencies", {})
    for agency, count in _counts(agency_ids).items():
        before = trained.get(agency, 0)
        if not before:
            return "an agency new to the model sent records"
        if abs(count - before) >= max(RESTALE_CHANGE * before, RESTALE_MIN_RECORDS):
            return "an agency's records changed by a quarter or more"
    return ""


def _strict_share(levels: np.ndarray) -> float:
    """The share of pairs meeting a strict rule: a shared NHS number, UPN or PNC id, or the same
    forename and surname with the same date of birth or the same dwelling."""
    column = {name: levels[:, i] for i, name in enumerate(scoring.COMPARISON_NAMES)}
    names = (column["forename"] == scoring.FORENAME_SAME) & (
        column["surname"] == scoring.SURNAME_SAME
    )
    strict = (
        (column["nhs"] == 1)
        | (column["upn"] == 1)
        | (column["pnc"] == 1)
        | (names & (column["dob"] == scoring.DOB_SAME))
        | (names & (column["location"] == scoring.LOCATION_DWELLING))
    )
    return float(strict.mean()) if len(strict) else 0.0


def model_estimate(
    keys, dataset_ids: np.ndarray, agency_ids: np.ndarray, figures
) -> tuple[LinkageModel, scoring.Parameters, np.ndarray]:
    """Estimate a model from every live record (`keys`, with each record's dataset and agency),
    save it, and return it with the levels of the pairs it was estimated on (a sample)."""
    started = time.perf_counter()
    records = len(dataset_ids)
    # Random pairs drawn over the records in an order of their content, not their ids.
    order = np.argsort(content_hash(keys), kind="stable")
    u = scoring.u_estimate(keys_take(keys, order))
    left, right = candidate_pairs(keys, None)
    pairs = len(left)
    between = dataset_ids[left] != dataset_ids[right]
    use_between = int(between.sum()) >= MIN_CROSS_PAIRS
    if use_between:
        left, right = left[between], right[between]
    chosen_pairs = len(left)
    if chosen_pairs > EM_SAMPLE:
        # A sample estimates the same shares; EM's cost is in scoring the pairs. Chosen by a
        # hash of the two records' keys, so the same records give the same sample whatever
        # order they were loaded in (and so whatever ids they have).
        content = content_hash(keys)
        mixed = pair_mix(content[left] ^ content[right])
        chosen = np.sort(np.argpartition(mixed, EM_SAMPLE)[:EM_SAMPLE])
        left, right = left[chosen], right[chosen]
    levels = pair_levels(keys, left, right)
    fit = scoring.em_estimate(levels, u, records=records, candidate_pairs=chosen_pairs)
    refused = scoring.model_check(fit, levels, records=records)
    parameters = fit.parameters
    if refused:
        # The prior m-probabilities with the data's own u, and as many matches as strict rules
        # find (never fewer than the fewest a fit may find).
        expected = _strict_share(levels) * chosen_pairs / STRICT_RULE_RECALL
        expected = max(expected, scoring.MIN_MATCH_SHARE * records)
        all_pairs = max(records * (records - 1) / 2, 1.0)
        parameters = scoring.Parameters(
            m=[list(c.m_start) for c in scoring.COMPARISONS],
            u=u,
            prior=float(np.clip(expected / all_pairs, 1e-12, 0.5)),
        )
    parameters.contexts, contexts_refused = scoring.context_estimate(levels, parameters)
    fit_figures = {
        "status": "refused" if refused else "estimated",
        "reason": refused,
        "datasets": _counts(dataset_ids),
        "agencies": _counts(agency_ids),
        "pairs": "between datasets" if use_between else "all candidate pairs",
        "em_pairs": len(levels),
        "expected_matches": round(fit.expected_matches, 1),
        "iterations": fit.iterations,
        "converged": fit.converged,
        "contexts": {name: round(share, 3) for name, share in parameters.contexts.items()},
        "contexts_refused": contexts_refused,
    }
    model = LinkageModel.objects.create(
        parameters=parameters.as_json(),
        trained_on_pairs=pairs,
        trained_on_records=records,
        fit=fit_figures,
    )
    figures["model_status"] = fit_figures["status"]
    if refused:
        figures["model_refused_because"] = refused
    figures["model_pairs"] = fit_figures["pairs"]
    figures.time("model_estimate", started)
    return model, parameters, levels
