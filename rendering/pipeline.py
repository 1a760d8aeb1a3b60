"""One segment of a stream: gate → render → explicit label → watermark → encode → AIGC → C2PA sign → store.

`run_segment` is the whole step as the Celery task runs it (boundary checks, production,
publication). `SegmentProducer` is the media part alone, batched per segment: the frames stay one
(N, H, W, 3) tensor on the worker's device from the renderer until the encoder copies them out.
What a worker builds once (renderer, prepared clones, labels, watermarker, signer) is cached per
process, so a segment pays only for its own frames.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image

from consent.selectors import check_gate
from watermark.aigc import write_mp4_aigc
from watermark.engine import ALGORITHM_NAME, Watermarker
from watermark.labels import label_for
from watermark.payload import Payload
from watermark.provenance import SegmentInfo, SoftBindingBlock, SoftwareAgent

from . import media, outputs, provenance, selectors, services
from .backends import load_backend, resolve_device
from .models import Clone, Stream

logger = logging.getLogger(__name__)

STAGES = ("render", "label", "watermark", "encode", "aigc", "sign", "store")


# --- What a worker process builds once -------------------------------------------------------------
_lock = threading.Lock()
_backend = None
_watermarker = None
_prepared: OrderedDict = OrderedDict()  # (clone id, portrait sha256, device) → PreparedClone
PREPARED_CLONES_KEPT = 8


def device() -> torch.device:
    return resolve_device(settings.RENDER_DEVICE)


def limit_cpu_threads(threads: int) -> None:
    """Cap torch's and OpenCV's thread pools in this process (0: leave them at all cores)."""
    if threads > 0:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)


def backend():
    global _backend
    with _lock:
        if _backend is None:
            options = {"weights_dir": settings.RENDER_WEIGHTS_DIR} if settings.RENDER_WEIGHTS_DIR else {}
            _backend = load_backend(settings.RENDER_BACKEND, **options)
        return _backend


def watermarker() -> Watermarker:
    global _watermarker
    with _lock:
        if _watermarker is None:
            _watermarker = provenance.watermarker() or Watermarker()
        return _watermarker


def prepared_clone(clone, dev: torch.device):
    key = (clone.pk, clone.sha256, str(dev))
    with _lock:
        if key in _prepared:
            _prepared.move_to_end(key)
            return _prepared[key]
    with clone.portrait.open("rb") as fh:
        portrait = np.array(Image.open(io.BytesIO(fh.read())).convert("RGB"))
    prepared = backend().prepare(portrait, clone.geometry, device=dev)
    with _lock:
        _prepared[key] = prepared
        while len(_prepared) > PREPARED_CLONES_KEPT:
            _prepared.popitem(last=False)
    return prepared


def read_audio_window(stream: Stream, first_frame: int, n_frames: int) -> np.ndarray:
    """The stream's audio under frames [first_frame, first_frame + n_frames), from the decoded PCM."""
    pcm = np.memmap(default_storage.path(stream.audio_pcm.name), dtype="<i2", mode="r")
    start = media.frame_sample_index(first_frame, fps=stream.fps)
    stop = media.frame_sample_index(first_frame + n_frames, fps=stream.fps)
    window = np.zeros(stop - start, np.float32)  # past the end of the audio: silence
    piece = pcm[start:stop]  # only this window is read from the file, however long the stream
    window[: piece.size] = piece / np.float32(32767.0)
    return window


# --- Producing one segment -------------------------------------------------------------------------
@dataclass
class ProducedSegment:
    data: bytes
    sha256: str
    manifest_id: str
    watermark_payload: str
    first_frame: int
    frame_count: int
    start_seconds: float
    end_seconds: float
    timings: dict = field(default_factory=dict)  # stage → seconds


