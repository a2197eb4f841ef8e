"""How sure ShareHub is that a record belongs to its person, in words a practitioner can weigh.

A case summary puts records of several agencies side by side as one person's. Most of those links
are beyond doubt, some are a judgement (a date of birth a day and month apart, a forename that is
a nickname), and a practitioner acting on the wrong child's record does harm. So each record says
how it joined the person, from linkage's own bookkeeping: the record it was linked with
(LinkageRecord.linked_with, its strongest link inside the person), the rule that link met, and
the model's probability. The two records' keyed pseudonyms are compared again here to say which
details agree and how the others differ; no identity is opened and no value is named.

Bands, weakest last:
- certain: an NHS number, UPN or PNC id agrees, or a link reviewer confirmed the pair;
- strong: forename, surname and date of birth agree (or surname, date of birth and address; or
  name and home), nothing differs, and the model gives at least STRONG_PROBABILITY;
- probable: linked on the balance of the evidence with something differing, missing or weaker.

What is shown is the band and the words, never the weight or the probability: a weight would
say how rare a name is, which is about the person's identity.
"""

from dataclasses import dataclass

import numpy as np

from matching import scoring
from matching.models import LinkageRecord
from matching.tokens import keys_from_packed


class Band:
    CERTAIN = "certain"
    STRONG = "strong"
    PROBABLE = "probable"

    ORDER = (CERTAIN, STRONG, PROBABLE)  # strongest first
    LABELS = {CERTAIN: "Certain", STRONG: "Strong", PROBABLE: "Probable"}


STRONG_PROBABILITY = 0.99

_IDENTIFIER_RULES = {"nhs": "Same NHS number", "upn": "Same UPN", "pnc": "Same PNC id"}
_IDENTIFIER_NAMES = {"nhs": "nhs_number", "upn": "upn", "pnc": "pnc_id"}
NOT_NAMEABLE = "Linked on details not shared with you"
_DOB_DIFFERS = {
    scoring.DOB_SWAPPED: "date of birth differs by a day/month swap",
    scoring.DOB_YEAR_MONTH: "date of birth differs in the day",
    scoring.DOB_ONE_DIGIT: "date of birth differs by one digit",
    scoring.DOB_DAY_MONTH: "date of birth differs in the year",
    scoring.DOB_YEAR: "date of birth differs, same year",
    scoring.DOB_DECADE: "date of birth differs",
    scoring.DOB_DIFFERENT: "date of birth differs",
}


@dataclass(frozen=True)
class LinkConfidence:
    band: str  # a Band, or "" for a person's only record (nothing joined it to anyone)
    words: str  # how it joined, in words; names details, never values

    @property
    def band_label(self) -> str:
        return Band.LABELS.get(self.band, "")

    @property
    def rank(self) -> int:
        """Higher is weaker; a record with no link is never the weakest."""
        return Band.ORDER.index(self.band) if self.band in Band.ORDER else -1


ONLY_RECORD = LinkConfidence("", "This person's only record")


def link_confidence(
    record_ids, *, shown: dict[int, frozenset[str]] | None = None
) -> dict[int, LinkConfidence]:
    """{record id: how it joined its person} for each of `record_ids` linkage has placed.

    `shown`, {record id: the identifiers (forename, date_of_birth, postcode...) the reader is
    shown of it}: a detail is named in the words, agreeing or differing, only when the reader is
    shown it on both records. "Name and postcode agree" under a police record whose postcode
    is not shared would tell the reader the police postcode (it is the one they see on the
    other record); so would "a day/month swap" of a date they see. What cannot be named is
    left out, and the band still says how sure the link is. None (a link reviewer, who compares
    the pair anyway) names everything.

    Two queries whatever the number of records: the records' linkage rows, then the keys of
    the partners not among them.
    """
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        return {}
    rows = {
        row[0]: row
        for row in LinkageRecord.objects.filter(record_id__in=ids, person__isnull=False)
        .values_list(
            "record_id", "link_rule", "link_score", "linked_with_id", "keys", "key_version"
        )
        .iterator(chunk_size=2000)
    }
    keys_of = {record: (bytes(row[4]), row[5]) for record, row in rows.items()}
    partners = {row[3] for row in rows.values() if row[3] is not None} - keys_of.keys()
    if partners:
        keys_of.update(
            (record, (bytes(keys), version))
            for record, keys, version in LinkageRecord.objects.filter(
                record_id__in=list(partners)
            ).values_list("record_id", "keys", "key_version")
        )
    levels = _levels(rows, keys_of)
    return {
        record: _confidence(
            rule,
            probability,
            partner,
            levels.get(record),
            nameable=None
            if shown is None
            else shown.get(record, frozenset()) & shown.get(partner, frozenset()),
        )
        for record, (_, rule, probability, partner, _, _) in rows.items()
    }


def weakest(confidences) -> LinkConfidence | None:
    """The weakest link among `confidences`, or None when none of them is a link."""
    linked = [c for c in confidences if c.band]
    return max(linked, key=lambda c: c.rank) if linked else None


def _levels(rows: dict, keys_of: dict) -> dict[int, np.ndarray]:
    """{record id: comparison levels against its partner}, for partners whose keys were made
    with the same linkage key (after a key rotation, until both are re-keyed, they cannot be
    compared and the rule alone speaks)."""
    pairs = [
        (record, row[3])
        for record, row in rows.items()
        if row[3] in keys_of and keys_of[row[3]][1] == keys_of[record][1]
    ]
    if not pairs:
        return {}
    order = list(dict.fromkeys(r for pair in pairs for r in pair))
    position = {record: index for index, record in enumerate(order)}
    keys = keys_from_packed(b"".join(keys_of[record][0] for record in order))
    left = np.array([position[a] for a, _ in pairs], dtype=np.int64)
    right = np.array([position[b] for _, b in pairs], dtype=np.int64)
    found = scoring.comparison_levels(keys, left, right)
    return {record: found[index] for index, (record, _) in enumerate(pairs)}


