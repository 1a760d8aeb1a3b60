"""The rendering part of `manage.py demo`: a clone of a synthetic face, a 10-s stream through a real worker.

`run_render_demo(world, stdout)` takes the consent demo's world (an active license, a brand member,
the talent's synthetic portrait) and runs everything through the services and a genuine Celery
worker embedded in this process (the SQLite broker by default, or CELERY_BROKER_URL).
"""
from __future__ import annotations

import logging
import time

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Q

from consent.models import AuditEvent

from . import outputs, provenance, services
from .exceptions import UseDenied
from .models import Clone, Stream
from .synthetic import speech_like_wav
from .worker import embedded_worker, wait_until

DEMO_SECONDS = 10.0
DEMO_SIZE = dict(width=640, height=360, fps=25, segment_seconds=2.0)
DEMO_SCOPE = dict(platform="douyin", product_category="cosmetics", territory="CN", language="zh-CN")
DEMO_SCRIPT = "欢迎来到直播间! Today: our new hydrating serum, 30 ml, for dry and sensitive skin."


def speech_upload(seconds: float, seed: int = 11) -> SimpleUploadedFile:
    return SimpleUploadedFile("script.wav", speech_like_wav(seconds, seed=seed), content_type="audio/wav")


def _refreshed(obj):
    obj.refresh_from_db()
    return obj


def run_render_demo(world, stdout, *, seconds: float = DEMO_SECONDS, size: dict | None = None,
                    timeout: float = 900.0) -> Stream:
    """Print each step to `stdout`; returns the stream (None if the clone could not be built)."""
    size = size or DEMO_SIZE
    license, actor = world.license, world.brand_user

    def write(line: str) -> None:  # a Django OutputWrapper (adds no second newline) or any text stream
        stdout.write(line if line.endswith("\n") else line + "\n")

    # The per-stage timings of every segment are for operators' logs; the demo prints its own lines.
    logging.getLogger("rendering.pipeline").setLevel(logging.WARNING)
    with embedded_worker() as worker:
        write(f"\n== Clone (worker {worker.hostname}) ==")
        clone = services.request_clone(license=license, actor=actor, source_asset=world.portrait)
        wait_until(lambda: _refreshed(clone).status != Clone.Status.PENDING, timeout=120, what="clone build")
        write(f"clone #{clone.pk} of {clone.talent}: {clone.status}, portrait sha256 {clone.sha256[:16]}…, "
              f"face at {', '.join(f'{v:.2f}' for v in clone.geometry.get('face', []))}")
        if clone.status != Clone.Status.READY:
            write(f"  reasons: {clone.reasons}")
            return None

        write("\n== A stream the license does not cover ==")
        try:
            services.create_stream(clone=clone, actor=actor, audio_file=speech_upload(2.0),
                                   **{**DEMO_SCOPE, "platform": "kuaishou"}, **size)
        except UseDenied as denied:
            write(f"kuaishou stream refused, nothing stored ({denied.code}):")
            for reason in denied.reasons:
                write(f"  - {reason['code']}: {reason['message']}")

        write(f"\n== Stream: {seconds:g} s of speech-like audio, {size['width']}x{size['height']}@{size['fps']} ==")
        started = time.monotonic()
        stream = services.create_stream(clone=clone, actor=actor, audio_file=speech_upload(seconds),
                                        script_text=DEMO_SCRIPT, **DEMO_SCOPE, **size)
        shown = 0
        while True:
            stream.refresh_from_db()
            for segment in stream.segments.filter(sequence__gte=shown):
                write(f"segment {segment.sequence} [{segment.start_seconds:4.1f}-{segment.end_seconds:4.1f} s] "
                      f"published after {time.monotonic() - started:5.1f} s: {default_storage.path(segment.file.name)}")
                shown = segment.sequence + 1
            if not stream.is_live and (stream.recording or not stream.segments.exists()):
                break
            if time.monotonic() - started > timeout:
                write(f"stream #{stream.pk} did not finish within {timeout:g} s (status {stream.status})")
                return stream
            time.sleep(0.25)
    write(f"stream #{stream.pk}: {stream.status} ({stream.end_reason}) in {time.monotonic() - started:.1f} s")
    write(f"  HLS index   {default_storage.path(outputs.index_name(stream.pk))}")
    write(f"  JSON index  {default_storage.path(outputs.json_index_name(stream.pk))}")
    if stream.recording:
        write(f"  recording   {default_storage.path(stream.recording.name)} (signed, {stream.segments.count()} "
              f"segments as ingredients)")

    write("\n== Verification of every published file ==")
    for segment in stream.segments.all():
        with segment.file.open("rb") as fh:
            report = provenance.verify(fh.read())
        wm = report.watermark
        write(f"segment {segment.sequence}: {'OK' if report.ok else 'FAILED'} · C2PA {report.status} · "
              f"AIGC {'present' if report.aigc.get('present') else 'MISSING'} · "
              f"visible label {'present' if report.explicit_label.get('present') else 'MISSING'} · "
              f"watermark stream {wm.get('stream_id')} segment {wm.get('segment')}")
    if stream.recording:
        with stream.recording.open("rb") as fh:
            report = provenance.verify(fh.read())
        write(f"recording: {'OK' if report.ok else 'FAILED'} · C2PA {report.status} · "
              f"{len((report.manifest or {}).get('ingredients', []))} ingredients")
    segment_ids = [str(pk) for pk in stream.segments.values_list("pk", flat=True)]
    events = AuditEvent.objects.filter(
        Q(object_type="rendering.clone", object_id=str(stream.clone_id))
        | Q(object_type="rendering.stream", object_id=str(stream.pk))
        | Q(object_type="rendering.segment", object_id__in=segment_ids)
    )
    write(f"ledger: {events.count()} signed events for this clone and stream "
          f"({', '.join(dict.fromkeys(events.values_list('action', flat=True)))})")
    return stream
