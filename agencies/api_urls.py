from django.urls import path

from agencies import api

app_name = "agencies_api"

urlpatterns = [
    path("datasets/", api.dataset_list, name="dataset_list"),
    path("datasets/<int:pk>/", api.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/extracts/", api.dataset_extracts, name="dataset_extracts"),
    path("datasets/<int:pk>/quality/", api.dataset_quality_api, name="dataset_quality"),
    path("extracts/<int:pk>/", api.extract_detail, name="extract_detail"),
    path("ingest-key/", api.ingest_key, name="ingest_key"),
    path("datasets/<int:pk>/sealed-uploads/", api.sealed_uploads, name="sealed_uploads"),
    path("sealed-uploads/<uuid:upload_id>/", api.sealed_upload_detail, name="sealed_upload_detail"),
    path(
        "sealed-uploads/<uuid:upload_id>/chunks/<int:index>/",
        api.sealed_upload_chunk,
        name="sealed_upload_chunk",
    ),
    path(
        "sealed-uploads/<uuid:upload_id>/complete/",
        api.sealed_upload_complete_view,
        name="sealed_upload_complete",
    ),
    path("extracts/<int:pk>/rejected-rows.csv", api.extract_quarantine, name="extract_quarantine"),
]
