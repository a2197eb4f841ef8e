"""What an indicator is allowed to say, checked in one place, and each indicator compiled into a
matcher that scoring runs over every record.

The same checks serve the platform admin's web form and the demo; a condition names a column of
the indicator's datasets and tests it in a way that fits the column's type, so a rule that
could never match ("risk grade is at least 3" on a category) is refused with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agencies.models import Dataset
from protocols.fields import FieldInfo, dataset_catalogues, payload_key
from risk.models import ConditionOp, IndicatorKind, RiskIndicator
from risk.vocabulary import Vocabulary, VocabularyError, phrases_clean

# Which tests fit which column type.
OPS_FOR_TYPE: dict[str, tuple[str, ...]] = {
    "category": (ConditionOp.IS, ConditionOp.IN, ConditionOp.PRESENT, ConditionOp.ABSENT),
    "boolean": (ConditionOp.YES, ConditionOp.NO, ConditionOp.PRESENT, ConditionOp.ABSENT),
    "number": (
        ConditionOp.AT_LEAST,
        ConditionOp.AT_MOST,
        ConditionOp.IS,
        ConditionOp.PRESENT,
        ConditionOp.ABSENT,
    ),
    "date": (ConditionOp.PRESENT, ConditionOp.ABSENT),
    "text": (ConditionOp.PRESENT, ConditionOp.ABSENT),
}
NEEDS_VALUE = {ConditionOp.IS, ConditionOp.IN, ConditionOp.AT_LEAST, ConditionOp.AT_MOST}
MAX_CONDITIONS = 8
MAX_PHRASES = 200


class IndicatorError(ValueError):
    """An indicator that cannot be saved; `problems` maps a form field ("" for the whole) to
    what to fix."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__("; ".join(p for ps in problems.values() for p in ps))
        self.problems = problems


@dataclass
class IndicatorInput:
    name: str
    kind: str
    datasets: list[Dataset]
    weight: int
    description: str = ""
    conditions: list[dict[str, Any]] = field(default_factory=list)
    phrases: list[str] | str = field(default_factory=list)
    text_columns: list[str] = field(default_factory=list)
    half_life_days: int | None = 180
    lookback_days: int | None = None
    is_active: bool = True


def _columns(catalogues: dict[int, list[FieldInfo]], datasets: list[Dataset]) -> dict:
    """{column: (type, allowed values)} for columns every chosen dataset has with one type."""
    shared: dict[str, tuple[str, set[str]]] | None = None
    for dataset in datasets:
        found: dict[str, tuple[str, set[str]]] = {}
        for info in catalogues.get(dataset.pk, []):
            # A contact detail is about the agency's worker, never the person: no indicator
            # reads it.
            if not info.is_identity and not info.contact:
                found[info.name] = (info.type, set())
        if shared is None:
            shared = found
        else:
            shared = {
                name: spec
                for name, spec in shared.items()
                if name in found and found[name][0] == spec[0]
            }
    return shared or {}


def _category_values(datasets: list[Dataset]) -> dict[str, set[str]]:
    """Allowed values of each category column over every version of the datasets."""
    from agencies.models import DatasetVersion

    values: dict[str, set[str]] = {}
    for version in DatasetVersion.objects.filter(dataset__in=datasets).only("columns"):
        for column in version.columns:
            if column.get("type") == "category":
                values.setdefault(column["column"], set()).update(column.get("values") or [])
    return values


