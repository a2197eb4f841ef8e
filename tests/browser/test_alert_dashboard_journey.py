"""Journeys: a practitioner works an alert from the nightly scoring run; an analyst reads the
dashboard's charts and downloads one of its tables.

1. A platform admin's indicator counts police risk grades of medium or high, and a rule alerts
   on scores above 75. The nightly run scores Alice 100 (two police incidents) and her brother
   Bob 50 (one), so Alice alone is alerted, to the children's social care practitioner who
   subscribes to the rule. She finds the alert in her inbox, reads why it was raised, and
   acknowledges and closes it with the keyboard only.
2. An analyst opens the dashboard: the charts are drawn (checked on the pixels of a
   screenshot), small counts are shown as "<5" or held back, and the caseload table downloads
   as a CSV that says what the page says. Nothing on the page breaks a strict CSP.
"""

import csv
import io
import re
import struct
import zlib

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from agencies.models import Membership, Role, SourceRecord
from alerts.models import Alert, AlertEvent, AlertOutcome, AlertStatus
from alerts.rules import RuleInput, rule_save, subscription_set
from insights.services import snapshot_latest
from matching.models import LinkageRecord, Person
from notifications.models import Notification, NotificationKind
from protocols.models import Tier
from risk.models import RiskRun
from risk.services import IndicatorInput, enrich_run, indicator_save
from tests.browser.conftest import SCREENSHOTS, go_to
from tests.browser.test_consent_journey import NOT_IN_URLS, tab_to, without_ids
from tests.browser.test_sign_in import sign_in
from tests.ingest_helpers import csv_bytes, good_row, upload
from tests.protocol_helpers import CSC_HEADER, csc_row, give, linked_people, protocol_in_force

pytestmark = pytest.mark.django_db(transaction=True)

INDICATOR = "Police risk graded medium or high"
RULE = "High risk"
POLICE_DATASET = "Police - domestic abuse incidents"
# Carol, known to social care only, is screened for too.
NOT_IN_ANY_URL = (*NOT_IN_URLS, "carol", "brown", "2010", "05/06", "05%2f06", "ls1")
GOVUK_BLUE = (0x1D, 0x70, 0xB8)  # the first series colour of static/sharehub/charts.mjs
# A strict policy, as production should send: nothing inline, nothing from elsewhere.
STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SMALL_COUNT = re.compile(r"^[1-4]$")


def assert_no_plaintext_in_urls(window) -> None:
    assert window.requested
    leaked = [
        u for u in window.requested if any(p in without_ids(u).lower() for p in NOT_IN_ANY_URL)
    ]
    assert leaked == []


def banner(page: Page) -> Locator:
    return page.locator(".govuk-notification-banner--success")


def alert_rows(page: Page) -> Locator:
    return page.get_by_test_id("alerts").locator("tbody tr")


