from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts.models import User
from accounts.two_factor import devices_reset
from agencies.models import Membership
from core.admin import PlatformAdminInline, PlatformAdminPermissions


class UserMembershipInline(PlatformAdminInline):
    model = Membership
    fields = ["agency", "role", "is_active"]
    extra = 1


class ShareHubUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")


class ShareHubUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes = {"email": forms.EmailField}


@admin.register(User)
class UserAdmin(PlatformAdminPermissions, BaseUserAdmin):
    form = ShareHubUserChangeForm
    add_form = ShareHubUserCreationForm
    inlines = [UserMembershipInline]
    list_display = ["email", "full_name", "job_title", "is_active", "last_login"]
    list_filter = ["is_active", "memberships__role", "memberships__agency"]
    search_fields = ["email", "full_name"]
    ordering = ["full_name", "email"]
    readonly_fields = ["last_login", "date_joined"]
    filter_horizontal = []
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("About them", {"fields": ["full_name", "job_title"]}),
        ("Access", {"fields": ["is_active"]}),
        ("History", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "full_name", "usable_password", "password1", "password2"],
            },
        ),
    ]

    actions = ["reset_two_factor"]

    @admin.action(description="Reset two-factor authentication (lost or new phone)")
    def reset_two_factor(self, request, queryset):
        # How a lost phone is handled: the user sets up a new app at their next sign-in.
        users = list(queryset)
        for user in users:
            devices_reset(user)
        self.message_user(
            request,
            f"Two-factor authentication reset for {len(users)} user(s). They will set it up "
            "again the next time they sign in.",
        )


# django-otp registers its device admin, whose form shows and edits each device's secret key:
# anyone with it could make a user's codes. Devices are only reset (the action above), so the
# admin site does not list them. django-otp's admin module is imported first so this runs after.
import django_otp.plugins.otp_totp.admin  # noqa: E402, F401
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