def _confidence(
    rule: str,
    probability: float | None,
    partner: int | None,
    levels: np.ndarray | None,
    *,
    nameable: frozenset[str] | None = None,
) -> LinkConfidence:
    """`nameable`: the identifiers the reader is shown on both records (None: all)."""
    if partner is None:
        return ONLY_RECORD
    if rule in _IDENTIFIER_RULES:
        if nameable is not None and _IDENTIFIER_NAMES[rule] not in nameable:
            return LinkConfidence(Band.CERTAIN, NOT_NAMEABLE)
        return LinkConfidence(Band.CERTAIN, _IDENTIFIER_RULES[rule])
    if rule == "review":
        return LinkConfidence(Band.CERTAIN, "A link reviewer confirmed the same person")
    if levels is None:
        # Keys made under different linkage keys: the rule and probability alone speak.
        if rule in _RULE_WORDS and (probability or 0) >= STRONG_PROBABILITY:
            words = _RULE_WORDS[rule] if nameable is None else NOT_NAMEABLE
            return LinkConfidence(Band.STRONG, words)
        return LinkConfidence(Band.PROBABLE, "Probable match on the balance of the evidence")
    # The band from all the evidence; the words from what the reader may be told of it.
    _, differences, _ = _described(levels)
    agree, differ, missing = _described(levels, nameable=nameable)
    strong = (
        (probability or 0) >= STRONG_PROBABILITY
        and not differences
        and "surname" in _agreeing(levels)
        and bool({"date_of_birth", "forename"} & _agreeing(levels))
        and bool({"date_of_birth", "address"} & _agreeing(levels))
    )
    parts = []
    if agree:
        parts.append(f"{_listed(agree)} agree{'s' if len(agree) == 1 else ''}")
    parts.extend(differ)
    if missing:
        parts.append(f"no {_listed(missing)} on one of the records")
    sentence = ", ".join(parts) if parts else NOT_NAMEABLE.lower()
    if not parts and strong:
        return LinkConfidence(Band.STRONG, NOT_NAMEABLE)
    if strong:
        return LinkConfidence(Band.STRONG, sentence[:1].upper() + sentence[1:])
    return LinkConfidence(Band.PROBABLE, f"Probable match: {sentence}")


_RULE_WORDS = {
    "name_dob": "Name and date of birth agree",
    "surname_dob_postcode": "Surname, date of birth and postcode agree",
    "name_address": "Name and address agree",
}


def _agreeing(levels: np.ndarray) -> set[str]:
    column = _column(levels)
    found = set()
    if column["forename"] == scoring.FORENAME_SAME:
        found.add("forename")
    if column["surname"] == scoring.SURNAME_SAME:
        found.add("surname")
    if column["dob"] == scoring.DOB_SAME:
        found.add("date_of_birth")
    if column["location"] >= scoring.LOCATION_POSTCODE_OR_STREET:
        found.add("address")
    return found


def _column(levels: np.ndarray) -> dict[str, int]:
    return {name: int(levels[index]) for index, name in enumerate(scoring.COMPARISON_NAMES)}


def _described(
    levels: np.ndarray, *, nameable: frozenset[str] | None = None
) -> tuple[list[str], list[str], list[str]]:
    """(details that agree, how the others differ, details one record lacks), in words; of the
    details in `nameable` only (None: all)."""

    def named(*identifiers: str) -> bool:
        return nameable is None or all(i in nameable for i in identifiers)

    column = _column(levels)
    agreeing = _agreeing(levels)
    agree: list[str] = []
    if {"forename", "surname"} <= agreeing and named("forename", "surname"):
        agree.append("name")
    elif "surname" in agreeing and named("surname"):
        agree.append("surname")
    elif "forename" in agreeing and named("forename"):
        agree.append("forename")
    if "date_of_birth" in agreeing and named("date_of_birth"):
        agree.append("date of birth")
    if column["location"] == scoring.LOCATION_DWELLING and named("address", "postcode"):
        agree.append("address")
    elif column["location"] >= scoring.LOCATION_POSTCODE_OR_STREET and (
        named("postcode") or named("address")
    ):
        agree.append("postcode or street")

    differ: list[str] = []
    if named("forename"):
        if column["forename"] in (scoring.FORENAME_SIMILAR, scoring.FORENAME_LITTLE):
            differ.append("forename similar but not the same")
        elif column["forename"] == scoring.FORENAME_DIFFERENT:
            differ.append("forename differs")
    if named("surname"):
        if column["surname"] in (scoring.SURNAME_SIMILAR, scoring.SURNAME_LITTLE):
            differ.append("surname similar but not the same")
        elif column["surname"] == scoring.SURNAME_DIFFERENT:
            differ.append("surname differs")
    if column["dob"] in _DOB_DIFFERS and named("date_of_birth"):
        differ.append(_DOB_DIFFERS[column["dob"]])
    if column["location"] in (scoring.LOCATION_DIFFERENT, scoring.LOCATION_AREA) and named(
        "postcode", "address"
    ):
        differ.append("address differs")

    # That one record lacks a detail says nothing of its value; named only where the reader
    # would see it on both were it there.
    missing = [
        words
        for name, words, identifier in (
            ("forename", "forename", "forename"),
            ("surname", "surname", "surname"),
            ("dob", "date of birth", "date_of_birth"),
        )
        if column[name] == scoring.MISSING and named(identifier)
    ]
    return agree, differ, missing


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
