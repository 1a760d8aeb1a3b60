"""Django admin: look-up and support. Consent and license state changes belong to the services (and the
portal), which check transitions and write the ledger, so those fields are read-only here and the
ledger cannot be touched at all."""
from django.contrib import admin

from .models import AuditEvent, Brand, BrandMembership, ConsentGrant, License, LikenessAsset, PlatformRole, Talent


@admin.register(PlatformRole)
class PlatformRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]


@admin.register(Talent)
class TalentAdmin(admin.ModelAdmin):
    list_display = ["display_name", "legal_name", "user", "verification", "created_at"]
    list_filter = ["verification"]
    search_fields = ["display_name", "legal_name", "user__username", "user__email"]
    readonly_fields = ["verification", "verified_at", "created_at"]


class BrandMembershipInline(admin.TabularInline):
    model = BrandMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [BrandMembershipInline]


@admin.register(BrandMembership)
class BrandMembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "brand", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "brand__name"]


@admin.register(LikenessAsset)
class LikenessAssetAdmin(admin.ModelAdmin):
    list_display = ["talent", "kind", "sha256", "content_type", "size_bytes", "uploaded_at", "deleted_at"]
    list_filter = ["kind", "content_type", ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["talent__display_name", "sha256"]
    readonly_fields = [f.name for f in LikenessAsset._meta.fields]

    def has_add_permission(self, request):
        return False  # uploads are validated by content in consent.services.upload_likeness_asset


@admin.register(ConsentGrant)
class ConsentGrantAdmin(admin.ModelAdmin):
    list_display = ["pk", "talent", "document_version", "status", "valid_from", "valid_until", "given_at",
                    "revoked_at"]
    list_filter = ["status", "document_version"]
    search_fields = ["talent__display_name", "talent__legal_name", "document_title", "document_sha256"]
    date_hierarchy = "given_at"
    readonly_fields = [f.name for f in ConsentGrant._meta.fields]

    def has_add_permission(self, request):
        return False  # only the talent gives consent (consent.services.grant_consent)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ["pk", "brand", "talent", "status", "starts_at", "ends_at", "max_concurrent_streams",
                    "status_changed_at"]
    list_filter = ["status", "brand"]
    search_fields = ["brand__name", "talent__display_name", "status_reason"]
    date_hierarchy = "requested_at"
    readonly_fields = [f.name for f in License._meta.fields]

    def has_add_permission(self, request):
        return False  # brands request licenses through consent.services.request_license

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that are evidence (the ledger, hashes, manifests): the admin shows them, never edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "occurred_at", "action", "object_type", "object_id", "actor_repr"]
    list_filter = ["action", "object_type", "occurred_at"]
    search_fields = ["action", "object_type", "object_id", "actor_repr", "hash"]
    date_hierarchy = "occurred_at"
    ordering = ["-sequence"]
