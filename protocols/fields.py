"""The fields of an agency dataset that a protocol rule can name, each with a stable key.

A key is "identity:<identifier>" for an identifier sealed in the record's identity (forename,
date_of_birth, nhs_number...), or "field:<column>" for a sensitive field of its payload. Keys
stay the same across versions of a dataset's mapping, so a rule written today still names the
same field after the agency adds a column.
"""

from dataclasses import dataclass

from agencies.definitions import IDENTIFIER_FIELDS
from agencies.models import Dataset, DatasetVersion

IDENTITY = "identity:"
FIELD = "field:"


@dataclass(frozen=True)
class FieldInfo:
    key: str
    label: str
    is_identity: bool
    type: str  # "identifier" or the sensitive type (date, category, number, boolean, text)


def identity_key(name: str) -> str:
    return IDENTITY + name


def payload_key(column: str) -> str:
    return FIELD + column


def catalogue_from_versions(versions: list[DatasetVersion]) -> list[FieldInfo]:
    """Every field any version of one dataset has carried, newest labels first, identity first.

    Fields a newer mapping dropped stay, as records loaded with the older mapping hold them.
    """
    identity: dict[str, FieldInfo] = {}
    payload: dict[str, FieldInfo] = {}
    for version in sorted(versions, key=lambda v: -v.number):
        for column in version.columns:
            if column.get("identifier"):
                name = column["identifier"]
                key = identity_key(name)
                identity.setdefault(
                    key, FieldInfo(key, IDENTIFIER_FIELDS.get(name, name), True, "identifier")
                )
            elif column.get("type"):
                key = payload_key(column["column"])
                payload.setdefault(
                    key,
                    FieldInfo(key, column.get("label") or column["column"], False, column["type"]),
                )
    order = list(IDENTIFIER_FIELDS)
    identity_sorted = sorted(
        identity.values(), key=lambda f: order.index(f.key.removeprefix(IDENTITY))
    )
    return identity_sorted + list(payload.values())


def dataset_catalogues(dataset_ids) -> dict[int, list[FieldInfo]]:
    """Field catalogue per dataset, in one query."""
    versions: dict[int, list[DatasetVersion]] = {}
    for version in DatasetVersion.objects.filter(dataset_id__in=list(dataset_ids)).only(
        "dataset_id", "number", "columns"
    ):
        versions.setdefault(version.dataset_id, []).append(version)
    return {dataset_id: catalogue_from_versions(found) for dataset_id, found in versions.items()}


def dataset_catalogue(dataset: Dataset) -> list[FieldInfo]:
    return dataset_catalogues([dataset.pk]).get(dataset.pk, [])


def event_date_keys(dataset_ids) -> dict[int, set[str]]:
    """The keys of each dataset's event date column (any version): the date a timeline sorts by
    is shown only when one of them is disclosed."""
    found: dict[int, set[str]] = {}
    for dataset_id, column in DatasetVersion.objects.filter(
        dataset_id__in=list(dataset_ids)
    ).values_list("dataset_id", "event_date_column"):
        if column:
            found.setdefault(dataset_id, set()).add(payload_key(column))
    return found
