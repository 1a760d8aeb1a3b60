"""State changes of clones and streams. Each writes its audit event in the same transaction.

Tasks are enqueued with `transaction.on_commit`, so a worker never sees a row that did not commit.
Media files are written before the row that names them and removed again if the transaction fails:
a file is published (moved to its final name) only as the last step before the commit.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from PIL import Image

from consent.exceptions import InvalidInput, NotPermitted
from consent.ledger import record_event
from consent.models import License, LikenessAsset, Use
from consent.selectors import check_gate, is_brand_member
from watermark.engine import CANON_LONG, CANON_SHORT

from . import faces, media, outputs, selectors
from .exceptions import CloneNotReady, NoPortraitAsset, StreamNotLive, UseDenied
from .models import Clone, Segment, Stream

LIVE_STREAM_STATES = (Stream.Status.QUEUED, Stream.Status.RUNNING)
# The watermark payload numbers frames within a segment with 8 bits.
MAX_FRAMES_PER_SEGMENT = 256


def _audit(action: str, obj, *, actor=None, before=None, after=None, request_meta=None):
    return record_event(action=action, obj=obj, actor=actor, before=before, after=after, request_meta=request_meta)


def _require_brand_member(*, actor, license) -> None:
    if actor is None or not actor.is_authenticated:
        raise NotPermitted("Sign in as a member of the licensed brand to do this.")
    if actor.is_superuser or is_brand_member(actor, license.brand):
        return
    raise NotPermitted(f"Only members of {license.brand} can use this license. Ask a brand owner to add you.")


def _stream_state(stream: Stream) -> dict:
    return {
        "status": stream.status,
        "license": stream.license_id,
        "clone": stream.clone_id,
        "stop_requested_at": stream.stop_requested_at.isoformat() if stream.stop_requested_at else None,
        "end_reason": stream.end_reason,
    }


# --- Clones --------------------------------------------------------------------------------------


def request_clone(*, license, actor, source_asset: LikenessAsset | None = None,
                  voice_asset: LikenessAsset | None = None, request_meta=None) -> Clone:
    """Ask for a clone of the license's talent; the gated `build_clone` task does the work.

    A denied request stores no clone and no media: it raises `UseDenied` naming every reason,
    after writing the denial to the ledger (an attempted use outside the consent is evidence).
    """
    _require_brand_member(actor=actor, license=license)
    modalities = {"face"} | ({"voice"} if voice_asset is not None else set())
    decision = check_gate(license_id=license.pk, request=selectors.use_request(Use.CLONE_CREATION, modalities))
    if not decision.allowed:
        with transaction.atomic():
            _audit("clone.denied", license, actor=actor, request_meta=request_meta,
                   after={"use": Use.CLONE_CREATION, "modalities": sorted(modalities), **decision.as_dict()})
        raise UseDenied(decision)

    source_asset = source_asset or selectors.latest_asset(talent_id=license.talent_id, kind=LikenessAsset.Kind.PORTRAIT)
    for asset, kind in ((source_asset, LikenessAsset.Kind.PORTRAIT), (voice_asset, LikenessAsset.Kind.VOICE)):
        if asset is None:
            continue
        if asset.talent_id != license.talent_id or asset.kind != kind or asset.is_deleted:
            raise InvalidInput(f"Choose a current {kind} asset of {license.talent}.", field=f"{kind}_asset")
    if source_asset is None:
        raise NoPortraitAsset()

    with transaction.atomic():
        clone = Clone.objects.create(
            license=license, talent_id=license.talent_id, source_asset=source_asset, voice_asset=voice_asset,
            requested_by=actor,
        )
        _audit("clone.requested", clone, actor=actor, request_meta=request_meta,
               after={"license": license.pk, "source_asset": source_asset.sha256,
                      "voice_asset": voice_asset.sha256 if voice_asset else None})
        transaction.on_commit(lambda: _enqueue("build_clone", clone.pk))
    return clone


def build_clone(*, clone_id: int) -> Clone | None:
    """Build a pending clone: re-check the gate, find and normalise the face, store it with its hash."""
    clone = Clone.objects.select_related("source_asset", "license").filter(pk=clone_id).first()
    if clone is None or clone.status != Clone.Status.PENDING:
        return clone  # already built, denied or erased: a redelivered task has nothing to do
    modalities = {"face"} | ({"voice"} if clone.voice_asset_id else set())
    decision = check_gate(license_id=clone.license_id, request=selectors.use_request(Use.CLONE_CREATION, modalities))
    if not decision.allowed:
        return _finish_clone(clone, Clone.Status.DENIED, reasons=list(decision.as_dict()["reasons"]))
    asset = clone.source_asset
    if asset.is_deleted or not asset.file:
        return _finish_clone(clone, Clone.Status.FAILED, reasons=[{
            "code": "asset_deleted", "message": "The portrait was deleted; the talent must upload a new one."}])
    with asset.file.open("rb") as fh:
        raw = fh.read()
    try:
        portrait = faces.normalise_portrait(faces.load_image(raw))
    except faces.FaceNotFoundError as exc:
        return _finish_clone(clone, Clone.Status.FAILED, reasons=[{"code": "no_face_found", "message": str(exc)}])
    except ValueError as exc:
        return _finish_clone(clone, Clone.Status.FAILED, reasons=[{"code": "portrait_unreadable", "message": str(exc)}])

    png = _png_bytes(portrait.image)
    digest = hashlib.sha256(png).hexdigest()
    name = default_storage.save(f"clones/{clone.pk}-{digest[:16]}.png", ContentFile(png))
    try:
        with transaction.atomic():
            locked = Clone.objects.select_for_update().get(pk=clone.pk)
            if locked.status != Clone.Status.PENDING:  # erased or denied meanwhile
                raise _Superseded()
            locked.portrait.name = name
            locked.sha256 = digest
            locked.geometry = portrait.geometry
            locked.status = Clone.Status.READY
            locked.ready_at = timezone.now()
            locked.save(update_fields=["portrait", "sha256", "geometry", "status", "ready_at"])
            _audit("clone.ready", locked, before={"status": Clone.Status.PENDING},
                   after={"status": Clone.Status.READY, "sha256": digest, "source_asset": asset.sha256})
    except _Superseded:
        default_storage.delete(name)
        return Clone.objects.get(pk=clone.pk)
    except BaseException:
        default_storage.delete(name)
        raise
    return locked


class _Superseded(Exception):
    pass


def _png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _finish_clone(clone: Clone, status: str, *, reasons: list) -> Clone:
    with transaction.atomic():
        updated = Clone.objects.filter(pk=clone.pk, status=Clone.Status.PENDING).update(status=status, reasons=reasons)
        if updated:
            _audit(f"clone.{status}", clone, before={"status": Clone.Status.PENDING},
                   after={"status": status, "reasons": reasons})
    return Clone.objects.get(pk=clone.pk)


def fail_clone(*, clone_id: int, detail: str) -> Clone | None:
    """A pending clone whose build kept failing: say so, so that the brand can request it again."""
    clone = Clone.objects.filter(pk=clone_id).first()
    if clone is None:
        return None
    return _finish_clone(clone, Clone.Status.FAILED, reasons=[{
        "code": "build_failed", "message": f"The clone could not be built ({detail}). Request it again."}])


def erase_clone(*, clone: Clone, now=None) -> None:
    """Delete a clone's media (PIPL Art. 47); the row keeps its hash as evidence of what existed."""
    now = now or timezone.now()
    with transaction.atomic():
        if clone.portrait:
            name = clone.portrait.name
            storage = clone.portrait.storage
            transaction.on_commit(lambda: storage.delete(name))
        clone.portrait = ""
        clone.status = Clone.Status.DELETED
        clone.deleted_at = now
        clone.save(update_fields=["portrait", "status", "deleted_at"])


