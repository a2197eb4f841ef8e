from django.urls import path

from protocols import api

app_name = "protocols_api"

urlpatterns = [
    path("protocols/", api.protocol_list, name="protocol_list"),
    path("protocols/<str:reference>/holders", api.holders, name="holders"),
    path(
        "protocols/<str:reference>/versions/<int:number>",
        api.version_detail,
        name="version_detail",
    ),
    path(
        "protocols/<str:reference>/versions/<int:number>/<str:action>",
        api.version_action,
        name="version_action",
    ),
    path("protocols/<str:reference>/<str:action>", api.protocol_action, name="protocol_action"),
    path("datasets/<int:pk>/fields", api.dataset_fields, name="dataset_fields"),
    path("search", api.search, name="search"),
    path("persons/<str:reference>/summary", api.summary, name="summary"),
    path("persons/<str:reference>/unlock", api.unlock, name="unlock"),
]
