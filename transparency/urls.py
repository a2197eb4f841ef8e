from django.urls import path

from transparency import views

app_name = "transparency"

urlpatterns = [
    path("transparency/", views.register, name="register"),
    path("transparency/privacy/", views.privacy_notice, name="privacy"),
    path("transparency.json", views.register_json, name="register_json"),
]
