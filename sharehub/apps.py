from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SharehubConfig(AppConfig):
    default = True
    name = "sharehub"
    verbose_name = "ShareHub"

    def ready(self):
        # Registers the agency token scheme with drf-spectacular, which finds it by subclass.
        from sharehub import api_schema  # noqa: F401


class ShareHubAdminConfig(admin_apps.AdminConfig):
    default = False
    # Platform admins manage agencies and users here; the site admits no one else.
    default_site = "sharehub.admin.ShareHubAdminSite"
