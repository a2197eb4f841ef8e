"""Browser tests: Playwright drives Debian's Chromium, headless, against a live Django server.

Playwright's own browser download cannot work on these machines, so the system Chromium is used
(scripts/ensure-chromium installs it). The flags keep Chromium from reaching for the network.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = os.environ.get("SHAREHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results"

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make in
# that same thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/ensure-chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def window(browser, live_server, request):
    """Open a browser window of its own for each person; every URL any window asks for is kept."""
    opened: list[tuple[str, object]] = []
    requested: list[str] = []

    def open_window(who: str) -> Page:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(10_000)
        context.on("request", lambda r: requested.append(r.url))
        opened.append((who, context))
        return context.new_page()

    open_window.requested = requested
    yield open_window
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for who, context in opened:
        if failed:
            SCREENSHOTS.mkdir(exist_ok=True)
            for n, open_page in enumerate(context.pages):
                open_page.screenshot(
                    path=SCREENSHOTS / f"{request.node.name}-{who}-{n}.png", full_page=True
                )
        context.close()


def go_to(page: Page, label: str) -> None:
    page.locator("#navigation").get_by_role("link", name=label, exact=True).click()
    expect(page.locator("#navigation [aria-current=page]")).to_have_text(label)


AXE_SOURCE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# What the public sector accessibility regulations ask for: WCAG 2.2 AA, with axe's best
# practices (landmarks, the `region` rule, heading order) on top.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page: Page, *, exclude: Sequence[str] = ()) -> list[dict]:
    """axe-core's violations on the page as it is now, each with its rule id, impact and the
    selectors of the elements at fault.

    axe is evaluated through the browser's debugging protocol, not added as a <script>: the
    strict CSP (no inline scripts) stays on, as a user has it. `exclude` names containers axe
    leaves out: only for a third-party widget whose own markup we cannot change, and the test
    that excludes one says why.
    """
    if not AXE_SOURCE.exists():
        pytest.fail(f"axe-core not found at {AXE_SOURCE}: run npm ci (make assets)")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        "async ([tags, exclude]) => { const r = await axe.run({exclude: exclude.map(s => [s])}, "
        "{runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']}); "
        "return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, "
        "nodes: v.nodes.map(n => n.target.join(' '))})); }",
        [AXE_TAGS, list(exclude)],
    )
    return result


def expect_accessible(page: Page, *, exclude: Sequence[str] = ()) -> None:
    """Fail, naming each rule and element, if axe-core finds any violation on the page (outside
    the containers `exclude` names, see `axe_violations`)."""
    violations = axe_violations(page, exclude=exclude)
    assert violations == [], f"axe-core on {page.url}:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'][:5])}"
        for v in violations
    )
