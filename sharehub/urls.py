from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from agencies.access import ALL_ROLES
from core.access import api_roles
from sharehub import views

urlpatterns = [
    path("", views.home, name="home"),
    path("practitioner/", views.practitioner_home, name="practitioner_home"),
    path("ig/", views.ig_home, name="ig_home"),
    path("agency-admin/", views.agency_admin_home, name="agency_admin_home"),
    path("insights/", views.analyst_home, name="analyst_home"),
    path("platform/", views.platform_home, name="platform_home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("", include("agencies.urls")),
    path("", include("matching.urls")),
    path("", include("protocols.urls")),
    path("", include("consent.urls")),
    path("", include("notifications.urls")),
    path("", include("risk.urls")),
    path("", include("alerts.urls")),
    path("", include("insights.urls")),
    path("", include("oversight.urls")),
    path("", include("subject_access.urls")),
    path("", include("retention.urls")),
    path("", include("transparency.urls")),
    path("api/v1/", include("agencies.api_urls")),
    path("api/v1/", include("matching.api_urls")),
    path("api/v1/", include("protocols.api_urls")),
    path("api/v1/", include("consent.api_urls")),
    # The API's description, for anyone signed in or holding a token: it lists what can be asked,
    # never what is held, but an outsider has no use for a map of the service.
    path(
        "api/schema/",
        api_roles(*sorted(ALL_ROLES))(SpectacularAPIView.as_view()),
        name="api_schema",
    ),
    path("api/docs/", views.api_docs, name="api_docs"),
    path("admin/", admin.site.urls),
]

handler400 = views.bad_request
handler403 = views.permission_denied
handler404 = views.page_not_found
handler500 = views.server_error
