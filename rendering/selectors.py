"""Reused reads of clones, streams and segments, including the watermark payload lookup."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from consent.models import License, LikenessAsset, Talent, Use
from consent.policy import UseRequest
from watermark.payload import parse_payload

from .models import Clone, Segment, Stream


def use_request(use: str, modalities, *, platform=None, product_category=None, territory=None, language=None,
                script_text: str = "", seconds: float = 0.0, stream_id: int | None = None) -> UseRequest:
    return UseRequest(
        use=str(use), modalities=frozenset(modalities), platform=platform, product_category=product_category,
        territory=territory, language=language, script_text=script_text, seconds=seconds, stream_id=stream_id,
    )


def segment_use_request(stream: Stream, sequence: int) -> UseRequest:
    """What segment `sequence` of `stream` asks of the gate: the stream's scope and the segment's seconds."""
    start, end = stream.segment_span(sequence)
    return use_request(
        Use.LIVE_RENDERING, stream.modalities, platform=stream.platform, product_category=stream.product_category,
        territory=stream.territory, language=stream.language, script_text=stream.script_text,
        seconds=end - start, stream_id=stream.pk,
    )


def latest_asset(*, talent_id: int, kind: str) -> LikenessAsset | None:
    return (LikenessAsset.objects.filter(talent_id=talent_id, kind=kind, deleted_at__isnull=True)
            .order_by("-uploaded_at").first())


def clones_for_license(license: License) -> QuerySet[Clone]:
    return Clone.objects.filter(license=license).select_related("talent", "source_asset")


def streams_for_license(license: License) -> QuerySet[Stream]:
    return Stream.objects.filter(license=license).select_related("clone")


def live_streams(*, license_ids=None) -> QuerySet[Stream]:
    qs = Stream.objects.filter(status__in=(Stream.Status.QUEUED, Stream.Status.RUNNING))
    return qs if license_ids is None else qs.filter(license_id__in=list(license_ids))


def published_segments(stream: Stream | int) -> QuerySet[Segment]:
    """Segments are rows only once labelled, watermarked and signed: every row here is publishable."""
    stream_id = stream.pk if isinstance(stream, Stream) else stream
    return Segment.objects.filter(stream_id=stream_id).order_by("sequence")


@dataclass(frozen=True)
class PayloadMatch:
    """Who and what a watermark payload points to."""

    stream: Stream
    segment: Segment | None  # None when the segment was never published (e.g. discarded at a revocation)
    frame: int  # frame index within the segment
    stream_frame: int | None  # frame index within the whole stream, when the segment is known
    seconds: float | None  # position in the stream of that frame
    license: License
    talent: Talent

    def as_dict(self) -> dict:
        return {
            "stream": self.stream.pk, "segment": self.segment.sequence if self.segment else None,
            "segment_sha256": self.segment.sha256 if self.segment else None,
            "frame": self.frame, "stream_frame": self.stream_frame, "seconds": self.seconds,
            "license": self.license.pk, "brand": self.license.brand.name,
            "talent": self.talent.pk, "talent_name": self.talent.display_name,
            "stream_status": self.stream.status, "stream_started_at":
                self.stream.started_at.isoformat() if self.stream.started_at else None,
        }


def lookup_payload(payload) -> PayloadMatch | None:
    """Resolve a watermark payload (a `watermark.payload.Payload` or its hex) to stream, segment and people.

    Returns None when no stream has that id (a payload from another platform, or a forgery).
    """
    if isinstance(payload, str):
        payload = parse_payload(payload)  # ValueError names the expected form
    stream = (Stream.objects.select_related("license__brand", "license__talent")
              .filter(pk=payload.stream_id).first())
    if stream is None:
        return None
    segment = Segment.objects.filter(stream=stream, sequence=payload.segment).first()
    stream_frame = seconds = None
    if segment is not None:
        stream_frame = stream.frame_range(segment.sequence)[0] + payload.frame
        seconds = stream_frame / stream.fps
    return PayloadMatch(stream=stream, segment=segment, frame=payload.frame, stream_frame=stream_frame,
                        seconds=seconds, license=stream.license, talent=stream.license.talent)


def segment_for_file(*, sha256: str) -> Segment | None:
    """A published segment by the hash of its exact bytes (the file as it left the platform)."""
    return Segment.objects.select_related("stream__license").filter(sha256=sha256).first()
