"""The Celery tasks: routed to the gpu queue, late acknowledgement, bounded retries that end in a clear state."""
import datetime as dt

import pytest
from celery.signals import worker_process_init
from django.utils import timezone

from config.celery import app
from rendering import pipeline, services, tasks
from rendering.models import Stream
from tests.rendering.test_streams import new_stream

RENDER_TASKS = [tasks.build_clone, tasks.render_stream, tasks.render_segment, tasks.finalize_stream]


@pytest.mark.parametrize("task", RENDER_TASKS, ids=lambda t: t.name)
def test_render_tasks_go_to_the_gpu_queue_and_survive_a_lost_worker(task):
    route = app.amqp.router.route({}, task.name)
    assert route["queue"].name == "gpu"
    assert task.acks_late and task.reject_on_worker_lost and task.max_retries == tasks.MAX_RETRIES
    assert app.conf.worker_prefetch_multiplier == 1


def test_a_segment_that_keeps_failing_is_retried_then_ends_the_stream_as_failed(ready_clone, monkeypatch):
    stream = new_stream(ready_clone, seconds=2.0)
    services.start_stream(stream_id=stream.pk)
    attempts = []

    def failing(stream_id, sequence):
        attempts.append(sequence)
        raise OSError("encoder crashed")

    monkeypatch.setattr(pipeline, "run_segment", failing)
    # apply() runs the task and its retries in this process, through Celery's retry machinery.
    result = tasks.render_segment.apply(args=(stream.pk, 0))

    assert attempts == [0] * (tasks.MAX_RETRIES + 1)
    assert result.get() == "failed"
    stream.refresh_from_db()
    assert (stream.status, stream.end_reason) == (Stream.Status.FAILED, "render_failed")
    assert "encoder crashed" in stream.end_detail and not stream.segments.exists()


def test_a_retry_after_a_transient_failure_publishes_the_segment_once(ready_clone, monkeypatch):
    stream = new_stream(ready_clone, seconds=2.0)
    services.start_stream(stream_id=stream.pk)
    monkeypatch.setattr(services, "_enqueue", lambda *args: None)
    real = pipeline.run_segment
    calls = []

    def flaky(stream_id, sequence):
        calls.append(sequence)
        if len(calls) == 1:
            raise OSError("database is locked")
        return real(stream_id, sequence)

    monkeypatch.setattr(pipeline, "run_segment", flaky)
    assert tasks.render_segment.apply(args=(stream.pk, 0)).get() == "published"
    assert calls == [0, 0] and stream.segments.count() == 1


def test_the_watchdog_resends_only_streams_that_stopped_making_progress(ready_clone, monkeypatch):
    sent = []
    monkeypatch.setattr(services, "_enqueue", lambda name, *args: sent.append((name, *args)))
    queued, running, fresh = (new_stream(ready_clone) for _ in range(3))
    services.start_stream(stream_id=running.pk)
    assert pipeline.run_segment(running.pk, 0) == "published"
    services.start_stream(stream_id=fresh.pk)
    sent.clear()
    later = timezone.now() + dt.timedelta(minutes=20)
    Stream.objects.filter(pk=fresh.pk).update(started_at=later)  # started just now, from the watchdog's view

    assert sorted(services.resume_stalled_streams(now=later, stall_seconds=600)) == [queued.pk, running.pk]
    assert sorted(sent) == [("render_segment", running.pk, 1), ("render_stream", queued.pk)]
    assert services.resume_stalled_streams(now=timezone.now(), stall_seconds=600) == []


def test_each_worker_process_caps_its_cpu_threads_when_told(settings):
    import cv2
    import torch

    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        settings.RENDER_CPU_THREADS = 1
        worker_process_init.send(sender=None)
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
        settings.RENDER_CPU_THREADS = 0  # the default leaves the libraries alone
        torch.set_num_threads(before[0])
        worker_process_init.send(sender=None)
        assert torch.get_num_threads() == before[0]
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])
