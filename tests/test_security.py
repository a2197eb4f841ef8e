"""Sign-in security (issue 8): lockout, idle timeout, rate limits and CSRF."""

from datetime import timedelta

import pytest
import time_machine
from django.http import HttpResponseForbidden
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, converters, get_resolver, reverse
from django.utils import timezone

from accounts.models import User
from agencies.models import Role
from audit.models import AuditAction, AuditEntry
from tests.factories import TEST_PASSWORD
from tests.two_factor_helpers import confirmed_device_for, unused_totp_code

SIGN_IN = reverse("accounts:login")
WRONG_PASSWORD = "not-the-password-at-all"


def sign_in(client, email, password=TEST_PASSWORD, ip="192.0.2.10"):
    """Sign in with the password and, when it is accepted, the code from the user's app."""
    response = client.post(SIGN_IN, {"username": email, "password": password}, REMOTE_ADDR=ip)
    if response.status_code == 302:
        device = confirmed_device_for(User.objects.get(email__iexact=email))
        verified = client.post(
            reverse("accounts:two_factor_verify"),
            {"code": unused_totp_code(device), "next": response["Location"]},
            REMOTE_ADDR=ip,
        )
        assert verified.status_code == 302, "the second factor was refused"
    return response


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


def test_sign_in_and_its_failures_log_no_email(client, member, caplog):
    user = member(Role.PRACTITIONER, email="Pat.Named@agency.test")
    fail_sign_in(client, user.email, 2)
    assert sign_in(client, user.email).status_code == 302
    logged = "\n".join(r.getMessage() for r in caplog.records).lower()
    assert "pat.named" not in logged


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


# --- Rate limits ----------------------------------------------------------------------------


@pytest.fixture
def one_window():
    """The limits count in fixed one-minute windows: a test of one window starts at the start of
    one, or thirty requests crossing a minute's end would be split over two (a flaky test)."""
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(start, tick=True):
        yield


def test_sign_in_attempts_from_one_address_are_rate_limited(client, member, settings, one_window):
    # Spraying many emails from one address is what the per-email lockout does not catch.
    settings.SHAREHUB_RATE_LIMITS = {**settings.SHAREHUB_RATE_LIMITS, "sign_in": (30, 60)}
    emails = [f"guess{n}@agency.test" for n in range(31)]
    codes = [sign_in(client, email, WRONG_PASSWORD).status_code for email in emails]
    assert codes == [200] * 30 + [429]

    refused = sign_in(client, member(Role.PRACTITIONER).email)
    assert refused.status_code == 429
    assert b"Too many requests" in refused.content
    assert int(refused["Retry-After"]) <= 60
    # Another address is not held up.
    assert sign_in(client, emails[0], WRONG_PASSWORD, ip="203.0.113.5").status_code == 200


def test_web_search_is_limited_per_user(client, member, one_window):
    practitioner = member(Role.PRACTITIONER)
    client.force_login(practitioner)
    search = reverse("protocols:search")
    # An empty search is refused with its errors, and still counts.
    codes = [client.post(search, {}).status_code for _ in range(31)]
    assert codes == [200] * 30 + [429]
    assert b"Try again in 1 minute" in client.post(search, {}).content

    other = member(Role.PRACTITIONER)
    client.force_login(other)
    assert client.post(search, {}).status_code == 200


def test_the_limit_lifts_in_the_next_window(client, member):
    practitioner = member(Role.PRACTITIONER)
    client.force_login(practitioner)
    search = reverse("protocols:search")
    start = timezone.now().replace(second=0, microsecond=0)
    with time_machine.travel(start, tick=False):
        assert [client.post(search, {}).status_code for _ in range(31)][-1] == 429
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        assert client.post(search, {}).status_code == 200


def test_audit_export_is_limited_per_user(client, member, one_window):
    client.force_login(member(Role.IG_OFFICER))
    export = reverse("audit:export")
    codes = [client.get(export).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]


