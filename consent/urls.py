from django.urls import path

from consent import views

app_name = "consent"

urlpatterns = [
    path("persons/<str:reference>/consent/", views.person_consent, name="person_consent"),
    path(
        "persons/<str:reference>/consent/<int:record_id>/withdraw/",
        views.person_consent_withdraw,
        name="person_consent_withdraw",
    ),
    path("persons/<str:reference>/consent-request/", views.request_new, name="request_new"),
    path("persons/<str:reference>/override/", views.override_new, name="override_new"),
    path("consent/<int:pk>/", views.statement_detail, name="statement"),
    path("consent-requests/", views.request_list, name="request_list"),
    path("consent-requests/<int:pk>/", views.request_detail, name="request_detail"),
    path("consent-requests/<int:pk>/cancel/", views.request_cancel, name="request_cancel"),
    path("overrides/", views.override_list, name="override_list"),
    path("overrides/<int:pk>/", views.override_detail, name="override_detail"),
    path("overrides/<int:pk>/end/", views.override_stop, name="override_stop"),
]