# --- Streams -------------------------------------------------------------------------------------


def create_stream(*, clone: Clone, actor, audio_file, platform: str, product_category: str, territory: str,
                  language: str, width: int, height: int, fps: int = 25, script_text: str = "",
                  segment_seconds: float | None = None, modalities=("face",), request_meta=None) -> Stream:
    """Queue a licensed stream of `clone` speaking `audio_file`; the render tasks take it from there.

    The gate is asked first; a denial raises `UseDenied` naming every reason and stores nothing
    but the ledger event. It is asked again when the stream starts and before every segment.
    """
    license = clone.license
    _require_brand_member(actor=actor, license=license)
    if clone.status != Clone.Status.READY:
        raise CloneNotReady(f"Clone #{clone.pk} is {clone.status}; only a ready clone can stream.")
    segment_seconds = float(segment_seconds or settings.SEGMENT_SECONDS)
    _check_stream_shape(width=width, height=height, fps=fps, segment_seconds=segment_seconds)
    modalities = frozenset(modalities)
    if not modalities or not modalities <= {"face", "voice"} or "face" not in modalities:
        raise InvalidInput("A stream uses the face, and optionally the voice.", field="modalities")

    raw = audio_file.read()
    if len(raw) > settings.STREAM_AUDIO_MAX_UPLOAD_BYTES:
        raise InvalidInput(f"The audio is larger than {settings.STREAM_AUDIO_MAX_UPLOAD_BYTES} bytes; "
                           "upload a shorter or more compressed file.", field="audio")
    try:
        samples = media.decode_audio(raw, max_seconds=settings.STREAM_AUDIO_MAX_SECONDS)
    except ValueError as exc:
        raise InvalidInput(f"{exc} Upload speech as WAV, MP3, M4A, OGG or FLAC.", field="audio") from exc
    seconds = len(samples) / media.AUDIO_SAMPLE_RATE
    if seconds < 0.1:
        raise InvalidInput("The audio is empty; upload speech to render.", field="audio")

    # Usage caps are per segment (checked at every boundary, so a long stream ends when a cap is
    # reached); here the gate sees the first segment's worth.
    request = selectors.use_request(
        Use.LIVE_RENDERING, modalities, platform=platform, product_category=product_category,
        territory=territory, language=language, script_text=script_text, seconds=min(seconds, segment_seconds),
    )
    decision = check_gate(license_id=license.pk, request=request)
    if not decision.allowed:
        with transaction.atomic():
            _audit("stream.denied", license, actor=actor, request_meta=request_meta,
                   after={"clone": clone.pk, "platform": platform, "product_category": product_category,
                          "territory": territory, "language": language, **decision.as_dict()})
        raise UseDenied(decision)

    digest = hashlib.sha256(raw).hexdigest()
    audio_name = default_storage.save(f"stream-audio/{digest}.audio", ContentFile(raw))
    pcm_name = default_storage.save(f"stream-audio/{digest}.s16le", ContentFile(pcm16(samples)))
    try:
        with transaction.atomic():
            stream = Stream.objects.create(
                license=license, clone=clone, created_by=actor, script_text=script_text, audio=audio_name,
                audio_pcm=pcm_name, audio_sha256=digest, audio_seconds=seconds, platform=platform,
                product_category=product_category, territory=territory, language=language, modalities=sorted(modalities), width=width,
                height=height, fps=fps, segment_seconds=segment_seconds,
            )
            _audit("stream.requested", stream, actor=actor, request_meta=request_meta,
                   after={**_stream_state(stream), "audio_sha256": digest, "audio_seconds": round(seconds, 3),
                          "script_sha256": hashlib.sha256(script_text.encode()).hexdigest(),
                          "size": f"{width}x{height}@{fps}", "segment_seconds": segment_seconds})
            transaction.on_commit(lambda: _enqueue("render_stream", stream.pk))
    except BaseException:
        default_storage.delete(audio_name)
        default_storage.delete(pcm_name)
        raise
    return stream


