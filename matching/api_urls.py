from django.urls import path

from matching import api

app_name = "matching_api"

urlpatterns = [
    path("review-items/", api.review_item_list, name="review_item_list"),
    path("review-items/<int:pk>/", api.review_item_detail, name="review_item_detail"),
    path("review-items/<int:pk>/decision", api.review_item_decision, name="review_item_decision"),
    path("persons/<str:reference>/explain", api.person_explain_view, name="person_explain"),
    path("linkage/export", api.linkage_export, name="linkage_export"),
]
