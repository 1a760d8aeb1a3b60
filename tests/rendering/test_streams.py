"""Streams step by step (no worker): the gate at every boundary, publication, idempotency, outputs."""
import datetime as dt
import hashlib
import json
import os
from decimal import Decimal

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from consent import services as consent_services
from consent.exceptions import InvalidInput, NotPermitted
from consent.models import AuditEvent, License
from rendering import media, outputs, pipeline, provenance, services
from rendering.exceptions import CloneNotReady, UseDenied
from rendering.models import Segment, Stream
from tests.factories import UserFactory
from tests.rendering.conftest import SCOPE, TINY, audio_upload


def new_stream(clone, seconds=3.0, **overrides):
    values = {**SCOPE, **TINY, "script_text": "欢迎来到直播间, today: a new hydrating serum.", **overrides}
    return services.create_stream(clone=clone, actor=clone.license.requested_by, audio_file=audio_upload(seconds),
                                  **values)


@pytest.fixture
def sent(monkeypatch):
    """Tasks the services would send to the broker (no worker in these tests: the test runs each step)."""
    messages = []
    monkeypatch.setattr(services, "_enqueue", lambda name, *args: messages.append((name, *args)))
    return messages


@pytest.fixture
def run_to_end(sent, django_capture_on_commit_callbacks):
    def run(stream, limit=20):
        outcomes = []
        with django_capture_on_commit_callbacks(execute=True):
            services.start_stream(stream_id=stream.pk)
        for sequence in range(limit):
            stream.refresh_from_db()
            if not stream.is_live:
                break
            with django_capture_on_commit_callbacks(execute=True):
                outcomes.append(pipeline.run_segment(stream.pk, sequence))
        stream.refresh_from_db()
        return outcomes
    return run


def published_files(stream):
    folder = default_storage.path(outputs.stream_dir(stream.pk))
    return sorted(f for f in os.listdir(folder) if f.startswith("segment-")) if os.path.isdir(folder) else []


def test_a_denied_stream_request_stores_nothing_and_names_every_reason(ready_clone, settings):
    with pytest.raises(UseDenied) as denied:
        new_stream(ready_clone, platform="kuaishou", product_category="alcohol",
                   script_text="A guaranteed cure for stress!")
    codes = {r["code"] for r in denied.value.reasons}
    assert {"platform_not_licensed", "category_not_licensed", "category_excluded", "prohibited_topic"} <= codes
    assert not Stream.objects.exists()
    assert not os.path.isdir(os.path.join(settings.MEDIA_ROOT, "stream-audio"))
    assert AuditEvent.objects.filter(action="stream.denied").count() == 1


