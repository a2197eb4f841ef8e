"""A dataset's data quality across its extracts, for its agency's admins: the page and the API.

    dataset_quality(dataset)        the series: per loaded extract, oldest first (the API's JSON)
    dataset_quality_page(dataset)   the same with the page's charts and tables

Per extract: how complete each identifier the dataset maps was (rows with a value), how valid
(values passing the identifier's rule, sharehub_bridge.validation.IDENTIFIER_RULES), how many
values loading repaired, kept in part or left out, and the share of the dataset's records linked
to another agency's record after the linkage that followed it. Counts and shares only, never a
value. Extracts loaded before these were counted say "not measured", never zero.
"""

from typing import Any

from agencies.models import Dataset, Extract, ExtractStatus
from agencies.selectors import extract_label
from core.charts import chart_data
from sharehub_bridge.definitions import IDENTIFIER_FIELDS
from sharehub_bridge.validation import IDENTIFIER_RULES

# A page of figures an admin reads at a glance: the latest extracts, not a dataset's whole life.
QUALITY_EXTRACTS = 50
# The linked count is published to the nearest 10: exact, it would tell an agency that uploads
# one person's record whether another agency knows them, which only a protocol may tell.
LINKED_ROUNDING = 10
# Date of birth repairs (normalise.DOB_REPAIRS) as the page groups them.
DOB_REPAIRED = ("swapped", "ocr")
DOB_KEPT_IN_PART = ("impossible_day", "year_only")
DOB_LEFT_OUT = ("unreadable",)
NOT_MEASURED = "Not measured"


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def linked_published(*, records: int, linked: int) -> dict[str, Any]:
    """The linked figure as it may be shown: the count to the nearest 10 and its share."""
    rounded = min(records, (linked + LINKED_ROUNDING // 2) // LINKED_ROUNDING * LINKED_ROUNDING)
    return {"records": records, "linked": rounded, "linked_percent": percent(rounded, records)}


def _identifier_figures(quality: dict) -> list[dict[str, Any]]:
    rows = quality["rows"]
    figures = []
    for name in IDENTIFIER_FIELDS:  # the definitions' order: names first, then dates and numbers
        counts = quality["identifiers"].get(name)
        if counts is None:
            continue
        present = counts["present"]
        valid = present - counts["invalid"] if "invalid" in counts else None
        figures.append(
            {
                "identifier": name,
                "present": present,
                "complete_percent": percent(present, rows),
                "valid": valid,
                "valid_percent": percent(valid, present) if valid is not None else None,
            }
        )
    return figures


def _repair_figures(repairs: dict) -> dict[str, int]:
    dob = repairs.get("date_of_birth", {})
    return {
        "date_of_birth_repaired": sum(dob.get(kind, 0) for kind in DOB_REPAIRED),
        "date_of_birth_kept_in_part": sum(dob.get(kind, 0) for kind in DOB_KEPT_IN_PART),
        "date_of_birth_left_out": sum(dob.get(kind, 0) for kind in DOB_LEFT_OUT),
        "nhs_number_check_digit": repairs.get("nhs_number", {}).get("check_digit", 0),
        "contacts_left_out": sum(repairs.get("contacts", {}).values()),
    }


def extract_quality(extract: Extract) -> dict[str, Any]:
    """One extract's figures; `measured` is false for an extract loaded before they were
    counted, whose identifiers and repairs are then null rather than zero."""
    measured = extract.quality is not None
    linked = None
    if extract.records_after_linkage is not None and extract.records_linked_elsewhere is not None:
        linked = linked_published(
            records=extract.records_after_linkage, linked=extract.records_linked_elsewhere
        )
    return {
        "extract": extract.pk,
        "label": extract_label(extract),
        "uploaded_at": extract.uploaded_at.isoformat(),
        "mode": extract.mode,
        "rows_loaded": extract.rows_loaded,
        "measured": measured,
        "rows_measured": extract.quality["rows"] if extract.quality is not None else None,
        "identifiers": _identifier_figures(extract.quality) if extract.quality else None,
        "repairs": _repair_figures(extract.repairs) if measured else None,
        "linked": linked,
    }


def dataset_quality(dataset: Dataset) -> dict[str, Any]:
    """The dataset's latest loaded extracts (QUALITY_EXTRACTS), oldest first, with the
    identifiers any of them measured."""
    latest = Extract.objects.filter(dataset=dataset, status=ExtractStatus.LOADED).order_by(
        "-uploaded_at", "-id"
    )[:QUALITY_EXTRACTS]
    extracts = [extract_quality(extract) for extract in reversed(latest)]
    measured = {
        figure["identifier"] for extract in extracts for figure in extract["identifiers"] or []
    }
    return {
        "dataset": dataset.pk,
        "identifiers": [
            {"identifier": name, "label": label, "rule": IDENTIFIER_RULES.get(name)}
            for name, label in IDENTIFIER_FIELDS.items()
            if name in measured
        ],
        "extracts": extracts,
    }


# --- The page -----------------------------------------------------------------------------------


def _share_text(share: float | None, part: int | None, whole: int | None, *, of: str) -> str:
    if share is None or part is None or whole is None:
        return f"No {of}"
    return f"{share:g}% ({part:,} of {whole:,})"


def _identifier_cells(extract: dict, identifiers: list[dict], *, validity: bool) -> list[str]:
    if not extract["measured"]:
        return [NOT_MEASURED for _ in identifiers]
    by_name = {figure["identifier"]: figure for figure in extract["identifiers"]}
    cells = []
    for identifier in identifiers:
        figure = by_name.get(identifier["identifier"])
        if figure is None:
            cells.append("Not mapped then")
        elif validity:
            cells.append(
                _share_text(
                    figure["valid_percent"], figure["valid"], figure["present"], of="values"
                )
            )
        else:
            cells.append(
                _share_text(
                    figure["complete_percent"],
                    figure["present"],
                    extract["rows_measured"],
                    of="rows",
                )
            )
    return cells


def _series(extracts: list[dict], identifiers: list[dict], key: str) -> list[tuple[str, list]]:
    series = []
    for identifier in identifiers:
        cells = []
        for extract in extracts:
            figure = next(
                (
                    f
                    for f in extract["identifiers"] or []
                    if f["identifier"] == identifier["identifier"]
                ),
                None,
            )
            cells.append({"value": figure[key] if figure else None, "suppressed": False})
        series.append((identifier["label"], cells))
    return series


def dataset_quality_page(dataset: Dataset) -> dict[str, Any]:
    """The series with what the page draws: three charts and their tables, extracts as rows."""
    quality = dataset_quality(dataset)
    extracts, identifiers = quality["extracts"], quality["identifiers"]
    ruled = [identifier for identifier in identifiers if identifier["rule"]]
    labels = [extract["label"] for extract in extracts]
    linked_cells = [
        {
            "value": extract["linked"]["linked_percent"] if extract["linked"] else None,
            "suppressed": False,
        }
        for extract in extracts
    ]
    return {
        **quality,
        "ruled": ruled,
        "completeness_chart": chart_data(
            "line",
            "Rows with a value, by identifier",
            labels,
            _series(extracts, identifiers, "complete_percent"),
            "Extract",
            "Rows with a value",
            value_max=100,
            value_suffix="%",
        ),
        "validity_chart": chart_data(
            "line",
            "Values that pass their check, by identifier",
            labels,
            _series(extracts, ruled, "valid_percent"),
            "Extract",
            "Values passing the check",
            value_max=100,
            value_suffix="%",
        ),
        "linked_chart": chart_data(
            "line",
            "Records linked to another agency's record",
            labels,
            [("Linked to another agency", linked_cells)],
            "Extract",
            "Records linked",
            value_max=100,
            value_suffix="%",
        ),
        "completeness_rows": [
            {
                "extract": extract,
                "cells": _identifier_cells(extract, identifiers, validity=False),
            }
            for extract in extracts
        ],
        "validity_rows": [
            {"extract": extract, "cells": _identifier_cells(extract, ruled, validity=True)}
            for extract in extracts
        ],
        "linked_rows": [
            {
                "extract": extract,
                "text": _share_text(
                    extract["linked"]["linked_percent"],
                    extract["linked"]["linked"],
                    extract["linked"]["records"],
                    of="current records",
                )
                if extract["linked"]
                else NOT_MEASURED,
            }
            for extract in extracts
        ],
    }
