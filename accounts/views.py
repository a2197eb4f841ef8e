from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import two_factor
from accounts.forms import PasswordResetRequestForm, SignInForm, TwoFactorCodeForm
from accounts.ratelimits import rate_limited
from agencies.access import SignedInRequest, public, signed_in, usable_memberships

sign_in = public(
    rate_limited("sign_in", per="ip", methods=("POST",))(
        auth_views.LoginView.as_view(
            template_name="accounts/sign_in.html",
            authentication_form=SignInForm,
            redirect_authenticated_user=True,
        )
    )
)
sign_out = public(auth_views.LogoutView.as_view(template_name="accounts/signed_out.html"))

password_reset = public(
    # Per address here; per email address asked about in the form, which sends nothing past its
    # limit but answers as always, so the limit tells no one whether the address has an account.
    rate_limited("password_reset", per="ip", methods=("POST",))(
        auth_views.PasswordResetView.as_view(
            form_class=PasswordResetRequestForm,
            template_name="accounts/password_reset.html",
            success_url=reverse_lazy("accounts:password_reset_done"),
        )
    )
)
password_reset_done = public(
    auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html")
)
password_reset_confirm = public(
    auth_views.PasswordResetConfirmView.as_view(
        template_name="accounts/password_reset_confirm.html",
        success_url=reverse_lazy("accounts:password_reset_complete"),
    )
)
password_reset_complete = public(
    auth_views.PasswordResetCompleteView.as_view(
        template_name="accounts/password_reset_complete.html"
    )
)
password_change = signed_in(
    auth_views.PasswordChangeView.as_view(
        template_name="accounts/password_change.html",
        success_url=reverse_lazy("accounts:password_change_done"),
    )
)
password_change_done = signed_in(
    auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_change_done.html")
)


@signed_in
def account(request: SignedInRequest) -> HttpResponse:
    return render(
        request, "accounts/account.html", {"memberships": usable_memberships(request.user)}
    )


def _after_second_factor(request: HttpRequest) -> str:
    """Where the user was going, if it is on this site; their home otherwise."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@signed_in
def two_factor_enrol(request: SignedInRequest) -> HttpResponse:
    """First sign-in: scan a QR code (or type the secret) into an app, then confirm a code."""
    if two_factor.second_factor_passed(request.user):
        return redirect(_after_second_factor(request))
    if two_factor.has_confirmed_device(request.user):
        # A device is already set up: a new one needs a platform admin's reset, so someone
        # who has only the password cannot swap in a phone of their own.
        return redirect("accounts:two_factor_verify")
    device = two_factor.enrolment_device(request.user)
    form = TwoFactorCodeForm(
        request.POST or None,
        check=lambda code: two_factor.enrolment_confirm(request, device, code),
    )
    if request.method == "POST" and form.is_valid():
        return redirect(_after_second_factor(request))
    return render(
        request,
        "accounts/two_factor_enrol.html",
        {
            "form": form,
            "qr_code": two_factor.qr_code_svg(device),
            "secret": two_factor.manual_entry_secret(device),
            "next": _after_second_factor(request),
        },
    )


@signed_in
def two_factor_verify(request: SignedInRequest) -> HttpResponse:
    """Each sign-in after the first: the current code from the app."""
    if two_factor.second_factor_passed(request.user):
        return redirect(_after_second_factor(request))
    if not two_factor.has_confirmed_device(request.user):
        return redirect("accounts:two_factor_enrol")
    form = TwoFactorCodeForm(
        request.POST or None,
        check=lambda code: two_factor.verification_check(request, code),
    )
    if request.method == "POST" and form.is_valid():
        return redirect(_after_second_factor(request))
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": _after_second_factor(request)},
    )


@public
def signed_out_inactive(request: HttpRequest) -> HttpResponse:
    idle_minutes = settings.SHAREHUB_IDLE_SECONDS // 60
    return render(request, "accounts/signed_out_inactive.html", {"idle_minutes": idle_minutes})
