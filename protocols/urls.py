from django.urls import path

from protocols import views

app_name = "protocols"

urlpatterns = [
    path("protocols/", views.protocol_list, name="protocol_list"),
    path("protocols/new/", views.protocol_new, name="protocol_new"),
    path("protocols/<str:reference>/", views.protocol_detail, name="protocol_detail"),
    path("protocols/<str:reference>/holders/", views.protocol_holders, name="protocol_holders"),
    path(
        "protocols/<str:reference>/versions/<int:number>/",
        views.version_detail,
        name="version_detail",
    ),
    path(
        "protocols/<str:reference>/versions/<int:number>/edit/",
        views.version_edit,
        name="version_edit",
    ),
    # Before the action pattern, which would otherwise take "preview" for an action.
    path(
        "protocols/<str:reference>/versions/<int:number>/preview/",
        views.version_preview,
        name="version_preview",
    ),
    path(
        "protocols/<str:reference>/versions/<int:number>/<str:action>/",
        views.version_action,
        name="version_action",
    ),
    # Before the generic actions below, which would otherwise take "suspend" or "resume" as one.
    path(
        "protocols/<str:reference>/suspend/",
        views.protocol_suspend_confirm,
        name="protocol_suspend",
    ),
    path(
        "protocols/<str:reference>/resume/",
        views.protocol_resume_confirm,
        name="protocol_resume",
    ),
    path("protocols/<str:reference>/<str:action>/", views.protocol_action, name="protocol_action"),
    path("search/", views.search, name="search"),
    path("persons/<str:reference>/", views.summary, name="summary"),
    path("persons/<str:reference>/print/", views.summary_print, name="summary_print"),
    path("persons/<str:reference>/summary.pdf", views.summary_pdf, name="summary_pdf"),
    path("persons/<str:reference>/unlock/", views.unlock, name="unlock"),
]
