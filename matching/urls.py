from django.urls import path

from matching import views

app_name = "matching"

urlpatterns = [
    path("review/", views.review_queue_view, name="review_queue"),
    path("review/<int:pk>/", views.review_item_view, name="review_item"),
    path("persons/<str:reference>/explain/", views.person_explain_view, name="person_explain"),
    path(
        "persons/<str:reference>/records/<int:record>/not-this-person/",
        views.challenge_wrong_view,
        name="challenge_wrong",
    ),
    path(
        "persons/<str:reference>/same-person/<str:other>/",
        views.challenge_missed_view,
        name="challenge_missed",
    ),
    path("link-reports/<int:pk>/", views.challenge_detail_view, name="challenge_detail"),
    path("linkage/export/", views.linkage_export_view, name="linkage_export"),
    path("linkage/", views.linkage_status_view, name="linkage_status"),
    path("linkage/runs/<int:pk>/", views.linkage_run_view, name="linkage_run"),
    path(
        "linkage/runs/<int:pk>/progress/", views.linkage_run_progress, name="linkage_run_progress"
    ),
]