def indicator_checked(data: IndicatorInput) -> dict[str, Any]:
    """The indicator's cleaned content; raises IndicatorError listing every problem."""
    problems: dict[str, list[str]] = {}

    def problem(where: str, text: str) -> None:
        problems.setdefault(where, []).append(text)

    name = (data.name or "").strip()
    if not name:
        problem("name", 'Enter a name, for example "Domestic abuse with a child present".')
    elif len(name) > 120:
        problem("name", "Shorten the name to 120 characters or fewer.")
    if data.kind not in IndicatorKind.values:
        problem("kind", "Choose whether the indicator is a rule or a list of phrases.")
    if not data.datasets:
        problem("datasets", "Choose at least one dataset the indicator reads.")
    if not isinstance(data.weight, int) or not 1 <= data.weight <= 100:
        problem("weight", "Enter a weight from 1 to 100.")
    for where, days, what in (
        ("half_life_days", data.half_life_days, "half-life"),
        ("lookback_days", data.lookback_days, "look-back"),
    ):
        if days is not None and (not isinstance(days, int) or not 1 <= days <= 3650):
            problem(
                where, f"Enter the {what} as a number of days from 1 to 3650, or leave it empty."
            )

    catalogues = dataset_catalogues([d.pk for d in data.datasets])
    columns = _columns(catalogues, data.datasets)
    conditions: list[dict[str, Any]] = []
    phrases: list[str] = []
    text_columns: list[str] = []
    if data.kind == IndicatorKind.STRUCTURED and data.datasets:
        conditions = _conditions_checked(data, columns, problem)
    elif data.kind == IndicatorKind.VOCABULARY and data.datasets:
        try:
            phrases = phrases_clean(data.phrases)
        except VocabularyError as error:
            for text in error.problems:
                problem("phrases", text)
        if len(phrases) > MAX_PHRASES:
            problem("phrases", f"Give at most {MAX_PHRASES} phrases.")
        text_columns = [c.strip() for c in data.text_columns if c and c.strip()]
        for column in text_columns:
            if columns.get(column, ("",))[0] != "text":
                problem(
                    "text_columns",
                    f'"{column}" is not a free-text column of every chosen dataset.',
                )
        for dataset in data.datasets:
            has_text = any(
                not info.is_identity and info.type == "text" and not info.contact
                for info in catalogues.get(dataset.pk, [])
            )
            if not has_text:
                problem("datasets", f"{dataset.name} has no free-text column to read.")
    if problems:
        raise IndicatorError(problems)
    return {
        "name": name,
        "description": (data.description or "").strip(),
        "kind": data.kind,
        "conditions": conditions,
        "phrases": phrases,
        "text_columns": text_columns,
        "weight": data.weight,
        "half_life_days": data.half_life_days,
        "lookback_days": data.lookback_days,
        "is_active": data.is_active,
    }


def _conditions_checked(data: IndicatorInput, columns: dict, problem) -> list[dict[str, Any]]:
    raw = [c for c in data.conditions if c.get("column") or c.get("op")]
    if not raw:
        problem("conditions", "Add at least one condition.")
        return []
    if len(raw) > MAX_CONDITIONS:
        problem("conditions", f"Use at most {MAX_CONDITIONS} conditions.")
        return []
    values_allowed = _category_values(data.datasets)
    cleaned = []
    for number, condition in enumerate(raw, start=1):
        where = f"Condition {number}"
        column = str(condition.get("column") or "").strip()
        op = str(condition.get("op") or "").strip()
        value = condition.get("value")
        if column not in columns:
            problem(
                "conditions",
                f"{where}: choose a column that every chosen dataset has"
                + (f' ("{column}" is not one).' if column else "."),
            )
            continue
        column_type = columns[column][0]
        if op not in OPS_FOR_TYPE.get(column_type, ()):
            allowed = ", ".join(ConditionOp(o).label for o in OPS_FOR_TYPE.get(column_type, ()))
            problem("conditions", f"{where}: a {column_type} column can be tested with: {allowed}.")
            continue
        if op in NEEDS_VALUE:
            value = _value_checked(
                where, column, column_type, op, value, values_allowed.get(column, set()), problem
            )
            if value is None:
                continue
        else:
            value = None
        cleaned.append({"column": column, "op": op, "value": value})
    return cleaned


def _value_checked(where, column, column_type, op, value, allowed, problem):
    if column_type == "number":
        try:
            return float(str(value).replace(",", "").strip())
        except (TypeError, ValueError):
            problem("conditions", f"{where}: enter a number to compare {column} with.")
            return None
    texts = value if isinstance(value, list) else str(value or "").split(",")
    texts = [str(t).strip() for t in texts if str(t).strip()]
    if not texts:
        problem("conditions", f"{where}: enter the value to compare {column} with.")
        return None
    if column_type == "category":
        by_fold = {v.casefold(): v for v in allowed}
        unknown = [t for t in texts if t.casefold() not in by_fold]
        if unknown:
            problem(
                "conditions",
                f"{where}: {column} has no value {', '.join(unknown)}; "
                f"its values are {', '.join(sorted(allowed))}.",
            )
            return None
        texts = [by_fold[t.casefold()] for t in texts]
    if op == ConditionOp.IS and len(texts) > 1:
        problem("conditions", f'{where}: "is" takes one value; use "is one of" for several.')
        return None
    return texts if op == ConditionOp.IN else texts[0]


