from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from accounts.models import User
from agencies.models import Membership
from sharehub.admin import PlatformAdminInline, PlatformAdminPermissions


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