def pcm16(samples) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def _check_stream_shape(*, width: int, height: int, fps: int, segment_seconds: float) -> None:
    if width % 2 or height % 2 or width > 4096 or height > 4096:
        raise InvalidInput("Width and height must be even (H.264 4:2:0) and at most 4096 pixels.", field="width")
    if min(width, height) < CANON_SHORT or max(width, height) < CANON_LONG:
        raise InvalidInput(f"Frames must be at least {CANON_LONG}x{CANON_SHORT} (or {CANON_SHORT}x{CANON_LONG} "
                           "vertical) to carry the watermark.", field="width")
    if not 1 <= fps <= 60:
        raise InvalidInput("fps must be between 1 and 60.", field="fps")
    if not 0.5 <= segment_seconds <= 10 or segment_seconds * fps > MAX_FRAMES_PER_SEGMENT:
        raise InvalidInput(f"Segments must last 0.5-10 s and hold at most {MAX_FRAMES_PER_SEGMENT} frames.",
                           field="segment_seconds")


def lock_stream(stream_id: int) -> Stream | None:
    """Lock a stream for a change, its license first.

    The consent services lock license → ledger → streams (revocation flags streams last); taking
    the license before the stream here keeps a publication and a revocation from deadlocking.
    """
    license_id = Stream.objects.filter(pk=stream_id).values_list("license_id", flat=True).first()
    if license_id is None:
        return None
    list(License.objects.select_for_update().filter(pk=license_id).values_list("pk", flat=True))
    return Stream.objects.select_for_update().get(pk=stream_id)


