from django.urls import path

from consent import api

app_name = "consent_api"

urlpatterns = [
    path("persons/<str:reference>/consent", api.person_consent, name="person_consent"),
    path(
        "persons/<str:reference>/consent/<int:pk>/withdraw",
        api.consent_withdrawal,
        name="consent_withdrawal",
    ),
    path("persons/<str:reference>/consent-requests", api.person_request, name="person_request"),
    path("persons/<str:reference>/overrides", api.person_override, name="person_override"),
    path("consent-requests", api.request_list, name="request_list"),
    path("consent-requests/<int:pk>/answer", api.request_answer, name="request_answer"),
    path("overrides", api.override_list, name="override_list"),
    path("overrides/<int:pk>/review", api.override_review_api, name="override_review"),
    path("notifications", api.notification_list, name="notification_list"),
]
