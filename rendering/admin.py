"""Read-mostly admin for clones, streams and segments: their state changes go through rendering.services."""
from django.contrib import admin

from consent.admin import ReadOnlyAdmin

from .models import Clone, Segment, Stream


@admin.register(Clone)
class CloneAdmin(ReadOnlyAdmin):
    list_display = ("id", "talent", "license", "status", "sha256_short", "created_at", "ready_at")
    list_filter = ("status",)
    search_fields = ("talent__display_name", "sha256")
    list_select_related = ("talent", "license__brand")

    @admin.display(description="sha256")
    def sha256_short(self, obj):
        return obj.sha256[:16]


class SegmentInline(admin.TabularInline):
    model = Segment
    fields = ("sequence", "start_seconds", "end_seconds", "frame_count", "sha256", "manifest_id",
              "watermark_payload", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Stream)
class StreamAdmin(ReadOnlyAdmin):
    list_display = ("id", "license", "platform", "status", "end_reason", "width", "height", "fps", "created_at",
                    "ended_at")
    list_filter = ("status", "platform", "end_reason")
    search_fields = ("id", "license__brand__name", "license__talent__display_name")
    list_select_related = ("license__brand", "license__talent")
    inlines = [SegmentInline]


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = ("stream", "sequence", "start_seconds", "end_seconds", "sha256", "watermark_payload", "created_at")
    search_fields = ("sha256", "manifest_id", "watermark_payload")
    list_select_related = ("stream",)