class SegmentProducer:
    """Makes the signed MP4 of one segment. Stateless between calls apart from the caches above."""

    def __init__(self, *, dev: torch.device | None = None, signer=None):
        self.device = dev or device()
        self.signer = signer or provenance.get_signer()

    def _mark(self, timings: dict, stage: str, started: float) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        timings[stage] = timings.get(stage, 0.0) + now - started
        return now

    def produce(self, *, stream: Stream, sequence: int, audio: np.ndarray, prepared,
                previous_manifest_id: str | None, info_base: dict) -> ProducedSegment:
        first, end = stream.frame_range(sequence)
        n = end - first
        start_s, end_s = stream.segment_span(sequence)
        timings: dict = {}
        t = time.perf_counter()
        frames = backend().render(prepared, audio, first_frame_index=first, n_frames=n, fps=stream.fps,
                                  width=stream.width, height=stream.height)
        t = self._mark(timings, "render", t)
        frames = label_for(stream.width, stream.height, stream.fps, self.device).apply(frames, first)
        t = self._mark(timings, "label", t)
        # In place: the rendered frames are ours, and a second frame buffer costs page faults.
        frames = watermarker().embed_segment(frames, stream_id=stream.pk, segment=sequence, out=frames)
        t = self._mark(timings, "watermark", t)
        mp4 = media.encode_mp4(frames, audio, fps=stream.fps)
        del frames
        t = self._mark(timings, "encode", t)
        label = provenance.aigc_label(produce_id=provenance.produce_id(stream_id=stream.pk, sequence=sequence))
        mp4 = write_mp4_aigc(mp4, label)
        t = self._mark(timings, "aigc", t)
        blocks = tuple(
            SoftBindingBlock(start_seconds=i / stream.fps, end_seconds=(i + 1) / stream.fps,
                             payload_hex=Payload(stream.pk, sequence, i).hex())
            for i in range(n)
        )
        info = SegmentInfo(**info_base, aigc=label, soft_bindings=blocks, stream_id=stream.pk, sequence=sequence,
                           previous_manifest_id=previous_manifest_id)
        signed = self.signer.sign_segment(mp4, info)
        self._mark(timings, "sign", t)
        return ProducedSegment(
            data=signed.data, sha256=hashlib.sha256(signed.data).hexdigest(), manifest_id=signed.manifest_id,
            watermark_payload=Payload(stream.pk, sequence, 0).hex(), first_frame=first, frame_count=n,
            start_seconds=start_s, end_seconds=end_s, timings=timings,
        )


def content_info(stream: Stream) -> dict:
    """The parts of a manifest that are the same for every segment of `stream`."""
    license = stream.license
    b = backend()
    return dict(
        license_id=license.pk, consent_grant_id=license.grant_id,
        consent_document_version=license.grant.document_version, talent_display_name=license.talent.display_name,
        brand_name=license.brand.name, platform=stream.platform,
        software_agent=SoftwareAgent(name=b.name, version=b.version), watermark_algorithm=ALGORITHM_NAME,
    )


