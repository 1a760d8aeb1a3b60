"""Celery tasks of rendering, routed to the `gpu` queue (settings.CELERY_TASK_ROUTES).

They take ids, acknowledge late (a message is removed only when its task finished, and a worker
that dies mid-task gives the message back), and retry a bounded number of times with exponential
backoff. Each step is idempotent, so a redelivered or retried message neither duplicates nor
skips a segment; the work itself lives in `rendering.services` and `rendering.pipeline`.
"""
from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from . import pipeline, services
from .models import Clone, Stream

logger = logging.getLogger(__name__)

MAX_RETRIES = 3
TASK_OPTIONS = dict(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)


@worker_process_init.connect
def limit_cpu_threads(**_) -> None:
    # Prefork children each render and encode on their own: N children with all-core thread pools
    # each would oversubscribe the host.
    pipeline.limit_cpu_threads(settings.RENDER_CPU_THREADS)


def backoff(retries: int) -> float:
    """1 s, 2 s, 4 s ... (capped at 30 s) with jitter, so workers that failed together do not retry together."""
    return min(30.0, 2.0 ** retries) * random.uniform(0.5, 1.0)


def _retry_or(task, exc: Exception, give_up) -> None:
    if task.request.retries < task.max_retries:
        logger.warning("%s%s failed (%s); retry %d of %d", task.name, task.request.args, exc,
                       task.request.retries + 1, task.max_retries)
        raise task.retry(exc=exc, countdown=backoff(task.request.retries))
    logger.exception("%s%s failed after %d retries", task.name, task.request.args, task.max_retries)
    give_up(f"{type(exc).__name__}: {exc}")


@shared_task(name="rendering.tasks.build_clone", **TASK_OPTIONS)
def build_clone(self, clone_id: int) -> str | None:
    try:
        clone = services.build_clone(clone_id=clone_id)
    except Exception as exc:
        _retry_or(self, exc, lambda detail: services.fail_clone(clone_id=clone_id, detail=detail))
        return Clone.Status.FAILED
    return clone.status if clone else None


@shared_task(name="rendering.tasks.render_stream", **TASK_OPTIONS)
def render_stream(self, stream_id: int) -> str | None:
    """Start a queued stream; its segments follow one task each (`render_segment`)."""
    try:
        stream = services.start_stream(stream_id=stream_id)
    except Exception as exc:
        _retry_or(self, exc, lambda detail: _fail_stream(stream_id, detail))
        return Stream.Status.FAILED
    return stream.status if stream else None


@shared_task(name="rendering.tasks.render_segment", **TASK_OPTIONS)
def render_segment(self, stream_id: int, sequence: int) -> str:
    try:
        return pipeline.run_segment(stream_id, sequence)
    except Exception as exc:
        _retry_or(self, exc, lambda detail: _fail_stream(stream_id, f"segment {sequence}: {detail}"))
        return "failed"


@shared_task(name="rendering.tasks.finalize_stream", **TASK_OPTIONS)
def finalize_stream(self, stream_id: int) -> str:
    """Sign the full recording of an ended stream (its segments stay published whatever happens here)."""
    try:
        return pipeline.finalize_recording(stream_id)
    except Exception as exc:
        _retry_or(self, exc, lambda detail: logger.error("stream %s: no recording (%s)", stream_id, detail))
        return "failed"


def _fail_stream(stream_id: int, detail: str) -> None:
    services.end_stream_by_id(stream_id=stream_id, status=Stream.Status.FAILED, reason_code="render_failed",
                              detail=detail)


@shared_task(name="rendering.tasks.resume_stalled_streams")
def resume_stalled_streams() -> list[int]:
    """Periodic (beat): re-send the task of live streams that stopped making progress."""
    return services.resume_stalled_streams()
