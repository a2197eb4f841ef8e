from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("insights/dashboard/", views.dashboard, name="dashboard"),
    path("insights/tables/<slug:name>.csv", views.table_csv, name="table_csv"),
    path("insights/people/", views.people, name="people"),
    path("insights/export/", views.export, name="export"),
    path("insights/evaluations/new/", views.evaluation_new, name="evaluation_new"),
]
