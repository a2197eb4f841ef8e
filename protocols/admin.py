from django.contrib import admin

from core.admin import PlatformAdminModelAdmin
from protocols.models import SealRule
from protocols.seals import seals_remark_later


@admin.register(SealRule)
class SealRuleAdmin(PlatformAdminModelAdmin):
    """Partnership-wide sealing rules (no version), set by platform admins; a protocol's own
    rules are written on its form and change only with a new version."""

    list_display = ["dataset", "field_key", "value", "indicator", "version", "created_at"]
    list_filter = ["dataset"]
    fields = ["dataset", "field_key", "value", "indicator", "reason"]
    readonly_fields = ["version"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("dataset__agency", "indicator")

    def has_change_permission(self, request, obj=None):
        # A protocol's rules follow its approval; only partnership-wide ones are edited here.
        return super().has_change_permission(request, obj) and (obj is None or not obj.version_id)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or not obj.version_id)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        obj.value = obj.value.strip()
        super().save_model(request, obj, form, change)
        seals_remark_later([obj.dataset_id])

    def delete_model(self, request, obj):
        # The records it sealed are unsealed: scores and alerts count them again.
        dataset_id = obj.dataset_id
        super().delete_model(request, obj)
        seals_remark_later([dataset_id])

    def delete_queryset(self, request, queryset):
        dataset_ids = set(queryset.values_list("dataset_id", flat=True))
        super().delete_queryset(request, queryset)
        seals_remark_later(dataset_ids)
