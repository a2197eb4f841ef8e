from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SharehubConfig(AppConfig):
    default = True
    name = "sharehub"
    verbose_name = "ShareHub"

    def ready(self):
        from django.conf import settings

        # api_schema registers the agency token scheme with drf-spectacular, which finds it by
        # subclass. pipeline connects each stage to the next, in the web, the workers and the
        # embedded default alike: without it nothing follows a loaded extract.
        from sharehub import api_schema, pipeline  # noqa: F401

        if settings.PRODUCTION:
            keys_load_or_refuse()


def keys_load_or_refuse() -> None:
    """Read the master, linkage and audit keys once at start-up, so a deployment with a
    malformed key stops here, saying which, rather than at the first record it seals or matches
    or the first entry it audits."""
    from django.core.exceptions import ImproperlyConfigured

    from core.keys import audit_keys, ingest_public_keys, linkage_keys, master_keys

    for variable, load in (
        ("SHAREHUB_MASTER_KEYS", master_keys),
        ("SHAREHUB_LINKAGE_KEY", linkage_keys),
        ("SHAREHUB_AUDIT_KEY", audit_keys),
        # The public keys, which come from the private ones where this process holds them.
        ("SHAREHUB_INGEST_KEYS", ingest_public_keys),
    ):
        try:
            load()
        except ImproperlyConfigured:
            raise
        except Exception as error:
            # The type only: a parser's message could quote part of the key.
            raise ImproperlyConfigured(
                f"{variable} could not be read ({type(error).__name__}): entries must look like "
                "'1:<base64 of 32 random bytes>'."
            ) from None


class ShareHubAdminConfig(admin_apps.AdminConfig):
    default = False
    # Platform admins manage agencies and users here; the site admits no one else.
    default_site = "sharehub.admin.ShareHubAdminSite"
