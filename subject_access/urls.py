from django.urls import path

from subject_access import views

app_name = "subject_access"

urlpatterns = [
    path("subject-access/", views.find, name="find"),
    path("subject-access/<str:reference>/", views.report, name="report"),
    path("subject-access/<str:reference>/report.pdf", views.report_pdf, name="report_pdf"),
]
