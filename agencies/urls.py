from django.urls import path

from agencies import views

app_name = "agencies"

urlpatterns = [
    path("partnership/", views.partnership, name="partnership"),
    path("agency/team/", views.team, name="team"),
    path("account/role/", views.switch_role, name="switch_role"),
]