def start_stream(*, stream_id: int) -> Stream | None:
    """QUEUED → RUNNING (if the gate still allows it), then schedule segment 0. Idempotent.

    Starts are serialised per license (its row is locked), so two streams starting together
    cannot both slip under the license's concurrency limit.
    """
    with transaction.atomic():
        stream = lock_stream(stream_id)
        if stream is None or stream.status != Stream.Status.QUEUED:
            return stream
        if stream.stop_requested_at is not None:  # revoked or suspended before it started
            return end_stream(stream=stream, status=Stream.Status.STOPPED, reason_code=stream.end_reason or "stopped",
                              detail=stream.end_detail)
        decision = check_gate(license_id=stream.license_id, request=selectors.segment_use_request(stream, 0))
        if not decision.allowed:
            return end_stream(stream=stream, status=Stream.Status.DENIED, reason_code=decision.reasons[0].code,
                              detail="; ".join(r.message for r in decision.reasons))
        before = _stream_state(stream)
        stream.status = Stream.Status.RUNNING
        stream.started_at = timezone.now()
        stream.save(update_fields=["status", "started_at"])
        _audit("stream.started", stream, before=before, after=_stream_state(stream))
        transaction.on_commit(lambda: _enqueue("render_segment", stream.pk, 0))
    return stream


def end_stream(*, stream: Stream, status: str, reason_code: str, detail: str = "", actor=None) -> Stream:
    """Move a live stream to a final state, say why, and schedule its signed recording.

    Must run inside the caller's transaction with `stream` locked (`lock_stream`).
    """
    if status not in (Stream.Status.COMPLETED, Stream.Status.STOPPED, Stream.Status.DENIED, Stream.Status.FAILED):
        raise ValueError(f"{status!r} is not a final stream state")
    if not stream.is_live:
        return stream
    before = _stream_state(stream)
    stream.status = status
    stream.end_reason = reason_code
    stream.end_detail = detail
    stream.ended_at = timezone.now()
    stream.save(update_fields=["status", "end_reason", "end_detail", "ended_at"])
    published = stream.segments.count()
    _audit("stream.ended", stream, actor=actor, before=before,
           after={**_stream_state(stream), "end_detail": detail, "segments": published})
    stream_id = stream.pk
    transaction.on_commit(lambda: outputs.write_indexes(stream_id), robust=True)
    if published:
        transaction.on_commit(lambda: _enqueue("finalize_stream", stream_id))
    return stream


def end_stream_by_id(*, stream_id: int, status: str, reason_code: str, detail: str = "") -> Stream | None:
    with transaction.atomic():
        stream = lock_stream(stream_id)
        if stream is not None:
            end_stream(stream=stream, status=status, reason_code=reason_code, detail=detail)
    return stream


def request_stream_stop(*, stream: Stream, actor, reason: str = "", request_meta=None) -> Stream:
    """A brand member stops their stream; it ends at the next segment boundary."""
    _require_brand_member(actor=actor, license=stream.license)
    with transaction.atomic():
        stream = lock_stream(stream.pk)
        if not stream.is_live:
            raise StreamNotLive()
        if stream.stop_requested_at is None:
            before = _stream_state(stream)
            stream.stop_requested_at = timezone.now()
            stream.end_reason = "stopped_by_user"
            stream.end_detail = reason or f"Stopped by {actor}."
            stream.save(update_fields=["stop_requested_at", "end_reason", "end_detail"])
            _audit("stream.stop_requested", stream, actor=actor, request_meta=request_meta, before=before,
                   after=_stream_state(stream))
            if stream.status == Stream.Status.QUEUED:
                end_stream(stream=stream, status=Stream.Status.STOPPED, reason_code=stream.end_reason,
                           detail=stream.end_detail, actor=actor)
    return stream


def request_stop_for_licenses(*, license_ids, reason_code: str, detail: str = "", now=None) -> list[int]:
    """Flag every queued or running stream of these licenses to stop at its next segment boundary.

    Called inside the transaction that changes the license, so the flag commits with the change.
    The render loop also re-checks the gate at every boundary; the flag makes the reason explicit,
    and a segment whose rendering overlapped the change is discarded at publication.
    Returns the ids of the streams flagged.
    """
    now = now or timezone.now()
    streams = Stream.objects.select_for_update().filter(
        license_id__in=list(license_ids), status__in=LIVE_STREAM_STATES, stop_requested_at__isnull=True
    )
    ids = list(streams.values_list("id", flat=True))
    if ids:
        Stream.objects.filter(id__in=ids).update(stop_requested_at=now, end_reason=reason_code, end_detail=detail)
    return ids


@dataclass(frozen=True)
class SegmentFile:
    """A finished (labelled, watermarked, signed) segment waiting under a temporary name."""

    sequence: int
    temp_name: str
    sha256: str
    manifest_id: str
    previous_manifest_id: str
    watermark_payload: str
    start_seconds: float
    end_seconds: float
    frame_count: int


