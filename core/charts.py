"""The figures of a chart as static/sharehub/charts.mjs draws them (templates/includes/chart.html).

One contract for every chart of the service, the insights dashboards' and the data quality
page's: a page never builds a chart's JSON by hand.
"""

from typing import Any


def chart_data(
    kind: str,
    title: str,
    labels: list[str],
    series: list[tuple[str, list[dict[str, Any]]]],
    x_title: str = "",
    y_title: str = "People",
    *,
    value_max: float | None = None,
    value_suffix: str = "",
) -> dict[str, Any]:
    """The chart contract of static/sharehub/charts.mjs. Each series is (label, cells), a cell
    {"value": ..., "suppressed": bool}: suppressed points, and values of None, are drawn as gaps.
    `value_max` fixes the top of the value axis (100 for percentages) and `value_suffix` follows
    each value on the axis and in the tooltips ("%")."""
    data: dict[str, Any] = {
        "type": kind,
        "title": title,
        "labels": labels,
        "series": [
            {"label": label, "values": [None if c["suppressed"] else c["value"] for c in cells]}
            for label, cells in series
        ],
        "suppressed": [[c["suppressed"] for c in cells] for _, cells in series],
        "x_title": x_title,
        "y_title": y_title,
    }
    if value_max is not None:
        data["value_max"] = value_max
    if value_suffix:
        data["value_suffix"] = value_suffix
    return data
