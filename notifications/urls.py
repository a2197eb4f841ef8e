from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.notification_list, name="list"),
    path("notifications/<int:pk>/", views.notification_open, name="open"),
    path("notifications/read/", views.notifications_read_all, name="read_all"),
]
