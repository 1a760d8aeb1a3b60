"""API representations. Reads show what the policy module lets a user see; writes only parse input,
the services decide."""
from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from rest_framework import serializers

from consent.models import AuditEvent, Brand, ConsentGrant, License, Modality, Platform, Talent, Use
from rendering.models import Clone, Segment, Stream

from ..scope import end_reason_words


class TalentSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Talent
        fields = ["id", "display_name"]


class BrandSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Brand
        fields = ["id", "name", "slug"]


SCOPE_FIELDS = ["modalities", "permitted_uses", "platforms", "allowed_categories", "excluded_categories",
                "territories", "languages", "prohibited_topics", "valid_from", "valid_until"]


class GrantSerializer(serializers.ModelSerializer):
    """A consent record in full, for the talent who gave it and for legal staff."""

    talent = TalentSummarySerializer(read_only=True)

    class Meta:
        model = ConsentGrant
        fields = ["id", "talent", "status", "document_title", "document_version", "document_sha256",
                  "document_text", *SCOPE_FIELDS, "evidence_phrase", "evidence_sha256", "given_at",
                  "revoked_at", "revocation_reason"]
        read_only_fields = fields


class GrantOfferSerializer(serializers.ModelSerializer):
    """What a brand needs to ask for a license: the scope, not the evidence or the legal name."""

    talent = TalentSummarySerializer(read_only=True)

    class Meta:
        model = ConsentGrant
        fields = ["id", "talent", "document_title", "document_version", *SCOPE_FIELDS]
        read_only_fields = fields


class RevokeGrantSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class LicenseSerializer(serializers.ModelSerializer):
    brand = BrandSummarySerializer(read_only=True)
    talent = TalentSummarySerializer(read_only=True)
    grant = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = License
        fields = ["id", "brand", "talent", "grant", "status", "status_reason", "status_changed_at",
                  "modalities", "permitted_uses", "platforms", "product_categories", "territories", "languages",
                  "starts_at", "ends_at", "daily_window_start", "daily_window_end", "max_concurrent_streams",
                  "max_hours_per_day", "max_hours_total", "fee_amount", "fee_currency", "revenue_share_percent",
                  "requested_at", "approved_at", "countersigned_at"]
        read_only_fields = fields


def _list(choices=None, **kwargs):
    child = serializers.ChoiceField(choices=choices) if choices else serializers.CharField(max_length=64)
    return serializers.ListField(child=child, allow_empty=False, **kwargs)


class LicenseScopeInputSerializer(serializers.Serializer):
    modalities = _list(Modality.choices)
    permitted_uses = _list(Use.choices)
    platforms = _list(Platform.choices)
    product_categories = _list()
    territories = _list()
    languages = _list()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    daily_window_start = serializers.TimeField(required=False, allow_null=True, default=None)
    daily_window_end = serializers.TimeField(required=False, allow_null=True, default=None)
    max_concurrent_streams = serializers.IntegerField(min_value=1, max_value=100)
    max_hours_per_day = serializers.DecimalField(max_digits=6, decimal_places=2, min_value=Decimal("0.01"))
    max_hours_total = serializers.DecimalField(max_digits=9, decimal_places=2, min_value=Decimal("0.01"))


class LicenseRequestSerializer(LicenseScopeInputSerializer):
    brand = serializers.IntegerField(help_text="Id of one of your brands.")
    grant = serializers.IntegerField(help_text="Id of an active consent grant (see /api/offers/).")
    fee_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"), default=Decimal("0"))
    fee_currency = serializers.CharField(max_length=3, default="CNY")
    revenue_share_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal("0"), max_value=Decimal("100"), default=Decimal("0")
    )


class CounterSerializer(LicenseScopeInputSerializer):
    """Only the fields the talent narrows; the rest stay as requested."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            if hasattr(field, "default"):
                field.default = serializers.empty

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Give at least one field to narrow.")
        return attrs


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class UsageSerializer(serializers.Serializer):
    license = serializers.IntegerField()
    seconds_today = serializers.FloatField()
    seconds_total = serializers.FloatField()
    hours_total = serializers.FloatField()
    max_hours_total = serializers.DecimalField(max_digits=9, decimal_places=2)
    max_hours_per_day = serializers.DecimalField(max_digits=6, decimal_places=2)
    concurrent_streams = serializers.IntegerField()
    streams = serializers.IntegerField()
    segments = serializers.IntegerField()
    hours_by_platform = serializers.DictField(child=serializers.FloatField())
    fee_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    fee_currency = serializers.CharField()
    revenue_share_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    fee_per_hour = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)


class CloneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Clone
        fields = ["id", "license", "talent", "status", "reasons", "sha256", "created_at", "ready_at", "deleted_at"]
        read_only_fields = fields


class SegmentSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = ["id", "stream", "sequence", "start_seconds", "end_seconds", "frame_count", "sha256",
                  "manifest_id", "watermark_payload", "created_at", "file_url"]
        read_only_fields = fields

    def get_file_url(self, segment) -> str:
        return reverse("portal:segment-file", args=[segment.pk])


class StreamSerializer(serializers.ModelSerializer):
    segments_done = serializers.IntegerField(read_only=True)
    segment_count = serializers.IntegerField(read_only=True)
    seconds_rendered = serializers.FloatField(read_only=True)
    stop_requested = serializers.SerializerMethodField()
    end_reason_text = serializers.SerializerMethodField()
    recording_url = serializers.SerializerMethodField()

    class Meta:
        model = Stream
        fields = ["id", "license", "clone", "status", "platform", "product_category", "territory", "language",
                  "width", "height", "fps", "segment_seconds", "audio_seconds", "script_text",
                  "segments_done", "segment_count", "seconds_rendered", "stop_requested", "end_reason",
                  "end_reason_text", "end_detail", "created_at", "started_at", "ended_at", "recording_sha256",
                  "recording_manifest_id", "recording_url"]
        read_only_fields = fields

    def get_stop_requested(self, stream) -> bool:
        return stream.stop_requested_at is not None

    def get_end_reason_text(self, stream) -> str:
        return end_reason_words(stream.end_reason) if stream.end_reason else ""

    def get_recording_url(self, stream) -> str | None:
        return reverse("portal:stream-recording", args=[stream.pk]) if stream.recording else None


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["sequence", "occurred_at", "actor_id", "actor_repr", "action", "object_type", "object_id",
                  "before", "after", "request_meta", "prev_hash", "hash", "signature", "key_id"]
        read_only_fields = fields


class ChainStatusSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    checked = serializers.IntegerField()
    head_hash = serializers.CharField()
    bad_sequence = serializers.IntegerField(allow_null=True)
    bad_event = serializers.CharField()
    problem = serializers.CharField()
    summary = serializers.CharField()


class VerifyUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A JPEG, PNG or WebP frame, or an MP4 file.")


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    talent = TalentSummarySerializer(allow_null=True)
    brands = BrandSummarySerializer(many=True)
