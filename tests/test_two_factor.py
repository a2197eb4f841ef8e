"""Two-factor authentication (issue 8): TOTP enrolment, verification at sign-in, no replay, and
no page beyond sign-in reachable with a password alone."""

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from agencies.models import Role
from tests.factories import TEST_PASSWORD
from tests.test_page_access import site_patterns, url_for
from tests.test_settings import production_env, run_manage, show
from tests.two_factor_helpers import totp_code

pytestmark = pytest.mark.django_db

ENROL = reverse("accounts:two_factor_enrol")
VERIFY = reverse("accounts:two_factor_verify")
# Open to a password-only session by design: the sign-in and second-factor steps themselves and
# the health check. Everything else must send the user to enrol or verify.
OPEN_BEFORE_SECOND_FACTOR = {
    "accounts:login",
    "accounts:logout",
    "accounts:two_factor_enrol",
    "accounts:two_factor_verify",
    "healthz",
}


code_for = totp_code


def password_sign_in(client: Client, user) -> None:
    response = client.post(
        reverse("accounts:login"), {"username": user.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302


@pytest.fixture
def confirmed_device(member):
    user = member(Role.PRACTITIONER)
    return TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)


@pytest.mark.parametrize("role", [r for r, _ in Role.choices])
def test_no_page_opens_with_a_password_alone(client, member, role):
    user = member(role)
    client.password_only_login(user)
    reached, checked = [], 0
    for name, _ in site_patterns():
        if name in OPEN_BEFORE_SECOND_FACTOR:
            continue
        url = url_for(name)
        checked += 1
        for method in (client.get, client.post):
            response = method(url)
            if url.startswith("/api/"):  # the API answers, rather than redirecting
                refused = response.status_code == 403
            else:
                refused = response.status_code == 302 and response["Location"].startswith(ENROL)
            if not refused:
                reached.append((name, method.__name__, response.status_code))
    # The admin site too (its own sign-in accepts a password only).
    for url in (reverse("admin:index"), reverse("admin:accounts_user_changelist")):
        checked += 1
        if not client.get(url)["Location"].startswith(ENROL):
            reached.append((url, "get", None))
    assert checked > 100
    assert reached == []


def test_the_open_pages_still_open(client, member):
    user = member(Role.PRACTITIONER)
    client.password_only_login(user)
    assert client.get(reverse("healthz")).status_code == 200
    assert client.get(ENROL).status_code == 200
    assert client.post(reverse("accounts:logout")).status_code == 200


def test_sign_in_sends_a_first_time_user_to_enrol_and_then_where_they_were_going(client, member):
    user = member(Role.PRACTITIONER)
    password_sign_in(client, user)
    response = client.get("/practitioner/")
    assert response.status_code == 302
    assert response["Location"] == f"{ENROL}?next=%2Fpractitioner%2F"

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "style=" not in html
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed
    secret = page.context["secret"].replace(" ", "")
    assert secret in html.replace(" ", "")
    assert device.tolerance == 1
    # A reload shows the same key: the code scanned a moment ago still matches.
    client.get(ENROL)
    assert TOTPDevice.objects.filter(user=user).count() == 1

    response = client.post(ENROL, {"code": code_for(device), "next": "/practitioner/"})
    assert response.status_code == 302 and response["Location"] == "/practitioner/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/practitioner/").status_code == 200


def test_enrolment_refuses_a_wrong_code_with_a_clear_message(client, member):
    user = member(Role.PRACTITIONER)
    password_sign_in(client, user)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=user)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = client.post(ENROL, {"code": wrong})
    assert response.status_code == 200
    assert "The code is not right or has already been used" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get("/practitioner/").status_code == 302


def test_a_code_that_is_not_six_digits_says_what_to_enter(client, member):
    user = member(Role.PRACTITIONER)
    password_sign_in(client, user)
    response = client.post(ENROL, {"code": "12ab"})
    assert "Enter the 6-digit code from your authentication app" in response.content.decode()


