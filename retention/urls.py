from django.urls import path

from retention import views

app_name = "retention"

urlpatterns = [
    path("retention/", views.retention_list, name="retention_list"),
    path("datasets/<int:pk>/retention/", views.retention_period, name="retention_period"),
    path("datasets/<int:pk>/withdraw/", views.dataset_withdraw, name="dataset_withdraw"),
    path("extracts/<int:pk>/withdraw/", views.extract_withdraw, name="extract_withdraw"),
    path("erasures/", views.erasure_list, name="erasure_list"),
    path("erasures/<int:pk>/", views.erasure_detail, name="erasure_detail"),
    path("erasures/<int:pk>/progress/", views.erasure_progress, name="erasure_progress"),
]