def test_stream_renders_every_segment_labelled_watermarked_signed_and_indexed(ready_clone, run_to_end, sent):
    stream = new_stream(ready_clone, seconds=2.5)
    assert stream.status == Stream.Status.QUEUED and stream.segment_count == 3

    assert run_to_end(stream) == ["published", "published", "published"]

    assert stream.status == Stream.Status.COMPLETED and stream.end_reason == "completed"
    assert sent == [("render_segment", stream.pk, 0), ("render_segment", stream.pk, 1),
                    ("render_segment", stream.pk, 2), ("finalize_stream", stream.pk)]
    segments = list(stream.segments.all())
    assert [(s.sequence, s.start_seconds, s.end_seconds, s.frame_count) for s in segments] == [
        (0, 0.0, 1.0, 10), (1, 1.0, 2.0, 10), (2, 2.0, 2.5, 5)]
    assert published_files(stream) == [f"segment-{i:06d}.mp4" for i in range(3)]
    for previous, segment in zip([None, *segments], segments):
        with segment.file.open("rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == segment.sha256
        assert segment.previous_manifest_id == (previous.manifest_id if previous else "")
        assert segment.watermark_payload == f"{stream.pk:08x}{segment.sequence:05x}00"

    with segments[1].file.open("rb") as fh:
        report = provenance.verify(fh.read())
    assert report.ok and report.status == "trusted", report.summary()
    assert report.aigc["present"] and report.aigc["label"]["Label"] == "1"
    assert report.explicit_label["present"]
    assert (report.watermark["stream_id"], report.watermark["segment"]) == (stream.pk, 1)
    assert report.manifest["segment"]["previousManifestId"] == segments[0].manifest_id

    document = json.loads(default_storage.open(outputs.json_index_name(stream.pk)).read())
    assert [s["sha256"] for s in document["segments"]] == [s.sha256 for s in segments]
    assert document["ended"] and document["status"] == "completed"
    playlist = default_storage.open(outputs.index_name(stream.pk)).read().decode()
    assert playlist.splitlines()[-1] == "#EXT-X-ENDLIST"
    assert [line for line in playlist.splitlines() if line.endswith(".mp4")] == published_files(stream)

    actions = list(AuditEvent.objects.filter(object_type__in=["rendering.stream", "rendering.segment"])
                   .values_list("action", flat=True))
    assert actions == ["stream.requested", "stream.started", "segment.published", "segment.published",
                       "segment.published", "stream.ended"]


def test_the_full_recording_is_signed_with_the_segments_as_ingredients(ready_clone, run_to_end,
                                                                       django_capture_on_commit_callbacks):
    stream = new_stream(ready_clone, seconds=2.0)
    run_to_end(stream)

    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline.finalize_recording(stream.pk) == "signed"

    stream.refresh_from_db()
    data = stream.recording.open("rb").read()
    assert hashlib.sha256(data).hexdigest() == stream.recording_sha256
    report = provenance.verify(data, check_media=False)
    assert report.ok, report.summary()
    ingredients = report.manifest["ingredients"]
    assert [i["relationship"] for i in ingredients] == ["componentOf", "componentOf"]
    assert pipeline.finalize_recording(stream.pk) == "already_signed"
    document = json.loads(default_storage.open(outputs.json_index_name(stream.pk)).read())
    assert document["recording"]["sha256"] == stream.recording_sha256


def test_rerunning_a_segment_neither_duplicates_nor_skips_it(ready_clone, sent):
    stream = new_stream(ready_clone, seconds=3.0)
    services.start_stream(stream_id=stream.pk)

    assert pipeline.run_segment(stream.pk, 0) == "published"
    first = Segment.objects.get(stream=stream, sequence=0)
    assert pipeline.run_segment(stream.pk, 0) == "already_published"  # e.g. redelivered after a crash
    assert pipeline.run_segment(stream.pk, 2) == "out_of_order"  # never skips ahead
    assert list(stream.segments.values_list("sequence", "sha256")) == [(0, first.sha256)]
    # The redelivered task re-sends its successor, whose message may have been lost with the crash.
    assert sent == [("render_segment", stream.pk, 1)]


def test_a_failure_half_way_publishes_nothing_and_the_retry_publishes_once(ready_clone, monkeypatch):
    stream = new_stream(ready_clone, seconds=2.0)
    services.start_stream(stream_id=stream.pk)
    real_replace = os.replace

    def crash_after_rename(src, dst):
        real_replace(src, dst)
        raise OSError("simulated crash")

    monkeypatch.setattr(services.os, "replace", crash_after_rename)  # e.g. the commit fails after the rename
    with pytest.raises(OSError):
        pipeline.run_segment(stream.pk, 0)
    assert published_files(stream) == [] and not stream.segments.exists()
    assert os.listdir(default_storage.path(f"{outputs.stream_dir(stream.pk)}/.incoming")) == []

    monkeypatch.setattr(pipeline.SegmentProducer, "produce", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("signer unavailable")))
    with pytest.raises(RuntimeError):
        pipeline.run_segment(stream.pk, 0)
    assert published_files(stream) == [] and not stream.segments.exists()

    # A worker killed between the rename and the commit cleans nothing up: the retry does.
    monkeypatch.undo()
    with open(default_storage.path(outputs.segment_name(stream.pk, 0)), "wb") as fh:
        fh.write(b"left by a killed worker")
    assert pipeline.run_segment(stream.pk, 0) == "published"
    assert published_files(stream) == ["segment-000000.mp4"] and stream.segments.count() == 1
    segment = stream.segments.get()
    assert hashlib.sha256(segment.file.open("rb").read()).hexdigest() == segment.sha256


def test_a_revocation_during_a_segment_keeps_that_segment_from_being_published(ready_clone, monkeypatch,
                                                                               run_to_end):
    stream = new_stream(ready_clone, seconds=4.0)
    license = stream.license
    real_produce = pipeline.SegmentProducer.produce

    def produce_while_talent_revokes(self, **kwargs):
        produced = real_produce(self, **kwargs)
        if kwargs["sequence"] == 1:
            consent_services.revoke_license(license=License.objects.get(pk=license.pk), actor=license.talent.user,
                                            reason="I withdraw my likeness.")
        return produced

    monkeypatch.setattr(pipeline.SegmentProducer, "produce", produce_while_talent_revokes)
    outcomes = run_to_end(stream)

    assert outcomes == ["published", "discarded"]
    assert stream.status == Stream.Status.STOPPED and stream.end_reason == "license_revoked"
    assert list(stream.segments.values_list("sequence", flat=True)) == [0]
    assert published_files(stream) == ["segment-000000.mp4"]
    ended = AuditEvent.objects.get(action="stream.ended", object_id=str(stream.pk))
    assert ended.after["end_reason"] == "license_revoked" and ended.after["segments"] == 1


@pytest.mark.parametrize("change, reason", [
    (dict(status=License.Status.SUSPENDED), "license_suspended"),
    (dict(ends_at=timezone.now() + dt.timedelta(seconds=-1), starts_at=timezone.now() - dt.timedelta(days=1)),
     "license_ended"),
    (dict(max_hours_total=Decimal("0.0006")), "total_limit_exceeded"),  # 2.16 s: two 1-s segments fit
])
def test_the_gate_is_asked_again_at_every_segment_boundary(ready_clone, change, reason):
    stream = new_stream(ready_clone, seconds=4.0)
    services.start_stream(stream_id=stream.pk)
    assert pipeline.run_segment(stream.pk, 0) == "published"
    assert pipeline.run_segment(stream.pk, 1) == "published"
    License.objects.filter(pk=stream.license_id).update(**change)  # no stop flag: only the gate can see it

    assert pipeline.run_segment(stream.pk, 2) == "denied"

    stream.refresh_from_db()
    assert stream.status == Stream.Status.STOPPED and stream.end_reason == reason
    assert stream.end_detail and stream.segments.count() == 2


