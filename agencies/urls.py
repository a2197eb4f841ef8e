from django.urls import path

from agencies import views

app_name = "agencies"

urlpatterns = [
    path("partnership/", views.partnership, name="partnership"),
    path("agency/team/", views.team, name="team"),
    path("account/role/", views.switch_role, name="switch_role"),
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/new/", views.dataset_new, name="dataset_new"),
    path("datasets/new/mapping/", views.dataset_create, name="dataset_create"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/mapping/", views.dataset_mapping, name="dataset_mapping"),
    path("datasets/<int:pk>/upload/", views.extract_upload, name="extract_upload"),
    path("datasets/<int:pk>/quality/", views.dataset_quality, name="dataset_quality"),
    path("extracts/<int:pk>/", views.extract_detail, name="extract_detail"),
    path("extracts/<int:pk>/progress/", views.extract_progress, name="extract_progress"),
    path("api-tokens/", views.api_tokens, name="api_tokens"),
    path("api-tokens/<int:pk>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
    path(
        "extracts/<int:pk>/rejected-rows.csv",
        views.extract_quarantine_download,
        name="extract_quarantine",
    ),
    path(
        "extracts/<int:pk>/warnings.csv",
        views.extract_warnings_download,
        name="extract_warnings",
    ),
]
