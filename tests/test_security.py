"""Sign-in security (issue 8): lockout, idle timeout, rate limits and CSRF."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from agencies.models import Role
from audit.models import AuditAction, AuditEntry
from tests.factories import TEST_PASSWORD

SIGN_IN = reverse("accounts:login")
WRONG_PASSWORD = "not-the-password-at-all"


def sign_in(client, email, password=TEST_PASSWORD, ip="192.0.2.10"):
    return client.post(SIGN_IN, {"username": email, "password": password}, REMOTE_ADDR=ip)


def fail_sign_in(client, email, times, ip="192.0.2.10"):
    """Sign in with a wrong password `times` times; return the status codes answered."""
    return [sign_in(client, email, WRONG_PASSWORD, ip=ip).status_code for _ in range(times)]


# --- Lockout --------------------------------------------------------------------------------


def test_ten_failures_lock_out_even_the_right_password(client, member):
    user = member(Role.PRACTITIONER)
    # The first nine get the form again with its error; the tenth failure locks the pair.
    assert fail_sign_in(client, user.email, 10) == [200] * 9 + [429]

    response = sign_in(client, user.email)

    assert response.status_code == 429
    assert b"Sign-in locked for 15 minutes" in response.content
    assert b"Wait 15 minutes, then try again" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("practitioner_home")).status_code == 302


def test_nine_failures_do_not_lock_out(client, member):
    user = member(Role.PRACTITIONER)
    assert fail_sign_in(client, user.email, 9) == [200] * 9

    response = sign_in(client, user.email)

    assert response.status_code == 302
    assert client.get(reverse("practitioner_home")).status_code == 200


def test_a_success_resets_the_count(client, member):
    user = member(Role.PRACTITIONER)
    fail_sign_in(client, user.email, 9)
    assert sign_in(client, user.email).status_code == 302
    client.post(reverse("accounts:logout"))

    fail_sign_in(client, user.email, 9)
    assert sign_in(client, user.email).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, member):
    user = member(Role.PRACTITIONER)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        fail_sign_in(client, user.email, 10)
        assert sign_in(client, user.email).status_code == 429
    # The locked-out attempt above started the 15 minutes again, so 14 minutes on is too soon.
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert sign_in(client, user.email).status_code == 429
    with time_machine.travel(start + timedelta(minutes=14 + 16), tick=False):
        response = sign_in(client, user.email)
        assert response.status_code == 302
        assert client.get(reverse("practitioner_home")).status_code == 200


def test_spraying_from_one_address_does_not_lock_out_the_same_email_elsewhere(client, member):
    user = member(Role.PRACTITIONER)
    fail_sign_in(client, user.email, 10, ip="198.51.100.66")
    assert sign_in(client, user.email, ip="198.51.100.66").status_code == 429

    assert sign_in(client, user.email, ip="192.0.2.10").status_code == 302


def test_locking_one_email_from_an_address_leaves_other_emails_from_it_alone(client, member):
    victim = member(Role.PRACTITIONER)
    colleague = member(Role.PRACTITIONER)
    fail_sign_in(client, victim.email, 10)

    assert sign_in(client, colleague.email).status_code == 302


def test_failures_and_the_lockout_stay_in_the_audit_trail(client, member):
    user = member(Role.PRACTITIONER)
    fail_sign_in(client, user.email, 10)
    sign_in(client, user.email)

    failures = AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED)
    assert failures.count() == 11
    assert not AuditEntry.objects.filter(action=AuditAction.LOGIN).exists()


def test_the_admin_sign_in_goes_through_the_locked_sign_in(client, member):
    user = member(Role.PLATFORM_ADMIN)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(SIGN_IN)

    fail_sign_in(client, user.email, 10)
    assert sign_in(client, user.email).status_code == 429


def test_the_admin_login_url_takes_no_password_of_its_own(client, member):
    # The admin's own login form would be a second door for guessing; ShareHub's admin sends
    # it to the service sign-in, so the one lockout covers both.
    user = member(Role.PLATFORM_ADMIN)
    response = client.post(
        reverse("admin:login"),
        {"username": user.email, "password": TEST_PASSWORD},
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 302
    assert response["Location"].startswith(SIGN_IN)
    assert "_auth_user_id" not in client.session


# --- Idle timeout ---------------------------------------------------------------------------


@pytest.fixture
def idle_limit(settings):
    settings.SHAREHUB_IDLE_SECONDS = 30 * 60
    return timedelta(seconds=settings.SHAREHUB_IDLE_SECONDS)


def test_activity_within_the_idle_limit_keeps_the_session(client, member, idle_limit):
    user = member(Role.PRACTITIONER)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        sign_in(client, user.email)
    for minutes in (25, 50, 75):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert client.get(reverse("practitioner_home")).status_code == 200


def test_an_idle_session_is_ended_on_the_server(client, member, idle_limit):
    user = member(Role.PRACTITIONER)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        sign_in(client, user.email)
        assert client.get(reverse("practitioner_home")).status_code == 200
        old_cookie = client.cookies["sessionid"].value

    with time_machine.travel(start + idle_limit + timedelta(seconds=1), tick=False):
        response = client.get(reverse("practitioner_home"))
        assert response.status_code == 302
        assert response["Location"] == reverse("accounts:signed_out_inactive")
        page = client.get(response["Location"])
        assert b"You have been signed out because you were inactive" in page.content

        # Replaying the cookie from before the timeout finds no session.
        client.cookies["sessionid"] = old_cookie
        replay = client.get(reverse("practitioner_home"))
        assert replay.status_code == 302
        assert replay["Location"].startswith(SIGN_IN)
