"""Clones, streams and their segments. State changes go through `rendering.services`."""
from __future__ import annotations

import math

from django.conf import settings
from django.db import models
from django.db.models import Q

from consent.models import License, LikenessAsset, Talent


class Clone(models.Model):
    """A talent's normalised likeness, built (gated) from a license's consented assets."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        READY = "ready", "Ready"
        DENIED = "denied", "Denied by the license gate"
        FAILED = "failed", "Failed"
        DELETED = "deleted", "Deleted"

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="clones")
    talent = models.ForeignKey(Talent, on_delete=models.PROTECT, related_name="clones")
    source_asset = models.ForeignKey(LikenessAsset, on_delete=models.PROTECT, related_name="clones")
    voice_asset = models.ForeignKey(
        LikenessAsset, on_delete=models.PROTECT, null=True, blank=True, related_name="voice_clones"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Normalised portrait (cropped face, fixed size) and the face/mouth geometry found in it.
    portrait = models.FileField(upload_to="clones/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    geometry = models.JSONField(default=dict, blank=True)
    reasons = models.JSONField(default=list, blank=True)  # gate reason codes or failure detail
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A ready clone always names the exact portrait it renders from.
            models.CheckConstraint(condition=~Q(status="ready") | ~Q(sha256=""), name="clone_ready_has_hash"),
        ]

    def __str__(self) -> str:
        return f"Clone #{self.pk} of {self.talent} ({self.status})"


def default_stream_modalities() -> list[str]:
    return ["face"]


class Stream(models.Model):
    """A brand's licensed livestream, rendered segment by segment."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"
        DENIED = "denied", "Denied by the license gate"
        FAILED = "failed", "Failed"

    class Orientation(models.TextChoices):
        LANDSCAPE = "landscape", "Landscape 16:9"
        PORTRAIT = "portrait", "Vertical 9:16"

    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="streams")
    clone = models.ForeignKey(Clone, on_delete=models.PROTECT, related_name="streams")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    script_text = models.TextField(blank=True)
    audio = models.FileField(upload_to="stream-audio/")  # the upload as it came (evidence)
    audio_sha256 = models.CharField(max_length=64)
    audio_seconds = models.FloatField()
    # The same audio decoded once to 16 kHz mono signed 16-bit little-endian PCM: segments read windows of it.
    audio_pcm = models.FileField(upload_to="stream-audio/")
    platform = models.CharField(max_length=32)
    product_category = models.CharField(max_length=64)
    territory = models.CharField(max_length=8)
    language = models.CharField(max_length=16)
    # Likeness modalities the stream uses, checked by the gate at every segment: ["face"] or ["face", "voice"].
    modalities = models.JSONField(default=default_stream_modalities)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    fps = models.PositiveIntegerField(default=25)
    segment_seconds = models.FloatField(default=2.0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Set (by revocation, suspension, or a user) to make the render loop stop at the next segment.
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=64, blank=True)  # stable code, e.g. "license_revoked"
    end_detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The whole recording, signed with the segments as ingredients, once the stream has ended.
    recording = models.FileField(upload_to="streams/", blank=True)
    recording_sha256 = models.CharField(max_length=64, blank=True)
    recording_manifest_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(width__gte=64, height__gte=64), name="stream_min_size"),
            models.CheckConstraint(condition=Q(fps__gte=1, fps__lte=60), name="stream_fps_range"),
            models.CheckConstraint(
                condition=Q(segment_seconds__gte=0.5, segment_seconds__lte=10), name="stream_segment_seconds_range"
            ),
            models.CheckConstraint(condition=Q(audio_seconds__gt=0), name="stream_has_audio"),
        ]

    def __str__(self) -> str:
        return f"Stream #{self.pk} ({self.status})"

    @property
    def segment_count(self) -> int:
        return max(1, math.ceil(self.audio_seconds / self.segment_seconds - 1e-9))

    @property
    def orientation(self) -> str:
        return self.Orientation.PORTRAIT if self.height > self.width else self.Orientation.LANDSCAPE

    @property
    def is_live(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    def segment_span(self, sequence: int) -> tuple[float, float]:
        """(start, end) seconds of segment `sequence`; the last one ends with the audio."""
        start = sequence * self.segment_seconds
        return start, min(self.audio_seconds, start + self.segment_seconds)

    def frame_range(self, sequence: int) -> tuple[int, int]:
        """[first, end) stream-wide frame indices of segment `sequence`, on a fixed frame grid."""
        start, end = self.segment_span(sequence)
        return round(start * self.fps), max(round(start * self.fps) + 1, round(end * self.fps))


class Segment(models.Model):
    """One published, labelled, watermarked and signed piece of a stream.

    A row exists only once its file is complete: nothing unlabelled is ever visible.
    """

    stream = models.ForeignKey(Stream, on_delete=models.PROTECT, related_name="segments")
    sequence = models.PositiveIntegerField()
    start_seconds = models.FloatField()
    end_seconds = models.FloatField()
    frame_count = models.PositiveIntegerField()
    file = models.FileField(upload_to="streams/")
    sha256 = models.CharField(max_length=64)
    manifest_id = models.CharField(max_length=200)
    # C2PA live-video continuity (c2pa.livevideo.segment): the manifest of segment sequence - 1.
    previous_manifest_id = models.CharField(max_length=200, blank=True)
    # Hex of the payload embedded in frame 0; frame i carries the same stream and segment with frame=i.
    watermark_payload = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["stream", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "sequence"], name="unique_segment_sequence"),
        ]

    def __str__(self) -> str:
        return f"Segment {self.sequence} of stream #{self.stream_id}"

    @property
    def duration_seconds(self) -> float:
        return self.end_seconds - self.start_seconds
