from django.contrib import admin

from agencies.models import Agency, Membership
from core.admin import PlatformAdminInline, PlatformAdminModelAdmin


class AgencyMembershipInline(PlatformAdminInline):
    model = Membership
    fields = ["user", "role", "is_active"]
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Agency)
class AgencyAdmin(PlatformAdminModelAdmin):
    list_display = ["name", "code", "kind", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "code"]
    inlines = [AgencyMembershipInline]


@admin.register(Membership)
class MembershipAdmin(PlatformAdminModelAdmin):
    list_display = ["user", "agency", "role", "is_active"]
    list_filter = ["role", "is_active", "agency"]
    search_fields = ["user__full_name", "user__email", "agency__name"]
    autocomplete_fields = ["user", "agency"]
