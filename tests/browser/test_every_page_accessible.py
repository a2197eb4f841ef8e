"""axe-core finds nothing on any page a signed-in user can reach (issue 21).

WCAG 2.2 AA is a legal duty for the partnership's members. Rather than a list of pages that
goes stale as pages are added, each demo role signs in and follows every link it is shown,
breadth first, from its home page; every page reached is checked once per kind of page (its
URL name), with the account bar, navigation and footer included, so a fault in the layout fails
on the first page. Downloads and sign-out are not followed.
"""

import re
from collections import deque
from urllib.parse import urldefrag, urlparse

import pytest
from django.core.management import call_command
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from playwright.sync_api import Page

from agencies.models import Membership, Role
from core.purpose import Purpose
from matching.models import Person
from protocols.engine import agencies_visible
from synthetic.demo import DEMO_LOGINS, DEMO_PASSWORD
from tests.browser.conftest import axe_violations
from tests.browser.test_sign_in import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# Links not to follow: files, signing out, and the admin site (Django's, not ours).
NOT_FOLLOWED = re.compile(
    r"(\.csv|\.pdf|\.json|/download|/export/.+/file|/accounts/sign-out|/admin/|/api/schema)"
)
# Third-party widgets checked by their own tests, less what cannot be configured away (the API
# docs page's Swagger UI: tests/browser/test_api_docs.py); the page around them is checked here.
THIRD_PARTY = ["#swagger-ui"]
# Pages of one kind checked per role (each role's layout differs: its navigation, its home): a
# person's summary looks the same for every person.
PER_URL_NAME = 1
MOST_PAGES_PER_ROLE = 60


def _url_name(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


def _links(page: Page, origin: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    found = []
    for href in hrefs:
        url, _ = urldefrag(href)
        parsed = urlparse(url)
        if f"{parsed.scheme}://{parsed.netloc}" != origin or NOT_FOLLOWED.search(parsed.path):
            continue
        found.append(url)
    return found


def _seeds(login) -> list[str]:
    """Pages reached by a form rather than a link (a search's results are a POST), from which
    the crawl goes on: for a practitioner, the case summary of the busiest person they see."""
    if login.role != Role.PRACTITIONER:
        return []
    membership = Membership.objects.get(user__email=login.email, role=login.role)
    visible = agencies_visible(
        user=membership.user,
        membership=membership,
        person_ids=Person.objects.filter(is_active=True).values_list("pk", flat=True),
        purpose=Purpose.SAFEGUARDING,
        now=timezone.now(),
    )
    busiest = max(visible, key=lambda pk: (len(visible[pk]), -pk))
    reference = Person.objects.get(pk=busiest).reference
    return [f"{reverse('protocols:summary', args=[reference])}?purpose=safeguarding"]


def _crawl(page: Page, origin: str, checked: dict[str, list[str]], seeds: list[str]) -> list[str]:
    """Follow links from the home page; run axe on the first page of each URL name."""
    faults = []
    queue = deque([f"{origin}/", *(f"{origin}{seed}" for seed in seeds)])
    seen_urls: set[str] = set()
    this_role: dict[str, int] = {}
    visited = 0
    while queue and visited < MOST_PAGES_PER_ROLE:
        url = queue.popleft()
        if url in seen_urls:
            continue
        seen_urls.add(url)
        name = _url_name(urlparse(url).path)
        if name is None or this_role.get(name, 0) >= PER_URL_NAME:
            continue
        this_role[name] = this_role.get(name, 0) + 1
        response = page.goto(url)
        if (
            response is None
            or response.status >= 400
            or "text/html" not in (response.headers.get("content-type", ""))
        ):
            continue
        checked.setdefault(name, []).append(url)
        visited += 1
        faults += [
            f"{urlparse(url).path} ({name}): {v['id']} ({v['impact']}) {v['help']} at "
            f"{', '.join(v['nodes'][:3])}"
            for v in axe_violations(page, exclude=THIRD_PARTY)
        ]
        queue.extend(_links(page, origin))
    return faults


def test_axe_finds_nothing_on_any_page_each_role_reaches(browser, live_server, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("load_demo", "--people", "120")
    checked: dict[str, list[str]] = {}
    faults: list[str] = []
    roles_seen = set()
    for login in DEMO_LOGINS:
        if login.role in roles_seen:
            continue  # one login per role: the pages differ by role, not by agency
        roles_seen.add(login.role)
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_in(page, login.email, password=DEMO_PASSWORD)
        faults += _crawl(page, live_server.url, checked, _seeds(login))
        context.close()
    # The crawl really went round the service: the main page of each role and the summary.
    assert {"home", "protocols:summary", "protocols:search", "alerts:inbox"} <= set(checked)
    assert len(checked) >= 25, sorted(checked)
    print("checked:", sorted(checked))
    assert faults == [], "axe-core violations:\n" + "\n".join(faults)
