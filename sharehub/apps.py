from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SharehubConfig(AppConfig):
    default = True
    name = "sharehub"
    verbose_name = "ShareHub"


class ShareHubAdminConfig(admin_apps.AdminConfig):
    default = False
    # Platform admins manage agencies and users here; the site admits no one else.
    default_site = "sharehub.admin.ShareHubAdminSite"
