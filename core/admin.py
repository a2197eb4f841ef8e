"""What the configuration models' admins share: the site decides who may administer, and these
give that person every permission on the models registered with them.

The admin holds configuration (agencies, users, memberships), never person data.
"""

from django.contrib import admin


class PlatformAdminPermissions:
    """Whoever the admin site admits holds every permission on the configuration models
    registered with this: platform admins, as the site (sharehub.admin) decides."""

    admin_site: admin.AdminSite  # set by the model admin or inline this is mixed into

    def has_module_permission(self, request):
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request):
        return self.admin_site.has_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)


class PlatformAdminModelAdmin(PlatformAdminPermissions, admin.ModelAdmin):
    pass


class PlatformAdminInline(PlatformAdminPermissions, admin.TabularInline):
    def has_add_permission(self, request, obj=None):
        return self.admin_site.has_permission(request)