def publish_segment(*, stream_id: int, segment: SegmentFile) -> Segment | None:
    """Publish a finished segment: row, ledger event and final file name appear together, or not at all.

    Returns the Segment, or None when the stream stopped or ended meanwhile (the segment is
    discarded: a revocation that commits while a segment renders keeps it from being published).
    A segment that another run already published is returned as it is, never published twice.
    """
    storage = default_storage
    final_name = outputs.segment_name(stream_id, segment.sequence)
    moved = False
    try:
        with transaction.atomic():
            stream = lock_stream(stream_id)
            existing = stream.segments.filter(sequence=segment.sequence).first()
            if existing is not None:
                storage.delete(segment.temp_name)
                return existing
            if stream.status != Stream.Status.RUNNING:
                storage.delete(segment.temp_name)
                return None
            if stream.stop_requested_at is not None:
                end_stream(stream=stream, status=Stream.Status.STOPPED, reason_code=stream.end_reason or "stopped",
                           detail=stream.end_detail)
                storage.delete(segment.temp_name)
                return None
            published = stream.segments.count()
            if published != segment.sequence:
                raise RuntimeError(f"segment {segment.sequence} of stream {stream_id} is out of order "
                                   f"({published} published)")
            row = Segment.objects.create(
                stream=stream, sequence=segment.sequence, start_seconds=segment.start_seconds,
                end_seconds=segment.end_seconds, frame_count=segment.frame_count, file=final_name,
                sha256=segment.sha256, manifest_id=segment.manifest_id,
                previous_manifest_id=segment.previous_manifest_id, watermark_payload=segment.watermark_payload,
            )
            _audit("segment.published", row, after={
                "stream": stream_id, "sequence": segment.sequence, "sha256": segment.sha256,
                "manifest_id": segment.manifest_id, "watermark_payload": segment.watermark_payload,
                "start_seconds": segment.start_seconds, "end_seconds": segment.end_seconds,
            })
            if segment.sequence + 1 >= stream.segment_count:
                end_stream(stream=stream, status=Stream.Status.COMPLETED, reason_code="completed",
                           detail=f"All {stream.segment_count} segments rendered.")
            else:
                transaction.on_commit(lambda: outputs.write_indexes(stream_id), robust=True)
                transaction.on_commit(lambda: _enqueue("render_segment", stream_id, segment.sequence + 1))
            # Last step before the commit: the file takes its public name only together with its row.
            moved = True  # from here on, a failure removes whatever is at the final name
            os.replace(storage.path(segment.temp_name), storage.path(final_name))
    except BaseException:
        if moved:
            storage.delete(final_name)
        storage.delete(segment.temp_name)
        raise
    return row


def attach_recording(*, stream_id: int, name: str, sha256: str, manifest_id: str, ingredients: int) -> Stream:
    with transaction.atomic():
        stream = lock_stream(stream_id)
        stream.recording.name = name
        stream.recording_sha256 = sha256
        stream.recording_manifest_id = manifest_id
        stream.save(update_fields=["recording", "recording_sha256", "recording_manifest_id"])
        _audit("stream.recording_signed", stream, after={
            "sha256": sha256, "manifest_id": manifest_id, "ingredients": ingredients})
        transaction.on_commit(lambda: outputs.write_indexes(stream_id), robust=True)
    return stream


def resume_stalled_streams(*, now=None, stall_seconds: float | None = None) -> list[int]:
    """Send again the task of every live stream that made no progress for `stall_seconds`.

    Recovers from a task lost with its worker (kombu's SQLAlchemy broker does not redeliver a
    message whose consumer died). A message that was only slow renders its segment twice at most;
    publication keeps one. Returns the ids of the streams resumed.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.RENDER_STALL_SECONDS if stall_seconds is None else stall_seconds)
    resumed = []
    for stream in Stream.objects.filter(status=Stream.Status.QUEUED, created_at__lt=cutoff):
        _enqueue("render_stream", stream.pk)
        resumed.append(stream.pk)
    running = (Stream.objects.filter(status=Stream.Status.RUNNING, started_at__lt=cutoff)
               .annotate(published=Count("segments"), last_published=Max("segments__created_at")))
    for stream in running:
        if stream.last_published is None or stream.last_published < cutoff:
            _enqueue("render_segment", stream.pk, stream.published)
            resumed.append(stream.pk)
    return resumed


def schedule_segment(*, stream_id: int, sequence: int) -> None:
    """Send the task for segment `sequence` again (a redelivered task whose successor may be lost)."""
    _enqueue("render_segment", stream_id, sequence)


def _enqueue(task_name: str, *args) -> None:
    from . import tasks

    getattr(tasks, task_name).delay(*args)
