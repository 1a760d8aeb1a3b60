"""Consent and licensing records: who consented, to what, under which document, with what evidence.

Models hold data and invariants only. Every state change goes through `consent.services`, which
checks the transition and writes the audit event in the same transaction.
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from .exceptions import AppendOnlyViolation


class Modality(models.TextChoices):
    FACE = "face", "Face"
    VOICE = "voice", "Voice"


class Use(models.TextChoices):
    CLONE_CREATION = "clone_creation", "Clone creation"
    LIVE_RENDERING = "live_rendering", "Live rendering"
    RECORDED_VIDEO = "recorded_video", "Recorded video"


class Platform(models.TextChoices):
    TAOBAO = "taobao", "Taobao Live"
    JD = "jd", "JD Live"
    DOUYIN = "douyin", "Douyin"
    KUAISHOU = "kuaishou", "Kuaishou"
    OTHER = "other", "Other"


class PlatformRole(models.Model):
    """Staff roles that are not tied to a talent or a brand."""

    class Role(models.TextChoices):
        LEGAL_REVIEWER = "legal_reviewer", "Legal reviewer"
        PLATFORM_ADMIN = "platform_admin", "Platform admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="platform_roles")
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="unique_platform_role")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()}"


class Talent(models.Model):
    """An influencer whose face and voice may be cloned, only with their consent."""

    class Verification(models.TextChoices):
        UNVERIFIED = "unverified", "Unverified"
        PENDING = "pending", "Pending review"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="talent")
    display_name = models.CharField(max_length=120)
    legal_name = models.CharField(max_length=200)
    verification = models.CharField(max_length=16, choices=Verification.choices, default=Verification.UNVERIFIED)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name


class Brand(models.Model):
    """An organisation that licenses clones; its members act for it."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="BrandMembership", related_name="brands")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BrandMembership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="brand_memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "user"], name="unique_brand_member")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.brand}"


def likeness_upload_path(instance: "LikenessAsset", filename: str) -> str:
    # Content-addressed: the name never carries what the uploader called the file.
    return f"likeness/{instance.talent_id}/{instance.sha256}{instance.extension}"


