from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("alerts/", views.inbox, name="inbox"),
    path("alerts/subscriptions/", views.subscriptions, name="subscriptions"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert_detail"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge_view, name="acknowledge"),
    path("alerts/<int:pk>/assign/", views.alert_assign_view, name="assign"),
    path("alerts/<int:pk>/close/", views.alert_close_view, name="close"),
    path("alert-rules/", views.rule_list, name="rule_list"),
    path("alert-rules/new/", views.rule_new, name="rule_new"),
    path("alert-rules/<int:pk>/", views.rule_edit, name="rule_edit"),
]
