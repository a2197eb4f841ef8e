"""From a count on the dashboard to the people behind it, as far as the reader's protocols go.

The count is the partnership's; the list is the reader's: a person appears only if the
disclosure engine lets this user see, for the purpose (commissioning), that every agency
defining the count is involved with them (protocols.engine.agencies_visible, what their case
summary's "known to" would show). Someone known to social care and the police, whose social
care records the reader's protocols do not cover, is not listed under social care: listing them
there would say what the protocol does not. Nobody else is listed or counted on the list page.
Risk bands have no drill-down: a band is worked out from records the reader may not see.

A count the dashboard suppresses ("<5", or "[c]" so that a small one cannot be worked out) has
no drill-down either: the list would show how many people are behind it. Whether it is
suppressed is read from the dashboard's own figures (insights.services.people_figures, made by
insights.suppression), not decided again here.

The list is the pseudonymous references behind the cell asked for and nothing else (issue 20,
finding D): a per-person attribute that cuts across the dashboard's cells, such as the agencies
each person is known to, would let a suppressed cell ("police and education": "[c]") be counted
off a published one ("police"). What a row says is what the cell says. The de-identified
row-level export (insights.export) keeps its agencies_involved column: row-level data for an
analyst under a protocol is a different control.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from audit.models import AuditAction
from audit.services import access_log_write
from core.purpose import Purpose
from insights.models import PersonProfile
from matching.models import Person
from protocols.engine import agencies_visible, disclose

DRILLDOWN_PURPOSE = Purpose.COMMISSIONING
PAGE_SIZE = 50
# Candidates are checked in growing chunks: a page of 50 usually fills from the first few hundred,
# and a count the reader sees little of is still read in few queries.
SCAN_FIRST = 200
SCAN_CHUNK_MAX = 5_000
# A drill-down reads at most this many candidates a request; beyond, the page says so.
SCAN_LIMIT = 100_000


class CellError(ValueError):
    """Not a count the dashboard links from."""


class CellSuppressed(CellError):
    """A count the dashboard shows suppressed: its people are not listed."""


def _published_cells(people: dict) -> dict[str, dict]:
    """The dashboard's people cells that carry a drill-down key, by that key."""
    cells = [*people["caseload"], *people["intersections"]]
    cells += [cell for row in people["matrix"] for cell in row["cells"]]
    return {cell["drill"]: cell for cell in cells if cell.get("drill")}


def cell_check(cell: str, people: dict) -> None:
    """Raise CellSuppressed when the dashboard's figures `people` show `cell` suppressed, and
    CellError when they hold no such count."""
    shown = _published_cells(people).get(cell)
    if shown is None:
        raise CellError(cell)
    if shown["suppressed"]:
        raise CellSuppressed(cell)


@dataclass
class Drilldown:
    title: str
    references: list[str]  # pseudonymous references only: no per-person attribute
    page: int
    has_next: bool
    scan_stopped: bool


def cell_title(cell: str, agencies: list[dict]) -> str:
    names = {a["bit"]: a["name"] for a in agencies}
    kind, _, rest = cell.partition(":")
    try:
        if kind == "agency":
            return f"People known to {names[int(rest)]}"
        if kind == "pair":
            first, second = (int(x) for x in rest.split(":"))
            return f"People known to both {names[first]} and {names[second]}"
        if kind == "set":
            mask = int(rest)
            chosen = [names[b] for b in sorted(names) if mask & (1 << b)]
            if not chosen or mask >= 1 << len(names):
                raise CellError(cell)
            return "People known to exactly " + " and ".join(chosen)
    except (KeyError, ValueError):
        raise CellError(cell) from None
    raise CellError(cell)


def _cell_mask(cell: str) -> int:
    """The agencies (as bits) a person must be seen to be involved with to be listed."""
    kind, _, rest = cell.partition(":")
    if kind == "agency":
        return 1 << int(rest)
    if kind == "pair":
        return sum(1 << int(x) for x in rest.split(":"))
    return int(rest)


def _candidates(cell: str):
    kind = cell.partition(":")[0]
    mask = _cell_mask(cell)
    profiles = PersonProfile.objects.order_by("person_id")
    if kind == "set":
        return profiles.filter(agency_mask=mask)
    return profiles.annotate(hit=F("agency_mask").bitand(mask)).filter(hit=mask)


def drilldown(
    *, user, membership, cell: str, agencies: list[dict], people: dict, page: int = 1
) -> Drilldown:
    """One page of the people behind `cell` that the user may see; logged like a search.

    `agencies` and `people` are the dashboard's figures; a cell they show suppressed raises
    CellSuppressed before anyone is read."""
    title = cell_title(cell, agencies)
    cell_check(cell, people)
    now = timezone.now()
    wanted = page * PAGE_SIZE + 1
    visible: list[int] = []
    candidates = _candidates(cell).values_list("person_id", flat=True)
    bit_of = {a["id"]: a["bit"] for a in agencies}
    mask = _cell_mask(cell)
    needed = {bit for bit in bit_of.values() if mask & (1 << bit)}
    scanned = 0
    stopped = False
    last = 0
    size = SCAN_FIRST
    while len(visible) < wanted:
        chunk = list(candidates.filter(person_id__gt=last)[:size])
        size = min(size * 2, SCAN_CHUNK_MAX)
        if not chunk:
            break
        last = chunk[-1]
        scanned += len(chunk)
        seen = agencies_visible(
            user=user,
            membership=membership,
            person_ids=chunk,
            purpose=DRILLDOWN_PURPOSE,
            now=now,
        )
        visible.extend(
            pid for pid in chunk if pid in seen and needed <= {bit_of.get(a) for a in seen[pid]}
        )
        if scanned >= SCAN_LIMIT:
            stopped = True
            break
    on_page = visible[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    views = disclose(
        user=user,
        membership=membership,
        persons=Person.objects.filter(pk__in=on_page),
        purpose=DRILLDOWN_PURPOSE,
        now=now,
    )
    ordered = [views[pid] for pid in on_page if pid in views]
    # Each person listed is shown known to the cell's agencies (and, to the reader, to nothing
    # else): a read of references, no field, for each of those agencies (audit.reads).
    cell_agencies = {a["id"] for a in agencies if mask & (1 << a["bit"])}
    known_to = {
        v.person.reference: {
            "known_to": sorted(
                {i.dataset_id for i in v.involvements if i.agency.pk in cell_agencies}
            )
        }
        for v in ordered
    }
    access_log_write(
        user=user,
        membership=membership,
        action=AuditAction.DRILLDOWN,
        channel="web",
        purpose=DRILLDOWN_PURPOSE,
        fields={"cell": cell, "page": page, "results": known_to},
        results=[v.person.reference for v in ordered],
    )
    return Drilldown(
        title=title,
        references=[v.person.reference for v in ordered],
        page=page,
        has_next=len(visible) > page * PAGE_SIZE,
        scan_stopped=stopped,
    )
