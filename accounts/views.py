from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy

from accounts.forms import PasswordResetRequestForm, SignInForm
from accounts.ratelimits import rate_limited
from agencies.access import public, signed_in, usable_memberships

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
    auth_views.PasswordResetView.as_view(
        form_class=PasswordResetRequestForm,
        template_name="accounts/password_reset.html",
        success_url=reverse_lazy("accounts:password_reset_done"),
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
def account(request: HttpRequest) -> HttpResponse:
    return render(
        request, "accounts/account.html", {"memberships": usable_memberships(request.user)}
    )


@public
def signed_out_inactive(request: HttpRequest) -> HttpResponse:
    idle_minutes = settings.SHAREHUB_IDLE_SECONDS // 60
    return render(request, "accounts/signed_out_inactive.html", {"idle_minutes": idle_minutes})
