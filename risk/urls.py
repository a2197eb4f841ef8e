from django.urls import path

from risk import views

app_name = "risk"

urlpatterns = [
    path("risk/indicators/", views.indicator_list, name="indicator_list"),
    path("risk/indicators/new/", views.indicator_new, name="indicator_new"),
    path("risk/indicators/<int:pk>/", views.indicator_edit, name="indicator_edit"),
    path("persons/<str:reference>/risk/", views.person_risk_page, name="person_risk"),
]
