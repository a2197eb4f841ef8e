"""User journeys: sign in, sign out, a wrong password, and navigation per role."""

import re
from base64 import b32decode

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from accounts.models import User
from agencies.models import Role
from tests.factories import TEST_PASSWORD
from tests.two_factor_helpers import totp_code, unused_totp_code

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page: Page, email: str, password: str = TEST_PASSWORD) -> None:
    """Sign in with the password and, when it is accepted, the TOTP step as a phone would."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/sign-in/"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    if not re.search(r"/accounts/sign-in/", page.url):
        complete_second_factor(page, email)


def complete_second_factor(page: Page, email: str) -> None:
    """On first sign-in, enrol with the key the page shows (as a user typing it into an app
    would); after that, enter the current code of the device enrolled."""
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(
        re.compile(r"^(Set up two-factor authentication|Enter your authentication code)$")
    )
    if heading.inner_text() == "Set up two-factor authentication":
        expect(page.get_by_test_id("qr-code").locator("svg")).to_be_visible()
        page.get_by_text("I cannot scan the QR code").click()
        key = page.get_by_test_id("otp-secret").inner_text().replace(" ", "")
        device = TOTPDevice(key=b32decode(key + "=" * (-len(key) % 8)).hex())
        code = totp_code(device)
        button = "Confirm and continue"
    else:
        user = User.objects.get(email__iexact=email)
        code = unused_totp_code(TOTPDevice.objects.get(user=user, confirmed=True))
        button = "Continue"
    page.get_by_label("Code from your authentication app").fill(code)
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def nav_links(page: Page) -> list[str]:
    return page.locator("#navigation a").all_inner_texts()


def test_practitioner_signs_in_to_their_home_and_signs_out(page: Page, member, agency):
    user = member(Role.PRACTITIONER, full_name="Priya Shah")
    sign_in(page, user.email)

    expect(page).to_have_url(re.compile(r"/practitioner/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Safeguarding practitioner")
    expect(page.get_by_test_id("acting-as")).to_contain_text("Priya Shah")
    expect(page.get_by_test_id("acting-as")).to_contain_text(
        f"Safeguarding practitioner, {agency.name}"
    )

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You have signed out")
    # Back to a protected page: the server no longer knows this browser.
    page.goto("/practitioner/")
    expect(page).to_have_url(re.compile(r"/accounts/sign-in/\?next=/practitioner/"))


def test_wrong_password_shows_a_clear_message_linked_to_the_field(page: Page, member):
    user = member(Role.PRACTITIONER)
    sign_in(page, user.email, "not-my-password")

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_contain_text("Enter a correct email address and password")
    expect(page).to_have_title(re.compile(r"^Sign in - Error - ShareHub$"))
    # GOV.UK's error summary takes focus, so a screen reader announces it at once.
    expect(summary).to_be_focused()
    # The link in the summary takes the user to the field to fix.
    summary.get_by_role("link").first.click()
    expect(page.get_by_label("Email address")).to_be_focused()


@pytest.mark.parametrize(
    ("role", "home_heading", "sees", "does_not_see"),
    [
        (Role.PRACTITIONER, "Safeguarding practitioner", ["Partnership"], ["Agency team"]),
        (Role.IG_OFFICER, "Information governance", ["Agency team", "Partnership"], []),
        (Role.AGENCY_ADMIN, "Agency admin", ["Agency team", "Partnership"], []),
        (Role.ANALYST, "Insights", ["Partnership"], ["Agency team"]),
        (Role.PLATFORM_ADMIN, "Platform administration", ["Partnership"], ["Agency team"]),
    ],
)
def test_each_role_gets_its_own_home_and_navigation(
    page: Page, member, role, home_heading, sees, does_not_see
):
    user = member(role)
    sign_in(page, user.email)
    expect(page.get_by_role("heading", level=1)).to_have_text(home_heading)

    links = nav_links(page)
    assert links[0] == "Home"
    for label in sees:
        assert label in links
    for label in does_not_see:
        assert label not in links

    # Every link the navigation offers opens for this role.
    for label in links:
        page.locator("#navigation").get_by_role("link", name=label, exact=True).click()
        expect(page.get_by_role("heading", level=1)).not_to_have_text(
            "You do not have access to this page"
        )
        current = page.locator("#navigation [aria-current=page]")
        expect(current).to_have_text(label)


def test_a_page_outside_the_role_is_refused_with_a_way_back(page: Page, member):
    user = member(Role.PRACTITIONER)
    sign_in(page, user.email)
    response = page.goto("/platform/")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You do not have access to this page")
    page.get_by_role("link", name="Go to your home page").click()
    expect(page).to_have_url(re.compile(r"/practitioner/$"))


def test_sign_in_works_with_the_keyboard_alone(page: Page, member):
    user = member(Role.ANALYST)
    page.goto("/accounts/sign-in/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email address")).to_be_focused()
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    # The code field is reached and submitted from the keyboard too.
    device = TOTPDevice.objects.get(user=user)
    page.get_by_label("Code from your authentication app").focus()
    page.keyboard.type(totp_code(device))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Insights")


def test_platform_admin_reaches_the_admin_site(page: Page, member):
    user = member(Role.PLATFORM_ADMIN)
    sign_in(page, user.email)
    page.get_by_role("button", name="Manage agencies and users").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Agencies, users and roles")
