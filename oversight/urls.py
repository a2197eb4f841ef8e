from django.urls import path

from oversight import views

# The pages are the audit trail's, under /audit/, and are reversed as "audit:..." by the
# templates, the navigation and the links notifications carry: the namespace names the pages.
app_name = "audit"

urlpatterns = [
    path("audit/", views.audit_page, name="audit"),
    path("audit/export.csv", views.audit_export, name="export"),
    path("audit/reads/", views.reads_page, name="reads"),
    path("audit/reads/export.csv", views.reads_export, name="reads_export"),
    path("audit/reads/flags/<int:flag_id>/ask/", views.question_ask, name="question_ask"),
    path("audit/questions/<int:pk>/", views.question_page, name="question"),
]