def test_a_practitioner_receives_acknowledges_and_closes_an_alert(
    window, agency, other_agency, member
):
    # --- The world: Alice known to the police (A1 high, A2 medium) and social care; Bob to
    # the police (B1 high). The practitioner's protocol shows both datasets in full.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    admin = member(Role.PLATFORM_ADMIN, full_name="Pat Admin", email="pat@platform.test")
    practitioner = member(Role.PRACTITIONER, full_name="Priya Shah", email="priya@csc.test")
    police_ig = member(
        Role.IG_OFFICER, in_agency=other_agency, full_name="Cath Police", email="cath@pol.test"
    )
    version = protocol_in_force(
        author=police_ig,
        parties=[agency, other_agency],
        rules=[
            {"dataset": linked.police, "tier": Tier.FULL},
            {"dataset": linked.csc, "tier": Tier.FULL},
        ],
        name="MASH full sharing",
    )
    give(version, practitioner)
    indicator_save(
        data=IndicatorInput(
            name=INDICATOR,
            kind="structured",
            datasets=[linked.police],
            weight=50,
            half_life_days=None,  # no decay: the scores are exactly 100 and 50 whatever the date
            lookback_days=None,
            conditions=[{"column": "risk_grade", "op": "in", "value": ["medium", "high"]}],
        ),
        by=admin,
        rescore=False,
    )
    rule = rule_save(data=RuleInput(name=RULE, kind="score_above", threshold=75), by=admin)
    subscription_set(
        membership=Membership.objects.get(user=practitioner), rule=rule, subscribed=True
    )

    # --- The nightly run raises the alert and tells her.
    run = enrich_run(kind=RiskRun.Kind.NIGHTLY)
    assert run.status == RiskRun.Status.DONE
    # "withdrawn": deliveries taken back from readers a sealed record no longer lets see them.
    assert run.figures["alerts"] == {"raised": 1, "ended": 0, "delivered": 1, "withdrawn": 0}
    alert = Alert.objects.get()
    assert (alert.person, alert.status, alert.score) == (linked.alice, AlertStatus.OPEN, 100)
    assert (
        Notification.objects.filter(
            recipient=practitioner, kind=NotificationKind.ALERT_RAISED, link="/alerts/"
        ).count()
        == 1
    )
    alice = linked.alice.reference

    # --- She signs in and finds it in her inbox.
    priya = window("practitioner")
    sign_in(priya, practitioner.email)
    expect(priya.get_by_role("heading", level=1)).to_have_text("Safeguarding practitioner")
    expect(priya.get_by_test_id("notifications-unread")).to_have_text("1 unread")
    go_to(priya, "Alerts")
    expect(priya.get_by_role("heading", level=1)).to_have_text("Alerts")
    expect(priya.get_by_test_id("alert-counts")).to_contain_text("New: 1")
    rows = alert_rows(priya)
    expect(rows).to_have_count(1)
    cells = rows.first.get_by_role("cell")
    expect(cells).to_have_text(
        [
            RULE,
            re.compile(rf"^\s*Alice Smith\s+Person {alice}, born 2015; known to "),
            "Score 100 Rule: Above 75",
            re.compile(r"^\s*Raised just now\s+\d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2}\s*$"),
            "New",
            "Nobody",
        ]
    )
    rows.first.get_by_role("link", name=RULE).click()

    # --- The alert: who, why, and the reasons her protocol lets her see.
    expect(priya.get_by_role("heading", level=1)).to_have_text(RULE)
    expect(priya).to_have_url(re.compile(rf"/alerts/{alert.pk}/$"))
    summary = priya.get_by_test_id("alert-summary")
    expect(summary.get_by_role("link", name=alice)).to_be_visible()
    expect(summary).to_contain_text("Score above a threshold")
    expect(priya.get_by_test_id("alert-status")).to_have_text("New")
    expect(priya.get_by_test_id("alert-reasons").locator("li")).to_have_text(
        [
            f"{INDICATOR}: {POLICE_DATASET}, 10 January 2026",  # A1, high
            f"{INDICATOR}: {POLICE_DATASET}, 1 May 2024",  # A2, medium
        ]
    )

    # She acknowledges it with the keyboard.
    acknowledge = priya.get_by_test_id("acknowledge")
    tab_to(priya, acknowledge)
    priya.keyboard.press("Enter")
    expect(banner(priya)).to_contain_text("Alert acknowledged.")
    expect(priya.get_by_test_id("alert-status")).to_have_text("Acknowledged")
    expect(priya.get_by_test_id("acknowledge")).to_have_count(0)
    expect(priya.get_by_test_id("alert-history")).to_contain_text(
        f"Acknowledged by {practitioner.full_name}"
    )

    # And closes it, keyboard only: radios by Space and the arrow keys.
    first_outcome = priya.get_by_role("radio", name=AlertOutcome.REFERRED.label)
    tab_to(priya, first_outcome)
    priya.keyboard.press("Space")
    expect(first_outcome).to_be_checked()
    for _ in range(4):
        priya.keyboard.press("ArrowDown")
    no_further_action = priya.get_by_role("radio", name="No further action")
    expect(no_further_action).to_be_checked()
    priya.keyboard.press("Tab")
    expect(priya.get_by_label("Note (optional)")).to_be_focused()
    priya.keyboard.type("Discussed at the strategy meeting; already safe.")
    priya.keyboard.press("Tab")
    expect(priya.get_by_role("button", name="Close the alert")).to_be_focused()
    priya.keyboard.press("Enter")

    # --- Back in the inbox, the alert is no longer listed; filtering by Closed finds it.
    expect(banner(priya)).to_contain_text("Alert closed.")
    expect(priya.get_by_role("heading", level=1)).to_have_text("Alerts")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_text("No alert.")
    expect(priya.get_by_test_id("alert-counts")).to_contain_text("Closed: 1")
    priya.get_by_label("Status").select_option(label="Closed")
    priya.get_by_test_id("alert-filter").get_by_role("button", name="Filter").click()
    expect(priya).to_have_url(re.compile(r"/alerts/\?status=closed"))
    expect(priya.get_by_role("caption")).to_contain_text("Alerts matching the filter")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_role("cell")).to_have_text(
        [
            RULE,
            re.compile(rf"Person {alice}"),
            "Score 100 Rule: Above 75",
            re.compile(r"\d{2}:\d{2}\s*$"),
            "Closed",
            "Nobody",
        ]
    )
    rows.first.get_by_role("link", name=RULE).click()
    expect(priya.get_by_test_id("alert-status")).to_have_text("Closed: No further action")
    expect(priya.get_by_role("button", name="Close the alert")).to_have_count(0)

    # --- What was recorded.
    alert = Alert.objects.get()
    assert (alert.status, alert.outcome) == (AlertStatus.CLOSED, AlertOutcome.NO_FURTHER_ACTION)
    assert alert.acknowledged_at is not None and alert.closed_at is not None
    assert list(alert.events.values_list("kind", flat=True)) == [
        AlertEvent.Kind.RAISED,
        AlertEvent.Kind.ACKNOWLEDGED,
        AlertEvent.Kind.CLOSED,
    ]
    closed = alert.events.get(kind=AlertEvent.Kind.CLOSED)
    assert (closed.by, closed.outcome) == (practitioner, AlertOutcome.NO_FURTHER_ACTION)
    assert closed.note == "Discussed at the strategy meeting; already safe."

    # --- Names, dates of birth and identifiers never went into a URL.
    assert_no_plaintext_in_urls(window)


