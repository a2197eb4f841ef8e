from django.urls import path

from subject_access import views

app_name = "subject_access"

urlpatterns = [
    path("subject-access/", views.find, name="find"),
    # Before the person pattern, which would take "parts" for a reference.
    path("subject-access/parts/", views.parts, name="parts"),
    path("subject-access/parts/<int:pk>/", views.part, name="part"),
    path("subject-access/<str:reference>/", views.report, name="report"),
    path("subject-access/<str:reference>/ask/", views.ask, name="ask"),
    path("subject-access/<str:reference>/report.pdf", views.report_pdf, name="report_pdf"),
]
