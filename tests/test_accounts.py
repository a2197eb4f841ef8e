import re
from html import unescape

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from agencies.models import Role
from tests.factories import TEST_PASSWORD, UserFactory
from tests.two_factor_helpers import confirmed_device_for, unused_totp_code

SIGN_IN = reverse("accounts:login")


def sign_in(client, email, password=TEST_PASSWORD):
    """Sign in with the password and, when it is accepted, the code from the user's app."""
    response = client.post(SIGN_IN, {"username": email, "password": password})
    if response.status_code == 302:
        device = confirmed_device_for(User.objects.get(email__iexact=email))
        verified = client.post(
            reverse("accounts:two_factor_verify"),
            {"code": unused_totp_code(device), "next": response["Location"]},
        )
        assert verified.status_code == 302, "the second factor was refused"
    return response


@pytest.mark.parametrize(
    ("role", "home"),
    [
        (Role.PRACTITIONER, "practitioner_home"),
        (Role.IG_OFFICER, "ig_home"),
        (Role.AGENCY_ADMIN, "agency_admin_home"),
        (Role.ANALYST, "analyst_home"),
        (Role.PLATFORM_ADMIN, "platform_home"),
    ],
)
def test_signing_in_lands_on_the_roles_home_page(client, member, role, home):
    user = member(role)
    response = sign_in(client, user.email)
    assert response.status_code == 302
    final = client.get(response["Location"], follow=True)
    assert final.redirect_chain[-1][0] == reverse(home)
    assert final.status_code == 200


def test_email_is_matched_whatever_its_case(client, member):
    user = member(Role.PRACTITIONER, email="mixed.case@agency.test")
    assert sign_in(client, "Mixed.Case@Agency.TEST").status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.parametrize("wrong", ["password", "email"])
def test_wrong_password_or_unknown_email_get_the_same_clear_message(client, member, wrong):
    user = member(Role.PRACTITIONER)
    email = user.email if wrong == "password" else "nobody@agency.test"
    password = "not-the-password" if wrong == "password" else TEST_PASSWORD
    response = sign_in(client, email, password)
    assert response.status_code == 200
    html = response.content.decode()
    assert "There is a problem" in html
    assert "Enter a correct email address and password" in html
    assert "_auth_user_id" not in client.session


def test_deactivated_user_cannot_sign_in(client, member):
    user = member(Role.PRACTITIONER)
    user.is_active = False
    user.save()
    response = sign_in(client, user.email)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_signing_in_issues_a_new_session_id(client, member):
    user = member(Role.PRACTITIONER)
    client.get(SIGN_IN)
    client.session.save()
    before = client.session.session_key
    sign_in(client, user.email)
    assert client.session.session_key != before


def test_sign_out_ends_the_session_on_the_server(client, member):
    user = member(Role.PRACTITIONER)
    sign_in(client, user.email)
    old_cookie = client.cookies["sessionid"].value
    assert client.get(reverse("practitioner_home")).status_code == 200

    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 200
    assert b"You have signed out" in response.content

    # Replaying the old cookie must not get back in.
    client.cookies["sessionid"] = old_cookie
    response = client.get(reverse("practitioner_home"))
    assert response.status_code == 302
    assert response["Location"].startswith(SIGN_IN)


def test_deactivating_a_user_ends_their_access_at_the_next_request(client, member):
    user = member(Role.PRACTITIONER)
    sign_in(client, user.email)
    user.is_active = False
    user.save()
    response = client.get(reverse("practitioner_home"))
    assert response.status_code == 302


def test_ending_a_membership_removes_the_roles_pages(client, member):
    user = member(Role.PRACTITIONER)
    sign_in(client, user.email)
    user.memberships.update(is_active=False)
    assert client.get(reverse("practitioner_home")).status_code == 403


def test_password_reset_sends_a_link_that_works_once(
    client, member, django_capture_on_commit_callbacks
):
    user = member(Role.PRACTITIONER)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:password_reset"), {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", message.body).group(1)

    form_page = client.get(link, follow=True)
    assert b"Choose a new password" in form_page.content
    set_password_url = form_page.redirect_chain[-1][0]
    new_password = "a-much-better-passphrase-42"
    done = client.post(
        set_password_url, {"new_password1": new_password, "new_password2": new_password}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)

    again = client.get(link, follow=True)
    assert b"This link has expired or was already used" in again.content