# --- the dashboard ----------------------------------------------------------------------------

EXTRA = [  # (forename, surname, date of birth): one person each, in one agency only
    ("Tom", "Taylor", "11/01/2011"),
    ("Amy", "Jones", "12/02/2012"),
    ("Raj", "Patel", "13/03/2013"),
    ("Eve", "Wilson", "14/04/2014"),
    ("Sam", "Hughes", "15/05/2011"),
    ("Zoe", "Evans", "16/06/2012"),
]


def more_people(linked) -> None:
    """Six more people known to the police only and six to social care only, so that each
    agency knows seven alone: Alice stays the only one both know. Their records are ingested
    for real; each is placed in a person of its own directly, as linked_people does, and none
    is in a household."""
    upload(
        linked.police,
        csv_bytes(
            [
                good_row(
                    f"X{n}", forename=f, surname=s, dob=d, nhs_number="", risk_grade="standard"
                )
                for n, (f, s, d) in enumerate(EXTRA)
            ]
        ),
        filename="more-police.csv",
    )
    upload(
        linked.csc,
        csv_bytes(
            [
                csc_row(f"Y{n}", forename=f, surname=s, dob=d, postcode="LS7 3QQ")
                for n, (f, s, d) in enumerate(EXTRA)
            ],
            header=CSC_HEADER,
        ),
        filename="more-csc.csv",
    )
    extra = SourceRecord.objects.filter(source_id__regex=r"^[XY]\d$")
    assert extra.count() == 2 * len(EXTRA)
    for record in extra:
        LinkageRecord.objects.filter(record=record).update(
            person=Person.objects.create(), linked_at=timezone.now()
        )
    # Linkage, run after each extract, groups households by dwelling, which needs more than a
    # postcode: the households linked_people set are set again.
    for person in (linked.alice, linked.bob, linked.carol):
        Person.objects.filter(pk=person.pk).update(household_id=person.household_id)
    # The first five records are still where linked_people put them.
    placed = dict(
        LinkageRecord.objects.filter(record__in=linked.records.values()).values_list(
            "record__source_id", "person_id"
        )
    )
    assert placed == {
        "A1": linked.alice.pk,
        "A2": linked.alice.pk,
        "S1": linked.alice.pk,
        "B1": linked.bob.pk,
        "S2": linked.carol.pk,
    }