class LikenessAsset(models.Model):
    """Reference media of a talent. After deletion (PIPL Art. 47) only the hash remains."""

    class Kind(models.TextChoices):
        PORTRAIT = "portrait", "Portrait image"
        VOICE = "voice", "Voice sample"

    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="assets")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    file = models.FileField(upload_to=likeness_upload_path, blank=True)
    sha256 = models.CharField(max_length=64)
    extension = models.CharField(max_length=8)
    content_type = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            # An erased asset keeps its hash as evidence; the same media may be uploaded again later.
            models.UniqueConstraint(
                fields=["talent", "sha256"], condition=Q(deleted_at__isnull=True), name="unique_live_asset_per_talent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.talent} ({self.sha256[:12]})"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class ConsentGrant(models.Model):
    """One signed consent document. A revoked grant stays revoked; a new consent is a new record."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REVOKED = "revoked", "Revoked"

    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="consent_grants")
    # The document exactly as shown to the talent.
    document_title = models.CharField(max_length=200)
    document_version = models.CharField(max_length=32)
    document_text = models.TextField()
    document_sha256 = models.CharField(max_length=64)
    # Scope. Lists of choice values; empty list means "none", never "any".
    modalities = models.JSONField(default=list)  # [Modality]
    permitted_uses = models.JSONField(default=list)  # [Use]
    platforms = models.JSONField(default=list)  # [Platform]
    allowed_categories = models.JSONField(default=list)  # product categories, e.g. "cosmetics"
    excluded_categories = models.JSONField(default=list)
    territories = models.JSONField(default=list)  # ISO 3166-1 alpha-2, e.g. "CN"
    languages = models.JSONField(default=list)  # BCP 47, e.g. "zh-CN"
    prohibited_topics = models.JSONField(default=list)  # words or phrases the clone must never say
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    # Evidence: a recorded statement containing a one-time phrase (as HeyGen and D-ID require).
    evidence_phrase = models.CharField(max_length=120, blank=True)
    evidence_file = models.FileField(upload_to="consent-evidence/", blank=True)
    evidence_sha256 = models.CharField(max_length=64, blank=True)
    # How it was given.
    given_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    given_at = models.DateTimeField()
    given_ip = models.GenericIPAddressField(null=True, blank=True)
    given_user_agent = models.CharField(max_length=400, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revocation_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-given_at"]
        constraints = [
            models.CheckConstraint(condition=Q(valid_until__gt=models.F("valid_from")), name="grant_valid_range"),
            models.CheckConstraint(
                condition=(Q(status="revoked", revoked_at__isnull=False) | Q(status="active", revoked_at__isnull=True)),
                name="grant_revoked_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"Consent #{self.pk} of {self.talent} (v{self.document_version}, {self.status})"

    def clean(self) -> None:
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValidationError({"valid_until": "Must be after valid_from."})
        unknown = set(self.modalities) - set(Modality.values)
        if unknown:
            raise ValidationError({"modalities": f"Unknown modalities: {sorted(unknown)}."})
        unknown = set(self.permitted_uses) - set(Use.values)
        if unknown:
            raise ValidationError({"permitted_uses": f"Unknown uses: {sorted(unknown)}."})


class License(models.Model):
    """A brand's license to a talent's clone, inside one consent grant.

    The request is the license in state `requested`; the allowed moves are in
    `consent.services.LICENSE_TRANSITIONS`.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested"
        COUNTERED = "countered", "Countered by talent"
        APPROVED = "approved", "Approved by talent"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn by brand"
        COUNTERSIGNED = "countersigned", "Countersigned by legal"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"
        COMPLETED = "completed", "Completed"

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="licenses")
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="licenses")
    grant = models.ForeignKey(ConsentGrant, on_delete=models.PROTECT, related_name="licenses")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Scope: each list must be a subset of the grant's (checked by the service, naming the field).
    modalities = models.JSONField(default=list)
    permitted_uses = models.JSONField(default=list)
    platforms = models.JSONField(default=list)
    product_categories = models.JSONField(default=list)
    territories = models.JSONField(default=list)
    languages = models.JSONField(default=list)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    # Optional daily window (local time of TIME_ZONE) in which rendering is allowed.
    daily_window_start = models.TimeField(null=True, blank=True)
    daily_window_end = models.TimeField(null=True, blank=True)
    max_concurrent_streams = models.PositiveIntegerField(default=1)
    max_hours_per_day = models.DecimalField(max_digits=6, decimal_places=2)
    max_hours_total = models.DecimalField(max_digits=9, decimal_places=2)
    fee_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    fee_currency = models.CharField(max_length=3, default="CNY")
    revenue_share_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REQUESTED)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    status_reason = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    countersigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    countersigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="license_term_range"),
            models.CheckConstraint(condition=Q(max_concurrent_streams__gte=1), name="license_min_one_stream"),
            models.CheckConstraint(
                condition=Q(revenue_share_percent__gte=0, revenue_share_percent__lte=100),
                name="license_revenue_share_range",
            ),
        ]

    def __str__(self) -> str:
        return f"License #{self.pk}: {self.brand} × {self.talent} ({self.status})"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "Must be after starts_at."})
        if (self.daily_window_start is None) != (self.daily_window_end is None):
            raise ValidationError({"daily_window_end": "Give both ends of the daily window, or neither."})


class AuditEventQuerySet(models.QuerySet):
    """Bulk writes bypass Model.save/delete, so they are refused here too."""

    def update(self, **kwargs):
        raise AppendOnlyViolation()

    def delete(self):
        raise AppendOnlyViolation()


class AuditEvent(models.Model):
    """One link of the tamper-evident ledger. Append-only: rows are never updated or deleted.

    `hash` = sha256(prev_hash || canonical JSON of the event); `signature` = Ed25519 over `hash`.
    Actors are stored by id and name, not by foreign key, so that nothing outside can rewrite a row.
    """

    sequence = models.PositiveBigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_repr = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_meta = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    signature = models.CharField(max_length=128)  # hex
    key_id = models.CharField(max_length=64)  # sha256 of the raw public key, hex

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnlyViolation()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyViolation()
