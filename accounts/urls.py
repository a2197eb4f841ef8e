from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("sign-in/", views.sign_in, name="login"),
    path("two-factor/set-up/", views.two_factor_enrol, name="two_factor_enrol"),
    path("two-factor/", views.two_factor_verify, name="two_factor_verify"),
    path("sign-out/", views.sign_out, name="logout"),
    path("signed-out/inactive/", views.signed_out_inactive, name="signed_out_inactive"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path("password-reset/sent/", views.password_reset_done, name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("password-reset/complete/", views.password_reset_complete, name="password_reset_complete"),
    path("password/", views.password_change, name="password_change"),
    path("password/changed/", views.password_change_done, name="password_change_done"),
    path("", views.account, name="account"),
]
