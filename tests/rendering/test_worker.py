"""Streams through a real Celery worker: the embedded SQLite broker here, Redis when CELERY_BROKER_URL says so."""
import os
import signal

import pytest

from consent import services as consent_services
from consent.ledger import verify_chain
from consent.models import AuditEvent, License
from rendering import services
from rendering.models import Clone, Stream
from rendering.worker import wait_until, worker_process
from tests.rendering.conftest import SCOPE, TINY, audio_upload

pytestmark = pytest.mark.slow


def refreshed(obj):
    obj.refresh_from_db()
    return obj


def test_clone_and_stream_run_on_a_real_worker(licensed, celery_worker):
    license, portrait, brand_user = licensed
    clone = services.request_clone(license=license, actor=brand_user, source_asset=portrait)
    wait_until(lambda: refreshed(clone).status != Clone.Status.PENDING, timeout=60, what="clone built")
    assert clone.status == Clone.Status.READY

    stream = services.create_stream(clone=clone, actor=brand_user, audio_file=audio_upload(3.0), **SCOPE, **TINY)
    wait_until(lambda: refreshed(stream).recording, timeout=120, what="stream rendered and recorded")

    assert stream.status == Stream.Status.COMPLETED
    assert list(stream.segments.values_list("sequence", flat=True)) == [0, 1, 2]
    actions = list(AuditEvent.objects.filter(object_type__in=["rendering.stream", "rendering.segment"])
                   .values_list("action", flat=True))
    assert actions == ["stream.requested", "stream.started", *["segment.published"] * 3, "stream.ended",
                       "stream.recording_signed"]


def test_a_revocation_stops_a_live_stream_within_one_segment(licensed, celery_worker):
    license, portrait, brand_user = licensed
    clone = services.request_clone(license=license, actor=brand_user, source_asset=portrait)
    wait_until(lambda: refreshed(clone).status == Clone.Status.READY, timeout=60, what="clone built")
    stream = services.create_stream(clone=clone, actor=brand_user, audio_file=audio_upload(12.0), **SCOPE, **TINY)
    wait_until(lambda: refreshed(stream).segments.exists(), timeout=60, what="first segment")

    revoked = consent_services.revoke_license(license=License.objects.get(pk=license.pk), actor=license.talent.user,
                                              reason="I withdraw my likeness.")
    # Counted from when the revoking transaction began (its clock), which is before it committed:
    # a conservative measure of what was published after the commit.
    committed_at = revoked.status_changed_at
    published_before = stream.segments.filter(created_at__lte=committed_at).count()
    wait_until(lambda: not refreshed(stream).is_live, timeout=60, what="stream stopped")

    after = stream.segments.filter(created_at__gt=committed_at).count()
    print(f"revocation to stop: {after} segment(s) published after the revocation committed "
          f"({published_before} before; stream of {stream.segment_count})")
    assert stream.status == Stream.Status.STOPPED and stream.end_reason == "license_revoked"
    assert after <= 1, f"{after} segments published after the revocation committed"
    assert published_before + after == stream.segments.count() < stream.segment_count == 12


def test_a_worker_killed_mid_segment_neither_loses_nor_duplicates_a_segment(licensed, worker_env, tmp_path):
    license, portrait, brand_user = licensed
    clone = services.build_clone(clone_id=services.request_clone(
        license=license, actor=brand_user, source_asset=portrait).pk)  # its queued build task will find it done
    stream = services.create_stream(clone=clone, actor=brand_user, audio_file=audio_upload(6.0), **SCOPE, **TINY)

    with worker_process(env=worker_env, log_path=tmp_path / "first.log") as first:
        wait_until(lambda: refreshed(stream).segments.exists(), timeout=120, what="first segment")
        os.kill(first.pid, signal.SIGKILL)  # a crash: no shutdown, no acknowledgement
        first.wait()
    killed_at = stream.segments.count()

    with worker_process(env=worker_env, log_path=tmp_path / "second.log"):
        # The SQLite broker does not give back a dead consumer's message (Redis does, after its
        # visibility timeout): the watchdog notices the stalled stream and sends its task again.
        services.resume_stalled_streams(stall_seconds=0)
        wait_until(lambda: refreshed(stream).recording, timeout=180, what="stream completed after the crash")

    assert stream.status == Stream.Status.COMPLETED and 1 <= killed_at < stream.segment_count
    assert list(stream.segments.values_list("sequence", flat=True)) == list(range(stream.segment_count))
    assert AuditEvent.objects.filter(action="segment.published").count() == stream.segment_count
    chain = verify_chain()  # three processes appended to the ledger: still one intact chain
    assert chain.ok, chain.summary()
    folder = os.path.join(worker_env["MEDIA_ROOT"], "streams", str(stream.pk))
    assert sorted(f for f in os.listdir(folder) if f.startswith("segment-")) == [
        f"segment-{i:06d}.mp4" for i in range(stream.segment_count)]
