"""The fields of an agency dataset that a protocol rule can name, each with a stable key.

A key is "identity:<identifier>" for an identifier sealed in the record's identity (forename,
date_of_birth, nhs_number...), or "field:<column>" for a sensitive field of its payload. Keys
stay the same across versions of a dataset's mapping, so a rule written today still names the
same field after the agency adds a column.
"""

from dataclasses import dataclass

from agencies.labels import label_made_from_column, readable_label
from agencies.models import Dataset, DatasetVersion
from sharehub_bridge.definitions import IDENTIFIER_FIELDS

IDENTITY = "identity:"
FIELD = "field:"


@dataclass(frozen=True)
class FieldInfo:
    key: str
    label: str
    is_identity: bool
    type: str  # "identifier" or the sensitive type (date, category, number, boolean, text)
    # A key of sharehub_bridge.definitions.CONTACT_ROLES when the field is the agency's own contact
    # detail (lead worker, team, team phone, team email), as the newest mapping says; else "".
    contact: str = ""

    @property
    def name(self) -> str:
        """The identifier's name in a record's identity, or the column's in its payload."""
        return self.key.removeprefix(IDENTITY if self.is_identity else FIELD)


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
                label = column.get("label") or ""
                if label_made_from_column(label, column["column"]):
                    label = readable_label(column["column"])
                payload.setdefault(
                    key,
                    FieldInfo(key, label, False, column["type"], contact=column.get("contact", "")),
                )
    order = list(IDENTIFIER_FIELDS)
    identity_sorted = sorted(
        identity.values(), key=lambda f: order.index(f.key.removeprefix(IDENTITY))
    )
    return identity_sorted + list(payload.values())


def dataset_versions(dataset_ids) -> dict[int, list[DatasetVersion]]:
    """Every mapping version of each dataset, in one query: what its catalogue is made from."""
    versions: dict[int, list[DatasetVersion]] = {}
    for version in DatasetVersion.objects.filter(dataset_id__in=list(dataset_ids)).only(
        "dataset_id", "number", "columns", "event_date_column"
    ):
        versions.setdefault(version.dataset_id, []).append(version)
    return versions


def dataset_catalogues(dataset_ids) -> dict[int, list[FieldInfo]]:
    """Field catalogue per dataset, in one query."""
    return {
        dataset_id: catalogue_from_versions(found)
        for dataset_id, found in dataset_versions(dataset_ids).items()
    }


def dataset_catalogue(dataset: Dataset) -> list[FieldInfo]:
    return dataset_catalogues([dataset.pk]).get(dataset.pk, [])


def event_date_keys(versions: list[DatasetVersion]) -> frozenset[str]:
    """The keys of a dataset's event date column in any version: the date a timeline sorts by
    is shown only when one of them is disclosed."""
    return frozenset(payload_key(v.event_date_column) for v in versions if v.event_date_column)