def png_pixels(data: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of a PNG as Chromium writes screenshots: 8-bit RGB or RGBA, not
    interlaced (Pillow is not installed, and this is all the test needs)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunk = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
    assert (depth, interlace) == (8, 0) and colour in (2, 6), "an unexpected PNG format"
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(b"".join(idat))
    assert len(raw) == height * (stride + 1)
    previous = bytearray(stride)
    pixels = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                up_left = previous[x - channels] if x >= channels else 0
                guess = left + up - up_left
                near = min(
                    (abs(guess - left), 0, left),
                    (abs(guess - up), 1, up),
                    (abs(guess - up_left), 2, up_left),
                )[2]
                line[x] = (line[x] + near) & 0xFF
            elif kind != 0:
                raise AssertionError(f"PNG filter type {kind}")
        pixels.extend((line[x], line[x + 1], line[x + 2]) for x in range(0, stride, channels))
        previous = line
    return pixels


def blue_pixels(screenshot: bytes, *, tolerance: int = 12) -> int:
    return sum(
        1
        for pixel in png_pixels(screenshot)
        if all(abs(c - t) <= tolerance for c, t in zip(pixel, GOVUK_BLUE, strict=True))
    )


def table_cells(table: Locator) -> list[list[str]]:
    """The rows of a table as they read, without the words only a screen reader hears."""
    return table.evaluate(
        """table => [...table.tBodies[0].rows].map(row => [...row.cells].map(cell => {
            const copy = cell.cloneNode(true)
            copy.querySelectorAll('.govuk-visually-hidden').forEach(hidden => hidden.remove())
            return copy.textContent.trim()
        }))"""
    )


def test_an_analyst_reads_the_dashboard_charts_and_downloads_a_table(
    window, agency, other_agency, member
):
    # --- The world: seven people known to each agency alone, and Alice known to both.
    linked = linked_people(police_agency=other_agency, csc_agency=agency)
    more_people(linked)
    analyst = member(Role.ANALYST, full_name="Ana Lyst", email="ana@csc.test")
    enrich_run(kind=RiskRun.Kind.NIGHTLY)  # writes the dashboard's snapshot
    caseload = snapshot_latest().figures["people"]["caseload"]
    # Agencies go in the order they were made: children's services first.
    assert [(c["label"], c["shown"]) for c in caseload] == [
        (agency.name, "8"),
        (other_agency.name, "[c]"),  # held back, or 15 - 8 - 7 would give Alice away
    ]

    ana = window("analyst")
    problems: list[str] = []

    def console(message):
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    ana.on("console", console)
    ana.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    ana.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => (window.cspViolations ||="
        " []).push(`${e.violatedDirective} ${e.blockedURI}`))"
    )
    policies: list[str] = []

    def with_strict_csp(route):
        # The app sends no policy of its own yet; the dashboard must work under a strict one.
        response = route.fetch()
        headers = dict(response.headers)
        policies.append(headers.get("content-security-policy", ""))
        headers.setdefault("content-security-policy", STRICT_CSP)
        route.fulfill(response=response, headers=headers)

    ana.route(re.compile(r"/insights/dashboard/$"), with_strict_csp)

    sign_in(ana, analyst.email)
    expect(ana.get_by_role("heading", level=1)).to_have_text("Insights")
    go_to(ana, "Dashboard")
    heading = ana.get_by_role("heading", level=1)
    expect(heading).to_have_text("Partnership dashboard")
    assert policies, "the dashboard was not served through the CSP route"
    for chart in ("chart-caseload", "chart-upset", "chart-households", "chart-risk"):
        canvas = ana.locator(f'canvas[data-testid="{chart}"]')
        expect(canvas).to_have_attribute("data-drawn", "true")
        expect(canvas).to_be_visible()
        expect(canvas).to_have_attribute("role", "img")
    SCREENSHOTS.mkdir(exist_ok=True)
    ana.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)

    # The caseload chart has its bar in GOV.UK blue; a heading and a chart whose every count
    # is suppressed (households: Alice and Bob's, of two agencies, and Carol's, of one) have
    # none, so the count measures bars drawn, not the page.
    households = table_cells(ana.get_by_test_id("table-households"))
    assert households == [["1 agency", "<5"], ["2 agencies", "<5"], ["Total", "<5"]]
    chart = ana.get_by_test_id("chart-caseload")
    chart.scroll_into_view_if_needed()
    drawn = chart.screenshot(path=SCREENSHOTS / "dashboard-chart-caseload.png")
    assert blue_pixels(drawn) > 500
    assert blue_pixels(heading.screenshot()) == 0
    assert blue_pixels(ana.get_by_test_id("chart-households").screenshot()) == 0

    # --- The caseload table says what the snapshot says, small counts never shown.
    table = ana.get_by_test_id("table-caseload")
    on_page = table_cells(table)
    assert on_page == [[agency.name, "8"], [other_agency.name, "[c]"], ["Total", "15"]]
    intersections = table_cells(ana.get_by_test_id("table-intersections"))
    both = f"{agency.name} + {other_agency.name}"
    assert [both, "2", "<5"] in intersections  # Alice alone
    for row in (*on_page, *households, *[[r[0], r[2]] for r in intersections]):
        assert not any(SMALL_COUNT.match(cell) for cell in row[1:]), row

    # --- She reaches the download link by keyboard, from the dashboard's contents list.
    tab_to(ana, ana.get_by_role("link", name="Caseload by agency"))
    ana.keyboard.press("Enter")
    expect(ana).to_have_url(re.compile(r"/insights/dashboard/#caseload$"))
    download_link = ana.get_by_test_id("csv-caseload")
    tab_to(ana, download_link, most=10)
    with ana.expect_download() as found:
        ana.keyboard.press("Enter")
    download = found.value
    assert re.fullmatch(r"sharehub-caseload-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    rows = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert rows[0] == ["Agency", "People"]
    assert rows[1:] == [*on_page[:-1], ["Total people", on_page[-1][1]]]
    assert {agency.name, other_agency.name} <= {r[0] for r in rows}
    assert not any(SMALL_COUNT.match(cell) for row in rows for cell in row)

    # --- No console error, no script error, nothing the strict policy had to refuse.
    assert ana.evaluate("window.cspViolations || []") == []
    assert problems == []
    assert_no_plaintext_in_urls(window)