def test_a_user_with_a_device_is_asked_for_a_code_and_cannot_enrol_another(
    client, confirmed_device
):
    password_sign_in(client, confirmed_device.user)
    response = client.get("/practitioner/")
    assert response["Location"].startswith(VERIFY)
    assert client.get(ENROL)["Location"] == VERIFY
    assert TOTPDevice.objects.filter(user=confirmed_device.user).count() == 1


def test_verification_accepts_the_current_code_once(client, confirmed_device):
    code = code_for(confirmed_device)
    password_sign_in(client, confirmed_device.user)
    response = client.post(VERIFY, {"code": code, "next": "/practitioner/"})
    assert response["Location"] == "/practitioner/"
    assert client.get("/practitioner/").status_code == 200

    # Someone who saw the code (or the same user in another browser) cannot use it again.
    other = Client()
    password_sign_in(other, confirmed_device.user)
    replay = other.post(VERIFY, {"code": code})
    assert replay.status_code == 200
    assert "already been used" in replay.content.decode()
    assert other.get("/practitioner/").status_code == 302


def test_verification_refuses_a_wrong_code(client, confirmed_device):
    password_sign_in(client, confirmed_device.user)
    wrong = f"{(int(code_for(confirmed_device)) + 500_000) % 1_000_000:06d}"
    response = client.post(VERIFY, {"code": wrong})
    assert response.status_code == 200
    assert "The code is not right" in response.content.decode()
    assert client.get("/practitioner/").status_code == 302


@pytest.mark.parametrize(("offset", "accepted"), [(-2, False), (-1, True), (1, True), (2, False)])
def test_the_tolerance_is_one_step_either_side(client, member, offset, accepted):
    user = member(Role.PRACTITIONER)
    device = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True, tolerance=1)
    password_sign_in(client, user)
    client.post(VERIFY, {"code": code_for(device, offset)})
    assert (client.get("/practitioner/").status_code == 200) is accepted


def test_an_offsite_next_is_not_followed(client, confirmed_device):
    password_sign_in(client, confirmed_device.user)
    response = client.post(
        VERIFY, {"code": code_for(confirmed_device), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_api_tokens_are_not_asked_for_a_second_factor(client, agency, member):
    from agencies.tokens import api_token_create

    _, secret = api_token_create(agency=agency, name="m2m", created_by=member(Role.AGENCY_ADMIN))
    response = Client().get(
        reverse("agencies_api:dataset_list"), headers={"authorization": f"Token {secret}"}
    )
    assert response.status_code == 200


def test_a_platform_admin_resets_a_lost_phone(client, member, confirmed_device):
    admin = member(Role.PLATFORM_ADMIN)
    client.force_login(admin)
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_two_factor", "_selected_action": [confirmed_device.user.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=confirmed_device.user).exists()
    other = Client()
    password_sign_in(other, confirmed_device.user)
    assert other.get("/practitioner/")["Location"].startswith(ENROL)


def test_force_login_in_the_suite_gives_a_verified_session(client, member):
    user = member(Role.PRACTITIONER)
    client.force_login(user)
    assert client.get("/practitioner/").status_code == 200
    password_only = Client()
    password_only.password_only_login(user)
    assert password_only.get("/practitioner/").status_code == 302


def test_production_refuses_to_run_without_two_factor():
    refused = run_manage("check", **production_env(SHAREHUB_REQUIRE_OTP="false"))
    assert refused.returncode != 0
    assert "SHAREHUB_REQUIRE_OTP must not be false" in refused.stderr
    assert show("settings.SHAREHUB_REQUIRE_OTP", **production_env()) == "True"
    assert show("settings.SHAREHUB_REQUIRE_OTP", SHAREHUB_REQUIRE_OTP="false") == "False"


def test_the_admin_site_does_not_show_device_keys():
    from django.contrib import admin

    assert not admin.site.is_registered(TOTPDevice)