# --- The task's step -------------------------------------------------------------------------------
def run_segment(stream_id: int, sequence: int) -> str:
    """Render and publish segment `sequence` of a running stream, or end the stream; returns the outcome.

    Idempotent: a segment already published is never made again (a redelivered task only makes
    sure the next one is scheduled), and a task for a segment that is not next does nothing.
    """
    stream = (Stream.objects.select_related("license__grant", "license__brand", "license__talent", "clone")
              .filter(pk=stream_id).first())
    if stream is None or stream.status != Stream.Status.RUNNING:
        return "not_running"
    published = stream.segments.count()
    if sequence < published:
        if sequence == published - 1:
            # Redelivered after its publication committed: the next task may not have been sent.
            services.schedule_segment(stream_id=stream_id, sequence=published)
        return "already_published"
    if sequence > published:
        logger.warning("stream %s: segment %s asked while %s are published; ignored", stream_id, sequence, published)
        return "out_of_order"

    # Segment boundary: the stop flag, the clone and the gate, fresh from the database.
    if stream.stop_requested_at is not None:
        services.end_stream_by_id(stream_id=stream_id, status=Stream.Status.STOPPED,
                                  reason_code=stream.end_reason or "stopped", detail=stream.end_detail)
        return "stopped"
    if stream.clone.status != Clone.Status.READY:  # erased (PIPL Art. 47): a cached likeness must not be used
        services.end_stream_by_id(stream_id=stream_id, status=Stream.Status.STOPPED, reason_code="clone_erased",
                                  detail=f"Clone #{stream.clone_id} is {stream.clone.status}.")
        return "stopped"
    decision = check_gate(license_id=stream.license_id, request=selectors.segment_use_request(stream, sequence))
    if not decision.allowed:
        services.end_stream_by_id(
            stream_id=stream_id, status=Stream.Status.DENIED if sequence == 0 else Stream.Status.STOPPED,
            reason_code=decision.reasons[0].code, detail="; ".join(r.message for r in decision.reasons),
        )
        return "denied"

    outputs.clear_unpublished(stream_id, sequence)
    first, end = stream.frame_range(sequence)
    audio = read_audio_window(stream, first, end - first)
    previous = stream.segments.filter(sequence=sequence - 1).values_list("manifest_id", flat=True).first()
    producer = SegmentProducer()
    produced = producer.produce(stream=stream, sequence=sequence, audio=audio,
                                prepared=prepared_clone(stream.clone, producer.device),
                                previous_manifest_id=previous, info_base=content_info(stream))
    t = time.perf_counter()
    temp_name = outputs.write_incoming(stream_id, sequence, produced.data)
    segment = services.publish_segment(stream_id=stream_id, segment=services.SegmentFile(
        sequence=sequence, temp_name=temp_name, sha256=produced.sha256, manifest_id=produced.manifest_id,
        previous_manifest_id=previous or "", watermark_payload=produced.watermark_payload,
        start_seconds=produced.start_seconds, end_seconds=produced.end_seconds, frame_count=produced.frame_count,
    ))
    produced.timings["store"] = time.perf_counter() - t
    logger.info("stream %s segment %s: %s", stream_id, sequence,
                " ".join(f"{k}={v * 1000:.0f}ms" for k, v in produced.timings.items()))
    if segment is None:
        return "discarded"
    return "published" if segment.sha256 == produced.sha256 else "already_published"


# --- The full recording ----------------------------------------------------------------------------
def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def finalize_recording(stream_id: int) -> str:
    """Join an ended stream's segments into one MP4, signed with the segments as ingredients."""
    from watermark.provenance import RecordingInfo

    stream = (Stream.objects.select_related("license__grant", "license__brand", "license__talent")
              .filter(pk=stream_id).first())
    if stream is None or stream.is_live:
        return "not_ended"
    if stream.recording:
        return "already_signed"
    segments = list(stream.segments.order_by("sequence"))
    if not segments:
        return "no_segments"
    # Files all the way: a recording of hours is gigabytes, and one segment at a time is read.
    parts = [default_storage.path(segment.file.name) for segment in segments]
    name = outputs.recording_name(stream.pk)
    joined, signed = outputs.temporary_path(name), outputs.temporary_path(name)
    label = provenance.aigc_label(produce_id=provenance.produce_id(stream_id=stream.pk))
    # One block per segment (its frame 0 payload; frame i carries frame=i): hours of frames stay a short list.
    blocks = [SoftBindingBlock(start_seconds=s.start_seconds, end_seconds=s.end_seconds, payload_hex=s.watermark_payload)
              for s in segments]
    info = RecordingInfo(**content_info(stream), aigc=label, soft_bindings=tuple(blocks), stream_id=stream.pk,
                         segment_manifest_ids=tuple(s.manifest_id for s in segments))
    try:
        media.concat_mp4(parts, out=joined)
        manifest_id = provenance.get_signer().sign_recording(joined, signed, info, parts)  # labels it first
        digest = _sha256_file(signed)
        outputs.publish_file(signed, name)
    finally:
        for leftover in (joined, signed):
            if os.path.exists(leftover):
                os.remove(leftover)
    services.attach_recording(stream_id=stream.pk, name=name, sha256=digest, manifest_id=manifest_id,
                              ingredients=len(parts))
    return "signed"