# --- matching ------------------------------------------------------------------------------------

Match = tuple[list[str], str]  # (field keys read, phrase) when the record matches


@dataclass
class CompiledIndicator:
    id: int
    revision: int
    dataset_ids: frozenset[int]
    weight: float
    half_life_days: int | None
    lookback_days: int | None
    match: Callable[[dict, int], Match | None]  # (payload, dataset id) -> match or None


def _condition_test(condition: dict) -> Callable[[Any], bool]:
    op = condition["op"]
    value: Any = condition.get("value")
    if op == ConditionOp.YES:
        return lambda v: v is True
    if op == ConditionOp.NO:
        return lambda v: v is False
    if op == ConditionOp.PRESENT:
        return lambda v: v not in (None, "")
    if op == ConditionOp.ABSENT:
        return lambda v: v in (None, "")
    if op == ConditionOp.AT_LEAST:
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= value
    if op == ConditionOp.AT_MOST:
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v <= value
    if op == ConditionOp.IN:
        folded = {str(x).casefold() for x in value}
        return lambda v: isinstance(v, str) and v.casefold() in folded
    if isinstance(value, float):
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v == value
    target = str(value).casefold()
    return lambda v: isinstance(v, str) and v.casefold() == target


def _structured(indicator: RiskIndicator) -> Callable[[dict, int], Match | None]:
    tests = [(c["column"], _condition_test(c)) for c in indicator.conditions]
    keys = [payload_key(c["column"]) for c in indicator.conditions]

    def match(payload: dict, dataset_id: int) -> Match | None:
        for column, test in tests:
            if not test(payload.get(column)):
                return None
        return keys, ""

    return match


def _vocabulary(
    indicator: RiskIndicator, text_columns: dict[int, list[str]]
) -> Callable[[dict, int], Match | None]:
    vocabulary = Vocabulary(indicator.phrases)

    def match(payload: dict, dataset_id: int) -> Match | None:
        for column in text_columns.get(dataset_id, ()):
            text = payload.get(column)
            if not text or not isinstance(text, str):
                continue
            phrase = vocabulary.first_affirmed(text)
            if phrase is not None:
                return [payload_key(column)], phrase
        return None

    return match


def indicators_compiled(indicators: Iterable[RiskIndicator]) -> list[CompiledIndicator]:
    """Matchers for `indicators` (with their datasets prefetched or not), active ones only."""
    indicators = [i for i in indicators if i.is_active]
    dataset_ids = {i.pk: [d.pk for d in i.datasets.all()] for i in indicators}
    catalogues = dataset_catalogues({d for ids in dataset_ids.values() for d in ids})
    compiled = []
    for indicator in indicators:
        ids = dataset_ids[indicator.pk]
        if indicator.kind == IndicatorKind.VOCABULARY:
            text_columns = {
                dataset_id: [
                    info.name
                    for info in catalogues.get(dataset_id, [])
                    if not info.is_identity
                    and info.type == "text"
                    and not info.contact
                    and (not indicator.text_columns or info.name in indicator.text_columns)
                ]
                for dataset_id in ids
            }
            match = _vocabulary(indicator, text_columns)
        else:
            match = _structured(indicator)
        compiled.append(
            CompiledIndicator(
                id=indicator.pk,
                revision=indicator.revision,
                dataset_ids=frozenset(ids),
                weight=float(indicator.weight),
                half_life_days=indicator.half_life_days,
                lookback_days=indicator.lookback_days,
                match=match,
            )
        )
    return compiled


def indicator_summary(indicator: RiskIndicator) -> str:
    """What the indicator counts, in a sentence, for lists and reasons."""
    if indicator.kind == IndicatorKind.VOCABULARY:
        shown = ", ".join(f'"{p}"' for p in indicator.phrases[:4])
        more = len(indicator.phrases) - 4
        text = f"Free text mentions {shown}" + (f" or {more} more" if more > 0 else "")
        text += " (not where negated)"
    else:
        parts = []
        for c in indicator.conditions:
            label = ConditionOp(c["op"]).label
            value = c.get("value")
            if isinstance(value, list):
                value = ", ".join(value)
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            parts.append(f"{c['column']} {label}" + (f" {value}" if value is not None else ""))
        text = " and ".join(parts)
    if indicator.lookback_days:
        text += f", in the last {indicator.lookback_days} days"
    return text
