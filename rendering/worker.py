"""Running a real Celery worker inside this process: the demo's embedded worker and the tests' worker.

Production runs workers as their own processes (see docs/rendering.md):

    celery -A config worker -Q gpu -c 4        # render tasks, on the GPU that RENDER_DEVICE names
    celery -A config worker -Q default         # everything else

Without CELERY_BROKER_URL the broker is kombu's SQLAlchemy transport on a SQLite file in the data
folder, so `embedded_worker()` gives the demo a genuine worker (same routing, late acks, retries,
messages through the broker) with no server to install. With CELERY_BROKER_URL set (Redis in CI),
the same helper consumes from that broker instead.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager

from celery.worker import WorkController, state
from django.conf import settings

from config.celery import app

logger = logging.getLogger(__name__)

WORKER_QUEUES = ("gpu", "default")


def reconnect() -> None:
    """Drop the app's pooled broker connections, e.g. after the tests pointed it at another broker.

    Celery has no public reset short of `app.close()`, which also detaches the app from shared
    tasks; forgetting the pools is what Celery itself does in a forked child.
    """
    app._after_fork()


class EmbeddedWorkController(WorkController):
    """A worker that says when its consumer is ready (Celery's own test worker does the same)."""

    def __init__(self, *args, **kwargs):
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer):
        self.ready.set()


@contextmanager
def embedded_worker(*, queues=WORKER_QUEUES, loglevel: str = "WARNING", start_timeout: float = 60.0,
                    shutdown_timeout: float = 120.0):
    """Run a solo-pool worker in a thread for the duration of the block, consuming `queues`.

    On leaving, the worker finishes the task it is running (a segment) and stops; messages still
    queued stay in the broker for the next worker. A worker that cannot start (broker unreachable,
    bad settings) raises RuntimeError here instead of leaving the caller waiting.
    """
    app.finalize()
    app.set_current()
    celery_logger = logging.getLogger("celery")
    previous_level = celery_logger.level
    celery_logger.setLevel(loglevel)
    worker = EmbeddedWorkController(
        app=app, hostname=f"embedded-{os.getpid()}@{socket.gethostname()}", pool="solo", concurrency=1,
        loglevel=loglevel, queues=list(queues), ready_callback=None, without_heartbeat=True,
        without_mingle=True, without_gossip=True,
    )
    thread = threading.Thread(target=worker.start, name="embedded-celery-worker", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not worker.ready.wait(0.1):
        if not thread.is_alive() or time.monotonic() > deadline:
            _stop(thread, 5.0)
            celery_logger.setLevel(previous_level)
            raise RuntimeError(f"The embedded Celery worker did not start on {app.conf.broker_url}; see the log above.")
    logger.info("embedded Celery worker consuming %s from %s", ", ".join(queues),
                app.connection_for_read().as_uri())
    try:
        yield worker
    finally:
        celery_logger.setLevel(previous_level)
        if not _stop(thread, shutdown_timeout):
            raise RuntimeError(f"The embedded Celery worker did not stop within {shutdown_timeout:g} s.")


def _stop(thread: threading.Thread, timeout: float) -> bool:
    # How Celery stops its own embedded test worker: the consumer loop checks this flag between tasks.
    state.should_terminate = 0
    try:
        thread.join(timeout)
        return not thread.is_alive()
    finally:
        state.should_terminate = None


@contextmanager
def worker_process(*, env: dict | None = None, queues=WORKER_QUEUES, log_path=None, start_timeout: float = 120.0,
                   stop_timeout: float = 60.0):
    """Run `celery -A config worker` as a child process (settings from `env`) for the duration of the block.

    Yields the `subprocess.Popen`, so that a test can kill it like a crash would. On leaving, a
    worker still running gets SIGTERM (Celery's warm shutdown: the current task finishes).
    """
    log_path = log_path or os.path.join(tempfile.mkdtemp(prefix="cf-worker-"), "worker.log")
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(queues), "-P", "solo",
               "-c", "1", "--loglevel", "INFO", "--without-heartbeat", "--without-mingle", "--without-gossip",
               "-n", f"child-{os.getpid()}-{time.monotonic_ns()}@%h"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env={**os.environ, **(env or {})},
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready():
            if process.poll() is not None:
                raise RuntimeError(f"The Celery worker exited ({process.returncode}); see {log_path}.")
            with open(log_path, "rb") as fh:
                return b" ready." in fh.read()

        wait_until(ready, timeout=start_timeout, interval=0.2, what=f"Celery worker ready (log: {log_path})")
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until(predicate, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll `predicate()` until it returns something truthy (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:g} s")
        time.sleep(interval)