def test_a_user_stop_ends_the_stream_at_the_next_boundary(ready_clone):
    stream = new_stream(ready_clone, seconds=3.0)
    services.start_stream(stream_id=stream.pk)
    assert pipeline.run_segment(stream.pk, 0) == "published"
    services.request_stream_stop(stream=stream, actor=stream.created_by, reason="Sold out.")

    assert pipeline.run_segment(stream.pk, 1) == "stopped"

    stream.refresh_from_db()
    assert (stream.status, stream.end_reason, stream.end_detail) == (Stream.Status.STOPPED, "stopped_by_user",
                                                                     "Sold out.")


def test_an_erased_clone_is_never_rendered_again(ready_clone):
    stream = new_stream(ready_clone, seconds=3.0)
    services.start_stream(stream_id=stream.pk)
    assert pipeline.run_segment(stream.pk, 0) == "published"  # the worker now holds the prepared likeness
    services.erase_clone(clone=ready_clone)

    assert pipeline.run_segment(stream.pk, 1) == "stopped"

    stream.refresh_from_db()
    assert (stream.status, stream.end_reason) == (Stream.Status.STOPPED, "clone_erased")


def test_stream_requests_that_cannot_be_rendered_are_refused_before_anything_is_stored(ready_clone, settings):
    with pytest.raises(InvalidInput) as small:
        new_stream(ready_clone, width=160, height=90)
    assert small.value.field == "width"
    with pytest.raises(InvalidInput) as too_many_frames:
        new_stream(ready_clone, fps=60, segment_seconds=5.0)
    assert too_many_frames.value.field == "segment_seconds"
    with pytest.raises(InvalidInput) as not_audio:
        services.create_stream(clone=ready_clone, actor=ready_clone.license.requested_by, **SCOPE, **TINY,
                               audio_file=SimpleUploadedFile("x.wav", b"not audio at all"))
    assert not_audio.value.field == "audio"
    with pytest.raises(NotPermitted):
        services.create_stream(clone=ready_clone, actor=UserFactory(), audio_file=audio_upload(1.0), **SCOPE, **TINY)
    services.erase_clone(clone=ready_clone)
    with pytest.raises(CloneNotReady):
        new_stream(ready_clone)
    assert not Stream.objects.exists()
    assert not os.path.isdir(os.path.join(settings.MEDIA_ROOT, "stream-audio"))


def test_a_stream_flagged_before_it_starts_never_renders(ready_clone, sent):
    stream = new_stream(ready_clone, seconds=2.0)
    assert services.request_stop_for_licenses(license_ids=[stream.license_id], reason_code="license_suspended",
                                              detail="Under review.") == [stream.pk]

    services.start_stream(stream_id=stream.pk)

    stream.refresh_from_db()
    assert (stream.status, stream.end_reason, stream.end_detail) == (Stream.Status.STOPPED, "license_suspended",
                                                                     "Under review.")
    assert sent == [] and not stream.segments.exists()


def test_two_streams_cannot_both_start_under_a_one_stream_license(ready_clone, sent):
    License.objects.filter(pk=ready_clone.license_id).update(max_concurrent_streams=1)
    first, second = new_stream(ready_clone), new_stream(ready_clone)  # both queued: neither is running yet

    services.start_stream(stream_id=first.pk)
    services.start_stream(stream_id=second.pk)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Stream.Status.RUNNING
    assert (second.status, second.end_reason) == (Stream.Status.DENIED, "concurrency_limit_exceeded")
    assert pipeline.run_segment(first.pk, 0) == "published"  # the running one is not disturbed


def test_a_vertical_9_16_stream_is_labelled_and_watermarked_too(ready_clone):
    stream = new_stream(ready_clone, seconds=1.0, width=180, height=320)
    assert stream.orientation == Stream.Orientation.PORTRAIT
    services.start_stream(stream_id=stream.pk)

    assert pipeline.run_segment(stream.pk, 0) == "published"

    report = provenance.verify(stream.segments.get().file.open("rb").read())
    assert report.ok and report.explicit_label["present"], report.summary()
    assert (report.watermark["stream_id"], report.watermark["segment"]) == (stream.pk, 0)


def test_segments_read_their_window_of_the_decoded_audio_and_silence_past_its_end(ready_clone):
    stream = new_stream(ready_clone, seconds=1.5)
    decoded = media.decode_audio(audio_upload(1.5).read())

    window = pipeline.read_audio_window(stream, first_frame=10, n_frames=10)  # 1.0-2.0 s at 10 fps

    assert window.dtype == np.float32 and window.size == 16_000
    assert np.abs(window[:8000] - decoded[16_000:24_000]).max() < 1e-3  # 16-bit PCM of the same samples
    assert not window[8000:].any()