def test_password_reset_for_unknown_address_looks_the_same_and_sends_nothing(
    client, db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("accounts:password_reset"), {"email": "nobody@agency.test"})
    assert callbacks == []
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_password_reset_rejects_a_weak_new_password_with_reasons(
    client, member, django_capture_on_commit_callbacks
):
    user = member(Role.PRACTITIONER)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:password_reset"), {"email": user.email})
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", mail.outbox[0].body)
    form_page = client.get(link.group(1), follow=True)
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": "short", "new_password2": "short"}
    )
    assert response.status_code == 200
    assert b"This password is too short" in response.content


def test_password_change_needs_the_old_password(client, member):
    user = member(Role.ANALYST)
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": "wrong",
            "new_password1": "another-long-passphrase-7",
            "new_password2": "another-long-passphrase-7",
        },
    )
    assert response.status_code == 200
    assert b"Your old password was entered incorrectly" in response.content
    user.refresh_from_db()
    assert user.check_password(TEST_PASSWORD)


def test_the_header_shows_the_users_agency_and_role(client, member, agency):
    client.force_login(member(Role.IG_OFFICER, full_name="Grace Okafor"))
    html = unescape(client.get(reverse("ig_home")).content.decode())
    assert "Grace Okafor" in html
    assert f"IG officer, {agency.name}" in html


def test_user_with_two_roles_can_switch_between_them(client, member, agency):
    user = member(Role.PRACTITIONER)
    practitioner = user.memberships.get()
    ig_membership = user.memberships.create(agency=agency, role=Role.IG_OFFICER)
    client.force_login(user)

    client.post(reverse("agencies:switch_role"), {"membership": practitioner.pk})
    assert client.get(reverse("home"))["Location"] == reverse("practitioner_home")
    assert client.get(reverse("ig_home")).status_code == 403

    client.post(reverse("agencies:switch_role"), {"membership": ig_membership.pk})
    assert client.get(reverse("home"))["Location"] == reverse("ig_home")
    assert client.get(reverse("practitioner_home")).status_code == 403


def test_a_role_held_in_an_agency_reads_it_and_a_platform_role_has_none(member, agency):
    ig = member(Role.IG_OFFICER).memberships.get()
    assert (ig.own_agency, ig.own_agency_id) == (agency, agency.pk)
    platform = member(Role.PLATFORM_ADMIN).memberships.get()
    with pytest.raises(ValueError, match="holds no agency"):
        platform.own_agency  # noqa: B018 - the property raises
    with pytest.raises(ValueError, match="holds no agency"):
        platform.own_agency_id  # noqa: B018 - the property raises


def test_switching_to_someone_elses_membership_does_nothing(client, member):
    user = member(Role.PRACTITIONER)
    someone_else = member(Role.PLATFORM_ADMIN)
    client.force_login(user)
    client.post(reverse("agencies:switch_role"), {"membership": someone_else.memberships.get().pk})
    assert client.get(reverse("home"))["Location"] == reverse("practitioner_home")
    assert client.get(reverse("platform_home")).status_code == 403


def test_navigation_lists_only_pages_the_role_may_open(client, member):
    client.force_login(member(Role.PRACTITIONER))
    html = client.get(reverse("practitioner_home")).content.decode()
    nav = html[html.index('id="navigation"') : html.index("</ul>", html.index('id="navigation"'))]
    assert reverse("agencies:partnership") in nav
    assert reverse("agencies:team") not in nav
    assert reverse("platform_home") not in nav


def test_error_pages_use_the_service_layout(client, member):
    client.force_login(member(Role.PRACTITIONER))
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"govuk-frontend.min.css" in response.content


def test_new_user_needs_an_email(db):
    with pytest.raises(ValueError, match="email"):
        UserFactory._meta.model.objects.create_user(email="", password="x")
