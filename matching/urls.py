from django.urls import path

from matching import views

app_name = "matching"

urlpatterns = [
    path("review/", views.review_queue_view, name="review_queue"),
    path("review/<int:pk>/", views.review_item_view, name="review_item"),
    path("persons/<str:reference>/explain/", views.person_explain_view, name="person_explain"),
    path("linkage/export/", views.linkage_export_view, name="linkage_export"),
]