def test_api_search_is_throttled_per_user(client, member, one_window):
    client.force_login(member(Role.PRACTITIONER))
    search = reverse("protocols_api:search")
    codes = [
        client.post(search, {}, content_type="application/json").status_code for _ in range(31)
    ]
    assert codes == [400] * 30 + [429]


# --- CSRF -----------------------------------------------------------------------------------


def csrf_refused(request, reason=""):
    """Stands in for Django's CSRF failure page, so the test knows CSRF, not a 403, refused."""
    return HttpResponseForbidden("refused for CSRF")


def _sample_value(converter) -> object:
    if isinstance(converter, converters.IntConverter):
        return 1
    if isinstance(converter, converters.UUIDConverter):
        return "12345678-1234-5678-1234-567812345678"
    return "x"


def _every_named_url():
    """Yield (name, url) for every named pattern, its arguments filled with sample values."""

    def walk(patterns, namespace, prefix_converters):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                yield from walk(
                    entry.url_patterns,
                    inner,
                    {**prefix_converters, **getattr(entry.pattern, "converters", {})},
                )
            elif isinstance(entry, URLPattern) and entry.name:
                found = {**prefix_converters, **getattr(entry.pattern, "converters", {})}
                name = f"{namespace}{entry.name}"
                kwargs = {key: _sample_value(c) for key, c in found.items()}
                regex_groups = entry.pattern.regex.groupindex
                for group in regex_groups:
                    kwargs.setdefault(group, "x")
                try:
                    yield name, reverse(name, kwargs=kwargs or None)
                except NoReverseMatch:
                    yield name, None

    yield from walk(get_resolver().url_patterns, "", {})


@pytest.mark.django_db
def test_every_post_without_a_csrf_token_is_refused(member, settings):
    settings.CSRF_FAILURE_VIEW = "tests.test_security.csrf_refused"
    client = Client(enforce_csrf_checks=True)
    client.force_login(member(Role.PLATFORM_ADMIN))

    tried, unreachable, let_through = 0, [], []
    for name, url in _every_named_url():
        if url is None:
            unreachable.append(name)
            continue
        tried += 1
        response = client.post(url, {})
        web_refused = response.status_code == 403 and b"refused for CSRF" in response.content
        # DRF views are exempt from the middleware, and its session authentication applies
        # the same check itself (token requests have no cookie to forge, so need none).
        api_refused = response.status_code == 403 and b"CSRF Failed" in response.content
        if not (web_refused or api_refused):
            let_through.append((name, response.status_code))

    assert tried > 100
    assert let_through == []
    # Only the admin's regex patterns (app labels it checks itself) cannot take a sample value.
    assert all(name.startswith("admin:") for name in unreachable), unreachable


def test_an_address_sending_bad_api_tokens_is_throttled(client, member, agency, one_window):
    from agencies.tokens import api_token_create

    user = member(Role.AGENCY_ADMIN)
    _, good_token = api_token_create(agency=agency, name="Nightly upload", created_by=user)
    url = reverse("protocols_api:search")

    def call(token, ip="192.0.2.10"):
        return client.post(
            url,
            {},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
            REMOTE_ADDR=ip,
        ).status_code

    codes = [call("shk_000000000000_guessed") for _ in range(11)]
    assert codes == [401] * 10 + [429]
    # Even a good token waits out the window from that address; another address is not held up.
    assert call(good_token) == 429
    assert call("shk_000000000000_guessed", ip="203.0.113.5") == 401


def test_changing_the_case_of_the_email_does_not_restart_the_count(client, member):
    user = member(Role.PRACTITIONER)
    fail_sign_in(client, user.email, 5)
    fail_sign_in(client, user.email.upper(), 5)

    assert sign_in(client, user.email.title()).status_code == 429


def test_the_lockout_keeps_no_typed_email(client, member):
    from axes.models import AccessAttempt

    user = member(Role.PRACTITIONER)
    fail_sign_in(client, user.email, 3)

    (attempt,) = AccessAttempt.objects.all()
    assert user.email not in attempt.username
    assert len(attempt.username) == 32
    assert WRONG_PASSWORD not in str(attempt.post_data)
