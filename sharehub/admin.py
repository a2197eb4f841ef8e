"""The Django admin, for platform admins only.

It holds configuration (agencies, users, memberships), never person data: records about
children and families are read through the disclosure engine, which the admin does not use.
"""

from functools import wraps

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from agencies.access import is_platform_admin


def may_administer(user) -> bool:
    # A Django superuser is the break-glass account made with createsuperuser on the server.
    return bool(user.is_active and (user.is_superuser or is_platform_admin(user)))


class ShareHubAdminSite(admin.AdminSite):
    site_header = "ShareHub platform administration"
    site_title = "ShareHub admin"
    index_title = "Agencies, users and roles"

    def has_permission(self, request: HttpRequest) -> bool:
        return may_administer(request.user)

    def admin_view(self, view, cacheable=False):
        admitted = super().admin_view(view, cacheable)

        @wraps(view)
        def refuse_signed_in_outsiders(request, *args, **kwargs):
            # The stock site sends everyone without permission to its own login form; ShareHub
            # has one sign-in page, and answers 403 like every other page a role does not include.
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not self.has_permission(request):
                raise PermissionDenied("Only platform admins can use the admin site.")
            return admitted(request, *args, **kwargs)

        return refuse_signed_in_outsiders

    def login(self, request, extra_context=None):
        # One sign-in page for the whole service; signed-in users without the role get a 403
        # like every other page, not the admin's own login form.
        if request.user.is_authenticated:
            raise PermissionDenied("Only platform admins can use the admin site.")
        return redirect_to_login(request.GET.get("next", request.get_full_path()))
